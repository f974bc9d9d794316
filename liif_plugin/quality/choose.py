"""model="auto": which model suits this image, and why, in one line.

The released model was trained on clean, bicubic-downscaled photos; on JPEG photos and noisy
micrographs it enlarges the artifacts as detail. The chooser looks at a subsample of the image
(never more than about 1 M pixels, well under a second on a 4k image) and names the image's
condition:

- ``jpeg-light``, ``jpeg``, ``jpeg-heavy``: a JPEG below ``JPEG_CLEAN_QUALITY``, by its quality
  (``JPEG_LIGHT_QUALITY`` and up, below ``JPEG_HEAVY_QUALITY``, or between). The quality comes from
  a JPEG file's quantization tables or, for an 8-bit array whose pixels carry JPEG's 8x8 DCT grid
  (``jpeg_grid`` above ``JPEG_GRID``), from the steps its coefficients sit on
  (liif_plugin.quality.jpeg); a grid whose quality cannot be read is ``jpeg``. The lighter the
  compression, the more of the released model's sharpness pays: the tiers get different blends;
- ``noisy-photo``: the noise estimate (liif_plugin.quality.noise) is a large share of the photo's
  fine detail (``NOISE_SHARE_PHOTO``): the same noise costs a smooth image more than a textured one.
  Where the estimate does not fall one scale coarser as noise does (``TEXTURE_RATIO``), the reason says
  it may be fine texture: on a small image the estimate cannot tell the two apart, the user can;
- ``noisy-photo-light``: such a photo whose noise is at most ``NOISE_PHOTO_LIGHT_MAX``, or at most
  ``NOISE_SHARE_PHOTO_LIGHT`` of its fine detail (up to ``NOISE_PHOTO_LIGHT_CAP``), or may be fine texture
  (up to ``NOISE_PHOTO_LIGHT_TEXTURE_CAP``): faint noise, noise small next to the photo's texture, or texture
  read as noise wants less of the fine-tune's smoothing and more of the released model's detail (a blend
  of the two);
- ``noisy-microscopy``: the noise estimate is above ``NOISE_MICROSCOPY`` (micrographs lose to
  bicubic at a fraction of the noise photos stand);
- ``noisy-microscopy-light``: a noisy micrograph whose noise is a camera's read noise (the same at
  every brightness) or the shot noise of ``PHOTONS_LIGHT`` photons or more at the brightest pixel
  (liif_plugin.quality.noise.estimate_photons), and at most ``NOISE_LIGHT_MAX``. Such noise is in
  anything the user can compare the result with; removing all of it lost to bicubic, so a lighter
  model serves it;
- ``noisy-microscopy-faint``: such a micrograph whose noise is at most ``NOISE_FAINT_MAX``: there the
  truth's own noise is faint too, and a model trained on truths with camera noise, which removes more
  of the input's, gains most;
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

from liif_plugin.quality.jpeg import jpeg_grid, jpeg_quality, luma, quality_from_pixels
from liif_plugin.quality.noise import coarse_noise_ratio, estimate_noise, estimate_photons, fine_detail
from liif_plugin.sources import arrays

Condition = Literal[
    "clean",
    "jpeg-light",
    "jpeg",
    "jpeg-heavy",
    "noisy-photo",
    "noisy-photo-light",
    "noisy-microscopy",
    "noisy-microscopy-light",
    "noisy-microscopy-faint",
]
Kind = Literal["photo", "microscopy"]

# A JPEG at this quality or above (file tables or pixels) goes to the released model; below it, one of three
# tiers: `jpeg-light` from JPEG_LIGHT_QUALITY up, `jpeg-heavy` below JPEG_HEAVY_QUALITY, `jpeg` between. Each
# tier's model blends a continuation of the JPEG fine-tune on its tier's qualities with the released weights
# (docs/weights.md#the-jpeg-tiers). The boundaries were set on the fine-tune's own blends: gain over bicubic on
# the scikit-image crops of scripts/blend_weights.py (x2-x4; AMD EPYC, Dec 2026), by share alpha of the
# fine-tune (0: released, 0.6, 0.8, 1: the tiers' mixes before the continuations):
#   quality   97     95     93     90     85     75     60     50     30
#   0       +1.93  +1.72  +1.52  +1.24  +0.80  +0.30  -0.03  -0.12  -0.26
#   0.6     +1.80  +1.72  +1.62  +1.49  +1.26  +0.92  +0.61  +0.50  +0.26
#   0.8       -    +1.60    -    +1.41  +1.23  +1.00  +0.77  +0.67  +0.45
#   1         -    +1.52    -    +1.33  +1.14  +0.95  +0.79  +0.71  +0.55
# The boundaries lie where neighbouring rows cross: 95 (tied there), about 83 (light ahead by 0.03 at 85, behind
# by 0.08 at 75) and about 65 (middle ahead by 0.05 at 75, behind by 0.02 at 60).
# Re-checked with the light tier's own blend (0.8 of edsr-baseline-jpeg75-95; same crops, Dec 4): at 97 +1.79 against
# the released model's +1.93, at 95 +1.72 against +1.72 (tied again), at 93 +1.64 against +1.52: 95 stays.
JPEG_CLEAN_QUALITY = 95
JPEG_LIGHT_QUALITY = 83
JPEG_HEAVY_QUALITY = 65
# How strongly an 8-bit array carries JPEG's 8x8 DCT grid (see jpeg_grid) above which it is a decoded JPEG.
# Calibrated by `scripts/calibrate_chooser.py jpeg` on crops of 40 training photos (48-96 px LR inputs, x2-x4):
# clean and noisy inputs read at most 0.11; JPEG 50 at least 0.35, JPEG 75 0.23-0.89 (98 % above 0.35),
# JPEG 90 0.16-0.68 (88 % above), JPEG 95 42 % above. On the held-out photos of benchmarks/realworld.py the
# clean inputs read up to 0.30 (clock: flat areas, 36 blocks) and every JPEG 90-30 input at least 0.35.
JPEG_GRID = 0.35
# A grid at another phase than the image's origin (a cropped JPEG) must stand out more: the best of the 64
# phases of a clean input reads up to 0.43 by chance.
JPEG_GRID_SHIFTED = 0.6
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
# A noisy photo whose noise reads at most this gets the light noisy-photo model (edsr-baseline-photo-light: 0.5 of the
# photo model, 0.5 of the released one). Calibrated by `scripts/calibrate_chooser.py photo-light` on every input the
# chooser reads as a noisy photo, x2-x4, Gaussian noise 0.5-5 % (AMD EPYC with AVX512-BF16, Dec 2026). Mean gain over
# bicubic: the photo model alone | the 0.5 blend up to 1.0, 1.2, 1.5, 2.0, 2.5 % | the 0.5 blend alone:
#   175 inputs, the 10 unseen scikit-image crops of scripts/blend_weights.py:
#     +0.650 | +0.760 +0.807 +0.811 +0.836 +0.861 | +0.673
#   158 inputs, 40 training photos (they flatter the photo model):
#     +1.619 | +1.641 +1.650 +1.637 +1.645 +1.637 | +1.304
# Blends of 0.25 and 0.75 did no better (at 1.2 %: +0.772 / +1.626 and +0.752 / +1.639). 1.2 % is the training
# photos' best split; on the crops higher splits gain a little more (+0.05 dB at 2.5 %), so the value is a compromise
# of the two sets. `cell` at 500 photons reads 1.45 % and stays with the photo model.
NOISE_PHOTO_LIGHT_MAX = 0.012
# ... and so does a noisy photo whose noise is at most NOISE_SHARE_PHOTO_LIGHT of its fine detail and at most
# NOISE_PHOTO_LIGHT_CAP: a textured photo (grass, fur, gravel) reads more noise than it carries, since its texture
# leaks into the estimate, and next to that much real detail the released model's sharpness still pays. Calibrated by
# the same run (alpha 0.5; the 1.2 % split kept). Mean gain over bicubic by the share (rows) and the cap (columns):
#                    unseen crops (175)              training photos (158)
#   share   cap:   3 %     4 %     5 %    none      3 %     4 %     5 %    none
#   0.28        +0.879  +0.919  +0.941  +0.941    +1.667  +1.675  +1.674  +1.674
#   0.30        +0.901  +0.944  +0.971  +0.971    +1.668  +1.676  +1.675  +1.675
#   0.32        +0.908  +0.951  +0.993  +0.997    +1.669  +1.676  +1.675  +1.671
#   0.35        +0.925  +0.967  +1.004  +1.007    +1.669  +1.675  +1.672  +1.654
# (the 1.2 % split alone: +0.807 and +1.650). 0.30 and 4 % are the training photos' best; above 4 % the crops gain on
# average, but their worst input then loses 1.12 dB against the split alone (0.11 up to 4 %; the training photos'
# worst 0.40 from 4 % on). An 8-bit photo's estimate moves in steps of 0.29 % (0.5 / 255 / 0.6745; half that at
# times): the cap leaves out readings of 4.07 %, where that worst input (`coins` at 5 % noise) reads.
NOISE_SHARE_PHOTO_LIGHT = 0.30
NOISE_PHOTO_LIGHT_CAP = 0.04
# A photo under this many pixels on a side has too few 2x2 blocks to weigh noise against detail (a 24 x 32 crop of
# `camera` reads 0.58 % and 0.23 from 48 blocks, the whole image 0.29 % and 0.07): it counts as clean.
MIN_NOISE_SIDE = 32
# A noisy photo whose noise estimate does not fall one scale coarser (liif_plugin.quality.noise.coarse_noise_ratio above
# TEXTURE_RATIO; white noise reads about 0.5) may be fine texture read as noise: the reason says so (the user can
# tell a clean picture of grass from a noisy one, the estimate on a small image cannot), and up to
# NOISE_PHOTO_LIGHT_TEXTURE_CAP it gets the light noisy-photo model. On the clean inputs of the ten unseen crops of
# scripts/blend_weights.py (x2-x4, 43-96 px) 8 of 40 read as noisy photos (grass, gravel, immunohistochemistry; ratios
# 0.96-1.65), where the released model gained +1.50 dB over bicubic and `auto` +0.88 (now +1.07). Textured photos
# with 2-5 % noise read up to 2.52, so the ratio cannot send an input to the released model (above 1.0: +0.10 dB on the
# crops, -0.09 on the training photos, single inputs down 2-3 dB), only to the half mix. Calibrated by
# `scripts/calibrate_chooser.py photo-light` on clean and noisy inputs (AMD EPYC, AVX2 only, Dec 2026). Mean gain over
# bicubic with the split and share rule alone, then by ratio (rows) and cap (columns):
#                 unseen crops (183)               training photos (166)
#   alone       +0.941                           +1.636
#   ratio cap:  4.5 %   5 %     6 %     none     4.5 %   5 %     6 %     none
#   1.0       +0.982  +1.004  +1.013  +1.013   +1.641  +1.638  +1.637  +1.628
#   1.1       +0.980  +0.997  +1.003  +1.003   +1.641  +1.638  +1.637  +1.631
#   1.3       +0.964  +0.971  +0.974  +0.974   +1.642  +1.639  +1.639  +1.633
# Up to 5 % no input of the crops loses (past it up to 0.95 dB; the training photos' worst -0.45 at 5 %). 1.0 would
# move four more crops for +0.007 dB; 1.1 keeps one threshold for the words and the rule. No benchmark input moves.
TEXTURE_RATIO = 1.1
NOISE_PHOTO_LIGHT_TEXTURE_CAP = 0.05
# Micrographs (high bit depth, or mostly dark background), by sigma of the [0, 1] range: nuclei-2d reads 0.8-1.4 %
# with no noise added (its camera's own) and 1.0-1.5 % at 5000 photons, so the two cannot be told apart; the
# microscopy model beat the released one at every added noise level (by 1.2-14 dB) and lost 0.3-1.0 dB on the
# image as it is (now the light microscopy model's: PHOTONS_LIGHT). The confocal plane cells3d-z30 reads
# 0.34-0.51 % clean and at 5000 photons (the released model gains most there, +1.4 to +2.1 dB) and 0.70-0.85 % at
# 500 photons (the microscopy model wins, +0.5 to +0.9).
NOISE_MICROSCOPY = 0.006
# A noisy micrograph whose noise reads as this many photons at the brightest pixel or more (estimate_photons: how
# the noise grows with brightness; read noise alone reads as infinitely many) gets the light microscopy model. On
# the held-out micrographs of scripts/blend_weights.py --micro (time-lapse frames with 3 % read noise in the truth;
# AMD EPYC, Dec 2026) inputs at 100 photons read 50-133, where the light model lost 0.2-0.45 dB to bicubic and the
# microscopy model gained 0.5-0.7; at 500-5000 photons and clean they read 180-10000, where the light model gained
# most. On the benchmark: nuclei-2d clean and at 5000 photons reads 760 to infinity (its camera's read noise: the
# microscopy model lost up to 0.5 dB there, the light one gains), cells3d-z30 at 500 photons 147-258, and every
# image at 100 photons or fewer 8-154.
PHOTONS_LIGHT = 200
# ... and whose noise is at most this: heavier noise is never worth keeping, whatever its source (a synthetic
# stack with 6 % read noise, StarDist's nuclei-3d, is the microscopy model's). The light model was best on inputs
# reading up to 2.1 % (nuclei-2d at 500 photons) and lost 0.7-1.3 dB to bicubic at 20 photons (2.4-9.3 %).
NOISE_LIGHT_MAX = 0.025
# ... and of those, a micrograph whose noise is at most this gets the faint-noise model (edsr-baseline-microscopy-faint,
# trained on truths that carry camera noise): the fainter the input's noise, the fainter the truth's own, and the more
# removing it pays. Calibrated by `scripts/calibrate_chooser.py micro` on 424 light-tier inputs no model was trained on
# and no benchmark scores on (time-lapse frames 5/15/25, 192-px corners and whole, camera noise of 1-8 % of the range
# in the truth, 200-5000 photons or none, x2-x4; AMD EPYC, Dec 2026): mean gain over bicubic with the light model
# alone +0.110 dB (108 inputs below bicubic, 33 below -0.1 dB), the faint model alone +0.187 (90, 46); split at
# 0.85 % +0.185, 0.95 % +0.198, 1.05 % +0.211 (57, 4), 1.15 % +0.206, 1.25 % +0.208, 1.35 % +0.202.
NOISE_FAINT_MAX = 0.0105
# (The split was set with both models rendering as the network alone. Each tier's model now keeps part of bicubic,
# the registry's `detail`: 0.6 for the light tier, 0.8 for the faint one, chosen by the same script on the inputs
# the split gives each tier; docs/weights.md has both tables.)
# A photon estimate this high says the noise does not grow with brightness: the reason calls it read noise.
READ_NOISE_PHOTONS = 1e5
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
    jpeg_quality: int | None  # from a JPEG file's tables, or read from an array's pixels (quality_read_from)
    quality_read_from: Literal["file", "pixels"] | None = None
    photons: float | None = None  # at the brightest pixel (estimate_photons), measured for noisy micrographs only
    coarse_ratio: float | None = None  # coarse_noise_ratio, measured for noisy photos only

    @property
    def may_be_texture(self) -> bool:
        """Whether what reads as noise may be fine texture (TEXTURE_RATIO): the reason and the advice say so."""
        return self.coarse_ratio is not None and self.coarse_ratio > TEXTURE_RATIO

    @property
    def by_share(self) -> bool:
        """Whether the noise is small next to the photo's fine detail (NOISE_SHARE_PHOTO_LIGHT, up to its cap)."""
        return small_next_to_detail(self.noise, self.detail)

    def describe(self) -> str:
        q = self.jpeg_quality
        seen = " (seen in the pixels)" if self.quality_read_from == "pixels" else ""
        if is_jpeg(self.condition):
            if q is not None:
                return f"JPEG quality about {q}{seen}"
            return f"JPEG compression seen in the pixels, 8x8 grid {self.jpeg_grid:.2f}"
        if self.condition.startswith("noisy"):
            said = f"noise about {100 * self.noise:.1f} % of the range"
            if self.may_be_texture:
                said = "fine texture or " + said  # it does not fall as noise does one scale coarser
            if self.condition == "noisy-photo-light" and self.noise > NOISE_PHOTO_LIGHT_MAX and self.by_share:
                said += ", small next to the photo's fine detail"  # the share rule sent it there
            if self.photons is None:
                return f"{said} ({self.kind})"
            if self.photons > READ_NOISE_PHOTONS:
                return f"{said}, not growing with brightness: camera read noise ({self.kind})"
            return f"{said}, as from about {_round(self.photons)} photons at the brightest pixel ({self.kind})"
        if q is not None:
            return f"JPEG quality about {q}{seen}, light enough to count as clean"
        return f"clean {self.kind} (noise {100 * self.noise:.1f} % of the range)"


def _round(n: float) -> int:
    """A rough count to two significant digits (the photon estimate is rough: estimate_photons)."""
    return int(float(f"{n:.2g}"))


# -- signals ----------------------------------------------------------------------------------------


def image_kind(sample: np.ndarray) -> Kind:
    """'photo' for 8-bit RGB, for RGB of other dtypes unless mostly dark (a fluorescence composite) and
    for 8-bit gray images that fill their range; 'microscopy' for gray images of higher bit depths,
    channels other than RGB(A) and 8-bit gray images that are mostly dark background (fluorescence).
    The same RGB photo is a photo whatever its dtype (uint8, uint16 or float), so it gets the same model."""
    rgb = sample.ndim == 3 and sample.shape[2] in (3, 4)
    if sample.ndim == 3 and not rgb and sample.shape[2] != 1:
        return "microscopy"
    if rgb and sample.dtype == np.uint8:
        return "photo"
    if not rgb and sample.dtype != np.uint8:
        return "microscopy"
    v = sample[..., :3].astype(np.float32).mean(axis=-1) if rgb else sample.astype(np.float32)
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


def measure(image, *, path: str | Path | None = None) -> ImageSignals:
    """The chooser's signals for an image (array, Source, zarr, dask or path) and the condition they give."""
    if path is None and isinstance(image, (str, Path)):
        path = image
    if image is None:
        image = path
    sample = _sample(image)
    quality = jpeg_quality(path) if path is not None else None
    kind = image_kind(sample)
    read_from: Literal["file", "pixels"] | None = "file" if quality is not None else None
    at_origin, best, phase = jpeg_grid(luma(sample)) if sample.dtype == np.uint8 else (0.0, 0.0, (0, 0))
    grid, phase = (max(at_origin, best), phase) if best > JPEG_GRID_SHIFTED else (at_origin, (0, 0))
    if quality is None and grid > JPEG_GRID:
        quality = quality_from_pixels(sample, phase)
        read_from = "pixels" if quality is not None else None
    noise, detail = estimate_noise(sample), fine_detail(sample)
    photons = coarse = None
    if quality is not None and quality < JPEG_CLEAN_QUALITY:
        condition: Condition = jpeg_tier(quality)
    elif quality is None and grid > JPEG_GRID:
        condition = "jpeg"
    elif (
        kind == "photo"
        and min(sample.shape[:2]) >= MIN_NOISE_SIDE
        and noise > NOISE_FLOOR_PHOTO
        and noise > NOISE_SHARE_PHOTO * detail
    ):
        coarse = coarse_noise_ratio(sample)
        condition = "noisy-photo-light" if light_photo(noise, detail, coarse) else "noisy-photo"
    elif kind == "microscopy" and noise > NOISE_MICROSCOPY:
        photons = estimate_photons(sample)
        if photons < PHOTONS_LIGHT or noise > NOISE_LIGHT_MAX:
            condition = "noisy-microscopy"
        else:
            condition = "noisy-microscopy-faint" if noise <= NOISE_FAINT_MAX else "noisy-microscopy-light"
    else:
        condition = "clean"
    return ImageSignals(kind, condition, noise, detail, grid, quality, read_from, photons, coarse)


def small_next_to_detail(noise: float, detail: float) -> bool:
    """The share rule: noise at most NOISE_SHARE_PHOTO_LIGHT of the fine detail, up to NOISE_PHOTO_LIGHT_CAP."""
    return noise <= NOISE_PHOTO_LIGHT_CAP and noise <= NOISE_SHARE_PHOTO_LIGHT * detail


def light_photo(noise: float, detail: float, coarse: float) -> bool:
    """Whether a noisy photo gets the light tier: faint noise, noise small next to its fine detail, or what may be
    fine texture read as noise (the thresholds above)."""
    return (
        noise <= NOISE_PHOTO_LIGHT_MAX
        or small_next_to_detail(noise, detail)
        or (noise <= NOISE_PHOTO_LIGHT_TEXTURE_CAP and coarse > TEXTURE_RATIO)
    )


def jpeg_tier(quality: int) -> Condition:
    """The JPEG condition of a quality below JPEG_CLEAN_QUALITY."""
    if quality >= JPEG_LIGHT_QUALITY:
        return "jpeg-light"
    return "jpeg-heavy" if quality < JPEG_HEAVY_QUALITY else "jpeg"


def is_jpeg(condition: str) -> bool:
    """Whether a condition is one of the JPEG tiers."""
    return condition in ("jpeg-light", "jpeg", "jpeg-heavy")


def in_words(condition: str) -> str:
    """What images a condition covers, in a user's words with the thresholds above (for `liif weights list`)."""
    pct = lambda *v: "-".join(f"{100 * x:g}" for x in v) + " %"  # noqa: E731
    micro = f"({PHOTONS_LIGHT} photons or more)"
    return {
        "clean": "clean images",
        "jpeg-light": f"JPEG quality {JPEG_LIGHT_QUALITY}-{JPEG_CLEAN_QUALITY - 1}",
        "jpeg": f"JPEG quality {JPEG_HEAVY_QUALITY}-{JPEG_LIGHT_QUALITY - 1}, or JPEG of unknown quality",
        "jpeg-heavy": f"JPEG quality below {JPEG_HEAVY_QUALITY}",
        "noisy-photo": "noisy photos",
        "noisy-photo-light": f"photos with light noise (up to {pct(NOISE_PHOTO_LIGHT_MAX)}, or faint next to texture)",
        "noisy-microscopy": f"micrographs with noise over {pct(NOISE_MICROSCOPY)} and under {PHOTONS_LIGHT} photons, "
        f"or over {pct(NOISE_LIGHT_MAX)}",
        "noisy-microscopy-light": f"micrographs with noise of {pct(NOISE_FAINT_MAX, NOISE_LIGHT_MAX)} {micro}",
        "noisy-microscopy-faint": f"micrographs with noise of {pct(NOISE_MICROSCOPY, NOISE_FAINT_MAX)} {micro}",
    }[condition]


# A condition no installed model names is served by the model of a broader one.
FALLBACK: dict[str, Condition] = {
    "jpeg-light": "jpeg",
    "jpeg-heavy": "jpeg",
    "noisy-microscopy-light": "noisy-microscopy",
    "noisy-microscopy-faint": "noisy-microscopy-light",
    "noisy-photo-light": "noisy-photo",
}


def _served(condition: Condition) -> tuple[str | None, Condition]:
    """(the registry model that serves `condition` or its FALLBACK, the condition it was listed for)."""
    from liif_plugin.hub import cache

    for name, e in cache.registry().items():
        if condition in e.auto_for and (e.committed or e.pypi is not None or cache.path_of(name).exists()):
            return name, condition
    return _served(FALLBACK[condition]) if condition in FALLBACK else (None, condition)


def model_for(condition: Condition) -> str | None:
    """The registry model that serves `condition` (its ``auto_for``), or None when none is installed.

    A condition no installed model names falls back along FALLBACK (a JPEG tier to ``jpeg``, a light
    micrograph to ``noisy-microscopy``).
    """
    return _served(condition)[0]


def choose_model(image=None, *, path: str | Path | None = None) -> ModelChoice:
    """(model name, one-line reason) for this image: what model="auto" uses.

    image: an array, Source, zarr or dask array, or a path; `path`: the file an array came from
    (a JPEG's quantization tables are read from it). Deterministic, reads one central window.
    """
    from liif_plugin.hub import cache

    s = measure(image, path=path)
    name, listed = _served(s.condition)
    if name is None or name == cache.DEFAULT_MODEL:
        default = cache.DEFAULT_MODEL
        if s.condition == "clean":
            return ModelChoice(default, f"{s.describe()}: released model '{default}'")
        return ModelChoice(default, f"{s.describe()}, but no model for it is installed: released model '{default}'")
    # Named for the condition, not the model: the registry decides which model serves it.
    what = {
        "noisy-photo": "noisy-photo model",
        "noisy-photo-light": "light noisy-photo model",
        "noisy-microscopy": "microscopy model",
        "noisy-microscopy-light": "light microscopy model",
        "noisy-microscopy-faint": "faint-noise microscopy model",
    }
    serves = "JPEG model" if is_jpeg(listed) else what[listed]  # a fallback is named for what it serves
    return ModelChoice(name, f"{s.describe()}: {serves} '{name}'{at_detail(name)}")


def at_detail(model) -> str:
    """' at detail 0.6' for a model whose renders keep only part of its difference from bicubic, else '':
    every face names such a model with its share. `model`: a registry name (its entry's ``detail``) or a
    loaded LiifModel (its own ``detail``: 1 when it was loaded from a file path)."""
    from liif_plugin.hub import cache

    if isinstance(model, str):
        e = cache.registry().get(model)
        detail = 1.0 if e is None else e.detail
    else:
        detail = model.detail
    return f" at detail {detail:g}" if detail < 1 else ""
