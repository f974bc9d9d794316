"""napari: multiscale layers resample from level 0, the live LIIF view follows the camera, isotropic z.

A real headless viewer (pytest-qt + Xvfb); the live view's pixels are checked against the engine's
`liif_plugin.upscale` of the same window.
"""

import numpy as np
import pytest

napari = pytest.importorskip("napari")

import dask.array as da  # noqa: E402
from skimage import data  # noqa: E402

import liif_plugin  # noqa: E402
from liif_plugin.engine import tiles  # noqa: E402
from napari_plugin import _resample as rs  # noqa: E402
from napari_plugin import resample_layer  # noqa: E402

pytestmark = pytest.mark.napari
WAIT = 120_000  # ms; a ceiling for a busy 2-core machine, not a speed check


def open_widget(viewer):
    return viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")[1]


def test_multiscale_layer_resamples_from_level_0(make_napari_viewer, tiny_model):
    viewer = make_napari_viewer()
    img = data.camera()[:96, :80]
    pyr = viewer.add_image([img, img[::2, ::2], img[::4, ::4]], multiscale=True, name="pyr", scale=(0.5, 0.5))
    new = resample_layer(pyr, scale=2, model=tiny_model)
    assert not new.multiscale and new.data.shape == (192, 160)
    np.testing.assert_array_equal(new.data, liif_plugin.upscale(img, scale=2, model=tiny_model))
    np.testing.assert_allclose(new.scale, (0.25, 0.25))
    part = resample_layer(pyr, shape=(40, 30), region=(10, 20, 30, 35), model=tiny_model)
    np.testing.assert_array_equal(
        part.data, liif_plugin.upscale(img, shape=(40, 30), region=(10, 20, 30, 35), model=tiny_model)
    )


def test_live_view_follows_the_camera_on_a_big_dask_layer(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer(show=True)
    base = np.ascontiguousarray(data.astronaut()[..., 1])
    big = da.tile(da.from_array(base, chunks=256), (8, 8))[:4000, :4000]  # 4000 x 4000, read lazily
    layer = viewer.add_image(big, name="big")
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    viewer.window._qt_viewer.canvas.native.resize(160, 120)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)
    whole = big.compute()

    def check(expected_renders):
        qtbot.waitUntil(lambda: w._live.renders >= expected_renders and w._live.idle, timeout=WAIT)
        overlay = viewer.layers["big (LIIF live)"]
        region, shape = rs.view_region(layer, viewer)
        want = liif_plugin.upscale(whole, shape=shape, region=region, model=model)
        assert overlay.data.shape == want.shape
        assert np.abs(overlay.data.astype(int) - want.astype(int)).max() <= 1
        # It sits on the source: its first pixel centre is the region's first output centre.
        y0, x0, y1, x1 = region
        np.testing.assert_allclose(
            overlay.data_to_world((0, 0)),
            layer.data_to_world((y0 - 0.5 + 0.5 * (y1 - y0) / shape[0], x0 - 0.5 + 0.5 * (x1 - x0) / shape[1])),
            atol=1e-6,
        )

    viewer.camera.center = (3950.0, 3930.0)  # the far corner
    viewer.camera.zoom = 4.0
    w.live.value = True
    check(1)
    assert len(w._live._fields) == 1
    field = next(iter(w._live._fields.values()))
    t = field.tile

    def needed():  # the tiles under the current view's reach (liif_plugin.engine.tiles)
        region, shape = rs.view_region(layer, viewer)
        a, b = tiles._reach(shape[0], region[0], region[2], 0, shape[0], 4000, tiles.MARGIN)
        c, d = tiles._reach(shape[1], region[1], region[3], 0, shape[1], 4000, tiles.MARGIN)
        return {(ty, tx) for ty in range(a // t, (b - 1) // t + 1) for tx in range(c // t, (d - 1) // t + 1)}

    tiles_before = field.tiles_encoded
    assert tiles_before and set(field._cache) == needed()  # around the view only
    cached = set(field._cache)
    viewer.camera.center = (3944.0, 3936.0)  # a small pan: only tiles not seen yet are encoded
    check(2)
    needed = needed()
    assert field.tiles_encoded - tiles_before == len(needed - cached) < len(needed)
    viewer.camera.center = (500.0, 700.0)  # far away
    check(3)
    overlay = viewer.layers["big (LIIF live)"]
    viewer.camera.zoom = 0.05  # zoomed out: napari's own pixels; the overlay turns transparent, stays
    qtbot.waitUntil(lambda: not w._live.overlay_shown, timeout=WAIT)
    assert viewer.layers["big (LIIF live)"] is overlay and overlay.opacity == 0
    viewer.camera.zoom = 4.0
    check(4)
    assert viewer.layers["big (LIIF live)"] is overlay and overlay.opacity == layer.opacity
    w.live.value = False
    assert [ly.name for ly in viewer.layers] == ["big"]


def test_live_view_stops_when_its_layer_is_removed(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer(show=True)
    layer = viewer.add_image(data.camera()[:128, :128], name="cam")
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    viewer.camera.zoom = 6.0
    w.live.value = True
    qtbot.waitUntil(lambda: w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    viewer.layers.remove(layer)
    qtbot.wait(300)
    assert not w._live.active and [ly.name for ly in viewer.layers] == []


def test_isotropic_z_from_the_widget(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer()
    stack = np.stack([data.camera()[100 + 8 * k : 132 + 8 * k, 200:240] for k in range(6)]).astype(np.uint16) * 16
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5), translate=(1.0, 0.0, 0.0))
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    w.set_layer(layer)
    w.iso_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    new = viewer.layers["stack (LIIF isotropic z)"]
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    want = liif_plugin.isotropic(stack, (2.0, 0.5, 0.5), model=model, precision=w.precision("run"))
    np.testing.assert_array_equal(new.data, want.data)
    assert new.data.shape == (24, 32, 40) and new.data.dtype == np.uint16
    np.testing.assert_allclose(new.scale, (0.5, 0.5, 0.5))
    # Output slice j sits at input z index -0.5 + (j + 0.5) * 6 / 24: the first at -0.375.
    np.testing.assert_allclose(new.data_to_world((0, 0, 0)), layer.data_to_world((-0.375, 0, 0)), atol=1e-9)
    assert new.metadata["liif"]["operation"] == "isotropic z"
    w.set_layer(viewer.add_image(data.camera()[:32, :32], name="flat"))
    w.iso_btn.native.click()  # a 2D layer: one sentence, nothing added
    assert "3D" in w.status.value and len(viewer.layers) == 3


def test_zx_plane_from_the_widget(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer()
    stack = np.stack([data.camera()[100 + 8 * k : 124 + 8 * k, 200:230] for k in range(5)])
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    w.set_layer(layer)
    w.plane_combo.value = "zx"
    w.mode_combo.value = "pixel size"
    w.pixel_size.value = 0.5  # z: 2.0 -> 0.5 (x4), x stays at 0.5
    assert w.estimate_label.value == "zx sections: 20 × 30 × 24"
    w.run_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    new = viewer.layers["stack (LIIF zx plane)"]
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    want = liif_plugin.resample_planes(
        stack, (4.0, 1.0), plane="zx", spacing=(2.0, 0.5, 0.5), model=model, precision=w.precision("run")
    )
    np.testing.assert_array_equal(new.data, want.data)
    np.testing.assert_allclose(new.scale, (0.5, 0.5, 0.5))
    np.testing.assert_allclose(new.data_to_world((0, 0, 0)), layer.data_to_world((-0.375, 0, 0)), atol=1e-9)
    w.view_only.value = True  # a yx-only option: one sentence, nothing runs
    w.run_btn.native.click()
    assert "untick" in w.status.value and not w.busy


def test_live_overlay_is_updated_in_place_without_reslicing_the_source(make_napari_viewer, qtbot, tiny_model):
    """New zooms and an edge view (another shape) reuse the one overlay layer, and its new pixel size
    does not make napari re-slice the source layer (a read of a whole plane of a big lazy layer)."""
    from napari_plugin._live import LiveView

    viewer = make_napari_viewer(show=True)
    img = data.camera()
    layer = viewer.add_image(img, name="cam")
    viewer.window._qt_viewer.canvas.native.resize(160, 120)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)
    live = LiveView(viewer, lambda: tiny_model)
    viewer.camera.center, viewer.camera.zoom = (200.0, 250.0), 3.0
    live.start(layer)
    overlay = viewer.layers["cam (LIIF live)"]  # added at once, empty and transparent
    assert overlay.opacity == 0 and not live.overlay_shown and viewer.layers.selection.active is layer
    qtbot.waitUntil(lambda: live.renders >= 1 and live.idle, timeout=WAIT)
    assert viewer.layers["cam (LIIF live)"] is overlay and live.overlay_shown
    slices, point, shapes = [], viewer.dims.point, {overlay.data.shape}
    layer.events.set_data.connect(slices.append)
    views = [((200.0, 250.0), 5.0), ((505.0, 508.0), 5.0), ((300.0, 100.0), 2.5)]  # the second is cut by the edge
    for n, (center, zoom) in enumerate(views, start=2):
        viewer.camera.center, viewer.camera.zoom = center, zoom
        qtbot.waitUntil(lambda: live.renders >= n and live.idle, timeout=WAIT)
        assert viewer.layers["cam (LIIF live)"] is overlay
        region, shape = rs.view_region(layer, viewer)
        want = liif_plugin.upscale(img, shape=shape, region=region, model=tiny_model)
        assert overlay.data.shape == want.shape
        assert np.abs(overlay.data.astype(int) - want.astype(int)).max() <= 1
        shapes.add(want.shape)
        scale, translate = rs.geometry(layer, region, shape)
        np.testing.assert_allclose(overlay.scale, scale)
        np.testing.assert_allclose(overlay.translate, translate)
    assert len(shapes) > 1  # the edge view changed the overlay's shape
    assert slices == [] and viewer.dims.point == point
    # The overlay follows how the source looks, at once (no render needed).
    layer.contrast_limits, layer.colormap, layer.opacity = (20, 200), "magma", 0.7
    assert tuple(overlay.contrast_limits) == (20, 200) and overlay.colormap.name == "magma"
    assert overlay.opacity == 0.7
    # Zoomed out and in again: the same layer throughout, never removed and re-added.
    removed = []
    viewer.layers.events.removed.connect(removed.append)
    viewer.camera.zoom = 0.1
    qtbot.waitUntil(lambda: not live.overlay_shown and live.idle, timeout=WAIT)
    viewer.camera.center, viewer.camera.zoom = (100.0, 100.0), 4.0
    qtbot.waitUntil(lambda: live.renders >= len(views) + 2 and live.idle and live.overlay_shown, timeout=WAIT)
    assert removed == [] and viewer.layers["cam (LIIF live)"] is overlay and overlay.opacity == 0.7
    live.stop()
    assert [ly.name for ly in viewer.layers] == ["cam"]


def test_live_view_finds_the_value_range_while_zoomed_out(make_napari_viewer, qtbot, tiny_model):
    """Turned on while zoomed out, the live view loads the model and makes the plane's one value-range
    pass in the background (with its progress in the status line), so the first zoom in only renders."""
    from napari_plugin._live import LiveView

    viewer = make_napari_viewer(show=True)
    base = data.camera().astype(np.uint16) * 13 + 400
    layer = viewer.add_image(da.from_array(np.stack([base, base[::-1]]), chunks=(1, 64, 64)), name="u16")
    viewer.window._qt_viewer.canvas.native.resize(160, 120)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)
    viewer.camera.zoom = 0.1
    status = []
    live = LiveView(viewer, lambda: tiny_model, on_status=status.append)
    live.start(layer)
    qtbot.waitUntil(lambda: bool(live._fields) and live.idle, timeout=WAIT)
    field = next(iter(live._fields.values()))
    assert field.source.dask_scheduler == "synchronous"  # read on the low-priority render thread
    assert field.ranges() == [(400.0, 255 * 13 + 400.0)] and not live.overlay_shown and live.renders == 0
    assert any("value range" in s for s in status)
    reads = field.pixels_encoded
    viewer.camera.center, viewer.camera.zoom = (300.0, 200.0), 4.0
    qtbot.waitUntil(lambda: live.renders >= 1 and live.idle, timeout=WAIT)
    assert field.pixels_encoded > reads and live.overlay_shown
    region, shape = rs.view_region(layer, viewer)
    want = liif_plugin.upscale(base, shape=shape, region=region, model=tiny_model, precision=live.precision)
    got = viewer.layers["u16 (LIIF live)"].data[0]
    assert got.shape == want.shape and np.abs(got.astype(int) - want.astype(int)).max() <= 1
    live.stop()
