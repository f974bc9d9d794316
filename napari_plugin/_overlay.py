"""The live view's one overlay layer: added once (empty and transparent) when the live view starts,
then only its pixels, geometry, look and opacity change, and it is removed when the live view stops.

Adding a layer costs napari 120-290 ms on the main thread (its controls and visual) and removing one
270-550 ms (a ``gc.collect()``): too long for every zoom in and out (benchmarks/live_gaps.py).
Transparent, not hidden, when LIIF has nothing to show: removing a layer with ``visible=False`` later
crashed Mesa's ``glDrawArrays`` under Xvfb in that benchmark.
"""

from __future__ import annotations

from contextlib import ExitStack

import numpy as np


class Overlay:
    """The overlay of `source` (an Image layer) in `viewer`; `layer` is our own object or None."""

    def __init__(self, viewer):
        self.viewer = viewer
        self.source = None
        self.layer = None

    @property
    def present(self) -> bool:
        return self.layer is not None and self.layer in self.viewer.layers

    @property
    def shown(self) -> bool:
        """True while the overlay shows a render (False: transparent, or not there)."""
        return self.present and self.layer.opacity > 0

    def start(self, source, placeholder) -> None:
        """Add `placeholder` (empty, transparent) over `source` and follow how the source looks."""
        self.source = source
        for ev in self._look_events():
            ev.connect(self.sync_look)
        self._add(placeholder)

    def stop(self) -> None:
        """Stop following the source and remove the overlay."""
        if self.source is not None:
            for ev in self._look_events():
                ev.disconnect(self.sync_look)
        self._remove()
        self.source = None

    def forget(self, layer) -> None:
        """The user removed `layer` from the viewer: if it was the overlay, a new one comes with the next frame."""
        if layer is self.layer:
            self.layer = None

    def hide(self) -> None:
        """Nothing for LIIF to show: make the overlay transparent (a shader uniform, ~1 ms)."""
        if self.present and self.layer.opacity != 0:
            self.layer.opacity = 0.0

    def show(self, new) -> None:
        """Show the render `new` (a layer made by the resample): in place, or as a new overlay if the user
        removed the old one."""
        ov = self.layer
        if self.present:
            update_in_place(ov, new)  # no layer-list churn while the user pans and zooms
            if ov.opacity != new.opacity:
                ov.opacity = new.opacity  # shown again (the source's opacity), after its new pixels are in
            self.sync_look()
        else:
            self._remove()
            self._add(new)

    def sync_look(self, event=None) -> None:
        """Follow the source's opacity, blending and (not RGB) contrast, colormap and gamma (cheap: uniforms)."""
        ov, ly = self.layer, self.source
        if ly is None or not self.present:
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

    def _look_events(self):
        ly = self.source
        evs = [ly.events.opacity, ly.events.blending]
        if not ly.rgb:
            evs += [ly.events.contrast_limits, ly.events.colormap, ly.events.gamma]
        return evs

    def _add(self, new):
        self.layer = new  # our own object (the viewer of a dock widget hands out proxies); set first, so
        self.viewer.add_layer(new)  # what the insertion runs (the panel's layer picker) knows it already
        self.viewer.layers.selection.active = self.source  # keep the user's selection

    def _remove(self):
        ov, self.layer = self.layer, None
        if ov is not None and ov in self.viewer.layers:
            self.viewer.layers.remove(ov)


def update_in_place(ov, new) -> None:
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


def _dims_hooks(emitter):
    """The viewer's dims-range handler among a layer event's callbacks (napari connects it to every
    layer's data / scale / translate events). Found by its name: if napari renames it, nothing is
    blocked and the update is only slower."""
    for cb in emitter.callbacks:
        if isinstance(cb, tuple) and cb[1] == "_on_layers_change" and (owner := cb[0]()) is not None:
            yield getattr(owner, cb[1])
