"""Coordinates of output pixels in LIIF's normalized frame.

The image spans [-1, 1] on each axis; pixel i of n has its centre at -1 + (2i + 1)/n.
A region (y0, x0, y1, x1) is given in input pixel-edge units (pixel i covers [i, i+1)).
"""

import math

import torch


def parse_box(v, what="region"):
    """(y0, x0, y1, x1) as floats, or a ValueError that names `what` and says what is wrong."""
    try:
        y0, x0, y1, x1 = (float(a) for a in v)
    except (TypeError, ValueError):
        raise ValueError(f"{what} must be four numbers (y0, x0, y1, x1), got {v!r}") from None
    if not all(math.isfinite(a) for a in (y0, x0, y1, x1)):
        raise ValueError(f"{what} {v!r} has a non-finite value; give finite pixel coordinates")
    if not (y1 > y0 and x1 > x0):
        raise ValueError(f"{what} {v!r} is empty: it needs y1 > y0 and x1 > x0")
    return y0, x0, y1, x1


def axis_centres(n, v0=-1.0, v1=1.0):
    """Centres of n equal cells spanning [v0, v1], as float32 (same arithmetic as the authors')."""
    r = (v1 - v0) / (2 * n)
    return v0 + r + (2 * r) * torch.arange(n).float()


def region_ranges(region, in_shape):
    """Normalized [v0, v1] per axis for a region in input pixel-edge units."""
    H, W = in_shape
    y0, x0, y1, x1 = region
    return (-1 + 2 * y0 / H, -1 + 2 * y1 / H), (-1 + 2 * x0 / W, -1 + 2 * x1 / W)


def cell_size(out_shape, in_shape, region):
    """Size of one output pixel in normalized units, per axis (float)."""
    h, w = out_shape
    H, W = in_shape
    y0, x0, y1, x1 = region
    return 2 * (y1 - y0) / (h * H), 2 * (x1 - x0) / (w * W)


def supersampling(out_shape, region) -> tuple[int, int]:
    """(ky, kx): LIIF samples per output pixel and axis, 1 unless the output is coarser than the input.

    LIIF's MLP learned cells from one input pixel down (its training scales are 1 to 4); asked for a
    cell several input pixels wide it answers with nonsense (near white at 1/8). An output pixel
    wider than an input pixel is instead the mean of k samples per axis on a grid at least as fine
    as the input, which is what an area (box) resample of LIIF's continuous image gives.
    """
    h, w = out_shape
    y0, x0, y1, x1 = region
    return max(1, math.ceil((y1 - y0) / h - 1e-9)), max(1, math.ceil((x1 - x0) / w - 1e-9))


def block_mean(planes, ky: int, kx: int):
    """Planes (B, h * ky, w * kx, C) averaged over ky x kx blocks: (B, h, w, C)."""
    if ky == kx == 1:
        return planes
    B, fh, fw, C = planes.shape
    return planes.reshape(B, fh // ky, ky, fw // kx, kx, C).mean(axis=(2, 4), dtype=planes.dtype)
