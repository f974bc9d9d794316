"""Dtypes, channel layouts and value ranges in and out of the engine, and refusals."""

import numpy as np
import pytest

import liif_plugin as liif
from liif_plugin.sources import arrays


@pytest.mark.parametrize(
    "shape,kind,planes",
    [
        ((9, 7), "gray", 1),
        ((9, 7, 1), "gray", 1),
        ((9, 7, 3), "rgb", 1),
        ((9, 7, 4), "rgba", 2),
        ((9, 7, 2), "channels", 2),
        ((9, 7, 5), "channels", 5),
    ],
)
def test_layouts_round_trip(shape, kind, planes):
    x = np.random.default_rng(0).integers(0, 256, shape).astype(np.uint8)
    p, layout = arrays.to_planes(x)
    assert p.shape == (planes, 3, 9, 7) and layout.kind == kind
    back = arrays.from_planes(p.transpose(0, 2, 3, 1), layout)
    assert back.shape == x.shape and back.dtype == x.dtype
    assert np.array_equal(back, x)


def test_uint16_uses_its_own_range():
    x = np.random.default_rng(1).integers(100, 4000, (8, 8)).astype(np.uint16)
    p, layout = arrays.to_planes(x)
    assert p.min() == 0.0 and p.max() == 1.0
    assert np.array_equal(arrays.from_planes(p.transpose(0, 2, 3, 1), layout), x)


def test_float_in_unit_range_is_untouched_and_other_floats_map_back():
    x = np.random.default_rng(2).random((6, 5, 3)).astype(np.float32)
    p, _ = arrays.to_planes(x)
    assert np.array_equal(p[0], x.transpose(2, 0, 1))
    y = x.astype(np.float64) * 1000 - 300
    p, layout = arrays.to_planes(y)
    assert np.allclose(arrays.from_planes(p.transpose(0, 2, 3, 1), layout), y)


def test_constant_image_stays_constant(model):
    x = np.full((12, 12), 700, np.uint16)
    y = liif.upscale(x, 2, model=model)
    assert y.shape == (24, 24) and y.dtype == np.uint16 and np.all(y == 700)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(12, 10), (12, 10, 3), (12, 10, 4), (12, 10, 2)])
def test_upscale_keeps_dtype_and_layout(model, dtype, shape):
    rng = np.random.default_rng(3)
    x = (rng.random(shape) * (255 if dtype == np.uint8 else 4000)).astype(dtype)
    y = liif.upscale(x, scale=1.5, model=model)
    assert y.dtype == dtype and y.shape == (18, 15) + shape[2:]


def test_gray_path_matches_rgb_of_gray(model, photo):
    """A gray image is rendered as R=G=B and averaged back."""
    g = photo.mean(axis=2).astype(np.float32) / 255
    y = liif.upscale(g, 2, model=model)
    rgb = liif.upscale(np.repeat(g[..., None], 3, axis=2), 2, model=model)
    assert np.abs(y - rgb.mean(axis=2)).max() < 1e-6


def test_multichannel_renders_each_channel_as_gray(model, photo):
    g = photo[..., :2].astype(np.float32) / 255
    y = liif.upscale(g, 2, model=model)
    y1 = liif.upscale(np.ascontiguousarray(g[..., 1]), 2, model=model)
    assert np.abs(y[..., 1] - y1).max() < 1e-5


@pytest.mark.parametrize(
    "bad,err,words",
    [
        (np.zeros((0, 5)), ValueError, "empty"),
        (np.zeros((5, 5), bool), TypeError, "dtype"),
        (np.zeros((5, 5), complex), TypeError, "dtype"),
        (np.array([[1.0, np.nan], [0, 0]]), ValueError, "NaN"),
        (np.array([[1.0, np.inf], [0, 0]]), ValueError, "NaN"),
        (np.zeros((2, 5, 5, 3)), ValueError, "2D image"),
        (np.zeros((5, 64, 200)), ValueError, "channels go last"),
        ("not an image", TypeError, "numpy array"),
        (np.broadcast_to(np.uint8(0), (12000, 12000)), ValueError, "more than liif-plugin resamples in memory"),
    ],
)
def test_bad_images_are_refused_clearly(model, bad, err, words):
    with pytest.raises(err, match=words):
        liif.upscale(bad, 2, model=model)


def test_a_stack_is_not_read_as_an_image_with_many_channels():
    """(20, 64, 64) is 20 images of 64 x 64 (it was one 20 x 64 image of 64 channels); (64, 64, 10) is an
    image of 10 channels; RGB(A) is channels whatever the size."""
    from liif_plugin.sources.source import open_source

    assert not arrays.channels_last((20, 64, 64)) and not arrays.channels_last((3, 32, 32))
    assert arrays.channels_last((64, 64, 10)) and arrays.channels_last((4, 4, 3)) and arrays.channels_last((2, 9, 4))
    src = open_source(np.zeros((20, 64, 64), np.float32))
    assert src.lead_shape == (20,) and src.shape == (64, 64) and src.channels is None
    assert open_source(np.zeros((64, 64, 10), np.uint8)).channels == 10
    with pytest.raises(ValueError, match="stack of 3 images or a channels-first image"):
        liif.upscale(np.zeros((3, 32, 32), np.uint8), scale=2)  # (it came out 6 x 64 with 32 channels)
