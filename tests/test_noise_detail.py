"""Noise estimate, the released model's noise warning, and the detail control (LIIF vs bicubic)."""

import numpy as np
import pytest
from PIL import Image
from skimage import data

import liif_plugin as liif
from liif_plugin import api
from liif_plugin.cli.main import main
from liif_plugin.engine import tiles
from liif_plugin.engine.classic import ClassicResampler
from liif_plugin.engine.coords import axis_centres
from liif_plugin.quality.noise import (
    NOISE_THRESHOLD,
    coarse_noise_ratio,
    estimate_noise,
    estimate_photons,
    noise_warning,
)
from liif_plugin.sources import arrays


def noisy(x, sigma, seed=0):
    """uint8 or [0, 1] float image plus white Gaussian noise of `sigma` (in [0, 1] units), same dtype."""
    rng = np.random.default_rng(seed)
    f = x.astype(np.float64) / (255 if x.dtype == np.uint8 else 1)
    f = np.clip(f + rng.normal(0, sigma, f.shape), 0, 1)
    return np.rint(f * 255).astype(np.uint8) if x.dtype == np.uint8 else f.astype(x.dtype)


# -- the estimate ------------------------------------------------------------------------------------
@pytest.mark.parametrize("sigma", [0.005, 0.02, 0.05, 0.1])
def test_estimate_recovers_known_sigma_within_5_percent(sigma):
    yy, xx = np.mgrid[0:300, 0:400] / 400.0
    smooth = (0.3 + 0.2 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)  # stays inside [0, 1]
    assert estimate_noise(noisy(smooth, sigma)) == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma", [0.03, 0.06])
def test_estimate_on_a_real_photo_with_noise_within_0_006(sigma):
    # The photo's own fine texture (grass) reads about 0.006 without noise.
    assert estimate_noise(noisy(data.camera(), sigma)) == pytest.approx(sigma, abs=0.006)


def test_estimate_reads_about_zero_on_clean_images():
    for img in (data.camera(), data.astronaut(), data.cell()):
        assert estimate_noise(img) < 0.01 < NOISE_THRESHOLD  # only the finest texture of the photo


@pytest.mark.parametrize("side", [48, 64, 96])
def test_noise_halves_one_scale_coarser_and_fine_texture_does_not(side):
    """coarse_noise_ratio: white noise reads about 0.5 (0.4-0.67 over seeds at 48 px, where the coarser scale has
    only 144 blocks); clean texture, a central 192-px crop of grass or gravel shrunk x2-x4 (which the estimate
    reads as 2-5 % noise), reads above 1.2."""
    yy, xx = np.mgrid[0:side, 0:side] / side
    smooth = (0.3 + 0.2 * np.sin(6 * xx) * np.cos(4 * yy)).astype(np.float32)
    assert 0.3 < coarse_noise_ratio(noisy(smooth, 0.03)) < 0.8
    for texture in (data.grass(), data.gravel()):
        small = np.asarray(Image.fromarray(texture[160:352, 160:352]).resize((side, side), Image.BICUBIC))
        assert estimate_noise(small) > 0.02 and coarse_noise_ratio(small) > 1.2


def test_estimate_is_in_units_of_the_range_for_sixteen_bit():
    yy, xx = np.mgrid[0:200, 0:200] / 200.0
    f = noisy((0.2 + 0.6 * xx * yy).astype(np.float32), 0.04)
    twelve_bit = np.rint(f * 4095).astype(np.uint16)  # stretched by its own min..max, like the model sees it
    lo, hi = f.min(), f.max()
    assert estimate_noise(twelve_bit) == pytest.approx(0.04 / (hi - lo), rel=0.06)


def test_noisiest_channel_counts():
    rgb = np.stack([data.camera()] * 3, axis=-1)
    rgb[..., 2] = noisy(data.camera(), 0.05)
    assert estimate_noise(rgb) == pytest.approx(0.05, abs=0.006)


def smooth_signal(n=256):
    """A smooth [0.05, 0.95] pattern: every brightness band has flat parts to measure noise on."""
    yy, xx = np.mgrid[0:n, 0:n] / n
    return 0.05 + 0.9 * (0.5 + 0.5 * np.sin(5 * xx) * np.cos(3 * yy))


@pytest.mark.parametrize("photons", [50, 500, 5000])
def test_photon_estimate_reads_shot_noise_within_a_factor_of_2(photons):
    rng = np.random.default_rng(photons)
    x = (rng.poisson(smooth_signal() * photons) / photons * 4000 + 100).astype(np.uint16)  # a camera offset of 100
    assert photons / 2 <= estimate_photons(x) <= 2 * photons


def test_read_noise_alone_does_not_grow_with_brightness():
    rng = np.random.default_rng(0)
    for sigma in (0.01, 0.03):
        x = np.rint((smooth_signal() + rng.normal(0, sigma, (256, 256))) * 4000 + 200).astype(np.uint16)
        assert estimate_noise(x) == pytest.approx(sigma / 0.9, rel=0.2)  # of the range the image spans
        # Shot noise this size at mid brightness would mean 0.5 / sigma^2 photons at the top (550 at 3 %).
        assert estimate_photons(x) > 4 * 0.5 / sigma**2
    assert estimate_photons(np.zeros((64, 64), np.uint16)) == float("inf")  # nothing to measure


def test_warning_only_for_the_released_model_on_noisy_images(model, tiny_model):
    msg = noise_warning(model, 0.05, how="pass --detail 0.3")
    assert msg.count(".") <= 3 and "--detail 0.3" in msg and "edsr-baseline" in msg and "noise-robust" in msg
    assert noise_warning(model, NOISE_THRESHOLD / 2) is None
    assert noise_warning(tiny_model, 0.2) is None


# -- detail -------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def gray():
    return np.ascontiguousarray(data.camera()[200:240, 220:268])


def test_detail_one_is_bit_identical_to_the_plain_render(tiny_model, gray):
    f = tiny_model.encode(gray)
    assert np.array_equal(f.render((70, 90), (3, 4.5, 35, 44), detail=1.0), f.render((70, 90), (3, 4.5, 35, 44)))
    assert np.array_equal(
        liif.upscale(gray, 1.7, model=tiny_model, detail=1), liif.upscale(gray, 1.7, model=tiny_model)
    )


def test_detail_zero_is_the_engines_bicubic_and_half_is_the_mean(model, photo):
    region, shape = (2.5, 3.0, 40.0, 51.5), (61, 83)
    f = model.encode(photo)
    sr = f.render_planes(shape, region)
    planes, layout = arrays.to_planes(photo)
    bic = ClassicResampler(planes, layout.kind).render(region, shape)
    assert np.array_equal(f.render_planes(shape, region, detail=0.0), bic)
    assert np.abs(f.render_planes(shape, region, detail=0.5) - (sr + bic) / 2).max() < 1e-6
    assert np.array_equal(
        liif.upscale(photo, shape=shape, region=region, model=model, detail=0), arrays.from_planes(bic, layout)
    )
    assert np.abs(sr - bic).max() > 0.05  # LIIF and bicubic really differ here


def test_bicubic_uses_liifs_pixel_centres():
    """Bicubic reproduces a ramp exactly, so its value at each output pixel is where the pixel centre
    sits; it must be the centre LIIF's coordinates give (coords.axis_centres), for a region too."""
    W = 40
    ramp = np.tile(np.arange(W, dtype=np.float32) / W, (8, 1))
    region, shape = (0.0, 5.25, 8.0, 30.75), (8, 57)
    got = ClassicResampler(arrays.to_planes(ramp)[0], "gray").render(region, shape)[0, 4, :, 0]
    (vx0, vx1) = (-1 + 2 * region[1] / W, -1 + 2 * region[3] / W)
    centres = (axis_centres(shape[1], vx0, vx1).double().numpy() + 1) * W / 2 - 0.5  # input pixel index
    assert np.abs(got - centres / W).max() < 1e-5


def test_detail_in_the_blockwise_path_matches_in_memory(tiny_model, gray, monkeypatch):
    ref = liif.upscale(gray.astype(np.float32) / 255, 2.3, model=tiny_model, detail=0.3)
    monkeypatch.setattr(api, "BLOCKWISE_LATENTS", 100)
    monkeypatch.setattr(tiles, "BLOCK", 16)
    got = liif.upscale(gray.astype(np.float32) / 255, 2.3, model=tiny_model, detail=0.3)
    assert np.abs(got - ref).max() < 1e-5


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "much"])
def test_bad_detail_says_what_to_give(tiny_model, gray, bad):
    with pytest.raises(ValueError, match="detail"):
        liif.upscale(gray, 2, model=tiny_model, detail=bad)


def test_window_field_without_the_image_refuses_detail(tiny_model, gray):
    from liif_plugin.engine.field import ImageField

    f = ImageField(tiny_model, tiny_model.encode(gray).feat, None)
    with pytest.raises(ValueError, match="input image"):
        f.render_planes((10, 10), detail=0.5)


# -- a model's own detail (the registry's `detail`) ---------------------------------------------------
@pytest.mark.parametrize("name", ["edsr-baseline-microscopy-light", "edsr-baseline-microscopy-faint"])
def test_a_models_own_detail_blends_every_path_once_and_the_users_multiplies_it(
    name, read_noise_micrograph, monkeypatch
):
    """A registry entry's `detail` (calibrated on held-out frames: scripts/calibrate_chooser.py micro) is how
    much of the model's difference from bicubic its renders keep, in memory, block-wise and lazily alike; the
    user's detail multiplies it; the same weights loaded as a file render as LIIF (detail 1)."""
    from liif_plugin.hub import cache
    from liif_plugin.runtime import speed

    micrograph = read_noise_micrograph
    m = liif.get_model(name, device="cpu")
    own = cache.entry(name).detail
    assert m.detail == own and 0 < own < 1
    plain = liif.load_model(cache.path_of(name), device="cpu")
    assert plain.detail == 1.0
    region, shape = (1.5, 2.0, 50.0, 61.5), (97, 119)
    raw = plain.encode(micrograph).render_planes(shape, region)
    planes, layout = arrays.to_planes(micrograph)
    bic = ClassicResampler(planes, layout.kind).render(region, shape)
    f = m.encode(micrograph)
    assert np.abs(f.render_planes(shape, region) - (bic + own * (raw - bic))).max() < 1e-5
    assert np.abs(f.render_planes(shape, region, detail=0.5) - (bic + 0.5 * own * (raw - bic))).max() < 1e-5
    assert np.abs(raw - bic).max() > 0.02  # the two really differ here
    ref = liif.upscale(micrograph, shape=shape, region=region, model=m)
    lazy = m.open(micrograph).render(shape, region)  # a TiledField: blended per part, once
    assert np.abs(lazy.astype(np.int32) - ref).max() <= 1
    import dask.array as da

    from liif_plugin.sources.dask import upscale as dask_upscale

    whole = liif.upscale(micrograph, 2.3, model=m)
    chunked = dask_upscale(da.from_array(micrograph, chunks=40), 2.3, model=m, block=40).compute()
    assert np.abs(chunked.astype(np.int32) - whole).max() <= 1  # dask blocks: each with its own bicubic
    monkeypatch.setattr(api, "BLOCKWISE_LATENTS", 100)
    monkeypatch.setattr(tiles, "BLOCK", 16)
    blockwise = liif.upscale(micrograph, shape=shape, region=region, model=m)
    assert np.abs(blockwise.astype(np.int32) - ref).max() <= 1
    assert speed.measure(m).decode_px_per_s > 0  # the speed probe renders without the input to blend with


# -- the CLI --------------------------------------------------------------------------------------------
def test_cli_warning_for_the_released_model_says_when_the_noise_may_be_texture(tmp_path, capsys):
    """Named on a small clean picture of grass (which reads as 4 % noise), the released model gets a warning that says
    the reading may be fine texture; on white noise the warning says nothing of texture."""
    grass = np.asarray(Image.fromarray(data.grass()[160:352, 160:352]).resize((64, 64), Image.BICUBIC))
    Image.fromarray(grass).save(tmp_path / "grass.png")
    Image.fromarray(noisy(data.camera()[::4, ::4], 0.04)).save(tmp_path / "noisy.png")
    for name, texture in (("grass.png", True), ("noisy.png", False)):
        out = ["-o", str(tmp_path / f"out-{name}"), "--scale", "2", "--model", "edsr-baseline"]
        assert main(["upscale", str(tmp_path / name), *out]) == 0
        err = capsys.readouterr().err
        assert f"warning: {tmp_path / name}: this image looks noisy (noise sigma " in err, err
        assert ("or fine texture: if it is clean texture, the released model suits it" in err) == texture, err


def test_cli_warns_once_for_a_noisy_image_and_not_for_a_clean_one(tmp_path, photo, capsys):
    Image.fromarray(data.camera()[100:160, 180:240]).save(tmp_path / "clean.png")
    Image.fromarray(noisy(photo, 0.06)).save(tmp_path / "noisy.png")
    assert main(["upscale", str(tmp_path / "clean.png"), "-o", str(tmp_path / "c.png"), "--scale", "2", "--quiet"]) == 0
    assert "warning" not in capsys.readouterr().err
    # The default, model auto, says in one line what it chose and why (not quiet) and warns of nothing.
    assert main(["upscale", str(tmp_path / "noisy.png"), "-o", str(tmp_path / "a.png"), "--scale", "2"]) == 0
    err = capsys.readouterr().err
    assert "noisy.png: model " in err and "noise about" in err and "warning" not in err
    # The released model named on purpose: one warning line.
    named = ["--model", "edsr-baseline", "--quiet"]
    assert main(["upscale", str(tmp_path / "noisy.png"), "-o", str(tmp_path / "n.png"), "--scale", "2", *named]) == 0
    err = capsys.readouterr().err
    assert (
        err.count("warning:") == 1 and "noisy.png" in err and "--detail" in err and len(err.strip().splitlines()) == 1
    )
    # Following the advice: no warning, and the output is bicubic-like (smoother than full LIIF).
    assert (
        main(
            [
                "upscale",
                str(tmp_path / "noisy.png"),
                "-o",
                str(tmp_path / "d.png"),
                "--scale",
                "2",
                "--detail",
                "0",
                "--model",
                "edsr-baseline",
                "--quiet",
            ]
        )
        == 0
    )
    assert "warning" not in capsys.readouterr().err
    planes, layout = arrays.to_planes(np.asarray(Image.open(tmp_path / "noisy.png")))
    bic = arrays.from_planes(ClassicResampler(planes, layout.kind).render((0, 0, 48, 56), (96, 112)), layout)
    assert np.array_equal(np.asarray(Image.open(tmp_path / "d.png")), bic)


def test_cli_bad_detail_is_one_line_and_exit_2(tmp_path, photo, capsys):
    Image.fromarray(photo).save(tmp_path / "p.png")
    assert (
        main(["upscale", str(tmp_path / "p.png"), "-o", str(tmp_path / "o.png"), "--scale", "2", "--detail", "3"]) == 2
    )
    err = capsys.readouterr().err.strip()
    assert "detail" in err and len(err.splitlines()) == 1 and not (tmp_path / "o.png").exists()


def test_big_images_are_measured_on_a_subset_with_the_same_result(monkeypatch):
    from liif_plugin.quality import noise

    img = noisy(data.camera(), 0.04)
    whole = estimate_noise(img)
    monkeypatch.setattr(noise, "MAX_BLOCKS", 4096)  # 512 x 512 has 65536 blocks: every 4th along each axis
    assert estimate_noise(img) == pytest.approx(whole, rel=0.1)
