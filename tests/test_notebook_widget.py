"""ZoomWidget logic in the kernel: viewport rules, rendering, the background pipeline.

Real weights and the real widget class; what the browser does is covered by test_notebook_browser.py.
"""

import io
import threading

import numpy as np
import pytest
import traitlets
from PIL import Image
from skimage import data

import liif_plugin as liif
from liif_plugin.notebook import ZoomWidget
from liif_plugin.notebook.pixels import ClassicResampler, to_display
from liif_plugin.notebook.view import MAX_ZOOM, fit_viewport, visible_part, zoom_factor
from liif_plugin.notebook.worker import LatestWorker
from liif_plugin.sources import arrays


@pytest.fixture(scope="module")
def model():
    return liif.load_model()


@pytest.fixture(scope="module")
def rgb():
    return np.ascontiguousarray(data.astronaut()[100:148, 180:228])  # 48x48 face crop


def collect(widget):
    """Record what the widget sends to the browser (content and PNG buffers)."""
    sent = []
    lock = threading.Lock()

    def record(content, buffers=None):
        with lock:
            sent.append((content, buffers))

    widget.send = record  # the comm has no browser at the other end here
    return sent


# -- viewport rules -----------------------------------------------------------------------------
def test_fit_keeps_window_and_canvas_aspect():
    v = fit_viewport([10, 10, 20, 20], (100, 200), (64, 64))
    assert v[2] - v[0] == pytest.approx(10) and v[3] - v[1] == pytest.approx(20)
    assert ((v[0] + v[2]) / 2, (v[1] + v[3]) / 2) == pytest.approx((15, 15))
    assert zoom_factor(v, (100, 200)) == pytest.approx(10)


def test_fit_clamps_zoom_out_to_whole_image_and_centres():
    v = fit_viewport([-500, -500, 900, 900], (100, 200), (64, 32))
    # The whole 64x32 image fits 100 px high: zoom 100/64, window 64 high and 128 wide, centred.
    assert v == pytest.approx([0, 16 - 64, 64, 16 + 64])


def test_fit_clamps_pan_and_zoom_in():
    v = fit_viewport([-5, 50, 5, 70], (100, 100), (64, 64))  # dragged past the top-right corner
    assert v == pytest.approx([0, 44, 20, 64])
    v = fit_viewport([30, 30, 30.0001, 30.0001], (100, 100), (64, 64))
    assert zoom_factor(v, (100, 100)) == pytest.approx(MAX_ZOOM)


def test_visible_part_cuts_the_window_to_the_image():
    region, shape = visible_part([0, -16, 32, 48], (64, 128), (32, 32))
    assert region == (0, 0, 32, 32) and shape == (64, 64)


# -- widget state ---------------------------------------------------------------------------------
def test_widget_opens_fitted_and_validates(model, rgb):
    w = ZoomWidget(rgb, model=model, height=64, canvas_shape=[64, 128])
    try:
        assert w.image_shape == [48, 48]
        assert w.viewport == pytest.approx([0, -24, 48, 72])  # whole image, fitted, centred
        w.viewport = [-100, -100, 500, 500]
        assert w.viewport == pytest.approx([0, -24, 48, 72])  # zooming out past the image is clamped
        with pytest.raises(traitlets.TraitError, match="empty"):
            w.viewport = [5, 5, 5, 9]
        with pytest.raises(traitlets.TraitError, match="four numbers"):
            w.viewport = [1, 2, 3]
        with pytest.raises(traitlets.TraitError):
            w.mode = "lanczos"
        with pytest.raises(traitlets.TraitError, match="canvas_shape"):
            w.canvas_shape = [0, 10]
        w.canvas_shape = [64, 64]  # the browser reports a narrower canvas: still the whole image
        assert w.viewport == pytest.approx([0, 0, 48, 48])
    finally:
        w.close()


def test_bad_images_and_sizes_raise_one_clear_error(model):
    with pytest.raises(ValueError, match="expected an image"):
        ZoomWidget(np.zeros(8, np.uint8), model=model)
    with pytest.raises(TypeError, match="bool"):
        ZoomWidget(np.zeros((8, 8), bool), model=model)
    with pytest.raises(ValueError, match="NaN"):
        ZoomWidget(np.full((8, 8), np.nan, np.float32), model=model)
    with pytest.raises(ValueError, match="height"):
        ZoomWidget(np.zeros((8, 8), np.uint8), model=model, height=0)
    with pytest.raises(FileNotFoundError):
        ZoomWidget(np.zeros((8, 8), np.uint8), model="/nonexistent/liif.pth")


def test_a_notebook_shows_a_bad_input_as_its_one_sentence(model, capsys):
    """IPython (Jupyter's kernel) prints the sentence alone, not a 30-line traceback: for the widget's
    input, for its traits, and for the engine's own errors (LiifError) from any cell."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    shell.user_ns.update(np=np, ZoomWidget=ZoomWidget, liif=liif, model=model)
    cells = {
        "ZoomWidget(np.full((64, 64), np.nan, np.float32), model=model)": "LiifError: the image contains NaN",
        "ZoomWidget(np.arange(100, dtype=np.uint8), model=model)": "ValueError: expected an image",
        "ZoomWidget('/no/such/image.tif', model=model)": "FileNotFoundError: /no/such/image.tif does not exist",
        "w = ZoomWidget(np.zeros((64, 64), np.uint8), model=model); w.detail = 2": "TraitError: detail",
        "w.index = [9]": "TraitError: index must pick one image",
        "liif.upscale(np.full((8, 8), np.inf), scale=2, model=model)": "LiifError: the image contains NaN or inf",
    }
    try:
        for cell, first in cells.items():
            capsys.readouterr()
            result = shell.run_cell(cell)
            shown = [ln for ln in capsys.readouterr().out.splitlines() if ln.strip()]
            assert result.error_in_exec is not None and len(shown) == 1 and first in shown[0], (cell, shown)
    finally:
        shell.user_ns["w"].close()
        InteractiveShell.clear_instance()


@pytest.mark.parametrize("kind", ["gray", "rgb", "uint16"])
def test_render_viewport_is_the_liif_render_of_the_window(model, rgb, kind):
    img = {"gray": rgb[..., 1], "rgb": rgb, "uint16": (rgb[..., 0].astype(np.uint16) * 16)}[kind]
    w = ZoomWidget(img, model=model, height=48, canvas_shape=[40, 60])
    try:
        w.viewport = [10, 10, 20, 25]
        assert w.zoom == pytest.approx(4.0)
        out = w.render_viewport()
        assert out.dtype == img.dtype and out.shape[:2] == (40, 60) and out.shape[2:] == img.shape[2:]
        expected = model.encode(img, precision=w.precision, encoder_precision=w.encoder_precision).render(
            (40, 60), (10, 10, 20, 25)
        )
        np.testing.assert_array_equal(out, expected)
        bic = w.render_viewport("bicubic")
        assert bic.dtype == img.dtype and bic.shape == out.shape
        assert not np.array_equal(bic, out)  # a different method, a different picture
        if kind == "uint16":
            assert out.max() > 255 and out.max() <= img.max() + 16  # kept in the 12-bit range
    finally:
        w.close()


def test_image_larger_than_canvas_opens_fitted(model):
    img = data.camera()[::2, ::2][:200, :240]  # 200x240 in a 50x100 canvas
    w = ZoomWidget(img, model=model, height=50, canvas_shape=[50, 100])
    try:
        assert w.zoom == pytest.approx(0.25)
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        assert region == pytest.approx((0, 0, 200, 240)) and shape == (50, 60)
        assert w.render_viewport("bicubic").shape == (50, 60)
    finally:
        w.close()


# -- the background pipeline ------------------------------------------------------------------------
def test_each_view_gets_a_preview_then_liif_as_png(model, rgb):
    w = ZoomWidget(rgb, model=model, height=64, canvas_shape=[64, 96])
    sent = collect(w)
    try:
        w.viewport = [8, 8, 24, 32]  # a 16x24 window at x4 in a 64x96 canvas
        assert w.wait(120)
        kinds = [(c["layer"], c["final"]) for c, _ in sent if c["layer"] != "overview"]
        assert kinds[0] == ("bicubic", False) and kinds[-1] == ("liif", True)
        content, buffers = sent[-1]
        assert content["viewport"] == pytest.approx(w.viewport) and content["shape"] == [64, 96]
        assert isinstance(buffers[0], bytes) and buffers[0][:8] == b"\x89PNG\r\n\x1a\n"
        shown = np.asarray(Image.open(io.BytesIO(buffers[0])))
        np.testing.assert_array_equal(shown, w.render_viewport())  # the screen gets exactly the render
        assert w.last_render["layer"] == "liif" and w.last_render["ms"] > 0
    finally:
        w.close()


def test_big_canvas_gets_a_reduced_liif_pass_first(model, rgb):
    w = ZoomWidget(rgb, model=model, height=192, canvas_shape=[192, 384])
    sent = collect(w)
    try:
        w.viewport = [0, 0, 24, 48]
        assert w.wait(300)
        liif_msgs = [c for c, _ in sent if c["layer"] == "liif"]
        assert [c["final"] for c in liif_msgs] == [False, True]
        low, full = liif_msgs
        assert low["shape"][0] * low["shape"][1] < full["shape"][0] * full["shape"][1] // 4
        assert full["shape"] == [192, 384]
    finally:
        w.close()


def test_no_reduced_pass_when_it_would_be_coarser_than_the_image(model):
    # Zoom x1.6: a 16 k-pixel pass would show fewer pixels than the image has there (less than the
    # bicubic frame on screen), so LIIF goes straight to the full render.
    w = ZoomWidget(np.ascontiguousarray(data.astronaut()[:200, :200]), model=model, height=256, canvas_shape=[256, 256])
    sent = collect(w)
    try:
        w.viewport = [0, 0, 160, 160]
        assert w.wait(300)
        assert [(c["final"], c["shape"]) for c, _ in sent if c["layer"] == "liif"] == [(True, [256, 256])]
    finally:
        w.close()
    # A canvas big enough for a reduced pass (384 x 640 at x1.5, as in JupyterLab): a frame from a coarser
    # level would still be blurrier than the bicubic frame drawn from the image itself (it showed for 5 s).
    w = ZoomWidget(np.ascontiguousarray(data.astronaut()), model=model, height=384, canvas_shape=[384, 640])
    sent = collect(w)
    try:
        w.viewport = [0, 0, 256, 426.67]
        assert w.wait(300)
        assert [c["final"] for c, _ in sent if c["layer"] == "liif"] == [True]
    finally:
        w.close()


def test_stale_render_is_dropped_not_finished(model, rgb):
    w = ZoomWidget(rgb, model=model, height=64, canvas_shape=[128, 128])
    sent = collect(w)
    try:
        field = w.field
        started, go = threading.Event(), threading.Event()
        original = field.render_planes

        def watched(*args, **kwargs):  # the real render; it only holds its first band until the test moved on
            if not started.is_set():
                started.set()
                go.wait(30)
            return original(*args, **kwargs)

        field.render_planes = watched
        w.viewport = [0, 0, 12, 12]
        assert started.wait(60)
        w.viewport = [30, 30, 42, 42]  # arrives while the first LIIF render runs
        go.set()
        assert w.wait(120)
        finals = [c for c, _ in sent if c["final"]]
        assert len(finals) == 1 and finals[0]["viewport"] == pytest.approx([30, 30, 42, 42])
        liif_views = [c["viewport"] for c, _ in sent if c["layer"] == "liif"]
        assert liif_views == [pytest.approx([30, 30, 42, 42])]  # nothing of the stale view reached the page
        assert w.stats["dropped"] == 1 and not w.stats["errors"]
    finally:
        w.close()


def test_modes_bicubic_nearest_compare(model, rgb):
    w = ZoomWidget(rgb, model=model, height=32, canvas_shape=[32, 32])
    sent = collect(w)
    try:
        w.viewport = [0, 0, 8, 8]
        assert w.wait(120)
        for mode, layers in [("nearest", ["nearest"]), ("bicubic", ["bicubic"]), ("compare", ["bicubic", "liif"])]:
            sent.clear()
            w.mode = mode
            assert w.wait(120)
            got = [c["layer"] for c, _ in sent if c["layer"] != "overview"]
            assert got == layers and sent[-1][0]["final"]
        nearest = w.render_viewport("nearest")
        np.testing.assert_array_equal(nearest[::4, ::4], rgb[:8, :8])  # x4 nearest repeats each pixel
    finally:
        w.close()


def test_hello_from_a_new_view_resends_overview(model, rgb):
    w = ZoomWidget(rgb, model=model, height=32, canvas_shape=[32, 32])
    sent = collect(w)
    try:
        w._handle_custom_msg({"type": "hello"}, [])
        assert w.wait(120)
        assert [c["layer"] for c, _ in sent][:2] == ["overview", "bicubic"]
    finally:
        w.close()


# -- helpers ------------------------------------------------------------------------------------------
def test_latest_worker_keeps_only_the_newest_job():
    w = LatestWorker()
    gate, began, ran = threading.Event(), threading.Event(), []
    w.submit(lambda stale: (began.set(), gate.wait(10), ran.append("first")))
    assert began.wait(10)
    for i in range(5):  # these wait behind the first; each replaces the one before
        w.submit(lambda stale, i=i: ran.append(i))
    gate.set()
    assert w.wait_idle(10)
    assert ran == ["first", 4] and w.dropped == 4
    w.close()


def test_display_conversion_per_layout():
    planes = np.random.default_rng(0).random((2, 4, 5, 3), dtype=np.float32)
    assert to_display(planes, "rgba").shape == (4, 5, 4)
    assert to_display(planes[:1], "gray").shape == (4, 5)
    assert to_display(planes, "channels").shape == (4, 5, 3)
    r = ClassicResampler(np.transpose(planes, (0, 3, 1, 2)).copy(), "rgba")
    out = r.render((0, 0, 4, 5), (4, 5), "nearest")
    np.testing.assert_allclose(out[0], planes[0], atol=1e-6)
    with pytest.raises(ValueError, match="bicubic"):
        r.render((0, 0, 4, 5), (4, 5), "lanczos")


# -- any size, any source: the lazy tiled field and the overview --------------------------------------
@pytest.fixture(scope="module")
def big_zarr(tmp_path_factory):
    """A 3000 x 4000 uint16 zarr on disk (96 MB as an array; the widget never holds it)."""
    import zarr

    path = tmp_path_factory.mktemp("big") / "big.zarr"
    z = zarr.open_array(str(path), mode="w", shape=(3000, 4000), chunks=(256, 256), dtype=np.uint16)
    tile = (data.camera().astype(np.uint16) * 9 + 300)[:500, :500]
    for y in range(0, 3000, 500):
        for x in range(0, 4000, 500):
            z[y : y + 500, x : x + 500] = np.rot90(tile, (x + y) // 500) + (y // 500) * 7
    return path


def test_a_view_without_a_reduced_pass_encodes_its_window_once(tiny_model):
    """At x2 there is no reduced pass; the full pass renders in bands of rows, and each band must not
    encode its own strip of tiles with a whole halo (that was 4.5x the encoder input at 1:1)."""
    from liif_plugin.engine.tiles import TiledField
    from liif_plugin.notebook.widget import BAND_PIXELS, reduced_shape

    img = np.ascontiguousarray(data.camera()[:256, :256])
    w = ZoomWidget(img, model=tiny_model, height=128, canvas_shape=[128, 128], precision="fp32")
    try:
        w.viewport = [40.0, 50.0, 104.0, 114.0]  # 64 px at x2: 128 rows, several bands
        assert w.wait(120)
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        assert reduced_shape(shape, region) is None and shape[0] > BAND_PIXELS // shape[1]
        once = TiledField(tiny_model, img, precision="fp32")
        once.prefetch(region)  # everything the view reaches, encoded in one go
        assert w.field.pixels_encoded == once.pixels_encoded
        np.testing.assert_array_equal(w.render_viewport(), tiny_model.encode(img).render(shape, region))
    finally:
        w.close()


def test_big_zarr_opens_and_renders_only_the_window(tiny_model, big_zarr):
    import zarr

    w = ZoomWidget(big_zarr, model=tiny_model, height=64, canvas_shape=[64, 96], precision="fp32")
    sent = collect(w)
    try:
        assert w.image_shape == [3000, 4000] and w.lead_shape == []
        w.viewport = [2970, 3950, 2986, 3974]  # the far corner, zoomed in x4
        assert w.wait(120)
        layers = [c["layer"] for c, _ in sent]
        # The first frames need only the window (no overview of the whole image: nothing else is read
        # first). The overview pass then runs in the background; it finds the exact value range, which
        # differs from the window's provisional one, so the view is drawn again, with the overview.
        assert layers[:2] == ["bicubic", "liif"] and sent[1][0]["final"]
        assert layers[2:] == ["overview", "bicubic", "liif"] and sent[-1][0]["final"]
        field = w.field
        # The corner's tiles only: a 16 x 24 window plus 3 codes each side, rounded out to whole tiles
        # (of the 3000 x 4000 / tile^2 the image has).
        t = field.tile
        assert 0 < len(field._cache) <= (-(-22 // t) + 1) * (-(-30 // t) + 1)
        assert field.cached_bytes <= field.cache_bytes
        n = field.tiles_encoded
        arr = zarr.open_array(str(big_zarr), mode="r")[:]
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        # The same pixels as the engine's render of the whole in-memory image, same value range.
        whole = tiny_model.open(arr, value_range=(float(arr.min()), float(arr.max())), cache_bytes=0)
        np.testing.assert_array_equal(w.render_viewport(), whole.render(shape, region))
        w.viewport = [0, 0, 3000, 4000]  # zoomed out: the area-averaged overview is the final picture
        sent.clear()
        assert w.wait(60)
        assert [c["layer"] for c, _ in sent if c["final"]] == ["bicubic"]
        assert w.field.tiles_encoded == n
    finally:
        w.close()


def test_a_big_image_without_levels_shows_its_rows_while_they_are_read(tiny_model, big_zarr, monkeypatch):
    import zarr

    from liif_plugin.engine import overview
    from liif_plugin.notebook import widget as widget_module

    monkeypatch.setattr(widget_module, "PARTIAL_OVERVIEW_S", 0.0)  # every band of the pass (3 of 1040 rows)
    monkeypatch.setattr(overview, "OVERVIEW_BYTES", 32 << 20)  # too big to keep whole: no pass at open
    arr = zarr.open_array(str(big_zarr), mode="r")[:]
    lo, hi = float(arr.min()), float(arr.max())
    w = ZoomWidget(big_zarr, model=tiny_model, height=64, canvas_shape=[96, 128], value_range=(lo, hi))
    sent = collect(w)
    try:
        w._handle_custom_msg({"type": "hello"}, [])  # shown: the whole image, too big to read its window directly
        assert w.wait(120)
        overviews = [(c["region"], Image.open(io.BytesIO(b[0]))) for c, b in sent if c["layer"] == "overview"]
        rows = [r[2] for r, _ in overviews]
        assert rows == [1040, 2080, 3000]  # the first frame fills as the rows are read, then the whole
        kind = arrays.plane_groups(None)[0]
        for region, img in overviews[:-1]:
            part = np.asarray(img)
            assert region[:2] == [0, 0] and region[3] == 4000 and part.shape[1] == 128
            # What the finished overview shows there, but for the last rows (their bicubic reach ends there).
            _, shape = visible_part(
                fit_viewport([0, 0, 3000, 4000], [96, 128], (3000, 4000)), [96, 128], (region[2], 4000)
            )
            done = to_display(w._overview.planes(tuple(region), shape), kind)
            assert part.shape == done.shape
            assert np.abs(part[:-3].astype(int) - done[:-3].astype(int)).max() <= 1
    finally:
        w.close()


def test_stack_gets_an_index_and_renders_that_image(tiny_model, rgb):
    stack = np.stack([rgb, rgb[::-1], rgb[:, ::-1]])
    w = ZoomWidget(stack, model=tiny_model, height=48, canvas_shape=[40, 60])
    try:
        assert w.lead_shape == [3] and w.index == [0]
        w.viewport = [10, 10, 20, 25]
        w.index = [2]
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        np.testing.assert_array_equal(
            w.render_viewport(),
            tiny_model.encode(stack[2], precision=w.precision, encoder_precision=w.encoder_precision).render(
                shape, region
            ),
        )
        with pytest.raises(traitlets.TraitError, match="index"):
            w.index = [3]
    finally:
        w.close()


def test_a_plane_with_nan_is_refused_in_words_and_the_plane_shown_stays(tiny_model):
    """Moving the slider to a plane with NaN left a black 'loading …' canvas, the kernel on the new plane and
    the old overview: now the browser gets one line and the widget stays on the plane it shows."""
    stack = np.random.default_rng(1).random((5, 48, 48)).astype(np.float32)
    stack[3, 10:20, 10:20] = np.nan
    w = ZoomWidget(stack, model=tiny_model, height=48, canvas_shape=[40, 60])
    try:
        sent = collect(w)
        w.index = [3]
        errors = [c["text"] for c, _ in sent if c.get("type") == "error"]
        assert errors == [
            "plane [3]: the image contains NaN or infinite values; replace them first (e.g. np.nan_to_num)"
        ]
        assert w.index == [0] and w._source.index == (0,) and w.field.source.index == (0,)
        w.index = [4]  # the other planes still open
        assert w.index == [4] and w._source.index == (4,)
    finally:
        w.close()


def test_ome_zarr_levels_give_the_overview_without_a_pass(tiny_model, tmp_path):
    import zarr

    img = (data.camera().astype(np.uint16) * 5 + 100)[:400, :480]
    g = zarr.open_group(str(tmp_path / "img.ome.zarr"), mode="w")
    levels = [img, img[::2, ::2], img[::4, ::4]]
    for k, lv in enumerate(levels):
        g.create_array(str(k), data=np.ascontiguousarray(lv), chunks=(64, 64))
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [
                {"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [2**k, 2**k]}]}
                for k in range(3)
            ],
        }
    ]
    w = ZoomWidget(str(tmp_path / "img.ome.zarr"), model=tiny_model, height=64, canvas_shape=[50, 60])
    sent = collect(w)
    try:
        ov = w._overview
        assert ov.lazy and ov.factors == [2, 4] and ov.ranges is None
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        planes = ov.planes(region, shape)  # from level "2" (x4), with a provisional display range
        assert planes.shape == (1, 50, 60, 3) and ov.ranges is None
        w._render_job(list(w.viewport), list(w.canvas_shape), "bicubic", lambda: False)
        assert [c["layer"] for c, _ in sent] == [
            "overview",
            "bicubic",
        ] and w.field._ranges is None  # no pass waited for
        sent.clear()
        w.viewport = [100, 100, 110, 112]
        assert w.wait(60)
        assert sent[-1][0]["layer"] == "liif"
        assert ov.ranges == [(float(img.min()), float(img.max()))]  # found before LIIF ran
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        np.testing.assert_array_equal(
            w.render_viewport(),
            tiny_model.encode(img, precision=w.precision, encoder_precision=w.encoder_precision).render(shape, region),
        )
    finally:
        w.close()


def test_resizing_the_output_keeps_the_zoom_and_a_fitted_image_stays_fitted(tiny_model):
    """Narrowing the window from 1100 to 800 px took a view from x3.34 to x1.56, and widening it back kept
    x1.56; now the zoom and centre stay. A view of the whole image is fitted again."""
    w = ZoomWidget(np.ascontiguousarray(data.camera()), model=tiny_model, height=200, canvas_shape=[200, 400])
    try:
        assert w.viewport == pytest.approx(fit_viewport([0, 0, 512, 512], [200, 400], [512, 512]))
        w.canvas_shape = [300, 600]  # the whole image, fitted: fitted again
        assert w.viewport == pytest.approx(fit_viewport([0, 0, 512, 512], [300, 600], [512, 512]))
        w.viewport = [200, 200, 300, 400]  # x3 at 300 x 600
        zoom, centre = w.zoom, ((w.viewport[0] + w.viewport[2]) / 2, (w.viewport[1] + w.viewport[3]) / 2)
        for canvas in ([300, 240], [300, 600]):
            w.canvas_shape = canvas
            assert w.zoom == pytest.approx(zoom) and w.zoom == pytest.approx(3.0)
            assert ((w.viewport[0] + w.viewport[2]) / 2, (w.viewport[1] + w.viewport[3]) / 2) == pytest.approx(centre)
    finally:
        w.close()
