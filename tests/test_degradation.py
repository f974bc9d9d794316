"""The noise-aware training degradation: its statistics, its place in a batch, and `liif train --noise`."""

import argparse
import math
import random

import numpy as np
import pytest
import skimage.data
import torch

from liif_plugin.cli import train as cli_train
from liif_plugin.training.degradations import NoiseModel, add_noise, parse_photons
from liif_plugin.training.train import make_batch, train


def test_poisson_gaussian_noise_has_the_physical_mean_and_variance():
    level, photons, read = 0.4, 200.0, 0.01
    x = torch.full((3, 256, 256), level)
    x[1] += 0.1  # a colour patch: planes differ
    y = add_noise(x, photons, read, seed=3)
    for c, v in enumerate((level, level + 0.1, level)):
        assert abs(float(y[c].mean()) - v) < 0.002
        expected = math.sqrt(v / photons + read**2)  # shot noise variance v / P plus read noise
        assert float(y[c].std()) == pytest.approx(expected, rel=0.03)
    # Colour planes get independent noise; a gray patch gets one noise field on all three.
    r = np.corrcoef(y[0].flatten().numpy(), y[2].flatten().numpy())[0, 1]
    assert abs(r) < 0.02
    g = add_noise(torch.full((3, 64, 64), level), photons, read, seed=4)
    assert torch.equal(g[0], g[1]) and torch.equal(g[0], g[2]) and float(g.std()) > 0.02
    assert float(add_noise(torch.ones(3, 32, 32), 5.0, 0.05, seed=5).max()) <= 1.0  # clipped to the range


def test_noise_strength_is_log_uniform_with_a_clean_share():
    m = NoiseModel(photons=(10, 10000), read=0.01, clean=0.25)
    rng = random.Random(0)
    draws = [m.draw(rng) for _ in range(4000)]
    clean = sum(d is None for d in draws) / len(draws)
    assert clean == pytest.approx(0.25, abs=0.03)
    p = np.array([d[0] for d in draws if d is not None])
    r = np.array([d[1] for d in draws if d is not None])
    assert p.min() >= 10 and p.max() <= 10000 and r.min() >= 0 and r.max() <= 0.01
    assert np.median(np.log10(p)) == pytest.approx(2.5, abs=0.1)  # log-uniform: the median is the geometric mean
    assert np.mean(np.log10(p) < 1.75) == pytest.approx(0.25, abs=0.03)


def test_batch_has_noisy_inputs_and_clean_targets():
    flat = torch.full((3, 96, 96), 0.5)  # gray, flat: the clean LR and target are exactly 0.5 (0 in net units)
    photons = 100.0
    lr, _, _, gt = make_batch(
        [(flat, None)],
        4,
        2.0,
        random.Random(1),
        "cpu",
        degradation=NoiseModel(photons=(photons, photons), read=0.0, clean=0.0),
    )
    assert float(gt.abs().max()) == 0.0
    assert float(((lr * 0.5 + 0.5) - 0.5).std()) == pytest.approx(math.sqrt(0.5 / photons), rel=0.05)
    clean, *_ = make_batch([(flat, None)], 2, 2.0, random.Random(1), "cpu")
    assert float(clean.abs().max()) < 1e-6


@pytest.mark.slow
def test_training_with_noise_lowers_the_loss(tmp_path):
    from liif_plugin import models
    from liif_plugin.engine.reference import query_reference
    from liif_plugin.training.train import load_planes, scratch_spec

    imgs = [skimage.data.immunohistochemistry()[:120, :120], skimage.data.coins()[:120, :120]]
    noise = NoiseModel(photons=(20, 2000))
    planes, _ = load_planes(imgs)
    held = make_batch(planes, 8, 3.0, random.Random(99), "cpu", degradation=noise, lr_size=32, n_query=512)

    def held_loss(net):  # L1 on one fixed noisy batch, so the comparison is not batch-to-batch noise
        with torch.no_grad():
            return float(torch.nn.functional.l1_loss(query_reference(net, net.encoder(held[0]), *held[1:3]), held[3]))

    torch.manual_seed(1)  # the same random start as train(seed=1)
    before = held_loss(models.make(scratch_spec()).eval())
    res = train(
        imgs,
        out=tmp_path / "n.pth",
        steps=16,
        init=None,
        batch_size=2,
        lr=1e-3,
        val_fraction=0,
        save_every=8,
        keep=True,
        progress=False,
        seed=1,
        degradation=noise,
        lr_size=32,
        n_query=256,
        bf16=False,
    )
    after = held_loss(res.net)
    assert after < 0.85 * before, (before, after)  # 16 tiny steps from random weights: about -20 %
    assert (tmp_path / "n-step8.pth").exists() and (tmp_path / "n-step16.pth").exists()


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="liif")
    cli_train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.func(args)


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--noise", "lots"], "LOW,HIGH"),
        (["--noise", "100,10"], "low <= high"),
        (["--noise", "10,100", "--clean-share", "2"], "clean share"),
        (["--threads", "0"], "--threads"),
        (["--degrade", "jpeg", "--resize", "lanczos"], "resize methods"),
        (["--degrade", "microscopy", "--resize", "bicubic"], "--resize applies"),
        (["--noise", "10,100", "--resize", "bicubic"], "--resize applies"),
        (["--clean-share", "0.1"], "needs a degradation"),
        (["--degrade", "microscopy", "--clean-share", "-0.5"], "clean share"),
        (["--degrade", "jpeg", "--jpeg-quality", "high"], "LOW,HIGH"),
        (["--degrade", "jpeg", "--jpeg-quality", "95,75"], "1 <= low <= high <= 100"),
        (["--degrade", "jpeg", "--jpeg-quality", "0,50"], "1 <= low <= high <= 100"),
        (["--degrade", "microscopy", "--jpeg-quality", "75,95"], "--jpeg-quality applies"),
        (["--noise", "10,100", "--jpeg-quality", "75,95"], "--jpeg-quality applies"),
        (["--degrade", "jpeg", "--truth-noise", "0.02"], "--truth-noise applies to --degrade microscopy"),
        (["--degrade", "photo", "--photons", "100,1000"], "--photons applies to --degrade microscopy"),
        (["--noise", "10,100", "--truth-noise", "0.02"], "--truth-noise applies"),
        (["--degrade", "microscopy", "--photons", "1000,100"], "low <= high"),
        (["--degrade", "microscopy", "--photons", "many"], "--photons takes the photon range"),
        (["--degrade", "microscopy", "--truth-noise", "-0.1"], "target's read noise"),
        (["--degrade", "microscopy", "--truth-noise", "0.08,0.04"], "0 <= low <= high"),
        (["--degrade", "microscopy", "--truth-noise", "some"], "--truth-noise takes SIGMA or LOW,HIGH"),
    ],
)
def test_cli_bad_noise_options_give_one_line_error(tmp_path, capsys, argv, words):
    img = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(skimage.data.coins()[:64, :64]).save(img)
    rc = run_cli(["--data", str(img), "--out", str(tmp_path / "o.pth"), "--steps", "1", "--quiet", *argv])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and len(err.splitlines()) == 1 and words in err, err
    assert not (tmp_path / "o.pth").exists()


def test_parse_photons():
    assert parse_photons("10,10000") == (10.0, 10000.0) and parse_photons("50") == (50.0, 50.0)


# -- the photo and microscopy degradations ----------------------------------------------------------
from liif_plugin.training import degradations as dg  # noqa: E402


@pytest.mark.parametrize("name", ["photo", "jpeg", "microscopy"])
def test_degradations_are_seeded_and_reproducible(name):
    hr = torch.from_numpy(skimage.data.astronaut()[100:244, 100:244].transpose(2, 0, 1).copy()).float() / 255
    d = dg.make_degradation(name)
    a = [d.apply(hr, 48, random.Random(7)) for _ in range(2)]
    assert torch.equal(a[0], a[1]) and a[0].shape == (3, 48, 48)
    b = [d.apply(hr, 48, random.Random(s)) for s in range(12)]
    assert len({float(x.sum()) for x in b}) > 6  # different seeds, different degradations
    assert all(float(x.min()) >= 0 and float(x.max()) <= 1 for x in b)


def test_each_photo_step_alone():
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((3, 64, 64), dtype=np.float32))
    k = dg.blur_kernel(1.0, 1.0, 0.0)
    assert k.shape[0] % 2 == 1 and abs(float(k.sum()) - 1) < 1e-5
    blurred = dg.blur(x, k)
    assert blurred.shape == x.shape and float(blurred.std()) < 0.6 * float(x.std())  # blur removes the fine noise
    for method in dg.RESIZE_METHODS:
        assert dg.resize(x, 32, method).shape == (3, 32, 32)
    with pytest.raises(ValueError, match="unknown resize"):
        dg.resize(x, 32, "lanczos")
    smooth = dg.resize(
        torch.from_numpy(skimage.data.astronaut()[:256, :256].transpose(2, 0, 1).copy()).float() / 255, 64
    )
    j = dg.jpeg(smooth, 20, (3, 5))
    assert j.shape == smooth.shape and 0.002 < float((j - smooth).abs().mean()) < 0.05  # lossy, but the image
    assert torch.equal(dg.jpeg(smooth, 20, (3, 5)), j)  # deterministic
    g = dg.add_noise(torch.full((3, 64, 64), 0.5), float("inf"), 0.05, seed=1)  # Gaussian only
    assert abs(float(g.std()) - 0.05) < 0.005 and torch.equal(g[0], g[1])  # a gray patch stays gray


def test_photo_degradation_keeps_a_clean_share():
    hr = torch.from_numpy(skimage.data.astronaut()[:96, :96].transpose(2, 0, 1).copy()).float() / 255
    clean = dg.resize(hr, 48)
    d = dg.PhotoDegradation()
    rng = random.Random(3)
    same = sum(torch.equal(d.apply(hr, 48, rng), clean) for _ in range(400)) / 400
    assert same == pytest.approx(d.clean, abs=0.06)


def test_jpeg_degradation_is_resize_then_jpeg_only(monkeypatch):
    """The jpeg recipe never blurs or adds noise, and JPEG-compresses every patch that is not clean."""
    hr = torch.from_numpy(skimage.data.astronaut()[:96, :96].transpose(2, 0, 1).copy()).float() / 255
    calls = []

    def forbidden(*args, **kwargs):
        raise AssertionError("the jpeg recipe blurred or added noise")

    real_jpeg = dg.jpeg
    monkeypatch.setattr(dg, "blur", forbidden)
    monkeypatch.setattr(dg, "add_noise", forbidden)
    monkeypatch.setattr(dg, "jpeg", lambda *a: calls.append(a[1]) or real_jpeg(*a))
    d = dg.make_degradation("jpeg")
    rng = random.Random(5)
    clean = dg.resize(hr, 48)
    outs = [d.apply(hr, 48, rng) for _ in range(200)]
    n_clean = sum(torch.equal(x, clean) for x in outs)
    assert len(calls) == 200 - n_clean and n_clean / 200 == pytest.approx(d.clean, abs=0.07)
    assert min(calls) >= 30 and max(calls) <= 95 and len(set(calls)) > 20


def test_resize_methods_and_clean_share_are_options(monkeypatch):
    """--resize bicubic draws only bicubic; --clean-share 0 compresses every patch (liif train options)."""
    hr = torch.from_numpy(skimage.data.astronaut()[:96, :96].transpose(2, 0, 1).copy()).float() / 255
    drawn = []
    real_resize = dg.resize
    monkeypatch.setattr(dg, "resize", lambda x, n, m="bicubic": drawn.append(m) or real_resize(x, n, m))
    default, only = dg.make_degradation("jpeg"), dg.make_degradation("jpeg", clean=0.0, resize_methods=("bicubic",))
    rng = random.Random(2)
    for _ in range(60):
        default.apply(hr, 48, rng)
    assert set(drawn) == set(dg.RESIZE_METHODS)
    drawn.clear()
    clean = real_resize(hr, 48)
    outs = [only.apply(hr, 48, rng) for _ in range(60)]
    assert set(drawn) == {"bicubic"} and not any(torch.equal(x, clean) for x in outs)
    assert "resize (bicubic), then JPEG" in only.describe() and "0% of patches clean" in only.describe()
    assert dg.make_degradation("microscopy", clean=0.5).clean == 0.5


def test_microscopy_targets_carry_camera_noise_only_when_asked():
    """truth_read puts gray read noise into the target (seeded); without it the target is the crop itself
    and no random draw is spent, so every earlier seeded recipe keeps its batches."""
    hr = torch.from_numpy(np.repeat(skimage.data.coins()[:96, :96][None], 3, 0)).float() / 255
    plain = dg.make_degradation("microscopy")
    rng = random.Random(5)
    assert plain.target(hr, rng) is hr and rng.random() == random.Random(5).random()
    d = dg.make_degradation("microscopy", truth_read=0.03, photons=(200.0, 20000.0))
    a, b = d.target(hr, random.Random(9)), d.target(hr, random.Random(9))
    assert torch.equal(a, b) and torch.equal(a[0], a[1]) and torch.equal(a[0], a[2])  # seeded; gray stays gray
    assert 0.001 < float((a - hr).std()) <= 0.03 and float(a.min()) >= 0 and float(a.max()) <= 1
    assert "targets with read noise up to 0.03" in d.describe() and "200-20000 photons" in d.describe()
    assert "targets" not in plain.describe()
    # In a batch the target is the noisy crop, and the LR patch is made from that same target.
    flat = torch.full((3, 96, 96), 0.5)
    d = dg.make_degradation("microscopy", clean=1.0, truth_read=0.05)
    lr, _, _, gt = make_batch([(flat, None)], 4, 1.0, random.Random(2), "cpu", degradation=d)
    assert float(gt.std()) > 0.01  # targets: no longer the flat 0.5
    plain = dg.make_degradation("microscopy")
    _, _, _, gt0 = make_batch([(flat, None)], 4, 1.0, random.Random(2), "cpu", degradation=plain)
    assert float(gt0.abs().max()) == 0.0


def test_microscopy_target_noise_can_be_a_band():
    """--truth-noise LOW,HIGH draws the target's read noise from that band (a run for heavy-noise images);
    one number still means 'up to' and draws exactly as before, so seeded recipes keep their batches."""
    assert dg.parse_truth_noise("0.03") == (0.0, 0.03) and dg.parse_truth_noise("0.04,0.08") == (0.04, 0.08)
    up_to = dg.make_degradation("microscopy", truth_read=0.03)
    same = dg.make_degradation("microscopy", truth_read=dg.parse_truth_noise("0.03"))
    hr = torch.full((3, 256, 256), 0.5)
    assert torch.equal(up_to.target(hr, random.Random(4)), same.target(hr, random.Random(4)))
    band = dg.make_degradation("microscopy", truth_read=dg.parse_truth_noise("0.04,0.08"))
    sigmas = [float((band.target(hr, random.Random(k)) - hr).std()) for k in range(30)]
    assert 0.038 < min(sigmas) and max(sigmas) < 0.082 and max(sigmas) - min(sigmas) > 0.02, sigmas
    assert "targets with read noise 0.04-0.08" in band.describe()
    assert "targets with read noise up to 0.03" in same.describe()


def test_jpeg_quality_range_is_an_option(monkeypatch):
    """--jpeg-quality 75,95 compresses every JPEG patch at a quality in that range (a tier's fine-tune)."""
    hr = torch.from_numpy(skimage.data.astronaut()[:96, :96].transpose(2, 0, 1).copy()).float() / 255
    drawn = []
    real_jpeg = dg.jpeg
    monkeypatch.setattr(dg, "jpeg", lambda x, q, phase=(0, 0): drawn.append(q) or real_jpeg(x, q, phase))
    d = dg.make_degradation("jpeg", clean=0.0, quality=dg.parse_quality("75,95"))
    rng = random.Random(3)
    for _ in range(80):
        d.apply(hr, 48, rng)
    assert len(drawn) == 80 and min(drawn) >= 75 and max(drawn) <= 95 and len(set(drawn)) > 10
    assert "JPEG quality 75-95" in d.describe()
    assert dg.parse_quality("60") == (60, 60) and dg.make_degradation("photo", quality=(40, 60)).quality == (40, 60)


def test_cli_degrade_option(tmp_path, capsys):
    img = tmp_path / "a.png"
    from PIL import Image

    Image.fromarray(skimage.data.astronaut()[:120, :120]).save(img)
    rc = run_cli(
        [
            "--data",
            str(img),
            "--out",
            str(tmp_path / "o.pth"),
            "--steps",
            "1",
            "--quiet",
            "--batch",
            "1",
            "--patch",
            "16",
            "--queries",
            "64",
            "--val-every",
            "0",
            "--degrade",
            "photo",
            "--bf16",
            "off",
        ]
    )
    out = capsys.readouterr().out
    assert rc == 0 and "photo x2" in out  # validation reports the gain under the photo degradation too
    rc = run_cli(
        [
            "--data",
            str(img),
            "--out",
            str(tmp_path / "p.pth"),
            "--steps",
            "1",
            "--quiet",
            "--degrade",
            "photo",
            "--noise",
            "10,100",
        ]
    )
    assert rc == 2 and "give one of them" in capsys.readouterr().err
