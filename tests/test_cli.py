"""The `liif` command: real files in, real files out; bad input -> one line, exit 2, nothing written."""

import subprocess
import sys

import numpy as np
import pytest
import tifffile
from PIL import Image

from liif_plugin.cli.main import main


@pytest.fixture
def files(tmp_path, photo):
    Image.fromarray(photo).save(tmp_path / "photo.png")
    Image.fromarray(photo).save(tmp_path / "photo2.jpg")
    tifffile.imwrite(tmp_path / "stack16.tif", (photo[..., 0].astype(np.uint16) * 16))
    return tmp_path


def liif(*args):
    return main([str(a) for a in args])


def test_upscale_png(files):
    assert liif("upscale", files / "photo.png", "-o", files / "out.png", "--scale", "2.5", "--quiet") == 0
    assert Image.open(files / "out.png").size == (140, 120)


def test_sixteen_bit_tiff_stays_sixteen_bit(files):
    assert liif("upscale", files / "stack16.tif", "-o", files / "o.tif", "--size", "30x20", "--quiet") == 0
    y = tifffile.imread(files / "o.tif")
    assert y.dtype == np.uint16 and y.shape == (20, 30) and y.max() > 255


def test_width_keeps_aspect_and_region(files):
    assert liif("upscale", files / "photo.png", "-o", files / "w.png", "--width", "112", "--quiet") == 0
    assert Image.open(files / "w.png").size == (112, 96)
    assert (
        liif("upscale", files / "photo.png", "-o", files / "r.png", "--region", "0,0,10,20", "--scale", "3", "--quiet")
        == 0
    )
    assert Image.open(files / "r.png").size == (60, 30)


def test_out_dir_with_several_inputs(files, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    assert (
        liif("upscale", files / "photo.png", files / "photo2.jpg", "--out-dir", out, "--height", "24", "--quiet") == 0
    )
    assert sorted(p.name for p in out.iterdir()) == ["photo.png", "photo2.jpg"]


def test_refuses_to_overwrite_unless_asked(files, capsys):
    target = files / "exists.png"
    target.write_bytes(b"precious")
    assert liif("upscale", files / "photo.png", "-o", target, "--scale", "2", "--quiet") == 2
    assert target.read_bytes() == b"precious"
    assert "--overwrite" in capsys.readouterr().err
    assert liif("upscale", files / "photo.png", "-o", target, "--scale", "2", "--overwrite", "--quiet") == 0
    assert Image.open(target).size == (112, 96)


@pytest.mark.parametrize(
    "args,words",
    [
        (["--scale", "0"], "positive"),
        (["--scale", "abc"], "not valid"),
        (["--size", "10"], "not valid"),
        (["--scale", "1e6"], "too large"),
        (["--region", "0,0,500,5", "--scale", "2"], "outside"),
        (["--scale", "2", "--model", "nope.pth"], "does not exist"),
        (["--scale", "2", "--model", "rdn2"], "unknown model"),
    ],
)
def test_bad_arguments_one_line_nothing_written(files, capsys, args, words):
    out = files / "bad.png"
    assert liif("upscale", files / "photo.png", "-o", out, *args, "--quiet") == 2
    err = capsys.readouterr().err.strip()
    assert words in err and len(err.splitlines()) == 1 and err.startswith("liif: error:")
    assert not out.exists() and not list(files.glob(".liif-*"))


@pytest.mark.parametrize(
    "name,content,out,words",
    [
        ("broken.png", b"not a png", "o.png", "cannot read"),
        ("missing.png", None, "o.png", "does not exist"),
        ("photo.png", "keep", "o.jpg", None),
        ("stack16.tif", "keep", "o.jpg", "JPEG holds 8-bit"),
        ("photo.png", "keep", "o.gif", "cannot write"),
        ("photo.png", "keep", "nodir/o.png", "does not exist"),
    ],
)
def test_bad_files(files, capsys, name, content, out, words):
    src = files / name
    if isinstance(content, bytes):
        src.write_bytes(content)
    rc = liif("upscale", src, "-o", files / out, "--scale", "1.5", "--quiet")
    if words is None:
        assert rc == 0
        return
    assert rc == 2 and words in capsys.readouterr().err
    assert not (files / out).exists()


@pytest.mark.slow
def test_installed_entry_point_runs(files):
    exe = [sys.executable, "-c", "import sys; from liif_plugin.cli.main import main; sys.exit(main())"]
    r = subprocess.run(
        exe + ["upscale", str(files / "photo.png"), "-o", str(files / "sp.png"), "--scale", "1.5"],
        capture_output=True,
        text=True,
    )
    assert r.returncode == 0 and "wrote" in r.stdout and "100%|" in r.stderr  # the progress bar on stderr
    assert "done in " in r.stderr  # the time it took, in words
    r = subprocess.run(exe + ["weights", "list"], capture_output=True, text=True)
    assert r.returncode == 0 and "edsr-baseline" in r.stdout and "present" in r.stdout


def test_zarr_in_zarr_out(tmp_path, model, capsys):
    import zarr

    import liif_plugin

    rng = np.random.default_rng(0)
    stack = (rng.random((2, 20, 24)) * 3000).astype(np.uint16)
    z = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=stack.shape, chunks=(1, 20, 24), dtype=stack.dtype)
    z[:] = stack
    argv = ("upscale", tmp_path / "in.zarr", "-o", tmp_path / "out.zarr", "--scale", "1.5", "--quiet")
    assert liif(*argv, "--model", "edsr-baseline") == 0  # (auto reads this random stack as noisy: another model)
    out = zarr.open_array(str(tmp_path / "out.zarr"), mode="r")[:]
    assert out.shape == (2, 30, 36) and out.dtype == np.uint16
    assert np.array_equal(out[1], liif_plugin.upscale(stack[1], 1.5, model=model))
    # --detail: each chunk blends with the bicubic of its own overlapped input, as the in-memory path does.
    args = ("upscale", tmp_path / "in.zarr", "--scale", "1.5", "--model", "edsr-baseline", "--quiet", "--detail")
    assert liif(*args, "0.4", "-o", tmp_path / "soft.zarr") == 0
    soft = zarr.open_array(str(tmp_path / "soft.zarr"), mode="r")[:]
    want = liif_plugin.upscale(stack[1], 1.5, model=model, detail=0.4)
    assert np.abs(soft[1].astype(np.int32) - want).max() <= 1 and np.abs(soft[1].astype(np.int32) - out[1]).max() > 50
    assert liif(*args, "3", "-o", tmp_path / "bad.zarr") == 2 and not (tmp_path / "bad.zarr").exists()
    assert "detail" in capsys.readouterr().err
    assert liif("upscale", tmp_path / "in.zarr", "-o", tmp_path / "out.zarr", "--scale", "2", "--quiet") == 2
    assert "--overwrite" in capsys.readouterr().err
    assert (
        liif(
            "upscale", tmp_path / "in.zarr", "-o", tmp_path / "x.zarr", "--region", "0,0,5,5", "--scale", "2", "--quiet"
        )
        == 2
    )
    assert not (tmp_path / "x.zarr").exists()


def test_a_batch_says_how_long_it_takes_before_it_starts(files, tmp_path, capsys, monkeypatch):
    """One line before the first pixel: the batch's time, a range while this machine's speed is not
    measured, one number once it is (measured first when the batch would take a while)."""
    from liif_plugin.cli import progress
    from liif_plugin.runtime import speed as speeds

    monkeypatch.setattr(speeds, "_path", lambda: tmp_path / "speed.json")  # nothing measured yet
    monkeypatch.setattr(progress, "SAY_ABOVE_S", 0.0)  # these small images take about a second
    monkeypatch.setattr(progress, "MEASURE_ABOVE_S", 1e9)  # never measure first: the rough range
    (tmp_path / "out").mkdir()
    args = ("upscale", files / "photo.png", files / "photo2.jpg", "--out-dir", tmp_path / "out", "--scale", "2")
    assert liif(*args, "--model", "edsr-baseline") == 0
    err = capsys.readouterr().err.splitlines()
    said = [ln for ln in err if ln.startswith("2 images: ")]
    assert len(said) == 1 and "roughly" in said[0] and "not measured yet" in said[0], err
    monkeypatch.setattr(progress, "MEASURE_ABOVE_S", 0.0)
    assert liif(*args, "--model", "edsr-baseline", "--overwrite") == 0
    err = capsys.readouterr().err
    assert "measuring this machine's speed" in err
    said = [ln for ln in err.splitlines() if ln.startswith("2 images: ")]
    assert len(said) == 1 and ("about" in said[0] or "under a second" in said[0]) and "roughly" not in said[0]
    assert "done in " in err  # the bar's last state: the time it took


def test_dry_run_says_what_would_be_written_and_writes_nothing(files, tmp_path, capsys, read_noise_micrograph):
    """--dry-run checks every input and output as a run would, then prints per input the file, size, dtype and
    model (with the share of bicubic a microscopy tier keeps) and the batch's time and memory; nothing is written."""
    import zarr

    from liif_plugin import choose_model

    tifffile.imwrite(files / "cells.tif", read_noise_micrograph)
    out = tmp_path / "out"
    out.mkdir()
    args = ("upscale", files / "photo.png", files / "cells.tif", "--out-dir", out, "--scale", "2.5")
    assert liif(*args, "--dry-run") == 0
    said = capsys.readouterr()
    lines = said.out.splitlines()
    h, w = Image.open(files / "photo.png").size[::-1]
    photo_model = choose_model(np.asarray(Image.open(files / "photo.png")), path=files / "photo.png").name
    size = f"{round(w * 2.5)}x{round(h * 2.5)}"
    assert lines[0] == f"{files / 'photo.png'} -> {out / 'photo.png'}: {size} uint8, model {photo_model}"
    light = "model edsr-baseline-microscopy-light at detail 0.6"
    assert lines[1] == f"{files / 'cells.tif'} -> {out / 'cells.tif'}: 240x240 uint16, {light}"
    assert lines[2].startswith("would take ") and "peak memory about " in lines[2] and "nothing written" in lines[2]
    assert "cells.tif: model edsr-baseline-microscopy-light (" in said.err  # auto's reason, as in a real run
    assert list(out.iterdir()) == []
    # It refuses what the run would refuse, in the same words.
    (out / "photo.png").write_bytes(b"")
    assert liif(*args, "--dry-run") == 2 and "--overwrite" in capsys.readouterr().err
    # A model named by the user keeps its registry share too; one loaded from its file keeps all (no share named).
    assert liif(*args, "--dry-run", "--overwrite", "--model", "edsr-baseline-microscopy-light") == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("model edsr-baseline-microscopy-light at detail 0.6")
    from liif_plugin.hub import cache

    assert liif(*args, "--dry-run", "--overwrite", "--model", cache.path_of("edsr-baseline-microscopy-light")) == 0
    assert capsys.readouterr().out.splitlines()[1].endswith("240x240 uint16, model edsr-baseline-microscopy-light")
    # zarr: the shape of every plane, the model; no array is created.
    z = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=(3, 20, 24), chunks=(1, 20, 24), dtype=np.uint16)
    z[:] = 1000
    assert liif("upscale", tmp_path / "in.zarr", "-o", tmp_path / "o.zarr", "--scale", "2", "--dry-run") == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].startswith(f"{tmp_path / 'in.zarr'} -> {tmp_path / 'o.zarr'}: shape (3, 40, 48) uint16, model ")
    assert lines[1].startswith("would take ") and not (tmp_path / "o.zarr").exists()


def test_weights_list_says_what_auto_picks_each_model_for(capsys, monkeypatch):
    """`liif weights list` names, per model, the images `auto` gives it, in words made from the chooser's own
    thresholds (moving one moves the words), with the share of bicubic a microscopy tier keeps."""
    import re
    from typing import get_args

    from liif_plugin.hub import cache
    from liif_plugin.quality import choose

    assert all(choose.in_words(c) for c in get_args(choose.Condition))  # every condition has words
    assert liif("weights", "list") == 0
    lines = {ln.split()[0]: ln for ln in capsys.readouterr().out.splitlines()[2:-1]}
    for name, e in cache.registry().items():
        if e.auto_for:
            assert lines[name].endswith("; ".join(choose.in_words(c) for c in e.auto_for) + choose.at_detail(name))
        else:
            assert lines[name].endswith(" -"), lines[name]
    assert lines["edsr-baseline"].endswith("clean images")
    assert re.search(r"JPEG quality below 65$", lines[choose.model_for("jpeg-heavy")])
    assert lines[choose.model_for("noisy-microscopy-light")].endswith(
        "micrographs with noise of 1.05-2.5 % (200 photons or more) at detail 0.6"
    )
    monkeypatch.setattr(choose, "NOISE_FAINT_MAX", 0.02)
    assert liif("weights", "list") == 0
    assert "micrographs with noise of 2-2.5 % (200 photons or more) at detail 0.6" in capsys.readouterr().out


def test_a_closed_pipe_ends_the_command_quietly():
    """`liif weights list | head -1`: the reader went away; no 'error: [Errno 32] Broken pipe' line."""
    import os

    r, w = os.pipe()
    os.close(r)  # every write to stdout now fails with EPIPE, as after `head` has read its line
    try:
        p = subprocess.run(
            [sys.executable, "-m", "liif_plugin.cli", "weights", "list"], stdout=w, stderr=subprocess.PIPE
        )
    finally:
        os.close(w)
    assert p.returncode == 1 and p.stderr.decode().strip() == "", p.stderr
