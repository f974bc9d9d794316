"""ZoomWidget: a notebook view that re-renders exactly the visible window with LIIF.

The browser (zoom.js) owns the interaction and reports `viewport` and `canvas_shape`; the kernel
renders the visible part of the image at the canvas's device resolution on a background thread
and sends it back as PNG bytes in a binary buffer. For every new view it first sends a bicubic
window (instant), then a reduced-resolution LIIF render (where it is finer than the image), then
the full one; a newer view cancels the render in progress.

The image may be any size and any source (array, memmap, zarr, dask, TIFF / zarr / OME-Zarr path):
LIIF works on a lazy tiled field (liif_plugin.engine.tiles) that encodes only the tiles under the view,
and zoomed out (a screen pixel covering an image pixel or more) the widget shows an area-averaged
overview (liif_plugin.engine.overview) instead: the file's own levels, or levels built in one pass whose
rows are shown as they are read. Leading axes of a stack get a slider (trait `index`).
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
from liif_plugin.engine.overview import Overview
from liif_plugin.engine.tiles import TiledField
from liif_plugin.notebook.controls import ZoomControls
from liif_plugin.notebook.pixels import png_bytes, to_display
from liif_plugin.notebook.view import MAX_ZOOM, fit_viewport, visible_part, zoom_factor
from liif_plugin.notebook.worker import LatestWorker
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.sources import arrays
from liif_plugin.sources.source import open_source

HERE = Path(__file__).parent
MODES = ("liif", "bicubic", "nearest", "compare")
PARTIAL_OVERVIEW_S = 0.5  # while a big image without levels is read, its rows so far are shown this often
PREVIEW_PIXELS = 16_384  # the reduced LIIF pass (its cost is mostly encoding the window's tiles)


def reduced_shape(shape, region):
    """The grid of the reduced LIIF pass for a view of `region` at `shape`, or None when there is none.

    None when the view is small enough to render fully at once, and when the reduced grid would be
    coarser than the image itself (zoom below 4 on a 512 x 512 canvas): such a frame shows less
    than the bicubic frame already on screen, and its encode would delay the full one.
    """
    h, w = shape
    if h * w <= 4 * PREVIEW_PIXELS:
        return None
    f = math.sqrt(PREVIEW_PIXELS / (h * w))
    small = (max(1, round(h * f)), max(1, round(w * f)))
    if small[0] < region[2] - region[0] - 1e-6 or small[1] < region[3] - region[1] - 1e-6:
        return None
    return small


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
        source = open_source(image, index=index or ())
        if not isinstance(height, int) or height < 32:
            raise ValueError(f"height must be a whole number of pixels (at least 32), got {height!r}")
        if width is not None and (not isinstance(width, int) or width < 32):
            raise ValueError(f"width must be None or a whole number of pixels (at least 32), got {width!r}")
        H, W = source.shape
        self._model = self._choose_model(source, model)  # a bad name or path fails here, not in the thread
        self._precision_setting = precision
        self.precision = resolve_precision(precision, self._model.device)
        self._value_range, self._cache_bytes = value_range, cache_bytes
        self._field_lock = threading.Lock()
        self._send_lock = threading.Lock()
        self._open(source)
        self._worker = LatestWorker()
        # Dropping the widget stops its worker; the worker holds the widget only while a job runs.
        weakref.finalize(self, self._worker.close)
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
        """Field and overview of one image of the source (small images get their overview now)."""
        with self._field_lock:
            self._source = source
            self._field = TiledField(
                self._model,
                source,
                value_range=self._value_range,
                precision=self.precision,
                cache_bytes=self._cache_bytes,
            )
            # Encoded tiles serve every later view, so only closing the widget interrupts an encode.
            self._field.interrupt = self._stop_if_closed
            self._overview = Overview(source, ranges=self._field.value_range)
            if not self._overview.lazy and min(self._overview.factors) == 1:
                self._overview.build(ranges=self._field.value_range)
                self._field.value_range = self._overview.ranges

    @property
    def _layout(self):
        return self._field.layout

    # -- validation: bad values raise one clear sentence ------------------------------------------
    @t.validate("viewport")
    def _fit(self, proposal):
        try:
            return fit_viewport(proposal["value"], self.canvas_shape, self.image_shape or (1, 1))
        except ValueError as e:
            raise t.TraitError(str(e)) from None

    @t.validate("canvas_shape")
    def _check_canvas(self, proposal):
        v = proposal["value"]
        if len(v) != 2 or min(v) < 1:
            raise t.TraitError(f"canvas_shape must be [height, width] in device pixels (each >= 1), got {v!r}")
        return v

    @t.validate("detail")
    def _check_detail(self, proposal):
        try:
            return check_detail(proposal["value"])
        except ValueError as e:
            raise t.TraitError(str(e)) from None

    @t.validate("divider")
    def _check_divider(self, proposal):
        return min(max(float(proposal["value"]), 0.0), 1.0)

    @t.observe("canvas_shape")
    def _canvas_changed(self, change):
        self._overview_due = True
        if self.image_shape:
            self.viewport = fit_viewport(self.viewport, self.canvas_shape, self.image_shape)
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
            raise t.TraitError(f"index must pick one image of the stack {list(lead)}, got {v!r}")
        return v

    @t.observe("index")
    def _index_changed(self, change):
        if tuple(change["new"]) != self._source.index:
            self._open(self._source.with_index(change["new"]))
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
        `on_rows(done)` is called during that pass (see Overview.build)."""
        ov = self._overview
        if not (ov.built if exact else ov.displayable):
            with self._field_lock:
                if not (ov.built if exact else ov.displayable):
                    ov.build(progress=progress, ranges=self._field.value_range, on_rows=on_rows)
                    self._field.value_range = ov.ranges
        return ov

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
        """Block until the background render of the current view has finished."""
        return self._worker.wait_idle(timeout)

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
        if mode in ("bicubic", "nearest"):
            return self._ready_overview().planes(region, shape, mode)
        self._ready_overview()  # the value range (a pass over a big image), shared with the overview
        return self.field.render_planes(shape, region, progress=progress, detail=self.detail)

    def _schedule(self):
        view, canvas, mode, detail = list(self.viewport), list(self.canvas_shape), self.mode, self.detail
        ref = weakref.ref(self)  # a waiting job must not keep a dropped widget alive

        def job(stale):
            widget = ref()
            if widget is not None:
                widget._render_job(view, canvas, mode, stale, detail)

        self._worker.submit(job)

    def _render_job(self, view, canvas, mode, stale, detail=1.0):
        def check(done=None, total=None):
            if stale():
                raise Cancelled()

        H, W = self.image_shape
        whole = fit_viewport([0, 0, H, W], canvas, (H, W))
        shown = [time.perf_counter() - PARTIAL_OVERVIEW_S]

        def show_rows(rows):  # a big image without levels: show its rows as the pass reads them
            if rows < H and time.perf_counter() - shown[0] >= PARTIAL_OVERVIEW_S:
                shown[0] = time.perf_counter()
                region, shape = visible_part(whole, canvas, (rows, W))
                self._send_image(
                    "overview", self._overview.planes_so_far(region, shape), region, None, mode, False, 0.0
                )

        try:
            ov = self._ready_overview(progress=self._stop_if_closed, exact=False, on_rows=show_rows)
            if self._overview_due:
                self._overview_due = False
                region, shape = visible_part(whole, canvas, (H, W))
                self._send_image("overview", ov.planes(region, shape), region, None, mode, False, 0.0)
            region, shape = visible_part(view, canvas, self.image_shape)
            classic = "nearest" if mode == "nearest" else "bicubic"
            t0 = time.perf_counter()
            planes = ov.planes(region, shape, classic)
            # Zoomed out, a screen pixel covers an image pixel or more: the area-averaged view is it.
            final = mode in ("bicubic", "nearest") or zoom_factor(view, canvas) < 1.0
            self._send_image(classic, planes, region, view, mode, final, (time.perf_counter() - t0) * 1e3)
            if final:
                return
            check()
            self._ready_overview(progress=self._stop_if_closed)  # LIIF needs the exact value range
            field = self._field
            small = reduced_shape(shape, region)
            t0 = time.perf_counter()
            # Every tile either pass reaches, encoded at once in a few rectangles: the bands below
            # would otherwise each encode their own strip of tiles with a whole halo (at 1:1 on a
            # 512 x 512 canvas, 4.5x the encoder input).
            field.prefetch(region)
            if small is not None:
                planes = self._render_bands(field, small, region, check, detail)
                self._send_image("liif", planes, region, view, mode, False, (time.perf_counter() - t0) * 1e3)
                check()
                t0 = time.perf_counter()
            planes = self._render_bands(field, shape, region, check, detail)
            self._send_image("liif", planes, region, view, mode, True, (time.perf_counter() - t0) * 1e3)
        except Cancelled:
            raise
        except Exception as e:
            with self._send_lock:
                self.send({"type": "error", "text": f"{type(e).__name__}: {e}"})
            raise

    def _stop_if_closed(self, done=None, total=None):
        if self._worker.closed:
            raise Cancelled()

    @staticmethod
    def _render_bands(field, shape, region, check, detail=1.0):
        """LIIF planes of the window, rendered in bands of rows with a staleness check after each."""
        h, w = shape
        step = max(1, BAND_PIXELS // w)
        bands = []
        for r0 in range(0, h, step):
            bands.append(
                field.render_planes(shape, region, rows=(r0, min(h, r0 + step)), progress=check, detail=detail)
            )
            check()
        return np.concatenate(bands, axis=1)

    def _send_image(self, layer, planes, region, view, mode, final, ms):
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
        }
        if final:
            self.last_render = dict(msg)
            self.last_pixels = img
        with self._send_lock:
            self.send(msg, buffers=[png_bytes(img)])
