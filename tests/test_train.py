"""Fine-tuning with the real network: loss goes down, checkpoints are official-format and round-trip."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest
import skimage.data
import torch
from PIL import Image

import liif_plugin as liif
from liif_plugin.cli import train as cli_train
from liif_plugin.engine.model import LiifModel
from liif_plugin.hub import cache
from liif_plugin.training.train import load_planes, make_batch, train

LAYOUTS = Path(__file__).resolve().parent / "data" / "official_checkpoint_layouts.json"


def small_images():
    """A handful of packaged images, small so a CPU step stays short: RGB, gray uint8 and 16-bit."""
    return [
        skimage.data.immunohistochemistry()[:120, :120],
        skimage.data.cell()[200:320, 200:320],
        skimage.data.camera()[:120, :120].astype(np.uint16) * 257,
    ]


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="liif")
    cli_train.add_parser(parser.add_subparsers())
    args = parser.parse_args(["train", *argv])
    return args.func(args)


def test_gray_and_16_bit_become_rgb_planes_like_at_inference():
    planes, arrs = load_planes(small_images())
    assert len(planes) == 3 and all(p.shape[0] == 3 and p.dtype == torch.float32 for p, _ in planes)
    assert [q for _, q in planes] == [255, 255, None]  # 8-bit LR patches stay 8-bit, as in the authors' recipe
    (gray, _), (g16, _) = planes[1], planes[2]
    assert torch.equal(gray[0], gray[1]) and torch.equal(gray[0], gray[2])
    assert float(g16.min()) == 0.0 and float(g16.max()) == 1.0  # stretched over its own range
    import random

    lr, coord, cell, gt = make_batch(planes, 3, 4.0, random.Random(0), "cpu")
    assert lr.shape == (3, 3, 48, 48) and coord.shape == (3, 2304, 2) and gt.shape == (3, 2304, 3)
    assert float(coord.abs().max()) < 1 and float(gt.min()) >= -1 and float(gt.max()) <= 1
    lr8, *_ = make_batch(planes[:1], 2, 4.0, random.Random(0), "cpu")
    v = (lr8 * 0.5 + 0.5) * 255
    assert torch.allclose(v, v.round(), atol=1e-3)


def test_training_lowers_the_loss_and_checkpoint_reloads_to_same_output(tmp_path):
    # From random weights the loss must fall fast; a real decrease, not noise.
    out = tmp_path / "scratch.pth"
    res = train(
        small_images(),
        out=out,
        steps=12,
        init=None,
        encoder="edsr-baseline",
        batch_size=2,
        lr=1e-3,
        log_every=3,
        val_every=0,
        save_every=0,
        val_scales=(2,),
        progress=False,
        seed=1,
    )
    first, last = res.losses[0][1], res.losses[-1][1]
    assert last < 0.7 * first, res.losses
    assert res.validation and res.validation[-1][0] == 12

    # The file is the authors' format, with the exact official keys and shapes.
    ckpt = torch.load(out, map_location="cpu", weights_only=True)
    assert set(ckpt) == {"model", "optimizer", "epoch"} and ckpt["epoch"] == 12
    assert ckpt["model"]["name"] == "liif" and ckpt["optimizer"]["name"] == "adam"
    official = json.load(open(LAYOUTS))["edsr-baseline"]
    assert ckpt["model"]["args"] == official["model_spec_without_sd"]["args"]
    assert {k: list(v.shape) for k, v in ckpt["model"]["sd"].items()} == official["state_dict_shapes"]

    # Reloaded through the public API, it renders exactly what the trained network renders.
    x = skimage.data.astronaut()[100:140, 180:220]
    in_memory = LiifModel(res.net, res.spec, "trained", device="cpu").encode(x).render((70, 70))
    reloaded = liif.load_model(out, device="cpu").encode(x).render((70, 70))
    np.testing.assert_array_equal(in_memory, reloaded)


def test_fine_tune_resume_and_register(tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "cache"))
    (tmp_path / "cache").mkdir()
    out = tmp_path / "ft.pth"
    pretrained = liif.load_model("edsr-baseline", device="cpu")
    res = train(
        small_images()[:1],
        out=out,
        steps=2,
        init=pretrained.path,
        batch_size=2,
        val_every=0,
        val_scales=(2,),
        progress=False,
    )
    before = {k: v.clone() for k, v in pretrained.net.state_dict().items()}
    after = torch.load(out, weights_only=True)["model"]["sd"]
    assert any(not torch.equal(before[k], after[k]) for k in before)  # it moved from the pretrained weights
    # Fine-tuning for 2 steps at 1e-4 stays close to where it started.
    assert res.validation[-1][1]["clean"][2] > 0.5  # still well above bicubic on held-out data (gain in dB)

    res2 = train(
        small_images()[:1], out=out, steps=2, resume=out, batch_size=2, val_every=0, val_fraction=0, progress=False
    )
    ck = torch.load(out, weights_only=True)
    assert res2.steps == 4 and ck["epoch"] == 4
    assert all(int(s["step"]) == 4 for s in ck["optimizer"]["sd"]["state"].values())  # Adam state carried on

    cache.add("my-ihc", out)
    m = liif.load_model("my-ihc", device="cpu")
    assert m.name == "my-ihc" and m.encoder_name == "edsr-baseline"


def test_cli_trains_writes_and_refuses_to_overwrite(tmp_path, capsys):
    d = tmp_path / "data"
    d.mkdir()
    Image.fromarray(skimage.data.coffee()[:150, :150]).save(d / "coffee.png")
    Image.fromarray(skimage.data.moon()[:150, :150]).save(d / "moon.png")
    out = tmp_path / "cli.pth"
    assert (
        run_cli(["--data", str(d), "--out", str(out), "--steps", "2", "--batch", "2", "--quiet", "--val-every", "0"])
        == 0
    )
    text = capsys.readouterr().out
    assert "liif weights add" in text and "gain over bicubic" in text
    assert liif.load_model(out, device="cpu").encoder_name == "edsr-baseline"
    assert run_cli(["--data", str(d), "--out", str(out), "--steps", "1", "--quiet"]) == 2
    assert "--force" in capsys.readouterr().err


@pytest.mark.parametrize("degrade", ["jpeg", "photo"])
def test_small_images_train_under_every_degradation(tmp_path, capsys, degrade):
    """A 128 px image's held-out strip is 6 px at x4: the JPEG step's shifted block grid once padded it
    by more than its side (a traceback at the first validation)."""
    Image.fromarray(skimage.data.camera()[:128, :128]).save(tmp_path / "cam.png")
    out = tmp_path / "o.pth"
    argv = ["--data", str(tmp_path / "cam.png"), "--out", str(out), "--degrade", degrade, "--steps", "1"]
    assert run_cli(argv + ["--batch", "1", "--quiet"]) == 0, capsys.readouterr().err
    assert out.exists()


@pytest.mark.parametrize(
    "argv, words",
    [
        (["--data", "{d}/nothing"], "does not exist"),
        (["--data", "{d}", "--steps", "0"], "at least 1"),
        (["--data", "{d}", "--batch", "0"], "at least 1"),
        (["--data", "{d}", "--minutes", "-1"], "positive"),
        (["--data", "{d}", "--resume", "{d}/none.pth"], "does not exist"),
    ],
)
def test_cli_bad_input_gives_one_line_error(tmp_path, capsys, argv, words):
    Image.fromarray(skimage.data.camera()[:80, :80]).save(tmp_path / "cam.png")
    rc = run_cli([a.format(d=tmp_path) for a in argv] + ["--out", str(tmp_path / "o.pth"), "--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1


def test_bf16_off_stays_off_from_python(monkeypatch, tmp_path):
    """train(bf16="off") must not autocast (a non-empty string used to count as True)."""
    from liif_plugin.training.train import resolve_bf16

    assert resolve_bf16("off", ["bf16", "fp32"]) is False
    assert resolve_bf16(False, ["bf16"]) is False
    assert resolve_bf16("on", ["fp32"]) is True
    assert resolve_bf16("auto", ["bf16", "fp32"]) is True and resolve_bf16("auto", ["fp32"]) is False
    with pytest.raises(ValueError, match="bf16 must be"):
        resolve_bf16("yes", ["fp32"])
    seen = []
    real = torch.autocast

    def spy(device_type, dtype=None, enabled=True, **k):
        seen.append(enabled)
        return real(device_type, dtype=dtype, enabled=enabled, **k)

    monkeypatch.setattr(torch, "autocast", spy)
    res = train(
        small_images()[:1],
        out=tmp_path / "x.pth",
        steps=1,
        batch_size=1,
        val_fraction=0,
        progress=False,
        bf16="off",
        lr_size=16,
        n_query=32,
        log=tmp_path / "x.jsonl",
        device="cpu",
    )
    assert seen and not any(seen)
    assert res.bf16 is False and res.device.startswith("cpu: ")
    run = json.loads((tmp_path / "x.jsonl").read_text().splitlines()[0])["run"]
    assert run["bf16"] is False and run["device"] == res.device


def test_a_run_says_and_logs_where_and_in_which_precision_it_trained(tmp_path, capsys, monkeypatch):
    """bf16="auto" turns autocast on where the CPU computes bf16 natively: the run must say so before its
    first step, keep it in its log for each session, and scripts/commit_model.py must carry it into the registry."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[1] / "scripts"))
    import commit_model

    from liif_plugin.runtime.hardware import cpu

    log, out = tmp_path / "run.jsonl", tmp_path / "r.pth"
    tiny = dict(batch_size=1, val_fraction=0, val_every=0, save_every=0, lr_size=16, n_query=32, log=log, device="cpu")
    a = train(small_images()[:1], out=out, steps=2, bf16="on", progress=True, **tiny)
    said = "".join(capsys.readouterr())  # tqdm.write prints to stdout, the bar to stderr
    assert a.bf16 is True and f"training on cpu: {cpu().name}" in said and "bf16 autocast" in said, said
    b = train(small_images()[:1], out=out, steps=1, resume=out, bf16="off", progress=False, **tiny)
    assert b.bf16 is False and b.steps == 3
    runs = [json.loads(line)["run"] for line in log.read_text().splitlines() if "run" in json.loads(line)]
    assert [r["bf16"] for r in runs] == [True, False]
    summary = commit_model.run_summary(log)
    assert summary["steps"] == 3
    assert summary["ran_on"] == [f"{a.device}, bf16 autocast", f"{a.device}, fp32"]
    assert commit_model.run_summary(log, upto=2)["ran_on"] == [f"{a.device}, bf16 autocast"]


def test_a_flat_validation_tile_gives_a_finite_gain():
    """Both LIIF and bicubic reproduce a flat tile exactly; the gain is taken from the summed error."""
    from liif_plugin.training.train import validate

    m = liif.load_model("edsr-baseline", device="cpu")
    flat = (torch.full((3, 64, 64), 0.5), 255)
    textured = (torch.from_numpy(skimage.data.astronaut()[:64, :64].transpose(2, 0, 1).copy()).float() / 255, 255)
    v = validate(m.net, m.spec, [flat, textured], (2,), torch.device("cpu"))
    assert np.isfinite(v["clean"][2]) and v["clean"][2] > 0
    v = validate(m.net, m.spec, [flat], (2,), torch.device("cpu"))
    assert np.isfinite(v["clean"][2])


def test_lr_end_decays_along_a_cosine_to_the_end_of_the_step_or_time_budget(tmp_path):
    from liif_plugin.training.train import cosine_lr

    lrs = [cosine_lr(1e-4, 1e-5, i, 11, 0.0, None) for i in range(11)]
    assert lrs[0] == pytest.approx(1e-4) and lrs[-1] == pytest.approx(1e-5) and lrs[5] == pytest.approx(5.5e-5)
    assert all(a > b for a, b in zip(lrs, lrs[1:]))
    # A time budget that runs out first ends the decay first.
    assert cosine_lr(1e-4, 1e-5, 2, 100, 30.0, 60.0) == pytest.approx(5.5e-5)
    assert cosine_lr(1e-4, 1e-5, 2, 100, 90.0, 60.0) == pytest.approx(1e-5)

    log = tmp_path / "run.jsonl"
    train(
        small_images()[:1], out=tmp_path / "a.pth", steps=4, init=None, batch_size=1, lr=1e-3, lr_end=1e-4,
        log_every=1, val_every=0, val_fraction=0, save_every=0, progress=False, log=log,
    )  # fmt: skip
    logged = [json.loads(line)["lr"] for line in log.read_text().splitlines() if "lr" in json.loads(line)]
    assert logged[0] == pytest.approx(1e-3) and logged[-1] == pytest.approx(1e-4) and len(logged) == 4
    with pytest.raises(ValueError, match="lr_end must be between 0 and lr"):
        train(small_images()[:1], out=tmp_path / "b.pth", steps=1, init=None, lr=1e-4, lr_end=1e-3, progress=False)


def test_the_progress_bar_counts_to_the_end_of_the_time_budget(tmp_path, capsys):
    # 10 000 steps asked, a 1-second budget: the bar must not promise hours of steps that will not run.
    train(
        small_images()[:1], out=tmp_path / "a.pth", steps=10_000, init=None, batch_size=1, lr=1e-4,
        val_every=0, val_fraction=0, save_every=0, progress=True, max_seconds=1.0,
    )  # fmt: skip
    last = capsys.readouterr().err.replace("\r", "\n").strip().splitlines()[-1]
    assert "/10000 steps" not in last and " left" in last, last
    n, total = (int(v) for v in last.split("|")[2].split("steps")[0].strip().split("/"))
    assert n <= total < 10_000, last


def test_an_out_that_cannot_be_written_is_refused_before_training(tmp_path, capsys):
    """A folder or a missing folder as --out failed at the first save (step 200 or the end), losing the run."""
    Image.fromarray(skimage.data.camera()[:80, :80]).save(tmp_path / "cam.png")
    (tmp_path / "outdir").mkdir()
    for out, words in ((tmp_path / "outdir", "is a folder"), (tmp_path / "nodir" / "o.pth", "does not exist")):
        assert run_cli(["--data", str(tmp_path / "cam.png"), "--out", str(out), "--force", "--quiet"]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and len(err.splitlines()) == 1 and "validation" not in err, err
