"""The tiled field: any window of any source, equal to the whole-image render; bounded memory."""

import numpy as np
import pytest
import torch
from skimage import data

import liif_plugin as liif
from liif_plugin import api
from liif_plugin.engine import tiles
from liif_plugin.engine.encoder import encode_tiled
from liif_plugin.engine.field import check_region
from liif_plugin.engine.tiles import TiledField, block_bounds, output_ranges, output_spans
from liif_plugin.sources import arrays

TOL = 1e-4


@pytest.fixture(scope="module")
def small():
    return np.ascontiguousarray(data.chelsea()[40:104:1, 100:172])  # 64x72 RGB photo


def test_tiled_encoder_equals_untiled(model, small):
    planes, _ = arrays.to_planes(small)
    x = (torch.from_numpy(planes) - 0.5) / 0.5
    with torch.inference_mode():
        whole = model.net.encoder(x)
        tiled = encode_tiled(model.net.encoder, x, tile=20)
    assert tiled.shape == whole.shape
    assert (tiled - whole).abs().max() <= 1e-4
    assert whole.abs().max() > 0.1


@pytest.mark.parametrize("shape, region", [((128, 144), None), ((71, 50), (3.0, 9.5, 60.0, 70.0))])
def test_blockwise_equals_whole_render(model, small, shape, region):
    blocks = TiledField(model, small, cache_bytes=0, block=24).render_planes(shape, region)
    whole = model.encode(small).render_planes(shape, region)
    assert np.abs(blocks - whole).max() <= TOL


def test_upscale_switches_to_blocks_with_equal_output(monkeypatch, model, small):
    whole = liif.upscale(small.astype(np.float32) / 255, scale=1.7, model=model)
    monkeypatch.setattr(api, "BLOCKWISE_LATENTS", 100)
    monkeypatch.setattr(tiles, "BLOCK", 32)
    blocked = liif.upscale(small.astype(np.float32) / 255, scale=1.7, model=model)
    assert blocked.shape == whole.shape == (109, 122, 3)
    assert np.abs(blocked - whole).max() <= TOL


@pytest.mark.parametrize(
    "n_out, lo, hi, n_in, block",
    [
        (100, 0.0, 37.0, 37, 10),
        (13, 0.0, 50.0, 50, 8),
        (250, 5.5, 30.0, 40, 16),
        (1, 0.0, 9.0, 9, 4),
        (7, 3.5, 20.0, 40, 5),  # a region inside the image
        (5, 0.0, 64.0, 64, 16),  # fewer outputs than blocks
    ],
)
def test_output_ranges_tile_the_output(n_out, lo, hi, n_in, block):
    bounds = block_bounds(n_in, block)
    ranges = output_ranges(n_out, lo, hi, bounds)
    assert ranges[0][0] == 0 and ranges[-1][1] == n_out
    assert all(r[1] == s[0] for r, s in zip(ranges, ranges[1:]))
    assert all(j1 >= j0 for j0, j1 in ranges)
    step = (hi - lo) / n_out
    for (a, b), (j0, j1) in zip(bounds, ranges):
        for j in range(j0, j1):  # each output centre lies in its block (up to rounding)
            c = lo + (j + 0.5) * step
            assert a - 1e-9 <= c or a == 0
            assert c < b + 1e-9 or b == n_in
    # Same assignment as the block-wise renderer's spans.
    nonempty = [((a, b), r) for (a, b), r in zip(bounds, ranges) if r[1] > r[0]]
    assert nonempty == output_spans(n_out, lo, hi, n_in, block)


def test_block_bounds_merges_a_thin_last_block():
    assert block_bounds(100, 40, min_size=30) == [(0, 40), (40, 100)]
    assert block_bounds(100, 40) == [(0, 40), (40, 80), (80, 100)]
    assert block_bounds(10, 40, min_size=30) == [(0, 10)]


@pytest.mark.parametrize("kind", ["uint8-rgb", "uint16-gray", "rgba"])
def test_render_blockwise_equals_upscale(model, small, kind):
    x = {
        "uint8-rgb": small,
        "uint16-gray": (small[..., 1].astype(np.uint16) * 37 + 1000),
        "rgba": np.dstack([small, small[..., :1][::-1]]),
    }[kind]
    region = check_region(None, x.shape[:2])
    seen = []
    field = TiledField(model, x, cache_bytes=0, block=24)
    got = api.render_blockwise(field, (90, 101), region, progress=lambda d, t: seen.append((d, t)))
    ref = liif.upscale(x, shape=(90, 101), model=model)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert np.abs(got.astype(np.int64) - ref.astype(np.int64)).max() <= 1
    assert seen[-1] == (90 * 101, 90 * 101)


# -- the lazy tiled field: sources, windows, cache -----------------------------------------------------


@pytest.fixture(scope="module")
def u16():
    """A 12-bit-like gray image whose range is not the dtype's (the range pass matters)."""
    return data.camera()[100:230, 140:290].astype(np.uint16) * 13 + 400


CASES = [((260, 300), None), ((97, 131), (10.5, 20.25, 80.0, 150.5)), ((40, 45), None), ((301, 77), (0, 0, 130, 20))]


@pytest.mark.parametrize("tile", [32, 57, 256])
@pytest.mark.parametrize("shape, region", CASES)
def test_tiled_field_equals_the_whole_render_for_every_dtype(tiny_model, small, u16, tile, shape, region):
    images = {
        "uint8-rgb": small,
        "uint16": u16,
        "float": u16.astype(np.float32) / 7.0 - 300.0,
        "rgba": np.dstack([small, small[..., 1:2]]),
        "channels": np.dstack([u16[:64, :72]] * 2),
    }
    for name, x in images.items():
        if region is not None and (region[2] > x.shape[0] or region[3] > x.shape[1]):
            continue
        whole = tiny_model.encode(x).render(shape, region)
        tiled = TiledField(tiny_model, x, tile=tile, block=48).render(shape, region)
        assert tiled.dtype == whole.dtype and tiled.shape == whole.shape, name
        assert np.abs(tiled.astype(np.float64) - whole.astype(np.float64)).max() <= (
            1 if whole.dtype.kind in "ui" else 1e-3
        ), name


def test_released_model_tiles_equal_whole_to_1e4(model, small):
    f = model.encode(small)
    t = TiledField(model, small, tile=24, block=40)
    for shape, region in ((128, 144), None), ((91, 70), (3.5, 9.25, 61.0, 70.0)):
        assert np.abs(t.render_planes(shape, region) - f.render_planes(shape, region)).max() <= TOL
    assert t.tiles_encoded == 9  # 64x72 in 24-pixel tiles: 3 x 3, each encoded once


def test_a_window_touches_only_the_tiles_under_it(tiny_model, u16):
    t = TiledField(tiny_model, u16, tile=32)
    t.render((64, 64), (40.0, 40.0, 56.0, 56.0))  # inside tile (1, 1), well away from its edges
    assert set(t._cache) == {(1, 1)}
    t.render((64, 64), (60.0, 60.0, 70.0, 70.0))  # crosses into tiles (1,2), (2,1), (2,2)
    assert set(t._cache) == {(1, 1), (1, 2), (2, 1), (2, 2)}
    n = t.tiles_encoded
    t.render((32, 32), (41.0, 41.0, 50.0, 50.0))  # panning inside cached tiles encodes nothing
    assert t.tiles_encoded == n


def test_prefetch_encodes_what_every_render_of_the_region_needs(model, small):
    region = (10.3, 12.7, 30.1, 33.9)
    t = TiledField(model, small, tile=8)
    t.prefetch(region)
    n = t.tiles_encoded
    assert n > 0
    whole = model.encode(small)
    for shape in ((13, 15), (20, 21), (80, 85), (160, 170)):  # reduced and full passes of one view
        assert np.abs(t.render_planes(shape, region) - whole.render_planes(shape, region)).max() <= TOL
    assert t.tiles_encoded == n


def _covered(rects):
    return {(y, x) for a, b, c, d in rects for y in range(a, b) for x in range(c, d)}


def test_missing_tiles_are_encoded_in_cheap_rectangles():
    ring = {(y, x) for y in range(10) for x in range(10) if y in (0, 9) or x in (0, 9)}
    assert tiles.tile_rectangles(ring, 16, 34) == [(0, 10, 0, 10)]  # four strips would cost more halo
    ell = {(y, x) for y in range(10) for x in range(10) if y < 2 or x < 2}  # a diagonal pan
    rects = tiles.tile_rectangles(ell, 16, 34)
    assert len(rects) == 2 and _covered(rects) == ell
    apart = {(0, 0), (0, 1), (30, 30)}
    assert _covered(tiles.tile_rectangles(apart, 16, 34)) == apart
    rng = np.random.default_rng(0)
    for _ in range(50):
        keys = {tuple(k) for k in rng.integers(0, 12, size=(int(rng.integers(1, 40)), 2))}
        assert keys <= _covered(tiles.tile_rectangles(keys, 16, 34))


def test_a_diagonal_pan_encodes_each_new_tile_once_and_stays_exact(model, small):
    t = TiledField(model, small, tile=8)
    whole = model.encode(small)
    for region in ((4.0, 4.0, 30.0, 30.0), (20.0, 24.0, 46.0, 50.0)):
        assert np.abs(t.render_planes((52, 52), region) - whole.render_planes((52, 52), region)).max() <= TOL
    assert t.tiles_encoded == len(t._cache)


def test_the_cache_stays_within_its_bytes(tiny_model, u16):
    t = TiledField(tiny_model, u16, tile=32, cache_bytes=1)  # too small for any window: encoded directly
    ref = tiny_model.encode(u16).render_planes((80, 90), (0, 0, 60, 70))
    assert np.abs(t.render_planes((80, 90), (0, 0, 60, 70)) - ref).max() < 1e-5
    assert t.cached_bytes == 0 and t.tiles_encoded == 0
    one = t._tile_bytes()
    t = TiledField(tiny_model, u16, tile=32, cache_bytes=3 * one)
    for y in range(0, 120, 20):
        t.render((20, 20), (y, 0.0, y + 10.0, 10.0))
        assert t.cached_bytes <= 3 * one
    assert len(t._cache) <= 3


def test_value_range_given_spares_the_pass_and_maps_like_arrays(tiny_model, u16):
    lo, hi = float(u16.min()), float(u16.max())
    given = TiledField(tiny_model, u16, value_range=(lo, hi))
    assert given.ranges() == [(lo, hi)]
    found = TiledField(tiny_model, u16)
    seen = []
    assert found.ranges(progress=lambda d, n: seen.append((d, n))) == [(lo, hi)] and seen[-1] == (130, 130)
    np.testing.assert_array_equal(given.render((50, 60)), tiny_model.encode(u16).render((50, 60)))
    with pytest.raises(ValueError, match="value_range"):
        TiledField(tiny_model, u16, value_range=(5, 5))


def test_a_stopped_range_pass_resumes_where_it_left_off(monkeypatch, tiny_model, u16, tmp_path):
    """A newer view cancels a render between bands of the value-range pass; the next render goes on
    from there (each band read once), and the bands of a chunked source are whole chunk rows."""
    import dask.array as da
    import zarr

    from liif_plugin.sources import source as sources

    monkeypatch.setattr(sources, "RANGE_BAND_PIXELS", 40 * u16.shape[1])  # several bands of this image
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=u16.shape, chunks=(16, 32), dtype=u16.dtype)
    z[:] = u16
    d = da.from_array(u16, chunks=(16, 50))
    here = liif.open_source(d).with_index(())
    here.dask_scheduler = "synchronous"  # a viewer's render thread reads dask windows itself
    np.testing.assert_array_equal(here.read(5, 40, 7, 90), u16[5:40, 7:90])
    for src in (z, d):
        bands = liif.open_source(src).range_bands()
        assert all(a % 16 == 0 for a, _ in bands) and bands[-1][1] == u16.shape[0] and len(bands) > 2
    f = TiledField(tiny_model, z)
    reads = []
    read = f.source.read
    monkeypatch.setattr(f.source, "read", lambda *w: reads.append(w) or read(*w))
    steps = f.range_steps()
    first = [next(steps), next(steps)]
    steps.close()  # the render that ran this pass was cancelled
    assert f._ranges is None and len(reads) == 2 and first[-1][0] < u16.shape[0]
    rest = list(f.range_steps())
    assert rest[-1] == (u16.shape[0], u16.shape[0]) and len(reads) == len(bands)  # no band read twice
    assert len({w for w in reads}) == len(reads)
    assert f.ranges() == [(float(u16.min()), float(u16.max()))] == TiledField(tiny_model, u16).ranges()
    assert list(f.range_steps()) == []  # known: nothing more to read


def test_sources_zarr_dask_memmap_tiff_and_ome_zarr(tiny_model, u16, tmp_path):
    import dask.array as da
    import tifffile
    import zarr

    want = tiny_model.encode(u16).render((70, 80), (5.0, 6.0, 100.0, 120.0))
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=u16.shape, chunks=(32, 32), dtype=u16.dtype)
    z[:] = u16
    mm = np.lib.format.open_memmap(tmp_path / "m.npy", mode="w+", dtype=u16.dtype, shape=u16.shape)
    mm[:] = u16
    tifffile.imwrite(tmp_path / "t.tif", u16, tile=(32, 32))
    g = zarr.open_group(str(tmp_path / "ome.zarr"), mode="w")
    g.create_array("0", data=u16, chunks=(32, 32))
    g.create_array("1", data=u16[::2, ::2], chunks=(32, 32))
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": [
                {"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1, 1]}]},
                {"path": "1", "coordinateTransformations": [{"type": "scale", "scale": [2, 2]}]},
            ],
        }
    ]
    sources = {
        "zarr array": z,
        "dask": da.from_array(u16, chunks=40),
        "memmap": mm,
        "zarr path": tmp_path / "a.zarr",
        "tiff path": tmp_path / "t.tif",
        "ome-zarr path": str(tmp_path / "ome.zarr"),
    }
    for name, src in sources.items():
        f = tiny_model.encode(src)  # anything but an in-memory array: the lazy field
        assert isinstance(f, TiledField), name
        np.testing.assert_array_equal(f.render((70, 80), (5.0, 6.0, 100.0, 120.0)), want, err_msg=name)
    assert len(liif.open_source(tmp_path / "ome.zarr").levels) == 1


def test_a_stack_index_picks_the_image(tiny_model, u16):
    stack = np.stack([u16, u16[::-1].copy(), u16 // 2])
    for i in range(3):
        f = tiny_model.open(stack, index=(i,))
        np.testing.assert_array_equal(f.render((40, 50)), tiny_model.encode(stack[i]).render((40, 50)))
    with pytest.raises(ValueError, match="index"):
        tiny_model.open(stack, index=(3,))
    # a plain number picks the image of a one-axis stack (it raised "'int' object is not iterable")
    np.testing.assert_array_equal(tiny_model.open(stack, index=2).render((40, 50)), f.render((40, 50)))


def test_a_window_outside_the_data_held_is_refused(u16):
    src = liif.Source(u16[10:50, 10:60], offset=(10, 10), full_shape=u16.shape)
    assert src.read(10, 20, 10, 20).shape == (10, 10)
    with pytest.raises(ValueError, match="outside"):
        src.read(0, 20, 10, 20)


@pytest.mark.parametrize("shape, region", [((20, 23), None), ((9, 31), (3.0, 9.5, 60.0, 70.0))])
def test_a_downscale_averages_fine_samples_on_every_path(model, small, shape, region):
    """An output coarser than the input is the mean of LIIF samples on a grid at least as fine as the input
    (coords.supersampling): close to a box average of the input, never the near-white answer of a cell
    the MLP never saw; in memory, block by block and with part of bicubic kept, the same."""
    whole = model.encode(small).render_planes(shape, region)
    blocks = TiledField(model, small, cache_bytes=0, block=24).render_planes(shape, region)
    assert np.abs(blocks - whole).max() <= TOL
    half = model.encode(small).render_planes(shape, region, detail=0.5)
    half_blocks = TiledField(model, small, cache_bytes=0, block=24).render_planes(shape, region, detail=0.5)
    assert np.abs(half_blocks - half).max() <= TOL
    y = liif.upscale(small, shape=(16, 18), model=model).astype(float)  # 64 x 72 by 4 x 4: a box average
    box = small.astype(float).reshape(16, 4, 18, 4, 3).mean(axis=(1, 3))
    assert np.abs(y - box).mean() < 2.0 and abs(y.mean() - box.mean()) < 0.5
    import liif_plugin.sources.dask as ld

    lazy = ld.upscale(small, shape=(16, 18), model=model, block=24).compute()
    assert np.abs(lazy.astype(int) - y.astype(int)).max() <= 1
