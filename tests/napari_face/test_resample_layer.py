"""napari_plugin.resample_layer, the function under the panel and the layer command: world geometry,
windows, big planes block by block, colour and alpha, multiscale and multichannel layers, metadata.
No viewer: a layer is resampled into a new one, not yet in a viewer."""

import numpy as np
import pytest
from napari.layers import Image, Labels, Shapes
from panel_helpers import block_mean
from skimage import data

import liif_plugin
from napari_plugin import _metadata, resample_layer


def test_resample_layer_world_alignment(model):
    img = data.camera()[200:224, 200:232]
    layer = Image(img, scale=(2.0, 3.0), translate=(10.0, -5.0), rotate=20, name="cam")
    new = resample_layer(layer, scale=2.5, model=model)
    assert new.data.shape == (60, 80) and new.data.dtype == np.uint8
    assert new.name == "cam [LIIF x2.5 edsr-baseline]"
    rng = np.random.default_rng(0)
    for j in rng.uniform(0, 60, size=(10, 2)):
        np.testing.assert_allclose(new.data_to_world(j), layer.data_to_world((j + 0.5) / 2.5 - 0.5), atol=1e-9)
    # The outer pixel edges coincide too.
    np.testing.assert_allclose(new.data_to_world((-0.5, -0.5)), layer.data_to_world((-0.5, -0.5)), atol=1e-9)
    np.testing.assert_allclose(new.data_to_world((59.5, 79.5)), layer.data_to_world((23.5, 31.5)), atol=1e-9)
    meta = new.metadata["liif"]
    assert meta["weights_sha256"] == model.sha256 and meta["model"] == "edsr-baseline" and meta["model_detail"] == 1.0
    assert meta["scale"] == [2.5, 2.5] and meta["region"] == [0.0, 0.0, 24.0, 32.0]
    # The same numbers as the engine's own upscale (up to rounding to uint8).
    assert np.abs(new.data.astype(int) - liif_plugin.upscale(img, 2.5, model=model).astype(int)).max() <= 1
    # The content is the image: averaging the finer grid back gives the input within a few grey levels.
    assert np.abs(block_mean(resample_layer(layer, scale=2, model=model).data, 2) - img).mean() < 6


def test_a_model_that_keeps_less_detail_says_so_in_the_layer_and_renders_as_the_engine(read_noise_micrograph):
    """The light microscopy model renders 0.6 of its difference from bicubic (the registry's `detail`): the
    layer's metadata records it beside the user's detail, and the pixels are the engine's."""
    img = read_noise_micrograph
    name = "edsr-baseline-microscopy-light"
    new = resample_layer(Image(img, name="cells"), scale=2, model=name, detail=0.5)
    meta = new.metadata["liif"]
    assert meta["model"] == name and meta["model_detail"] == 0.6 and meta["detail"] == 0.5
    want = liif_plugin.upscale(img, 2, model=name, detail=0.5)
    assert np.abs(new.data.astype(int) - want.astype(int)).max() <= 1
    assert np.abs(want.astype(int) - liif_plugin.upscale(img, 2, model=name).astype(int)).max() > 10


def test_resample_layer_region_alignment(model):
    img = data.camera()[100:140, 100:140]
    layer = Image(img, scale=(0.5, 0.5), translate=(3.0, 4.0))
    region = (10.0, 5.0, 20.0, 25.0)
    new = resample_layer(layer, shape=(30, 40), region=region, model=model)
    assert new.data.shape == (30, 40)
    # Output pixel j's centre is at input edge y0 + (j + 0.5) * dy, i.e. input index that minus 0.5.
    for j in [(0, 0), (29, 39), (7.0, 13.0)]:
        idx = np.array(region[:2]) + (np.array(j) + 0.5) * (10 / 30, 20 / 40) - 0.5
        np.testing.assert_allclose(new.data_to_world(j), layer.data_to_world(idx), atol=1e-9)
    assert "region" in new.name
    # progress sees the output pixels; raising Cancelled from it stops the work.
    calls = []

    def stop(done, total):
        calls.append((done, total))
        raise liif_plugin.Cancelled

    with pytest.raises(liif_plugin.Cancelled):
        resample_layer(layer, scale=2, model=model, progress=stop)
    assert calls and calls[0][1] == 80 * 80 and 0 < calls[0][0] < 80 * 80


def test_big_planes_go_block_by_block_with_the_same_result(model, monkeypatch):
    from liif_plugin.engine import tiles

    img = data.astronaut()[100:140, 150:186]
    region = (0.0, 0.0, 40.0, 36.0)
    whole = model.encode(img).render((60, 54), region)
    monkeypatch.setattr(tiles, "BLOCK", 20)  # 2 x 2 blocks, each encoded with its own halo
    seen = []
    new = resample_layer(Image(img, rgb=True), shape=(60, 54), model=model, progress=lambda d, t: seen.append(d))
    assert seen[-1] == 60 * 54 and len(seen) >= 4
    assert np.abs(new.data.astype(int) - whole.astype(int)).max() <= 1


def test_rgba_keeps_alpha(model):
    rgba = np.dstack([data.astronaut()[:24, :24], np.full((24, 24), 255, np.uint8)])
    rgba[:, :12, 3] = 0
    new = resample_layer(Image(rgba, rgb=True), scale=2, model=model)
    assert new.rgb and new.data.shape == (48, 48, 4) and new.data.dtype == np.uint8
    # Alpha is resampled as its own plane: clear and opaque halves stay so away from the edge.
    assert new.data[:, :16, 3].max() <= 5 and new.data[:, 32:, 3].min() >= 250


def test_resample_layer_refuses_labels_and_shapes():
    with pytest.raises(TypeError, match="image layers only"):
        resample_layer(Labels(np.zeros((8, 8), dtype=np.int32)), scale=2)
    with pytest.raises(TypeError, match="image layers only"):
        resample_layer(Shapes([[[0, 0], [5, 5], [0, 5]]], shape_type="polygon"), scale=2)
    with pytest.raises(ValueError, match="exactly one of scale"):
        resample_layer(Image(np.zeros((8, 8), np.uint8)))


def test_multiscale_layer_resamples_from_level_0(tiny_model):
    img = data.camera()[:96, :80]
    pyr = Image([img, img[::2, ::2], img[::4, ::4]], multiscale=True, name="pyr", scale=(0.5, 0.5))
    new = resample_layer(pyr, scale=2, model=tiny_model)
    assert not new.multiscale and new.data.shape == (192, 160)
    np.testing.assert_array_equal(new.data, liif_plugin.upscale(img, scale=2, model=tiny_model))
    np.testing.assert_allclose(new.scale, (0.25, 0.25))
    part = resample_layer(pyr, shape=(40, 30), region=(10, 20, 30, 35), model=tiny_model)
    np.testing.assert_array_equal(
        part.data, liif_plugin.upscale(img, shape=(40, 30), region=(10, 20, 30, 35), model=tiny_model)
    )


def test_channel_axis_array_is_resampled_plane_by_plane(model):
    ihc = data.immunohistochemistry()[100:124, 100:128].astype(np.float32)
    chans = np.stack([ihc[..., 0] * 10.0, ihc[..., 2] * 0.5])  # (C, Y, X), values outside [0, 1]
    out = resample_layer(Image(chans, name="both"), scale=1.5, model=model)
    assert out.data.shape == (2, 36, 42) and out.data.dtype == np.float32


def test_anisotropic_scale_drops_what_cannot_be_told_apart():
    meta, done = _metadata.rescale({"pixel_size": 0.4, "PhysicalSizeY": 0.4, "resolution": (10, 10)}, 2.0, 4.0, 2)
    assert meta == {"PhysicalSizeY": 0.2}
    assert done == {"scaled": ["PhysicalSizeY"], "dropped": ["pixel_size", "resolution"]}
