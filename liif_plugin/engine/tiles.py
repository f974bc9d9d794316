"""TiledField: an image of any size encoded lazily, tile by tile; any window rendered on demand.

This is the one windowed primitive under every face (upscale of big images, liif_plugin.sources.dask,
the napari resample / preview / live view, the ZoomWidget). A render of a part of the output
grid touches only the latent codes its pixels can reach:

- Output pixel j (of h over the region [y0, y1)) has its centre at y0 + (j + 0.5)(y1 - y0)/h in
  input pixel-edge units. Its ensemble looks up the nearest latent code and one more on each
  side; the first MLP layer's 3x3 unfold reads one more. So a part needs latent codes within
  MARGIN = 3 rows/cols of its centres (2 would do; one more costs nothing and absorbs rounding).
- Latent codes of an input window are exact when the encoder sees the window plus a halo of its
  receptive radius (zero 'same' padding; see liif_plugin.engine.encoder). They come either from cached
  tiles (TILE x TILE input pixels; the missing ones of a render are encoded together in a few
  rectangles, one halo each, then kept in an LRU cache bounded in bytes) or, when the window's
  tiles would not fit in the cache (block-wise batch work, dask chunks), straight from the window.
- The window's latent codes then go through the in-memory ImageField (field.py), so every value
  equals a whole-image encode-and-render (up to float rounding, < 1e-5).

Large parts are cut by input blocks of BLOCK pixels, so memory is bounded by a block's latent
map (and the cache), never by the image.

For viewers (liif_plugin.notebook, napari's live view) the field also
- stops at once when asked: `stop()` (per call) and `interrupt` (per field) are called between the
  encoder's convolutions and before every decoder chunk, so a stale view's work ends within one of
  those steps (tens of ms), counted in `encoder_steps` and `pixels_rendered`;
- draws before the value range is known: a `provisional_range` stands in until the exact one is found
  (see liif_plugin.sources.arrays: redrawn only when it really changes, `range_generation`);
- reuses a pan's overlap: `snap_to_frame` moves a view by less than an output pixel so that its grid
  is the previous frame's shifted by whole pixels, and `parts(reuse=frame)` renders only the newly
  exposed strips around the pixels it copies;
- encodes interactive frames with `encoder_precision` (16 bits where the device runs them natively).
"""

from __future__ import annotations

import math
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch

from liif_plugin.engine.classic import ClassicResampler, bicubic_reach, blend, check_detail
from liif_plugin.engine.coords import block_mean, supersampling
from liif_plugin.engine.field import (  # noqa: F401  (Cancelled re-exported)
    MAX_LAZY_OUTPUT_PIXELS,
    Cancelled,
    ImageField,
    check_out_shape,
    check_region,
)
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.sources import arrays
from liif_plugin.sources.source import RangeFinder, Source, open_source

# Input pixels per side of a cached latent tile. Small, because the missing tiles of a view are
# encoded together in a few rectangles (one halo each), and a rectangle is rounded out to whole
# tiles: a 134-pixel view costs a (134 + up to 15 + 68)^2 encode with 16-pixel tiles, up to
# (134 + 63 + 68)^2 with 64-pixel ones (20 us per encoded pixel on 2 AVX2 cores). Smaller tiles
# cost Python bookkeeping per tile (a 512-pixel window is 1024 tiles of 16: ~10 ms).
TILE = 16
BLOCK = 512  # input pixels per side of one block of a large render
MARGIN = 3  # latent codes a part's window reaches beyond its pixel centres (see above)
CACHE_BYTES = 384 << 20  # default bound of the latent tile cache
BAND_PIXELS = 1 << 16  # output pixels (all planes) rendered between two progress calls


# -- how output pixels fall into input blocks -------------------------------------------------------


def output_spans(n_out, lo, hi, n_in, block):
    """For each input block [a, b) along one axis, the output index range whose centres fall in it
    (blocks that no output centre falls in are left out)."""
    bounds = [(a, min(a + block, n_in)) for a in range(0, n_in, block)]
    return [(bd, r) for bd, r in zip(bounds, output_ranges(n_out, lo, hi, bounds)) if r[1] > r[0]]


def block_bounds(n, block, min_size=1):
    """Cut n pixels into blocks of `block`; a last block smaller than `min_size` joins its neighbour."""
    cuts = list(range(0, n, block)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_size:
        del cuts[-2]
    return list(zip(cuts[:-1], cuts[1:]))


def output_ranges(n_out, lo, hi, bounds):
    """Output index range [j0, j1) of each input block in `bounds` (possibly empty), in order.

    Output j belongs to the block its centre lo + (j + 0.5) * (hi - lo) / n_out falls in; the
    ranges tile [0, n_out) with no gap, which is what a chunked (dask) output needs.
    """
    step = (hi - lo) / n_out
    starts = [0 if a == 0 else min(n_out, max(0, math.ceil((a - lo) / step - 0.5))) for a, _ in bounds]
    ends = starts[1:] + [n_out]
    return list(zip(starts, ends))


def _reach(n_out, lo, hi, j0, j1, n_in, margin):
    """Input index range [a, b) that output pixels [j0, j1) need, `margin` pixels beyond their centres."""
    step = (hi - lo) / n_out
    a = math.floor(lo + (j0 + 0.5) * step) - margin
    b = math.floor(lo + (j1 - 0.5) * step) + margin + 1
    return max(a, 0), min(b, n_in)


def tile_rectangles(keys, tile, halo):
    """Cover tile keys (ty, tx) with rectangles (ty0, ty1, tx0, tx1) that are cheap to encode.

    Encoding a rectangle costs its pixels plus a halo on every side, so one bounding box is best
    for a compact set, but an L-shaped or ring-shaped set (a diagonal pan, tiles missing around a
    cached core) would pay for the cached middle. Start from the runs of each tile row, stack
    equal runs of consecutive rows, then merge two rectangles while their bounding box costs less
    than both.
    """

    def cost(r):
        return ((r[1] - r[0]) * tile + 2 * halo) * ((r[3] - r[2]) * tile + 2 * halo)

    rows = {}
    for ty, tx in keys:
        rows.setdefault(ty, []).append(tx)
    rects, open_ = [], {}
    for ty in sorted(rows):
        xs = sorted(rows[ty])
        runs, start = [], xs[0]
        for p, q in zip(xs, xs[1:] + [None]):
            if q != p + 1:
                runs.append((start, p + 1))
                start = q
        now = {}
        for run in runs:
            r = open_.pop(run, None)
            if r is not None and r[1] == ty:
                now[run] = [r[0], ty + 1, *run]
            else:
                if r is not None:
                    rects.append(r)
                now[run] = [ty, ty + 1, *run]
        rects.extend(open_.values())
        open_ = now
    rects.extend(open_.values())
    merged = len(rects) <= 32  # a scattered set: the pairwise merging is quadratic; one box will do
    while merged and len(rects) > 1:
        merged = False
        best = None
        for i in range(len(rects)):
            for j in range(i + 1, len(rects)):
                p, q = rects[i], rects[j]
                m = [min(p[0], q[0]), max(p[1], q[1]), min(p[2], q[2]), max(p[3], q[3])]
                gain = cost(p) + cost(q) - cost(m)
                if gain >= 0 and (best is None or gain > best[0]):
                    best = (gain, i, j, m)
        if best is not None:
            _, i, j, m = best
            rects = [r for k, r in enumerate(rects) if k not in (i, j)] + [m]
            merged = True
    box = [min(r[0] for r in rects), max(r[1] for r in rects), min(r[2] for r in rects), max(r[3] for r in rects)]
    if cost(box) <= sum(cost(r) for r in rects):  # pairwise merging misses a ring's one box
        rects = [box]
    return [tuple(r) for r in rects]


def _clip(a, b, lo, hi):
    return max(a, lo), min(b, hi)


# -- frames a pan can reuse ------------------------------------------------------------------------


@dataclass
class Frame:
    """A rendered view: float planes (B, h, w, 3) of `region` (input pixel edges) at `shape` (h, w)."""

    planes: np.ndarray
    region: tuple
    shape: tuple


def snap_to_frame(prev: Frame | None, region, shape, full_shape):
    """The view (`region`, `shape`) as the previous frame's grid shifted by whole output pixels, when
    the zoom is the same (the new view has within one pixel as many output pixels at the old pixel
    size); else (or without a previous frame) the view as it is.

    The snapped region moves by less than half an output pixel and stays inside the image (at its
    edges it may lose one output pixel); its output pixels then sit exactly where the previous
    frame's did, so their values can be copied (``overlap``).
    """
    if prev is None:
        return tuple(region), tuple(shape)
    out = [0.0] * 4
    sizes = [0, 0]
    for ax in (0, 1):
        p0, p1, n = prev.region[ax], prev.region[ax + 2], prev.shape[ax]
        step = (p1 - p0) / n
        r0, r1, m = region[ax], region[ax + 2], shape[ax]
        if abs((r1 - r0) / step - m) > 1.0 + 1e-6:
            return tuple(region), tuple(shape)  # another zoom
        k = round((r0 - p0) / step)
        m = round((r1 - r0) / step)
        while p0 + k * step < -1e-6 * step:
            k, m = k + 1, m - 1
        while p0 + (k + m) * step > full_shape[ax] + 1e-6 * step:
            m -= 1
        if m < 1:
            return tuple(region), tuple(shape)
        out[ax] = max(0.0, p0 + k * step)
        out[ax + 2] = min(float(full_shape[ax]), p0 + (k + m) * step)
        sizes[ax] = m
    return tuple(out), tuple(sizes)


REUSE_SHARE = 0.5  # a pan that keeps at least this share of the frame renders only its new strips first


def shared_share(shared, shape) -> float:
    """The share of a view's output pixels that ``overlap`` found in the last frame (0 when None)."""
    if shared is None:
        return 0.0
    (r0, r1, _), (c0, c1, _) = shared
    return (r1 - r0) * (c1 - c0) / (shape[0] * shape[1])


def overlap(prev: Frame | None, region, shape):
    """Where a view's output grid meets the previous frame's, when it is that grid shifted by whole
    pixels: ((r0, r1, dy), (c0, c1, dx)) with new pixel (j, i) = old pixel (j + dy, i + dx) for
    r0 <= j < r1, c0 <= i < c1; None when the grids differ or do not meet."""
    if prev is None:
        return None
    got = []
    for ax in (0, 1):
        p0, p1, n = prev.region[ax], prev.region[ax + 2], prev.shape[ax]
        step = (p1 - p0) / n
        r0, r1, m = region[ax], region[ax + 2], shape[ax]
        if abs((r1 - r0) / m - step) > 1e-9 * step:
            return None
        d = (r0 - p0) / step
        k = round(d)
        if abs(d - k) > 1e-6:
            return None
        a, b = max(0, -k), min(m, n - k)
        if a >= b:
            return None
        got.append((a, b, k))
    return tuple(got)


class TiledField:
    """An image (any Source) that renders like ``ImageField``, encoding only what a render needs.

    `value_range`: (lo, hi) for every plane, or one pair per plane; None finds it in one streaming
    pass over the image on first need (``ranges()``; uint8 needs none), unless a viewer set a
    `provisional_range` to draw with meanwhile. `cache_bytes` bounds the latent tile cache (0: no
    cache, every window is encoded on its own). `encoder_precision`: 'fp32' (exact, the default) or
    the 16-bit precision of a viewer's frames (hardware.interactive_encoder_precision).
    """

    def __init__(
        self,
        model,
        source,
        *,
        value_range=None,
        precision=None,
        cache_bytes: int | None = None,
        tile: int | None = None,
        block: int | None = None,
        encoder_precision: str = "fp32",
    ):
        self.model = model
        self.source = source if isinstance(source, Source) else open_source(source)
        self.precision = model.precision if precision is None else resolve_precision(precision, model.device)
        self.encoder_precision = (
            "fp32" if encoder_precision == "fp32" else resolve_precision(encoder_precision, model.device)
        )
        self.full_shape = self.source.shape
        # Defaults are read here, not bound at import, so a test may shrink them.
        self.tile = int(TILE if tile is None else tile)
        self.block = int(BLOCK if block is None else block)
        self.cache_bytes = int(CACHE_BYTES if cache_bytes is None else cache_bytes)
        self._ranges = None if value_range is None else self._check_range(value_range)
        self._provisional = None  # a viewer's range until the exact one is known (see provisional_range)
        self.range_generation = 0  # goes up when the range renders use changes (frames drawn before are stale)
        self._cache = OrderedDict()  # (ty, tx) -> latent tile (B, C, th, tw)
        self._cached_bytes = 0
        self._lock = threading.Lock()
        self._range_lock = threading.Lock()
        self._range_finder = None  # a value-range pass under way (resumable)
        self.tiles_encoded = 0  # how many tiles have been encoded (tests and benchmarks read it)
        self.pixels_encoded = 0  # input pixels through the encoder, halos included (the main cost)
        self.encoder_steps = 0  # encoder convolutions run on windows of this field (checks passed)
        self.pixels_rendered = 0  # output pixels decoded (all planes counted once), copied ones not
        # Called between the encoder's convolutions and before every decoder chunk; raising from it
        # stops the work (a viewer that closes, or whose view moved on).
        self.interrupt: Callable[[], None] | None = None

    @property
    def shape(self):
        """(H, W) of the image, in input pixels."""
        return self.full_shape

    def _check_range(self, value_range):
        n = self.source.n_planes
        v = np.asarray(value_range, dtype=np.float64)
        if v.shape == (2,):
            v = np.broadcast_to(v, (n, 2))
        if v.shape != (n, 2) or not np.isfinite(v).all() or (v[:, 1] <= v[:, 0]).any():
            raise ValueError(
                f"value_range must be (lo, hi) with hi > lo, or one such pair per plane ({n}); got {value_range!r}"
            )
        return [(float(a), float(b)) for a, b in v]

    @property
    def value_range(self) -> list[tuple[float, float]] | None:
        """(lo, hi) per plane once known (given, found by ``ranges()``, or set by a viewer's own
        pass over the image); None while unknown. Nothing is read to answer."""
        return self._ranges

    @value_range.setter
    def value_range(self, value_range) -> None:
        """Set the range found elsewhere (one pass over the image serving both a viewer's overview
        and the field); a known range is kept."""
        if self._ranges is None and value_range is not None:
            self._found(self._check_range(value_range))

    @property
    def provisional_range(self) -> list[tuple[float, float]] | None:
        """The range renders use until the exact one is known (None: none set)."""
        return self._provisional

    @provisional_range.setter
    def provisional_range(self, value_range) -> None:
        """A viewer's range from what it read anyway (see liif_plugin.sources.arrays); set once, and
        only while the exact range is unknown."""
        if self._ranges is None and self._provisional is None and value_range is not None:
            self._provisional = self._check_range(value_range)

    @property
    def ranges_in_use(self) -> list[tuple[float, float]] | None:
        """The range renders use now: the provisional one while the exact one is unknown (and after, when
        the exact one did not really change it), else the exact one; None: neither is known yet."""
        return self._provisional if self._provisional is not None else self._ranges

    def _found(self, ranges):
        """The exact range is known. A provisional range that it really changes (arrays.range_changed)
        gives way: the tiles encoded with it go, and range_generation tells viewers to redraw. One it
        does not change stays in use, so frames, tiles and pans stay consistent."""
        self._ranges = ranges
        if self._provisional is not None and arrays.range_changed(self._provisional, ranges):
            self._provisional = None
            self.clear_cache()
            self.range_generation += 1

    def ranges(self, progress=None):
        """(lo, hi) per plane, found once (a streaming pass with `progress(done, total)` rows)."""
        for done, total in self.range_steps():
            if progress is not None:
                progress(done, total)
        return self._ranges

    def range_steps(self):
        """Generator: the value-range pass in bands, yielding (rows done, rows total); nothing when the
        range is known. A pass stopped between bands (a newer view) resumes there next time."""
        while self._ranges is None:
            with self._range_lock:  # a band at a time: callers on two threads share one pass
                if self._ranges is not None:
                    return
                if self._range_finder is None:
                    self._range_finder = RangeFinder(self.source)
                got = self._range_finder.step()
                if got is None:
                    found, self._range_finder = self._range_finder.result(), None
                    self._found(found)
                    return
            yield got

    def _use_ranges(self):
        return self.ranges_in_use or self.ranges()

    @property
    def layout(self) -> arrays.Layout:
        return self.source.layout(self._use_ranges())

    def read_planes(self, a, b, c, d):
        """Float planes (B, 3, b-a, d-c) in [0, 1] of input window [a, b) x [c, d)."""
        planes, _ = arrays.to_planes(self.source.read(a, b, c, d), ranges=self._use_ranges())
        return planes

    # -- rendering (the same contract as ImageField) --------------------------------------------------
    def render(self, shape, region=None, *, progress=None, detail=1.0, stop=None):
        """Render `region` (y0, x0, y1, x1; default the whole image) at `shape`, in the image's dtype."""
        planes = self.render_planes(shape, region, progress=progress, detail=detail, stop=stop)
        return arrays.from_planes(planes, self.layout)

    def render_planes(
        self, shape, region=None, *, rows=None, cols=None, progress=None, detail=1.0, stop=None, reuse=None
    ):
        """Float32 planes (B, h, w, 3) in [0, 1] of a part (`rows`, `cols`) of the output grid.

        `progress(done, total)` (output pixels) is called after each band; raising Cancelled from
        it stops the render. `stop` and `reuse`: see ``parts``.
        """
        h, w = check_out_shape(shape, MAX_LAZY_OUTPUT_PIXELS)  # the grid; the part below is what is held
        r_a, r_b = rows or (0, h)
        c_a, c_b = cols or (0, w)
        check_out_shape((r_b - r_a, c_b - c_a))
        out = np.empty((self.source.n_planes, r_b - r_a, c_b - c_a, 3), dtype=np.float32)
        total, done = (r_b - r_a) * (c_b - c_a), 0
        pieces = self.parts(shape, region, rows=rows, cols=cols, detail=detail, stop=stop, reuse=reuse)
        for (ra, rb), (ca, cb), part in pieces:
            out[:, ra - r_a : rb - r_a, ca - c_a : cb - c_a] = part
            done += (rb - ra) * (cb - ca)
            if progress is not None:
                progress(done, total)
        return out

    def parts(
        self,
        shape,
        region=None,
        *,
        rows=None,
        cols=None,
        detail=1.0,
        band: int | Callable[[], int] = BAND_PIXELS,
        stop=None,
        reuse=None,
    ):
        """Yield ((r0, r1), (c0, c1), planes (B, r1-r0, c1-c0, 3)) covering the part, band by band.

        `band` (output pixels per piece, or a callable returning it before each piece) is how
        often a caller gets control back: the napari worker yields there, so Cancel answers fast.
        `stop()` is called between the encoder's convolutions and before every decoder chunk (as is
        the field's `interrupt`); raising from it stops the work there. `reuse`: a Frame rendered
        by this field with the same detail and range (``range_generation``); where this view's grid
        is its grid shifted by whole pixels (``overlap``), its pixels are yielded first, as they
        are, and only the rest is rendered.
        """
        h, w = check_out_shape(shape, MAX_LAZY_OUTPUT_PIXELS)  # yielded band by band: never held whole
        region = check_region(region, self.full_shape)
        detail = check_detail(detail) * self.model.detail  # the model's own share, times the caller's
        r_a, r_b = rows or (0, h)
        c_a, c_b = cols or (0, w)
        stop = self._stopper(stop)
        shared = overlap(reuse, region, (h, w))
        if shared is not None:
            assert reuse is not None  # (overlap() is None without a previous frame)
            (ra, rb, dy), (ca, cb, dx) = shared
            ra, rb = _clip(ra, rb, r_a, r_b)
            ca, cb = _clip(ca, cb, c_a, c_b)
            if ra < rb and ca < cb and reuse.planes.shape[0] == self.source.n_planes:
                yield (ra, rb), (ca, cb), reuse.planes[:, ra + dy : rb + dy, ca + dx : cb + dx]
                # The newly exposed strips: above and below (whole width), left and right (between them).
                for rows_, cols_ in (
                    ((r_a, ra), (c_a, c_b)),
                    ((rb, r_b), (c_a, c_b)),
                    ((ra, rb), (c_a, ca)),
                    ((ra, rb), (cb, c_b)),
                ):
                    if rows_[0] < rows_[1] and cols_[0] < cols_[1]:
                        yield from self._parts((h, w), region, rows_, cols_, detail, band, stop)
                return
        yield from self._parts((h, w), region, (r_a, r_b), (c_a, c_b), detail, band, stop)

    def _parts(self, shape, region, rows, cols, detail, band: int | Callable[[], int], stop):
        h, w = shape
        H, W = self.full_shape
        y0, x0, y1, x1 = region
        r_a, r_b = rows
        c_a, c_b = cols
        B = self.source.n_planes
        ky, kx = supersampling(shape, region)
        for _, (ra, rb) in output_spans(h, y0, y1, H, self.block):
            ra, rb = _clip(ra, rb, r_a, r_b)
            if ra >= rb:
                continue
            for _, (ca, cb) in output_spans(w, x0, x1, W, self.block):
                ca, cb = _clip(ca, cb, c_a, c_b)
                if ca >= cb:
                    continue
                # Coarser than the input: each output pixel is the mean of ky x kx samples of a fine grid
                # (coords.supersampling), whose window and bicubic are those of the fine pixels.
                fine = (h * ky, w * kx)
                fc = (ca * kx, cb * kx)
                field = self.window_field(fine, region, (ra * ky, rb * ky), fc, stop=stop)
                classic = self._classic_window(fine, region, (ra * ky, rb * ky), fc) if detail != 1.0 else None
                r0 = ra
                while r0 < rb:
                    n = band() if callable(band) else band
                    r1 = min(rb, r0 + max(1, n // ((cb - ca) * B * ky * kx)))
                    fr = (r0 * ky, r1 * ky)
                    part = field.render_planes(fine, region, rows=fr, cols=fc, stop=stop)
                    if classic is not None:
                        cls, creg = classic
                        part = blend(part, cls.render(creg, fine, rows=fr, cols=fc), detail)
                    self.pixels_rendered += (r1 - r0) * (cb - ca)
                    yield (r0, r1), (ca, cb), block_mean(part, ky, kx)
                    r0 = r1
                del field

    def _stopper(self, stop=None):
        """One callable for the field's `interrupt` and a call's `stop` (None when neither is set)."""
        interrupt = self.interrupt
        if stop is None or interrupt is None:
            return stop or interrupt

        def both():
            interrupt()
            stop()

        return both

    def window_field(self, shape, region, rows, cols, *, stop=None) -> ImageField:
        """An in-memory ImageField holding exactly the latent codes this part of the grid reaches."""
        h, w = shape
        H, W = self.full_shape
        y0, x0, y1, x1 = region
        a, b = _reach(h, y0, y1, rows[0], rows[1], H, MARGIN)
        c, d = _reach(w, x0, x1, cols[0], cols[1], W, MARGIN)
        feat = self.latents(a, b, c, d, stop=stop)
        # detail 1: parts() blends each part with the bicubic of its own window (window fields hold no input).
        return ImageField(
            self.model, feat, None, full_shape=(H, W), offset=(a, c), precision=self.precision, detail=1.0
        )

    def _classic_window(self, shape, region, rows, cols):
        """A bicubic resampler of the input under this part (with the filter's reach), and the
        region in its coordinates: the same grid as the LIIF part (see liif_plugin.engine.classic)."""
        h, w = shape
        H, W = self.full_shape
        y0, x0, y1, x1 = region
        my, mx = bicubic_reach((y1 - y0) / h), bicubic_reach((x1 - x0) / w)
        a, b = _reach(h, y0, y1, rows[0], rows[1], H, my)
        c, d = _reach(w, x0, x1, cols[0], cols[1], W, mx)
        cls = ClassicResampler(self.read_planes(a, b, c, d), arrays.plane_groups(self.source.channels)[0])
        return cls, (y0 - a, x0 - c, y1 - a, x1 - c)

    # -- latent codes ------------------------------------------------------------------------------
    def latents(self, a, b, c, d, *, stop=None) -> torch.Tensor:
        """Exact latent codes (B, C, b-a, d-c) of input window [a, b) x [c, d). `stop`: see ``parts``."""
        t = self.tile
        tys = range(a // t, (b - 1) // t + 1)
        txs = range(c // t, (d - 1) // t + 1)
        if not self._fits_cache(len(tys) * len(txs)):
            return self._encode_window(a, b, c, d, stop)
        with self._lock:
            have = {k: self._cache[k] for k in ((ty, tx) for ty in tys for tx in txs) if k in self._cache}
            for k in have:
                self._cache.move_to_end(k)
        missing = [(ty, tx) for ty in tys for tx in txs if (ty, tx) not in have]
        if missing:
            have.update(self._encode_tiles(missing, stop))
        out = None
        for (ty, tx), f in have.items():
            if out is None:
                out = torch.empty(f.shape[:2] + (b - a, d - c), dtype=f.dtype, device=f.device)
            ta, tc = ty * t, tx * t
            ya, yb = max(a, ta), min(b, ta + f.shape[2])
            xa, xb = max(c, tc), min(d, tc + f.shape[3])
            out[:, :, ya - a : yb - a, xa - c : xb - c] = f[:, :, ya - ta : yb - ta, xa - tc : xb - tc]
        assert out is not None  # (the window has at least one tile)
        return out

    def prefetch(self, region, *, stop=None) -> None:
        """Encode (and cache) every tile that any render of `region` can reach, whatever its size.

        A viewer renders a region twice, at reduced and at full resolution; their reaches differ by
        part of an input pixel, and a tile missed by the first would cost the second a whole strip
        with its halo. Does nothing when the region's tiles would not fit in the cache.
        """
        H, W = self.full_shape
        y0, x0, y1, x1 = check_region(region, self.full_shape)
        a, b = max(0, math.floor(y0) - MARGIN), min(H, math.ceil(y1) + MARGIN)
        c, d = max(0, math.floor(x0) - MARGIN), min(W, math.ceil(x1) + MARGIN)
        t = self.tile
        n = ((b - 1) // t - a // t + 1) * ((d - 1) // t - c // t + 1)
        if self._fits_cache(n):
            self.latents(a, b, c, d, stop=self._stopper(stop))

    def _encode_tiles(self, keys, stop=None):
        """Encode the missing tiles in a few rectangles (one halo each, not one per tile), cache them."""
        got, left = {}, set(keys)
        for ty0, ty1, tx0, tx1 in tile_rectangles(left, self.tile, self.model.receptive_radius):
            if any((ty, tx) in left for ty in range(ty0, ty1) for tx in range(tx0, tx1)):  # merged boxes may overlap
                new = self._encode_rect((ty0, ty1, tx0, tx1), left, stop)
                got.update(new)
                left.difference_update(new)
        return got

    def _encode_rect(self, rect, keys, stop=None):
        H, W = self.full_shape
        t = self.tile
        ty0, ty1, tx0, tx1 = rect
        y0, y1, x0, x1 = ty0 * t, min(H, ty1 * t), tx0 * t, min(W, tx1 * t)
        feat = self._encode_window(y0, y1, x0, x1, stop)
        got = {}
        with self._lock:
            for ty, tx in ((ty, tx) for ty in range(ty0, ty1) for tx in range(tx0, tx1) if (ty, tx) in keys):
                f = feat[:, :, ty * t - y0 : min(H, (ty + 1) * t) - y0, tx * t - x0 : min(W, (tx + 1) * t) - x0].clone()
                got[(ty, tx)] = f
                self.tiles_encoded += 1
                if (ty, tx) not in self._cache:
                    self._cache[(ty, tx)] = f
                    self._cached_bytes += f.element_size() * f.nelement()
            while self._cached_bytes > self.cache_bytes and len(self._cache) > 1:
                _, old = self._cache.popitem(last=False)
                self._cached_bytes -= old.element_size() * old.nelement()
        return got

    def _encode_window(self, a, b, c, d, stop=None):
        H, W = self.full_shape
        R = self.model.receptive_radius
        ia, ib = max(a - R, 0), min(b + R, H)
        ic, id_ = max(c - R, 0), min(d + R, W)
        stop = stop or self.interrupt

        def check():
            self.encoder_steps += 1
            if stop is not None:
                stop()

        planes = self.read_planes(ia, ib, ic, id_)
        if stop is not None:
            stop()
        self.pixels_encoded += (ib - ia) * (id_ - ic)
        feat = self.model.encode_planes(
            planes,
            progress=None if stop is None else (lambda done, total: stop()),
            precision=self.encoder_precision,
            check=check,
        )
        return feat[:, :, a - ia : b - ia, c - ic : d - ic]

    def _fits_cache(self, n_tiles: int) -> bool:
        """Whether a window of n tiles goes through the cache: at most half of it, so that a view's
        tiles and the ones around it stay (a bigger window is encoded on its own, uncached)."""
        return 0 < n_tiles * self._tile_bytes() <= self.cache_bytes // 2

    def _tile_bytes(self):
        width = self.model.net.encoder.out_dim
        return self.source.n_planes * width * self.tile * self.tile * 4

    @property
    def cached_bytes(self) -> int:
        return self._cached_bytes

    def clear_cache(self):
        with self._lock:
            self._cache.clear()
            self._cached_bytes = 0
