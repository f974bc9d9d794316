"""Reading and writing image files for the CLI: PNG, JPEG and TIFF, written atomically.

TIFF keeps any dtype (16-bit and float stay as they are); PNG holds 8-bit or 16-bit gray and
8-bit RGB/RGBA; JPEG holds 8-bit gray or RGB. A TIFF stack (axes such as ZYX, CYX, TZYXS) is read
as (planes..., H, W[, S]) with ``ImageMeta.planes`` naming the plane axes, and written back as such.

``read_image_meta`` also returns what the file says about its pixels (``ImageMeta``: physical
pixel size, EXIF, ICC profile); ``scaled_meta`` is the one rule for a resampled image (pixel
size divided by the scale per axis, so DPI grows with it) and ``write_image(path, x, meta)``
writes it back in the output's format (see docs/microscopy.md for what survives which path).
"""

import dataclasses
import os
import re
import tempfile
import warnings
from pathlib import Path

import numpy as np

from liif_plugin.errors import Hint, LiifError
from liif_plugin.sources import arrays

READ_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
WRITE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


# Length units, in inches; names as ImageJ, OME and TIFF spell them map to these keys.
_INCHES = {"inch": 1.0, "cm": 1 / 2.54, "mm": 1 / 25.4, "um": 1 / 25400, "nm": 1 / 25_400_000, "m": 100 / 2.54}
_UNIT_NAMES = {
    "micron": "um",
    "microns": "um",
    "\u00b5m": "um",
    "\u03bcm": "um",
    "\\u00b5m": "um",
    "micrometer": "um",
    "micrometre": "um",
    "centimeter": "cm",
    "centimetre": "cm",
    "millimeter": "mm",
    "millimetre": "mm",
    "nanometer": "nm",
    "nanometre": "nm",
    "meter": "m",
    "metre": "m",
    "inches": "inch",
    "in": "inch",
}
_OME_UNITS = {"um": "\u00b5m", "nm": "nm", "mm": "mm", "cm": "cm", "m": "m", "inch": "in"}
_ORIENTATION, _EXIF_IFD = 0x0112, 0x8769


@dataclasses.dataclass
class ImageMeta:
    """What an image file says about its pixels besides their values."""

    pixel_size: tuple[float, float] | None = None  # (y, x) physical size of one pixel, in `unit`
    unit: str | None = None  # "inch", "cm", "mm", "um", "nm", "m", or a file's own word; None: no unit
    flavour: str = "plain"  # "imagej" or "ome" for TIFFs written by/for those readers
    exif: bytes | None = None  # EXIF block; its orientation is already applied to the pixels and reset to 1
    icc: bytes | None = None  # ICC colour profile
    imagej: dict = dataclasses.field(default_factory=dict)  # ImageJ entries kept as they are (spacing)
    planes: str = ""  # a TIFF stack's axes before Y X (e.g. "Z", "TC"); the array has one axis each

    @property
    def dpi(self):
        """(x, y) pixels per inch when the pixel size has a length unit, else None."""
        if self.pixel_size is None or self.unit not in _INCHES:
            return None
        return tuple(1 / (v * _INCHES[self.unit]) for v in self.pixel_size[::-1])


def scaled_meta(meta, sy, sx):
    """The metadata of `meta`'s image resampled by (sy, sx): each pixel is that much smaller.

    The physical size of the image stays the same, so the pixel size is divided by the scale of
    its axis (and DPI multiplied by it). This is the one place that rule lives.
    """
    if meta is None:
        return None
    if meta.pixel_size is None:
        return dataclasses.replace(meta)
    return dataclasses.replace(meta, pixel_size=(meta.pixel_size[0] / sy, meta.pixel_size[1] / sx))


def _unit(name):
    if name is None:
        return None
    name = str(name).strip()
    return _UNIT_NAMES.get(name.lower(), _UNIT_NAMES.get(name, name.lower() if name.lower() in _INCHES else name))


def read_image(path):
    """Read an image file (an array); see read_image_meta for its metadata too."""
    return read_image_meta(path)[0]


def read_image_meta(path):
    """Read an image file -> (array, ImageMeta).

    A size the header declares beyond the engine's limit is refused before any pixel is decoded
    (a few-kB file can declare gigapixels)."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input file {path} does not exist")
    suffix = path.suffix.lower()
    if suffix not in READ_SUFFIXES:
        raise ValueError(f"{path}: unsupported image type '{suffix}'; use PNG, JPEG or TIFF")
    try:
        if suffix in (".tif", ".tiff"):
            return _read_tiff(path)
        return _read_pillow(path)
    except (OSError, ValueError, SyntaxError) as e:
        if isinstance(e, FileNotFoundError) or isinstance(e, ValueError) and str(e).startswith(f"{path}: "):
            raise
        raise ValueError(
            f"{path}: cannot read this image ({str(e).splitlines()[0] if str(e) else type(e).__name__})"
        ) from None


def _check_declared(path, h, w, channels=1, stack=1):
    """Apply arrays.check_size to the size a header declares, before anything is decoded."""
    arrays.check_size(int(h), int(w), int(channels), what=f"{path}: the file declares", stack=int(stack))


def _tiff_order(path, axes):
    """The one rule for a TIFF's axes: the order that puts them as (planes..., Y, X[, S]) and the
    plane letters. Only S (samples) is colour, wherever the file keeps it (planar RGB: SYX); every
    other axis but Y X (Z, T, C, Q, I, ...) is a stack of planes, never channels."""
    order = [i for i, a in enumerate(axes) if a != "S"] + [i for i, a in enumerate(axes) if a == "S"]
    image = "".join(axes[i] for i in order).rstrip("S")
    if not image.endswith("YX"):
        raise ValueError(f"{path}: cannot read a TIFF with axes {axes} (no Y X image axes); save it as Y X planes")
    return order, image[:-2]


def _read_tiff(path):
    import logging

    import tifffile

    # tifffile logs what it finds odd in a file; the one line the user sees is ours.
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError(f"{path}: the TIFF holds no image")
        series = tif.series[0]
        order, planes = _tiff_order(path, series.axes)
        shape = [int(series.shape[i]) for i in order]
        h, w = shape[len(planes) : len(planes) + 2]
        _check_declared(path, h, w, shape[-1] if "S" in series.axes else 1, int(np.prod(shape[: len(planes)])))
        x = np.transpose(series.asarray(), order)
        meta = _tiff_meta(tif)
    meta.planes = planes
    return x, meta


def _tiff_meta(tif):
    """Pixel size from OME PhysicalSizeX/Y, else the resolution tags (ImageJ's unit, or the TIFF's)."""
    tags = tif.pages.first.tags
    meta = ImageMeta(icc=tags["InterColorProfile"].value if "InterColorProfile" in tags else None)
    if tif.is_ome and tif.ome_metadata:
        pixels = re.search(r"<(?:\w+:)?Pixels\b[^>]*>", tif.ome_metadata)
        attr = dict(re.findall(r'(\w+)="([^"]*)"', pixels.group(0))) if pixels else {}
        if "PhysicalSizeX" in attr and "PhysicalSizeY" in attr:
            meta.flavour = "ome"
            meta.pixel_size = (float(attr["PhysicalSizeY"]), float(attr["PhysicalSizeX"]))
            meta.unit = _unit(attr.get("PhysicalSizeXUnit", "\u00b5m"))
            return meta
    if "XResolution" in tags and "YResolution" in tags:
        (xn, xd), (yn, yd) = tags["XResolution"].value, tags["YResolution"].value
        if xn > 0 and yn > 0:
            meta.pixel_size = (yd / yn, xd / xn)
            unit = int(tags["ResolutionUnit"].value) if "ResolutionUnit" in tags else 2  # TIFF's default: inch
            meta.unit = {2: "inch", 3: "cm"}.get(unit)
    if tif.is_imagej:
        ij = tif.imagej_metadata or {}
        meta.flavour = "imagej"
        meta.imagej = {k: ij[k] for k in ("spacing",) if k in ij}
        if ij.get("unit"):
            meta.unit = _unit(ij["unit"])
    return meta


def _declared_by_pillow(path):
    """(width, height, bands) from the header, through the format readers Image.open uses but
    without its bomb check; nothing is decoded."""
    from PIL import Image

    Image.init()
    with open(path, "rb") as fp:
        prefix = fp.read(16)
        for fmt in Image.ID:
            factory, accept = Image.OPEN[fmt]
            if accept is not None and not accept(prefix):
                continue
            fp.seek(0)
            try:
                im = factory(fp, str(path))
            except (SyntaxError, OSError, ValueError, IndexError, TypeError):
                continue
            return im.size[0], im.size[1], len(im.getbands())
    raise ValueError(f"{path}: cannot read this image's header")


def _check_png_depth(path):
    """Refuse a 16-bit colour PNG (IHDR bit depth 16, colour type 2, 4 or 6): Pillow decodes it
    to 8 bits without a word, and every output would silently lose the low byte."""
    with open(path, "rb") as fp:
        head = fp.read(26)
    is_png = len(head) == 26 and head[:8] == b"\x89PNG\r\n\x1a\n" and head[12:16] == b"IHDR"
    if is_png and head[24] == 16 and head[25] in (2, 4, 6):  # bit depth, colour type (RGB, gray+alpha, RGBA)
        raise ValueError(f"{path}: a 16-bit colour PNG, which would lose its low 8 bits here; save it as a 16-bit TIFF")


def _read_pillow(path):
    from PIL import Image, ImageOps

    _check_png_depth(path)

    with warnings.catch_warnings():
        # Pillow's own bomb limits are looser than ours and fire on the same header; ours speaks.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError:
            # Pillow refused from the header alone; ask its format reader for the declared size.
            w, h, bands = _declared_by_pillow(path)
            _check_declared(path, h, w, bands)
            raise  # (not reached: Pillow's limit is above ours)
    with im:
        w, h = im.size
        _check_declared(path, h, w, len(im.getbands()))
        meta = _pillow_meta(im)
        im = ImageOps.exif_transpose(im)
        if im.mode == "P":
            im = im.convert("RGBA" if "transparency" in im.info else "RGB")
        elif im.mode in ("LA", "PA"):
            im = im.convert("RGBA")
        elif im.mode in ("CMYK", "YCbCr", "1"):
            im = im.convert("RGB" if im.mode != "1" else "L")
        x = np.asarray(im)
    if x.dtype.byteorder == ">":  # PIL's I;16B
        x = x.astype(x.dtype.newbyteorder("="))
    return x, meta


def _pillow_meta(im):
    """ImageMeta of a Pillow image as it will be once ImageOps.exif_transpose has turned it upright."""
    from PIL import Image

    meta = ImageMeta(icc=im.info.get("icc_profile") or None)
    dpi = im.info.get("dpi")
    if dpi and min(float(v) for v in dpi) > 0:
        meta.pixel_size, meta.unit = (1 / float(dpi[1]), 1 / float(dpi[0])), "inch"
    if len(im.getexif()):
        exif = Image.Exif()  # a copy: the image's own must keep its orientation for exif_transpose
        exif.load(im.getexif().tobytes())
        if exif.get(_ORIENTATION, 1) in (5, 6, 7, 8) and meta.pixel_size:  # turned by 90 degrees
            meta.pixel_size = (meta.pixel_size[1], meta.pixel_size[0])
        if _ORIENTATION in exif:
            exif[_ORIENTATION] = 1  # the pixels are turned upright on reading
        meta.exif = exif.tobytes()
    return meta


def check_writable(path: str | Path, dtype, channels: int, planes: int = 1) -> None:
    """Raise before any work if `path` cannot hold an image of this dtype and channel count
    (`planes` > 1: a stack of that many images, which only TIFF holds)."""
    path = Path(path)
    suffix = path.suffix.lower()
    if path.is_dir():
        raise LiifError(f"'{path}' is a folder", Hint("give a file name", cli="give a file name, or use --out-dir"))
    if not suffix:
        raise LiifError(
            f"'{path}' has no file type",
            Hint(
                "give a file name ending in .png, .jpg or .tif",
                cli="give -o a file name ending in .png, .jpg, .tif or (for a .zarr input) .zarr",
            ),
        )
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"{path}: cannot write '{suffix}' files; use .png, .jpg or .tif")
    if planes > 1 and suffix not in (".tif", ".tiff"):
        raise ValueError(f"{path}: a stack of {planes} planes can only be written to a .tif")
    dtype = np.dtype(dtype)
    if suffix in (".jpg", ".jpeg") and (dtype != np.uint8 or channels not in (1, 3)):
        raise ValueError(f"{path}: JPEG holds 8-bit gray or RGB only; write a .png or .tif instead")
    if suffix == ".png":
        if dtype == np.uint16 and channels != 1:
            raise ValueError(f"{path}: PNG here holds 16-bit gray only; write a .tif to keep 16-bit colour")
        if dtype not in (np.uint8, np.uint16) or channels not in (1, 3, 4):
            raise ValueError(
                f"{path}: PNG cannot hold {dtype} images with {channels} channel{'s' if channels != 1 else ''}; "
                "write a .tif instead"
            )
    if not path.parent.exists():
        raise FileNotFoundError(f"output folder {path.parent} does not exist; create it first")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(path, x, meta=None):
    """Write atomically: a temporary file in the same folder, renamed into place when complete.

    `meta` (ImageMeta, already scaled: see scaled_meta) is written as far as the format holds it;
    with ``meta.planes`` x is a stack (planes..., H, W[, C]), written as a TIFF with those axes.
    """
    path = Path(path)
    lead = len(meta.planes) if meta is not None else 0
    channels = 1 if x.ndim - lead == 2 else x.shape[-1]
    check_writable(path, x.dtype, channels, int(np.prod(x.shape[:lead])))
    suffix = path.suffix.lower()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".liif-", suffix=suffix)
    os.close(fd)
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(
                tmp,
                x,
                photometric="rgb" if channels in (3, 4) else "minisblack",
                **_tiff_meta_args(meta, x.dtype, channels, x.ndim - lead == 3 and channels != 1),
            )
        else:
            from PIL import Image

            img = x[..., 0] if x.ndim == 3 and channels == 1 else x
            im = Image.fromarray(img)
            kwargs = {"quality": 95} if suffix in (".jpg", ".jpeg") else {}
            kwargs.update(_pillow_meta_args(meta, img.shape))
            im.save(tmp, format="JPEG" if suffix in (".jpg", ".jpeg") else "PNG", **kwargs)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _tiff_meta_args(meta, dtype, channels, samples):
    """tifffile.imwrite keywords for `meta`: ImageJ or OME flavour when the input had it; a stack's axes."""
    if meta is None:
        return {}
    axes = meta.planes + ("YXS" if samples else "YX")
    args = {"iccprofile": meta.icc} if meta.icc else {}
    if meta.planes:  # tifffile keeps them in its shaped description (ImageJ and OME in theirs, below)
        args["metadata"] = {"axes": axes}
    if meta.pixel_size is None:
        return args
    py, px = meta.pixel_size
    if meta.flavour == "ome" and channels in (1, 3, 4):
        unit = _OME_UNITS.get(meta.unit, meta.unit)
        return args | {
            "ome": True,
            "metadata": {
                "axes": axes,
                "PhysicalSizeX": px,
                "PhysicalSizeY": py,
                "PhysicalSizeXUnit": unit,
                "PhysicalSizeYUnit": unit,
            },
        }
    if meta.flavour == "imagej" and np.dtype(dtype) in (np.uint8, np.uint16, np.float32):
        md = dict(meta.imagej) | ({"axes": axes} if meta.planes else {})
        if meta.unit:
            md["unit"] = meta.unit
        return args | {"imagej": True, "resolution": (1 / px, 1 / py), "metadata": md}
    if meta.unit in _INCHES:  # plain TIFF: inches stay inches, other lengths go to centimetres
        unit = "inch" if meta.unit == "inch" else "cm"
        f = _INCHES[meta.unit] / _INCHES[unit]
        return args | {
            "resolution": (1 / (px * f), 1 / (py * f)),
            "resolutionunit": "INCH" if unit == "inch" else "CENTIMETER",
        }
    return args | {"resolution": (1 / px, 1 / py), "resolutionunit": "NONE"}


def _pillow_meta_args(meta, shape):
    """Pillow save keywords for `meta`: DPI (print sizes in inches or cm only), EXIF, ICC profile."""
    if meta is None:
        return {}
    from PIL import Image

    args = {"icc_profile": meta.icc} if meta.icc else {}
    dpi = meta.dpi if meta.unit in ("inch", "cm") else None
    if dpi:
        args["dpi"] = dpi
    if meta.exif:
        exif = Image.Exif()
        exif.load(meta.exif)
        if dpi and 282 in exif and 283 in exif:  # EXIF's own X/YResolution say the same as the DPI
            exif[282], exif[283], exif[296] = dpi[0], dpi[1], 2
        sub = exif.get_ifd(_EXIF_IFD)
        if 0xA002 in sub or 0xA003 in sub:  # PixelXDimension / PixelYDimension: the new size
            sub[0xA002], sub[0xA003] = int(shape[1]), int(shape[0])
        args["exif"] = exif.tobytes()
    return args
