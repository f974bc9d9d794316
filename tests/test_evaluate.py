"""`liif evaluate` and liif_plugin.quality.evaluate with the real pretrained model and scikit-image images."""

import argparse
import csv
import json

import numpy as np
import pytest
import skimage.data
from PIL import Image
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from liif_plugin.cli import evaluate as cli_evaluate
from liif_plugin.quality import evaluate as ev


@pytest.fixture(scope="module")
def astro():
    return skimage.data.astronaut()[96:160, 180:244]  # 64x64 RGB uint8: face and helmet edges


def run_cli(argv):
    parser = argparse.ArgumentParser(prog="liif")
    cli_evaluate.add_parser(parser.add_subparsers())
    args = parser.parse_args(["evaluate", *argv])
    return args.func(args)


def test_psnr_and_ssim_agree_with_scikit_image():
    rng = np.random.default_rng(0)
    a = skimage.data.camera()[200:264, 200:264]
    b = np.clip(a.astype(int) + rng.integers(-12, 13, a.shape), 0, 255).astype(np.uint8)
    assert ev.psnr(a, b, 255) == pytest.approx(peak_signal_noise_ratio(a, b, data_range=255), abs=1e-9)
    want = structural_similarity(a, b, data_range=255, gaussian_weights=True, sigma=1.5, use_sample_covariance=False)
    assert ev.ssim(a, b, 255) == pytest.approx(want, abs=1e-6)
    # With a border the metric only sees the interior.
    assert ev.psnr(a, b, 255, border=4) == pytest.approx(
        peak_signal_noise_ratio(a[4:-4, 4:-4], b[4:-4, 4:-4], data_range=255), abs=1e-9
    )
    assert ev.psnr(a, a, 255) == float("inf")


def test_bicubic_is_pil_bicubic_and_keeps_dtype_and_layout(astro):
    want = np.asarray(Image.fromarray(astro).resize((32, 24), Image.BICUBIC))
    np.testing.assert_array_equal(ev.bicubic_resize(astro, (24, 32)), want)
    gray16 = skimage.data.camera()[:40, :40].astype(np.uint16) * 257
    out = ev.bicubic_resize(gray16, (20, 20))
    assert out.dtype == np.uint16 and out.shape == (20, 20)
    hr, lr = ev.degrade(astro[:63, :62], 3)  # cropped to a multiple of the scale
    assert hr.shape == (63, 60, 3) and lr.shape == (21, 20, 3)


def test_liif_beats_bicubic_on_a_photo(model, astro):
    rows = ev.evaluate({"astro": astro}, [2, 4], model=model, progress=False)
    assert [(r.scale, r.method) for r in rows] == [(2, "liif"), (2, "bicubic"), (4, "liif"), (4, "bicubic")]
    by = {(r.scale, r.method): r for r in rows}
    assert by[(2, "liif")].psnr > by[(2, "bicubic")].psnr + 1.0
    assert by[(2, "liif")].ssim > by[(2, "bicubic")].ssim
    assert by[(2, "liif")].psnr > by[(4, "liif")].psnr  # smaller factor, easier problem
    y = ev.evaluate({"astro": astro}, [2], model=model, y_channel=True, progress=False)
    assert y[0].psnr != by[(2, "liif")].psnr and y[0].psnr > y[1].psnr
    s = ev.summary(rows)
    assert s[0]["gain_db"] == pytest.approx(by[(2, "liif")].psnr - by[(2, "bicubic")].psnr)


def test_gray_and_16_bit_are_scored_in_their_own_range(model):
    gray8 = skimage.data.cell()[200:264, 200:264]
    rgb = np.repeat(gray8[..., None], 3, axis=2)
    r8 = ev.evaluate({"g": gray8}, [2], model=model, progress=False)
    rrgb = ev.evaluate({"g": rgb}, [2], model=model, progress=False)
    assert r8[0].psnr == pytest.approx(rrgb[0].psnr, abs=0.05)  # gray is the same image as its RGB copy
    # 16-bit data is scored against its own max - min (not 65535): the same image stored as uint8
    # and as uint16 (x 257) then scores alike once the uint8 peak (255) is put on the same footing.
    cam8 = skimage.data.camera()[100:164, 100:164]
    cam16 = cam8.astype(np.uint16) * 257
    r8 = ev.evaluate({"c": cam8}, [2], model=model, progress=False)
    r16 = ev.evaluate({"c": cam16}, [2], model=model, progress=False)
    hr8, _ = ev.degrade(cam8, 2)
    assert r16[0].data_range == float(hr8.max() - hr8.min()) * 257
    own8 = r8[0].psnr - 20 * np.log10(255 / float(hr8.max() - hr8.min()))
    assert r16[0].psnr == pytest.approx(own8, abs=0.6)  # 65535 as peak would add ~48 dB
    assert r16[0].psnr > r16[1].psnr


def test_cli_writes_table_csv_json_and_crops(tmp_path, astro, capsys):
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(astro).save(d / "astro.png")
    Image.fromarray(skimage.data.camera()[100:160, 100:164]).save(d / "camera.png")
    rc = run_cli(
        [
            str(d),
            "--scales",
            "2,3",
            "--csv",
            str(tmp_path / "r.csv"),
            "--json",
            str(tmp_path / "r.json"),
            "--save-crops",
            str(tmp_path / "crops"),
            "--quiet",
        ]
    )
    assert rc == 0
    out = capsys.readouterr().out
    assert "astro" in out and "camera" in out and "mean of 2" in out
    rows = list(csv.DictReader(open(tmp_path / "r.csv")))
    assert len(rows) == 2 * 2 * 2 and {r["method"] for r in rows} == {"liif", "bicubic"}
    data = json.loads((tmp_path / "r.json").read_text())
    assert [s["scale"] for s in data["summary"]] == [2.0, 3.0]
    crop = np.asarray(Image.open(tmp_path / "crops" / "astro_x2.png"))
    assert crop.shape[0] == 64 and crop.shape[1] == 4 * 64 + 3 * 4
    # Nothing is overwritten without --force.
    rc = run_cli([str(d / "astro.png"), "--scales", "2", "--csv", str(tmp_path / "r.csv"), "--quiet"])
    assert rc == 2 and "--force" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, words",
    [
        (["{d}", "--scales", "2,x"], "numbers"),
        (["{d}", "--scales", "0.5"], "greater than 1"),
        (["{d}/missing.png"], "does not exist"),
        (["{d}", "--csv", "{d}/nodir/x.csv"], "folder of"),  # (was found after the whole evaluation)
        (["{d}", "--csv", "{d}/same.out", "--json", "{d}/same.out"], "same file"),
    ],
)
def test_cli_bad_input_gives_one_line_error(tmp_path, capsys, argv, words):
    rc = run_cli([a.format(d=tmp_path) for a in argv] + ["--quiet"])
    err = capsys.readouterr().err.strip()
    assert rc == 2 and words in err and len(err.splitlines()) == 1


def test_too_small_for_the_scale_is_refused(model):
    with pytest.raises(ValueError, match="too small"):
        ev.evaluate({"tiny": np.zeros((20, 20), np.uint8)}, [12], model=model, progress=False)


def test_notebook_04_runs_headless_and_is_stored_clean():
    from pathlib import Path

    import nbclient
    import nbformat

    path = Path(__file__).resolve().parents[1] / "notebooks" / "04_how_liif_works.ipynb"
    nb = nbformat.read(path, as_version=4)
    assert nb.metadata["kernelspec"]["name"] == "python3"
    assert all(not c.get("outputs") and c.get("execution_count") is None for c in nb.cells if c.cell_type == "code")
    nbclient.NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    text = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "blend by hand" in text and "field.render" in text  # the notebook checks its own ensemble maths
    assert sum("image/png" in o.get("data", {}) for c in nb.cells if c.cell_type == "code" for o in c.outputs) == 4


def test_same_stems_stay_apart_and_a_flat_image_writes_valid_json(tmp_path, astro, capsys):
    """astro.png and astro.jpg were one row ('mean of 2' over 1 row); a flat image (exact for both methods:
    infinite PSNR) printed 'inf inf +nan' and wrote JSON that parsers reject."""
    d = tmp_path / "imgs"
    d.mkdir()
    Image.fromarray(astro).save(d / "astro.png")
    Image.fromarray(astro).save(d / "astro.jpg", quality=60)
    Image.fromarray(np.full((64, 64), 90, np.uint8)).save(d / "flat.png")
    assert run_cli([str(d), "--scales", "2", "--json", str(tmp_path / "r.json"), "--quiet"]) == 0
    table = capsys.readouterr().out
    assert "astro.png" in table and "astro.jpg" in table and "mean of 2" in table and "nan" not in table
    flat = next(ln for ln in table.splitlines() if ln.startswith("flat.png"))
    assert flat.split()[4] == "flat"  # the gain column: both exact
    data = json.loads((tmp_path / "r.json").read_text(), parse_constant=lambda c: pytest.fail(f"JSON has {c}"))
    assert {r["image"] for r in data["rows"]} == {"astro.png", "astro.jpg", "flat.png"}
    assert data["summary"][0]["images"] == 2 and np.isfinite(data["summary"][0]["gain_db"])
