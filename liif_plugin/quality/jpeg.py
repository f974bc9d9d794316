"""JPEG's traces in an image: the quality a file's tables say, the 8x8 DCT grid of a decoded array,
and the quality that grid's quantization steps say.

JPEG cuts the luma plane into 8x8 blocks, takes each block's DCT and rounds coefficient (u, v) to
a multiple of the step table[u, v]; a quality q (IJG, libjpeg's and PIL's scale) fixes the table.
Decoding inverts the DCT exactly up to pixel rounding, so in a decoded image, with its blocks cut
where the encoder cut them, every coefficient sits within about half a grey level of a multiple of
its step. Both signals read that: ``jpeg_grid`` (how many high frequencies are near zero at one
block phase and not at the others) and ``quality_from_pixels`` (which quality's steps the
coefficients sit on).
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

# The IJG (libjpeg) luminance table at quality 50, in natural (row-major) order; the table at quality q is
# this scaled by 5000 / q (q < 50) or 200 - 2 q (q >= 50), in percent, rounded and clipped to 1..255.
_IJG_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def ijg_table(q: int) -> np.ndarray:
    """The 64 luma quantization steps (natural order) libjpeg uses at quality q (1-100)."""
    scale = 5000 / q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


_TABLES = np.stack([ijg_table(q) for q in range(1, 101)]).astype(np.float32)  # (100, 64): row q - 1


def jpeg_quality(path: str | Path) -> int | None:
    """The IJG quality (1-100) whose luminance table is closest to this JPEG file's; None for other files."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            if im.format != "JPEG":
                return None
            tables = getattr(im, "quantization", None) or {}
    except OSError:
        return None
    if 0 not in tables:
        return None
    table = np.sort(np.asarray(tables[0], dtype=np.float64))  # zigzag or natural order: compare sorted
    errors = [np.abs(np.sort(ijg_table(q)) - table).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def _dct8() -> np.ndarray:
    k = np.arange(8)
    c = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    c[0] /= np.sqrt(2)
    return c.astype(np.float32)  # orthonormal, as JPEG's: a coefficient's rounding error stays that of a pixel


_DCT8 = _dct8()
_HIGH = np.add.outer(np.arange(8), np.arange(8)) >= 4  # the frequencies JPEG quantizes hardest
GRID_SIDE = 512  # the grid is measured on at most this many pixels per side (about 0.3 s for all 64 phases)


def luma(image: np.ndarray) -> np.ndarray:
    """JPEG's luma plane: ITU-R BT.601 from R, G, B (as libjpeg; decoding's colour conversion inverts it
    exactly up to rounding), the image itself if gray, else its first channel."""
    if image.ndim == 3 and image.shape[2] in (3, 4):
        return image[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return image if image.ndim == 2 else image[..., 0]


def blocks(plane: np.ndarray, a: int = 0, b: int = 0) -> np.ndarray:
    """The whole 8x8 blocks of `plane` starting at (a, b), as (rows, cols, 8, 8) (a view)."""
    nh, nw = (plane.shape[0] - a) // 8, (plane.shape[1] - b) // 8
    return plane[a : a + 8 * nh, b : b + 8 * nw].reshape(nh, 8, nw, 8).swapaxes(1, 2)


def block_dct(gray: np.ndarray, a: int = 0, b: int = 0) -> np.ndarray:
    """DCT coefficients (rows, cols, 8, 8) of the whole 8x8 blocks of `gray` starting at (a, b)."""
    return dct8(blocks(gray, a, b))


def dct8(block_stack: np.ndarray) -> np.ndarray:
    """The 2-D DCT of each 8x8 block in a (..., 8, 8) stack."""
    return np.einsum("uy,...yx,vx->...uv", _DCT8, block_stack, _DCT8, optimize=True)


class Grid(NamedTuple):
    """What ``jpeg_grid`` reads: the grid's strength at the origin and at its best phase, and that phase."""

    at_origin: float
    best: float
    phase: tuple[int, int]  # (row, column) where the best phase's blocks start


def jpeg_grid(gray: np.ndarray) -> Grid:
    """How strongly a gray 8-bit image carries JPEG's 8x8 DCT grid (0.0 for none, up to 1.0).

    The share of high-frequency coefficients within pixel rounding of zero is measured at each of
    the 64 block phases; a grid reads as (share at the phase - median share) / (1 - median share).
    Flat and smooth areas are near zero at every phase and cancel in the median. Unlike steps across
    block edges, this sees quality 90 on a 48-pixel image.
    """
    g = np.asarray(gray, dtype=np.float32)[:GRID_SIDE, :GRID_SIDE]
    if min(g.shape[:2]) < 32:
        return Grid(0.0, 0.0, (0, 0))
    shares = np.array(
        [[float(np.mean(np.abs(block_dct(g, a, b)[..., _HIGH]) < 1.0)) for b in range(8)] for a in range(8)]
    )
    median = float(np.median(shares))
    if median > 0.95:  # nearly flat: nothing to tell a grid by
        return Grid(0.0, 0.0, (0, 0))
    a, b = np.unravel_index(int(np.argmax(shares)), shares.shape)
    norm = 1 - median
    return Grid(float((shares[0, 0] - median) / norm), float((shares[a, b] - median) / norm), (int(a), int(b)))


# quality_from_pixels: a decoded coefficient's distance to the nearest multiple of its step is rounding noise
# of about this sigma (grey levels: the decoder's rounding of Y and of R, G, B, seen through the DCT) ...
_ROUNDING_SIGMA = 0.6
_OUTLIERS = 0.05  # ... except for a few (clipped colours, edits after decoding), which fit no step
MIN_BLOCKS = 16  # fewer unclipped blocks than this, or
MIN_COEFFICIENTS = 64  # fewer non-zero coefficients: no estimate
MAX_BLOCKS = 1024  # blocks read, evenly spread (about 0.1 s)
MAX_QUALITY = 97  # the finest quality read


def quality_from_pixels(image: np.ndarray, phase: tuple[int, int] = (0, 0)) -> int | None:
    """The IJG quality a decoded 8-bit JPEG was saved at, read from its pixels; None when they cannot tell.

    image: (H, W) or (H, W, 3) uint8, blocks starting at `phase`. For each quality, the likelihood
    that every non-zero luma coefficient is a multiple of that quality's step plus rounding noise,
    against its being unquantized (log of step x noise density, per coefficient); the best fit
    wins. A too-fine table fits too, but gains less per coefficient; a too-coarse one misses most
    coefficients. Blocks with a clipped pixel (0 or 255 in any channel) are left out: clipping moves
    their coefficients off the steps. On crops of the training photos (48-96 px, quality 30-95, PIL)
    the estimate was exact in every case with enough unclipped blocks (scripts/calibrate_chooser.py jpeg).
    """
    x = np.asarray(image)
    if x.dtype != np.uint8 or x.ndim not in (2, 3):
        return None
    clipped = (x == 0) | (x == 255)
    if x.ndim == 3:
        clipped = clipped.any(axis=2)
    a, b = phase
    ok = ~blocks(clipped, a, b).any(axis=(2, 3))
    chosen = blocks(luma(x).astype(np.float32) - 128, a, b)[ok]  # JPEG shifts levels by 128 before its DCT
    if len(chosen) < MIN_BLOCKS:
        return None
    coef = dct8(chosen[:: max(1, len(chosen) // MAX_BLOCKS)]).reshape(-1, 64)  # an even spread of blocks only
    keep = np.abs(coef) > 1.5  # zero coefficients fit every table
    if keep.sum() < MIN_COEFFICIENTS:
        return None
    c = coef[keep][None, :]  # (1, n)
    steps = _TABLES[:, np.nonzero(keep)[1]]  # (100, n): each quality's step for each value
    r = c - steps * np.rint(c / steps)
    s = _ROUNDING_SIGMA
    density = sum(np.exp(-0.5 * ((r + k * steps) / s) ** 2) for k in (-1, 0, 1)) / (s * np.sqrt(2 * np.pi))
    score = np.log(_OUTLIERS + (1 - _OUTLIERS) * steps * density).sum(axis=1)
    q = int(np.argmax(score)) + 1
    # Quality 100 (every step 1) is "no quantization seen": its score is about 0; ask for clear evidence. Never
    # compressed photos read 98-99 (steps of 1 and 2 fit natural images' many small coefficients): no estimate.
    return q if q <= MAX_QUALITY and score[q - 1] > score[99] + 10 else None
