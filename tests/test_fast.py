"""The fast decoder equals the readable reference (query_reference) to 1e-4, on real weights."""

import copy

import numpy as np
import pytest
import torch
from skimage import data

import liif_plugin as liif
from liif_plugin.engine import field as field_mod
from liif_plugin.engine.decoder import first_layer_map, query_fast
from liif_plugin.engine.reference import query_reference

TOL = 1e-4


@pytest.fixture(scope="module")
def astro_field(model):
    return model.encode(data.astronaut()[::8, ::8][:40, :48])


@pytest.mark.parametrize(
    "shape, region",
    [
        ((80, 96), None),  # x2
        ((57, 131), None),  # non-integer, different per axis
        ((23, 30), None),  # downscaling
        ((64, 64), (3.5, 10.25, 11.0, 30.0)),  # zoom into a window
        ((9, 7), (0.0, 0.0, 40.0, 48.0)),  # very coarse
    ],
)
def test_fast_equals_reference(astro_field, shape, region):
    fast = astro_field.render_planes(shape, region)
    ref = astro_field.render_planes(shape, region, reference=True)
    assert fast.shape == ref.shape == (1, *shape, 3)
    assert np.abs(fast - ref).max() <= TOL
    # The output is a real image, not a constant.
    assert fast.std() > 0.05


def test_fast_equals_reference_on_several_planes(model):
    """RGBA gives two planes (B=2): rows of different planes must not mix."""
    rgba = np.dstack([data.coffee()[::10, ::10][:32, :32], data.camera()[::16, ::16][:32, :32, None]])
    f = model.encode(rgba)
    fast = f.render_planes((50, 70), (1.0, 2.0, 30.0, 31.5))
    ref = f.render_planes((50, 70), (1.0, 2.0, 30.0, 31.5), reference=True)
    assert fast.shape[0] == 2
    assert np.abs(fast - ref).max() <= TOL
    assert np.abs(fast[0] - fast[1]).max() > 0.1


def test_chunk_size_does_not_change_values(model, astro_field):
    """Chunks cut pixels at arbitrary places; the result must not depend on where."""
    net = model.net
    H, W = astro_field.full_shape
    pre = first_layer_map(net, astro_field.feat)
    g = torch.rand(1, 999, 2) * 2 - 1
    cell = torch.full_like(g, 0.013)
    with torch.inference_mode():
        a = query_fast(net, pre, g, cell, (H, W), chunk=7)
        b = query_fast(net, pre, g, cell, (H, W), chunk=4096)
        r = query_reference(net, astro_field.feat, g, cell)
    assert (a - b).abs().max() <= 1e-6
    assert (a - r).abs().max() <= TOL


def test_threads_dealing_chunks_give_the_single_thread_values(model, astro_field, monkeypatch):
    """Threads take chunks one at a time; every pixel is decoded once, wherever it lands."""
    from liif_plugin.engine import decoder

    net = model.net
    pre = first_layer_map(net, astro_field.feat)
    g = torch.rand(1, 2001, 2) * 2 - 1
    cell = torch.full_like(g, 0.02)
    with torch.inference_mode():
        monkeypatch.setattr(decoder, "PARALLEL_CHUNKS", False)
        one = query_fast(net, pre, g, cell, astro_field.full_shape, chunk=64)
        monkeypatch.setattr(decoder, "PARALLEL_CHUNKS", True)
        old = torch.get_num_threads()
        torch.set_num_threads(2)
        try:
            many = query_fast(net, pre, g, cell, astro_field.full_shape, chunk=64)
        finally:
            torch.set_num_threads(old)
        ref = query_reference(net, astro_field.feat, g, cell)
    assert (one - many).abs().max() <= 1e-6
    assert (many - ref).abs().max() <= TOL
    assert torch.get_num_threads() == old


def test_without_local_ensemble(model, astro_field):
    """The single-lookup variant of LIIF (local_ensemble=False) is decoded equally by both paths."""
    net = copy.deepcopy(model.net)
    net.local_ensemble = False
    g = torch.rand(1, 500, 2) * 2 - 1
    cell = torch.full_like(g, 0.02)
    with torch.inference_mode():
        fast = query_fast(net, first_layer_map(net, astro_field.feat), g, cell, astro_field.full_shape)
        ref = query_reference(net, astro_field.feat, g, cell)
    assert (fast - ref).abs().max() <= TOL


def test_windowed_first_layer_equals_reference(monkeypatch, astro_field):
    """When the first-layer map of the whole image is too big to cache, each band computes only
    the window it reaches; values stay equal to the reference."""
    monkeypatch.setattr(field_mod, "PRE_CACHE_BYTES", 0)
    monkeypatch.setattr(field_mod, "QUERY_BATCH", 300)
    f = liif.ImageField(astro_field.model, astro_field.feat, astro_field.layout)
    fast = f.render_planes((61, 70), (2.0, 5.0, 37.0, 44.0))
    ref = f.render_planes((61, 70), (2.0, 5.0, 37.0, 44.0), reference=True)
    assert f._pre is None
    assert np.abs(fast - ref).max() <= TOL


def test_decoding_leaves_the_process_thread_count_alone(astro_field):
    """The fast decoder's single-threaded kernels are its own helper threads' setting: a thread that
    starts using torch while a decode runs (a viewer's worker, say) still gets the process's count."""
    import threading

    import torch

    n = torch.get_num_threads()
    seen, done = [], threading.Event()

    def decode():
        for _ in range(3):
            astro_field.render_planes((160, 160))
        done.set()

    t = threading.Thread(target=decode)
    t.start()
    while not done.is_set():
        probe = threading.Thread(target=lambda: seen.append(torch.get_num_threads()))
        probe.start()
        probe.join()
    t.join()
    assert seen and set(seen) == {n}, seen
    assert torch.get_num_threads() == n
