"""Never wait, never starve: what a viewer's interaction costs, checked by counts (never by time).

- stale work stops: a newer view stops the encoder between its convolutions and the decoder before
  its next chunk;
- no whole-image pass before the first frame: a lazy uint8 image is read only where the view needs it;
  other data are drawn with a provisional range, refined in the background;
- a pan renders only the newly exposed strip; a zoom's first LIIF frame comes from a coarser level;
- interactive frames encode in 16 bits where the hardware runs them natively, within a stated bound.
"""

import threading

import dask.array as da
import numpy as np
import pytest
import torch
from skimage import data

import liif_plugin as liif
from liif_plugin.engine import overview
from liif_plugin.engine.field import Cancelled
from liif_plugin.engine.tiles import Frame, TiledField, overlap, snap_to_frame
from liif_plugin.notebook import ZoomWidget
from liif_plugin.notebook.view import visible_part
from liif_plugin.runtime import hardware
from liif_plugin.sources import arrays


def collect(widget, on_send=None):
    sent, lock = [], threading.Lock()

    def record(content, buffers=None):
        with lock:
            sent.append((content, buffers))
        if on_send is not None:
            on_send(content)

    widget.send = record
    return sent


class CountingArray:
    """A big uint8 image that counts which of its chunks are read (what dask asks for)."""

    def __init__(self, shape, chunk):
        self.shape, self.dtype, self.ndim, self.chunk = shape, np.dtype(np.uint8), len(shape), chunk
        self.read = set()
        self.lock = threading.Lock()
        base = np.ascontiguousarray(data.camera())
        self.tile = base

    def __getitem__(self, key):
        ys, xs = key
        c = self.chunk
        with self.lock:
            for ty in range(ys.start // c, -(-ys.stop // c)):
                for tx in range(xs.start // c, -(-xs.stop // c)):
                    self.read.add((ty, tx))
        yy = np.arange(ys.start, ys.stop) % 512
        xx = np.arange(xs.start, xs.stop) % 512
        return self.tile[np.ix_(yy, xx)]


# -- stale work stops --------------------------------------------------------------------------------
def test_a_stale_view_stops_its_encode_and_decode_at_once(tiny_model):
    """The first view's encode is under way when a newer view arrives: it runs at most one more
    encoder convolution (before, a view's whole encode ran on: ~34 convolutions per rectangle)."""
    img = np.ascontiguousarray(np.tile(data.camera(), (2, 2)))  # 1024 x 1024
    w = ZoomWidget(img, model=tiny_model, height=256, canvas_shape=[256, 256], precision="fp32")
    sent = collect(w)
    field = w.field
    marks = {}
    calls = [0]
    closed = field.interrupt

    def interrupt():  # called at every check of the running render (encoder convolution, decoder chunk)
        closed()
        calls[0] += 1
        if calls[0] == 5 and "moved" not in marks:  # the first view's encode is under way: a newer view
            marks["moved"] = field.encoder_steps
            w.viewport = [600.0, 600.0, 664.0, 664.0]

    render_job = w._render_job

    def job(view, *args, **kwargs):
        if view[0] >= 600 and "next" not in marks:
            marks["next"] = field.encoder_steps  # the newer view's job starts: the old one has ended
        return render_job(view, *args, **kwargs)

    field.interrupt, w._render_job = interrupt, job
    try:
        w.viewport = [0.0, 0.0, 128.0, 128.0]  # x2: a 128 + 2 x 34 px window to encode
        assert w.wait(300)
        assert marks["next"] - marks["moved"] <= 1  # the convolution whose check saw the newer view
        finals = [c for c, _ in sent if c["final"]]
        assert len(finals) == 1 and finals[0]["viewport"][0] == pytest.approx(600.0)
        assert w.stats["dropped"] >= 1 and not w.stats["errors"]
    finally:
        w.close()


def test_decoder_stops_before_its_next_chunk(tiny_model):
    """stop() is asked before every decoder chunk; once it raises, no thread starts another chunk."""
    img = np.ascontiguousarray(data.camera()[:64, :64])
    field = tiny_model.open(img, cache_bytes=0)
    asked = [0]

    def stop():
        asked[0] += 1
        if asked[0] > 3:
            raise Cancelled()

    with pytest.raises(Cancelled):
        field.render_planes((256, 256), stop=stop)  # 256 chunks of 256 pixels
    # Three chunks ran; then each decoding thread asked once more and stopped (the encoder's checks
    # come first: the tiny model's 4 convolutions ask too).
    assert asked[0] <= 4 + torch.get_num_threads()
    assert field.pixels_rendered == 0  # not one band was finished


# -- no whole-image pass before the first frame -------------------------------------------------------
def test_first_frame_of_a_lazy_uint8_image_reads_only_the_windows_it_needs(tiny_model):
    """A 4096 x 4096 uint8 dask array (256 chunks): opening and the first frames of a view read only
    the chunks under the view, its halos and the central 1024 x 1024 crop that the model choice and the
    noise check measure (liif_plugin.quality.choose.SAMPLE_SIDE)."""
    src = CountingArray((4096, 4096), 256)
    x = da.from_array(src, chunks=256, asarray=False)
    w = ZoomWidget(x, model=tiny_model, height=128, canvas_shape=[128, 192], precision="fp32")
    at_first = {}
    sent = collect(w, on_send=lambda c: c["final"] and at_first.setdefault("read", set(src.read)))
    try:
        central = {(ty, tx) for ty in range(6, 10) for tx in range(6, 10)}  # rows and columns 1536..2560
        assert src.read == central
        w.viewport = [3000.0, 1000.0, 3032.0, 1048.0]  # x4
        assert w.wait(300)
        kinds = [c["layer"] for c, _ in sent]
        assert kinds[:2] == ["bicubic", "liif"]  # no overview first: it would need every chunk
        # The view (32 x 48) + bicubic reach + the encoder's halo (34) and margin, rounded to 16-pixel tiles,
        # lies in rows 2944..3088 and columns 944..1104: chunks (11..12, 3..4), plus the central crop.
        assert at_first["read"] - central <= {(ty, tx) for ty in (11, 12) for tx in (3, 4)}
        # Afterwards, between views, the overview pass reads the rest in the background.
        assert len(src.read) == 256 and w._overview.built
    finally:
        w.close()


def test_uint16_frames_come_before_the_range_pass_and_are_redrawn_only_if_it_changes(tiny_model, tmp_path):
    import zarr

    img = (data.camera().astype(np.uint16) * 9 + 300)[:, :]
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(2048, 2048), chunks=(256, 256), dtype=np.uint16)
    for y in range(0, 2048, 512):
        for x in range(0, 2048, 512):
            z[y : y + 512, x : x + 512] = img
    w = ZoomWidget(str(tmp_path / "a.zarr"), model=tiny_model, height=64, canvas_shape=[64, 96], precision="fp32")
    seen = {}

    def on_send(content):
        if content["final"] and "first" not in seen:
            seen["first"] = (w.field.value_range, w.field.provisional_range, w._overview.rows_read)

    sent = collect(w, on_send)
    try:
        w.viewport = [100.0, 100.0, 116.0, 124.0]  # x4 on a dark-ish part
        assert w.wait(300)
        exact, provisional, rows = seen["first"]
        assert exact is None and provisional is not None and rows == 0  # drawn before any pass
        assert w.field.value_range == [(300.0, 255 * 9 + 300.0)]  # found afterwards, in the background
        finals = [c for c, _ in sent if c["final"] and c["layer"] == "liif"]
        # The window's range differs from the image's by far more than half a display level: redrawn once.
        assert arrays.range_changed(provisional, w.field.value_range) and len(finals) == 2
        region, shape = visible_part(w.viewport, w.canvas_shape, w.image_shape)
        whole = tiny_model.open(z[:], value_range=(300.0, 255 * 9 + 300.0), cache_bytes=0)
        np.testing.assert_array_equal(w.render_viewport(), whole.render(shape, region))
    finally:
        w.close()


def test_range_changed_is_half_a_display_level():
    assert not arrays.range_changed([(0.0, 1000.0)], [(0.0, 1000.0)])
    assert not arrays.range_changed([(0.0, 1000.0)], [(1.0, 1000.0)])  # 1/1000 < 0.5/255
    assert arrays.range_changed([(0.0, 1000.0)], [(3.0, 1000.0)])  # 3/1000 > 0.5/255
    assert arrays.range_changed([(100.0, 200.0)], [(0.0, 4095.0)])


def test_omero_window_is_a_declared_range(tiny_model, tmp_path):
    import zarr

    img = (data.camera().astype(np.uint16) * 5 + 100)[:256, :256]
    g = zarr.open_group(str(tmp_path / "o.ome.zarr"), mode="w")
    g.create_array("0", data=img, chunks=(64, 64))
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]}],
        }
    ]
    g.attrs["omero"] = {"channels": [{"window": {"min": 100, "max": 1375, "start": 120, "end": 1300}}]}
    src = liif.open_source(str(tmp_path / "o.ome.zarr"))
    assert src.declared_range == [(100.0, 1375.0)]
    w = ZoomWidget(str(tmp_path / "o.ome.zarr"), model=tiny_model, height=64, canvas_shape=[64, 64])
    try:
        assert w.field.value_range == [(100.0, 1375.0)]  # no pass, no provisional range
    finally:
        w.close()


# -- pans and zooms reuse what they can ---------------------------------------------------------------
def test_snap_and_overlap_make_a_pan_a_shift_of_the_last_frame():
    prev = Frame(np.zeros((1, 40, 60, 3), np.float32), (10.0, 20.0, 20.0, 35.0), (40, 60))  # x4
    region, shape = snap_to_frame(prev, (12.13, 19.0, 22.13, 34.0), (40, 60), (100, 100))
    # Output pixels are 0.25 image pixels: 12.13 is moved to 12.25, 9 output rows from the old top.
    assert shape == (40, 60) and region[0] == pytest.approx(12.25) and region[1] == pytest.approx(19.0)
    (r0, r1, dy), (c0, c1, dx) = overlap(prev, region, shape)
    assert (r0, r1, dy) == (0, 31, 9) and (c0, c1, dx) == (4, 60, -4)
    zoomed = (10.0, 20.0, 17.0, 30.5)  # another zoom: left as it is, nothing shared
    assert snap_to_frame(prev, zoomed, (40, 60), (100, 100)) == (zoomed, (40, 60))
    assert overlap(prev, zoomed, (40, 60)) is None
    edge = snap_to_frame(prev, (-0.1, 19.0, 9.9, 34.0), (40, 60), (100, 100))  # at the image's edge
    assert edge[0][0] >= 0 and edge[1][0] <= 40


def test_a_pan_renders_only_the_new_strip(tiny_model):
    img = np.ascontiguousarray(data.astronaut()[:256, :256])
    w = ZoomWidget(img, model=tiny_model, height=128, canvas_shape=[128, 192], precision="fp32")
    sent = collect(w)
    try:
        w.viewport = [64.0, 64.0, 96.0, 112.0]  # x4
        assert w.wait(300)
        before = w.field.pixels_rendered
        w.viewport = [66.3, 61.2, 98.3, 109.2]  # dragged by (2.3, -2.8) image pixels, same zoom
        assert w.wait(300)
        content = sent[-1][0]
        assert content["final"] and content["layer"] == "liif" and not content["reduced"]
        h, w_ = content["shape"]
        # 9 rows and 11 columns are new (2.3 and 2.8 image pixels at x4, snapped to whole output pixels).
        new = h * w_ - (h - 9) * (w_ - 11)
        assert w.field.pixels_rendered - before == new
        key, frame = w._frame
        again = w.field.render_planes(frame.shape, frame.region)  # the whole view, rendered afresh
        assert np.abs(again - frame.planes).max() <= 1e-4
    finally:
        w.close()


def test_a_zoom_gets_a_reduced_frame_from_a_coarser_level(tiny_model, monkeypatch):
    img = np.ascontiguousarray(np.tile(data.camera(), (2, 2)))  # 1024 x 1024, in memory
    w = ZoomWidget(img, model=tiny_model, height=256, canvas_shape=[512, 512], precision="fp32")
    sent = collect(w)
    try:
        # x4: the reduced frame (128 px for a 128 px window) comes from the x2 level (64 px). (At x2 it would
        # come from the x4 level with fewer pixels than the image: blurrier than the bicubic frame on screen,
        # so the full frame comes first there: test_no_reduced_pass_when_it_would_be_coarser_than_the_image.)
        w.viewport = [256.0, 256.0, 384.0, 384.0]
        assert w.wait(300)
        frames = [c for c, _ in sent if c["layer"] == "liif"]
        assert [(c["reduced"], c["final"], c["level"]) for c in frames] == [(True, False, 2), (False, True, None)]
        assert frames[0]["shape"] == [128, 128] and frames[0]["scale"] == pytest.approx(1.0)
        assert frames[1]["scale"] == pytest.approx(4.0)
        assert all(c["view_changed_at"] is not None for c, _ in sent)
        coarse = next(iter(w._coarse.values()))
        # (64 + 2 x 34)^2 level pixels against (128 + 2 x 34)^2 image pixels: the first frame encodes under half.
        assert coarse.pixels_encoded * 2 < w.field.pixels_encoded
    finally:
        w.close()


def test_reduced_view_levels():
    """The reduced frame's window is at most 64 pixels of its level a side, whatever the zoom."""
    assert overview.reduced_view((0, 0, 128, 128), (256, 256)) is None  # small: rendered fully at once
    assert overview.reduced_view((0, 0, 64, 64), (512, 512)) == ((128, 128), 1)  # x8: the image itself
    assert overview.reduced_view((0, 0, 128, 128), (512, 512)) == ((128, 128), 2)  # x4
    assert overview.reduced_view((0, 0, 256, 256), (512, 512)) == ((128, 128), 4)  # x2
    assert overview.reduced_view((0, 0, 512, 512), (512, 512)) == ((128, 128), 8)  # x1


# -- precision of interactive frames ----------------------------------------------------------------
INTERACTIVE_MAX_DIFF = 2 / 255  # the bound for a 16-bit encoder + MLP against the exact path, on [0, 1]


def test_interactive_encoder_precision_follows_the_hardware():
    avx2 = hardware.CpuInfo("AVX2 EPYC", "AVX2", frozenset({"avx2"}))
    bf16 = hardware.CpuInfo("Zen 4", "AVX512", frozenset({"avx2", "avx512f", "avx512_bf16"}))
    cpu = torch.device("cpu")
    assert hardware.interactive_encoder_precision("bf16", cpu, bf16) == "bf16"
    assert hardware.interactive_encoder_precision("bf16", cpu, avx2) == "fp32"  # emulated bf16: slower
    assert hardware.interactive_encoder_precision("fp32", cpu, bf16) == "fp32"
    ampere = hardware.GpuInfo("A100", (8, 0), True)
    assert hardware.interactive_encoder_precision("fp16", torch.device("cuda"), gpu=ampere) == "fp16"


def test_a_16_bit_encoder_stays_within_the_bound_of_the_exact_path(model):
    """bf16 encoder + bf16 MLP (what interactive frames run on CPUs with AVX512-BF16 or AMX) against
    fp32 everywhere: max abs difference <= 2/255 on [0, 1] (measured 0.004-0.005, docs/speed.md). On a
    CPU without native bf16 this checks the same arithmetic, emulated (slower, same numbers)."""
    crop = np.ascontiguousarray(data.astronaut()[120:184, 180:244])
    exact = model.encode(crop).render_planes((128, 128))
    fast = model.encode(crop, precision="bf16", encoder_precision="bf16").render_planes((128, 128))
    diff = np.abs(fast - exact).max()
    assert 0 < diff <= INTERACTIVE_MAX_DIFF
    # Run and upscale stay exact: fp32 encoder unless asked.
    assert TiledField(model, crop).encoder_precision == "fp32"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="the fp16 encoder of interactive frames runs on CUDA only")
def test_a_16_bit_encoder_on_cuda_stays_within_the_bound(model):  # pragma: no cover - no GPU on CI
    gpu = liif.load_model("edsr-baseline", device="cuda")
    crop = np.ascontiguousarray(data.astronaut()[120:184, 180:244])
    exact = gpu.encode(crop).render_planes((128, 128))
    fast = gpu.encode(crop, precision="fp16", encoder_precision="fp16").render_planes((128, 128))
    assert np.abs(fast - exact).max() <= INTERACTIVE_MAX_DIFF


def test_a_16_bit_first_layer_map_made_in_parts_equals_the_whole(model, monkeypatch):
    """Made in parts of rows, a viewer's bf16 map never holds the window's fp32 map beside it; same numbers."""
    from liif_plugin.engine import field as field_module

    crop = np.ascontiguousarray(data.astronaut()[:64, :80])
    whole = model.encode(crop, precision="bf16").render_planes((128, 160))
    monkeypatch.setattr(field_module, "MAP_PART_BYTES", 1 << 20)  # parts of a few rows
    parts = model.encode(crop, precision="bf16").render_planes((128, 160))
    assert np.array_equal(parts, whole)
