"""Metadata survives resampling: pixel size (ImageJ, OME-TIFF, resolution tags, OME-Zarr), DPI,
EXIF and ICC profiles, through the CLI and liif_plugin.sources.imageio, scaled per axis."""

import json

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageCms

from liif_plugin.cli.main import main
from liif_plugin.sources.imageio import ImageMeta, read_image, read_image_meta, scaled_meta, write_image


def liif(*args):
    return main([str(a) for a in args])


@pytest.fixture
def gray16():
    return (np.random.default_rng(0).random((24, 32)) * 4000).astype(np.uint16)


@pytest.fixture(scope="module")
def srgb():
    return ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()


def test_scaling_rule_divides_pixel_size_per_axis():
    m = ImageMeta(pixel_size=(0.5, 0.3), unit="um", flavour="ome")
    s = scaled_meta(m, 2.0, 3.0)
    assert s.pixel_size == pytest.approx((0.25, 0.1)) and s.unit == "um" and s.flavour == "ome"
    assert m.pixel_size == (0.5, 0.3)  # the input's metadata is not changed
    d = ImageMeta(pixel_size=(1 / 300, 1 / 150), unit="inch")
    assert scaled_meta(d, 2, 2).dpi == pytest.approx((300.0, 600.0))  # (x, y)
    assert scaled_meta(None, 2, 2) is None


def test_imagej_tiff_pixel_size_halves_at_x2(tmp_path, gray16, tiny_model_path):
    tifffile.imwrite(
        tmp_path / "ij.tif", gray16, imagej=True, resolution=(1 / 0.3, 1 / 0.3), metadata={"unit": "um", "spacing": 2.0}
    )
    assert (
        liif(
            "upscale",
            tmp_path / "ij.tif",
            "-o",
            tmp_path / "out.tif",
            "--scale",
            "2",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    y, meta = read_image_meta(tmp_path / "out.tif")
    assert y.shape == (48, 64) and y.dtype == np.uint16
    assert meta.flavour == "imagej" and meta.unit == "um" and meta.imagej["spacing"] == 2.0
    assert meta.pixel_size == pytest.approx((0.15, 0.15), rel=1e-6)
    with tifffile.TiffFile(tmp_path / "out.tif") as tif:  # what ImageJ itself reads
        assert tif.is_imagej and tif.imagej_metadata["unit"] == "um"


def test_ome_tiff_anisotropic_scale_divides_each_axis(tmp_path, gray16, tiny_model_path):
    tifffile.imwrite(
        tmp_path / "in.ome.tif",
        gray16,
        ome=True,
        metadata={
            "axes": "YX",
            "PhysicalSizeX": 0.4,
            "PhysicalSizeY": 0.5,
            "PhysicalSizeXUnit": "µm",
            "PhysicalSizeYUnit": "µm",
        },
    )
    assert (
        liif(
            "upscale",
            tmp_path / "in.ome.tif",
            "-o",
            tmp_path / "out.ome.tif",
            "--scale",
            "2,4",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    with tifffile.TiffFile(tmp_path / "out.ome.tif") as tif:
        assert tif.is_ome and tif.series[0].shape == (48, 128)
        assert 'PhysicalSizeX="0.1"' in tif.ome_metadata and 'PhysicalSizeY="0.25"' in tif.ome_metadata
    assert read_image_meta(tmp_path / "out.ome.tif")[1].pixel_size == pytest.approx((0.25, 0.1))


def test_region_keeps_the_pixel_size_rule(tmp_path, gray16, tiny_model_path):
    tifffile.imwrite(tmp_path / "ij.tif", gray16, imagej=True, resolution=(1 / 0.3, 1 / 0.2), metadata={"unit": "um"})
    # A 10 x 16 window rendered at 30 x 32: x3 in y, x2 in x.
    assert (
        liif(
            "upscale",
            tmp_path / "ij.tif",
            "-o",
            tmp_path / "r.tif",
            "--region",
            "4,8,14,24",
            "--size",
            "32x30",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    y, meta = read_image_meta(tmp_path / "r.tif")
    assert y.shape == (30, 32) and meta.pixel_size == pytest.approx((0.2 / 3, 0.3 / 2), rel=1e-6)


def test_plain_tiff_resolution_tags_scale(tmp_path, gray16):
    tifffile.imwrite(tmp_path / "cm.tif", gray16, resolution=(1000, 500), resolutionunit="CENTIMETER")
    x, meta = read_image_meta(tmp_path / "cm.tif")
    assert meta.unit == "cm" and meta.pixel_size == pytest.approx((1 / 500, 1 / 1000))
    write_image(tmp_path / "cm2.tif", x, scaled_meta(meta, 2, 2))
    with tifffile.TiffFile(tmp_path / "cm2.tif") as tif:
        tags = tif.pages.first.tags
        assert int(tags["ResolutionUnit"].value) == 3
        xn, xd = tags["XResolution"].value
        assert xn / xd == pytest.approx(2000)


def test_jpeg_exif_survives_with_orientation_applied_once(tmp_path, photo, srgb, tiny_model_path):
    exif = Image.Exif()
    exif[0x010F], exif[0x0110], exif[0x0132] = "LIIF Camera Co", "Model 7", "2021:06:05 04:03:02"
    exif[0x0112] = 6  # stored turned: shown rotated 90 degrees clockwise
    exif.get_ifd(0x8769)[0x9003] = "2021:06:05 04:03:02"  # DateTimeOriginal, in the Exif sub-IFD
    Image.fromarray(photo).save(tmp_path / "cam.jpg", exif=exif.tobytes(), icc_profile=srgb, dpi=(240, 240), quality=95)
    upright = read_image(tmp_path / "cam.jpg")
    assert upright.shape == (56, 48, 3)  # the 48 x 56 stored pixels, turned
    assert (
        liif(
            "upscale",
            tmp_path / "cam.jpg",
            "-o",
            tmp_path / "out.jpg",
            "--scale",
            "2",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    with Image.open(tmp_path / "out.jpg") as im:
        assert im.size == (96, 112)  # upright, and not turned a second time by a viewer:
        got = im.getexif()
        assert got[0x0112] == 1
        assert (got[0x010F], got[0x0110], got[0x0132]) == ("LIIF Camera Co", "Model 7", "2021:06:05 04:03:02")
        assert got.get_ifd(0x8769)[0x9003] == "2021:06:05 04:03:02"
        assert im.info["icc_profile"] == srgb
        assert im.info["dpi"] == pytest.approx((480, 480), abs=0.5)
    assert read_image(tmp_path / "out.jpg").shape == (112, 96, 3)


def test_png_icc_and_dpi_survive_dpi_doubled(tmp_path, photo, srgb, tiny_model_path):
    Image.fromarray(photo).save(tmp_path / "p.png", icc_profile=srgb, dpi=(300, 150))
    assert (
        liif(
            "upscale",
            tmp_path / "p.png",
            "-o",
            tmp_path / "out.png",
            "--scale",
            "2",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    with Image.open(tmp_path / "out.png") as im:
        assert im.info["icc_profile"] == srgb
        assert im.info["dpi"] == pytest.approx((600, 300), abs=0.1)  # printed size unchanged
    # to TIFF: resolution tags in inches, and the profile
    assert (
        liif(
            "upscale",
            tmp_path / "p.png",
            "-o",
            tmp_path / "out.tif",
            "--scale",
            "2",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    meta = read_image_meta(tmp_path / "out.tif")[1]
    assert meta.icc == srgb and meta.dpi == pytest.approx((600, 300), abs=0.1)  # PNG stores whole pixels per metre


def test_write_image_without_meta_writes_none(tmp_path, photo):
    write_image(tmp_path / "a.png", photo)
    with Image.open(tmp_path / "a.png") as im:
        assert "dpi" not in im.info and "icc_profile" not in im.info
    assert read_image_meta(tmp_path / "a.png")[1] == ImageMeta()


def test_failed_write_with_meta_leaves_no_file(tmp_path, photo):
    bad = ImageMeta(icc=b"not a profile" * 3, exif=b"garbage")
    with pytest.raises(Exception):  # noqa: B017 - PIL's error for a bad profile varies by version
        write_image(tmp_path / "x.jpg", photo, bad)
    assert list(tmp_path.iterdir()) == []


def _ome_zarr(path, data, scale, zarr_format=2):
    import zarr

    g = zarr.open_group(str(path), mode="w", zarr_format=zarr_format)
    a = g.create_array("0", shape=data.shape, chunks=data.shape, dtype=data.dtype)
    a[:] = data
    ms = [
        {
            "version": "0.4",
            "name": "img",
            "axes": [
                {"name": "c", "type": "channel"},
                {"name": "y", "type": "space", "unit": "micrometer"},
                {"name": "x", "type": "space", "unit": "micrometer"},
            ],
            "datasets": [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": scale}]}],
        }
    ]
    g.attrs["multiscales"] = ms
    return g


def test_ome_zarr_multiscales_scale_in_cli(tmp_path, tiny_model_path):
    import zarr

    data = (np.random.default_rng(1).random((2, 20, 24)) * 3000).astype(np.uint16)
    _ome_zarr(tmp_path / "in.zarr", data, [1.0, 0.6, 0.4])
    assert (
        liif(
            "upscale",
            tmp_path / "in.zarr",
            "-o",
            tmp_path / "out.zarr",
            "--scale",
            "2,4",
            "--model",
            tiny_model_path,
            "--quiet",
        )
        == 0
    )
    g = zarr.open_group(str(tmp_path / "out.zarr"), mode="r")
    assert g["0"].shape == (2, 40, 96) and g["0"].dtype == np.uint16
    level = g.attrs["multiscales"][0]["datasets"][0]
    tr = {t["type"]: t for t in level["coordinateTransformations"]}
    assert tr["scale"]["scale"] == pytest.approx([1.0, 0.3, 0.1])
    # Output pixel 0's centre stays where it is physically: input index -0.5 + 0.5 / s.
    assert tr["translation"]["translation"] == pytest.approx([0.0, 0.6 * (0.25 - 0.5), 0.4 * (0.125 - 0.5)])
    assert g.attrs["multiscales"][0]["axes"][1]["unit"] == "micrometer"


def test_zarr_array_attributes_travel(tmp_path, tiny_model_path):
    import zarr

    import liif_plugin.sources.dask as ld

    z = zarr.open_array(str(tmp_path / "a.zarr"), mode="w", shape=(16, 20), chunks=(16, 20), dtype=np.float32)
    z[:] = np.random.default_rng(2).random((16, 20))
    z.attrs["note"] = {"sample": "A1"}
    ld.upscale_zarr(tmp_path / "a.zarr", tmp_path / "b.zarr", scale=2, model=tiny_model_path)
    out = zarr.open_array(str(tmp_path / "b.zarr"), mode="r")
    assert out.shape == (32, 40) and json.loads(json.dumps(dict(out.attrs))) == {"note": {"sample": "A1"}}


@pytest.mark.parametrize("flavour", ["ome", "imagej", "plain"])
@pytest.mark.parametrize("channels", [3, 5])
def test_every_tiff_flavour_keeps_the_pixel_size_for_colour_and_channels(tmp_path, flavour, channels):
    x = (np.random.default_rng(3).random((30, 20, channels)) * 255).astype(np.uint8 if channels == 3 else np.uint16)
    write_image(tmp_path / "o.tif", x, ImageMeta(pixel_size=(0.3, 0.2), unit="um", flavour=flavour))
    y, meta = read_image_meta(tmp_path / "o.tif")
    assert np.array_equal(y, x)
    to_um = {"um": 1.0, "cm": 1e4}[meta.unit]  # plain TIFFs hold lengths in centimetres
    assert np.multiply(meta.pixel_size, to_um) == pytest.approx((0.3, 0.2), rel=1e-6)
