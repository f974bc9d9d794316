"""Live LIIF view: the visible part of a layer, re-rendered by LIIF after every camera change.

While on, each pan, zoom or dims-slider change (debounced by DEBOUNCE_MS) starts a render of the
view at screen resolution on a napari ``thread_worker``; a newer view stops the older render within
one encoder convolution or decoder chunk (the engine's stop hook, tens of ms), and so does a Run or
Preview of the panel, which the live view yields to (it renders again once the panel is idle). The
result goes into one overlay layer that sits exactly on the source (the same geometry as a resample
of that region). Each plane keeps a lazy tiled field with a tile cache, so panning reuses encoded
tiles and only the window plus halo of level 0 is ever read. Zoomed out (a screen pixel covers an
image pixel or more) there is nothing for LIIF to add: the overlay is made transparent and napari
shows the layer itself.

Never wait: a zoom's first overlay is a reduced frame (about 16 k pixels) rendered from a coarser level
(the layer's own pyramid level, or area means of the window), then the full one; a pan at the same zoom
is snapped to the last frame's output grid and renders only the newly exposed strips, copying the rest.
No pass over the plane comes before the first frame: data other than uint8 are drawn with a
provisional value range (the coarsest pyramid level's, or the window's), the exact range is found after
the frame (between bands, stopped by the next camera change and resumed later), and the view is drawn
again only if it really changes (liif_plugin.sources.arrays). Frames encode in bf16 on CPUs with native
bf16 (fp16 on CUDA) when the precision is a 16-bit one (the default 'auto' for previews).

The overlay layer is added once, when the live view starts, and removed when it stops (_overlay.py).
"""

from __future__ import annotations

import threading

import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import QTimer

from liif_plugin import TiledField
from liif_plugin.engine.overview import Overview, reduced_view
from liif_plugin.engine.tiles import REUSE_SHARE, Frame, overlap, shared_share, snap_to_frame
from liif_plugin.errors import Cancelled, message_for
from liif_plugin.runtime import cost
from liif_plugin.runtime.hardware import interactive_encoder_precision, resolve_precision
from liif_plugin.runtime.memory import background_priority, release_freed_memory
from liif_plugin.sources.source import Source

from . import _resample as rs
from . import _threads
from ._overlay import Overlay

DEBOUNCE_MS = 150
MAX_FIELDS = 2  # planes whose tile caches are kept (the ones last looked at); they share the default bound
TRIM_MS = 700  # freed memory goes back to the OS once the view has been still this long


class LiveView:
    """Follows the camera of `viewer` and keeps an overlay of `layer` rendered by `model`."""

    def __init__(self, viewer, model_for, precision="auto", detail=1.0, on_status=None):
        self.viewer = viewer
        self.model_for = model_for  # () -> LiifModel (loaded on the worker thread the first time)
        self.precision, self.detail = precision, detail
        self.on_status = on_status or (lambda text: None)
        self.layer = None
        self.settings = None  # what the panel started it with (napari_plugin._widget.live_settings)
        self._overlay = Overlay(viewer)
        self.worker = None
        self.pending = False
        self.renders = 0  # finished renders (tests and the status line read it)
        self.frames = 0  # overlays shown, reduced frames included
        self._fields = {}  # (plane index, precision) -> TiledField with its tile cache
        self._overviews = {}  # the same keys -> Overview of that plane (its levels, for reduced frames)
        self._coarse = {}  # (plane index, precision, level factor) -> TiledField of that level
        self._frame = None  # (key, Frame) of the last full frame: what a pan at the same zoom reuses
        self._stop = None  # the running render's stop flag (a threading.Event)
        self._timer = QTimer()
        self._timer.setSingleShot(True)
        self._timer.setInterval(DEBOUNCE_MS)
        self._timer.timeout.connect(self._render)
        self._trim = QTimer()
        self._trim.setSingleShot(True)
        self._trim.setInterval(TRIM_MS)
        self._trim.timeout.connect(self._release_memory)

    @property
    def active(self) -> bool:
        return self.layer is not None

    @property
    def overlay_name(self) -> str:
        return f"{self.layer.name} (LIIF live)" if self.layer is not None else ""

    def start(self, layer):
        """Follow the camera for `layer` (an Image layer; multiscale layers read their level 0)."""
        rs.check_layer(layer)
        self.stop()
        self.layer = layer
        for ev in self._events():
            ev.connect(self.schedule)
        self.viewer.layers.events.removed.connect(self._on_removed)
        self._overlay.start(layer, rs.placeholder_layer(layer, self.overlay_name))
        self.schedule()

    def stop(self):
        """Stop following the camera, cancel a running render and remove the overlay."""
        self._timer.stop()
        self._trim.stop()
        if self.layer is None:
            return
        for ev in self._events():
            ev.disconnect(self.schedule)
        self.viewer.layers.events.removed.disconnect(self._on_removed)
        if self.worker is not None:
            self._stop_render()
        self._overlay.stop()
        self.layer = None
        self._fields.clear()
        self._overviews.clear()
        self._coarse.clear()
        self._frame = None
        self.pending = False

    @property
    def idle(self) -> bool:
        """No render running or waiting: the overlay shows the current view."""
        return self.worker is None and not self.pending and not self._timer.isActive()

    def _events(self):
        """What changes the view: pan, zoom, the dims sliders, the canvas size."""
        v = self.viewer
        return (v.camera.events.zoom, v.camera.events.center, v.dims.events.current_step, v.canvas.events.size)

    def schedule(self, event=None):
        """A camera change: render again once the camera has been still for DEBOUNCE_MS."""
        if self.layer is not None:
            self._timer.start()

    # -- internals -----------------------------------------------------------------------------
    def _on_removed(self, event):
        if event.value is self.layer:
            self.stop()
            self.on_status("live view off: its layer was removed")
        else:
            self._overlay.forget(event.value)

    @property
    def overlay(self):
        """The overlay layer (our own object), or None."""
        return self._overlay.layer

    @property
    def overlay_shown(self) -> bool:
        """True while the overlay shows a render (False: transparent, or not there)."""
        return self._overlay.shown

    def _field(self, model, idx):
        key = (idx, self.precision)
        f = self._fields.pop(key, None)
        if f is None:
            layer = self.layer
            levels = list(layer.data[1:]) if layer.multiscale else []
            src = Source(rs.level0(layer), channels=layer.rgb, index=idx, levels=levels, dask_scheduler="synchronous")
            cache_bytes = cost.tuning().tile_cache_bytes // MAX_FIELDS
            precision = resolve_precision(self.precision, model.device)
            f = TiledField(
                model,
                src,
                precision=precision,
                cache_bytes=cache_bytes,
                encoder_precision=interactive_encoder_precision(precision, model.device),
            )
            self._overviews[key] = Overview(src)  # no reads: the levels it knows, read by windows
        self._fields[key] = f  # most recent last
        while len(self._fields) > MAX_FIELDS:
            old = next(iter(self._fields))
            self._fields.pop(old)
            self._overviews.pop(old, None)
            self._coarse = {k: v for k, v in self._coarse.items() if k[:2] != old}
        return f

    def _coarse_field(self, model, key, field, f):
        """The plane at level factor f as a tiled field (its pyramid level, or area means of windows read
        at full resolution), drawn with the plane's range in use; kept per level until the range changes."""
        ck = (*key, f)
        got = self._coarse.get(ck)
        if got is None or got[0] != (field.range_generation, tuple(field.ranges_in_use)):
            coarse = TiledField(
                model,
                self._overviews[key].level_source(f),
                value_range=field.ranges_in_use,
                precision=field.precision,
                cache_bytes=field.cache_bytes // 8,
                encoder_precision=field.encoder_precision,
            )
            got = self._coarse[ck] = ((field.range_generation, tuple(field.ranges_in_use)), coarse)
        return got[1]

    def _stop_render(self):
        """Stop the running render: at its next engine check (encoder convolution, decoder chunk) and, for
        the worker, at its next yield."""
        if self._stop is not None:
            self._stop.set()
        if self.worker is not None:
            self.worker.quit()

    def _render(self):
        if self.layer is None:
            return
        if self.worker is not None:  # a newer view: stop the old render at once, then start
            self.pending = True
            self._stop_render()
            return
        if _threads.busy("panel"):  # a Run or Preview goes first; render when it is done
            _threads.when_idle("panel", self.schedule)
            self.on_status("live view: waiting for the panel's render")
            return
        try:
            view = rs.view_region(self.layer, self.viewer)
        except ValueError as e:  # e.g. the 3D view
            self.on_status(f"live view paused: {message_for(e, 'napari')}")
            self._overlay.hide()
            return
        if view is None:
            self._overlay.hide()
            return
        region, shape = view
        layer, plane = self.layer, rs.current_plane(self.layer, self.viewer)
        zoomed_out = shape[0] <= region[2] - region[0] and shape[1] <= region[3] - region[1]
        if zoomed_out:
            self._overlay.hide()  # napari's own pixels are the picture
            self.on_status("live view: zoom in past 1:1 for LIIF detail")
            known = self._fields.get((plane, self.precision))
            if known is not None and known.value_range is not None:
                return
            # Meanwhile load the model and make the plane's one pass for its value range, so the
            # first zoom in renders at once (a 20000^2 uint16 plane: seconds).
        stop = self._stop = threading.Event()

        def check():
            if stop.is_set() or _threads.busy("panel"):
                raise Cancelled()

        def job():
            background_priority()  # the viewer's own thread goes first (this pool's threads render only live views)
            model = self.model_for()
            key = (plane, self.precision)
            field = self._field(model, plane)
            field.interrupt = check  # the engine asks between encoder convolutions and decoder chunks
            try:
                if zoomed_out:
                    for done, total in field.range_steps():  # resumes where a stopped job left it
                        check()
                        yield "range", done, total
                    return None
                return (yield from self._frames(layer, plane, key, model, field, region, shape, check))
            except Cancelled:
                return "yielded" if _threads.busy("panel") and not stop.is_set() else None

        worker = thread_worker(
            job,
            start_thread=False,
            connect={
                "returned": self._on_done,
                "errored": self._on_error,
                "yielded": self._on_yielded,
                "finished": lambda: self._on_finished(worker),
            },
        )()
        self.worker = worker
        self._trim.stop()
        if not zoomed_out:
            self.on_status(f"live view: rendering {shape[1]} x {shape[0]} …")
        _threads.start(worker, "live")

    def _frames(self, layer, plane, key, model, field, region, shape, check):
        """Generator (on the render thread): the view's frames as ("frame", layer, full) events, then the
        plane's exact value range in the background; returns None."""
        if field.ranges_in_use is None:
            if field.source.range_bands():  # not uint8: a provisional range, no pass before the frame
                H, W = field.full_shape
                y0, x0, y1, x1 = region
                window = (max(0, int(y0) - 2), min(H, int(y1) + 3), max(0, int(x0) - 2), min(W, int(x1) + 3))
                field.provisional_range = self._overviews[key].provisional_ranges(window)
            else:
                field.ranges()
        generation = field.range_generation
        frame_key = (key, self.detail, generation, tuple(field.ranges_in_use))
        last = self._frame
        prev = last[1] if last is not None and last[0] == frame_key else None
        region, shape = snap_to_frame(prev, region, shape, field.full_shape)
        shared = overlap(prev, region, shape)
        if shared is None:
            prev = None
        if shared_share(shared, shape) < REUSE_SHARE:  # a zoom, or a pan that keeps little of the frame
            plan = reduced_view(region, shape)
            if plan is not None:  # the first frame of a zoom: reduced, from a coarser level
                small, f = plan
                ov = self._overviews[key]
                part = field if f == 1 else self._coarse_field(model, key, field, f)
                at = (lambda r: r) if f == 1 else (lambda r: ov.level_region(f, r))
                first = yield from self._render_frame(layer, plane, model, field, part, small, region, at, None)
                yield "frame", first, False
                check()
        kept = _Kept()
        full = yield from self._render_frame(layer, plane, model, field, field, shape, region, None, prev, kept)
        self._frame = (frame_key, Frame(kept.planes, region, shape))
        yield "frame", full, True
        for done, total in field.range_steps():  # the exact range, after the frame (resumed if stopped)
            check()
            yield "range", done, total
        if field.range_generation != generation:  # the provisional range really differed: draw again
            yield ("redraw",)
        return None

    def _render_frame(self, layer, plane, model, field, part, shape, region, at, reuse, kept=None):
        """rs.iter_resample of the view with `part` (the plane's field or a coarser level's) as its field."""
        view = _View(part, field.layout, at, reuse, kept)
        new = yield from rs.iter_resample(
            layer,
            shape=shape,
            region=region,
            model=model,
            lead_index=plane,
            name=self.overlay_name,
            detail=self.detail,
            precision=field.precision,
            field_for=lambda idx: view,
            stop=None if part is field else field.interrupt,  # the plane's field asks its own interrupt
        )
        new.metadata["liif"]["encoder_precision"] = field.encoder_precision
        return new

    def _on_yielded(self, value):
        if not value:
            return
        if value[0] == "range":
            _, done, total = value
            self.on_status(f"live view: finding the value range of the plane (once), {100 * done // total}% …")
        elif value[0] == "frame":
            self._show(value[1], full=value[2])
        elif value[0] == "redraw":
            self.pending = True  # rendered again when this job ends (see _on_finished)

    def _on_done(self, new):
        if new == "yielded":  # a Run or Preview started: render again once the panel is idle
            _threads.when_idle("panel", self.schedule)
            self.on_status("live view: waiting for the panel's render")
        elif new is not None:
            self._show(new, full=True)

    def _show(self, new, full=True):
        if new is None or self.layer is None or new.metadata["liif"]["source_layer"] != self.layer.name:
            return
        self._overlay.show(new)
        self.frames += 1
        if full:
            self.renders += 1
            self.on_status(f"live view: {new.data.shape[-2 - (1 if new.rgb else 0)]} rows rendered")

    def _on_error(self, exc):
        self.on_status(f"live view failed: {message_for(exc, 'napari')}")

    def _release_memory(self):
        # Freed pages back to the OS (liif_plugin.runtime.memory; 10-25 ms), on the main thread: called from
        # the render thread it overlapped napari's GL drawing, and two of three runs of
        # benchmarks/live_gaps.py then crashed inside Mesa's glDrawArrays. Once the view is still,
        # not after each render, where it added to the drawing of the new overlay.
        if self.worker is None:
            release_freed_memory()

    def _on_finished(self, worker):
        self._trim.start()
        if self.worker is worker:
            self.worker = None
            self._stop = None
            if self.pending:
                self.pending = False
                self._render()


class _Kept:
    """Where _View puts the float planes of a full frame (what the next pan reuses)."""

    planes = None


class _View:
    """What rs.iter_resample asks of a field (`source`, `layout`, `parts`), for one live frame: `part` (the
    plane's field, or a coarser level's with `at` mapping the region into its coordinates) rendered into
    the plane's `layout`, the last frame's pixels reused (`reuse`), the planes kept (`kept`); the call's
    `stop` is passed through."""

    def __init__(self, part, layout, at=None, reuse=None, kept=None):
        self.part, self.layout, self.at, self.reuse, self.kept = part, layout, at, reuse, kept
        self.source = part.source

    def parts(self, shape, region, **kwargs):
        if self.kept is not None:
            self.kept.planes = np.empty((self.part.source.n_planes, *shape, 3), np.float32)
        region = self.at(region) if self.at is not None else region
        pieces = self.part.parts(shape, region, reuse=self.reuse, **kwargs)
        for (r0, r1), (c0, c1), planes in pieces:
            if self.kept is not None:
                self.kept.planes[:, r0:r1, c0:c1] = planes
            yield (r0, r1), (c0, c1), planes
