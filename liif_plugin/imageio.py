"""Reading and writing image files for the CLI: PNG, JPEG and TIFF, written atomically.

TIFF keeps any dtype (16-bit and float stay as they are); PNG holds 8-bit or 16-bit gray and
8-bit RGB/RGBA; JPEG holds 8-bit gray or RGB.
"""
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from . import arrays

READ_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".webp"}
WRITE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff"}


def read_image(path):
    """Read an image file; a size the header declares beyond the engine's limit is refused before
    any pixel is decoded (a few-kB file can declare gigapixels)."""
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
        raise ValueError(f"{path}: cannot read this image ({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _check_declared(path, shape, channels_last):
    """Apply arrays.check_size to the shape a header declares (HxW, HxWxC, CxHxW or a stack)."""
    shape = tuple(int(n) for n in shape)
    if len(shape) == 3 and (shape[-1] in (3, 4) if channels_last else shape[0] in (3, 4)):
        h, w, c = shape if channels_last else (shape[1], shape[2], shape[0])
    else:  # gray, or a stack whose leading axes count as planes
        h, w = shape[-2:] if len(shape) >= 2 else (1, shape[0] if shape else 1)
        c = int(np.prod(shape[:-2])) if len(shape) > 2 else 1
    arrays.check_size(h, w, c, what=f"{path}: the file declares")


def _read_tiff(path):
    import logging

    import tifffile

    # tifffile logs what it finds odd in a file; the one line the user sees is ours.
    logging.getLogger("tifffile").setLevel(logging.ERROR)
    with tifffile.TiffFile(path) as tif:
        if not tif.series:
            raise ValueError(f"{path}: the TIFF holds no image")
        series = tif.series[0]
        _check_declared(path, series.shape, channels_last=series.axes.endswith("S"))
        x = series.asarray()
    if x.ndim == 3 and x.shape[0] in (3, 4) and x.shape[2] not in (3, 4):
        x = np.moveaxis(x, 0, -1)  # planar RGB(A) TIFF
    return x


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


def _read_pillow(path):
    from PIL import Image, ImageOps

    with warnings.catch_warnings():
        # Pillow's own bomb limits are looser than ours and fire on the same header; ours speaks.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        try:
            im = Image.open(path)
        except Image.DecompressionBombError:
            # Pillow refused from the header alone; ask its format reader for the declared size.
            w, h, bands = _declared_by_pillow(path)
            _check_declared(path, (h, w, bands), channels_last=True)
            raise  # (not reached: Pillow's limit is above ours)
    with im:
        w, h = im.size
        _check_declared(path, (h, w, len(im.getbands())), channels_last=True)
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
    return x


def check_writable(path, dtype, channels):
    """Raise before any work if `path` cannot hold an image of this dtype and channel count."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in WRITE_SUFFIXES:
        raise ValueError(f"{path}: cannot write '{suffix}' files; use .png, .jpg or .tif")
    dtype = np.dtype(dtype)
    if suffix in (".jpg", ".jpeg") and (dtype != np.uint8 or channels not in (1, 3)):
        raise ValueError(f"{path}: JPEG holds 8-bit gray or RGB only; write a .png or .tif instead")
    if suffix == ".png":
        if dtype == np.uint16 and channels != 1:
            raise ValueError(f"{path}: PNG here holds 16-bit gray only; write a .tif to keep 16-bit colour")
        if dtype not in (np.uint8, np.uint16) or channels not in (1, 3, 4):
            raise ValueError(f"{path}: PNG cannot hold {dtype} images with {channels} channels; write a .tif instead")
    if not path.parent.exists():
        raise FileNotFoundError(f"output folder {path.parent} does not exist; create it first")


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_image(path, x):
    """Write atomically: a temporary file in the same folder, renamed into place when complete."""
    path = Path(path)
    channels = 1 if x.ndim == 2 else x.shape[2]
    check_writable(path, x.dtype, channels)
    suffix = path.suffix.lower()
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".liif-", suffix=suffix)
    os.close(fd)
    try:
        if suffix in (".tif", ".tiff"):
            import tifffile

            tifffile.imwrite(tmp, x, photometric="rgb" if channels in (3, 4) else "minisblack")
        else:
            from PIL import Image

            img = x[..., 0] if x.ndim == 3 and channels == 1 else x
            im = Image.fromarray(img)
            kwargs = {"quality": 95} if suffix in (".jpg", ".jpeg") else {}
            im.save(tmp, format="JPEG" if suffix in (".jpg", ".jpeg") else "PNG", **kwargs)
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the usual permissions
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path
