"""upscale / encode / render: sizes, regions, errors, progress, tiling and blocks."""

import numpy as np
import pytest
import skimage.data
import torch

import liif_plugin as liif
from liif_plugin import api


@pytest.mark.parametrize(
    "kwargs,shape",
    [
        (dict(scale=2.5), (120, 140)),
        (dict(scale=(2, 0.5)), (96, 28)),
        (dict(shape=(31, 200)), (31, 200)),
        (dict(scale=2, region=(10, 20, 30, 50)), (40, 60)),
        (dict(shape=(5, 6), region=(0.5, 0.5, 2.5, 3.5)), (5, 6)),
        (dict(scale=0.3), (14, 17)),
    ],
)
def test_output_shapes(model, photo, kwargs, shape):
    y = liif.upscale(photo, model=model, **kwargs)
    assert y.shape == shape + (3,) and y.dtype == np.uint8


def test_encode_once_render_many_equals_upscale(model, photo):
    f = model.encode(photo)
    assert f.shape == photo.shape[:2]
    a = f.render((70, 80))
    b = liif.upscale(photo, shape=(70, 80), model=model)
    assert np.array_equal(a, b)
    w = f.render((40, 40), region=(8, 8, 28, 28))
    assert w.shape == (40, 40, 3)


@pytest.mark.parametrize(
    "kwargs,words",
    [
        (dict(), "exactly one"),
        (dict(scale=2, shape=(4, 4)), "exactly one"),
        (dict(scale=0), "positive"),
        (dict(scale=-1), "positive"),
        (dict(scale=float("nan")), "finite"),
        (dict(scale=float("inf")), "finite"),
        (dict(scale=1e-4), "empty"),
        (dict(scale=1e6), "too large"),
        (dict(shape=(0, 5)), "empty"),
        (dict(shape=(2.5, 3)), "whole numbers"),
        (dict(scale=(1, 2, 3)), "pair"),
        (dict(scale="big"), "number"),
        (dict(scale=2, region=(0, 0, 100, 10)), "outside"),
        (dict(scale=2, region=(5, 5, 5, 9)), "empty"),
        (dict(scale=2, region=(-1, 0, 5, 5)), "outside"),
        (dict(scale=2, region=(1, 2)), "four numbers"),
    ],
)
def test_bad_arguments_are_refused_clearly(model, photo, kwargs, words):
    with pytest.raises(ValueError, match=words):
        liif.upscale(photo, model=model, **kwargs)


def test_progress_reaches_total_and_cancel_stops(model, photo):
    seen = []
    liif.upscale(photo, shape=(300, 300), model=model, progress=lambda d, t: seen.append((d, t)))
    assert len(seen) > 1 and seen[-1][0] == seen[-1][1] == 300 * 300
    assert all(a[0] < b[0] for a, b in zip(seen, seen[1:]))

    def cancel(done, total):
        raise liif.Cancelled()

    with pytest.raises(liif.Cancelled):
        liif.upscale(photo, shape=(300, 300), model=model, progress=cancel)


def test_device_choice():
    assert api.pick_device("auto").type in ("cpu", "cuda", "mps")
    assert api.pick_device("cpu").type == "cpu"
    with pytest.raises(ValueError, match="device"):
        api.pick_device("tpu")
    if not torch.cuda.is_available():
        with pytest.raises(ValueError, match="no CUDA"):
            api.pick_device("cuda")


def test_auto_model_is_used_when_none_given(photo):
    """model=None is "auto": a clean photo gets the released model, chosen once and kept. (The noise
    estimate needs some pixels: the 48 x 56 `photo` crop alone reads 1.5 %, as noisy as a real noisy photo.)"""
    y = liif.upscale(photo, 1.25)
    assert y.shape == (60, 70, 3)
    clean = np.ascontiguousarray(skimage.data.astronaut()[:256, :256])
    assert liif.get_model(None, clean) is liif.get_model("auto", clean) is liif.get_model("edsr-baseline")
    assert liif.get_model(None, photo) is liif.get_model(liif.choose_model(photo).name)  # whatever auto says
