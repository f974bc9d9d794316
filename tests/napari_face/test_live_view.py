"""The live LIIF view follows the camera: the overlay's pixels are the engine's `liif_plugin.upscale`
of the same window, only tiles around the view are encoded, the overlay is one layer updated in
place, and a zoomed-out view prepares the plane's value range in the background."""

import math

import dask.array as da
import numpy as np
import pytest
from panel_helpers import WAIT, open_widget
from skimage import data

import liif_plugin
from liif_plugin.engine.overview import reduced_view
from liif_plugin.runtime import cost
from napari_plugin import _resample as rs
from napari_plugin._live import LiveView

pytestmark = pytest.mark.napari


def reach(n_out, lo, hi, n_in, margin):
    """Input index range [a, b) that n_out output pixels over [lo, hi) need, `margin` beyond their centres."""
    step = (hi - lo) / n_out
    a = math.floor(lo + 0.5 * step) - margin
    b = math.floor(lo + (n_out - 0.5) * step) + margin + 1
    return max(a, 0), min(b, n_in)


def drawn(overlay, layer, viewer):
    """The region and output shape the overlay was rendered for: the camera's view, moved by less than an
    output pixel onto the last frame's grid after a pan at the same zoom (the rest of it is copied)."""
    meta = overlay.metadata["liif"]
    region, shape = tuple(meta["region"]), tuple(meta["output_shape"])
    view, vshape = rs.view_region(layer, viewer)
    step = (region[2] - region[0]) / shape[0]
    assert np.abs(np.subtract(region, view)).max() <= step and abs(shape[0] - vshape[0]) <= 1
    return region, shape


def same_render(model, image, overlay, shape, region, value_range=None):
    """The engine's render of `image` as the overlay's metadata says it was made (MLP and encoder precision)."""
    meta = overlay.metadata["liif"]
    field = model.open(
        image, precision=meta["precision"], encoder_precision=meta["encoder_precision"], value_range=value_range
    )
    return field.render(shape, region)


def small_canvas(viewer, qtbot):
    viewer.window._qt_viewer.canvas.native.resize(160, 120)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)


@pytest.mark.slow
def test_live_view_follows_the_camera_on_a_big_dask_layer(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer(show=True)
    base = np.ascontiguousarray(data.astronaut()[..., 1])
    big = da.tile(da.from_array(base, chunks=256), (8, 8))[:4000, :4000]  # 4000 x 4000, read lazily
    layer = viewer.add_image(big, name="big")
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    small_canvas(viewer, qtbot)
    whole = big.compute()

    def check(expected_renders):
        qtbot.waitUntil(lambda: w._live.renders >= expected_renders and w._live.idle, timeout=WAIT)
        overlay = viewer.layers["big (LIIF live)"]
        region, shape = drawn(overlay, layer, viewer)
        want = same_render(model, whole, overlay, shape, region)
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
    t, margin = field.tile, cost.tuning().margin

    def needed():  # the tiles under the current view's reach
        region, shape = drawn(viewer.layers["big (LIIF live)"], layer, viewer)
        a, b = reach(shape[0], region[0], region[2], 4000, margin)
        c, d = reach(shape[1], region[1], region[3], 4000, margin)
        return {(ty, tx) for ty in range(a // t, (b - 1) // t + 1) for tx in range(c // t, (d - 1) // t + 1)}

    first = needed()
    assert field.tiles_encoded == len(first)  # the tiles around the view, and only those
    viewer.camera.center = (3944.0, 3936.0)  # a small pan: only tiles not seen yet are encoded
    check(2)
    now = needed()
    assert field.tiles_encoded - len(first) == len(now - first) < len(now)
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
    qtbot.waitUntil(lambda: not w._live.active, timeout=5_000)
    assert [ly.name for ly in viewer.layers] == [] and "removed" in w.status.value
    assert w.live.value is False  # the box says what is on screen: no live view


def test_live_view_follows_the_picked_layer_and_its_model(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer(show=True)
    a = viewer.add_image(data.camera()[:128, :128], name="a")
    b = viewer.add_image(data.camera()[128:256, :128], name="b")
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    w.set_layer(a)
    viewer.camera.zoom = 6.0
    w.live.value = True
    qtbot.waitUntil(lambda: w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    assert w._live.layer is a and "a (LIIF live)" in viewer.layers
    viewer.layers.selection.active = b  # picking another layer moves the live view to it
    qtbot.waitUntil(lambda: w._live.layer is b and w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    assert [ly.name for ly in viewer.layers] == ["a", "b", "b (LIIF live)"]
    assert "b (LIIF live)" not in [name for name, _ in w._layer_choices(w.layer_combo)]  # never a source
    renders = w._live.renders
    w.detail.value = 0.5  # another detail (or model, or precision): the live view renders again with it
    qtbot.waitUntil(lambda: w._live.detail == 0.5 and w._live.renders > renders and w._live.idle, timeout=WAIT)
    viewer.layers.remove(b)  # its layer gone, the live view moves to the one left
    qtbot.waitUntil(lambda: w._live.layer is a and "a (LIIF live)" in viewer.layers, timeout=WAIT)
    assert w.live.value is True and "b (LIIF live)" not in viewer.layers


@pytest.mark.slow
def test_live_overlay_is_updated_in_place_without_reslicing_the_source(make_napari_viewer, qtbot, tiny_model):
    """New zooms and an edge view (another shape) reuse the one overlay layer, and its new pixel size
    does not make napari re-slice the source layer (a read of a whole plane of a big lazy layer)."""
    viewer = make_napari_viewer(show=True)
    img = data.camera()
    layer = viewer.add_image(img, name="cam")
    small_canvas(viewer, qtbot)
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
        region, shape = drawn(overlay, layer, viewer)
        want = same_render(tiny_model, img, overlay, shape, region)
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


@pytest.mark.slow
def test_live_view_finds_the_value_range_while_zoomed_out(make_napari_viewer, qtbot, tiny_model):
    """Turned on while zoomed out, the live view loads the model and makes the plane's one value-range
    pass in the background (with its progress in the status line), so the first zoom in only renders."""
    viewer = make_napari_viewer(show=True)
    base = data.camera().astype(np.uint16) * 13 + 400
    layer = viewer.add_image(da.from_array(np.stack([base, base[::-1]]), chunks=(1, 64, 64)), name="u16")
    small_canvas(viewer, qtbot)
    viewer.camera.zoom = 0.1
    status = []
    live = LiveView(viewer, lambda: tiny_model, on_status=status.append)
    live.start(layer)
    qtbot.waitUntil(lambda: bool(live._fields) and live.idle, timeout=WAIT)
    field = next(iter(live._fields.values()))
    assert field.source.dask_scheduler == "synchronous"  # read on the low-priority render thread
    assert field.value_range == [(400.0, 255 * 13 + 400.0)] and not live.overlay_shown and live.renders == 0
    assert any("value range" in s for s in status)
    reads = field.pixels_encoded
    viewer.camera.center, viewer.camera.zoom = (300.0, 200.0), 4.0
    qtbot.waitUntil(lambda: live.renders >= 1 and live.idle, timeout=WAIT)
    assert field.pixels_encoded > reads and live.overlay_shown
    overlay = viewer.layers["u16 (LIIF live)"]
    region, shape = drawn(overlay, layer, viewer)
    want = same_render(tiny_model, base, overlay, shape, region, value_range=field.value_range)
    got = overlay.data[0]
    assert got.shape == want.shape and np.abs(got.astype(int) - want.astype(int)).max() <= 1
    live.stop()


class CountingPlane:
    """A uint16 plane that records which of its chunks are read."""

    def __init__(self, n, chunk):
        self.shape, self.dtype, self.ndim, self.chunk = (n, n), np.dtype(np.uint16), 2, chunk
        self.read = set()
        self.tile = data.camera().astype(np.uint16) * 11 + 200

    def __getitem__(self, key):
        ys, xs = key
        c = self.chunk
        rows, cols = range(ys.start // c, -(-ys.stop // c)), range(xs.start // c, -(-xs.stop // c))
        self.read |= {(ty, tx) for ty in rows for tx in cols}
        return self.tile[np.ix_(np.arange(ys.start, ys.stop) % 512, np.arange(xs.start, xs.stop) % 512)]


@pytest.mark.slow
def test_live_view_draws_before_any_pass_and_pans_render_only_the_new_strip(make_napari_viewer, qtbot, tiny_model):
    """On a 4096 x 4096 uint16 dask layer without a known range: the first overlay reads only the chunks under
    the view (a provisional range from its window; the exact range is found after the frame), and a pan at
    the same zoom renders only the newly exposed rows and columns, copying the rest."""
    viewer = make_napari_viewer(show=True)
    plane = CountingPlane(4096, 256)
    layer = viewer.add_image(da.from_array(plane, chunks=256, asarray=False), name="u16", contrast_limits=(0, 3000))
    small_canvas(viewer, qtbot)
    viewer.camera.center, viewer.camera.zoom = (1000.0, 3000.0), 4.0
    plane.read.clear()  # what napari itself read to show the layer
    live = LiveView(viewer, lambda: tiny_model)
    seen = {}
    show = live._show

    def first_show(new, full=True):
        field = next(iter(live._fields.values()))
        seen.setdefault("first", (set(plane.read), field.value_range, field.provisional_range))
        return show(new, full)

    live._show = first_show
    live.start(layer)
    qtbot.waitUntil(lambda: live.renders >= 1 and live.idle, timeout=WAIT)
    read, exact, provisional = seen["first"]
    # The view (40 x 30 image pixels) with the encoder's halo lies in chunks (3..4, 11..12) at most.
    assert exact is None and provisional is not None
    assert read <= {(ty, tx) for ty in (3, 4) for tx in (11, 12)}
    field = next(iter(live._fields.values()))
    assert field.value_range == [(200.0, 255 * 11 + 200.0)]  # found after the frame
    # A pan by a few image pixels: the output grid is the last frame's shifted, so only the strip is new.
    renders, before = live.renders, field.pixels_rendered
    overlay = viewer.layers["u16 (LIIF live)"]
    old_shape = tuple(overlay.metadata["liif"]["output_shape"])
    viewer.camera.center = (1002.6, 2997.3)
    qtbot.waitUntil(lambda: live.renders > renders and live.idle, timeout=WAIT)
    h, w = old_shape
    rendered = field.pixels_rendered - before
    assert tuple(overlay.metadata["liif"]["output_shape"]) == old_shape
    assert 0 < rendered <= h * w - (h - 11) * (w - 11)  # 2.6 and 2.7 image pixels at x4: about 11 output pixels
    live.stop()


@pytest.mark.slow
def test_a_live_zoom_shows_a_reduced_frame_from_a_coarser_level_first(make_napari_viewer, qtbot, tiny_model):
    viewer = make_napari_viewer(show=True)
    img = np.tile(data.camera(), (4, 4))  # 2048 x 2048
    layer = viewer.add_image(img, name="cam")
    viewer.window._qt_viewer.canvas.native.resize(640, 480)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (480, 640), timeout=5_000)
    viewer.camera.center, viewer.camera.zoom = (1000.0, 1000.0), 1.5
    live = LiveView(viewer, lambda: tiny_model)
    shapes = []
    show = live._show

    def record(new, full=True):
        shapes.append((full, new.data.shape))
        return show(new, full)

    live._show = record
    live.start(layer)
    qtbot.waitUntil(lambda: live.renders >= 1 and live.idle, timeout=WAIT)
    (first_full, first), (last_full, last) = shapes[0], shapes[-1]
    assert not first_full and first[0] * first[1] <= 2 * 16_384
    assert last_full and last == rs.view_region(layer, viewer)[1]
    coarse = [f for (plane, precision, level), (_, f) in live._coarse.items()]
    region, shape = rs.view_region(layer, viewer)
    assert len(coarse) == 1 and next(iter(live._coarse))[2] == reduced_view(region, shape)[1] > 1
    field = next(iter(live._fields.values()))
    assert 0 < coarse[0].pixels_encoded * 2 < field.pixels_encoded  # the first frame's encode: under half
    live.stop()
