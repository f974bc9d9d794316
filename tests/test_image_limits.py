"""Decompression bombs: a small file whose header declares a huge image is refused from the header,
before any pixel is decoded, by `liif_plugin.sources.imageio` and by the CLI (one line, exit 2, no output)."""

import struct
import subprocess
import sys
import zlib

import numpy as np
import pytest
import tifffile
from PIL import Image

from liif_plugin.sources import arrays
from liif_plugin.sources.imageio import read_image

BIG = 60000  # 60000 x 60000 = 3600 megapixels; decoded as RGB that would be 10.8 GB


def png_declaring(path, w, h):
    """A valid PNG header for w x h RGB with a tiny IDAT (the file is ~100 bytes)."""

    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")
    )
    return path


def jpeg_declaring(path, w, h):
    """A real 16 x 16 JPEG whose frame header (SOF0) is rewritten to declare w x h."""
    Image.fromarray(np.zeros((16, 16, 3), np.uint8)).save(path, quality=90)
    data = bytearray(path.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", h, w)
    path.write_bytes(bytes(data))
    return path


def tiff_declaring(path, w, h):
    """A real 16 x 16 uint8 TIFF whose ImageWidth/ImageLength tags are rewritten to w x h."""
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), rowsperstrip=16, metadata=None)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tags = tif.pages[0].tags
        tags["ImageWidth"].overwrite(w)
        tags["ImageLength"].overwrite(h)
        tags["RowsPerStrip"].overwrite(h)  # one strip, as a consistent (hostile) file would say
    return path


MAKERS = {"png": png_declaring, "jpg": jpeg_declaring, "tif": tiff_declaring}


@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_reader_refuses_from_the_header(tmp_path, kind):
    path = MAKERS[kind](tmp_path / f"bomb.{kind}", BIG, BIG)
    assert path.stat().st_size < 20_000
    with pytest.raises(ValueError) as e:
        read_image(path)
    msg = str(e.value)
    assert "\n" not in msg
    assert f"{BIG} x {BIG} pixels" in msg and f"{arrays.MAX_INPUT_PIXELS / 1e6:.0f} megapixels" in msg, msg


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads the child's peak memory from /proc")
@pytest.mark.parametrize("kind", sorted(MAKERS))
def test_cli_refuses_bombs_without_decoding(tmp_path, kind):
    """In a child process: exit 2, one line, no output file, and the child never grew to the decoded size."""
    path = MAKERS[kind](tmp_path / f"bomb.{kind}", BIG, BIG)
    out = tmp_path / "out.tif"
    peak_file = tmp_path.parent / f"peak-{kind}.txt"
    # The child records its own peak (VmHWM) as it exits, whatever way it exits.
    child = (
        "import atexit, runpy, sys\n"
        "def peak():\n"
        "    kb = [l.split()[1] for l in open('/proc/self/status') if l.startswith('VmHWM')][0]\n"
        f"    open({str(peak_file)!r}, 'w').write(kb)\n"
        "atexit.register(peak)\n"
        f"sys.argv = ['liif', 'upscale', {str(path)!r}, '-o', {str(out)!r}, '--scale', '2']\n"
        "runpy.run_module('liif_plugin.cli', run_name='__main__')\n"
    )
    r = subprocess.run([sys.executable, "-c", child], capture_output=True, text=True, timeout=120)
    peak_kb = int(peak_file.read_text())
    assert r.returncode == 2, r.stderr
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr, r.stderr
    assert f"declares {BIG} x {BIG} pixels" in r.stderr
    assert not out.exists() and list(tmp_path.iterdir()) == [path]
    # The child's own peak stayed far below a decode of the declared size (>= 3.6 GB): about the
    # interpreter, torch and the reader.
    assert 0 < peak_kb < 1_500_000, peak_kb


def test_sizes_just_inside_the_limit_still_read(tmp_path):
    """The header check does not refuse ordinary images (a real 16-bit TIFF and an RGBA PNG)."""
    tifffile.imwrite(tmp_path / "a.tif", np.arange(300 * 200, dtype=np.uint16).reshape(300, 200))
    Image.fromarray(np.full((40, 50, 4), 7, np.uint8)).save(tmp_path / "b.png")
    assert read_image(tmp_path / "a.tif").shape == (300, 200)
    assert read_image(tmp_path / "b.png").shape == (40, 50, 4)


def test_the_limit_lives_in_arrays_and_counts_planes():
    side = int((arrays.MAX_INPUT_PIXELS / 2) ** 0.5) + 1  # RGBA is two planes: over the limit
    with pytest.raises(ValueError, match=r"\(2 planes\)"):
        arrays.check_size(side, side, 4)
    arrays.check_size(side, side, 3)  # one plane: fits
