"""The "Resample with LIIF" dock widget.

All model work runs in a napari ``thread_worker`` generator that yields between small bands of
output rows, so the viewer stays responsive and Cancel stops within a fraction of a second. A
result is added to the viewer only when the whole render finished; cancel, error or removing a
source layer adds nothing. One run may cover several layers (every selected image layer, same
settings) under one progress bar, which counts encoding and decoding (napari_plugin._progress).
"""
import functools
import time
import weakref
from pathlib import Path

from napari.layers import Image
from napari.qt.threading import thread_worker
from napari.utils.notifications import show_error, show_warning
from qtpy.QtCore import QEvent, QTimer
from qtpy.QtWidgets import (
    QCheckBox, QComboBox, QDoubleSpinBox, QFileDialog, QFormLayout, QHBoxLayout, QLabel, QMessageBox,
    QProgressBar, QPushButton, QSpinBox, QVBoxLayout, QWidget,
)

import liif_plugin
from liif_plugin import calibrate, weights
from liif_plugin.calibrate import Speed
from liif_plugin.noise import warning_for

from . import _resample as rs
from . import _settings
from ._messages import gui_words
from ._progress import Tracker

SCALE_MODE, SHAPE_MODE, SIZE_MODE = "scale factor", "output shape", "pixel size"
PLANES = ("yx", "zx", "zy")
# Until this machine's speed is measured (on the first run of a model, device and precision):
# about what the released model does on 2 CPU cores. Estimates made with it say they are rough.
ROUGH_SPEED = Speed(encode_px_per_s=8_000, decode_px_per_s=15_000, encode_call_s=0.3)
TICK_MS = 200  # how often the progress bar and the time left are redrawn while a run goes
# Precision choices: label -> (Preview's, Run's). The default keeps Run's layers exact.
PRECISIONS = {"auto for Preview, fp32 for Run": ("auto", "fp32"), "auto": ("auto", "auto"),
              "fp32": ("fp32", "fp32"), "bf16": ("bf16", "bf16"), "fp16": ("fp16", "fp16")}


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


class ResampleWidget(QWidget):
    # Above either limit Run asks for confirmation first (memory: output plus working buffers;
    # time: at this machine's measured speed).
    CONFIRM_BYTES = 1 << 30
    CONFIRM_SECONDS = 120.0

    def __init__(self, napari_viewer):
        super().__init__()
        self.viewer = napari_viewer
        self.worker = None
        self.confirm_box = None
        self._models = {}  # (model, device) -> LiifModel, so repeated runs skip loading
        self._noise_checked = weakref.WeakSet()  # layers already looked at for noise (warn once each)
        self._noise_note = None  # a noise warning from the render thread, for the GUI thread to show
        self._building = False
        self._adding = False
        self.sources = []  # the layers of the run in progress
        self.removed_source = None  # name of a source removed mid-run (which cancelled it)
        self.tracker = None  # progress of the run in progress
        self.last_estimate = None  # (Work of every source, speed, rough?) behind the 'output' line
        self.last_run_estimate = None  # seconds the running (or last) run was estimated to take
        self._timer = QTimer(self)
        self._timer.setInterval(TICK_MS)
        self._timer.timeout.connect(self._tick)
        self._live = None  # the LiveView while "live LIIF view" is on
        self._build_ui()
        self._restore()
        self._connect_viewer()
        self._refresh_layers()
        self._on_active()

    # -- UI --------------------------------------------------------------------------------
    def _build_ui(self):
        form = QFormLayout()
        self.layer_combo = QComboBox()
        form.addRow("image layer", self.layer_combo)

        self.plane_combo = QComboBox()
        self.plane_combo.addItems(PLANES)
        self.plane_combo.setToolTip("which two axes of a 3D stack are the image: yx (every z slice), or zx / zy "
                                    "(every y or x section; the first scale and shape value is then z)")
        form.addRow("image plane", self.plane_combo)

        self.mode_combo = QComboBox()
        self.mode_combo.addItems([SCALE_MODE, SHAPE_MODE, SIZE_MODE])
        form.addRow("size by", self.mode_combo)

        self.scale_y, self.scale_x = (self._scale_box() for _ in range(2))
        self.separate = QCheckBox("y / x separately")
        row = QHBoxLayout()
        row.addWidget(self.scale_y)
        row.addWidget(self.scale_x)
        form.addRow("scale (y, x)", row)
        form.addRow("", self.separate)

        self.shape_h, self.shape_w = (self._shape_box() for _ in range(2))
        self.lock = QCheckBox("keep aspect ratio")
        self.lock.setChecked(True)
        row = QHBoxLayout()
        row.addWidget(self.shape_h)
        row.addWidget(self.shape_w)
        form.addRow("shape (h, w)", row)
        form.addRow("", self.lock)

        self.pixel_size = QDoubleSpinBox()
        self.pixel_size.setRange(1e-4, 1e6)
        self.pixel_size.setDecimals(4)
        self.pixel_size.setValue(0.1)
        self.pixel_size.setToolTip("the new layer's pixel size, in the layer's units (its scale); "
                                   "e.g. 0.1 for 0.1 µm pixels")
        self.pixel_now = QLabel()
        row = QHBoxLayout()
        row.addWidget(self.pixel_size)
        row.addWidget(self.pixel_now, 1)
        form.addRow("pixel size", row)

        self.all_selected = QCheckBox("every selected image layer")
        self.all_selected.setToolTip("Run resamples each selected image layer (e.g. all channels) with these "
                                     "settings, under one progress bar")
        form.addRow("layers", self.all_selected)

        self.view_only = QCheckBox("current view only")
        self.view_only.setToolTip("Run renders only the part of the layer visible on the canvas")
        form.addRow("region", self.view_only)

        self.model_combo = QComboBox()
        self.model_combo.addItems(sorted(weights.registry(), key=lambda n: n != weights.DEFAULT_MODEL))
        self.browse = QPushButton("…")
        self.browse.setToolTip("use a LIIF checkpoint file (.pth, saved by the LIIF authors' code or by MMagic)")
        self.browse.setMaximumWidth(30)
        row = QHBoxLayout()
        row.addWidget(self.model_combo, 1)
        row.addWidget(self.browse)
        form.addRow("model", row)

        self.device_combo = QComboBox()
        self.device_combo.addItems(self._devices())
        form.addRow("device", self.device_combo)

        self.detail = QDoubleSpinBox()
        self.detail.setRange(0.0, 1.0)
        self.detail.setDecimals(2)
        self.detail.setSingleStep(0.1)
        self.detail.setValue(1.0)
        self.detail.setToolTip("how much of LIIF's difference from bicubic to keep: 1 is LIIF, 0 is bicubic; "
                               "lower it for noisy images")
        form.addRow("detail", self.detail)
        self.precision_combo = QComboBox()
        self.precision_combo.addItems([p for p in PRECISIONS if p != "fp16" or "cuda" in self._devices()])
        self.precision_combo.setToolTip(
            "fp32: the authors' exact numbers; bf16/fp16: the MLP in 16 bits (fp16 on CUDA only; bf16 is "
            "fast only on CPUs with AVX512-BF16/AMX and on GPUs); auto: the fastest this hardware runs "
            "natively within 2/255 of fp32 (fp32 on CPUs without bf16)")
        form.addRow("precision", self.precision_combo)

        self.estimate_label = QLabel()
        self.estimate_label.setWordWrap(True)
        form.addRow("output", self.estimate_label)

        self.preview_btn = QPushButton("Preview")
        self.preview_btn.setToolTip("render the visible part of the current plane at screen resolution")
        self.run_btn = QPushButton("Run")
        self.run_btn.setToolTip("render the whole layer (every plane) into a new layer")
        self.iso_btn = QPushButton("Isotropic z")
        self.iso_btn.setToolTip("3D stacks: refine z to the y/x pixel size with LIIF on zx and zy slices "
                                "(averaged) into a new layer; y and x stay as they are")
        self.cancel_btn = QPushButton("Cancel")
        self.cancel_btn.setEnabled(False)
        buttons = QHBoxLayout()
        for b in (self.preview_btn, self.run_btn, self.iso_btn, self.cancel_btn):
            buttons.addWidget(b)
        self.live = QCheckBox("live LIIF view")
        self.live.setToolTip("while on, the visible part of the layer is re-rendered by LIIF at screen "
                             "resolution after every pan, zoom or slider change (into a '(LIIF live)' layer)")
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setValue(0)
        self.status = QLabel("ready")
        self.status.setWordWrap(True)

        top = QVBoxLayout(self)
        top.addLayout(form)
        top.addLayout(buttons)
        top.addWidget(self.live)
        top.addWidget(self.progress)
        top.addWidget(self.status)
        top.addStretch(1)

        self.layer_combo.currentIndexChanged.connect(self._on_layer_changed)
        self.mode_combo.currentIndexChanged.connect(self._sync_enabled)
        self.plane_combo.currentIndexChanged.connect(self._update_estimate)
        self.separate.toggled.connect(self._sync_enabled)
        self.scale_y.valueChanged.connect(self._on_scale_y)
        self.scale_x.valueChanged.connect(self._update_estimate)
        self.shape_h.valueChanged.connect(lambda v: self._on_shape(0))
        self.shape_w.valueChanged.connect(lambda v: self._on_shape(1))
        self.view_only.toggled.connect(self._update_estimate)
        self.pixel_size.valueChanged.connect(self._update_estimate)
        self.all_selected.toggled.connect(self._update_estimate)
        self.precision_combo.currentIndexChanged.connect(self._update_estimate)
        self.model_combo.currentIndexChanged.connect(self._update_estimate)
        self.device_combo.currentIndexChanged.connect(self._update_estimate)
        self.browse.clicked.connect(self._browse)
        self.preview_btn.clicked.connect(self.preview)
        self.run_btn.clicked.connect(self.run)
        self.cancel_btn.clicked.connect(self.cancel)
        self.iso_btn.clicked.connect(self.isotropic)
        self.live.toggled.connect(self._toggle_live)
        self._sync_enabled()

    @staticmethod
    def _scale_box():
        b = QDoubleSpinBox()
        b.setRange(0.05, 64.0)
        b.setDecimals(2)
        b.setSingleStep(0.5)
        b.setValue(2.0)
        b.setMinimumWidth(80)
        return b

    @staticmethod
    def _shape_box():
        b = QSpinBox()
        b.setRange(1, 1_000_000)
        # Wide enough for the largest value: a fixed 80 px showed '1000000' as '1000'.
        b.setMinimumWidth(b.sizeHint().width())
        return b

    @staticmethod
    @functools.cache
    def _devices():
        import torch

        devs = ["auto", "cpu"]
        if torch.cuda.is_available():
            devs.append("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            devs.append("mps")
        return devs

    def _sync_enabled(self):
        mode = self.mode_combo.currentText()
        by_scale = mode == SCALE_MODE
        self.scale_y.setEnabled(by_scale)
        self.scale_x.setEnabled(by_scale and self.separate.isChecked())
        self.separate.setEnabled(by_scale)
        self.shape_h.setEnabled(mode == SHAPE_MODE)
        self.shape_w.setEnabled(mode == SHAPE_MODE)
        self.lock.setEnabled(mode == SHAPE_MODE)
        self.pixel_size.setEnabled(mode == SIZE_MODE)
        if not self.separate.isChecked():
            self.scale_x.setValue(self.scale_y.value())
        self._update_estimate()

    def _on_scale_y(self, v):
        if not self.separate.isChecked():
            self.scale_x.setValue(v)
        self._update_estimate()

    def _on_shape(self, axis):
        layer = self.layer
        if self._building or layer is None:
            return
        if self.lock.isChecked():
            H, W = rs.spatial_shape(layer)
            self._building = True
            if axis == 0:
                self.shape_w.setValue(max(1, round(self.shape_h.value() * W / H)))
            else:
                self.shape_h.setValue(max(1, round(self.shape_w.value() * H / W)))
            self._building = False
        if self.live.isChecked() and layer is not None and (self._live is None or self._live.layer is not layer):
            self._toggle_live(True)
        self._update_estimate()

    def _browse(self):
        path, _ = QFileDialog.getOpenFileName(self, "LIIF checkpoint", str(Path.home()), "PyTorch checkpoint (*.pth *.pt)")
        if path:
            self.add_model_path(path)

    def add_model_path(self, path):
        """Offer a checkpoint file in the model picker and select it."""
        if self.model_combo.findText(str(path)) < 0:
            self.model_combo.addItem(str(path))
        self.model_combo.setCurrentText(str(path))

    # -- layers ----------------------------------------------------------------------------
    def _connect_viewer(self):
        ev = self.viewer.layers.events
        self._hooks = [(ev.inserted, self._refresh_layers), (ev.removed, self._refresh_layers),
                       (ev.removed, self._on_removed),
                       (self.viewer.layers.selection.events.changed, self._on_selection),
                       (ev.moved, self._refresh_layers), (ev.reordered, self._refresh_layers),
                       (self.viewer.layers.selection.events.active, self._on_active),
                       (self.viewer.camera.events.zoom, self._on_camera),
                       (self.viewer.camera.events.center, self._on_camera)]
        for emitter, cb in self._hooks:
            emitter.connect(cb)

    def _disconnect_viewer(self):
        for emitter, cb in getattr(self, "_hooks", []):
            emitter.disconnect(cb)
        self._hooks = []
        for layer in self.viewer.layers:
            layer.events.name.disconnect(self._refresh_layers)

    def _refresh_layers(self, event=None):
        current = self.layer
        self._building = True
        self.layer_combo.clear()
        for layer in self.viewer.layers:
            if isinstance(layer, Image) and self.why_not(layer) is None:
                self.layer_combo.addItem(layer.name, _real(layer))
            if isinstance(layer, Image):
                layer.events.name.disconnect(self._refresh_layers)
                layer.events.name.connect(self._refresh_layers)
        self._building = False
        if current is not None and current in self.viewer.layers and self.why_not(current) is None:
            self.set_layer(current)
        else:
            self._on_layer_changed()

    @staticmethod
    def why_not(layer):
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
            self.status.setText(f"'{layer.name}' was removed; cancelling its run …")

    def _on_selection(self, event=None):
        if self.all_selected.isChecked():
            self._update_estimate()

    def _on_camera(self, event=None):
        if self.view_only.isChecked():
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
                self.status.setText(reason)

    @property
    def layer(self):
        i = self.layer_combo.currentIndex()
        return self.layer_combo.itemData(i) if i >= 0 else None

    def set_layer(self, layer):
        """Pick the layer to resample (an Image layer in this viewer)."""
        layer = _real(layer)
        rs.check_layer(layer)
        for i in range(self.layer_combo.count()):
            if self.layer_combo.itemData(i) is layer:
                self.layer_combo.setCurrentIndex(i)
                return
        raise ValueError(f"layer '{layer.name}' is not in this viewer")

    def _on_layer_changed(self, index=None):
        if self._building:
            return
        layer = self.layer
        if layer is not None:
            H, W = rs.spatial_shape(layer)
            self._building = True
            self.shape_h.setValue(max(1, round(H * self.scale_y.value())))
            self.shape_w.setValue(max(1, round(W * self.scale_x.value())))
            self._building = False
            py, px = self.layer_pixel_size(layer)
            unit = self.layer_unit(layer)
            self.pixel_size.setSuffix(f" {unit}")
            now = f"{py:.4g}" if py == px else f"{py:.4g} × {px:.4g}"
            self.pixel_now.setText(f"now {now} {unit}")
        self._update_estimate()

    @staticmethod
    def layer_pixel_size(layer):
        """(y, x) size of one pixel in the layer's units: its scale on the two spatial axes."""
        sy, sx = (abs(float(v)) for v in layer.scale[-2:])
        return sy, sx

    @staticmethod
    def layer_unit(layer):
        units = getattr(layer, "units", None)
        return "px" if not units or str(units[-1]) == "pixel" else f"{units[-1]:~P}"

    # -- settings -> arguments ---------------------------------------------------------------
    def settings(self, layer=None):
        """keyword arguments (scale or shape, region) for the current choices; raises ValueError."""
        layer = self.layer if layer is None else layer
        if layer is None:
            raise ValueError("there is no image layer to resample; open an image first")
        region = None
        if self.view_only.isChecked():
            view = rs.view_region(layer, self.viewer)
            if view is None:
                raise ValueError(f"'{layer.name}' is not visible in the current view; pan to it or untick 'current view only'")
            region = view[0]
        mode = self.mode_combo.currentText()
        if mode == SCALE_MODE:
            return {"scale": (self.scale_y.value(), self.scale_x.value()), "region": region}
        if mode == SIZE_MODE:  # the scale that turns the layer's pixel size into the target
            target = self.pixel_size.value()
            py, px = self.layer_pixel_size(layer)
            return {"scale": (py / target, px / target), "region": region}
        return {"shape": (self.shape_h.value(), self.shape_w.value()), "region": region}

    def targets(self):
        """The layers Run resamples: the picked one, or every selected resamplable image layer."""
        layer = self.layer
        if not self.all_selected.isChecked():
            return [] if layer is None else [layer]
        chosen = [_real(ly) for ly in self.viewer.layers
                  if ly in self.viewer.layers.selection and isinstance(ly, Image) and self.why_not(ly) is None]
        return chosen or ([] if layer is None else [layer])

    def _update_estimate(self, *args):
        if self._building:
            return
        layer = self.layer
        if layer is None:
            self.estimate_label.setText("no image layer")
            return
        plane = self.plane_combo.currentText()
        if plane != "yx":  # sections of a 3D stack: say what comes out (the estimate is for yx runs)
            try:
                from liif_plugin.api import output_shape

                scale, shape = self.plane_settings(layer)
                axes = {"zx": (0, 2), "zy": (0, 1)}[plane]
                h, w = output_shape(tuple(layer.data.shape[a] for a in axes), scale, shape)
                n = layer.data.shape[{"zx": 1, "zy": 2}[plane]]
                self.estimate_label.setText(f"{plane} sections: {h} × {w} × {n}")
            except (ValueError, TypeError) as e:
                self.estimate_label.setText(gui_words(str(e)))
            return
        try:
            kw = self.settings()
            region, (h, w), n = rs.plan(layer, **kw)
            if "scale" in kw:  # show the shape this scale gives
                self._building = True
                self.shape_h.setValue(h)
                self.shape_w.setValue(w)
                self._building = False
            works, speed, rough = self.cost([(ly, self.settings(ly)) for ly in self.targets()])
        except (ValueError, TypeError) as e:
            self.estimate_label.setText(gui_words(str(e)))
            return
        planes = f" × {n} planes" if n > 1 else ""
        layers = f" (and {len(works) - 1} more layer{'s' if len(works) > 2 else ''})" if len(works) > 1 else ""
        out = sum(wk.output_bytes for wk in works)
        secs = sum(wk.seconds(speed) for wk in works)
        guess = " (rough: the first run measures this machine's speed)" if rough else ""
        self.estimate_label.setText(
            f"{h} × {w}{planes}{layers}, output {_fmt_bytes(out)}, memory about {_fmt_bytes(peak_bytes(works))}, "
            f"about {_fmt_time(secs)}{guess}")

    def cost(self, jobs, action="run"):
        """(Work of each (layer, kwargs), the speed the time is estimated at, whether that speed is a guess)."""
        model = self._models.get(self._model_key())
        speed = self._stored_speed(model, action)
        works = [rs.estimate(layer, model=model, speed=speed, **_plan_kw(kw)) for layer, kw in jobs]
        self.last_estimate = (works, speed or ROUGH_SPEED, speed is None)
        return self.last_estimate

    def _model_key(self):
        return (self.model_combo.currentText(), self.device_combo.currentText())

    def _stored_speed(self, model, action):
        """This machine's measured speed for the chosen model, device and precision, or None (not yet measured)."""
        from liif_plugin.hardware import resolve_precision
        import torch

        device = torch.device(self._device_guess()) if model is None else model.device
        try:
            precision = resolve_precision(self.precision(action), device)
        except ValueError:
            return None
        if model is not None:
            return calibrate.stored(model, precision)
        name = self.model_combo.currentText()
        reg = weights.registry()
        if name not in reg:
            return None  # a file not loaded yet: its weights (and speed) are unknown until the first run
        # The published file's sha256 (not hashing the file here, on every change of a control).
        return calibrate.stored_for(device, precision, name, reg[name].sha256)

    def precision(self, action):
        """The precision the picker gives `action` ('preview' or 'run')."""
        preview, run = PRECISIONS[self.precision_combo.currentText()]
        return preview if action == "preview" else run

    def _device_guess(self):
        d = self.device_combo.currentText()
        return self._devices()[-1] if d == "auto" and len(self._devices()) > 2 else ("cpu" if d == "auto" else d)

    # -- work --------------------------------------------------------------------------------
    @property
    def busy(self):
        return self.worker is not None

    def preview(self):
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

    def run(self):
        """Render the whole layer (or the current view; or every selected image layer) into new layers;
        asks first when the run needs much memory or time."""
        if self.busy:
            return
        layers = self.targets()
        if not layers:
            show_warning("LIIF: there is no image layer to resample; open an image first")
            return
        if self.plane_combo.currentText() != "yx":
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
        # Non-modal, so the viewer keeps running while the question is open.
        out = sum(wk.output_bytes for wk in works)
        box = QMessageBox(QMessageBox.Icon.Question, "Resample with LIIF",
                          f"This needs about {_fmt_bytes(nbytes)} of memory ({_fmt_bytes(out)} of it the result) "
                          f"and takes about {_fmt_time(secs)}. Run it?",
                          QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.No, self)
        box.setDefaultButton(QMessageBox.StandardButton.No)

        def answered(result):
            self.confirm_box = None
            if result == QMessageBox.StandardButton.Yes.value or box.clickedButton() is box.button(QMessageBox.StandardButton.Yes):
                self._start(jobs)
            else:
                self.status.setText("not run")

        box.finished.connect(answered)
        self.confirm_box = box
        self.progress.setValue(0)  # not the previous run's 100 %
        self.status.setText("waiting for confirmation")
        box.open()

    def _noise_check(self, layer):
        """For a layer's first render at detail 1: a callable that measures the first plane the
        render reads and notes one sentence when the released model meets a noisy image (shown by
        the GUI thread in _on_yielded). None when there is nothing to check."""
        if layer in self._noise_checked or self.detail.value() < 1.0:
            return None
        self._noise_checked.add(layer)
        model, done = self.model_combo.currentText(), []

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
        jobs = [(layer, dict(kw, detail=self.detail.value(), on_plane=self._noise_check(layer))) for layer, kw in jobs]
        self._save()

        def job():
            from liif_plugin.hardware import resolve_precision

            model = self._model_for(key)
            precision = resolve_precision(jobs[0][1].get("precision") or model.precision, model.device)
            speed = calibrate.stored(model, precision)
            if speed is None:
                yield ("status", "measuring this machine's speed (once for this model, device and precision) …")
                speed = calibrate.speed(model, precision)
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

        self._launch([layer for layer, _ in jobs], job,
                     f"loading '{key[0]}' …" if key not in self._models else "rendering …", replace)

    def plane_settings(self, layer):
        """(scale, shape) for the zx / zy plane of a 3D layer from the size controls; raises ValueError."""
        from . import _volume

        plane = self.plane_combo.currentText()
        sizes = dict(zip("zyx", _volume.check_3d(layer, f"the {plane} plane")))
        if self.view_only.isChecked():
            raise ValueError(f"'current view only' works in the yx plane; untick it to resample the {plane} plane")
        mode = self.mode_combo.currentText()
        if mode == SCALE_MODE:
            return (self.scale_y.value(), self.scale_x.value()), None
        if mode == SIZE_MODE:
            target = self.pixel_size.value()
            return (sizes[plane[0]] / target, sizes[plane[1]] / target), None
        return None, (self.shape_h.value(), self.shape_w.value())

    def _run_plane(self, layer):
        """Resample every zx or zy section of a 3D layer into a new layer (liif_plugin.resample_planes)."""
        from liif_plugin.api import output_shape

        from . import _volume

        plane = self.plane_combo.currentText()

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
            self.status.setText(gui_words(str(e)))
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
            job, start_thread=False,
            connect={"yielded": self._on_yielded, "returned": lambda new: self._on_done(new, replace),
                     "errored": self._on_error, "finished": lambda: self._on_finished(worker)},
        )()
        self.worker = worker
        self._set_running(True)
        self.status.setText(text)
        worker.start()

    def isotropic(self):
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
            self.status.setText("live view off")
            return
        layer = self.layer
        if layer is None:
            self.status.setText("live view: open an image layer first")
            self.live.setChecked(False)
            return
        key = (self.model_combo.currentText(), self.device_combo.currentText())
        if self._live is None:
            self._live = LiveView(self.viewer, None, on_status=self.status.setText)
        self._live.model_for = lambda: self._model_for(key)
        self._live.precision, self._live.detail = self.precision("preview"), self.detail.value()
        self._live.start(layer)

    def cancel(self):
        """Stop the running render; nothing is added to the viewer."""
        if self.worker is not None:
            self.worker.quit()
            self.status.setText("cancelling …")
        if self.confirm_box is not None:
            self.confirm_box.reject()

    def _on_yielded(self, value):
        self._show_noise_note()
        kind = value[0]
        if kind == "status":
            self.status.setText(value[1])
        elif kind == "fraction":
            self.progress.setValue(int(1000 * value[1]))
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
        self.progress.setValue(int(1000 * t.fraction()))
        left = t.seconds_left()
        which = f" '{self.sources[t.layer].name}'" if len(self.sources) > 1 else ""
        n = f" ({t.layer + 1} of {len(self.sources)})" if len(self.sources) > 1 else ""
        self.status.setText(f"rendering{which}{n} … {100 * t.fraction():.0f} %, about {_fmt_time(left)} left")

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
        self.status.setText(f"added {names}")
        self.progress.setValue(1000)

    def _on_error(self, exc):
        msg = gui_words(str(exc))
        show_error(f"LIIF: {msg}")
        self.status.setText(f"failed: {msg}")

    def _on_finished(self, worker):
        self._show_noise_note()
        if self.worker is worker:
            if worker.abort_requested or self.removed_source is not None:
                why = f"'{self.removed_source}' was removed, so its run was cancelled" if self.removed_source else "cancelled"
                self.status.setText(f"{why}; no layer added")
                self.progress.setValue(0)
            self.worker = None
            self.tracker = None
            self.sources = []
            self._set_running(False)

    def _set_running(self, running):
        self.preview_btn.setEnabled(not running)
        self.run_btn.setEnabled(not running)
        self.iso_btn.setEnabled(not running)
        self.cancel_btn.setEnabled(running)
        if running:
            self.progress.setValue(0)
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
        self._sync_enabled()

    # -- closing: stop work, let go of the viewer ----------------------------------------------
    def _teardown(self):
        self._save()
        self.cancel()
        if self._live is not None:
            self._live.stop()
        self._disconnect_viewer()

    def closeEvent(self, event):
        self._teardown()
        super().closeEvent(event)

    def event(self, e):
        # napari's dock "x" detaches the widget (setParent(None)) rather than closing it.
        if e.type() == QEvent.Type.ParentChange and self.parent() is None and getattr(self, "_hooks", None):
            self._teardown()
        return super().event(e)
