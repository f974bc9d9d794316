"""Training degradations: how a clean high-resolution crop becomes the low-resolution input.

The released model saw only one degradation, antialiased bicubic. Real inputs are also blurred,
noisy and JPEG-compressed, and a model that never saw those enlarges them as detail. Each
`Degradation` here turns an HR crop (3, H, W) in [0, 1] into an LR patch (3, n, n) in [0, 1];
every random choice comes from the `random.Random` it is given, so a seeded run is reproducible.

- ``bicubic``: the authors' recipe (antialiased bicubic), nothing else.
- ``photo``: a second-order degradation in the spirit of Real-ESRGAN (Wang et al. 2021) and
  BSRGAN (Zhang et al. 2021): one or two stages of blur / resize / noise in shuffled order, each
  ending in JPEG, with a share of clean (bicubic-only) patches so clean images lose little.
- ``jpeg``: the photo pipeline's resize and JPEG only (no blur, no noise, one stage): what a
  photo saved as JPEG carries; the recipe of ``edsr-baseline-jpeg`` and, with ``--jpeg-quality``, of
  its continuations per JPEG tier (auto gives JPEG photos their blends with the released weights).
- ``microscopy``: Poisson-Gaussian sensor noise (photon counts over three decades plus read
  noise), mild optical blur, a clean share. Gray patches stay gray. With ``truth_read`` the target
  carries camera noise too, as every real micrograph does: a model trained so keeps the part of the
  input's noise that is the image's own instead of removing it (the light microscopy model).

Blur sigmas are given in LR pixels of the final patch (Real-ESRGAN's 0.2-3 HR pixels at x4 is
0.05-0.75 here), so a degradation means the same softness at every training scale.
"""

import io
import math
import random
from dataclasses import dataclass
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

DegradeName = Literal["bicubic", "photo", "jpeg", "microscopy"]
RESIZE_METHODS = ("bicubic", "bilinear", "area")


# -- steps, each usable (and tested) alone ----------------------------------------------------------


def blur_kernel(sigma_y: float, sigma_x: float, theta: float) -> torch.Tensor:
    """Normalised anisotropic Gaussian kernel (odd size, 3 sigma each side), rotated by theta (radians)."""
    r = max(1, math.ceil(3 * max(sigma_y, sigma_x)))
    t = torch.arange(-r, r + 1, dtype=torch.float64)
    yy, xx = torch.meshgrid(t, t, indexing="ij")
    c, s = math.cos(theta), math.sin(theta)
    u, v = c * xx + s * yy, -s * xx + c * yy  # coordinates along the kernel's own axes
    k = torch.exp(-0.5 * ((u / sigma_x) ** 2 + (v / sigma_y) ** 2))
    return (k / k.sum()).float()


def blur(img: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Convolve each plane of (C, H, W) with `kernel`, reflecting at the edges."""
    r = kernel.shape[-1] // 2
    pad = min(r, img.shape[-1] - 1, img.shape[-2] - 1)
    k = kernel
    if pad < r:  # a kernel wider than the patch: keep its centre (the tails carry almost nothing)
        k = kernel[r - pad : r + pad + 1, r - pad : r + pad + 1]
        k = k / k.sum()
    x = F.pad(img[:, None], (pad,) * 4, mode="reflect")
    return F.conv2d(x, k[None, None].to(img.dtype))[:, 0]


def resize(img: torch.Tensor, size: int, method: str = "bicubic") -> torch.Tensor:
    """(C, H, W) -> (C, size, size) by antialiased bicubic / bilinear or area averaging, clipped to [0, 1]."""
    if method == "area":
        out = F.interpolate(img[None], size=(size, size), mode="area")[0]
    elif method in ("bicubic", "bilinear"):
        out = F.interpolate(img[None], size=(size, size), mode=method, antialias=True, align_corners=False)[0]
    else:
        raise ValueError(f"unknown resize method {method!r}; choose one of {', '.join(RESIZE_METHODS)}")
    return out.clamp(0, 1)


def is_gray(img: torch.Tensor) -> bool:
    return img.shape[0] == 1 or bool(torch.equal(img[0], img[1]) and torch.equal(img[0], img[2]))


def add_noise(lr: torch.Tensor, photons: float, read: float, seed: int) -> torch.Tensor:
    """Poisson noise with `photons` at value 1 plus Gaussian noise of sigma `read`; gray stays gray.

    A sensor counts about v * P photons at value v, so shot noise has variance v / P; the
    read-out adds Gaussian noise of a fixed sigma. photons=inf gives Gaussian noise alone.
    """
    g = torch.Generator().manual_seed(seed)
    gray = is_gray(lr)
    x = lr[:1] if gray else lr
    y = x.clamp(0, 1)
    if math.isfinite(photons):
        y = torch.poisson(y * photons, generator=g) / photons
    y = (y + read * torch.randn(x.shape, generator=g)).clamp(0, 1)
    return y.expand_as(lr).clone() if gray else y


def jpeg(img: torch.Tensor, quality: int, phase: tuple[int, int] = (0, 0)) -> torch.Tensor:
    """JPEG-compress (C, H, W) in [0, 1] with PIL (its default 4:2:0 chroma for colour) and decode.

    `phase` shifts the 8x8 block grid: the patch is reflect-padded by (py, px) at the top-left
    before compression and cropped back after, as a crop of a bigger JPEG would be.
    """
    from PIL import Image

    py, px = phase
    # reflect needs a pad shorter than the side: a tiny patch (a small image's held-out strip at x4) repeats its edge
    mode = "reflect" if py < img.shape[1] and px < img.shape[2] else "replicate"
    x = F.pad(img[None], (px, 0, py, 0), mode=mode)[0] if (py or px) else img
    u8 = (x.clamp(0, 1) * 255).round().to(torch.uint8)
    gray = is_gray(u8)
    arr = u8[0].numpy() if gray else u8.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), "L" if gray else "RGB").save(buf, "JPEG", quality=int(quality))
    out = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
    t = torch.from_numpy(out.copy()).float() / 255
    t = t[None].expand(img.shape[0], -1, -1) if gray else t.permute(2, 0, 1)
    return t[:, py:, px:].contiguous()


def check_photons(photons: tuple[float, float]) -> None:
    """Refuse a photon range that is not two positive numbers, low <= high (``--noise``, ``--photons``)."""
    lo, hi = photons
    if not 0 < lo <= hi:
        raise ValueError(f"the photon range must be two positive numbers, low <= high; got {lo:g}, {hi:g}")


def check_clean_share(clean: float) -> float:
    """The share of clean patches, refused outside [0, 1] (``--clean-share``)."""
    if not 0 <= clean <= 1:
        raise ValueError(f"the clean share must be in [0, 1], got {clean:g}")
    return clean


# -- degradations ----------------------------------------------------------------------------------


class Degradation:
    """HR crop (3, H, W) in [0, 1] -> LR patch (3, n, n) in [0, 1]."""

    name: str = "bicubic"

    def apply(self, hr: torch.Tensor, size: int, rng: random.Random) -> torch.Tensor:
        return resize(hr, size, "bicubic")

    def target(self, hr: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """The training target for this HR crop (the crop itself; `apply` degrades the returned target)."""
        return hr

    def describe(self) -> str:
        return "antialiased bicubic (the authors' recipe)"


@dataclass(frozen=True)
class NoiseModel(Degradation):
    """Bicubic, then Poisson-Gaussian noise of random strength (the edsr-baseline-denoise recipe)."""

    photons: tuple[float, float] = (10.0, 10000.0)  # range of photons at value 1 (log-uniform)
    read: float = 0.01  # largest Gaussian read-noise sigma, [0, 1] units (uniform in [0, read])
    clean: float = 0.25  # share of patches left without noise
    name = "noise"

    def __post_init__(self):
        check_photons(self.photons)
        if self.read < 0:
            raise ValueError(f"the read noise must be >= 0, got {self.read:g}")
        check_clean_share(self.clean)

    def draw(self, rng: random.Random) -> tuple[float, float] | None:
        """(photons at value 1, read-noise sigma) for one patch, or None for a clean patch."""
        if rng.random() < self.clean:
            return None
        lo, hi = self.photons
        return math.exp(rng.uniform(math.log(lo), math.log(hi))), rng.uniform(0.0, self.read)

    def noisy(self, lr: torch.Tensor, rng: random.Random) -> torch.Tensor:
        strength = self.draw(rng)
        return lr if strength is None else add_noise(lr, *strength, seed=rng.getrandbits(63))

    def apply(self, hr, size, rng):
        return self.noisy(resize(hr, size, "bicubic"), rng)

    def describe(self):
        lo, hi = self.photons
        return (
            f"bicubic, then Poisson noise with {lo:g}-{hi:g} photons at the peak (log-uniform) and Gaussian "
            f"read noise up to {self.read:g}; {self.clean:.0%} of patches clean"
        )


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _random_kernel(rng: random.Random, sigma: tuple[float, float], scale: float, aniso: float) -> torch.Tensor:
    """An isotropic or (with probability `aniso`) anisotropic Gaussian; sigmas in LR px times `scale`."""
    sy = rng.uniform(*sigma)
    sx = rng.uniform(*sigma) if rng.random() < aniso else sy
    return blur_kernel(sy * scale, sx * scale, rng.uniform(0, math.pi))


@dataclass(frozen=True)
class PhotoDegradation(Degradation):
    """Real-ESRGAN / BSRGAN-style second-order degradation for photographs and scans.

    Per patch: with probability `clean` plain bicubic. Otherwise one stage, or two with
    probability `second`; a stage applies blur, resize and noise in shuffled order (each with its
    probability), then JPEG. The first of two stages resizes to 1-2x the final size, the last to it.
    The mix leans on JPEG (the degradation real photos carry most): a first recipe with blur in
    half the patches and two stages in 40 % gained less on JPEG inputs (+0.35 / +0.24 dB at JPEG
    75 / 50, x2, after 750 steps) than a JPEG-only probe did in half the steps (+0.62 / +0.47).
    """

    clean: float = 0.2
    second: float = 0.2
    blur_p: tuple[float, float] = (0.2, 0.1)  # per stage
    blur_sigma: tuple[float, float] = (0.05, 0.6)  # LR px of the final patch
    aniso: float = 0.5
    noise_p: tuple[float, float] = (0.35, 0.2)
    gauss_sigma: tuple[float, float] = (0.002, 0.05)  # [0, 1] units, log-uniform
    poisson_share: float = 0.4  # of noisy stages: shot noise (plus a little read noise) instead of Gaussian
    photons: tuple[float, float] = (30.0, 3000.0)
    gray_noise: float = 0.4  # share of noisy stages with one noise field on all planes (luma noise)
    jpeg_p: tuple[float, float] = (0.9, 0.9)
    quality: tuple[int, int] = (30, 95)
    resize_methods: tuple[str, ...] = RESIZE_METHODS  # drawn per resize
    name = "photo"

    def __post_init__(self):
        bad = [m for m in self.resize_methods if m not in RESIZE_METHODS]
        if bad or not self.resize_methods:
            known = ", ".join(RESIZE_METHODS)
            raise ValueError(f"resize methods must be some of {known}, got {', '.join(self.resize_methods) or 'none'}")
        lo, hi = self.quality
        if not (isinstance(lo, int) and isinstance(hi, int) and 1 <= lo <= hi <= 100):
            raise ValueError(f"JPEG qualities must be whole numbers with 1 <= low <= high <= 100, got {lo},{hi}")

    def apply(self, hr, size, rng):
        if rng.random() < self.clean:
            return resize(hr, size, "bicubic")
        n = 2 if rng.random() < self.second else 1
        sizes = [min(round(size * rng.uniform(1.0, 2.0)), min(hr.shape[1:])), size] if n == 2 else [size]
        x = hr
        for k, out in enumerate(sizes):
            ops = ["blur", "resize", "noise"]
            rng.shuffle(ops)
            for op in ops:
                if op == "resize":
                    x = resize(x, out, rng.choice(self.resize_methods))
                elif op == "blur" and rng.random() < self.blur_p[k]:
                    x = blur(x, _random_kernel(rng, self.blur_sigma, x.shape[-1] / size, self.aniso))
                elif op == "noise" and rng.random() < self.noise_p[k]:
                    x = self._noise(x, rng, weaker=k > 0)
            if rng.random() < self.jpeg_p[k]:
                x = jpeg(x, rng.randint(*self.quality), (rng.randrange(8), rng.randrange(8)))
        return x

    def _noise(self, x, rng, weaker):
        f = 0.5 if weaker else 1.0
        mono = rng.random() < self.gray_noise
        target = x.mean(0, keepdim=True) if mono else x
        if rng.random() < self.poisson_share:
            noisy = add_noise(target, _log_uniform(rng, *self.photons) / f, rng.uniform(0, 0.005), rng.getrandbits(63))
        else:
            noisy = add_noise(target, math.inf, f * _log_uniform(rng, *self.gauss_sigma), rng.getrandbits(63))
        return (x + (noisy - target)).clamp(0, 1) if mono else noisy

    def describe(self):
        return (
            f"second-order (two stages with probability {self.second:g}): blur (sigma "
            f"{self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} LR px, iso/aniso), resize (bicubic, bilinear, area), "
            f"Gaussian ({self.gauss_sigma[0]:g}-{self.gauss_sigma[1]:g}) or Poisson ({self.photons[0]:g}-"
            f"{self.photons[1]:g} photons) noise in shuffled order, then JPEG quality {self.quality[0]}-"
            f"{self.quality[1]}; {self.clean:.0%} of patches clean (bicubic only)"
        )


@dataclass(frozen=True)
class JpegDegradation(PhotoDegradation):
    """Resize (bicubic, bilinear or area), then JPEG quality 30-95 at a random block phase; a clean share.

    The photo recipe's JPEG-only part. Continuing the photo model with it gained little (its blur
    had taught the model to sharpen); started from the released model instead, 2000 steps of it
    (``edsr-baseline-jpeg``) beat the photo model at every JPEG quality from 50 to 90 (docs/weights.md).
    """

    second: float = 0.0
    blur_p: tuple[float, float] = (0.0, 0.0)
    noise_p: tuple[float, float] = (0.0, 0.0)
    jpeg_p: tuple[float, float] = (1.0, 1.0)
    name = "jpeg"

    def describe(self):
        return (
            f"resize ({', '.join(self.resize_methods)}), then JPEG quality {self.quality[0]}-{self.quality[1]} "
            f"at a random 8x8 block phase; {self.clean:.0%} of patches clean (bicubic only)"
        )


@dataclass(frozen=True)
class MicroscopyDegradation(Degradation):
    """Fluorescence: mild optical blur, bicubic or area resize, Poisson-Gaussian noise; a clean share."""

    clean: float = 0.25
    blur_p: float = 0.3
    blur_sigma: tuple[float, float] = (0.05, 0.5)
    photons: tuple[float, float] = (5.0, 5000.0)
    read: float = 0.02
    truth_read: float = 0.0  # largest read-noise sigma put into the target itself (uniform in [truth_read_min, this])
    truth_read_min: float = 0.0  # its smallest: a run for images whose own noise is heavy draws from a band
    name = "microscopy"

    def __post_init__(self):
        check_photons(self.photons)
        if not 0 <= self.truth_read < 1:
            raise ValueError(f"the target's read noise must be in [0, 1), got {self.truth_read:g}")
        if not 0 <= self.truth_read_min <= self.truth_read:
            raise ValueError(
                f"the target's read noise takes 0 <= low <= high, got {self.truth_read_min:g},{self.truth_read:g}"
            )

    def target(self, hr, rng):
        if not self.truth_read:  # no draw: seeded runs without it keep their batches
            return hr
        return add_noise(hr, math.inf, rng.uniform(self.truth_read_min, self.truth_read), rng.getrandbits(63))

    def apply(self, hr, size, rng):
        if rng.random() < self.clean:
            return resize(hr, size, "bicubic")
        x = hr
        if rng.random() < self.blur_p:
            x = blur(x, _random_kernel(rng, self.blur_sigma, x.shape[-1] / size, 0.0))
        x = resize(x, size, rng.choice(("bicubic", "area")))
        return add_noise(x, _log_uniform(rng, *self.photons), rng.uniform(0, self.read), rng.getrandbits(63))

    def describe(self):
        return (
            f"mild blur (probability {self.blur_p:g}, sigma {self.blur_sigma[0]:g}-{self.blur_sigma[1]:g} LR px), "
            f"bicubic or area resize, Poisson noise with {self.photons[0]:g}-{self.photons[1]:g} photons "
            f"(log-uniform) plus read noise up to {self.read:g}; {self.clean:.0%} of patches clean"
            + (f"; targets with read noise {self._truth_range()}" if self.truth_read else "")
        )

    def _truth_range(self) -> str:
        lo, hi = self.truth_read_min, self.truth_read
        return f"{lo:g}-{hi:g}" if lo else f"up to {hi:g}"


def make_degradation(
    name: DegradeName | str,
    *,
    clean: float | None = None,
    resize_methods: tuple[str, ...] | None = None,
    quality: tuple[int, int] | None = None,
    photons: tuple[float, float] | None = None,
    truth_read: float | tuple[float, float] | None = None,
) -> Degradation:
    """The training degradation called `name` (``liif train --degrade NAME``).

    `clean` overrides its share of clean patches; `resize_methods` the resize filters and `quality` the
    JPEG qualities (low, high) that photo and jpeg draw from (``liif train --clean-share``, ``--resize``,
    ``--jpeg-quality``; a narrower quality range fine-tunes for one of model='auto''s JPEG tiers);
    `photons` the photon range and `truth_read` the targets' read noise of microscopy, its largest sigma
    or a (low, high) band (``--photons``, ``--truth-noise``).
    """
    table = {
        "bicubic": Degradation,
        "photo": PhotoDegradation,
        "jpeg": JpegDegradation,
        "microscopy": MicroscopyDegradation,
    }
    if name not in table:
        raise ValueError(f"unknown degradation {name!r}; choose one of {', '.join(table)}")
    options: dict = {}
    if clean is not None:
        if name == "bicubic":
            raise ValueError("a clean share needs a degradation: give --degrade photo, jpeg or microscopy, or --noise")
        options["clean"] = check_clean_share(clean)
    if resize_methods is not None:
        if name not in ("photo", "jpeg"):
            raise ValueError(f"--resize applies to --degrade photo or jpeg, not {name}")
        options["resize_methods"] = tuple(resize_methods)
    if quality is not None:
        if name not in ("photo", "jpeg"):
            raise ValueError(f"--jpeg-quality applies to --degrade photo or jpeg, not {name}")
        options["quality"] = tuple(quality)
    if (photons is not None or truth_read is not None) and name != "microscopy":
        flag = "--photons" if photons is not None else "--truth-noise"
        raise ValueError(f"{flag} applies to --degrade microscopy, not {name}")
    if photons is not None:
        options["photons"] = tuple(photons)
    if isinstance(truth_read, tuple):
        options["truth_read_min"], options["truth_read"] = truth_read
    elif truth_read is not None:
        options["truth_read"] = truth_read
    return table[name](**options)


def _parse_range(text: str, kind: type, usage: str) -> tuple:
    """'LOW,HIGH' -> (low, high) of `kind`; one number means a fixed value; else a one-line error."""
    try:
        vals = [kind(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) == 1:
        vals *= 2
    if len(vals) != 2:
        raise ValueError(f"{usage}, got {text!r}")
    return vals[0], vals[1]


def parse_quality(text: str) -> tuple[int, int]:
    """'75,95' -> (75, 95); one number means a fixed quality."""
    return _parse_range(text, int, "--jpeg-quality takes LOW,HIGH (whole numbers from 1 to 100, e.g. 75,95)")


def parse_truth_noise(text: str) -> tuple[float, float]:
    """'0.03' -> (0.0, 0.03): up to that sigma; '0.04,0.08' -> (0.04, 0.08): a band."""
    lo, hi = _parse_range(text, float, "--truth-noise takes SIGMA or LOW,HIGH in [0, 1) units (e.g. 0.03 or 0.04,0.08)")
    return (0.0, hi) if "," not in text else (lo, hi)


def parse_photons(text: str, flag: str = "--noise") -> tuple[float, float]:
    """'10,10000' -> (10.0, 10000.0); one number means a fixed photon count."""
    return _parse_range(text, float, f"{flag} takes the photon range as LOW,HIGH (e.g. 10,10000)")
