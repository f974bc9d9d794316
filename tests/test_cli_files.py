"""`liif upscale` and what files hold: TIFF stacks, 16-bit colour PNGs, output names, signals, argparse."""

import os
import signal
import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

import liif_plugin
from liif_plugin.cli.main import main


def liif(*args):
    return main([str(a) for a in args])


def one_line_error(capsys, *words):
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and all(w in err for w in words), err
    return err


@pytest.mark.parametrize(
    "write,axes",
    [
        (lambda p, s: tifffile.imwrite(p, s, metadata={"axes": "ZYX"}), "ZYX"),
        # Three gray pages: once read as one RGB image. Ten: as one image with ten channels.
        (lambda p, s: tifffile.imwrite(p, s[:3], photometric="minisblack"), "QYX"),
        (lambda p, s: tifffile.imwrite(p, s, imagej=True, metadata={"axes": "CYX"}), "CYX"),
    ],
)
def test_a_tiff_stack_is_resampled_plane_by_plane(tmp_path, tiny_model, tiny_model_path, capsys, write, axes):
    rng = np.random.default_rng(0)
    stack = (rng.random((10, 20, 24)) * 60000).astype(np.uint16)
    write(tmp_path / "in.tif", stack)
    stack = tifffile.imread(tmp_path / "in.tif")
    args = ("upscale", tmp_path / "in.tif", "-o", tmp_path / "out.tif", "--scale", "2", "--model", tiny_model_path)
    assert liif(*args, "--dry-run") == 0
    said = f"48x40 x {len(stack)} planes ({axes}) uint16"
    assert said in capsys.readouterr().out and not (tmp_path / "out.tif").exists()
    assert liif(*args) == 0
    assert f"(48x40 x {len(stack)} planes ({axes}), uint16)" in capsys.readouterr().out  # what --dry-run said
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:
        assert tif.series[0].axes == axes
        y = tif.series[0].asarray()
    assert y.shape == (len(stack), 40, 48) and y.dtype == np.uint16
    for k in (0, len(stack) - 1):
        assert np.array_equal(y[k], liif_plugin.upscale(stack[k], 2, model=tiny_model))
    assert liif(*args[:3], tmp_path / "out.png", *args[4:]) == 2  # PNG holds one image
    one_line_error(capsys, "stack of", ".tif")


def test_planar_rgb_tiff_is_colour_and_rgb_stack_keeps_its_axes(tmp_path, photo, tiny_model_path):
    tifffile.imwrite(tmp_path / "planar.tif", np.moveaxis(photo, -1, 0), photometric="rgb", planarconfig="separate")
    tifffile.imwrite(tmp_path / "rgbs.tif", np.stack([photo, photo[::-1]]), photometric="rgb")
    model = ("--model", tiny_model_path, "--scale", "2", "--quiet")
    assert liif("upscale", tmp_path / "planar.tif", "-o", tmp_path / "p.png", *model) == 0
    assert np.asarray(Image.open(tmp_path / "p.png")).shape == (96, 112, 3)
    assert liif("upscale", tmp_path / "rgbs.tif", "-o", tmp_path / "s.tif", *model) == 0
    with tifffile.TiffFile(tmp_path / "s.tif") as tif:
        assert tif.series[0].axes == "QYXS" and tif.series[0].shape == (2, 96, 112, 3)


def png(path, pixels, bit_depth, colour_type):
    """A PNG written by hand: Pillow cannot write 16-bit colour ones."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    h, w = pixels.shape[:2]
    rows = b"".join(b"\0" + row.astype(">u2" if bit_depth == 16 else "u1").tobytes() for row in pixels)
    ihdr = struct.pack(">IIBBBBB", w, h, bit_depth, colour_type, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize("channels,colour_type", [(3, 2), (4, 6), (2, 4)])
def test_sixteen_bit_colour_png_is_refused_not_cut_to_eight_bits(tmp_path, capsys, channels, colour_type):
    x = np.random.default_rng(0).integers(0, 65536, (8, 10, channels)).astype(np.uint16)
    png(tmp_path / "c16.png", x, 16, colour_type)
    assert liif("upscale", tmp_path / "c16.png", "-o", tmp_path / "o.tif", "--scale", "2", "--quiet") == 2
    one_line_error(capsys, "16-bit colour PNG", "16-bit TIFF")
    assert not (tmp_path / "o.tif").exists()


def test_sixteen_bit_gray_png_still_reads(tmp_path):
    from liif_plugin.sources.imageio import read_image

    x = np.random.default_rng(0).integers(0, 65536, (8, 10)).astype(np.uint16)
    png(tmp_path / "g16.png", x, 16, 0)
    assert np.array_equal(read_image(tmp_path / "g16.png"), x)


SIGTERM_MID_WRITE = """
import os, signal, sys, time
from PIL import Image
from liif_plugin.cli.main import main

def save(self, fp, *args, **kwargs):  # the write has begun (its temporary file exists): SIGTERM arrives
    open(fp, "wb").write(b"half a png")
    os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(60)

Image.Image.save = save
sys.exit(main(sys.argv[1:]))
"""


def test_sigterm_during_a_write_leaves_no_partial_file(tmp_path, photo, tiny_model_path):
    Image.fromarray(photo).save(tmp_path / "in.png")
    args = [str(tmp_path / "in.png"), "-o", str(tmp_path / "out.png"), "--scale", "2", "--model", str(tiny_model_path)]
    r = subprocess.run(
        [sys.executable, "-c", SIGTERM_MID_WRITE, "upscale", *args, "--quiet"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 128 + signal.SIGTERM, r.stderr
    assert r.stderr.strip() == "liif: terminated; no partial output was written"
    assert not (tmp_path / "out.png").exists() and not [n for n in os.listdir(tmp_path) if n.startswith(".liif-")]


def test_output_names_that_cannot_be_written_are_refused_before_rendering(tmp_path, photo, capsys, monkeypatch):
    from liif_plugin.cli import upscale

    monkeypatch.setattr(upscale, "prepare", lambda *a: pytest.fail("rendering began"))
    Image.fromarray(photo).save(tmp_path / "in.png")
    (tmp_path / "sd.png").mkdir()
    run = ("upscale", tmp_path / "in.png", "--scale", "2", "--quiet")
    assert liif(*run, "-o", tmp_path / "sd.png", "--overwrite") == 2
    one_line_error(capsys, "is a folder", "--out-dir")
    assert liif(*run, "--out-dir", tmp_path / "in.png") == 2
    one_line_error(capsys, "is a file, not a folder")
    assert liif(*run, "-o", tmp_path / "noext") == 2
    one_line_error(capsys, "ending in .png, .jpg, .tif")
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "config") == ["in.png", "sd.png"]


@pytest.mark.parametrize("fmt", ["BMP", "WEBP"])
def test_out_dir_writes_bmp_and_webp_inputs_as_png(tmp_path, photo, tiny_model_path, fmt):
    Image.fromarray(photo).save(
        tmp_path / f"in.{fmt.lower()}", format=fmt, **({"lossless": True} if fmt == "WEBP" else {})
    )
    (tmp_path / "out").mkdir()
    args = ("upscale", tmp_path / f"in.{fmt.lower()}", "--out-dir", tmp_path / "out", "--scale", "2")
    assert liif(*args, "--model", tiny_model_path, "--quiet") == 0
    assert Image.open(tmp_path / "out" / "in.png").size == (112, 96)


@pytest.mark.parametrize(
    "args,words",
    [(["--size", "-5x100"], "--size"), (["--scale", "2", "--size", "20x10"], "not allowed with")],
)
def test_command_line_errors_are_one_line(tmp_path, photo, capsys, args, words):
    Image.fromarray(photo).save(tmp_path / "in.png")
    with pytest.raises(SystemExit) as e:
        liif("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", *args)
    assert e.value.code == 2
    err = one_line_error(capsys, words)
    assert err.startswith("liif upscale: error: ") and err.endswith("(see liif upscale --help)")


def test_size_takes_a_capital_x(tmp_path, photo, tiny_model_path):
    Image.fromarray(photo).save(tmp_path / "in.png")
    args = ("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--size", "20X10", "--model", tiny_model_path)
    assert liif(*args, "--quiet") == 0
    assert Image.open(tmp_path / "o.png").size == (20, 10)


def test_too_large_outputs_get_advice_that_works(tmp_path, photo, capsys):
    import zarr

    z = zarr.open_array(str(tmp_path / "g.zarr"), mode="w", shape=(8, 8), chunks=(8, 8), dtype=np.uint16)
    z[:] = 1000
    # a .zarr output is rendered block by block: a plane far beyond memory (24000 x 24000) is planned...
    assert liif("upscale", tmp_path / "g.zarr", "-o", tmp_path / "o.zarr", "--scale", "3000", "--dry-run") == 0
    assert "shape (24000, 24000) uint16" in capsys.readouterr().out and not (tmp_path / "o.zarr").exists()
    # ... up to a bound that keeps its coordinates meaningful; the advice then is not "write a zarr"
    assert liif("upscale", tmp_path / "g.zarr", "-o", tmp_path / "o.zarr", "--scale", "40000", "--quiet") == 2
    err = one_line_error(capsys, "more than liif-plugin renders", "smaller scale")
    assert "zarr" not in err
    Image.fromarray(photo).save(tmp_path / "in.png")
    assert liif("upscale", tmp_path / "in.png", "-o", tmp_path / "o.png", "--scale", "400", "--quiet") == 2
    one_line_error(capsys, "too large", "smaller --scale", "store the image as .zarr")  # advice it can follow
    assert liif("upscale", tmp_path / "in.png", "-o", tmp_path / "o.zarr", "--scale", "2", "--quiet") == 2
    one_line_error(capsys, "needs a .zarr input", ".png, .jpg or .tif")


@pytest.mark.parametrize(
    "x,words", [(np.array([[np.nan, 1.0]] * 4, np.float32), "NaN"), (np.ones((4, 4), bool), "bool")]
)
def test_bad_pixels_get_command_line_advice(tmp_path, capsys, x, words):
    tifffile.imwrite(tmp_path / "bad.tif", x)
    assert liif("upscale", tmp_path / "bad.tif", "-o", tmp_path / "o.tif", "--scale", "2", "--quiet") == 2
    err = one_line_error(capsys, "bad.tif: ", words, "Fiji")
    assert "np." not in err and not (tmp_path / "o.tif").exists()
