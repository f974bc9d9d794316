"""The LIIF network: an encoder plus an MLP decoder (``imnet``).

Only the parameters and flags live here; how queries are answered is in
``liif_plugin.engine.reference`` (readable reference) and ``liif_plugin.engine.decoder`` (fast path). ``forward``,
``gen_feat`` and ``query_rgb`` keep the authors' calling convention for users of their code.
"""

from torch import nn

from liif_plugin.models.builders import make, register
from liif_plugin.models.mlp import MLP


class Encoder(nn.Module):
    """What LIIF needs of an encoder (EDSR, RDN): (B, 3, H, W) -> latent grid (B, C, H, W)."""

    out_dim: int  # C, the channels of the latent grid
    receptive_radius: int  # input pixels each side of a pixel that its latent code depends on


class LIIF(nn.Module):
    encoder: Encoder  # (B, 3, H, W) -> latent grid (B, C, H, W); has `out_dim` and `receptive_radius`
    imnet: MLP  # the MLP: its `layers` are Linear / ReLU pairs

    def __init__(self, encoder_spec, imnet_spec=None, local_ensemble=True, feat_unfold=True, cell_decode=True):
        super().__init__()
        self.local_ensemble = bool(local_ensemble)
        self.feat_unfold = bool(feat_unfold)
        self.cell_decode = bool(cell_decode)
        self.encoder = make(encoder_spec)
        if imnet_spec is None:
            raise ValueError("LIIF without an imnet (MLP) spec is not supported")
        in_dim = self.encoder.out_dim * (9 if self.feat_unfold else 1) + 2 + (2 if self.cell_decode else 0)
        imnet_spec = {"name": imnet_spec["name"], "args": dict(imnet_spec.get("args") or {}, in_dim=in_dim)}
        self.imnet = make(imnet_spec)

    def gen_feat(self, inp):
        """Latent grid (B, C, H, W) of `inp` (B, 3, H, W) in the network's units (authors': (x - 0.5) / 0.5)."""
        return self.encoder(inp)

    def query_rgb(self, feat, coord, cell):
        """Values (B, Q, 3) in the network's units at `coord` with cell sizes `cell` ((B, Q, 2), y-x, [-1, 1])."""
        from liif_plugin.engine.reference import query_reference

        return query_reference(self, feat, coord, cell)

    def forward(self, inp, coord, cell):
        """The authors' LIIF.forward: encode `inp`, answer the queries with the reference decoder."""
        return self.query_rgb(self.gen_feat(inp), coord, cell)


@register("liif")
def liif(**kwargs):
    return LIIF(**kwargs)
