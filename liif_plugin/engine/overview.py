"""What a viewer shows zoomed out: area-averaged levels of an image, and classic windows from them.

One streaming pass over the image (``build``) finds the value range the LIIF renders need (as
liif_plugin.sources.arrays does) and keeps area-averaged copies at factors 2, 4, 8, ... (the image
itself when it is small), within a memory budget. A source that brings its own lower levels
(OME-Zarr, pyramidal TIFF) is shown from them at once, with a provisional display range taken from
its coarsest level until the pass (needed only for LIIF's exact value range) has run. A classic
(bicubic / nearest) window is then resampled from the coarsest copy that still has a pixel for
every screen pixel, or read straight from the image when it is zoomed in far enough for that to be
small. Memory and time depend on the canvas, not on the image, except for the one pass.
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


class Overview:
    """Area-averaged levels of one image of a Source (see the module's docstring)."""

    def __init__(self, source: Source, budget: int | None = None, ranges=None):
        self.source = source
        budget = OVERVIEW_BYTES if budget is None else budget  # read here, so a test may shrink it
        H, W = source.shape
        C = source.channels or 1
        self.ranges = [tuple(r) for r in ranges] if ranges is not None else None
        self._provisional = None
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
        self._so_far = None  # while build() runs: (rows done, each level's bands so far, RangeFinder or ranges)

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

        `progress(done, total)` (rows) is called after each band; raising from it stops the pass.
        `on_rows(done)` too, from where `planes_so_far` can show the rows read so far (a viewer
        fills its first frame while a big image without levels is read, not after).
        """
        if self.lazy:
            self.ranges = [tuple(r) for r in (ranges or self.source.value_range(progress))]
            return self
        H, W = self.source.shape
        fmax = max(self.factors)
        step = max(fmax, (RANGE_BAND_PIXELS // W) // fmax * fmax)
        found = RangeFinder(self.source)
        parts = {f: [] for f in self.factors}
        for y0 in range(0, H, step):
            y1 = min(H, y0 + step)
            band = self.source.read(y0, y1, 0, W)
            if ranges is None:
                found.add(band)
            band = band.astype(np.float32).reshape(band.shape[:2] + (-1,))
            for f in self.factors:
                parts[f].append(band.copy() if f == 1 else _area_mean(band, f))
            if progress is not None:
                progress(y1, H)
            if on_rows is not None:
                self._so_far = (y1, parts, found if ranges is None else ranges)
                try:
                    on_rows(y1)
                finally:
                    self._so_far = None
        self.levels = {f: np.concatenate(p, axis=0) for f, p in parts.items()}
        self.ranges = [tuple(r) for r in ranges] if ranges is not None else found.result()
        return self

    def planes(self, region, shape, method: str = "bicubic"):
        """Float planes (B, h, w, 3) in [0, 1] of `region` (pixel edges) at `shape`, classic resampling."""
        f = self._factor_for(region, shape)
        level = None if f is None else self.levels[f]  # None: zoomed in past the finest level, read the image
        return self._classic(level, f or 1, region, shape, method, self.ranges or self.provisional_ranges())

    def planes_so_far(self, region, shape):
        """While build() runs (inside its `on_rows`): bicubic planes of `region`, which must lie in
        the rows read so far, from the level a finished overview would use, with those rows' range."""
        rows, parts, found = self._so_far
        if region[2] > rows:
            raise ValueError(f"region {region} reaches past the {rows} rows read so far")
        f = self._factor_for(region, shape) or min(self.factors)
        ranges = found.result() if isinstance(found, RangeFinder) else found
        return self._classic(np.concatenate(parts[f], axis=0), f, region, shape, "bicubic", ranges)

    def _factor_for(self, region, shape):
        """The coarsest level with a pixel for every screen pixel; None: read the image itself."""
        y0, x0, y1, x1 = region
        step = max((y1 - y0) / shape[0], (x1 - x0) / shape[1])  # image pixels per screen pixel
        usable = [f for f in self.factors if f <= max(step, 1.0)]
        if not usable and (y1 - y0 + 8) * (x1 - x0 + 8) <= DIRECT_READ_PIXELS:
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

    def provisional_ranges(self):
        """A display range until the exact one is known: the coarsest level's own min..max."""
        if self._provisional is None:
            f = max(self.factors)
            lv = self.levels[f]
            found = RangeFinder(self.source)
            found.add(np.asarray(lv[:, :]))
            self._provisional = found.result()
        return self._provisional


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
