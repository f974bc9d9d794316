"""EDSR encoders (Lim et al. 2017) without the upsampling tail, as LIIF uses them."""

from torch import nn

from liif_plugin.models.builders import register
from liif_plugin.models.liif import Encoder


def conv3x3(cin, cout):
    # Zero 'same' padding, as in the authors' encoders.
    return nn.Conv2d(cin, cout, 3, padding=1, bias=True)


class MeanShift(nn.Conv2d):
    """Kept only so official checkpoints load: LIIF's encoder never applies it."""

    def __init__(self):
        super().__init__(3, 3, kernel_size=1)
        for p in self.parameters():
            p.requires_grad = False


class ResBlock(nn.Module):
    def __init__(self, n_feats, res_scale):
        super().__init__()
        self.body = nn.Sequential(conv3x3(n_feats, n_feats), nn.ReLU(True), conv3x3(n_feats, n_feats))
        self.res_scale = res_scale

    def forward(self, x):
        return x + self.body(x) * self.res_scale


class EDSR(Encoder):
    def __init__(self, n_resblocks, n_feats, res_scale, n_colors=3, no_upsampling=True):
        super().__init__()
        if not no_upsampling:
            raise ValueError("only EDSR encoders with no_upsampling=True are supported (LIIF's setting)")
        self.sub_mean = MeanShift()
        self.add_mean = MeanShift()
        self.head = nn.Sequential(conv3x3(n_colors, n_feats))
        self.body = nn.Sequential(
            *[ResBlock(n_feats, res_scale) for _ in range(n_resblocks)], conv3x3(n_feats, n_feats)
        )
        self.out_dim = n_feats
        # Every 3x3 conv widens the receptive field by one pixel each side.
        self.receptive_radius = 1 + 2 * n_resblocks + 1

    def forward(self, x):
        x = self.head(x)
        return x + self.body(x)


@register("edsr-baseline")
def edsr_baseline(n_resblocks=16, n_feats=64, res_scale=1, no_upsampling=True, **_):
    return EDSR(n_resblocks, n_feats, res_scale, no_upsampling=no_upsampling)


@register("edsr")
def edsr(n_resblocks=32, n_feats=256, res_scale=0.1, no_upsampling=True, **_):
    return EDSR(n_resblocks, n_feats, res_scale, no_upsampling=no_upsampling)
