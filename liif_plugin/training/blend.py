"""Weight-space blends of two models fine-tuned from the same start.

A model fine-tuned hard on one degradation (JPEG) forgets some of what its starting point knew:
on light compression it over-smooths. Two models fine-tuned from the same weights stay in one
basin, so every tensor can be mixed linearly, ``alpha * a + (1 - alpha) * b``, and the mix often
beats both ends (Wortsman et al., "Robust fine-tuning of zero-shot models", 2022: WiSE-FT). The
result is one ordinary network: it renders at the cost of either parent, unlike averaging the
outputs of two models. ``alpha`` is chosen on held-out data (scripts/blend_weights.py).
"""

from __future__ import annotations

from pathlib import Path

from liif_plugin.models.checkpoint import load_network, save_checkpoint
from liif_plugin.models.families import Normalization
from liif_plugin.models.liif import LIIF


def blend_networks(a: str | Path, b: str | Path, alpha: float) -> tuple[LIIF, dict, Normalization]:
    """(network, spec, normalization) whose every tensor is alpha * a's + (1 - alpha) * b's.

    a, b: checkpoint files of the same architecture and pixel normalization (any family the
    loader reads). alpha 1 gives a, 0 gives b; values outside [0, 1] extrapolate and are refused.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ValueError(f"alpha must be between 0 and 1, got {alpha}")
    net_a, ck_a = load_network(a)
    net_b, ck_b = load_network(b)
    if ck_a.spec["args"] != ck_b.spec["args"]:
        raise ValueError(f"{Path(a).name} and {Path(b).name} have different architectures; only like models blend")
    if ck_a.normalization != ck_b.normalization:
        raise ValueError(f"{Path(a).name} and {Path(b).name} expect different pixel normalizations")
    sd_b = net_b.state_dict()
    mixed = {
        k: (alpha * v.float() + (1 - alpha) * sd_b[k].float()).to(v.dtype) if v.is_floating_point() else v
        for k, v in net_a.state_dict().items()
    }
    net_a.load_state_dict(mixed, strict=True)
    return net_a.eval(), ck_a.spec, ck_a.normalization


def save_blend(a: str | Path, b: str | Path, alpha: float, out: str | Path) -> Path:
    """Write the blend of `a` and `b` (see blend_networks) as an authors'-format checkpoint at `out`."""
    net, spec, norm = blend_networks(a, b, alpha)
    return save_checkpoint(out, net, spec, None, None, norm)
