"""model="auto": which model suits this image, and why, in one line.

The released model was trained on clean, bicubic-downscaled photos; on JPEG photos and noisy
micrographs it enlarges the artifacts as detail. The chooser looks at a subsample of the image
(never more than about 1 M pixels, well under a second on a 4k image) and names the image's
condition:

- ``jpeg``: a JPEG file's quantization tables say quality below ``JPEG_CLEAN_QUALITY``, or (an
  8-bit array) its pixels carry JPEG's 8x8 DCT grid (``jpeg_grid`` above ``JPEG_GRID``);
- ``noisy-photo``: the noise estimate (liif_plugin.quality.noise) is a large share of the photo's
  fine detail (``NOISE_SHARE_PHOTO``): the same noise costs a smooth image more than a textured one;
- ``noisy-microscopy``: the noise estimate is above ``NOISE_MICROSCOPY`` (micrographs lose to
  bicubic at a fraction of the noise photos stand);
- ``clean`` otherwise.

Which model serves a condition is data: each registry entry lists its ``auto_for`` conditions
(weights/registry.json). One choice is made per image, from the whole image (or its subsample),
never per tile or frame. Thresholds are calibrated by ``benchmarks/realworld.py --calibrate`` on
images no model was trained on; the numbers are written beside each constant.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

import numpy as np

from liif_plugin.quality.noise import estimate_noise, fine_detail
from liif_plugin.sources import arrays

Condition = Literal["clean", "jpeg", "noisy-photo", "noisy-microscopy"]
Kind = Literal["photo", "microscopy"]

# A JPEG file at this quality or above goes to the released model. On the scikit-image crops of
# scripts/blend_weights.py (x2-x4) the JPEG blend gains +1.32 dB over bicubic at quality 90 against the released
# model's +1.24, and +1.53 against +1.72 at 95; the boundary lies between the two.
JPEG_CLEAN_QUALITY = 93
# How strongly an 8-bit array carries JPEG's 8x8 DCT grid (see jpeg_grid) above which it is a decoded JPEG.
# Calibrated by `scripts/calibrate_chooser.py jpeg` on crops of 40 training photos (48-96 px LR inputs, x2-x4):
# clean and noisy inputs read at most 0.11; JPEG 50 at least 0.35, JPEG 75 0.23-0.89 (98 % above 0.35),
# JPEG 90 0.16-0.68 (88 % above), JPEG 95 42 % above. On the held-out photos of benchmarks/realworld.py the
# clean inputs read up to 0.30 (clock: flat areas, 36 blocks) and every JPEG 90-30 input at least 0.35.
JPEG_GRID = 0.35
# A grid at another phase than the image's origin (a cropped JPEG) must stand out more: the best of the 64
# phases of a clean input reads up to 0.43 by chance.
JPEG_GRID_SHIFTED = 0.6
GRID_SIDE = 512  # the grid is measured on at most this many pixels per side (about 0.3 s for all 64 phases)
# Photos are noisy when the noise is a large share of their fine detail (liif_plugin.quality.noise.fine_detail),
# not above one sigma: the released model enlarges noise as detail, and what that costs depends on how much real
# detail there is. On the held-out images of benchmarks/realworld.py (AMD EPYC, Dec 2026) the released model beat
# the photo model on every input reading up to 0.21 (clean photos 0.00-0.20, textured photos at 1 % noise
# 0.10-0.15, the micrograph `cell` clean up to 0.18), and the photo or microscopy model won on all but one from 0.22
# up (smooth photos at 1 % noise, every photo at 3-5 %, `cell` at 5000 photons 0.26-0.40, where the released model
# lost 3 dB). On 240 inputs from the training photos (scripts/calibrate_chooser.py noise) 0.21 gave the best mean
# (+2.07 dB over bicubic; +2.05 at 0.15 and 0.23, +1.99 at 0.3; always the photo model +1.85, never +0.92).
# Below a sigma of 0.5 % (two steps of the 8-bit estimate) an image is clean however smooth: clean photos read 0.29 %.
NOISE_SHARE_PHOTO = 0.21
NOISE_FLOOR_PHOTO = 0.005
# A photo under this many pixels on a side has too few 2x2 blocks to weigh noise against detail (a 24 x 32 crop of
# `camera` reads 0.58 % and 0.23 from 48 blocks, the whole image 0.29 % and 0.07): it counts as clean.
MIN_NOISE_SIDE = 32
# Micrographs (high bit depth, or mostly dark background), by sigma of the [0, 1] range: nuclei-2d reads 0.8-1.4 %
# with no noise added (its camera's own) and 1.0-1.5 % at 5000 photons, so the two cannot be told apart; the
# microscopy model beat the released one at every added noise level (by 1.2-14 dB) and lost 0.3-1.0 dB on the
# image as it is. The confocal plane cells3d-z30 reads 0.34-0.51 % clean and at 5000 photons (the released model
# gains most there, +1.4 to +2.1 dB) and 0.70-0.85 % at 500 photons (the microscopy model wins, +0.5 to +0.9).
NOISE_MICROSCOPY = 0.006
SAMPLE_SIDE = 1024  # the chooser reads at most this many pixels per side (a central window)
DARK_SHARE = 0.5  # a gray image with this share of its pixels in the bottom fifth of its range: fluorescence


class ModelChoice(NamedTuple):
    """What ``choose_model`` returns: unpacks as (name, reason)."""

    name: str
    reason: str


@dataclass(frozen=True)
class ImageSignals:
    """What the chooser measured, for faces that show more than the one-line reason."""

    kind: Kind
    condition: Condition
    noise: float  # sigma in units of the [0, 1] range
    detail: float  # the finest scale's mean variation, same units (noise included)
    jpeg_grid: float  # 0.0 for no 8x8 DCT grid, up to 1.0
    jpeg_quality: int | None  # from the file's tables, when the image came from a JPEG file

    def describe(self) -> str:
        if self.condition == "jpeg":
            if self.jpeg_quality is not None:
                return f"JPEG quality about {self.jpeg_quality}"
            return f"JPEG compression seen in the pixels, 8x8 grid {self.jpeg_grid:.2f}"
        if self.condition.startswith("noisy"):
            return f"noise about {100 * self.noise:.1f} % of the range ({self.kind})"
        if self.jpeg_quality is not None:
            return f"JPEG quality about {self.jpeg_quality}, light enough to count as clean"
        return f"clean {self.kind} (noise {100 * self.noise:.1f} % of the range)"


# -- signals ----------------------------------------------------------------------------------------

# The IJG (libjpeg) luminance table at quality 50; a file's table at quality q is this scaled by
# 5000 / q (q < 50) or 200 - 2 q (q >= 50), in percent, rounded and clipped to 1..255.
_IJG_LUMA = np.array(
    [16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56,
     14, 17, 22, 29, 51, 87, 80, 62, 18, 22, 37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92,
     49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99],
    dtype=np.float64,
)  # fmt: skip


def _ijg_table(q: int) -> np.ndarray:
    scale = 5000 / q if q < 50 else 200 - 2 * q
    return np.clip(np.floor((_IJG_LUMA * scale + 50) / 100), 1, 255)


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
    errors = [np.abs(np.sort(_ijg_table(q)) - table).sum() for q in range(1, 101)]
    return int(np.argmin(errors)) + 1


def _dct8() -> np.ndarray:
    k = np.arange(8)
    c = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / 16) * 0.5
    c[0] /= np.sqrt(2)
    return c.astype(np.float32)  # orthonormal: a coefficient's rounding error stays that of a pixel


_DCT8 = _dct8()
_HIGH = np.add.outer(np.arange(8), np.arange(8)) >= 4  # the frequencies JPEG quantizes hardest


def _zero_share(gray: np.ndarray, a: int, b: int) -> float:
    """Share of the high-frequency 8x8 DCT coefficients below 1 grey level, blocks starting at (a, b)."""
    nh, nw = (gray.shape[0] - a) // 8, (gray.shape[1] - b) // 8
    blocks = gray[a : a + 8 * nh, b : b + 8 * nw].reshape(nh, 8, nw, 8)
    coef = np.einsum("uy,iyjx,vx->ijuv", _DCT8, blocks, _DCT8, optimize=True)
    return float(np.mean(np.abs(coef[..., _HIGH]) < 1.0))


def jpeg_grid(gray: np.ndarray) -> tuple[float, float]:
    """How strongly a gray 8-bit image carries JPEG's 8x8 DCT grid: (at the origin, at the best phase).

    JPEG rounds each 8x8 block's DCT coefficients to multiples of a step, most high frequencies to
    zero, so a decoded image's blocks, cut where the encoder cut them, have many coefficients within
    pixel rounding of zero; blocks cut anywhere else straddle the encoder's blocks and do not. The
    share of near-zero coefficients is measured at each of the 64 phases; a grid reads as
    (share at the phase - median share) / (1 - median share): 0.0 for none, up to 1.0. Flat and
    smooth areas are near zero at every phase and cancel in the median. Unlike steps across block
    edges, this sees quality 90 on a 48-pixel image.
    """
    g = np.asarray(gray, dtype=np.float32)[:GRID_SIDE, :GRID_SIDE]
    if min(g.shape[:2]) < 32:
        return 0.0, 0.0
    shares = np.array([[_zero_share(g, a, b) for b in range(8)] for a in range(8)])
    median = float(np.median(shares))
    if median > 0.95:  # nearly flat: nothing to tell a grid by
        return 0.0, 0.0
    return float((shares[0, 0] - median) / (1 - median)), float((shares.max() - median) / (1 - median))


def image_kind(sample: np.ndarray) -> Kind:
    """'photo' for 8-bit RGB and for gray images that fill their range; 'microscopy' for high bit
    depths, multi-channel data and gray images that are mostly dark background (fluorescence)."""
    if sample.dtype != np.uint8 or (sample.ndim == 3 and sample.shape[2] not in (1, 3, 4)):
        return "microscopy"
    if sample.ndim == 3 and sample.shape[2] in (3, 4):
        return "photo"
    v = sample.astype(np.float32)
    lo, hi = np.percentile(v, (0.5, 99.5))
    if hi <= lo:
        return "photo"
    return "microscopy" if np.mean(v < lo + 0.2 * (hi - lo)) >= DARK_SHARE else "photo"


def _sample(image) -> np.ndarray:
    """A central window of at most SAMPLE_SIDE per side, as an (h, w) or (h, w, C) array; any source."""
    from liif_plugin.sources.source import Source, open_source

    if isinstance(image, np.ndarray) and not isinstance(image, np.memmap):
        x = arrays.check_image(image)
        H, W = x.shape[:2]
        a = max(0, (H - SAMPLE_SIDE) // 2) // 8 * 8  # keeps JPEG's 8x8 grid where it was
        c = max(0, (W - SAMPLE_SIDE) // 2) // 8 * 8
        return x[a : a + SAMPLE_SIDE, c : c + SAMPLE_SIDE]
    src = image if isinstance(image, Source) else open_source(image)
    H, W = src.shape
    a = max(0, (H - SAMPLE_SIDE) // 2) // 8 * 8
    c = max(0, (W - SAMPLE_SIDE) // 2) // 8 * 8
    return arrays.check_image(src.read(a, min(H, a + SAMPLE_SIDE), c, min(W, c + SAMPLE_SIDE)))


def _luma(sample: np.ndarray) -> np.ndarray:
    if sample.ndim == 3 and sample.shape[2] in (3, 4):
        return sample[..., :3].astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    return sample if sample.ndim == 2 else sample[..., 0]


def measure(image, *, path: str | Path | None = None) -> ImageSignals:
    """The chooser's signals for an image (array, Source, zarr, dask or path) and the condition they give."""
    if path is None and isinstance(image, (str, Path)):
        path = image
    if image is None:
        image = path
    sample = _sample(image)
    quality = jpeg_quality(path) if path is not None else None
    kind = image_kind(sample)
    at_origin, best = jpeg_grid(_luma(sample)) if sample.dtype == np.uint8 else (0.0, 0.0)
    grid = max(at_origin, best) if best > JPEG_GRID_SHIFTED else at_origin
    noise, detail = estimate_noise(sample), fine_detail(sample)
    if (quality is not None and quality < JPEG_CLEAN_QUALITY) or (quality is None and grid > JPEG_GRID):
        condition: Condition = "jpeg"
    elif (
        kind == "photo"
        and min(sample.shape[:2]) >= MIN_NOISE_SIDE
        and noise > NOISE_FLOOR_PHOTO
        and noise > NOISE_SHARE_PHOTO * detail
    ):
        condition = "noisy-photo"
    elif kind == "microscopy" and noise > NOISE_MICROSCOPY:
        condition = "noisy-microscopy"
    else:
        condition = "clean"
    return ImageSignals(kind, condition, noise, detail, grid, quality)


def model_for(condition: Condition) -> str | None:
    """The registry model that serves `condition` (its ``auto_for``), or None when none is installed."""
    from liif_plugin.hub import cache

    for name, e in cache.registry().items():
        if condition in e.auto_for and (e.committed or e.pypi is not None or cache.path_of(name).exists()):
            return name
    return None


def choose_model(image=None, *, path: str | Path | None = None) -> ModelChoice:
    """(model name, one-line reason) for this image: what model="auto" uses.

    image: an array, Source, zarr or dask array, or a path; `path`: the file an array came from
    (a JPEG's quantization tables are read from it). Deterministic, reads one central window.
    """
    from liif_plugin.hub import cache

    s = measure(image, path=path)
    name = model_for(s.condition)
    if name is None or name == cache.DEFAULT_MODEL:
        default = cache.DEFAULT_MODEL
        if s.condition == "clean":
            return ModelChoice(default, f"{s.describe()}: released model '{default}'")
        return ModelChoice(default, f"{s.describe()}, but no model for it is installed: released model '{default}'")
    # Named for the condition, not the model: the registry decides which model serves it.
    what = {"jpeg": "JPEG model", "noisy-photo": "noisy-photo model", "noisy-microscopy": "microscopy model"}
    return ModelChoice(name, f"{s.describe()}: {what[s.condition]} '{name}'")
