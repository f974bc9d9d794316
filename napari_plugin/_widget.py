"""The "Resample with LIIF" dock widget: the view of napari_plugin._controller, in magicgui and Qt.

``ResampleWidget`` is a magicgui ``Container`` (its controls laid out in napari_plugin._controls)
whose ``__init__`` takes ``napari_viewer``, so napari (npe2) builds and docks it like the plugin
template's widgets, and calls its ``reset_choices`` whenever layers are added, removed, moved or
renamed: the layer picker follows. This module only wires: the controls' values go to the
controller as ``Choices``; its jobs run on napari ``thread_worker``s (napari_plugin._threads); a
QTimer redraws the progress while a run goes; a Qt message box asks before a big run; a file
dialog adds a checkpoint. What to resample, the estimate, the runs, cancelling and what is added to
the viewer are the controller's.

Whenever the picked layer, a setting or the view changes, the panel shows again what Run makes
(the output line), how long each button takes (the time line) and what the image is with the model
that will run and why (the advice line). When this machine's speed for the model and precision is
not measured yet, it is measured on a worker at once (a few seconds) and the time line then says
the calibrated time.
"""

from pathlib import Path

from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.viewer import Viewer
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QFileDialog, QMessageBox

from . import _choices, _settings, _threads, _volume
from . import _resample as rs
from ._choices import Choices, real
from ._controller import ResampleController
from ._controls import ISO_TIP, Controls, set_clamped

TICK_MS = 200  # how often the progress bar and the time left are redrawn while a run goes
VIEW_MS = 200  # after the view stops changing for this long, the Preview's estimate is redone
CHECKPOINTS = "PyTorch checkpoint (*.pth *.pt)"
# Choices field -> the control that holds it (scale and shape are two controls each)
CONTROLS = {
    "plane": "plane_combo",
    "mode": "mode_combo",
    "pixel_size": "pixel_size",
    "view_only": "view_only",
    "all_selected": "all_selected",
    "model": "model_combo",
    "device": "device_combo",
    "detail": "detail",
    "precision": "precision_combo",
}


class ResampleWidget(Controls):
    CALIBRATE = True  # measure this machine's speed on a worker as soon as an estimate lacks it

    def __init__(self, napari_viewer: Viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.controller = ResampleController(napari_viewer, launch=self._launch)
        self.worker = None  # the thread_worker of the running job
        self.confirm_box = None
        self._building = False
        self._hooks = []
        self._timer = QTimer(self.native)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self.controller.tick)
        self._view_timer = QTimer(self.native)  # the Preview's estimate follows the view, once it is still
        self._view_timer.setSingleShot(True)
        self._view_timer.setInterval(VIEW_MS)
        self._view_timer.timeout.connect(self._update_estimate)
        self._calibrating = None  # the worker measuring this machine's speed
        self._live = None  # the LiveView while "live LIIF view" is on
        self._live_starting = False
        self.layer_combo.choices = self._layer_choices
        ev = self.controller.events
        ev.status.connect(lambda e: setattr(self.status, "value", e.value))
        ev.progress.connect(lambda e: setattr(self.progress, "value", e.value))
        ev.running.connect(lambda e: self._set_running(e.value))
        self._connect_controls()
        self._restore()
        self._connect_viewer()
        self._on_layer_changed()
        self._on_active()

    def choices(self) -> Choices:
        """The controls' values, for the controller."""
        values = {name: getattr(self, attr).value for name, attr in CONTROLS.items()}
        scale, shape = (self.scale_y.value, self.scale_x.value), (self.shape_h.value, self.shape_w.value)
        return Choices(scale=scale, shape=shape, **values)

    def _connect_controls(self):
        self.layer_combo.changed.connect(self._on_layer_changed)
        for w in (self.plane_combo, self.mode_combo, self.separate, self.scale_y, self.scale_x, self.view_only):
            w.changed.connect(self._update_estimate)
        for w in (self.pixel_size, self.all_selected, self.precision_combo, self.model_combo, self.device_combo):
            w.changed.connect(self._update_estimate)
        self.detail.changed.connect(self._update_estimate)
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
        self.controller.say(text)

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
        self._update_estimate()

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(self.native, "LIIF checkpoint", str(Path.home()), CHECKPOINTS)
        if path:
            self.add_model_path(path)

    # -- the viewer and the layer picker ------------------------------------------------------
    def _connect_viewer(self):
        v = self.viewer
        ev, selection, camera = v.layers.events, v.layers.selection.events, v.camera.events
        self._hooks = [
            (ev.removed, lambda event: self.controller.layer_removed(real(getattr(event, "value", None)))),
            (selection.changed, lambda event=None: self.all_selected.value and self._update_estimate()),
            (selection.active, self._on_active),
            (camera.zoom, lambda event=None: self._view_timer.start()),
            (camera.center, lambda event=None: self._view_timer.start()),
            (v.dims.events.ndisplay, lambda event=None: self._view_timer.start()),
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
        overlay = None if self._live is None else self._live.overlay  # the live view's own, never a source
        return [
            (ly.name, real(ly))
            for ly in self.viewer.layers
            if isinstance(ly, picker.annotation) and real(ly) is not overlay and not self.why_not(ly)
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

    why_not = staticmethod(_choices.why_not)

    def _on_active(self, event=None):
        if self.controller.adding:  # napari selects a newly added result; the widget stays on its source
            return
        active = self.viewer.layers.selection.active
        if active is None or (self._live is not None and real(active) is self._live.overlay):
            return
        reason = self.why_not(active)  # (a Labels or Shapes layer: why LIIF does not take it)
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
        layer = real(layer)
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
            py, px = _choices.pixel_size(layer)
            now = f"{py:.4g}" if py == px else f"{py:.4g} × {px:.4g}"
            self.pixel_now.value = f"{_choices.unit(layer)} (now {now})"
        self._update_estimate()

    def _update_estimate(self, *_):
        if self._building:
            return
        layer, choices = self.layer, self.choices()
        if layer is not None and choices.model == _choices.AUTO:
            self.show_auto_choice(self.controller.checks.get(layer).auto.name)
        estimate = self.controller.estimate(layer, choices)
        self._building = True
        if layer is not None and choices.mode == _choices.SIZE_MODE:  # the scale a pixel size gives, greyed
            H, W = rs.spatial_shape(layer)
            sy, sx = _choices.size_scale(layer, choices.pixel_size)
            set_clamped(self.scale_y, sy)
            set_clamped(self.scale_x, sx)
            if estimate.shape is None:  # refused (too large): the boxes still show what was asked
                set_clamped(self.shape_h, round(H * sy))
                set_clamped(self.shape_w, round(W * sx))
        if estimate.shape is not None:  # show the shape this scale gives
            set_clamped(self.shape_h, estimate.shape[0])
            set_clamped(self.shape_w, estimate.shape[1])
        self._building = False
        self.estimate_label.value = estimate.text
        self.time_label.value = estimate.time
        self.advice_label.value = estimate.advice
        self._sync_buttons()
        self._follow_live(layer, choices)
        self._calibrate(layer, choices)

    def _calibrate(self, layer, choices):
        """Measure this machine's speed on a worker when the estimates lack it; estimate again after."""
        if self.CALIBRATE and self._calibrating is None:
            calibrate(self, layer, choices)

    # -- work: the controller's jobs on workers -----------------------------------------------
    @property
    def busy(self) -> bool:
        return self.controller.busy

    def preview(self) -> None:
        """Render the visible part of the plane on screen at screen resolution into a preview layer."""
        if not self.busy:
            self._start(self.controller.prepare_preview(self.layer, self.choices()))

    def run(self) -> None:
        """Render the whole layer (or the current view; or every selected image layer; or every zx / zy
        section) into new layers; asks first when the run needs much memory or time."""
        if self.busy:
            return
        job = self.controller.prepare_run(self.layer, self.choices())
        question = None if job is None else self.controller.question(job)
        if question is None:
            self._start(job)
        else:
            self._ask(job, question)

    def isotropic(self) -> None:
        """Make the selected 3D stack's voxels cubic (z refined by LIIF) into a new layer; asks first when
        it takes long."""
        if self.busy:
            return
        job = self.controller.prepare_isotropic(self.layer, self.choices())
        question = None if job is None else self.controller.question(job)
        if question is None:
            self._start(job)
        else:
            self._ask(job, question)

    def cancel(self) -> None:
        """Stop the running render; nothing is added to the viewer."""
        self.controller.cancel()
        if self.confirm_box is not None:
            self.confirm_box.reject()

    def _ask(self, job, question):
        def answered(yes):
            self.confirm_box = None
            if yes:
                self._start(job)
            else:
                self._say("not run")

        self.controller.set_progress(0)  # not the previous run's 100 %
        self._say("waiting for confirmation")
        self.confirm_box = confirm(self.native, question, answered)

    def _start(self, job):
        if job is not None:
            _settings.save(_settings.values(self))
            self.controller.start(job, self.layer, self.choices())

    def _launch(self, controller, job):
        """The controller's launcher: run `job.events()` on a thread_worker, reporting back in this thread."""
        worker = thread_worker(
            job.events,
            start_thread=False,
            connect={
                "yielded": controller.handle,
                "returned": lambda results: controller.finish(job, results),
                "errored": lambda exc: controller.fail(job, exc),
                "finished": lambda: self._on_finished(worker, job),
            },
        )()
        self.worker = worker
        _threads.start(worker, "panel")

    def _on_finished(self, worker, job):
        if self.worker is worker:
            self.worker = None
        self.controller.finished(job)

    def _set_running(self, running):
        self.cancel_btn.enabled = running
        self._sync_buttons()
        if running:
            self._timer.start()
        else:
            self._timer.stop()

    def _sync_buttons(self):
        """Buttons are enabled when they can run; a disabled Isotropic z says why in its tooltip."""
        idle = not self.busy
        self.preview_btn.enabled = self.run_btn.enabled = idle
        why = _volume.why_not_isotropic(self.layer)
        self.iso_btn.enabled = idle and why is None
        self.iso_btn.tooltip = ISO_TIP if why is None else why

    # -- live view ------------------------------------------------------------------------------
    def _toggle_live(self, on):
        """Start or stop the live LIIF view of the selected layer (see napari_plugin._live)."""
        toggle_live(self, on)

    def _follow_live(self, layer, choices):
        """The live view shows what the panel says: it moves to a newly picked layer, starts again with a
        new model, precision or detail, and unticks itself when no layer is left to show."""
        if not self.live.value or self._live_starting:  # (starting adds and removes an overlay: layer events)
            return
        if layer is None:
            gone = self._live is not None and self._live.layer not in (None, *self.viewer.layers)
            with self.live.changed.blocked():
                self.live.value = False
            if self._live is not None:
                self._live.stop()
            self._say("live view off: " + ("its layer was removed" if gone else "there is no image layer"))
        elif (
            self._live is None
            or self._live.layer is not layer
            or self._live.settings != live_settings(self.controller, layer, choices)
        ):
            self._toggle_live(True)

    # -- remembered settings; closing: stop work, let go of the viewer ----------------------------
    def _restore(self):
        self._building = True
        try:
            _settings.restore(self, _settings.load())
        finally:
            self._building = False
        self.sync_enabled()

    def _teardown(self):
        if not self._hooks:  # torn down already (closed after its dock was removed)
            return
        _settings.save(_settings.values(self))
        self.cancel()
        self._view_timer.stop()
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


def confirm(parent, question: str, answered) -> QMessageBox:
    """Ask a yes/no `question`; answered(yes) is called with the answer. Non-modal, so the viewer keeps
    running while the question is open (magicgui has no message box; a Qt one it is)."""
    yes, no = QMessageBox.StandardButton.Yes, QMessageBox.StandardButton.No
    box = QMessageBox(QMessageBox.Icon.Question, "Resample with LIIF", question, yes | no, parent)
    box.setDefaultButton(no)
    box.finished.connect(lambda result: answered(result == yes.value or box.clickedButton() is box.button(yes)))
    box.open()
    return box


def calibrate(widget, layer, choices) -> None:
    """Run the controller's speed measurement (when the estimates lack one) on a worker of the panel's
    pool; the time line says it is measuring, and is estimated again when it is done."""
    measure = widget.controller.calibration(layer, choices)
    if measure is None:
        return

    def done():
        widget._calibrating = None
        widget.controller.measuring = False
        if widget._hooks:  # not closed meanwhile
            widget._update_estimate()

    worker = thread_worker(measure, start_thread=False, connect={"finished": done, "errored": lambda e: None})()
    widget._calibrating = worker
    widget.controller.measuring = True
    widget.time_label.value = widget.controller.estimate(layer, choices).time  # "measuring … now"
    _threads.start(worker, "panel")


def toggle_live(widget, on) -> None:
    """Start or stop the panel's live LIIF view of its layer, with the layer's one model."""
    from ._live import LiveView

    if not on:
        if widget._live is not None:
            widget._live.stop()
        widget._say("live view off")
        return
    layer = widget.layer
    if layer is None:
        widget.live.value = False  # (which says "live view off")
        widget._say("live view: open an image layer first")
        return
    choices, c = widget.choices(), widget.controller
    if widget._live is None:
        widget._live = LiveView(widget.viewer, None, on_status=widget._say)
    live = widget._live
    live.settings = live_settings(c, layer, choices)
    _, key, live.precision, live.detail = live.settings
    live.model_for = lambda: c.model_for(key)
    c.adding = widget._live_starting = True  # napari selects the overlay it adds; the panel stays on its layer
    try:
        widget._live.start(layer)
    finally:
        c.adding = widget._live_starting = False


def live_settings(controller, layer, choices) -> tuple:
    """What a live view of `layer` shows: (layer, the layer's one (model, device), as Run and Preview use,
    precision, detail)."""
    return layer, controller.model_key(layer, choices), choices.precision_for("preview"), choices.detail
