"""ZoomWidget: a notebook view that re-renders exactly the visible window with LIIF.

The browser (zoom.js) owns the interaction and reports `viewport` and `canvas_shape`; the kernel
renders the visible part of the image at the canvas's device resolution on a background thread
and sends it back as PNG bytes in a binary buffer. For every new view it first sends a bicubic
window (instant), then a reduced LIIF frame (about 16 k pixels, rendered from a coarser level of the
image, so it costs a fraction of the full frame), then the full one; a pan renders only the newly
exposed strip and copies the rest from the frame before. A newer view stops the render in progress
within one encoder convolution or decoder chunk (tens of ms).

Nothing waits for a pass over the whole image: uint8, a given `value_range` or a file's declared
range (OME-Zarr `omero` window) is known at once; other data are drawn with a provisional range from
what the view reads, while the exact range (and, for an image without levels, the overview) is found
in the background between views; a frame is redrawn only if the exact range really changes it
(liif_plugin.sources.arrays). Interactive frames encode in 16 bits where the hardware runs them natively
(hardware.interactive_encoder_precision); `liif_plugin.upscale` and every exact path stay fp32.

The image may be any size and any source (array, memmap, zarr, dask, TIFF / zarr / OME-Zarr path):
LIIF works on a lazy tiled field (liif_plugin.engine.tiles) that encodes only the tiles under the view,
and zoomed out (a screen pixel covering an image pixel or more) the widget shows an area-averaged
overview (liif_plugin.engine.overview) instead: the file's own levels, or levels built in one pass whose
rows are shown as they are read. Leading axes of a stack get a slider (trait `index`).

Each image message carries, besides its pixels and region: `level` (the level factor it was drawn from,
or null for the image itself), `reduced` (a reduced LIIF frame), `scale` (output pixels per input pixel)
and `view_changed_at` (time.time() of the view change it answers).
"""

import math
import threading
import time
import weakref
from pathlib import Path

import numpy as np
import traitlets as t

from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.field import Cancelled
from liif_plugin.engine.overview import REDUCED_PIXELS, Overview, reduced_view
from liif_plugin.engine.tiles import REUSE_SHARE, Frame, TiledField, overlap, shared_share, snap_to_frame
from liif_plugin.errors import one_line
from liif_plugin.notebook.controls import ZoomControls
from liif_plugin.notebook.pixels import png_bytes, to_display
from liif_plugin.notebook.view import MAX_ZOOM, fit_viewport, resized_viewport, visible_part, zoom_factor
from liif_plugin.notebook.worker import LatestWorker
from liif_plugin.runtime.hardware import interactive_encoder_precision, resolve_precision
from liif_plugin.sources import arrays
from liif_plugin.sources.source import open_source

HERE = Path(__file__).parent
MODES = ("liif", "bicubic", "nearest", "compare")
PARTIAL_OVERVIEW_S = 0.5  # while a big image without levels is read, its rows so far are shown this often
PREVIEW_PIXELS = REDUCED_PIXELS  # the reduced LIIF frame (liif_plugin.engine.overview.reduced_view)


def reduced_shape(shape, region):
    """The grid of the reduced LIIF frame for a view of `region` at `shape`, or None when the view is
    small enough to render fully at once (its level: liif_plugin.engine.overview.reduced_view)."""
    plan = reduced_view(region, shape, PREVIEW_PIXELS)
    return None if plan is None else plan[0]


BAND_PIXELS = 8_192  # a newer view can stop a render after any band of this many output pixels


class ZoomWidget(ZoomControls):
    """Zoom into an image with the wheel, pan by dragging; the view is rendered with LIIF.

    `image` is an HxW or HxWxC array (uint8, uint16, float, as in ``liif_plugin.upscale``), a
    stack (..., H, W[, C]), or any big source: zarr / dask array, memmap, or a path to a TIFF,
    zarr or OME-Zarr (see liif_plugin.sources.source); `index` picks the image of a stack;
    `model` 'auto' (the default: the model that suits this image, chosen once when the widget opens),
    a LiifModel, a registry name or a checkpoint path; the widget's model menu (trait `model_name`)
    changes it later;
    `height` the widget's height in CSS pixels; `width` its width (None: the cell's width);
    `precision` of the LIIF renders ('auto': the fastest this hardware runs natively within 2/255 of
    fp32, which is fp32 on CPUs without bf16; see liif_plugin.runtime.hardware).
    `detail` (0..1, a slider under the image and a trait) keeps that much of LIIF's difference from
    bicubic; `advice` (one line under the image) says what the image is, which model runs and why, and
    what to change when it does not suit the image (then also in `warning`). See
    liif_plugin.notebook.controls.
    `value_range` (lo, hi) of non-8-bit data spares the pass that finds it; `cache_bytes` bounds
    the latent tile cache (liif_plugin.engine.tiles.CACHE_BYTES by default).
    """

    # The files' text, not their paths: anywidget watches a path for hot reloading through a
    # class-level signal that would hold every instance alive forever.
    _esm = (HERE / "zoom.js").read_text()
    _css = (HERE / "zoom.css").read_text()

    viewport = t.List(t.Float(), default_value=[0.0, 0.0, 1.0, 1.0]).tag(sync=True)
    canvas_shape = t.List(t.Int(), default_value=[512, 768]).tag(sync=True)
    mode = t.Enum(MODES, default_value="liif").tag(sync=True)
    height = t.Int(512).tag(sync=True)
    width = t.Int(0).tag(sync=True)  # 0: as wide as the output area
    divider = t.Float(0.5).tag(sync=True)  # compare mode: where LIIF ends, as a fraction of the width
    image_shape = t.List(t.Int(), read_only=True).tag(sync=True)
    max_zoom = t.Float(MAX_ZOOM, read_only=True).tag(sync=True)
    detail = t.Float(1.0).tag(sync=True)  # LIIF's views: bicubic + detail * (LIIF - bicubic)
    lead_shape = t.List(t.Int(), read_only=True).tag(sync=True)  # the stack's leading axes ([] for one image)
    index = t.List(t.Int(), default_value=[]).tag(sync=True)  # which image of the stack is shown

    def __init__(
        self,
        image,
        model="auto",
        height=512,
        width=None,
        precision="auto",
        *,
        index=None,
        value_range=None,
        cache_bytes=None,
        **kwargs,
    ):
        try:  # the user's input: a bad one shows in the notebook as its one sentence (errors.one_line)
            source = open_source(image, index=index or ())
            if not isinstance(height, int) or height < 32:
                raise ValueError(f"height must be a whole number of pixels (at least 32), got {height!r}")
            if width is not None and (not isinstance(width, int) or width < 32):
                raise ValueError(f"width must be None or a whole number of pixels (at least 32), got {width!r}")
            self._model = self._choose_model(source, model)  # a bad name or path fails here, not in the thread
        except (ValueError, TypeError, OSError) as e:
            raise one_line(e) from None
        H, W = source.shape
        self._precision_setting = precision
        self.precision = resolve_precision(precision, self._model.device)
        # The encoder of interactive frames: 16 bits where the hardware runs them natively (else fp32).
        self.encoder_precision = interactive_encoder_precision(self.precision, self._model.device)
        self._value_range, self._cache_bytes = value_range, cache_bytes
        self._field_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._worker = LatestWorker()
        # Dropping the widget stops its worker; the worker holds the widget only while a job runs.
        weakref.finalize(self, self._worker.close)
        self._open(source)
        self._overview_due = True
        self._ids = 0
        self._live = False  # the first view renders when a browser shows the widget ("hello")
        self.last_render = None  # what the last final render was: layer, viewport, region, shape, ms
        self.last_pixels = None  # its 8-bit pixels, as sent
        # Until a browser reports its canvas, guess one (scripts and render_viewport() use it).
        canvas = kwargs.pop("canvas_shape", [height, width or min(1024, max(32, round(height * W / H)))])
        super().__init__(height=height, width=width or 0, canvas_shape=canvas, **kwargs)
        self.set_trait("image_shape", [int(H), int(W)])
        self.set_trait("lead_shape", list(source.lead_shape))
        self.index = list(source.index)
        self.viewport = [0.0, 0.0, float(H), float(W)]
        self._controls_ready()
        self.on_msg(self._on_front_msg)
        self._live = True

    def _open(self, source):
        """Field and overview of one image of the source. An in-memory image gets its overview (and
        exact value range) now; a lazy one (zarr, dask, memmap, file) is not read until a view asks."""
        given = self._value_range if self._value_range is not None else source.declared_range
        field = TiledField(
            self._model,
            source,
            value_range=given,
            precision=self.precision,
            cache_bytes=self._cache_bytes,
            encoder_precision=self.encoder_precision,
        )
        # Encoded tiles serve every later view, but a stale view's encode stops (see _render_job).
        field.interrupt = self._stop_if_closed
        overview = Overview(source, ranges=field.value_range)
        in_memory = isinstance(source.data, np.ndarray) and not isinstance(source.data, np.memmap)
        if in_memory and not overview.lazy and min(overview.factors) == 1:
            overview.build(ranges=field.value_range)  # (raises for NaN: then nothing below has changed)
            field.value_range = overview.ranges
        with self._field_lock:
            self._source, self._field, self._overview = source, field, overview
            self._coarse = {}  # (level factor, range generation) -> TiledField of that level: reduced frames
            self._frame = None  # (key, Frame) of the last full LIIF frame: what a pan reuses
        # What the first view starts in the background (between views): the exact range, the levels.
        self._prepare = not self._overview.built or self._field.value_range is None

    @property
    def _layout(self):
        return self._field.layout

    # -- validation: bad values raise one clear sentence ------------------------------------------
    @t.validate("viewport")
    def _fit(self, proposal):
        try:
            return fit_viewport(proposal["value"], self.canvas_shape, self.image_shape or (1, 1))
        except ValueError as e:
            raise one_line(t.TraitError(str(e))) from None

    @t.validate("canvas_shape")
    def _check_canvas(self, proposal):
        v = proposal["value"]
        if len(v) != 2 or min(v) < 1:
            raise one_line(t.TraitError(f"canvas_shape must be [height, width] device pixels (each >= 1), got {v!r}"))
        return v

    @t.validate("detail")
    def _check_detail(self, proposal):
        try:
            return check_detail(proposal["value"])
        except ValueError as e:
            raise one_line(t.TraitError(str(e))) from None

    @t.validate("divider")
    def _check_divider(self, proposal):
        return min(max(float(proposal["value"]), 0.0), 1.0)

    @t.observe("canvas_shape")
    def _canvas_changed(self, change):
        self._overview_due = True
        if self.image_shape:
            self.viewport = resized_viewport(self.viewport, change["old"], self.canvas_shape, self.image_shape)
            if self._live:
                self._schedule()

    @t.observe("viewport", "mode", "detail")
    def _view_changed(self, change):
        if change["name"] == "mode" and self._worker.idle() and self._frame_serves(change["new"]):
            return  # LIIF <-> compare: the LIIF frame on screen serves both (controls.ZoomControls)
        if self._live:
            self._schedule()

    @t.validate("index")
    def _check_index(self, proposal):
        v = [int(i) for i in proposal["value"]]
        lead = self._source.lead_shape
        if len(v) != len(lead) or any(not 0 <= i < n for i, n in zip(v, lead)):
            raise one_line(t.TraitError(f"index must pick one image of the stack {list(lead)}, got {v!r}"))
        return v

    @t.observe("index")
    def _index_changed(self, change):
        if tuple(change["new"]) != self._source.index:
            try:
                self._open(self._source.with_index(change["new"]))
            except (ValueError, TypeError) as e:  # e.g. NaN in that plane: say so, stay on the plane shown
                with self._send_lock:
                    self.send({"type": "error", "text": f"plane {list(change['new'])}: {e}"})
                self.index = list(self._source.index)
            self._overview_due = True
            if self._live:
                self._schedule()

    def _on_front_msg(self, widget, content, buffers):
        if isinstance(content, dict) and content.get("type") == "hello":  # a new view: it has no pixels yet
            self._overview_due = True
            self._schedule()

    # -- public ------------------------------------------------------------------------------------
    @property
    def zoom(self):
        """Device pixels per input pixel in the current view."""
        return zoom_factor(self.viewport, self.canvas_shape)

    @property
    def field(self):
        """The lazy tiled field of the image shown (liif_plugin.engine.tiles.TiledField)."""
        return self._field

    def _ready_overview(self, progress=None, exact=True, on_rows=None):
        """The overview, built on first need: one pass over a big image without levels of its own,
        which also finds the value range LIIF needs (`exact`; a source with levels shows them first).
        `on_rows(done)` is called during that pass (see Overview.build); raising from `progress` stops
        it (the next call resumes)."""
        ov = self._overview
        if not (ov.built if exact else ov.displayable):
            with self._field_lock:
                if not ov.displayable:
                    ov.build(progress=progress, ranges=self._field.value_range, on_rows=on_rows)
                if exact and not ov.built:
                    for done, total in self._field.range_steps():
                        if progress is not None:
                            progress(done, total)
                    ov.ranges = self._field.value_range
                self._settled()
        return ov

    def _settled(self):
        """The overview's pass found the exact range: the field takes it (and says whether frames drawn
        with a provisional range must be redrawn: range_generation)."""
        ov, field = self._overview, self._field
        if ov.ranges is not None:
            field.value_range = ov.ranges
        elif field.value_range is not None and ov.lazy:
            ov.ranges = field.value_range

    def _background_step(self, stale) -> bool:
        """One step of idle-time preparation (a band of the one pass): the overview levels of an image
        without its own, which also find the exact value range, or the range alone. Returns True while
        more remains. When the exact range really changes what was drawn, the view is drawn again."""
        ov, field = self._overview, self._field
        before = field.range_generation
        with self._field_lock:
            if ov.lazy or ov.displayable:
                steps = field.range_steps()
            else:
                steps = ov.build_steps(ranges=field.value_range)
            more = next(steps, None) is not None
            steps.close()
            if not more:
                self._settled()
                self._prepare = False
        if field.range_generation != before:  # the provisional range really differed: draw again
            self._overview_due = True
            if self._live:
                self._schedule()
        return more

    def render_viewport(self, mode=None):
        """The part of the image in the current view, rendered now at the canvas's resolution.

        Returns an array in the image's dtype and channel layout; `mode` defaults to the
        widget's ('compare' renders LIIF).
        """
        mode = self.mode if mode is None else mode
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        region, shape = visible_part(self.viewport, self.canvas_shape, self.image_shape)
        return arrays.from_planes(self._planes_for(mode, region, shape), self._layout)

    def wait(self, timeout=None):
        """Block until the current view is rendered and the background preparation (exact value range,
        overview levels, and a redraw if the range changed the view) is done. False on timeout."""
        return self._worker.wait_idle(timeout, background=True)

    def reset(self):
        """Show the whole image."""
        H, W = self.image_shape
        self.viewport = [0.0, 0.0, float(H), float(W)]

    def close(self):
        """Stop rendering, free the encoded image and close the view in the notebook."""
        worker = getattr(self, "_worker", None)  # absent when __init__ refused the image
        if worker is not None:
            worker.close()
            with self._field_lock:
                self._field.clear_cache()
                self._overview.levels = {}
        super().close()

    @property
    def stats(self):
        return {"done": self._worker.done, "dropped": self._worker.dropped, "errors": list(self._worker.errors)}

    # -- rendering -------------------------------------------------------------------------------
    def _planes_for(self, mode, region, shape, progress=None):
        self._ready_overview(exact=False) if not self._overview.direct(region, shape) else None
        self._ready_overview(progress=self._stop_if_closed)  # the exact range (render_viewport is exact)
        if mode in ("bicubic", "nearest"):
            return self._overview.planes(region, shape, mode, ranges=self._field.ranges_in_use)
        return self.field.render_planes(shape, region, progress=progress, detail=self.detail)

    def _schedule(self):
        view, canvas, mode, detail = list(self.viewport), list(self.canvas_shape), self.mode, self.detail
        changed_at = time.time()
        ref = weakref.ref(self)  # a waiting job must not keep a dropped widget alive

        def job(stale):
            widget = ref()
            if widget is not None:
                widget._render_job(view, canvas, mode, stale, detail, changed_at)

        self._worker.submit(job)
        if self._prepare:
            self._worker.set_background(lambda stale: (w := ref()) is not None and w._background_step(stale))

    def _display_range(self, region):
        """The range frames are drawn with now: the exact one if known (or free: uint8), else the field's
        provisional one, set on first need from what is at hand (the coarsest level, or this view's
        window; liif_plugin.sources.arrays)."""
        field = self._field
        if field.ranges_in_use is None:
            with self._field_lock:
                if field.ranges_in_use is None:
                    if not self._source.range_bands():  # uint8: known without reading
                        field.ranges()
                    else:
                        H, W = self._source.shape
                        y0, x0, y1, x1 = region
                        window = (
                            max(0, math.floor(y0) - 2),
                            min(H, math.ceil(y1) + 2),
                            max(0, math.floor(x0) - 2),
                            min(W, math.ceil(x1) + 2),
                        )
                        field.provisional_range = self._overview.provisional_ranges(window)
        return field.ranges_in_use

    def _render_job(self, view, canvas, mode, stale, detail=1.0, changed_at=None):
        def check(done=None, total=None):
            if stale():
                raise Cancelled()

        changed_at = time.time() if changed_at is None else changed_at
        H, W = self.image_shape
        whole = fit_viewport([0, 0, H, W], canvas, (H, W))
        shown = [time.perf_counter() - PARTIAL_OVERVIEW_S]

        def send(layer, planes, region, final, t0, **fields):
            ms = (time.perf_counter() - t0) * 1e3
            self._send_image(
                layer, planes, region, view, mode, final, ms, changed_at=changed_at, detail=detail, **fields
            )

        def show_rows(rows):  # a big image without levels: show its rows as the pass reads them
            if rows < H and time.perf_counter() - shown[0] >= PARTIAL_OVERVIEW_S:
                shown[0] = time.perf_counter()
                region, shape = visible_part(whole, canvas, (rows, W))
                planes = self._overview.planes_so_far(region, shape)
                self._send_image("overview", planes, region, None, mode, False, 0.0, changed_at=changed_at)

        try:
            ov = self._overview
            region, shape = visible_part(view, canvas, (H, W))
            if not ov.displayable and not ov.direct(region, shape):
                # Zoomed out on an image without levels: this view needs the pass (shown as it reads;
                # a newer view stops it, the next one resumes it).
                self._ready_overview(progress=self._stop_or(check), exact=False, on_rows=show_rows)
            if self._overview_due and ov.displayable:
                self._overview_due = False
                t0 = time.perf_counter()
                wregion, wshape = visible_part(whole, canvas, (H, W))
                ranges = self._display_range(wregion)
                send("overview", ov.planes(wregion, wshape, ranges=ranges), wregion, False, t0)
            classic = "nearest" if mode == "nearest" else "bicubic"
            t0 = time.perf_counter()
            ranges = self._display_range(region)
            planes = ov.planes(region, shape, classic, ranges=ranges)
            # Zoomed out, a screen pixel covers an image pixel or more: the area-averaged view is it.
            final = mode in ("bicubic", "nearest") or zoom_factor(view, canvas) < 1.0
            level = ov.level_for(region, shape) if not ov.direct(region, shape) else None
            send(classic, planes, region, final, t0, level=level)
            if final:
                return
            check()
            self._render_liif(region, shape, check, detail, send)
        except Cancelled:
            raise
        except Exception as e:
            with self._send_lock:
                self.send({"type": "error", "text": f"{type(e).__name__}: {e}"})
            raise

    def _render_liif(self, region, shape, check, detail, send):
        """The view's LIIF frames: a pan renders only the newly exposed strips around the pixels it copies
        from the last frame; any other view (or a pan that keeps less than half of the frame) gets a reduced
        frame from a coarser level first, then the full one (reusing what the last frame has of it)."""
        field = self._field
        H, W = self.image_shape
        ranges = field.ranges_in_use
        assert ranges is not None  # (_render_job's _display_range set it)
        key = (tuple(self._source.index), detail, field.range_generation, tuple(ranges))
        last = self._frame
        prev = last[1] if last is not None and last[0] == key else None
        region, shape = snap_to_frame(prev, region, shape, (H, W))
        shared = overlap(prev, region, shape)
        if shared is None:
            prev = None
        if shared_share(shared, shape) < REUSE_SHARE:
            plan = reduced_view(region, shape, PREVIEW_PIXELS)
            if plan is not None and plan[0][0] * self._overview.level_for(region, shape) < region[2] - region[0]:
                # A reduced frame with fewer pixels than the level the bicubic frame on screen was drawn from
                # (the image itself below about x4) would replace it with a blurrier one: the full frame next.
                plan = None
            t0 = time.perf_counter()
            if plan is not None and plan[1] > 1:  # from a coarser level: a fraction of the full frame's encode
                small, f = plan
                coarse = self._coarse_field(f)
                planes = self._render_bands(coarse, small, self._overview.level_region(f, region), check, detail)
                send("liif", planes, region, False, t0, level=f, reduced=True)
            # Every tile the full frame (and a reduced frame at level 1) reaches, encoded at once in a few
            # rectangles: the bands below would otherwise each encode their own strip of tiles with a
            # whole halo (at 1:1 on a 512 x 512 canvas, 4.5x the encoder input).
            field.prefetch(region, stop=check)
            if plan is not None and plan[1] == 1:
                small = plan[0]
                planes = self._render_bands(field, small, region, check, detail)
                send("liif", planes, region, False, t0, reduced=True)
                check()
        t0 = time.perf_counter()
        planes = self._render_bands(field, shape, region, check, detail, reuse=prev)
        self._frame = (key, Frame(planes, region, shape))
        send("liif", planes, region, True, t0)

    def _coarse_field(self, f):
        """A tiled field of the image at level factor f (liif_plugin.engine.overview.level_source), drawn with
        the range in use; kept per level (with a small tile cache) until the range changes."""
        field = self._field
        ranges = field.ranges_in_use
        assert ranges is not None  # (as in _render_liif, which asks for these fields)
        key = (f, field.range_generation, tuple(ranges))
        coarse = self._coarse.get(key)
        if coarse is None:
            self._coarse = {k: v for k, v in self._coarse.items() if k[1:] == key[1:]}
            coarse = TiledField(
                self._model,
                self._overview.level_source(f),
                value_range=field.ranges_in_use,
                precision=self.precision,
                cache_bytes=field.cache_bytes // 8,
                encoder_precision=self.encoder_precision,
            )
            coarse.interrupt = self._stop_if_closed
            self._coarse[key] = coarse
        return coarse

    def _stop_if_closed(self, done=None, total=None):
        if self._worker.closed:
            raise Cancelled()

    def _stop_or(self, check):
        def both(done=None, total=None):
            self._stop_if_closed()
            check()

        return both

    @staticmethod
    def _render_bands(field, shape, region, check, detail=1.0, reuse=None):
        """LIIF planes of the window, rendered in bands of rows with a staleness check after each (and
        inside each, between the encoder's convolutions and before every decoder chunk)."""
        h, w = shape
        step = max(1, BAND_PIXELS // w)
        bands = []
        for r0 in range(0, h, step):
            bands.append(
                field.render_planes(shape, region, rows=(r0, min(h, r0 + step)), detail=detail, stop=check, reuse=reuse)
            )
            check()
        return np.concatenate(bands, axis=1)

    def _send_image(
        self, layer, planes, region, view, mode, final, ms, *, level=None, reduced=False, changed_at=None, detail=1.0
    ):
        # The kind comes from the channels alone: asking the layout would wait for the value-range pass.
        img = to_display(planes, arrays.plane_groups(self._source.channels)[0])
        self._ids += 1
        msg = {
            "type": "image",
            "id": self._ids,
            "layer": layer,
            "region": list(region),
            "viewport": view,
            "mode": mode,
            "final": final,
            "ms": ms,
            "shape": list(img.shape[:2]),
            "level": level if level is None or level > 1 else None,
            "reduced": bool(reduced),
            "detail": float(detail),  # the share of LIIF it was rendered with: the label names it below 1
            "index": list(self._source.index),  # with the model: a frame of another plane or model is not current
            "model": self._model.name,
            "scale": img.shape[0] / (region[2] - region[0]),
            "view_changed_at": changed_at,
        }
        if final:
            self.last_render = dict(msg)
            self.last_pixels = img
        with self._send_lock:
            self.send(msg, buffers=[png_bytes(img)])
