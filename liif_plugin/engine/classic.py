"""Classic resampling (bicubic, nearest) of float planes on LIIF's output grid, and the detail blend.

PIL's resize with a `box` puts output pixel j of n at box0 + (j + 0.5) * (box1 - box0) / n in
input pixel-edge units, and input pixel i at i + 0.5: the same pixel-centre convention as LIIF's
coordinates (liif_plugin.engine.coords), so a bicubic window and a LIIF window of the same region and
shape are on the same grid. PIL also filters properly when shrinking.
"""

import math

import numpy as np
from PIL import Image

_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}


class ClassicResampler:
    """Bicubic / nearest windows of float planes (B, 3, H, W) in [0, 1]."""

    def __init__(self, planes, kind=None):
        # Gray-like planes hold one value three times: resample it once. kind None: every channel.
        self.colour = [kind in (None, "rgb") or (kind == "rgba" and b == 0) for b in range(planes.shape[0])]
        self.images = [
            [Image.fromarray(np.ascontiguousarray(p[c], dtype=np.float32)) for c in (range(3) if col else (0,))]
            for p, col in zip(planes, self.colour)
        ]

    def render(self, region, shape, method="bicubic", rows=None, cols=None):
        """Planes (B, h, w, 3) float32 in [0, 1] of `region` (y0, x0, y1, x1) resampled to `shape`.

        `rows` and `cols` ((start, stop)) pick a part of the output grid, as in
        ImageField.render_planes: the part's box is the whole window's grid cut at those pixels.
        """
        if method not in _FILTERS:
            raise ValueError(f"unknown resampling {method!r}; use 'bicubic' or 'nearest'")
        y0, x0, y1, x1 = region
        h, w = shape
        r_a, r_b = rows or (0, h)
        c_a, c_b = cols or (0, w)
        dy, dx = (y1 - y0) / h, (x1 - x0) / w
        edge = lambda v0, v1, d, i, n: v0 if i == 0 else v1 if i == n else min(v0 + i * d, v1)  # noqa: E731
        box = (edge(x0, x1, dx, c_a, w), edge(y0, y1, dy, r_a, h), edge(x0, x1, dx, c_b, w), edge(y0, y1, dy, r_b, h))
        size = (c_b - c_a, r_b - r_a)
        out = np.empty((len(self.images), r_b - r_a, c_b - c_a, 3), dtype=np.float32)
        for b, chans in enumerate(self.images):
            got = [np.asarray(im.resize(size, _FILTERS[method], box=box)) for im in chans]
            out[b] = np.stack(got, axis=-1) if len(got) == 3 else got[0][..., None]
        return np.clip(out, 0.0, 1.0, out=out)


def bicubic_reach(step: float) -> int:
    """Input pixels a bicubic window must read beyond its edges, for `step` input pixels per output
    pixel: PIL's bicubic reaches 2 input pixels, times the shrink factor when shrinking (+2 slack)."""
    return math.ceil(2 * max(1.0, step)) + 2


def check_detail(detail):
    """`detail` as a float in [0, 1], or a ValueError that says what to give."""
    try:
        d = float(detail)
    except (TypeError, ValueError):
        raise ValueError(f"detail must be a number from 0 to 1, got {detail!r}") from None
    if not (math.isfinite(d) and 0.0 <= d <= 1.0):
        raise ValueError(f"detail must be from 0 (bicubic) to 1 (full LIIF), got {detail!r}")
    return d


def blend(liif, classic, detail):
    """bicubic + detail * (liif - bicubic), in place on `liif`; detail 1 returns `liif` untouched."""
    if detail == 1.0:
        return liif
    liif -= classic
    liif *= np.float32(detail)
    liif += classic
    return np.clip(liif, 0.0, 1.0, out=liif)
