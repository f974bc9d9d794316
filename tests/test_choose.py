"""model="auto": the chooser's signals, its one-line reasons, and one choice per image everywhere."""

import io
import logging
import re
import sys

import numpy as np
import pytest
import skimage.data
from PIL import Image

import liif_plugin as liif
from liif_plugin.hub import cache
from liif_plugin.quality import advice, choose
from liif_plugin.quality.choose import choose_model, image_kind, is_jpeg, measure
from liif_plugin.quality.jpeg import jpeg_grid, jpeg_quality, quality_from_pixels


def jpeg_bytes(x, quality):
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, "JPEG", quality=quality)
    return buf.getvalue()


def decoded(x, quality):
    return np.asarray(Image.open(io.BytesIO(jpeg_bytes(x, quality))))


@pytest.fixture(scope="module")
def photo():
    return skimage.data.astronaut()


@pytest.mark.parametrize("quality", [30, 50, 75, 90])
def test_jpeg_quality_is_read_from_the_files_tables(tmp_path, photo, quality):
    path = tmp_path / f"q{quality}.jpg"
    path.write_bytes(jpeg_bytes(photo, quality))
    assert abs(jpeg_quality(path) - quality) <= 1
    Image.fromarray(photo).save(tmp_path / "p.png")
    assert jpeg_quality(tmp_path / "p.png") is None


def test_a_jpeg_file_gets_the_photo_condition_and_says_its_quality(tmp_path, photo):
    path = tmp_path / "a.jpg"
    path.write_bytes(jpeg_bytes(photo, 60))
    s = measure(None, path=path)
    assert s.condition == "jpeg-heavy" and s.jpeg_quality == 60 and s.quality_read_from == "file"
    name, reason = choose_model(path)
    assert "JPEG quality about 60" in reason and "pixels" not in reason and name in reason
    # Quality 90 still gets a JPEG model (the light tier's); a lighter JPEG goes to the released model
    # (it gains more there), and says so.
    path.write_bytes(jpeg_bytes(photo, 90))
    assert measure(None, path=path).condition == "jpeg-light"
    for q in (95, 97):
        path.write_bytes(jpeg_bytes(photo, q))
        assert measure(None, path=path).condition == "clean"
    name, reason = choose_model(path)
    assert name == "edsr-baseline" and "JPEG quality about 97, light" in reason


def test_jpeg_grid_sees_the_8x8_dct_grid_of_decoded_arrays(photo):
    gray = photo.mean(axis=2)
    assert abs(jpeg_grid(gray)[0]) < 0.1  # clean: no phase stands out
    for q in (30, 50, 75, 90):
        at_origin, best, phase = jpeg_grid(decoded(photo, q).mean(axis=2))
        assert at_origin > choose.JPEG_GRID and best == at_origin and phase == (0, 0), (q, at_origin, best)
    assert is_jpeg(measure(decoded(photo, 40)).condition)
    assert measure(photo).condition == "clean"
    # A crop of a decoded JPEG moves the grid off the origin: the best phase still finds it.
    shifted = decoded(photo, 50)[3:, 5:]
    at_origin, best, phase = jpeg_grid(shifted.mean(axis=2))
    assert at_origin < choose.JPEG_GRID < choose.JPEG_GRID_SHIFTED < best and phase == (5, 3)
    s = measure(shifted)
    assert s.condition == "jpeg-heavy" and s.jpeg_quality == 50 and s.quality_read_from == "pixels"


def test_jpeg_grid_sees_light_jpeg_on_small_images_and_not_noise_or_micrographs():
    # The inputs the old block-edge measure missed: 64-px images at quality 75-90.
    small = np.asarray(Image.fromarray(skimage.data.chelsea()).resize((64, 48), Image.BICUBIC))
    assert measure(small).condition == "clean"
    for q in (75, 90):
        s = measure(decoded(small, q))
        assert is_jpeg(s.condition) and s.jpeg_grid > choose.JPEG_GRID and s.jpeg_quality == q, (q, s)
        assert f"JPEG quality about {q} (seen in the pixels)" in choose_model(decoded(small, q)).reason
    rng = np.random.default_rng(1)
    noisy = np.clip(small + rng.normal(0, 8, small.shape), 0, 255).round().astype(np.uint8)
    assert measure(noisy).jpeg_grid < 0.1 and measure(noisy).condition == "noisy-photo"
    assert measure(skimage.data.cell()).jpeg_grid < choose.JPEG_GRID  # 8-bit gray micrograph, never a JPEG


def test_noise_makes_an_image_noisy_per_kind():
    rng = np.random.default_rng(0)
    cam = skimage.data.camera()
    noisy = np.clip(cam / 255 + rng.normal(0, 0.03, cam.shape), 0, 1)
    s = measure((noisy * 255).round().astype(np.uint8))
    assert s.kind == "photo" and s.condition == "noisy-photo" and s.noise > choose.NOISE_SHARE_PHOTO * s.detail
    # 16-bit fluorescence: dark background, Poisson noise at 50 photons at the peak.
    cell = skimage.data.cell().astype(np.float64) / 255
    fluo = (rng.poisson(cell * 50) / 50 * 4000).astype(np.uint16)
    s = measure(fluo)
    assert s.kind == "microscopy" and s.condition == "noisy-microscopy" and 25 < s.photons < choose.PHOTONS_LIGHT
    name, reason = choose_model(fluo)
    assert name == choose.model_for("noisy-microscopy") and "microscopy model" in reason and "noise about" in reason
    assert re.search(r"as from about \d+ photons at the brightest pixel \(microscopy\)", reason), reason


def test_micrographs_whose_noise_is_the_cameras_or_many_photons_get_the_light_model():
    """Read noise (the same at every brightness) or shot noise of hundreds of photons and more: part of the
    truth the user has, so the light microscopy model serves (benchmarks: the full one lost to bicubic there)."""
    rng = np.random.default_rng(0)
    cell = skimage.data.cell().astype(np.float64) / 255
    read = np.rint(500 + cell * 4000 + rng.normal(0, 60, cell.shape)).astype(np.uint16)
    bright = (500 + rng.poisson(cell * 1000) / 1000 * 4000).astype(np.uint16)
    light = choose.model_for("noisy-microscopy-light")
    assert light == "edsr-baseline-microscopy-light" != choose.model_for("noisy-microscopy")
    for x, says in ((read, "camera read noise"), (bright, "photons at the brightest pixel")):
        s = measure(x)
        assert s.condition == "noisy-microscopy-light" and choose.NOISE_FAINT_MAX < s.noise <= choose.NOISE_LIGHT_MAX, s
        assert s.photons >= choose.PHOTONS_LIGHT
        name, reason = choose_model(x)
        assert name == light and says in reason and "light microscopy model" in reason, reason
        assert reason.endswith(f"'{light}' at detail {cache.entry(light).detail:g}"), reason  # the registry's share
    assert measure(read).photons > choose.READ_NOISE_PHOTONS  # what the reason calls read noise
    # Heavy noise is never kept, whatever its source: 6 % read noise gets the full microscopy model.
    heavy = np.rint(2000 + cell * 4000 + rng.normal(0, 240, cell.shape)).astype(np.uint16)
    s = measure(heavy)
    assert s.noise > choose.NOISE_LIGHT_MAX and s.photons >= choose.PHOTONS_LIGHT and s.condition == "noisy-microscopy"
    assert 600 < measure(bright).photons < 2000


def test_micrographs_with_faint_noise_get_the_faint_noise_model():
    """Of the light tier, inputs whose noise reads at most NOISE_FAINT_MAX go to the model trained on truths
    with camera noise (calibrated on held-out time-lapse frames: scripts/calibrate_chooser.py micro); the
    same image with more noise stays with the light model, and each choice says which and why."""
    cell = skimage.data.cell().astype(np.float64) / 255
    faint_read = np.rint(500 + cell * 4000 + np.random.default_rng(1).normal(0, 30, cell.shape)).astype(np.uint16)
    faint_shot = (500 + np.random.default_rng(2).poisson(cell * 3000) / 3000 * 4000).astype(np.uint16)
    faint = choose.model_for("noisy-microscopy-faint")
    assert faint == "edsr-baseline-microscopy-faint" != choose.model_for("noisy-microscopy-light")
    for x, says in ((faint_read, "noise about 0.7 %"), (faint_shot, "photons at the brightest pixel")):
        s = measure(x)
        assert s.condition == "noisy-microscopy-faint", s
        assert choose.NOISE_MICROSCOPY < s.noise <= choose.NOISE_FAINT_MAX and s.photons >= choose.PHOTONS_LIGHT
        name, reason = choose_model(x)
        assert name == faint and says in reason and "faint-noise microscopy model" in reason, reason
        assert reason.endswith(f"'{faint}' at detail 0.8"), reason
    more = np.rint(500 + cell * 4000 + np.random.default_rng(1).normal(0, 60, cell.shape)).astype(np.uint16)
    assert choose_model(more).name == choose.model_for("noisy-microscopy-light")


def test_the_faint_split_is_calibrated_on_frames_no_model_saw(load_script, monkeypatch, capsys):
    """scripts/calibrate_chooser.py micro: held-out time-lapse frames (disjoint from the training frames), with
    camera noise in the truth; it renders the light-tier inputs with both models and marks NOISE_FAINT_MAX in
    its table. One noise level and the corners only here (the whole run takes ~40 min)."""
    cc = load_script("calibrate_chooser")
    import noise_training_data

    corners, whole = cc.micro_truths(False), cc.micro_truths(True)
    assert len(corners) == 9 and len(whole) == 3
    assert {int(n[1:].split("-")[0]) for n in whole}.isdisjoint(noise_training_data.TIMELAPSE_FRAMES)
    # The corners only: the whole frames take minutes.
    monkeypatch.setattr(cc, "micro_truths", lambda whole: {} if whole else corners)
    monkeypatch.setattr(sys, "argv", ["calibrate_chooser.py", "micro", "--levels", "1"])
    cc.main()
    out = capsys.readouterr().out
    rows = {line.split(" | ")[0][2:]: line for line in out.splitlines() if line.startswith("| ")}
    assert "faint-noise model up to 1.05 % (NOISE_FAINT_MAX)" in rows and "1 %" in rows
    n = int(rows["1 %"].split(" | ")[1])
    assert n > 0 and f"{n} light-tier inputs" in out
    light, faint = (float(v.strip(" |")) for v in rows["1 %"].split(" | ")[3:5])
    assert faint > light  # with faint camera noise in the truth, the faint-noise model gains more
    # Each tier's detail: the faint tier's inputs scored at every share, the registry's marked.
    tier = rows["noisy-microscopy-faint"].split(" | ")
    assert int(tier[1]) == n and len(tier) == 2 + len(cc.MICRO_DETAILS)
    served = cache.entry(choose.model_for("noisy-microscopy-faint")).detail
    marked = [d for d, cell in zip(cc.MICRO_DETAILS, tier[2:]) if "*" in cell]
    assert marked == [served]


@pytest.mark.parametrize("quality", [30, 45, 50, 60, 75, 85, 90, 95])
def test_quality_is_read_from_a_decoded_arrays_pixels(photo, quality):
    """The steps JPEG rounded the coefficients to name the quality, for colour and gray, at any crop."""
    assert quality_from_pixels(decoded(photo[100:260, 150:310], quality)) == quality
    gray = skimage.data.camera()[:160, :160]
    assert quality_from_pixels(decoded(gray, quality)) == quality
    # A crop of a decoded JPEG: its blocks start at the grid's phase.
    shifted = decoded(photo[:200, :200], quality)[3:, 6:]
    assert quality_from_pixels(shifted, jpeg_grid(choose.luma(shifted)).phase) == quality


def test_quality_from_pixels_says_none_when_it_cannot_tell(photo):
    crop = photo[100:260, 150:310]
    assert quality_from_pixels(crop) is None  # never compressed
    rng = np.random.default_rng(0)
    noisy = np.clip(np.rint(decoded(crop, 50) + rng.normal(0, 3, crop.shape)), 0, 255).astype(np.uint8)
    assert quality_from_pixels(noisy) is None  # noise after decoding hides the steps
    resized = np.asarray(Image.fromarray(decoded(crop, 50)).resize((144, 144), Image.BICUBIC))
    assert quality_from_pixels(resized) is None  # resampling moves the blocks
    assert quality_from_pixels(decoded(crop, 50)[:20, :20]) is None  # 4 blocks: too few
    assert quality_from_pixels(crop.astype(np.uint16)) is None


def test_clipped_blocks_do_not_hide_the_quality(photo):
    # A bright photo whose highlights clip at 255 after decoding: those blocks are left out.
    bright = np.clip(photo[100:260, 150:310].astype(np.int16) * 2, 0, 255).astype(np.uint8)
    x = decoded(bright, 60)
    assert np.mean(x == 255) > 0.05 and quality_from_pixels(x) == 60


def test_jpeg_tiers_by_quality(tmp_path, photo):
    """A file's tables and an array's pixels give the same quality and so the same tier."""
    crop = photo[100:260, 150:310]
    for q, want in ((40, "jpeg-heavy"), (70, "jpeg"), (90, "jpeg-light"), (95, "clean")):
        assert choose.jpeg_tier(q) == want or q >= choose.JPEG_CLEAN_QUALITY
        path = tmp_path / f"{q}.jpg"
        path.write_bytes(jpeg_bytes(crop, q))
        by_file, by_pixels = measure(None, path=path), measure(decoded(crop, q))
        assert by_file.condition == by_pixels.condition == want, (q, by_file, by_pixels)
        assert by_file.jpeg_quality == by_pixels.jpeg_quality == q
    assert choose.JPEG_HEAVY_QUALITY < choose.JPEG_LIGHT_QUALITY < choose.JPEG_CLEAN_QUALITY


def test_kinds():
    assert image_kind(skimage.data.astronaut()) == "photo"
    assert image_kind(skimage.data.camera()) == "photo"
    assert image_kind(np.zeros((64, 64), np.uint16)) == "microscopy"
    dark = np.zeros((128, 128), np.uint8)
    dark[40:60, 40:60] = 200  # a bright nucleus on a dark background
    assert image_kind(dark) == "microscopy"
    # an RGB photo is a photo whatever its dtype; an RGB fluorescence composite (mostly dark) is not
    astro = skimage.data.astronaut()
    assert image_kind(astro.astype(np.float32) / 255) == image_kind(astro.astype(np.uint16) * 257) == "photo"
    assert image_kind(np.stack([dark.astype(np.uint16) * 257] * 3, axis=-1)) == "microscopy"
    assert image_kind(np.zeros((64, 64, 2), np.uint8)) == "microscopy"


def test_a_noisy_rgb_photo_gets_the_same_model_in_every_dtype():
    rng = np.random.default_rng(3)
    x = np.clip(skimage.data.astronaut()[100:356, 100:356] / 255 + rng.normal(0, 0.03, (256, 256, 3)), 0, 1)
    as8 = np.rint(x * 255).astype(np.uint8)
    picks = {str(a.dtype): choose_model(a) for a in (as8, as8.astype(np.float32) / 255, as8.astype(np.uint16) * 257)}
    assert len({name for name, _ in picks.values()}) == 1 and "photo" in picks["uint8"][0], picks


def test_clean_images_keep_the_released_model(photo):
    name, reason = choose_model(photo)
    assert name == "edsr-baseline" and reason.startswith("clean photo") and "released model" in reason


def test_the_choice_comes_from_the_registry(monkeypatch, photo):
    """Which model serves a condition is the registry's auto_for, not a branch in code."""
    from dataclasses import replace

    real = cache.registry()
    swapped = {
        n: replace(
            e, auto_for=("jpeg",) if n == "edsr-baseline-denoise" else tuple(a for a in e.auto_for if not is_jpeg(a))
        )
        for n, e in real.items()
    }
    monkeypatch.setattr(cache, "registry", lambda: swapped)
    # No model names the heavy or light tier: both fall back to the model for `jpeg`.
    assert choose_model(decoded(photo, 30)).name == "edsr-baseline-denoise"
    assert choose_model(decoded(photo, 90)).name == "edsr-baseline-denoise"
    # No light microscopy model: the full one serves, and the reason names it as such.
    no_light = {
        n: replace(e, auto_for=tuple(a for a in e.auto_for if a != "noisy-microscopy-light")) for n, e in real.items()
    }
    monkeypatch.setattr(cache, "registry", lambda: no_light)
    rng = np.random.default_rng(0)
    read = np.rint(500 + skimage.data.cell() * 16.0 + rng.normal(0, 60, (660, 550))).astype(np.uint16)
    name, reason = choose_model(read)
    assert name == "edsr-baseline-microscopy" and "camera read noise" in reason, reason
    assert "light microscopy model" not in reason and "microscopy model 'edsr-baseline-microscopy'" in reason
    # No faint-noise model: the light one serves faint noise, named as the light model.
    no_faint = {
        n: replace(e, auto_for=tuple(a for a in e.auto_for if a != "noisy-microscopy-faint")) for n, e in real.items()
    }
    monkeypatch.setattr(cache, "registry", lambda: no_faint)
    faint = np.rint(500 + skimage.data.cell() * 16.0 + rng.normal(0, 30, (660, 550))).astype(np.uint16)
    assert choose.measure(faint).condition == "noisy-microscopy-faint"
    name, reason = choose_model(faint)
    assert name == "edsr-baseline-microscopy-light" and "light microscopy model" in reason, reason
    # No light noisy-photo model: the photo model serves faint photo noise, named as the noisy-photo model.
    no_light_photo = {
        n: replace(e, auto_for=tuple(a for a in e.auto_for if a != "noisy-photo-light")) for n, e in real.items()
    }
    monkeypatch.setattr(cache, "registry", lambda: no_light_photo)
    from scipy.ndimage import gaussian_filter

    smooth = gaussian_filter(photo.astype(float), (2, 2, 0))
    x = np.clip(np.rint(smooth + rng.normal(0, 2.55, smooth.shape)), 0, 255).astype(np.uint8)
    assert choose.measure(x).condition == "noisy-photo-light"
    name, reason = choose_model(x)
    assert name == "edsr-baseline-photo" and "(photo): noisy-photo model 'edsr-baseline-photo'" in reason, reason


def test_every_registry_condition_is_one_the_chooser_names():
    from typing import get_args

    for name, e in cache.registry().items():
        assert set(e.auto_for) <= set(get_args(choose.Condition)), name
    # Every JPEG tier and every microscopy condition have a committed model of their own.
    for c in (
        "jpeg-light",
        "jpeg",
        "jpeg-heavy",
        "noisy-photo",
        "noisy-photo-light",
        "noisy-microscopy",
        "noisy-microscopy-light",
        "noisy-microscopy-faint",
    ):
        assert choose.model_for(c) is not None and c in cache.entry(choose.model_for(c)).auto_for, c


def test_one_choice_per_image_for_every_window_and_tile(monkeypatch, tmp_path):
    """The chooser looks at the image once, not per tile: a JPEG-blocky image whose corner is clean
    still gets one model for every window of it."""
    import zarr

    rng = np.random.default_rng(1)
    img = decoded((rng.random((512, 512, 3)) * 40 + 100).astype(np.uint8), 40)
    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=img.shape, chunks=(64, 64, 3), dtype=img.dtype)
    z[:] = img
    calls = []
    real = choose.measure

    def counting(image, path=None):
        calls.append(1)
        return real(image, path=path)

    monkeypatch.setattr(choose, "measure", counting)
    m = liif.get_model("auto", z)
    assert real(img).condition == "jpeg-heavy"
    assert len(calls) == 1 and m.name == (choose.model_for("jpeg-heavy") or "edsr-baseline")
    field = m.open(z)
    a = field.render((32, 32), (0, 0, 16, 16))
    b = field.render((32, 32), (300, 300, 316, 316))
    assert a.shape == b.shape == (32, 32, 3) and len(calls) == 1  # rendering windows chose nothing again


def test_upscale_auto_logs_its_choice(caplog, photo):
    with caplog.at_level(logging.INFO, logger="liif_plugin"):
        liif.upscale(photo[:32, :32], 2)
    assert any("model auto: edsr-baseline" in r.getMessage() for r in caplog.records)


def test_named_model_wins(photo):
    jpeg = decoded(photo, 30)[:48, :48]
    m = liif.get_model("edsr-baseline", jpeg)
    assert m.name == "edsr-baseline"


def test_choose_is_cheap_on_a_4k_image():
    """The chooser reads one central window (SAMPLE_SIDE), whatever the image's size."""
    reads = []

    from liif_plugin.sources.source import Source

    big = np.zeros((4096, 4096), np.uint16)
    src = Source(big)
    real = src.read
    src.read = lambda *w: reads.append(w) or real(*w)
    choose_model(src)
    assert len(reads) == 1
    y0, y1, x0, x1 = reads[0]
    assert (y1 - y0) <= choose.SAMPLE_SIDE and (x1 - x0) <= choose.SAMPLE_SIDE


def test_list_models_says_what_each_is_for():
    models = {m.name: m for m in liif.list_models()}
    base = models["edsr-baseline"]
    assert base.architecture.startswith("edsr-baseline") and base.parameters == 1567323
    assert "DIV2K" in base.trained_on and "clean" in base.auto_for
    assert any("noisy-microscopy" in m.auto_for for m in models.values())
    # What each keeps of LIIF's difference from bicubic: the released model all of it, the light microscopy tier less.
    assert base.detail == 1.0 and models["edsr-baseline-microscopy-light"].detail == 0.6


def test_auto_without_an_image_is_refused_by_load_model_only():
    with pytest.raises(ValueError, match="pass the image"):
        liif.load_model("auto")
    assert liif.get_model("auto").name == "edsr-baseline"  # no image: the default


def test_faint_noise_on_a_photo_gets_the_light_photo_model():
    """A noisy photo whose noise reads at most NOISE_PHOTO_LIGHT_MAX gets the blend of the photo model with the
    released one (calibrated: scripts/calibrate_chooser.py photo-light); the same photo with more noise gets the
    photo model itself, and each reason names the model and the noise it read."""
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    small = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((170, 170), Image.BICUBIC)).astype(float)
    smooth = gaussian_filter(small, (2, 2, 0))
    light, photo = choose.model_for("noisy-photo-light"), choose.model_for("noisy-photo")
    assert light == "edsr-baseline-photo-light" and photo == "edsr-baseline-photo"
    for sigma, want, model, says in ((2.55, "noisy-photo-light", light, "light noisy-photo model"),
                                     (7.65, "noisy-photo", photo, "(photo): noisy-photo model")):  # fmt: skip
        x = np.clip(np.rint(smooth + rng.normal(0, sigma, smooth.shape)), 0, 255).astype(np.uint8)
        s = measure(x)
        assert s.condition == want and (s.noise <= choose.NOISE_PHOTO_LIGHT_MAX) == (want == "noisy-photo-light"), s
        name, reason = choose_model(x)
        assert name == model and says in reason and f"noise about {100 * s.noise:.1f} %" in reason, reason
        assert "fine detail" not in reason  # light by the split, not by the share rule
    # That the committed file is half of each parent: test_blend.py::test_committed_blend_is_its_recorded_mix...


def test_noise_small_next_to_a_photos_texture_gets_the_light_photo_model():
    """A textured photo reads more noise than it carries (its texture leaks into the estimate): gravel reads 3.2-3.5 %
    at 1 % noise. Where that noise is at most NOISE_SHARE_PHOTO_LIGHT of the fine detail and at most
    NOISE_PHOTO_LIGHT_CAP it gets the light blend, and the reason says why; heavier noise gets the photo model."""
    rng = np.random.default_rng(0)
    gravel = np.asarray(Image.fromarray(skimage.data.gravel()).resize((200, 200), Image.BICUBIC)).astype(float)
    for sigma, want in ((2.55, "noisy-photo-light"), (12.75, "noisy-photo")):
        x = np.clip(np.rint(gravel + rng.normal(0, sigma, gravel.shape)), 0, 255).astype(np.uint8)
        s = measure(x)
        share_rule = s.by_share
        assert s.condition == want and s.noise > choose.NOISE_PHOTO_LIGHT_MAX, s  # the 1.2 % split alone: photo model
        assert share_rule == (want == "noisy-photo-light"), s
        name, reason = choose_model(x)
        assert name == choose.model_for(want), reason
        assert ("small next to the photo's fine detail" in reason) == share_rule, reason
    # A photo light by the 1.2 % split does not claim the share rule: test_faint_noise_on_a_photo_gets_the_light...


def test_fine_texture_read_as_noise_gets_the_light_photo_model_and_says_so():
    """A clean crop of grass shrunk to 48-96 px reads as a noisy photo (2-5 %): its texture leaks into the estimate,
    which does not fall one scale coarser as noise does. Up to NOISE_PHOTO_LIGHT_TEXTURE_CAP it gets the light
    noisy-photo model (at 48 px neither the split nor the share rule would send it there), and the reason says it
    may be fine texture, so a user who knows the picture is clean can name the released model. White noise on a
    smooth photo, clean photos and micrographs get no such words."""
    grass = skimage.data.grass()[160:352, 160:352]
    shared = []
    for side in (48, 64, 96):
        x = np.asarray(Image.fromarray(grass).resize((side, side), Image.BICUBIC))
        s = measure(x)
        assert s.condition == "noisy-photo-light" and s.coarse_ratio > choose.TEXTURE_RATIO, s
        name, reason = choose_model(x)
        assert name == choose.model_for("noisy-photo-light"), reason
        assert reason.startswith("fine texture or noise about "), reason
        assert ("small next to the photo's fine detail" in reason) == s.by_share, reason
        shared.append(s.by_share)
    assert shared[0] is False  # 48 px: only the texture rule moved it
    # The rule's bounds: a reading above the cap, or one that falls as noise does, keeps the photo model.
    cap, ratio = choose.NOISE_PHOTO_LIGHT_TEXTURE_CAP, choose.TEXTURE_RATIO
    assert choose.light_photo(cap, cap / 0.5, ratio + 0.1)  # share 0.5: not by the share rule
    assert not choose.light_photo(cap + 0.003, cap / 0.5, ratio + 0.1)
    assert not choose.light_photo(cap, cap / 0.5, ratio - 0.1)
    released = choose.model_for("clean")
    look = advice.check(x)  # the faces' advice line says what to do about it, in each face's words
    assert f"; if it is clean texture, pass --model {released}." in look.advice("cli")
    assert f"; if it is clean texture, pick '{released}' in 'model'." in look.advice("napari")
    assert f"; if it is clean texture, pick {released} in the model menu." in look.advice("notebook")
    named = look.advice("napari", released)  # named, it still warns, for the case that this is noise
    assert "if it is clean texture" not in named and "texture: if this is noise, set 'model' to auto or" in named
    rng = np.random.default_rng(0)
    coffee = np.asarray(Image.fromarray(skimage.data.coffee()[104:296, 204:396]).resize((96, 96), Image.BICUBIC))
    x = np.clip(np.rint(coffee + rng.normal(0, 7.65, coffee.shape)), 0, 255).astype(np.uint8)  # 3 % noise
    s = measure(x)
    assert s.condition.startswith("noisy-photo") and s.coarse_ratio < choose.TEXTURE_RATIO, s
    assert choose_model(x).reason.startswith("noise about "), choose_model(x).reason
    assert "texture: set 'model' to auto or" in advice.check(x).advice("napari", released)
    assert measure(coffee).coarse_ratio is None  # clean: not measured, nothing to say


def test_the_share_rule_is_calibrated_on_textured_crops_no_model_saw(load_script, monkeypatch, capsys):
    """calibrate_chooser.py photo-light scores the share rule too: on gravel at 1 % noise (it reads 3.2-3.9 %, above
    the split) the half mix beats the photo model by about 1 dB, and the table marks the constants choose uses."""
    out, rows, cc = _photo_light_run(load_script, monkeypatch, capsys, ("gravel",), ("noise1",), (2.5, 3.0))
    assert "2 inputs read as noisy photos" in out
    alone = float(rows["the split alone"].split(" | ")[1].strip(" |"))
    photo = float(rows["noise1"].split(" | ")[3])
    assert alone == pytest.approx(photo, abs=0.006)  # both read above 1.2 % (the split alone: the photo model)
    cells = rows[f"{choose.NOISE_SHARE_PHOTO_LIGHT:g}"].split(" | ")[1:]
    mine = next(c for c in cells if "(`choose`)" in c)
    assert cells.index(mine) == cc.PHOTO_LIGHT_CAPS.index(100 * choose.NOISE_PHOTO_LIGHT_CAP)
    gain, worst = float(mine.split()[0]), float(mine.split("worst ")[1].split(",")[0])
    assert "2 moved" in mine and gain > alone + 0.5 and worst > 0  # both moved, both gained


def test_the_texture_rule_is_calibrated_on_clean_textured_crops_no_model_saw(load_script, monkeypatch, capsys):
    """calibrate_chooser.py photo-light scores clean inputs too, and the third way into the light tier: clean grass
    at x3 and x4 reads 4.1-4.8 % noise (the photo model before the texture rule); the half mix gains on both, the
    table marks the constants choose uses, and the clean line says what the rule recovers of the released model's
    gain."""
    out, rows, cc = _photo_light_run(load_script, monkeypatch, capsys, ("grass",), ("clean",), (3.0, 4.0))
    assert "2 inputs read as noisy photos" in out
    alone = float(rows["the split and share rule alone"].split(" | ")[1].strip(" |"))
    cells = rows[f"{choose.TEXTURE_RATIO:g}"].split(" | ")[1:]
    mine = next(c for c in cells if "(`choose`)" in c)
    assert cells.index(mine) == cc.TEXTURE_CAPS.index(100 * choose.NOISE_PHOTO_LIGHT_TEXTURE_CAP)
    gain, worst = float(mine.split()[0]), float(mine.split("worst ")[1].split(",")[0])
    assert "2 moved" in mine and gain > alone + 0.2 and worst > 0  # both moved, both gained
    clean = re.search(r"2 clean inputs read as noisy photos .*released model ([-+.\d]+) dB over bicubic, "
                      r"`auto` before the texture rule ([-+.\d]+), now ([-+.\d]+)", out)  # fmt: skip
    assert clean is not None, out
    released, before, now = (float(v) for v in clean.groups())
    assert before < now < released  # closer to the released model, not past it


def _photo_light_run(load_script, monkeypatch, capsys, crops, cases, scales):
    """calibrate_chooser.py photo-light on a few unseen crops, cases and scales: (its output, its table rows by
    first cell, the script module)."""
    cc = load_script("calibrate_chooser")
    import blend_weights as bw  # the module the script reads UNSEEN from (scripts/ is on sys.path now)

    monkeypatch.setattr(bw, "UNSEEN", crops)
    monkeypatch.setattr(cc, "PHOTO_LIGHT_CASES", cases)
    monkeypatch.setattr(cc, "PHOTO_LIGHT_SCALES", scales)
    monkeypatch.setattr(sys, "argv", ["calibrate_chooser.py", "photo-light"])
    cc.main()
    out = capsys.readouterr().out
    return out, {line.split(" | ")[0][2:]: line for line in out.splitlines() if line.startswith("| ")}, cc


def test_the_light_photo_split_is_calibrated_on_photos_no_model_saw(load_script, monkeypatch, capsys):
    """scripts/calibrate_chooser.py photo-light: the unseen scikit-image crops (no model trained on them, no benchmark
    scores on them); every input read as a noisy photo is rendered by the photo model, the released one and the
    blends, and each split is scored. One crop, two scales and two noise levels here (the whole run takes ~15 min)."""
    load_script("calibrate_chooser")
    import blend_weights as bw
    import realworld as rw

    assert set(bw.UNSEEN).isdisjoint(rw.PHOTOS)
    # retina is smooth: at 1 % noise it reads under 1.2 %, at 5 % above
    out, rows, _ = _photo_light_run(load_script, monkeypatch, capsys, ("retina",), ("noise1", "noise5"), (3.0, 4.0))
    n = {c: int(rows[c].split(" | ")[1]) for c in ("noise1", "noise5")}
    assert n == {"noise1": 2, "noise5": 2} and "4 inputs read as noisy photos" in out  # both tiers, 2 scales each
    photo, released, _, half, _ = (float(v.strip(" |")) for v in rows["noise1"].split(" | ")[3:8])
    assert half > photo and half > released  # faint noise: the half mix beats both parents
    photo, released, *_ = (float(v.strip(" |")) for v in rows["noise5"].split(" | ")[3:8])
    assert photo > released  # heavy noise: the photo model beats the released one
    assert "up to 1.2 %" in rows and "the blend always" in rows


def test_photo_noise_counts_against_the_images_own_fine_detail():
    # The same 1 % noise: a textured photo (astronaut shrunk 3x) keeps the released model, which still
    # gains there; the same photo blurred (little fine detail left) reads noisy and gets the photo model.
    from scipy.ndimage import gaussian_filter

    rng = np.random.default_rng(0)
    small = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((170, 170), Image.BICUBIC)).astype(float)
    for image, want in ((small, "clean"), (gaussian_filter(small, (2, 2, 0)), "noisy-photo-light")):
        x = np.clip(np.rint(image + rng.normal(0, 2.55, image.shape)), 0, 255).astype(np.uint8)
        s = measure(x)
        assert s.condition == want and 0.008 < s.noise < 0.016, (want, s)
        assert (s.noise > choose.NOISE_SHARE_PHOTO * s.detail) == (want != "clean")
    # Nearly noiseless smooth images stay clean, however little detail they have.
    flat = np.clip(np.rint(gaussian_filter(small, (6, 6, 0))), 0, 255).astype(np.uint8)
    assert measure(flat).condition == "clean"
    # Too small to weigh noise against detail (48 2x2 blocks in the flattest quarter): clean.
    tiny = skimage.data.camera()[200:224, 200:232]
    assert measure(tiny).noise > choose.NOISE_FLOOR_PHOTO and measure(tiny).condition == "clean"
