"""liif_plugin.sources.dask: lazy, chunked LIIF equal to the in-memory result, on zarr and a real cluster."""

import dask.array as da
import numpy as np
import pytest
import zarr
from skimage import data

import liif_plugin as liif
import liif_plugin.sources.dask as ld

TOL = 1e-4


@pytest.fixture(scope="module")
def rgb():
    return np.ascontiguousarray(data.astronaut()[::5, ::5][:90, :100]).astype(np.float32) / 255


def test_lazy_chunked_and_equal_to_in_memory(model, rgb):
    y = ld.upscale(rgb, scale=1.5, model=model, block=40)
    assert isinstance(y, da.Array)
    assert y.shape == (135, 150, 3) and y.dtype == np.float32
    assert len(y.chunks[0]) > 1 and len(y.chunks[1]) > 1  # really cut spatially
    ref = liif.upscale(rgb, scale=1.5, model=model)
    assert np.abs(y.compute() - ref).max() <= TOL


def test_stack_of_uint16_images_with_own_ranges(model):
    cell = data.cell()[200:280, 300:340].astype(np.uint16)
    stack = np.stack([cell * 40, cell[::-1] * 3 + 500, np.full_like(cell, 7)])
    y = ld.upscale(stack, shape=(73, 61), model=model, block=40)
    assert y.chunks[0] == (1, 1, 1) and len(y.chunks[1]) == 2  # one image per chunk along the stack axis
    got = y.compute()
    for i in range(3):
        ref = liif.upscale(stack[i], shape=(73, 61), model=model)
        assert got[i].dtype == np.uint16
        assert np.abs(got[i].astype(int) - ref.astype(int)).max() <= 1  # integer rounding of 1e-4-equal floats


def test_zarr_backed_array_and_zarr_to_zarr(model, rgb, tmp_path):
    src = tmp_path / "big.zarr"
    z = zarr.create_array(str(src), shape=rgb.shape, chunks=(32, 32, 3), dtype="float32")
    z[:] = rgb
    y = ld.upscale(zarr.open_array(str(src), mode="r"), scale=2, model=model, block=40)
    ref = liif.upscale(rgb, scale=2, model=model)
    assert np.abs(y.compute() - ref).max() <= TOL

    seen = []
    shape = ld.upscale_zarr(
        src, tmp_path / "out.zarr", scale=2, model=model, block=40, progress=lambda d, t: seen.append((d, t))
    )
    assert shape == ref.shape
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")
    assert np.abs(out[:] - ref).max() <= TOL
    assert seen and seen[-1][0] == seen[-1][1]
    assert not (tmp_path / "out.zarr.partial").exists()
    with pytest.raises(FileExistsError, match="already exists"):
        ld.upscale_zarr(src, tmp_path / "out.zarr", scale=2, model=model)
    with pytest.raises(FileNotFoundError, match="no zarr array"):
        ld.upscale_zarr(tmp_path / "missing.zarr", tmp_path / "o2.zarr", scale=2, model=model)


def test_runs_on_a_distributed_cluster(model, rgb, caplog):
    """Two different resamplings computed together on one cluster: each equals its in-memory result,
    and the scheduler never sees one key used for different work."""
    import distributed

    img, other = rgb[:80, :60], np.ascontiguousarray(rgb[:80, :60][::-1])
    y = ld.upscale(img, scale=1.25, model=model, block=40)
    y2 = ld.upscale(other, scale=1.25, model=model, block=40)
    assert y.name != y2.name
    assert ld.upscale(img, scale=1.25, model=model, block=40).name == y.name  # deterministic keys
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        got, got2 = client.compute([y, y2], sync=True)
        assert len(client.scheduler_info()["workers"]) == 2
    assert np.abs(got - liif.upscale(img, scale=1.25, model=model)).max() <= TOL
    assert np.abs(got2 - liif.upscale(other, scale=1.25, model=model)).max() <= TOL
    assert "different `run_spec`" not in caplog.text


@pytest.mark.parametrize(
    "bad, kwargs, err, match",
    [
        (np.zeros((4, 5), dtype=bool), {"scale": 2}, TypeError, "dtype"),
        (np.zeros((7,), dtype=np.uint8), {"scale": 2}, ValueError, "expected an image"),
        (np.zeros((8, 8), dtype=np.uint8), {}, ValueError, "exactly one of"),
        (np.zeros((8, 8), dtype=np.uint8), {"scale": -1}, ValueError, "positive"),
    ],
)
def test_bad_input_gives_a_clear_error(model, bad, kwargs, err, match):
    with pytest.raises(err, match=match):
        ld.upscale(bad, model=model, **kwargs)


def test_a_plane_larger_than_memory_is_planned_and_rendered_block_by_block(tiny_model):
    """An output plane over MAX_OUTPUT_PIXELS is fine lazily: its input blocks shrink with the scale, so only
    blocks of about OUT_BLOCK pixels a side are ever held, and a block equals the in-memory render of its window."""
    from liif_plugin.engine.field import MAX_OUTPUT_PIXELS
    from liif_plugin.errors import LiifError

    x = data.camera()[200:264, 200:264].astype(np.float32) / 255
    y = ld.upscale(x, scale=300, model=tiny_model)
    assert y.shape == (19200, 19200) and y.shape[0] * y.shape[1] > MAX_OUTPUT_PIXELS
    rows, cols = y.chunks[0][0], y.chunks[1][0]
    assert max(y.chunks[0]) * max(y.chunks[1]) <= 4 * ld.OUT_BLOCK**2
    with pytest.raises(LiifError, match="too large to hold in memory"):
        liif.upscale(x, scale=300, model=tiny_model)  # in memory it is refused, as before
    block = y.blocks[0, 0].compute()
    window = liif.upscale(x, shape=(rows, cols), region=(0, 0, rows / 300, cols / 300), model=tiny_model)
    np.testing.assert_allclose(block, window, atol=TOL)
    with pytest.raises(LiifError, match="more than liif-plugin renders"):
        ld.upscale(x, scale=5000, model=tiny_model)  # a grid beyond what coordinates can place
