"""How long an action will take, said with how sure it is; and the cost of the 3D passes.

Every face estimates from the one cost model (liif_plugin.runtime.cost: a render's steps) at this
machine's measured speed (liif_plugin.runtime.speed, per architecture, precision and device). Until
that speed is measured the estimate uses ``cost.ROUGH_SPEED`` and says so with a range ("roughly
20 s–1 min, not measured yet") rather than one number; once measured it is one number ("about 40 s").

The 3D actions (isotropic z, every zx / zy section) run the engine's slice walker
(liif_plugin.engine.volume): batches of slices go through the encoder and decoder together, as the
channels of one image. ``planes_work`` and ``isotropic_work`` give their steps in the units the walker
reports progress in (output pixels summed over the slices of a batch), so the progress tracker
(liif_plugin.runtime.progress) follows them as it follows a 2D render.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from liif_plugin.runtime import cost
from liif_plugin.runtime.speed import Speed

# A rough estimate (no measured speed yet) is shown as this range around its value: a CPU of another
# generation or a GPU is several times faster than ROUGH_SPEED, a busy laptop slower.
ROUGH_RANGE = (1 / 3, 2.0)
# The engine's slice walker puts at most this many input pixels into one call (engine.volume.BATCH_PIXELS),
# and at most arrays.MAX_CHANNELS slices.
WALK_BATCH_PIXELS = 1 << 16
WALK_MAX_SLICES = 64
PLANES = {"zx": (0, 2), "zy": (0, 1)}  # the (z, y, x) axes a section spans, as in engine.volume


@dataclass(frozen=True)
class TimeEstimate:
    """Seconds an action is expected to take, and whether they come from this machine's measured speed."""

    seconds: float
    measured: bool

    @classmethod
    def of(cls, works: Iterable[cost.Work], speed: Speed | None) -> TimeEstimate:
        """The time of `works` at `speed`, or at the rough default speed (not measured) when it is None."""
        return cls(cost.seconds(works, speed or cost.ROUGH_SPEED), speed is not None)

    def __add__(self, other: TimeEstimate) -> TimeEstimate:
        return TimeEstimate(self.seconds + other.seconds, self.measured and other.measured)

    @property
    def range(self) -> tuple[float, float]:
        """(low, high) seconds: the value itself when measured, else ROUGH_RANGE around it."""
        if self.measured:
            return self.seconds, self.seconds
        return self.seconds * ROUGH_RANGE[0], self.seconds * ROUGH_RANGE[1]

    def text(self) -> str:
        """'about 40 s', 'under a second', or 'roughly 20 s–1 min, not measured yet'."""
        if self.measured:
            return "under a second" if self.seconds < 1 else f"about {cost.format_seconds(self.seconds)}"
        return f"roughly {format_range(*self.range)}, not measured yet"

    def longer_than(self, seconds: float) -> bool:
        """True only when a measured estimate is over `seconds` (a rough one never asks for confirmation)."""
        return self.measured and self.seconds > seconds


def format_range(lo: float, hi: float) -> str:
    """'20–90 s', '40 s–3 min', 'under a second–2 s' (the units of format_seconds)."""
    if hi < 1:
        return "under a second"
    a, b = cost.format_seconds(max(lo, 1.0)), cost.format_seconds(hi)
    if a == b:
        return a
    (na, ua), (nb, ub) = a.split(" "), b.split(" ")
    return f"{na}–{nb} {ub}" if ua == ub else f"{a}–{b}"


def _batch(n_slices: int, slice_pixels: int) -> int:
    """Slices per engine call of the slice walker (gray slices travel as the channels of one image)."""
    b = max(1, min(n_slices, WALK_MAX_SLICES, WALK_BATCH_PIXELS // max(slice_pixels, 1)))
    while b > 1 and b in (3, 4):  # 3 or 4 channels would read as RGB(A): the walker avoids them
        b -= 1
    return b


def _walk_steps(stack_shape, plane, out_hw, region, arch, speed) -> tuple[list, int]:
    """(steps, working bytes) of one pass of the slice walker over a gray (Z, Y, X) stack."""
    a, b = PLANES[plane]
    walked = 3 - a - b
    n = stack_shape[walked]
    A, B = stack_shape[a], stack_shape[b]
    step = _batch(n, A * B)
    region = (0.0, 0.0, float(A), float(B)) if region is None else region
    steps, working = [], 0
    for i in range(0, n, step):
        k = min(step, n - i)
        wk = cost.work((A, B), out_hw, region, 1, k, k, 4, arch, speed)
        steps += [(kind, px * k) for kind, px in wk.steps]  # the walker counts pixels over its batch
        working = max(working, wk.working_bytes)
    return steps, working


def planes_work(
    stack_shape, plane: str, out_hw, itemsize: int, arch: cost.Arch = cost.Arch(), speed: Speed | None = None
) -> cost.Work:
    """Every `plane` ('zx' or 'zy') section of a gray (Z, Y, X) stack resampled to `out_hw`."""
    steps, working = _walk_steps(stack_shape, plane, out_hw, None, arch, speed)
    walked = stack_shape[3 - sum(PLANES[plane])]
    voxels = walked * out_hw[0] * out_hw[1]
    unit = math.prod(stack_shape) * 4  # the stack in float32 [0, 1]
    return cost.Work(tuple(steps), 1, voxels * (4 + itemsize), unit + working)


def isotropic_work(
    stack_shape, spacing, itemsize: int, arch: cost.Arch = cost.Arch(), speed: Speed | None = None
) -> cost.Work:
    """Isotropic z of a gray (Z, Y, X) stack: the zx pass and the zy pass at the new z (see engine.volume)."""
    from liif_plugin.engine.volume import z_geometry

    Z, Y, X = stack_shape
    dz, dy, dx = spacing
    h, (z0, z1), _, _ = z_geometry(Z, dz, dx)
    steps, working = [], 0
    for plane, width in (("zx", X), ("zy", Y)):
        s, w = _walk_steps(stack_shape, plane, (h, width), (z0, 0.0, z1, float(width)), arch, speed)
        steps += s
        working = max(working, w)
    voxels = h * Y * X
    unit = Z * Y * X * 4
    return cost.Work(tuple(steps), 1, voxels * (2 * 4 + itemsize), unit + working)
