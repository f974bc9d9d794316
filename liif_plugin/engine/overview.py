"""What a viewer shows zoomed out: area-averaged levels of an image, and classic windows from them.

One streaming pass over the image (``build``) finds the value range the LIIF renders need (as
liif_plugin.sources.arrays does) and keeps area-averaged copies at factors 2, 4, 8, ... (the image
itself when it is small), within a memory budget. A source that brings its own lower levels
(OME-Zarr, pyramidal TIFF) is shown from them at once, with a provisional display range taken from
its coarsest level until the pass (needed only for LIIF's exact value range) has run. A classic
(bicubic / nearest) window is then resampled from the coarsest copy that still has a pixel for
every screen pixel, or read straight from the image when it is zoomed in far enough for that to be
small. Memory and time depend on the canvas, not on the image, except for the one pass.

The pass runs in steps (``build_steps``) that a viewer takes when it has nothing else to do and
stops between for a new view; a stopped pass resumes where it was. A viewer's reduced LIIF frame
comes from a coarser level (``level_source``: the file's level, a kept level, or area means of a
window read at full resolution) so that the first LIIF frame after a zoom costs a fraction of the
full one (``reduced_view`` says at which size and level).
"""

from __future__ import annotations

import math

import numpy as np

from liif_plugin.engine.classic import ClassicResampler, bicubic_reach
from liif_plugin.sources import arrays
from liif_plugin.sources.source import RANGE_BAND_PIXELS, RangeFinder, Source

OVERVIEW_BYTES = 192 << 20  # all kept levels together (float32)
DIRECT_READ_PIXELS = 8 << 20  # a classic window may read this many image pixels straight from the source
MIN_SIDE = 128  # no level smaller than this on its longer side is kept (the next finer one serves)
REDUCED_PIXELS = 16_384  # a viewer's reduced LIIF frame (about 128 x 128)
# The reduced frame's input window: at most this many pixels of its level on its longer side. Its encode
# (window plus the encoder's 34-pixel halo each side) is then (64 + 68)^2 = 17 k pixels whatever the
# zoom, against (view + 68)^2 for the full frame: at x2 on a 512 x 512 canvas, a sixth.
REDUCED_WINDOW = 64


def reduced_view(region, shape, pixels=REDUCED_PIXELS, window=REDUCED_WINDOW):
    """(reduced shape, level factor) of a viewer's first LIIF frame for a view of `region` at `shape`,
    or None when the view is small enough to render fully at once.

    The reduced frame has about `pixels` output pixels; it is rendered from the finest power-of-two
    level on which the region spans at most `window` pixels (factor 1 when the view is zoomed in that
    far: the image itself, whose tiles the full frame then reuses), so it is still LIIF's upsampling,
    and its encode costs the same small window at any zoom.
    """
    h, w = shape
    if h * w <= 4 * pixels:
        return None
    f = math.sqrt(pixels / (h * w))
    small = (max(1, round(h * f)), max(1, round(w * f)))
    y0, x0, y1, x1 = region
    side = max(y1 - y0, x1 - x0)
    level = 1
    while side / level > window * (1 + 1e-9):
        level *= 2
    return small, level


class Overview:
    """Area-averaged levels of one image of a Source (see the module's docstring)."""

    def __init__(self, source: Source, budget: int | None = None, ranges=None):
        self.source = source
        budget = OVERVIEW_BYTES if budget is None else budget  # read here, so a test may shrink it
        H, W = source.shape
        C = source.channels or 1
        self.ranges = [tuple(r) for r in ranges] if ranges is not None else None
        self._provisional = None
        self._finder = None  # a lazy overview's range pass under way
        if source.levels:  # the file's own levels, read by windows: nothing to build or hold
            sp = len(source.lead_shape)
            self.levels = {
                max(1, round(H / lv.shape[sp])): _LazyLevel(source, k + 1) for k, lv in enumerate(source.levels)
            }
            self.factors = sorted(self.levels)
            self.lazy = True
            return
        self.lazy = False
        self.factors = []
        f = 1
        while True:
            h, w = -(-H // f), -(-W // f)
            if h * w * C * 4 * 4 // 3 <= budget and (max(h, w) >= MIN_SIDE or not self.factors):
                self.factors.append(f)
            if max(h, w) < MIN_SIDE or h * w == 1:
                break
            f *= 2
        if not self.factors:  # nothing fits: keep the smallest
            self.factors = [f]
        self.levels = {}
        self._so_far = (
            None  # while the pass is under way: (rows done, each level's bands so far, RangeFinder or ranges)
        )
        self._pass = None  # its state between steps: [next row, parts, RangeFinder or None, ranges or None]

    @property
    def displayable(self) -> bool:
        """Whether classic windows can be drawn now (the value range may still be provisional)."""
        return self.lazy or bool(self.levels)

    @property
    def built(self) -> bool:
        """Levels there and the exact value range known."""
        return self.displayable and self.ranges is not None

    def build(self, progress=None, ranges=None, on_rows=None):
        """One pass over the image: its value range (unless given) and the levels.

        `progress(done, total)` (rows) is called after each band; raising from it stops the pass
        (the next call goes on from there). `on_rows(done)` too, from where `planes_so_far` can show
        the rows read so far (a viewer fills its first frame while a big image without levels is
        read, not after).
        """
        for done, _total in self.build_steps(ranges):
            if progress is not None:
                progress(done, _total)
            if on_rows is not None:
                on_rows(done)
        return self

    def build_steps(self, ranges=None):
        """Generator: the pass of ``build`` in bands, yielding (rows done, rows total) after each; a
        pass stopped between bands resumes there. Nothing when it is done."""
        if self.lazy:  # the file's levels are there: only the exact range is missing
            if self.ranges is None and ranges is not None:
                self.ranges = [tuple(r) for r in ranges]
            if self.ranges is None:
                if self._finder is None:
                    self._finder = RangeFinder(self.source)
                while (got := self._finder.step()) is not None:
                    yield got
                self.ranges, self._finder = self._finder.result(), None
            return
        if self.built:
            return
        H, W = self.source.shape
        fmax = max(self.factors)
        step = max(fmax, (RANGE_BAND_PIXELS // W) // fmax * fmax)
        if self._pass is None:
            known = [tuple(r) for r in ranges] if ranges is not None else self.ranges
            self._pass = [0, {f: [] for f in self.factors}, None if known else RangeFinder(self.source), known]
        st = self._pass
        while st[0] < H:
            y0, parts, found, known = st
            y1 = min(H, y0 + step)
            band = self.source.read(y0, y1, 0, W)
            if found is not None:
                found.add(band)
            band = band.astype(np.float32).reshape(band.shape[:2] + (-1,))
            for f in self.factors:
                parts[f].append(band.copy() if f == 1 else _area_mean(band, f))
            st[0] = y1
            self._so_far = (y1, parts, found if found is not None else known)
            yield y1, H
        _, parts, found, known = st
        self.levels = {f: np.concatenate(p, axis=0) for f, p in parts.items()}
        self.ranges = known if known is not None else found.result()
        self._pass = self._so_far = None

    @property
    def rows_read(self) -> int:
        """Rows of the image the pass has read so far (the whole height once built)."""
        if self.displayable:
            return self.source.shape[0]
        return 0 if self._so_far is None else self._so_far[0]

    def planes(self, region, shape, method: str = "bicubic", ranges=None):
        """Float planes (B, h, w, 3) in [0, 1] of `region` (pixel edges) at `shape`, classic resampling.

        `ranges`: the display range (a viewer's range in use); None: the exact one, or else provisional.
        Before the levels are there only a view zoomed in far enough to read its window can be drawn."""
        f = self._factor_for(region, shape)
        level = None if f is None else self.levels[f]  # None: zoomed in past the finest level, read the image
        ranges = ranges or self.ranges or self.provisional_ranges()
        return self._classic(level, f or 1, region, shape, method, ranges)

    def level_for(self, region, shape) -> int:
        """The level factor a classic window of `region` at `shape` is drawn from (1: the image itself)."""
        return self._factor_for(region, shape) or 1

    def direct(self, region, shape) -> bool:
        """Whether a classic window of this view is read straight from the image (no level needed)."""
        return self._factor_for(region, shape) is None

    def planes_so_far(self, region, shape):
        """While the pass is under way: bicubic planes of `region`, which must lie in the rows read so
        far, from the level a finished overview would use, with those rows' range."""
        so_far = self._so_far
        assert so_far is not None, "planes_so_far is for while the pass is under way"
        rows, parts, found = so_far
        if region[2] > rows:
            raise ValueError(f"region {region} reaches past the {rows} rows read so far")
        f = self._factor_for(region, shape, levels_there=True) or min(self.factors)
        ranges = found.result() if isinstance(found, RangeFinder) else found
        return self._classic(np.concatenate(parts[f], axis=0), f, region, shape, "bicubic", ranges)

    def _factor_for(self, region, shape, levels_there=None):
        """The coarsest level with a pixel for every screen pixel; None: read the image itself (zoomed in
        past the finest level, or no levels yet and the window small enough to read)."""
        y0, x0, y1, x1 = region
        step = max((y1 - y0) / shape[0], (x1 - x0) / shape[1])  # image pixels per screen pixel
        usable = [f for f in self.factors if f <= max(step, 1.0)]
        small = (y1 - y0 + 8) * (x1 - x0 + 8) <= DIRECT_READ_PIXELS
        there = self.displayable if levels_there is None else levels_there
        if small and (not usable or not there):
            return None
        return max(usable) if usable else min(self.factors)

    def _classic(self, level, f, region, shape, method, ranges):
        y0, x0, y1, x1 = region
        h, w = shape
        step = max((y1 - y0) / h, (x1 - x0) / w)
        H, W = self.source.shape
        Hf, Wf = -(-H // f), -(-W // f)
        m = bicubic_reach(step / f)
        a, b = max(math.floor(y0 / f) - m, 0), min(math.ceil(y1 / f) + m, Hf)
        c, d = max(math.floor(x0 / f) - m, 0), min(math.ceil(x1 / f) + m, Wf)
        win = self.source.read(a, b, c, d) if level is None else _as_image(level[a:b, c:d], self.source)
        planes, _ = arrays.to_planes(win, ranges=ranges)
        kind = arrays.plane_groups(self.source.channels)[0]
        return ClassicResampler(planes, kind).render((y0 / f - a, x0 / f - c, y1 / f - a, x1 / f - c), shape, method)

    def provisional_ranges(self, window=None):
        """A display range until the exact one is known (the rule of liif_plugin.sources.arrays applied to
        what is at hand): the coarsest level's own min..max, or else `window`'s (an (a, b, c, d) window
        of the image a viewer reads anyway), or else the rows the pass has read so far. None: nothing yet."""
        if self._provisional is None:
            found = RangeFinder(self.source)
            if self.displayable:
                found.add(np.asarray(self.levels[max(self.factors)][:, :]))
            elif window is not None:
                found.add(self.source.read(*window))
            elif self._so_far is not None and isinstance(self._so_far[2], RangeFinder):
                return self._so_far[2].result()
            else:
                return None
            self._provisional = found.result()
        return self._provisional

    def level_source(self, f: int) -> Source:
        """The image at level factor `f` (area means of f x f pixels) as a Source a TiledField can read
        by windows: the file's own level of that factor, the kept level, or else area means of the
        windows asked for, read at full resolution. For a viewer's reduced frames."""
        if f in self.levels:
            data = self.levels[f]
            if isinstance(data, _LazyLevel):
                return Source(data.array(), channels=self.source.channels is not None, name=f"level x{f}")
            return Source(_as_image(data, self.source), channels=self.source.channels is not None, name=f"level x{f}")
        return Source(_AveragedLevel(self.source, f), channels=self.source.channels is not None, name=f"mean x{f}")

    def level_region(self, f: int, region):
        """`region` (image pixel edges) in the coordinates of level_source(f): level pixel k covers image
        pixels [k f, (k + 1) f) (a file's own level: the ratio of the two shapes)."""
        H, W = self.source.shape
        h, w = self.level_source_shape(f)
        sy, sx = (h / H, w / W) if self.lazy else (1 / f, 1 / f)
        y0, x0, y1, x1 = region
        return (y0 * sy, x0 * sx, min(y1 * sy, h), min(x1 * sx, w))

    def level_source_shape(self, f: int):
        if f in self.levels:
            return tuple(self.levels[f].shape[:2])
        H, W = self.source.shape
        return -(-H // f), -(-W // f)


class _LazyLevel:
    """A source's own lower level, indexed like an in-memory (h, w, C) level."""

    def __init__(self, source: Source, k: int):
        self.source, self.k = source, k

    def __getitem__(self, key):
        ys, xs = key
        a = self.source.read_level(self.k, ys.start or 0, ys.stop, xs.start or 0, xs.stop)
        return a if a.ndim == 3 else a[..., None]

    @property
    def shape(self):
        sp = len(self.source.lead_shape)
        return self.source.levels[self.k - 1].shape[sp : sp + 2]

    def array(self):
        """The level's own array, for a Source of the image of the stack shown."""
        return _StackImage(self.source.levels[self.k - 1], self.source.index)


class _StackImage:
    """One image of a stacked array, indexed by (rows, cols): what a Source reads."""

    def __init__(self, data, index):
        self.data, self.index = data, tuple(index)
        sp = len(self.index)
        self.shape = tuple(data.shape[sp:])
        self.ndim = len(self.shape)
        self.dtype = data.dtype

    def __getitem__(self, key):
        return np.asarray(self.data[self.index + tuple(key)])


class _AveragedLevel:
    """The image at factor f, computed by windows: each window read at full resolution, area-averaged."""

    def __init__(self, source: Source, f: int):
        self.source, self.f = source, f
        H, W = source.shape
        self.shape = (-(-H // f), -(-W // f)) + ((source.channels,) if source.channels is not None else ())
        self.ndim = len(self.shape)
        self.dtype = np.dtype(np.float32)

    def __getitem__(self, key):
        ys, xs = key
        f = self.f
        H, W = self.source.shape
        band = self.source.read(ys.start * f, min(H, ys.stop * f), xs.start * f, min(W, xs.stop * f))
        return _as_image(_area_mean(band.astype(np.float32).reshape(band.shape[:2] + (-1,)), f), self.source)


def _area_mean(band: np.ndarray, f: int) -> np.ndarray:
    """Means over f x f blocks (partial blocks at the far edges average what they have)."""
    h, w = band.shape[:2]
    rows, cols = np.arange(0, h, f), np.arange(0, w, f)
    s = np.add.reduceat(np.add.reduceat(band, rows, axis=0, dtype=np.float64), cols, axis=1)
    ny = np.minimum(rows + f, h) - rows
    nx = np.minimum(cols + f, w) - cols
    return (s / (ny[:, None, None] * nx[None, :, None])).astype(np.float32)


def _as_image(level: np.ndarray, source: Source) -> np.ndarray:
    """A level's (h, w, C) float32 block as the array layout liif_plugin.sources.arrays expects."""
    return level[..., 0] if source.channels is None else level
