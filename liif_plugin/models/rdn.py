"""RDN encoder (Zhang et al. 2018, configuration B) without the upsampling tail."""

import torch
from torch import nn

from liif_plugin.models.builders import register
from liif_plugin.models.liif import Encoder


class DenseLayer(nn.Module):
    def __init__(self, cin, grow):
        super().__init__()
        self.conv = nn.Sequential(nn.Conv2d(cin, grow, 3, padding=1), nn.ReLU())

    def forward(self, x):
        return torch.cat((x, self.conv(x)), 1)


class ResidualDenseBlock(nn.Module):
    def __init__(self, g0, g, n_layers):
        super().__init__()
        self.convs = nn.Sequential(*[DenseLayer(g0 + i * g, g) for i in range(n_layers)])
        self.LFF = nn.Conv2d(g0 + n_layers * g, g0, 1)

    def forward(self, x):
        return x + self.LFF(self.convs(x))


class RDN(Encoder):
    def __init__(self, g0=64, n_blocks=16, n_layers=8, g=64, n_colors=3):
        super().__init__()
        self.SFENet1 = nn.Conv2d(n_colors, g0, 3, padding=1)
        self.SFENet2 = nn.Conv2d(g0, g0, 3, padding=1)
        self.RDBs = nn.ModuleList([ResidualDenseBlock(g0, g, n_layers) for _ in range(n_blocks)])
        self.GFF = nn.Sequential(nn.Conv2d(n_blocks * g0, g0, 1), nn.Conv2d(g0, g0, 3, padding=1))
        self.out_dim = g0
        self.receptive_radius = 2 + n_blocks * n_layers + 1

    def forward(self, x):
        f1 = self.SFENet1(x)
        x = self.SFENet2(f1)
        outs = []
        for block in self.RDBs:
            x = block(x)
            outs.append(x)
        return self.GFF(torch.cat(outs, 1)) + f1


@register("rdn")
def rdn(G0=64, RDNconfig="B", no_upsampling=True, **_):
    if not no_upsampling:
        raise ValueError("only RDN encoders with no_upsampling=True are supported (LIIF's setting)")
    n_blocks, n_layers, g = {"A": (20, 6, 32), "B": (16, 8, 64)}[RDNconfig]
    return RDN(G0, n_blocks, n_layers, g)
