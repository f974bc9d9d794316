"""Live LIIF view: the visible part of a layer, re-rendered by LIIF after every camera change.

While on, each pan, zoom or dims-slider change (debounced by DEBOUNCE_MS) starts a render of the
view at screen resolution on a napari ``thread_worker``; a newer view cancels the older render at
its next band. The result goes into one overlay layer that sits exactly on the source (the same
geometry as a resample of that region). Each plane keeps a lazy tiled field with a tile cache, so
panning reuses encoded tiles and only the window plus halo of level 0 is ever read. Zoomed out
(a screen pixel covers an image pixel or more) there is nothing for LIIF to add: the overlay is
made transparent and napari shows the layer itself.

The overlay layer is added once, when the live view starts (empty and transparent), and removed
when it stops: adding a layer costs napari 120-290 ms on the main thread (its controls and visual)
and removing one 270-550 ms (a ``gc.collect()``), too long to do on every zoom in and out
(benchmarks/live_gaps.py). In between only its pixels, geometry and opacity change. Transparent,
not hidden: removing a layer with ``visible=False`` later crashed Mesa's ``glDrawArrays`` under
Xvfb in that benchmark.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np
from napari.qt.threading import thread_worker
from qtpy.QtCore import QTimer

from liif_plugin import TiledField
from liif_plugin.errors import message_for
from liif_plugin.runtime import cost
from liif_plugin.runtime.memory import background_priority, release_freed_memory
from liif_plugin.sources.source import Source

from . import _resample as rs
from . import _threads

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
        self.overlay = None
        self.worker = None
        self.pending = False
        self.renders = 0  # finished renders (tests and the status line read it)
        self._fields = {}  # (plane index, precision) -> TiledField with its tile cache
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
        for ev in self._look_events():
            ev.connect(self._sync_look)
        self.viewer.layers.events.removed.connect(self._on_removed)
        self._add_overlay(rs.placeholder_layer(layer, self.overlay_name))
        self.schedule()

    def stop(self):
        """Stop following the camera, cancel a running render and remove the overlay."""
        self._timer.stop()
        self._trim.stop()
        if self.layer is None:
            return
        for ev in self._events():
            ev.disconnect(self.schedule)
        for ev in self._look_events():
            ev.disconnect(self._sync_look)
        self.viewer.layers.events.removed.disconnect(self._on_removed)
        if self.worker is not None:
            self.worker.quit()
        self._remove_overlay()
        self.layer = None
        self._fields.clear()
        self.pending = False

    @property
    def idle(self) -> bool:
        """No render running or waiting: the overlay shows the current view."""
        return self.worker is None and not self.pending and not self._timer.isActive()

    def _events(self):
        """What changes the view: pan, zoom, the dims sliders, the canvas size."""
        v = self.viewer
        return (v.camera.events.zoom, v.camera.events.center, v.dims.events.current_step, v.canvas.events.size)

    def _look_events(self):
        """What changes how the source looks; the overlay follows (cheap: shader uniforms)."""
        ly = self.layer
        evs = [ly.events.opacity, ly.events.blending]
        if not ly.rgb:
            evs += [ly.events.contrast_limits, ly.events.colormap, ly.events.gamma]
        return evs

    def _sync_look(self, event=None):
        ov, ly = self.overlay, self.layer
        if ov is None or ly is None or ov not in self.viewer.layers:
            return
        if ov.opacity != 0 and ov.opacity != ly.opacity:  # transparent stays so until the next render
            ov.opacity = ly.opacity
        if ov.blending != ly.blending:
            ov.blending = ly.blending
        if not ly.rgb:
            if tuple(ov.contrast_limits) != tuple(ly.contrast_limits):
                ov.contrast_limits = ly.contrast_limits
            if ov.colormap.name != ly.colormap.name:
                ov.colormap = ly.colormap
            if ov.gamma != ly.gamma:
                ov.gamma = ly.gamma

    def schedule(self, event=None):
        """A camera change: render again once the camera has been still for DEBOUNCE_MS."""
        if self.layer is not None:
            self._timer.start()

    # -- internals -----------------------------------------------------------------------------
    def _on_removed(self, event):
        if event.value is self.layer:
            self.stop()
            self.on_status("live view off: its layer was removed")
        elif event.value is self.overlay:
            self.overlay = None

    def _add_overlay(self, new):
        self.viewer.add_layer(new)
        self.overlay = new  # our own object (the viewer of a dock widget hands out proxies)
        self.viewer.layers.selection.active = self.layer  # keep the user's selection

    def _remove_overlay(self):
        ov, self.overlay = self.overlay, None
        if ov is not None and ov in self.viewer.layers:
            self.viewer.layers.remove(ov)

    def _hide_overlay(self):
        """Nothing for LIIF to show: make the overlay transparent (a shader uniform, ~1 ms)."""
        ov = self.overlay
        if ov is not None and ov in self.viewer.layers and ov.opacity != 0:
            ov.opacity = 0.0

    @property
    def overlay_shown(self) -> bool:
        """True while the overlay shows a render (False: transparent, or not there)."""
        ov = self.overlay
        return ov is not None and ov in self.viewer.layers and ov.opacity > 0

    def _field(self, model, idx):
        key = (idx, self.precision)
        f = self._fields.pop(key, None)
        if f is None:
            src = Source(rs.level0(self.layer), channels=self.layer.rgb, index=idx, dask_scheduler="synchronous")
            cache_bytes = cost.tuning().tile_cache_bytes // MAX_FIELDS
            f = TiledField(model, src, precision=self.precision, cache_bytes=cache_bytes)
        self._fields[key] = f  # most recent last
        while len(self._fields) > MAX_FIELDS:
            self._fields.pop(next(iter(self._fields)))
        return f

    def _render(self):
        if self.layer is None:
            return
        if self.worker is not None:  # a newer view: stop the old render at its next band, then start
            self.pending = True
            self.worker.quit()
            return
        try:
            view = rs.view_region(self.layer, self.viewer)
        except ValueError as e:  # e.g. the 3D view
            self.on_status(f"live view paused: {message_for(e, 'napari')}")
            self._hide_overlay()
            return
        if view is None:
            self._hide_overlay()
            return
        region, shape = view
        layer, plane = self.layer, rs.current_plane(self.layer, self.viewer)
        zoomed_out = shape[0] <= region[2] - region[0] and shape[1] <= region[3] - region[1]
        if zoomed_out:
            self._hide_overlay()  # napari's own pixels are the picture
            self.on_status("live view: zoom in past 1:1 for LIIF detail")
            known = self._fields.get((plane, self.precision))
            if known is not None and known.value_range is not None:
                return
            # Meanwhile load the model and make the plane's one pass for its value range, so the
            # first zoom in renders at once (a 20000^2 uint16 plane: seconds).

        def job():
            background_priority()  # the viewer's own thread goes first (this pool's threads render only live views)
            model = self.model_for()
            field = self._field(model, plane)
            for done, total in field.range_steps():  # resumes where a cancelled job left it
                yield "range", done, total
            if zoomed_out:
                return None
            return (
                yield from rs.iter_resample(
                    layer,
                    shape=shape,
                    region=region,
                    model=model,
                    lead_index=plane,
                    name=self.overlay_name,
                    detail=self.detail,
                    precision=self.precision,
                    field_for=lambda idx: field,
                )
            )

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

    def _on_yielded(self, value):
        if value and value[0] == "range":
            _, done, total = value
            self.on_status(f"live view: finding the value range of the plane (once), {100 * done // total}% …")

    def _on_done(self, new):
        if new is None or self.layer is None or new.metadata["liif"]["source_layer"] != self.layer.name:
            return
        ov = self.overlay
        if ov is not None and ov in self.viewer.layers:
            self._update_in_place(ov, new)  # no layer-list churn while the user pans and zooms
            if ov.opacity != new.opacity:
                ov.opacity = new.opacity  # shown again (the source's opacity), after its new pixels are in
            self._sync_look()
        else:  # the user removed the overlay: a new one
            self._remove_overlay()
            self._add_overlay(new)
        self.renders += 1
        self.on_status(f"live view: {new.data.shape[-2 - (1 if new.rgb else 0)]} rows rendered")

    def _update_in_place(self, ov, new):
        """Give the overlay the new render's pixels and geometry with the least main-thread work.

        Each of napari's data / scale / translate setters refreshes the layer and makes the viewer
        recompute its dims ranges. A new pixel size (every zoom) moves the displayed axes' point onto
        the new step's grid, and that re-slices every layer: for a big lazy source, a read of its
        whole plane on the main thread (about 200 ms for a 4k x 4k dask array, measured with
        benchmarks/live_gaps.py). The overlay lies inside its source, so only that step could
        change: skip the recomputation, and refresh the overlay once (on the data), not three times.
        `ov` is our own layer object, not the viewer's proxy, so its private helpers are reachable.
        """
        emitters = (ov.events.data, ov.events.scale, ov.events.translate)
        with ExitStack() as quiet:
            for emitter in emitters:
                for hook in _dims_hooks(emitter):
                    quiet.enter_context(emitter.blocker(hook))
            with ov._block_refresh() if hasattr(ov, "_block_refresh") else ExitStack():
                if not np.array_equal(ov.scale, new.scale):
                    ov.scale = new.scale
                if not np.array_equal(ov.translate, new.translate):
                    ov.translate = new.translate
            ov.data = new.data
        ov.metadata = new.metadata

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
            if self.pending:
                self.pending = False
                self._render()


def _dims_hooks(emitter):
    """The viewer's dims-range handler among a layer event's callbacks (napari connects it to every
    layer's data / scale / translate events). Found by its name: if napari renames it, nothing is
    blocked and the update is only slower."""
    for cb in emitter.callbacks:
        if isinstance(cb, tuple) and cb[1] == "_on_layers_change" and (owner := cb[0]()) is not None:
            yield getattr(owner, cb[1])
