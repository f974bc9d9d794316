"""Noise in the training degradation: Poisson-Gaussian noise of random strength on the LR patch.

A camera or microscope counts photons: a pixel of value v (in [0, 1], 1 = the brightest the
sensor records) collects about v * P photons, P the photon count at the peak, so its shot noise
has variance v / P; the read-out adds Gaussian noise of a fixed sigma. Training on LR patches
degraded this way, with the clean HR patch as the target, teaches the network to restore the
image instead of enlarging the noise. P is drawn log-uniformly (noise strength spans decades),
the read noise uniformly; a share of the patches stays clean so clean-image quality is kept.
A gray patch (its three planes equal, as gray images become RGB at inference) gets one noise
field on every plane, as a gray image would; a colour patch gets independent noise per plane.
"""
import math
import random
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class NoiseModel:
    photons: tuple[float, float] = (10.0, 10000.0)  # range of photons at value 1 (log-uniform)
    read: float = 0.01  # largest Gaussian read-noise sigma, [0, 1] units (uniform in [0, read])
    clean: float = 0.25  # share of patches left without noise

    def __post_init__(self):
        lo, hi = self.photons
        if not 0 < lo <= hi:
            raise ValueError(f"the photon range must be two positive numbers, low <= high; got {lo:g}, {hi:g}")
        if self.read < 0:
            raise ValueError(f"the read noise must be >= 0, got {self.read:g}")
        if not 0 <= self.clean <= 1:
            raise ValueError(f"the clean share must be in [0, 1], got {self.clean:g}")

    def draw(self, rng: random.Random) -> tuple[float, float] | None:
        """(photons at value 1, read-noise sigma) for one patch, or None for a clean patch."""
        if rng.random() < self.clean:
            return None
        lo, hi = self.photons
        return math.exp(rng.uniform(math.log(lo), math.log(hi))), rng.uniform(0.0, self.read)

    def apply(self, lr: torch.Tensor, rng: random.Random) -> torch.Tensor:
        """`lr` (3, h, w) in [0, 1] with this model's random noise, clipped to [0, 1]."""
        strength = self.draw(rng)
        if strength is None:
            return lr
        return add_noise(lr, *strength, seed=rng.getrandbits(63))


def add_noise(lr: torch.Tensor, photons: float, read: float, seed: int) -> torch.Tensor:
    """Poisson noise with `photons` at value 1 plus Gaussian noise of sigma `read`; gray stays gray."""
    g = torch.Generator().manual_seed(seed)
    gray = bool(torch.equal(lr[0], lr[1]) and torch.equal(lr[0], lr[2]))
    x = lr[:1] if gray else lr
    y = torch.poisson(x.clamp(0, 1) * photons, generator=g) / photons
    y = y + read * torch.randn(x.shape, generator=g)
    y = y.clamp(0, 1)
    return y.expand_as(lr).clone() if gray else y


def parse_photons(text: str) -> tuple[float, float]:
    """'10,10000' -> (10.0, 10000.0); one number means a fixed photon count."""
    try:
        vals = [float(v) for v in text.split(",")]
    except ValueError:
        vals = []
    if len(vals) == 1:
        vals *= 2
    if len(vals) != 2:
        raise ValueError(f"--noise takes the photon range as LOW,HIGH (e.g. 10,10000), got {text!r}")
    return vals[0], vals[1]
