"""3D stacks: resample every 2D slice in a chosen plane, and make voxels cubic along z.

A stack is (Z, Y, X) or (Z, Y, X, C) with channels last. `resample_planes` runs LIIF on every
slice of one plane ("yx", "zx" or "zy") and walks the third axis. `isotropic` refines z only:
LIIF on the zx slices and on the zy slices (scale (sz, 1): y and x keep the input's grid) and
the mean of the two.

Geometry (the engine's pixel-centre convention): output pixel j of h over n input pixels sits at
input index -0.5 + (j + 0.5) n / h, so the new spacing is d n / h and output voxel 0 lies
d (0.5 n / h - 0.5) from input voxel 0. `Resampled.origin` is that shift per axis, in the
spacing's units: in napari, scale=result.spacing, translate=source translate + result.origin.

Value range: the engine stretches uint16 and other-range data over each 2D image's own min..max.
Slice by slice that would give every slice a different mapping, so the whole stack is mapped to
float32 [0, 1] here once (uint8 / 255; floats already in [0, 1] as they are; anything else over
the stack's min..max, per channel, jointly for an RGB triple) and mapped back at the end.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass

import numpy as np

from liif_plugin.api import output_shape
from liif_plugin.errors import LiifError, LiifTypeError
from liif_plugin.models.loading import get_model
from liif_plugin.runtime.progress import drive
from liif_plugin.sources import arrays

PLANES = {"yx": (1, 2), "zx": (0, 2), "zy": (0, 1)}  # plane -> its two stack axes
COMBINES = ("mean", "zx", "zy")
Z_GRIDS = ("centres", "slices")


@dataclass(frozen=True)
class Resampled:
    """A resampled stack and where it lies.

    spacing: (dz, dy, dx) of the output voxels. origin: position of output voxel (0, 0, 0) minus
    that of input voxel (0, 0, 0), in the same units.
    """

    data: np.ndarray
    spacing: tuple[float, float, float]
    origin: tuple[float, float, float]


# -- checks and value range ------------------------------------------------------------------
def _check_stack(stack) -> np.ndarray:
    if hasattr(stack, "__array__") and not isinstance(stack, np.ndarray):
        stack = np.asarray(stack)
    if not isinstance(stack, np.ndarray):
        raise LiifTypeError(f"expected a numpy array (Z, Y, X) or (Z, Y, X, C), got {type(stack).__name__}")
    arrays.check_dtype(stack.dtype, "stack")
    if stack.ndim not in (3, 4):
        raise LiifError(
            f"expected a 3D stack (Z, Y, X) or (Z, Y, X, C), got shape {stack.shape}",
            "for a 2D image use liif_plugin.upscale",
        )
    if 0 in stack.shape:
        raise LiifError(f"the stack is empty (shape {stack.shape})", "give at least one voxel")
    if stack.ndim == 4:
        arrays.check_channels(stack.shape[3], stack.shape, "a stack", 1)
    arrays.check_finite(stack, "stack")
    return stack


def _check_spacing(spacing) -> tuple[float, float, float]:
    try:
        dz, dy, dx = (float(v) for v in spacing)
    except (TypeError, ValueError):
        raise ValueError(f"spacing must be three numbers (dz, dy, dx), got {spacing!r}") from None
    if not all(math.isfinite(v) and v > 0 for v in (dz, dy, dx)):
        raise ValueError(f"spacing {spacing!r} must be positive and finite on every axis, e.g. (2.0, 0.3, 0.3)")
    return dz, dy, dx


def _groups(stack):
    """Channel slices whose value range is shared (the engine's planes: RGB jointly, others alone)."""
    return [
        (Ellipsis, sl) if stack.ndim == 4 else (Ellipsis,)
        for sl in arrays.plane_groups(stack.shape[3] if stack.ndim == 4 else None)[1]
    ]


def _ranges(stack):
    """(lo, hi) per channel group over the whole stack, so that one mapping serves every slice."""
    # The stack's axes count as the image's (lead=0, Z folded into H): min and max over all voxels.
    flat = stack.reshape((-1,) + stack.shape[2:])
    return [tuple(r) for r in arrays.value_range(flat, stack.shape[3] if stack.ndim == 4 else None)]


def _to_unit(stack, ranges) -> np.ndarray:
    out = np.empty(stack.shape, np.float32)
    for g, (lo, hi) in zip(_groups(stack), ranges):
        out[g] = (stack[g].astype(np.float64) - lo) / (hi - lo)
    return out


def _from_unit(y, ranges, like) -> np.ndarray:
    out = np.empty(y.shape, np.float64)
    for g, (lo, hi) in zip(_groups(like), ranges):
        out[g] = y[g].astype(np.float64) * (hi - lo) + lo
    if np.issubdtype(like.dtype, np.integer):
        info = np.iinfo(like.dtype)
        out = np.clip(np.rint(out), info.min, info.max)
    return out.astype(like.dtype, copy=False)


# -- the slice walker --------------------------------------------------------------------------
# Input pixels per engine call (all slices of a batch together): small enough that a caller who
# stops between calls (Cancel) waits for at most one such encode, a fraction of a second.
BATCH_PIXELS = 1 << 16


def _batch(n_slices, per_slice, slice_pixels):
    """Slices per engine call. Slices travel as the channels of one image, each its own gray plane,
    so the encoder and decoder run batched; 3 or 4 channels would mean RGB(A), so never those."""
    if per_slice in (3, 4):
        return 1
    b = max(1, min(n_slices, arrays.MAX_CHANNELS // per_slice, BATCH_PIXELS // slice_pixels))
    while b > 1 and b * per_slice in (3, 4):
        b -= 1
    return b


def _walk(unit, plane, shape, region, model, precision, out_done=0, out_total=None, stop=None):
    """Generator: LIIF on every 2D slice of `unit` (float32 [0, 1]) in `plane`, yielding (output pixels
    done, total) after every band of every slice batch; returns float32, axes in stack order. `stop()`
    is called inside the work too (between encoder convolutions, before decoder chunks; see
    liif_plugin.engine.tiles): raising from it stops a band under way."""
    a, b = PLANES[plane]
    walk = 3 - a - b  # the one stack axis not in the plane
    slices = np.moveaxis(unit, walk, 0)  # (W, A, B[, C]); A, B keep their stack order
    W, A, B = slices.shape[:3]
    per = slices.shape[3] if slices.ndim == 4 else 1
    out = np.empty((W, *shape, *unit.shape[3:]), np.float32)
    total = W * shape[0] * shape[1] if out_total is None else out_total
    step = _batch(W, per, A * B)
    for i in range(0, W, step):
        j = min(W, i + step)
        if step == 1:  # RGB(A) slices, or one slice: the image as it is
            img = np.ascontiguousarray(slices[i])
        else:  # (j - i) slices as channels: float planes in [0, 1], one gray plane each
            img = np.ascontiguousarray(np.moveaxis(slices[i:j].reshape(j - i, A, B, per), 0, 2).reshape(A, B, -1))
        # The lazy field encodes block by block and renders band by band: a stop between any two
        # bands waits for one band. The data is already in [0, 1]: no range pass.
        field = model.open(img, channels=img.ndim == 3, value_range=(0.0, 1.0), precision=precision, cache_bytes=0)
        y = np.empty((field.source.n_planes, *shape, 3), np.float32)
        for (r0, r1), (c0, c1), part in field.parts(shape, region, stop=stop):
            y[:, r0:r1, c0:c1] = part
            out_done += (r1 - r0) * (c1 - c0) * (j - i)
            yield out_done, total
        got = arrays.from_planes(y, field.layout)
        if step == 1:
            out[i] = got
        else:
            out[i:j] = np.moveaxis(got.reshape(*shape, j - i, per), 2, 0).reshape(out[i:j].shape)
    return np.moveaxis(out, 0, walk)


def iter_resample_planes(
    stack,
    scale: float | Sequence[float] | None = None,
    *,
    shape: Sequence[int] | None = None,
    plane: str = "yx",
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    model=None,
    precision: str | None = None,
    stop: Callable[[], None] | None = None,
) -> Generator[tuple[int, int], None, Resampled]:
    """``resample_planes`` as a generator: yields (output pixels done, total) after every band (a
    fraction of a second of work); its return value (StopIteration.value) is the Resampled.
    Closing it (a viewer's Cancel) stops the work at once: nothing runs between yields; `stop()`,
    called within a band (between encoder convolutions, before decoder chunks), stops one under way
    by raising (e.g. liif_plugin.Cancelled)."""
    stack = _check_stack(stack)
    d = _check_spacing(spacing)
    if plane not in PLANES:
        raise LiifError(f"plane must be one of {', '.join(PLANES)}, got {plane!r}", "use 'yx', 'zx' or 'zy'")
    a, b = PLANES[plane]
    n = (stack.shape[a], stack.shape[b])
    h, w = output_shape(n, scale, shape)
    m = get_model(model, stack)
    ranges = _ranges(stack)
    y = yield from _walk(_to_unit(stack, ranges), plane, (h, w), None, m, precision, stop=stop)
    new_d, origin = list(d), [0.0, 0.0, 0.0]
    for ax, src, dst in ((a, n[0], h), (b, n[1], w)):
        new_d[ax] = d[ax] * src / dst
        origin[ax] = d[ax] * (0.5 * src / dst - 0.5)
    return Resampled(_from_unit(y, ranges, stack), (new_d[0], new_d[1], new_d[2]), (origin[0], origin[1], origin[2]))


def resample_planes(
    stack,
    scale: float | Sequence[float] | None = None,
    *,
    shape: Sequence[int] | None = None,
    plane: str = "yx",
    spacing: Sequence[float] = (1.0, 1.0, 1.0),
    model=None,
    precision: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Resampled:
    """Resample every 2D slice of a (Z, Y, X) or (Z, Y, X, C) stack in `plane` with LIIF.

    plane: "yx", "zx" or "zy"; scale (a number or a pair) and shape (a pair) are for the plane's
    two axes in that order, e.g. plane="zx", scale=(4, 1) makes z four times finer. The third axis
    is walked slice by slice. `progress(done, total)` (output pixels) is called after every band
    (raising from it stops the work). model None / "auto": chosen once for the whole stack.
    Returns the stack in the input's dtype with its spacing and origin shift.
    """
    steps = iter_resample_planes(
        stack, scale, shape=shape, plane=plane, spacing=spacing, model=model, precision=precision
    )
    return drive(steps, progress)


# -- isotropic ---------------------------------------------------------------------------------
def z_geometry(n: int, dz: float, target: float, z_grid: str = "centres"):
    """Output slice count, z region (input pixel-edge units), new dz and z origin shift.

    "centres": the engine's convention over the whole stack (h = round(n dz / target) slices,
    spacing dz n / h, the first output slice dz (0.5 n / h - 0.5) from the first input slice).
    "slices": the first and last output slices sit on the first and last input slices
    (h = round((n - 1) dz / target) + 1, spacing dz (n - 1) / (h - 1), no shift), so with an
    integer ratio every input slice position is also an output slice position.
    """
    if z_grid == "centres":
        h = max(1, round(n * dz / target))
        return h, (0.0, float(n)), dz * n / h, dz * (0.5 * n / h - 0.5)
    if n < 2:
        raise ValueError("z_grid='slices' needs at least two z slices; use z_grid='centres'")
    h = round((n - 1) * dz / target) + 1
    step = (n - 1) / (h - 1)  # output slice step, in input slices
    # Output j sits at edge coordinate z0 + (j + 0.5) step, which is input slice centre j step + 0.5.
    z0 = 0.5 - 0.5 * step
    return h, (z0, min(float(n), z0 + h * step)), dz * step, 0.0


def iter_isotropic(
    stack,
    spacing: Sequence[float],
    *,
    target: float | None = None,
    z_grid: str = "centres",
    combine: str = "mean",
    model=None,
    precision: str | None = None,
    stop: Callable[[], None] | None = None,
) -> Generator[tuple[int, int], None, Resampled]:
    """``isotropic`` as a generator: yields (output pixels done, total) after every band; returns
    the Resampled. Closing it, or `stop()` raising within a band, stops the work (see iter_resample_planes)."""
    stack = _check_stack(stack)
    dz, dy, dx = _check_spacing(spacing)
    if combine not in COMBINES:
        raise ValueError(f"combine must be one of {', '.join(COMBINES)}, got {combine!r}")
    if z_grid not in Z_GRIDS:
        raise ValueError(f"z_grid must be 'centres' or 'slices', got {z_grid!r}")
    if target is None:
        if not math.isclose(dy, dx, rel_tol=1e-6):
            raise ValueError(
                f"y and x spacings differ ({dy} vs {dx}), so no z spacing makes voxels cubic; "
                "pass target= or make y and x equal first with resample_planes(plane='yx')"
            )
        target = dx
    target = _check_spacing((target, 1, 1))[0]
    if math.isclose(dz, target, rel_tol=1e-6):
        return Resampled(stack.copy(), (dz, dy, dx), (0.0, 0.0, 0.0))
    if dz < target:
        raise ValueError(
            f"z spacing {dz} is already finer than the target {target}; isotropic() only refines "
            "z (coarsen it with resample_planes(plane='zx', scale=...) if you must)"
        )
    Z, Y, X = stack.shape[:3]
    h, (z0, z1), new_dz, shift = z_geometry(Z, dz, target, z_grid)
    ranges = _ranges(stack)
    unit = _to_unit(stack, ranges)
    m = get_model(model, stack)
    passes = ("zx", "zy") if combine == "mean" else (combine,)
    # Output pixels of every pass: its slices (the walked axis) x h x the plane's width.
    sizes = [stack.shape[3 - sum(PLANES[p])] * h * stack.shape[PLANES[p][1]] for p in passes]
    acc, done = None, 0
    for p, size in zip(passes, sizes):
        width = stack.shape[PLANES[p][1]]
        y = yield from _walk(unit, p, (h, width), (z0, 0.0, z1, float(width)), m, precision, done, sum(sizes), stop)
        done += size
        acc = y if acc is None else (acc + y) * np.float32(0.5)
    return Resampled(_from_unit(acc, ranges, stack), (new_dz, dy, dx), (shift, 0.0, 0.0))


def isotropic(
    stack,
    spacing: Sequence[float],
    *,
    target: float | None = None,
    z_grid: str = "centres",
    combine: str = "mean",
    model=None,
    precision: str | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> Resampled:
    """Refine z of a (Z, Y, X[, C]) stack to `target` (default: the in-plane spacing) with LIIF.

    Each zx slice and each zy slice is rendered at (new Z, same width): y and x stay exactly on
    the input's grid. combine="mean" averages the two renders: each pass sees the volume along
    one in-plane direction only, so its errors differ from the other's and partly cancel, and no
    direction is favoured; "zx" or "zy" keeps one pass (half the time). z_grid: see z_geometry.
    A stack whose z spacing already equals the target comes back as a copy (spacing kept, no shift).
    """
    steps = iter_isotropic(
        stack, spacing, target=target, z_grid=z_grid, combine=combine, model=model, precision=precision
    )
    return drive(steps, progress)
