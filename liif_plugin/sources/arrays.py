"""Between user arrays and the model's input: dtype, value range and channel layout.

LIIF sees RGB in [0, 1]. Every input is split into *planes* that are each such an image:
- HxWx3 (RGB): one plane.
- HxW or HxWx1 (gray): one plane, the gray value copied to R, G and B; the output is the
  mean of the three rendered channels.
- HxWx4 (RGBA): the RGB plane plus the alpha channel rendered as a gray plane, so alpha
  edges are resampled as sharply as the colour.
- HxWxC for any other C (multi-channel, e.g. fluorescence): every channel as its own gray plane.

Value range: uint8 is divided by 255, and floats already inside [0, 1] are used as they are
(this is what the authors' code sees). Any other data (uint16, other integers, floats of any
range) is stretched from its own min..max to [0, 1] per plane (jointly for the RGB triple) and
mapped back afterwards, so a 12-bit microscope image uses the model's whole range.
The output has the input's dtype; integers are rounded and clipped to the dtype's range.

Without a pass: uint8, a range the caller gives, or one the file declares (OME-Zarr's `omero` window
min..max) is known at once. For any other data a viewer does not read the whole image before its first
frame: it applies the same rule (finish_range) to the min and max of what it reads anyway (the
coarsest level of a pyramid, the window under the first view): a *provisional* range, used until the
exact one is found by the pass in the background. A frame drawn with the provisional range is redrawn
only when the exact range really changes it (``range_changed``: some value would move by more than
half a display level). The exact paths (upscale, a named model, napari's Run) always use the exact range.
"""

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from liif_plugin.errors import Hint, LiifError, LiifTypeError

MAX_CHANNELS = 64
MAX_INPUT_PIXELS = 1 << 27  # 134 M pixels x planes: the float planes alone would take 1.6 GB
PlaneKind = Literal["gray", "rgb", "rgba", "channels"]

TOO_BIG = Hint(
    python="store it as zarr and use liif_plugin.sources.dask.upscale (or `liif upscale in.zarr -o out.zarr`)",
    cli="store it as zarr and use `liif upscale in.zarr -o out.zarr`",
    napari="open a smaller image or crop this one first (Layers > Transform or a napari crop plugin)",
    notebook="store it as zarr and show the zarr: ZoomWidget reads any window of it lazily",
)


def n_planes(channels: int | None) -> int:
    """How many RGB planes the model sees for an image with this many channels (see above)."""
    return {None: 1, 1: 1, 3: 1, 4: 2}.get(channels, channels)  # type: ignore[return-value]


def check_size(h: int, w: int, channels: int | None = 1, what: str = "the image is", stack: int = 1) -> None:
    """Refuse an image that would not fit in memory, before anything is allocated or decoded.

    The one place that says how large an input may be; file readers call it with the size a
    file's header declares (`stack`: how many images a stack file holds), check_image with an array's shape.
    """
    planes = n_planes(channels) * stack
    if h * w * planes > MAX_INPUT_PIXELS:
        raise LiifError(
            f"{what} {w} x {h} pixels{f' ({planes} planes)' if planes > 1 else ''}, more than liif-plugin "
            f"resamples in memory ({MAX_INPUT_PIXELS / 1e6:.0f} megapixels x planes)",
            TOO_BIG,
        )


def check_dtype(dtype, what: str = "image") -> np.dtype:
    """The dtype if LIIF can read it (integers and floats), else a TypeError that says what to do."""
    dtype = np.dtype(dtype)
    if dtype.kind not in "uif":
        raise LiifTypeError(
            f"{what} dtype {dtype} is not supported",
            Hint(
                "convert it to uint8, uint16 or float32 first (e.g. x.astype(np.float32))",
                cli="save it as 8-bit, 16-bit or 32-bit float first (e.g. Fiji: Image > Type)",
                napari="convert the layer to uint8, uint16 or float32 first",
            ),
        )
    return dtype


NOT_FINITE = Hint(
    "replace them first (e.g. np.nan_to_num)",
    cli="replace them in the file first (e.g. Fiji: Process > Math > Remove NaNs)",
    napari="replace them first (e.g. with napari's console or a filter plugin)",
)


def check_finite(values, what: str = "image") -> None:
    """Refuse NaN or infinite values of a float array (integers are always finite)."""
    values = np.asarray(values)
    if values.dtype.kind == "f" and not np.isfinite(values).all():
        raise LiifError(f"the {what} contains NaN or infinite values", NOT_FINITE)


def channels_last(shape: tuple) -> bool:
    """Whether the last axis of a 3-axis array (A, B, C) is channels, the one rule: 3 or 4 (RGB, RGBA), or up to
    MAX_CHANNELS and shorter than both other axes. Otherwise (20, 64, 64) is a stack of 20 images, not a
    20 x 64 image with 64 channels, and (3, 32, 32) is channels-first, not 32 channels."""
    a, b, c = shape[-3:]
    return c in (3, 4) or (c <= MAX_CHANNELS and c < a and c < b)


def check_channels(n: int, shape: tuple, what: str = "an image", first_axis: int = 0) -> None:
    """Refuse a last axis too long to be channels (most likely channels-first data)."""
    if n > MAX_CHANNELS:
        raise LiifError(
            f"{what} of shape {shape} would have {n} channels; channels go last",
            Hint(
                f"for a channels-first array use np.moveaxis(x, {first_axis}, -1)",
                napari="open it with its channel axis last",
            ),
        )


def check_channels_last(x: np.ndarray) -> None:
    """Refuse a user's 3-axis array whose last axis does not look like channels (channels_last): it was
    rendered as an image of that many channels. (Inner code batches slices as channels: check_channels.)"""
    if x.ndim == 3 and not channels_last(x.shape):
        raise LiifError(
            f"an array of shape {x.shape} is a stack of {x.shape[0]} images or a channels-first image, not an "
            f"image with {x.shape[2]} channels (channels go last, fewer than rows and columns)",
            Hint(
                "for a channels-first image use np.moveaxis(x, 0, -1); for a stack, liif_plugin.resample_planes "
                "or liif_plugin.sources.dask",
                napari="open it with its channel axis last",
            ),
        )


@dataclass
class Layout:
    """What is needed to turn rendered planes back into the user's array."""

    dtype: np.dtype
    kind: PlaneKind
    keep_channel_axis: bool  # HxWx1 stays HxWx1
    ranges: list = field(default_factory=list)  # (lo, hi) per plane


def check_image(x) -> np.ndarray:
    """Refuse what cannot be rendered, with a sentence that says what to do. Returns an ndarray."""
    if hasattr(x, "__array__") and not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise LiifTypeError(f"expected a numpy array (HxW or HxWxC), got {type(x).__name__}")
    check_dtype(x.dtype)
    if x.ndim not in (2, 3):
        raise LiifError(
            f"expected a 2D image HxW or HxWxC, got an array of shape {x.shape}",
            "resample stacks plane by plane (liif_plugin.resample_planes, liif_plugin.sources.dask or napari do this)",
        )
    if x.size == 0 or x.shape[0] == 0 or x.shape[1] == 0:
        raise LiifError(f"the image is empty (shape {x.shape})", "give an image with at least one pixel")
    if x.ndim == 3:
        check_channels(x.shape[2], x.shape, "an image", 0)
    check_size(x.shape[0], x.shape[1], 1 if x.ndim == 2 else x.shape[2])
    check_finite(x)
    return x


# -- the value range: one rule for every reader (whole arrays, streamed bands, dask, stacks) ----------


def plane_groups(n_channels: int | None) -> tuple[PlaneKind, list[slice]]:
    """How channels become planes: (kind, [channel slices]); n_channels None means HxW."""
    if n_channels is None or n_channels == 1:
        return "gray", [slice(0, 1)]
    if n_channels == 3:
        return "rgb", [slice(0, 3)]
    if n_channels == 4:
        return "rgba", [slice(0, 3), slice(3, 4)]
    return "channels", [slice(i, i + 1) for i in range(n_channels)]


def plane_min_max(x, channels: int | None, lead: int = 0) -> list[tuple]:
    """(min, max) per plane group over the image axes of x: shape (*lead, H, W) or (*lead, H, W, C).

    Works on numpy and dask arrays alike (dask gives lazy results); the lead axes are kept.
    """
    axes = tuple(range(lead, lead + 2)) + ((lead + 2,) if channels else ())
    out = []
    for sl in plane_groups(channels)[1]:
        part = x[..., sl] if channels else x
        out.append((part.min(axis=axes), part.max(axis=axes)))
    return out


def finish_range(lo, hi, dtype):
    """The (lo, hi) a plane is stretched from, given its min and max (scalars or arrays of them).

    The one place for the rules above: uint8 is 0..255, floats inside [0, 1] stay 0..1, anything
    else uses its own min..max; a constant plane gets hi = lo + 1 (maps to 0 and back exactly).
    A NaN or infinite min or max (min and max carry them through) is refused here.
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if np.dtype(dtype) == np.uint8:
        return np.zeros_like(lo), np.full_like(hi, 255.0)
    if not (np.isfinite(lo).all() and np.isfinite(hi).all()):
        raise LiifError("the image contains NaN or infinite values", NOT_FINITE)
    if np.issubdtype(dtype, np.floating):
        unit = (lo >= 0.0) & (hi <= 1.0)
        lo, hi = np.where(unit, 0.0, lo), np.where(unit, 1.0, hi)
    return lo, np.where(hi <= lo, lo + 1.0, hi)


RANGE_TOLERANCE = 0.5 / 255  # half a display level of the [0, 1] planes


def range_changed(old, new, tol: float = RANGE_TOLERANCE) -> bool:
    """Whether stretching by `new` ((lo, hi) per plane) instead of `old` moves any value inside `new`
    by more than `tol` on [0, 1]. The difference of two linear maps is largest at an end of the span,
    so the ends decide: below `tol` a frame drawn with `old` looks the same and stays."""
    for (a, b), (c, d) in zip(old, new):
        if abs((c - a) / (b - a)) > tol or abs((d - a) / (b - a) - 1.0) > tol:
            return True
    return False


def value_range(x, channels: int | None = None, lead: int = 0) -> np.ndarray:
    """(lo, hi) per plane of every image of x, shape (*lead, n_planes, 2): what to_planes stretches from.

    x: numpy or dask, (*lead, H, W) or (*lead, H, W, C) with C = `channels` (None: no channel axis).
    uint8 reads nothing. A dask array is reduced in one pass for all its images.
    """
    groups = plane_groups(channels)[1]
    shape = tuple(x.shape[:lead]) + (len(groups), 2)
    if np.dtype(x.dtype) == np.uint8:
        return np.broadcast_to(np.array([0.0, 255.0]), shape).copy()
    pairs = plane_min_max(x, channels, lead)
    if hasattr(x, "dask"):
        from dask.base import compute

        pairs = compute(*pairs)
    out = np.empty(shape)
    for i, (lo, hi) in enumerate(pairs):
        out[..., i, 0], out[..., i, 1] = finish_range(lo, hi, x.dtype)
    return out


def _scaled(values, lo, hi):
    if lo == 0.0 and hi == 1.0 and values.dtype == np.float32:
        return values
    return ((values.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)


def to_planes(x, ranges=None) -> tuple[np.ndarray, Layout]:
    """Array -> (planes float32 (B, 3, H, W) in [0, 1], Layout).

    `ranges` ((lo, hi) per plane) overrides the ranges found in x: a tile of a larger image
    must use the whole image's ranges.
    """
    x = check_image(x)
    keep = x.ndim == 3 and x.shape[2] == 1
    x3 = x if x.ndim == 3 else x[..., None]
    channels = None if x.ndim == 2 else x.shape[2]
    kind, slices = plane_groups(channels)
    if ranges is None:
        ranges = value_range(x, channels)
    planes, found = [], []
    for i, sl in enumerate(slices):
        lo, hi = float(ranges[i][0]), float(ranges[i][1])
        found.append((lo, hi))
        v = _scaled(x3[..., sl], lo, hi)
        if v.shape[2] == 1:
            v = np.repeat(v, 3, axis=2)
        planes.append(v.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(planes)), Layout(np.dtype(x.dtype), kind, keep, found)


def from_planes(out, layout: Layout) -> np.ndarray:
    """Rendered planes (B, h, w, 3) float32 in [0, 1] -> array in the input's dtype and layout."""
    chans = []
    for i, (lo, hi) in enumerate(layout.ranges):
        p = (
            out[i]
            if (layout.kind == "rgb" or (layout.kind == "rgba" and i == 0))
            else out[i].mean(axis=2, keepdims=True)
        )
        if (lo, hi) != (0.0, 1.0):
            p = p.astype(np.float64) * (hi - lo) + lo
        chans.append(p)
    y = np.concatenate(chans, axis=2) if len(chans) > 1 else chans[0]
    if layout.kind == "gray" and not layout.keep_channel_axis:
        y = y[..., 0]
    if np.issubdtype(layout.dtype, np.integer):
        info = np.iinfo(layout.dtype)
        y = np.clip(np.rint(y), info.min, info.max)
    return y.astype(layout.dtype, copy=False)
