"""Where pixels come from: one 2D image of any array-like or file, read window by window.

A ``Source`` is what the tiled field (liif_plugin.engine.tiles) reads: numpy arrays, memmaps, zarr and
dask arrays, and paths (TIFF through tifffile's zarr store, zarr, OME-Zarr; other image files are
read whole). Nothing is read until a window is asked for, so a 20000 x 20000 zarr opens at once.

Axes: the last two are the image (the two before a last colour axis of size 3 or 4, or any size
for a 3D array: HxWxC, as liif_plugin.sources.arrays reads it); every other axis is a stack, and `index`
picks one image of it. OME-Zarr and pyramidal TIFF levels other than the first are kept as
``levels`` for overviews, and an OME-Zarr's `omero` window min..max as the image's ``declared_range``
(what a viewer may use without a pass; see liif_plugin.sources.arrays).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from liif_plugin.sources import arrays

if TYPE_CHECKING:
    import zarr

RANGE_BAND_PIXELS = 1 << 22  # pixels read per step of the value-range pass


class Source:
    """One image (H, W) or (H, W, C) of `data`, read by windows in the image's own coordinates.

    `offset` and `full_shape` place a data array that holds only a part of a bigger image (a dask
    block with its halo): windows are then asked for in the bigger image's coordinates.
    """

    def __init__(
        self,
        data,
        *,
        channels: bool | None = None,
        index=(),
        levels=(),
        offset=(0, 0),
        full_shape=None,
        name: str = "",
        dask_scheduler: str | None = None,
        windows=None,
    ):
        if not hasattr(data, "shape") or not hasattr(data, "dtype"):
            data = np.asarray(data)
        dtype = arrays.check_dtype(data.dtype)
        if channels is None:
            channels = data.ndim == 3 and arrays.channels_last(data.shape) or data.ndim > 3 and data.shape[-1] in (3, 4)
        if data.ndim < (3 if channels else 2):
            raise ValueError(f"expected an image (..., H, W) or (..., H, W, C), got an array of shape {data.shape}")
        self.data: Any = data  # any array-like: numpy, memmap, zarr, dask, ...
        self.dtype = dtype
        self.channels = int(data.shape[-1]) if channels else None
        sp = data.ndim - (3 if channels else 2)
        self.lead_shape = tuple(int(n) for n in data.shape[:sp])
        if isinstance(index, (int, np.integer)):  # index=3: the 4th image of a 1-axis stack
            index = (int(index),)
        index = tuple(int(i) for i in index) if index else (0,) * sp
        if len(index) != sp or any(not 0 <= i < n for i, n in zip(index, self.lead_shape)):
            raise ValueError(f"index {index} does not pick an image of the stack {self.lead_shape}")
        self.index = index
        self.offset = tuple(int(v) for v in offset)
        self.data_shape = (int(data.shape[sp]), int(data.shape[sp + 1]))
        self.shape = tuple(full_shape) if full_shape is not None else self.data_shape
        if 0 in self.shape or 0 in self.lead_shape:
            raise ValueError(f"the image is empty (shape {data.shape}); give an image with at least one pixel")
        self.levels = list(levels)  # lower-resolution versions (same axes), coarsest last
        self.name = name
        # Dask windows are computed with this scheduler (None: dask's default, its thread pool). A
        # viewer's background render passes "synchronous": the reads then run on its own low-priority
        # thread, not in dask's pool, which competes with the GUI thread at normal priority.
        self.dask_scheduler = dask_scheduler
        # What the file declares: (axis of the stack that is the channel, or None; [(min, max)] per channel).
        self.windows = windows

    def with_index(self, index) -> Source:
        """The same data, another image of the stack."""
        return Source(
            self.data,
            channels=self.channels is not None,
            index=index,
            levels=self.levels,
            offset=self.offset,
            full_shape=self.shape,
            name=self.name,
            dask_scheduler=self.dask_scheduler,
            windows=self.windows,
        )

    @property
    def declared_range(self) -> list[tuple[float, float]] | None:
        """(lo, hi) per plane as the file declares it (an OME-Zarr gray image's `omero` window min..max,
        put through arrays.finish_range), or None. Read from metadata only: nothing is read."""
        if self.windows is None or self.channels not in (None, 1):
            return None
        axis, windows = self.windows
        if axis is not None and axis >= len(self.index):
            return None
        k = 0 if axis is None else self.index[axis]
        if axis is None and len(windows) != 1 or k >= len(windows):
            return None
        lo, hi = arrays.finish_range(windows[k][0], windows[k][1], self.dtype)
        return [(float(lo), float(hi))]

    @property
    def n_planes(self) -> int:
        return arrays.n_planes(self.channels or 1)

    def read(self, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels [y0, y1) x [x0, x1) of the image, as an (h, w) or (h, w, C) numpy array."""
        oy, ox = self.offset
        ys, xs = slice(y0 - oy, y1 - oy), slice(x0 - ox, x1 - ox)
        if y0 < oy or x0 < ox or y1 - oy > self.data_shape[0] or x1 - ox > self.data_shape[1]:
            raise ValueError(f"window {(y0, x0, y1, x1)} is outside the data held ({oy}, {ox}) + {self.data_shape}")
        part = self.data[self.index + (ys, xs)]
        if self.dask_scheduler is not None and hasattr(part, "dask"):
            return np.asarray(part.compute(scheduler=self.dask_scheduler))
        return np.asarray(part)

    def read_level(self, k: int, y0: int, y1: int, x0: int, x1: int) -> np.ndarray:
        """Pixels of overview level k (1 = the first lower level), in that level's coordinates."""
        part = self.levels[k - 1][self.index + (slice(y0, y1), slice(x0, x1))]
        if self.dask_scheduler is not None and hasattr(part, "dask"):
            return np.asarray(part.compute(scheduler=self.dask_scheduler))
        return np.asarray(part)

    def value_range(self, progress=None) -> list[tuple[float, float]]:
        """(lo, hi) per plane of this image as liif_plugin.sources.arrays finds them, read in bands.

        uint8 needs no pass. `progress(done, total)` (rows) is called after each band; raising
        from it stops the pass.
        """
        finder = RangeFinder(self)
        for done, total in finder.steps():
            if progress is not None:
                progress(done, total)
        return finder.result()

    def range_bands(self) -> list[tuple[int, int]]:
        """Row bands [y0, y1) of the value-range pass (empty for uint8, which needs none)."""
        if self.dtype == np.uint8:
            return []
        H, W = self.shape
        step = max(1, RANGE_BAND_PIXELS // W)
        rows = self.chunk_rows
        if rows and self.offset == (0, 0):  # whole chunk rows: a band that cuts chunks reads them twice
            step = max(1, step // rows) * rows
        return [(y0, min(H, y0 + step)) for y0 in range(0, H, step)]

    @property
    def chunk_rows(self) -> int | None:
        """Rows of one storage chunk of a zarr or dask array (None: not chunked, or chunks of
        uneven height)."""
        chunks = getattr(self.data, "chunks", None)
        if not chunks:
            return None
        axis = len(self.lead_shape)
        c = chunks[axis]
        if isinstance(c, tuple):  # dask: the size of each chunk along the axis
            return int(c[0]) if len(set(c[:-1])) <= 1 else None
        return int(c)

    def layout(self, ranges) -> arrays.Layout:
        """The Layout that turns rendered planes of this image back into its dtype and channels."""
        kind, _ = arrays.plane_groups(self.channels)
        return arrays.Layout(self.dtype, kind, self.channels == 1, [tuple(r) for r in ranges])

    def __repr__(self):
        return f"Source({self.name or type(self.data).__name__}, shape={self.shape}, dtype={self.dtype})"


class RangeFinder:
    """The value range of a Source found band by band (resumable): arrays.value_range, streamed."""

    def __init__(self, source: Source):
        self.source = source
        self.dtype = source.dtype
        n = len(arrays.plane_groups(source.channels)[1])
        self.lo = np.full(n, np.inf)
        self.hi = np.full(n, -np.inf)
        self.bands = source.range_bands()
        self.bands_done = 0

    def step(self):
        """Read the next band of the source's range pass: (rows done, rows total), or None when all
        are read. A pass stopped between steps (a cancelled render) goes on from there."""
        if self.bands_done >= len(self.bands):
            return None
        y0, y1 = self.bands[self.bands_done]
        self.add(self.source.read(y0, y1, 0, self.source.shape[1]))
        self.bands_done += 1
        return y1, self.source.shape[0]

    def steps(self):
        """Generator: the remaining steps, yielding (rows done, rows total) after each."""
        while (got := self.step()) is not None:
            yield got

    def add(self, band: np.ndarray):
        """Take a band (h, w) or (h, w, C) of the image into the range (an overview level of a gray
        image may carry a channel axis of 1)."""
        if self.source.channels is None and band.ndim == 3:
            band = band[..., 0]
        for i, (lo, hi) in enumerate(arrays.plane_min_max(band, self.source.channels)):
            self.lo[i], self.hi[i] = np.minimum(self.lo[i], lo), np.maximum(self.hi[i], hi)
        arrays.check_finite(np.stack([self.lo, self.hi]))  # min and max carry a NaN through

    def result(self) -> list[tuple[float, float]]:
        lo, hi = arrays.finish_range(self.lo, self.hi, self.dtype)
        return [(float(a), float(b)) for a, b in zip(lo, hi)]


def open_source(x, *, index=(), channels: bool | None = None) -> Source:
    """A Source for an array-like, a Source, or a path (TIFF, zarr / OME-Zarr, or any image file)."""
    if isinstance(x, Source):
        return x.with_index(index) if index else x
    if isinstance(x, (str, Path)):
        return _open_path(Path(x), index, channels)
    return Source(x, channels=channels, index=index)


def _open_path(path: Path, index, channels) -> Source:
    if not path.exists():
        raise FileNotFoundError(f"{path} does not exist; give the path of an image, a TIFF or a zarr")
    if path.is_dir() or path.suffix.lower() == ".zarr":
        z, group = open_zarr_source(path)
        levels = _ome_levels(group)
        windows = _omero_windows(group)
        return Source(z, channels=channels, index=index, levels=levels, name=path.name, windows=windows)
    if path.suffix.lower() in (".tif", ".tiff"):
        import tifffile
        import zarr

        with tifffile.TiffFile(path) as tf:
            n_levels = len(tf.series[0].levels)
        store = tifffile.imread(path, aszarr=True)
        z = zarr.open(store, mode="r")
        if n_levels > 1 or not hasattr(z, "dtype"):  # a group of pyramid levels "0", "1", ...
            pyramid = cast("zarr.Group", z)
            levels = [pyramid[str(k)] for k in range(n_levels)]
            return Source(levels[0], channels=channels, index=index, levels=levels[1:], name=path.name)
        return Source(z, channels=channels, index=index, name=path.name)
    from liif_plugin.sources.imageio import read_image

    return Source(read_image(path), channels=channels, index=index, name=path.name)


def _omero_windows(group):
    """(channel axis among the stack axes or None, [(min, max)] per channel) from OME-Zarr `omero`
    metadata whose every channel has a finite window min and max; None otherwise."""
    if group is None:
        return None
    attrs = dict(group.attrs)
    omero = attrs.get("omero") or attrs.get("ome", {}).get("omero")
    try:
        wins = [(float(c["window"]["min"]), float(c["window"]["max"])) for c in omero["channels"]]
    except (KeyError, TypeError, ValueError):
        return None
    if not wins or not np.isfinite(wins).all():
        return None
    ms = _multiscales(attrs)
    assert ms  # open_zarr_source gives a group only with OME-Zarr multiscales
    axes = [a.get("name") if isinstance(a, dict) else a for a in ms[0].get("axes", [])]
    return (axes.index("c") if "c" in axes else None), wins


def _ome_levels(group):
    if group is None:
        return []
    ms = _multiscales(dict(group.attrs))
    assert ms  # open_zarr_source gives a group only with OME-Zarr multiscales
    datasets = ms[0]["datasets"]
    return [group[d["path"]] for d in datasets[1:]]


def open_zarr_source(src, component=None) -> tuple[zarr.Array, zarr.Group | None]:
    """(zarr array, OME-Zarr image group or None) at `src`: an array, or an OME-Zarr image group
    (its first, full-resolution level is resampled)."""
    import zarr

    src = Path(src)
    if not src.exists():
        raise FileNotFoundError(f"no zarr array at {src}; give the path of an existing .zarr")
    if component is None:
        try:
            group = zarr.open_group(str(src), mode="r")
        except Exception:  # not a group: an array, handled below
            group = None
        if group is not None:
            ms = _multiscales(dict(group.attrs))
            if not ms:
                raise ValueError(
                    f"{src} is a zarr group without OME-Zarr 'multiscales'; give the path of an array in it"
                )
            return cast("zarr.Array", group[ms[0]["datasets"][0]["path"]]), group  # a level: an array
    try:
        return zarr.open_array(str(src), mode="r", path=component or ""), None  # (None and "": the store's root)
    except Exception as e:  # zarr raises several types for "not an array"
        raise ValueError(
            f"{src} is not a readable zarr array ({str(e).splitlines()[0]}); give an array or an OME-Zarr image"
        ) from None


def _multiscales(attrs: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    """OME-Zarr 'multiscales' (0.4: top level; 0.5: under 'ome'), or None."""
    return attrs.get("multiscales") or attrs.get("ome", {}).get("multiscales")
