"""model="auto": which model suits this image, and why, in one line.

The released model was trained on clean, bicubic-downscaled photos; on JPEG photos and noisy
micrographs it enlarges the artifacts as detail. The chooser looks at a subsample of the image
(never more than about 1 M pixels, well under a second on a 4k image) and names the image's
condition:

- ``jpeg``: a JPEG file's quantization tables say quality below ``JPEG_CLEAN_QUALITY``, or (an
  array) its 8x8 blockiness is above ``BLOCKINESS``;
- ``noisy-photo`` / ``noisy-microscopy``: the noise estimate (liif_plugin.quality.noise) is above
  the threshold of the image's kind (micrographs lose to bicubic at a third of the noise photos
  stand);
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

from liif_plugin.quality.noise import estimate_noise
from liif_plugin.sources import arrays

Condition = Literal["clean", "jpeg", "noisy-photo", "noisy-microscopy"]
Kind = Literal["photo", "microscopy"]

# A JPEG file at this quality or above goes to the released model: at quality 90 it gained +0.78 dB over
# bicubic on the held-out photos (mean of x2-x4) against +0.68 for the JPEG model, which wins from 75 down.
JPEG_CLEAN_QUALITY = 88
# Block-edge / interior step ratio above which an 8-bit array is a decoded JPEG (see blockiness). Calibrated with
# benchmarks/realworld.py --calibrate (AMD EPYC, Dec 2026): clean held-out photos read 0.66-1.04 and the 8-bit
# micrograph `cell` up to 1.07 (the photo model loses up to 5 dB there); above 1.08 the photo model beat the
# released one on nearly every JPEG input (quality 30-90), between 1.03 and 1.08 on most of them (a cost accepted;
# with the JPEG model, 1.05 would give +0.59 dB instead of +0.51 at JPEG 50-90 but risks `cell`).
BLOCKINESS = 1.08
BLOCK_STEP_CLIP = 8.0  # grey levels: larger steps are edges and texture, not block edges
# Noise sigma (of the [0, 1] range) above which an image is noisy. Photos: most clean held-out photos read
# below 1.2 % (aliased ones up to 1.7 %: 2 of 28 inputs then go to the photo model and lose 1-2.6 dB), while
# the 8-bit micrograph `cell`, which reads as a photo, reads 1.4-2.1 % at 500 photons, where the photo model
# gains 3-6 dB and the released one loses 4. Micrographs: nuclei-2d reads 0.8-1.4 % with no noise added (its
# camera's own) and 1.0-1.5 % at 5000 photons, so the two cannot be told apart; the microscopy model beat the
# released one at every added noise level (by 1.2-14 dB) and lost 0.3-1.0 dB on the image as it is. The confocal
# plane cells3d-z30 reads 0.34-0.51 % clean and at 5000 photons (the released model gains most there, +1.4 to
# +2.1 dB) and 0.70-0.85 % at 500 photons (the microscopy model wins, +0.5 to +0.9), hence 0.6 %.
NOISE = {"photo": 0.012, "microscopy": 0.006}
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
    blockiness: float  # 1.0 for no 8x8 grid
    jpeg_quality: int | None  # from the file's tables, when the image came from a JPEG file

    def describe(self) -> str:
        if self.condition == "jpeg":
            if self.jpeg_quality is not None:
                return f"JPEG quality about {self.jpeg_quality}"
            return f"JPEG blocks (8x8 edges {self.blockiness:.2f}x the rest)"
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


def blockiness(gray: np.ndarray) -> float:
    """How much larger the steps across JPEG's 8x8 block edges are than the steps inside blocks (1.0: none).

    JPEG codes 8x8 blocks independently, so a decoded image steps between columns 7 and 8, 15
    and 16, ... (and rows likewise), counted from the image's origin. Per axis: the mean absolute
    difference between neighbours at that position over the median of the other seven positions,
    with each difference clipped at 8 grey levels so that edges and texture (large steps) do not
    swamp the small steps a block edge adds in smooth parts. The smaller of the two axes counts:
    a grid steps along both. Measured on arrays decoded whole (a crop shifts the grid).
    """
    g = np.asarray(gray, dtype=np.float32)
    if min(g.shape[:2]) < 32:
        return 1.0
    ratios = []
    for d in (np.abs(np.diff(g, axis=1)), np.abs(np.diff(g, axis=0)).T):
        n = d.shape[1] // 8 * 8
        phases = np.minimum(d[:, :n], BLOCK_STEP_CLIP).reshape(d.shape[0], -1, 8).mean(axis=(0, 1))
        rest = np.median(phases[:7])
        ratios.append(float(phases[7] / rest) if rest > 0 else 1.0)
    return float(min(ratios))


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
    block = blockiness(_luma(sample)) if sample.dtype == np.uint8 else 1.0
    noise = estimate_noise(sample)
    if (quality is not None and quality < JPEG_CLEAN_QUALITY) or (quality is None and block > BLOCKINESS):
        condition: Condition = "jpeg"
    elif noise > NOISE[kind]:
        condition = "noisy-photo" if kind == "photo" else "noisy-microscopy"
    else:
        condition = "clean"
    return ImageSignals(kind, condition, noise, block, quality)


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
