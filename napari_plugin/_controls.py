"""The controls of the "Resample with LIIF" panel: magicgui widgets in one Container.

Only what the panel shows and the rules between its own controls live here (which size controls
a mode enables; x follows y unless 'y / x separately'). napari_plugin._widget, a subclass, wires
them to the viewer and to the panel's logic (napari_plugin._controller); the choices they offer
are napari_plugin._choices'.
"""

from magicgui.widgets import (
    CheckBox,
    ComboBox,
    Container,
    FloatSpinBox,
    Label,
    ProgressBar,
    PushButton,
    SpinBox,
    Widget,
    create_widget,
)
from magicgui.widgets.bases import RangedWidget
from napari.layers import Image
from qtpy.QtCore import QTimer
from qtpy.QtWidgets import QComboBox, QSizePolicy

from liif_plugin.hub import cache

from ._choices import AUTO, PLANES, PRECISIONS, SCALE_MODE, SHAPE_MODE, SIZE_MODE, devices


def set_clamped(box: RangedWidget, value: float) -> None:
    """Set a number box to `value` brought into its range, as a Qt spin box does (magicgui raises)."""
    box.value = min(max(value, box.min), box.max)


def _side_by_side(*widgets: Widget) -> Container:
    row = Container(widgets=widgets, layout="horizontal", labels=False)
    row.margins = (0, 0, 0, 0)
    return row


def _text(value: str = "") -> Label:
    """A line of text that takes the width it is given and wraps (magicgui's Label keeps its own size)."""
    label = Label(value=value)
    label.native.setWordWrap(True)
    label.native.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
    return label


ISO_TIP = (
    "3D stacks: refine z to the y/x pixel size with LIIF on zx and zy slices (averaged) into a new layer; y and x "
    "stay as they are"
)


def _narrow(combo: Widget) -> None:
    """A picker as wide as about 20 characters, long names elided: a long layer name widened the whole panel
    and left the canvas a sliver."""
    box = combo.native
    box.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
    box.setMinimumContentsLength(20)


def _scale_box() -> FloatSpinBox:
    # Up to x1000 (a figure zoomed far past its pixels); the output size limit refuses what cannot be held.
    b = FloatSpinBox(value=2.0, min=0.05, max=1000.0, step=0.5)
    b.native.setMinimumWidth(80)
    return b


def _shape_box() -> SpinBox:
    b = SpinBox(min=1, max=1_000_000)
    # Wide enough for the largest value: a fixed 80 px showed '1000000' as '1000'.
    b.native.setMinimumWidth(b.native.sizeHint().width())
    return b


class Controls(Container):
    """Every control of the panel, laid out: a labelled form, the buttons, the progress bar and status."""

    def __init__(self):
        super().__init__(labels=False)
        self._registered = sorted(cache.registry(), key=lambda n: n != cache.DEFAULT_MODEL)
        self._paths = []  # checkpoint files offered in the model picker (add_model_path)
        self.auto_choice = ""  # the model 'auto' picks for the layer shown, written beside 'auto' in the picker
        # The picker napari would give a function parameter annotated `napari.layers.Image`;
        # the subclass narrows its choices to the layers LIIF can resample.
        self.layer_combo = create_widget(annotation=Image, label="image layer")
        _narrow(self.layer_combo)
        self.plane_combo = ComboBox(
            choices=PLANES,
            tooltip=(
                "which two axes of a 3D stack are the image: yx (every z slice), or zx / zy (every y or x "
                "section; the first scale and shape value is then z)"
            ),
        )
        self.mode_combo = ComboBox(choices=(SCALE_MODE, SHAPE_MODE, SIZE_MODE))
        self.scale_y, self.scale_x = _scale_box(), _scale_box()
        self.separate = CheckBox(text="y / x separately")
        self.shape_h, self.shape_w = _shape_box(), _shape_box()
        self.lock = CheckBox(text="keep aspect ratio", value=True)
        self.pixel_size = FloatSpinBox(
            value=0.1,
            min=1e-4,
            max=1e6,
            tooltip=("the new layer's pixel size, in the layer's units (its scale); e.g. 0.1 for 0.1 µm pixels"),
        )
        self.pixel_size.native.setDecimals(4)
        self.pixel_now = Label(value="")  # its natural width: the unit in words, unwrapped
        self.all_selected = CheckBox(
            text="every selected image layer",
            tooltip=(
                "Run resamples each selected image layer (e.g. all channels) with these settings, under one "
                "progress bar"
            ),
        )
        self.view_only = CheckBox(
            text="current view only", tooltip="Run renders only the part of the layer visible on the canvas"
        )
        self.model_combo = ComboBox(
            choices=self._model_choices,
            tooltip=(
                "auto: the model that suits this layer (noise, JPEG blocks, microscopy or photo), chosen once per "
                "layer and named in the advice line; or a model of your choice"
            ),
        )
        _narrow(self.model_combo)  # (a checkpoint's path can be long too)
        self.browse = PushButton(
            text="…", tooltip=("use a LIIF checkpoint file (.pth, saved by the LIIF authors' code or by MMagic)")
        )
        self.browse.native.setMaximumWidth(30)
        self.device_combo = ComboBox(choices=devices())
        self.detail = FloatSpinBox(
            value=1.0,
            min=0.0,
            max=1.0,
            step=0.1,
            tooltip=(
                "how much of LIIF's difference from bicubic to keep: 1 is LIIF, 0 is bicubic; lower it for noisy images"
            ),
        )
        self.precision_combo = ComboBox(
            choices=[p for p in PRECISIONS if p != "fp16" or "cuda" in devices()],
            tooltip=(
                "fp32: the authors' exact numbers; bf16/fp16: the MLP in 16 bits (fp16 on CUDA only; bf16 is "
                "fast only on CPUs with AVX512-BF16/AMX and on GPUs); auto: the fastest this hardware runs "
                "natively within 2/255 of fp32 (fp32 on CPUs without bf16)"
            ),
        )
        self.estimate_label = _text()
        self.time_label = _text()
        self.time_label.tooltip = (
            "how long each button takes, from this machine's measured speed for the model, precision and device "
            "(measured once, in a few seconds, the first time they are used)"
        )
        self.advice_label = _text()
        self.advice_label.tooltip = "what the image looks like to LIIF, which model runs and why, and what to change"
        self._row_labels = []  # the form's left column, aligned by align_labels
        form = Container(
            labels=False,
            widgets=[
                self._row("image layer", self.layer_combo),
                self._row("image plane", self.plane_combo),
                self._row("size by", self.mode_combo),
                self._row("scale (y, x)", self.scale_y, self.scale_x),
                self._row("", self.separate),
                self._row("shape (h, w)", self.shape_h, self.shape_w),
                self._row("", self.lock),
                self._row("pixel size", self.pixel_size, self.pixel_now),
                self._row("layers", self.all_selected),
                self._row("region", self.view_only),
                self._row("model", self.model_combo, self.browse),
                self._row("device", self.device_combo),
                self._row("detail", self.detail),
                self._row("precision", self.precision_combo),
                self._row("output", self.estimate_label),
                self._row("time", self.time_label),
                self._row("advice", self.advice_label),
            ],
        )
        form.margins = (0, 0, 0, 0)

        self.preview_btn = PushButton(
            text="Preview", tooltip="render the visible part of the current plane at screen resolution"
        )
        self.run_btn = PushButton(text="Run", tooltip="render the whole layer (every plane) into a new layer")
        self.iso_btn = PushButton(text="Isotropic z", tooltip=ISO_TIP)
        self.cancel_btn = PushButton(text="Cancel", enabled=False)
        self.live = CheckBox(
            text="live LIIF view",
            tooltip=(
                "while on, the visible part of the layer is re-rendered by LIIF at screen resolution after every "
                "pan, zoom or slider change (into a '(LIIF live)' layer)"
            ),
        )
        self.progress = ProgressBar(min=0, max=1000, value=0)
        self.status = _text("ready")
        buttons = _side_by_side(self.preview_btn, self.run_btn, self.iso_btn, self.cancel_btn)
        self.extend([form, buttons, self.live, self.progress, self.status])

        self.mode_combo.changed.connect(self.sync_enabled)
        self.separate.changed.connect(self.sync_enabled)
        self.scale_y.changed.connect(self._follow_y)
        self.native_parent_changed.connect(self._on_docked)
        self.sync_enabled()
        self.align_labels()

    def _row(self, text: str, *widgets: Widget) -> Container:
        """One line of the form: a label in the left column, then the widgets."""
        label = Label(value=text, tooltip=widgets[0].tooltip)
        self._row_labels.append(label)
        return _side_by_side(label, *widgets)

    def align_labels(self) -> None:
        """Give the form's left column the width of its widest label, in the font it is drawn in."""
        for label in self._row_labels:
            label.native.ensurePolished()
        width = max(label.native.sizeHint().width() for label in self._row_labels)
        for label in self._row_labels:
            label.min_width = label.max_width = width

    def _on_docked(self, parent) -> None:
        # napari's style sheet (a larger font) reaches the labels once the dock is in its window.
        if parent is not None:
            QTimer.singleShot(0, self.align_labels)

    def _model_choices(self, _widget=None) -> list:
        # A callable, so that reset_choices (napari calls it on every layer change) keeps added files
        # and shows what 'auto' picks for the layer shown.
        auto = (f"auto ({self.auto_choice})" if self.auto_choice else AUTO, AUTO)
        return [auto] + [(n, n) for n in self._registered + self._paths]

    def show_auto_choice(self, name: str) -> None:
        """Write the model 'auto' picks for the layer shown beside 'auto' in the model picker."""
        if name != self.auto_choice:
            self.auto_choice = name
            self.model_combo.reset_choices()

    def add_model_path(self, path) -> None:
        """Offer a checkpoint file in the model picker and select it."""
        if str(path) not in self.model_combo.choices:  # (its values)
            self._paths.append(str(path))
            self.model_combo.reset_choices()
        self.model_combo.value = str(path)

    def sync_enabled(self) -> None:
        """Enable the size controls of the chosen mode; x equals y unless 'y / x separately'."""
        mode = self.mode_combo.value
        by_scale, by_shape = mode == SCALE_MODE, mode == SHAPE_MODE
        self.scale_y.enabled = self.separate.enabled = by_scale
        self.scale_x.enabled = by_scale and self.separate.value
        self.shape_h.enabled = self.shape_w.enabled = self.lock.enabled = by_shape
        self.pixel_size.enabled = mode == SIZE_MODE
        self._follow_y()

    def _follow_y(self) -> None:
        if not self.separate.value:
            self.scale_x.value = self.scale_y.value
