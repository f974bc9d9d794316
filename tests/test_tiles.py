"""The tiled field: any window of any source, equal to the whole-image render; bounded memory."""
import numpy as np
import pytest
import torch
from skimage import data

import liif_plugin as liif
from liif_plugin import api, arrays, tiles
from liif_plugin.tiles import TiledField, block_bounds, output_ranges, output_spans
from liif_plugin.encode import encode_tiled

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


@pytest.mark.parametrize("n_out, lo, hi, n_in, block", [
    (100, 0.0, 37.0, 37, 10), (13, 0.0, 50.0, 50, 8), (250, 5.5, 30.0, 40, 16), (1, 0.0, 9.0, 9, 4),
])
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
    x = {"uint8-rgb": small,
         "uint16-gray": (small[..., 1].astype(np.uint16) * 37 + 1000),
         "rgba": np.dstack([small, small[..., :1][::-1]])}[kind]
    region = liif.field.check_region(None, x.shape[:2])
    seen = []
    field = TiledField(model, x, cache_bytes=0, block=24)
    got = api.render_blockwise(field, (90, 101), region, progress=lambda d, t: seen.append((d, t)))
    ref = liif.upscale(x, shape=(90, 101), model=model)
    assert got.dtype == ref.dtype and got.shape == ref.shape
    assert np.abs(got.astype(np.int64) - ref.astype(np.int64)).max() <= 1
    assert seen[-1] == (90 * 101, 90 * 101)
