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
"""

from dataclasses import dataclass, field

import numpy as np

MAX_CHANNELS = 64
MAX_INPUT_PIXELS = 1 << 27  # 134 M pixels x planes: the float planes alone would take 1.6 GB


def n_planes(channels):
    """How many RGB planes the model sees for an image with this many channels (see above)."""
    return {1: 1, 3: 1, 4: 2}.get(channels, channels)


def check_size(h, w, channels=1, what="the image is"):
    """Refuse an image that would not fit in memory, before anything is allocated or decoded.

    The one place that says how large an input may be; file readers call it with the size a
    file's header declares, check_image with an array's shape.
    """
    planes = n_planes(channels)
    if h * w * planes > MAX_INPUT_PIXELS:
        raise ValueError(
            f"{what} {w} x {h} pixels{f' ({planes} planes)' if planes > 1 else ''}, more than liif-plugin "
            f"resamples in memory ({MAX_INPUT_PIXELS / 1e6:.0f} megapixels x planes); "
            "store it as zarr and use `liif upscale in.zarr -o out.zarr` (liif_plugin.sources.dask)"
        )


@dataclass
class Layout:
    """What is needed to turn rendered planes back into the user's array."""

    dtype: np.dtype
    kind: str  # "gray", "rgb", "rgba" or "channels"
    keep_channel_axis: bool  # HxWx1 stays HxWx1
    ranges: list = field(default_factory=list)  # (lo, hi) per plane


def check_image(x):
    """Refuse what cannot be rendered, with a sentence that says what to do. Returns an ndarray."""
    if hasattr(x, "__array__") and not isinstance(x, np.ndarray):
        x = np.asarray(x)
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a numpy array (HxW or HxWxC), got {type(x).__name__}")
    if x.dtype == bool or not (np.issubdtype(x.dtype, np.integer) or np.issubdtype(x.dtype, np.floating)):
        raise TypeError(f"image dtype {x.dtype} is not supported; convert it to uint8, uint16 or float32 first")
    if x.ndim not in (2, 3):
        raise ValueError(
            f"expected a 2D image HxW or HxWxC, got an array of shape {x.shape}; "
            "resample stacks plane by plane (the napari plugin and liif_plugin.sources.dask do this)"
        )
    if x.size == 0 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"the image is empty (shape {x.shape}); give an image with at least one pixel")
    if x.ndim == 3 and x.shape[2] > MAX_CHANNELS:
        raise ValueError(
            f"an image of shape {x.shape} would have {x.shape[2]} channels; channels go last (HxWxC): "
            "for a channels-first array use np.moveaxis(x, 0, -1)"
        )
    check_size(x.shape[0], x.shape[1], 1 if x.ndim == 2 else x.shape[2])
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise ValueError("the image contains NaN or infinite values; replace them first (e.g. np.nan_to_num)")
    return x


def _range(values, dtype):
    if dtype == np.uint8:
        return 0.0, 255.0
    lo, hi = finish_range(values.min(), values.max(), dtype)
    return float(lo), float(hi)


def finish_range(lo, hi, dtype):
    """The (lo, hi) a plane is stretched from, given its min and max (scalars or arrays of them).

    The one place for the rules above: uint8 is 0..255, floats inside [0, 1] stay 0..1, anything
    else uses its own min..max; a constant plane gets hi = lo + 1 (maps to 0 and back exactly).
    Streaming passes (liif_plugin.sources.source) and dask reductions find lo and hi, then call this.
    """
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    if np.dtype(dtype) == np.uint8:
        return np.zeros_like(lo), np.full_like(hi, 255.0)
    if np.issubdtype(dtype, np.floating):
        unit = (lo >= 0.0) & (hi <= 1.0)
        lo, hi = np.where(unit, 0.0, lo), np.where(unit, 1.0, hi)
    return lo, np.where(hi <= lo, lo + 1.0, hi)


def _scaled(values, lo, hi):
    if lo == 0.0 and hi == 1.0 and values.dtype == np.float32:
        return values
    return ((values.astype(np.float64) - lo) / (hi - lo)).astype(np.float32)


def plane_groups(n_channels):
    """How channels become planes: (kind, [channel slices]); n_channels None means HxW."""
    if n_channels is None or n_channels == 1:
        return "gray", [slice(0, 1)]
    if n_channels == 3:
        return "rgb", [slice(0, 3)]
    if n_channels == 4:
        return "rgba", [slice(0, 3), slice(3, 4)]
    return "channels", [slice(i, i + 1) for i in range(n_channels)]


def to_planes(x, ranges=None):
    """Array -> (planes float32 (B, 3, H, W) in [0, 1], Layout).

    `ranges` ((lo, hi) per plane) overrides the ranges found in x: a tile of a larger image
    must use the whole image's ranges.
    """
    x = check_image(x)
    keep = x.ndim == 3 and x.shape[2] == 1
    x3 = x if x.ndim == 3 else x[..., None]
    kind, slices = plane_groups(None if x.ndim == 2 else x.shape[2])
    planes, found = [], []
    for i, sl in enumerate(slices):
        g = x3[..., sl]
        lo, hi = _range(g, x.dtype) if ranges is None else ranges[i]
        found.append((float(lo), float(hi)))
        v = _scaled(g, lo, hi)
        if v.shape[2] == 1:
            v = np.repeat(v, 3, axis=2)
        planes.append(v.transpose(2, 0, 1))
    return np.ascontiguousarray(np.stack(planes)), Layout(np.dtype(x.dtype), kind, keep, found)


def from_planes(out, layout):
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
