"""The "Resample with LIIF" dock widget: the magicgui controls of napari_plugin._controls, at work.

``ResampleWidget`` is a magicgui ``Container`` whose ``__init__`` takes ``napari_viewer``, so
napari (npe2) builds and docks it like the plugin template's widgets, and calls its
``reset_choices`` whenever layers are added, removed, moved or renamed: the layer picker follows.

All model work runs in a napari ``thread_worker`` generator that yields between small bands of
output rows, so the viewer stays responsive and Cancel stops within a fraction of a second. A
result is added to the viewer only when the whole render finished; cancel, error or removing a
source layer adds nothing. One run may cover several layers (every selected image layer, same
settings) under one progress bar, which counts encoding and decoding (napari_plugin._progress).
"""

import weakref
from pathlib import Path

from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from napari.viewer import Viewer
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QMessageBox

import liif_plugin
from liif_plugin.hub import cache
from liif_plugin.quality.noise import warning_for
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.speed import Speed

from . import _resample as rs
from . import _settings
from ._controls import PRECISIONS, SCALE_MODE, SIZE_MODE, Controls, devices, set_clamped
from ._messages import gui_words
from ._progress import Tracker

# Until this machine's speed is measured (on the first run of a model, device and precision):
# about what the released model does on 2 CPU cores. Estimates made with it say they are rough.
ROUGH_SPEED = Speed(encode_px_per_s=8_000, decode_px_per_s=15_000, encode_call_s=0.3)
TICK_MS = 200  # how often the progress bar and the time left are redrawn while a run goes


def _real(obj):
    # napari hands plugins PublicOnlyProxy wrappers; keep the layer itself so identity checks hold.
    return getattr(obj, "__wrapped__", obj)


def _fmt_bytes(n):
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if n < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000


def _plan_kw(kw):
    return {k: v for k, v in kw.items() if k in ("scale", "shape", "region", "lead_index")}


def peak_bytes(works):
    """Memory of a run over several layers: every result is held until the end, one layer works at a time."""
    return sum(wk.output_bytes for wk in works) + max((wk.working_bytes for wk in works), default=0)


def _fmt_time(s):
    return f"{s:.0f} s" if s < 120 else f"{s / 60:.0f} min" if s < 7200 else f"{s / 3600:.1f} h"


class ResampleWidget(Controls):
    # Above either limit Run asks for confirmation first (memory: output plus working buffers;
    # time: at this machine's measured speed).
    CONFIRM_BYTES = 1 << 30
    CONFIRM_SECONDS = 120.0

    def __init__(self, napari_viewer: Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.confirm_box = None
        self._models = {}  # (model, device) -> LiifModel, so repeated runs skip loading
        self._noise_checked = weakref.WeakSet()  # layers already looked at for noise (warn once each)
        self._noise_note = None  # a noise warning from the render thread, for the GUI thread to show
        self._building = False
        self._adding = False
        self._hooks = []
        self.sources = []  # the layers of the run in progress
        self.removed_source = None  # name of a source removed mid-run (which cancelled it)
        self.tracker = None  # progress of the run in progress
        self.last_estimate = None  # (Work of every source, speed, rough?) behind the 'output' line
        self.last_run_estimate = None  # seconds the running (or last) run was estimated to take
        self._timer = QTimer(self.native)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._live = None  # the LiveView while "live LIIF view" is on
        self.layer_combo.choices = self._layer_choices
        self._connect_controls()
        self._restore()
        self._connect_viewer()
        self._on_layer_changed()
        self._on_active()

    def _connect_controls(self):
        self.layer_combo.changed.connect(self._on_layer_changed)
        for w in (
            self.plane_combo,
            self.mode_combo,
            self.separate,
            self.scale_y,
            self.scale_x,
            self.view_only,
            self.pixel_size,
            self.all_selected,
            self.precision_combo,
            self.model_combo,
            self.device_combo,
        ):
            w.changed.connect(self._update_estimate)
        self.shape_h.changed.connect(lambda: self._on_shape(0))
        self.shape_w.changed.connect(lambda: self._on_shape(1))
        self.browse.clicked.connect(self._browse)
        self.preview_btn.clicked.connect(self.preview)
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.iso_btn.clicked.connect(self.isotropic)
        self.live.changed.connect(self._toggle_live)
        self.native_parent_changed.connect(self._on_parent_changed)

    def _say(self, text):
        self.status.value = text

    def _on_shape(self, axis):
        layer = self.layer
        if self._building or layer is None:
            return
        if self.lock.value:
            H, W = rs.spatial_shape(layer)
            self._building = True
            if axis == 0:
                set_clamped(self.shape_w, round(self.shape_h.value * W / H))
            else:
                set_clamped(self.shape_h, round(self.shape_w.value * H / W))
            self._building = False
        if self.live.value and (self._live is None or self._live.layer is not layer):
            self._toggle_live(True)
        self._update_estimate()

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(
            self.native, "LIIF checkpoint", str(Path.home()), "PyTorch checkpoint (*.pth *.pt)"
        )
        if path:
            self.add_model_path(path)

    # -- layers ----------------------------------------------------------------------------
    def _connect_viewer(self):
        ev, selection, camera = (
            self.viewer.layers.events,
            self.viewer.layers.selection.events,
            self.viewer.camera.events,
        )
        self._hooks = [
            (ev.removed, self._on_removed),
            (selection.changed, self._on_selection),
            (selection.active, self._on_active),
            (camera.zoom, self._on_camera),
            (camera.center, self._on_camera),
        ]
        for emitter, cb in self._hooks:
            emitter.connect(cb)

    def _disconnect_viewer(self):
        for emitter, cb in self._hooks:
            emitter.disconnect(cb)
        self._hooks = []
        ev = self.viewer.layers.events  # what napari's add_dock_widget connected (it never disconnects)
        for emitter in (ev.inserted, ev.removed, ev.reordered, ev.renamed):
            emitter.disconnect(self.reset_choices)

    def _layer_choices(self, picker):
        """The picker's choices: the viewer's layers of its annotation (Image) that LIIF can resample."""
        return [
            (ly.name, _real(ly))
            for ly in self.viewer.layers
            if isinstance(ly, picker.annotation) and self.why_not(ly) is None
        ]

    def reset_choices(self, *_) -> None:
        """Refresh the pickers (napari calls this on layer changes); the layer picker keeps its layer
        while the viewer still offers it, renamed or moved."""
        current = self.layer
        self._building = True
        try:
            super().reset_choices()
            if current is not None and self._offers(current):  # magicgui matches by name: a renamed one
                self.layer_combo.value = current
        finally:
            self._building = False
        self._on_layer_changed()

    @staticmethod
    def why_not(layer) -> str | None:
        """Why LIIF cannot resample this layer (one sentence), or None. These handlers run inside
        napari's event loop, so they report instead of raising."""
        try:
            rs.check_layer(_real(layer))
        except (ValueError, TypeError) as e:
            return str(e)
        return None

    def _on_removed(self, event):
        """A source layer removed mid-run cancels the run: its result would belong to nothing."""
        layer = _real(getattr(event, "value", None))
        if self.worker is not None and any(layer is src for src in self.sources):
            self.removed_source = layer.name
            self.worker.quit()
            self._say(f"'{layer.name}' was removed; cancelling its run …")

    def _on_selection(self, event=None):
        if self.all_selected.value:
            self._update_estimate()

    def _on_camera(self, event=None):
        if self.view_only.value:
            self._update_estimate()

    def _on_active(self, event=None):
        if self._adding:  # napari selects a newly added result; the widget stays on its source
            return
        active = self.viewer.layers.selection.active
        if isinstance(active, Image):
            reason = self.why_not(active)
            if reason is None:
                self.set_layer(active)
            else:
                self._say(reason)

    @property
    def layer(self) -> Image | None:
        """The layer picked to resample, or None."""
        return self.layer_combo.value

    def set_layer(self, layer: Image) -> None:
        """Pick the layer to resample (an Image layer in this viewer)."""
        layer = _real(layer)
        rs.check_layer(layer)
        if not self._offers(layer):
            # napari's layer events refresh the picker, perhaps only after the selection event that
            # brought us here (and never for a panel that napari did not dock)
            self.reset_choices()
        if not self._offers(layer):
            raise ValueError(f"layer '{layer.name}' is not in this viewer")
        self.layer_combo.value = layer

    def _offers(self, layer):
        return any(layer is ly for ly in self.layer_combo.choices)

    def _on_layer_changed(self, *_):
        if self._building:
            return
        layer = self.layer
        if layer is not None:
            H, W = rs.spatial_shape(layer)
            self._building = True
            set_clamped(self.shape_h, round(H * self.scale_y.value))
            set_clamped(self.shape_w, round(W * self.scale_x.value))
            self._building = False
            py, px = self.layer_pixel_size(layer)
            unit = self.layer_unit(layer)
            self.pixel_size.native.setSuffix(f" {unit}")
            now = f"{py:.4g}" if py == px else f"{py:.4g} × {px:.4g}"
            self.pixel_now.value = f"now {now} {unit}"
        self._update_estimate()

    @staticmethod
    def layer_pixel_size(layer) -> tuple[float, float]:
        """(y, x) size of one pixel in the layer's units: its scale on the two spatial axes."""
        sy, sx = (abs(float(v)) for v in layer.scale[-2:])
        return sy, sx

    @staticmethod
    def layer_unit(layer) -> str:
        units = getattr(layer, "units", None)
        return "px" if not units or str(units[-1]) == "pixel" else f"{units[-1]:~P}"

    # -- settings -> arguments ---------------------------------------------------------------
    def settings(self, layer: Image | None = None) -> dict:
        """keyword arguments (scale or shape, region) for the current choices; raises ValueError."""
        layer = self.layer if layer is None else layer
        if layer is None:
            raise ValueError("there is no image layer to resample; open an image first")
        region = None
        if self.view_only.value:
            view = rs.view_region(layer, self.viewer)
            if view is None:
                raise ValueError(
                    f"'{layer.name}' is not visible in the current view; pan to it or untick 'current view only'"
                )
            region = view[0]
        mode = self.mode_combo.value
        if mode == SCALE_MODE:
            return {"scale": (self.scale_y.value, self.scale_x.value), "region": region}
        if mode == SIZE_MODE:  # the scale that turns the layer's pixel size into the target
            target = self.pixel_size.value
            py, px = self.layer_pixel_size(layer)
            return {"scale": (py / target, px / target), "region": region}
        return {"shape": (self.shape_h.value, self.shape_w.value), "region": region}

    def targets(self) -> list:
        """The layers Run resamples: the picked one, or every selected resamplable image layer."""
        layer = self.layer
        if not self.all_selected.value:
            return [] if layer is None else [layer]
        chosen = [
            _real(ly)
            for ly in self.viewer.layers
            if ly in self.viewer.layers.selection and isinstance(ly, Image) and self.why_not(ly) is None
        ]
        return chosen or ([] if layer is None else [layer])

    def _update_estimate(self, *args):
        if self._building:
            return
        layer = self.layer
        if layer is None:
            self.estimate_label.value = "no image layer"
            return
        plane = self.plane_combo.value
        if plane != "yx":  # sections of a 3D stack: say what comes out (the estimate is for yx runs)
            try:
                from liif_plugin.api import output_shape

                scale, shape = self.plane_settings(layer)
                axes = {"zx": (0, 2), "zy": (0, 1)}[plane]
                h, w = output_shape(tuple(layer.data.shape[a] for a in axes), scale, shape)
                n = layer.data.shape[{"zx": 1, "zy": 2}[plane]]
                self.estimate_label.value = f"{plane} sections: {h} × {w} × {n}"
            except (ValueError, TypeError) as e:
                self.estimate_label.value = gui_words(str(e))
            return
        try:
            kw = self.settings()
            region, (h, w), n = rs.plan(layer, **kw)
            if "scale" in kw:  # show the shape this scale gives
                self._building = True
                set_clamped(self.shape_h, h)
                set_clamped(self.shape_w, w)
                self._building = False
            works, speed, rough = self.cost([(ly, self.settings(ly)) for ly in self.targets()])
        except (ValueError, TypeError) as e:
            self.estimate_label.value = gui_words(str(e))
            return
        planes = f" × {n} planes" if n > 1 else ""
        layers = f" (and {len(works) - 1} more layer{'s' if len(works) > 2 else ''})" if len(works) > 1 else ""
        out = sum(wk.output_bytes for wk in works)
        secs = sum(wk.seconds(speed) for wk in works)
        guess = " (rough: the first run measures this machine's speed)" if rough else ""
        self.estimate_label.value = (
            f"{h} × {w}{planes}{layers}, output {_fmt_bytes(out)}, memory about {_fmt_bytes(peak_bytes(works))}, "
            f"about {_fmt_time(secs)}{guess}"
        )

    def cost(self, jobs, action: str = "run") -> tuple:
        """(Work of each (layer, kwargs), the speed the time is estimated at, whether that speed is a guess)."""
        model = self._models.get(self._model_key())
        speed = self._stored_speed(model, action)
        works = [rs.estimate(layer, model=model, speed=speed, **_plan_kw(kw)) for layer, kw in jobs]
        self.last_estimate = (works, speed or ROUGH_SPEED, speed is None)
        return self.last_estimate

    def _model_key(self):
        return (self.model_combo.value, self.device_combo.value)

    def _stored_speed(self, model, action):
        """This machine's measured speed for the chosen model, device and precision, or None (not yet measured)."""
        import torch

        from liif_plugin.runtime.hardware import resolve_precision

        device = torch.device(self._device_guess()) if model is None else model.device
        try:
            precision = resolve_precision(self.precision(action), device)
        except ValueError:
            return None
        if model is not None:
            return speeds.stored(model, precision)
        name = self.model_combo.value
        reg = cache.registry()
        if name not in reg:
            return None  # a file not loaded yet: its weights (and speed) are unknown until the first run
        # The published file's sha256 (not hashing the file here, on every change of a control).
        return speeds.stored_for(device, precision, name, reg[name].sha256)

    def precision(self, action: str) -> str:
        """The precision the picker gives `action` ('preview' or 'run')."""
        preview, run = PRECISIONS[self.precision_combo.value]
        return preview if action == "preview" else run

    def _device_guess(self):
        d = self.device_combo.value
        return devices()[-1] if d == "auto" and len(devices()) > 2 else ("cpu" if d == "auto" else d)

    # -- work --------------------------------------------------------------------------------
    @property
    def busy(self) -> bool:
        return self.worker is not None

    def preview(self) -> None:
        """Render the visible part of the plane on screen at screen resolution into a preview layer."""
        if self.busy:
            return
        layer = self.layer
        if layer is None:
            show_warning("LIIF: there is no image layer to preview; open an image first")
            return
        try:
            view = rs.view_region(layer, self.viewer)
            if view is None:
                raise ValueError(f"'{layer.name}' is not visible in the current view; pan to it first")
            region, shape = view
            plane = rs.current_plane(layer, self.viewer)
            rs.plan(layer, shape=shape, region=region)
        except (ValueError, TypeError) as e:
            show_error(f"LIIF preview: {gui_words(str(e))}")
            return
        name = f"{layer.name} (LIIF preview)"
        kw = dict(shape=shape, region=region, lead_index=plane, name=name, precision=self.precision("preview"))
        self._start([(layer, kw)], replace=name)

    def run(self) -> None:
        """Render the whole layer (or the current view; or every selected image layer) into new layers;
        asks first when the run needs much memory or time."""
        if self.busy:
            return
        layers = self.targets()
        if not layers:
            show_warning("LIIF: there is no image layer to resample; open an image first")
            return
        if self.plane_combo.value != "yx":
            self._run_plane(layers[0])
            return
        try:
            jobs = [(layer, self.settings(layer)) for layer in layers]
            works, speed, _ = self.cost(jobs)
        except (ValueError, TypeError) as e:
            show_error(f"LIIF: {gui_words(str(e))}")
            return
        jobs = [(layer, dict(kw, precision=self.precision("run"))) for layer, kw in jobs]
        nbytes, secs = peak_bytes(works), sum(wk.seconds(speed) for wk in works)
        if nbytes > self.CONFIRM_BYTES or secs > self.CONFIRM_SECONDS:
            self._ask(jobs, works, nbytes, secs)
            return
        self._start(jobs)

    def _ask(self, jobs, works, nbytes, secs):
        # Non-modal, so the viewer keeps running while the question is open. (magicgui has no
        # message box; a Qt one it is.)
        out = sum(wk.output_bytes for wk in works)
        box = QMessageBox(
            QMessageBox.Icon.Question,
            "Resample with LIIF",
            f"This needs about {_fmt_bytes(nbytes)} of memory ({_fmt_bytes(out)} of it the result) "
            f"and takes about {_fmt_time(secs)}. Run it?",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No,
            self.native,
        )
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def answered(result):
            self.confirm_box = None
            if result == QMessageBox.StandardButton.Yes.value or box.clickedButton() is box.button(
                QMessageBox.StandardButton.Yes
            ):
                self._start(jobs)
            else:
                self._say("not run")

        box.finished.connect(answered)
        self.confirm_box = box
        self.progress.value = 0  # not the previous run's 100 %
        self._say("waiting for confirmation")
        box.open()

    def _noise_check(self, layer):
        """For a layer's first render at detail 1: a callable that measures the first plane the
        render reads and notes one sentence when the released model meets a noisy image (shown by
        the GUI thread in _on_yielded). None when there is nothing to check."""
        if layer in self._noise_checked or self.detail.value < 1.0:
            return None
        self._noise_checked.add(layer)
        model, done = self.model_combo.value, []

        def check(plane):
            if not done:
                done.append(True)
                msg = warning_for(model, plane, how="lower 'detail' in the LIIF panel (e.g. to 0.3)")
                if msg:
                    self._noise_note = f"LIIF: '{layer.name}': {msg}"

        return check

    def _show_noise_note(self):
        note, self._noise_note = self._noise_note, None
        if note:
            show_warning(note)

    def _start(self, jobs, replace=None):
        """Render [(layer, kwargs), ...] in one worker; the results are added together at the end."""
        key = self._model_key()
        jobs = [(layer, dict(kw, detail=self.detail.value, on_plane=self._noise_check(layer))) for layer, kw in jobs]
        self._save()

        def job():
            from liif_plugin.runtime.hardware import resolve_precision

            model = self._model_for(key)
            precision = resolve_precision(jobs[0][1].get("precision") or model.precision, model.device)
            speed = speeds.stored(model, precision)
            if speed is None:
                yield ("status", "measuring this machine's speed (once for this model, device and precision) …")
                speed = speeds.speed(model, precision)
            yield ("plan", [rs.estimate(layer, model=model, speed=speed, **_plan_kw(kw)) for layer, kw in jobs], speed)
            results = []
            for i, (layer, kw) in enumerate(jobs):
                yield ("layer", i)
                gen = rs.iter_resample(layer, model=model, **kw)
                while True:
                    try:
                        done, total = next(gen)
                    except StopIteration as stop:
                        results.append(stop.value)
                        break
                    yield ("pixels", done, total)
            return results

        self._launch(
            [layer for layer, _ in jobs],
            job,
            f"loading '{key[0]}' …" if key not in self._models else "rendering …",
            replace,
        )

    def plane_settings(self, layer: Image) -> tuple:
        """(scale, shape) for the zx / zy plane of a 3D layer from the size controls; raises ValueError."""
        from . import _volume

        plane = self.plane_combo.value
        sizes = dict(zip("zyx", _volume.check_3d(layer, f"the {plane} plane")))
        if self.view_only.value:
            raise ValueError(f"'current view only' works in the yx plane; untick it to resample the {plane} plane")
        mode = self.mode_combo.value
        if mode == SCALE_MODE:
            return (self.scale_y.value, self.scale_x.value), None
        if mode == SIZE_MODE:
            target = self.pixel_size.value
            return (sizes[plane[0]] / target, sizes[plane[1]] / target), None
        return None, (self.shape_h.value, self.shape_w.value)

    def _run_plane(self, layer):
        """Resample every zx or zy section of a 3D layer into a new layer (liif_plugin.resample_planes)."""
        from liif_plugin.api import output_shape

        from . import _volume

        plane = self.plane_combo.value

        def check(layer):  # the sizes are checked now, in the GUI thread
            scale, shape = self.plane_settings(layer)
            axes = {"zx": (0, 2), "zy": (0, 1)}[plane]
            output_shape(tuple(layer.data.shape[a] for a in axes), scale, shape)
            return lambda model, precision: _volume.iter_plane(layer, model, plane, scale, shape, precision)

        self._run_volume(layer, check, f"{plane} plane …")

    def _run_volume(self, layer, check, text):
        """check(layer) -> start(model, precision) -> generator, or a ValueError shown as one sentence."""
        try:
            if layer is None:
                raise ValueError("there is no image layer; open a 3D stack first")
            start = check(layer)
        except (ValueError, TypeError) as e:
            show_error(f"LIIF: {gui_words(str(e))}")
            self._say(gui_words(str(e)))
            return
        key, precision = self._model_key(), self.precision("run")
        self._save()

        def job():
            return (yield from start(self._model_for(key), precision))

        self._launch([layer], job, text)

    def _launch(self, sources, job, text, replace=None):
        """Run generator `job` on a thread_worker; its results are added when it returns (nothing on cancel)."""
        self.sources = sources
        self.removed_source = None
        self.tracker = None
        worker = thread_worker(
            job,
            start_thread=False,
            connect={
                "yielded": self._on_yielded,
                "returned": lambda new: self._on_done(new, replace),
                "errored": self._on_error,
                "finished": lambda: self._on_finished(worker),
            },
        )()
        self.worker = worker
        self._set_running(True)
        self._say(text)
        worker.start()

    def isotropic(self) -> None:
        """Make the selected 3D stack's voxels cubic (z refined by LIIF) into a new layer."""
        from . import _volume

        if self.busy:
            return

        def check(layer):
            _volume.check_stack(layer)
            return lambda model, precision: _volume.iter_isotropic(layer, model, precision)

        self._run_volume(self.layer, check, "isotropic z …")

    def _model_for(self, key):
        """The LiifModel for (model, device), loaded once (on the worker thread that first needs it)."""
        model = self._models.get(key)
        if model is None:
            model = liif_plugin.load_model(key[0], device=key[1])
            self._models[key] = model
        return model

    # -- live view -----------------------------------------------------------------------------
    def _toggle_live(self, on):
        """Start or stop the live LIIF view of the selected layer (see napari_plugin._live)."""
        from ._live import LiveView

        if not on:
            if self._live is not None:
                self._live.stop()
            self._say("live view off")
            return
        layer = self.layer
        if layer is None:
            self.live.value = False  # (which says "live view off")
            self._say("live view: open an image layer first")
            return
        key = (self.model_combo.value, self.device_combo.value)
        if self._live is None:
            self._live = LiveView(self.viewer, None, on_status=self._say)
        self._live.model_for = lambda: self._model_for(key)
        self._live.precision, self._live.detail = self.precision("preview"), self.detail.value
        self._live.start(layer)

    def cancel(self) -> None:
        """Stop the running render; nothing is added to the viewer."""
        if self.worker is not None:
            self.worker.quit()
            self._say("cancelling …")
        if self.confirm_box is not None:
            self.confirm_box.reject()

    def _on_yielded(self, value):
        self._show_noise_note()
        kind = value[0]
        if kind == "status":
            self._say(value[1])
        elif kind == "fraction":
            self.progress.value = int(1000 * value[1])
        elif kind == "plan":
            self.tracker = Tracker(value[1], value[2])
            self.last_run_estimate = sum(wk.seconds(value[2]) for wk in value[1])
        elif kind == "layer" and self.tracker is not None:
            self.tracker.begin(value[1])
        elif kind == "pixels" and self.tracker is not None:
            self.tracker.update(value[1])
        self._tick()

    def _tick(self):
        """Redraw the bar and the time left from the tracker (also between reports, during an encode)."""
        t = self.tracker
        if t is None or self.worker is None or t.started is None:
            return
        self.progress.value = int(1000 * t.fraction())
        left = t.seconds_left()
        which = f" '{self.sources[t.layer].name}'" if len(self.sources) > 1 else ""
        n = f" ({t.layer + 1} of {len(self.sources)})" if len(self.sources) > 1 else ""
        self._say(f"rendering{which}{n} … {100 * t.fraction():.0f} %, about {_fmt_time(left)} left")

    def _on_done(self, results, replace):
        self.tracker = None  # the render is over: the timer leaves the bar and status line alone
        if any(src not in self.viewer.layers for src in self.sources):
            return  # a source went away as the run ended: its result would belong to nothing
        if replace is not None:
            for old in [ly for ly in self.viewer.layers if ly.name == replace]:
                self.viewer.layers.remove(old)
        self._adding = True
        try:
            for new in results:
                self.viewer.add_layer(new)
        finally:
            self._adding = False
        names = ", ".join(f"'{new.name}' {tuple(new.data.shape)}" for new in results)
        self._say(f"added {names}")
        self.progress.value = 1000

    def _on_error(self, exc):
        msg = gui_words(str(exc))
        show_error(f"LIIF: {msg}")
        self._say(f"failed: {msg}")

    def _on_finished(self, worker):
        self._show_noise_note()
        if self.worker is worker:
            if worker.abort_requested or self.removed_source is not None:
                why = (
                    f"'{self.removed_source}' was removed, so its run was cancelled"
                    if self.removed_source
                    else "cancelled"
                )
                self._say(f"{why}; no layer added")
                self.progress.value = 0
            self.worker = None
            self.tracker = None
            self.sources = []
            self._set_running(False)

    def _set_running(self, running):
        self.preview_btn.enabled = self.run_btn.enabled = self.iso_btn.enabled = not running
        self.cancel_btn.enabled = running
        if running:
            self.progress.value = 0
            self._timer.start()
        else:
            self._timer.stop()

    # -- remembered settings -------------------------------------------------------------------
    def _save(self):
        _settings.save(_settings.values(self))

    def _restore(self):
        self._building = True
        try:
            _settings.restore(self, _settings.load())
        finally:
            self._building = False
        self.sync_enabled()

    # -- closing: stop work, let go of the viewer ----------------------------------------------
    def _teardown(self):
        if not self._hooks:  # torn down already (closed after its dock was removed)
            return
        self._save()
        self.cancel()
        if self._live is not None:
            self._live.stop()
        self._disconnect_viewer()

    def _on_parent_changed(self, parent):
        # napari's dock "x" (remove_dock_widget) detaches the widget (setParent(None)) rather than closing it.
        if parent is None:
            self._teardown()

    def close(self) -> None:
        self._teardown()
        super().close()
