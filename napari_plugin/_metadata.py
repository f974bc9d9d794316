"""Source layer metadata on the resampled layer: physical sizes scaled, what cannot be rewritten dropped.

Readers leave physical sizes in ``layer.metadata`` (OME's PhysicalSizeX/Y, a pixel or voxel size,
DPI or resolution in pixels per unit, whole OME-XML documents or reader objects). Copied unchanged
they describe the source's pixels, not the new ones. Resampling by (sy, sx) makes each pixel sy
times smaller in y and sx in x, so a size is divided and a resolution multiplied. A value whose
axes cannot be told apart is scaled only when sy == sx, else dropped, as are documents and objects
that embed sizes. Every key touched is listed in ``metadata["liif"]["metadata"]``.
"""

import math
import re

# Normalised key (lower case, no '_', ' ' or '-') -> how it changes: 'size' divides, 'res' multiplies;
# '_y'/'_x' name the axis the value is for, 'axes' a per-axis sequence (last two are y, x).
KEYS = {
    "physicalsizex": "size_x",
    "physicalsizey": "size_y",
    "pixelsizex": "size_x",
    "pixelsizey": "size_y",
    "pixelsize": "size_axes",
    "pixelsizes": "size_axes",
    "voxelsize": "size_axes",
    "physicalpixelsizes": "size_axes",
    "physicalpixelsize": "size_axes",
    "pixelspacing": "size_axes",
    "spacing": "size_axes_seq",
    "xresolution": "res_x",
    "yresolution": "res_y",
    "resolution": "res_axes",
    "dpi": "res_axes",
}
# Containers that carry sizes in a form this module does not rewrite (documents, reader objects).
DROP = {"omexml", "omemetadata", "ome", "rawimagemetadata", "aicsimage", "bioimage", "ometypes"}


def _norm(key):
    return re.sub(r"[_\s-]", "", str(key)).lower()


def _number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _scaled_axes(value, how, sy, sx, ndim):
    """A per-axis value scaled on its last two axes; a scalar only when sy == sx. None: cannot."""
    f = (lambda v, s: v / s) if how.startswith("size") else (lambda v, s: v * s)
    if _number(value):
        if how.endswith("_seq"):  # ImageJ's 'spacing' is a scalar z step: not a resampled axis
            return value
        return f(value, sy) if math.isclose(sy, sx) else None
    if isinstance(value, (list, tuple)) and all(_number(v) for v in value):
        n = len(value)
        if how.startswith("res"):  # (x, y) in TIFF and PIL order: only unambiguous when sy == sx
            return type(value)(f(v, sy) for v in value) if math.isclose(sy, sx) else None
        if n >= 2 and (n == ndim or math.isclose(sy, sx)):
            out = list(value)
            out[-2], out[-1] = f(out[-2], sy), f(out[-1], sx)
            return type(value)(out) if type(value) in (list, tuple) else out
        return None
    fields = getattr(value, "_fields", None)  # a named tuple such as PhysicalPixelSizes(Z, Y, X)
    if fields and {"Y", "X"} <= set(fields):
        return value._replace(
            Y=f(value.Y, sy) if _number(value.Y) else value.Y, X=f(value.X, sx) if _number(value.X) else value.X
        )
    return None


def rescale(meta, sy, sx, ndim):
    """(new metadata, {'scaled': [...], 'dropped': [...]}) for a resample by (sy, sx)."""
    scaled, dropped = [], []

    def walk(d, path):
        out = {}
        for k, v in d.items():
            name, key = f"{path}{k}", _norm(k)
            how = KEYS.get(key)
            if key in DROP or (isinstance(v, str) and "PhysicalSize" in v):
                dropped.append(name)
            elif how in ("size_x", "size_y", "res_x", "res_y") and _number(v):
                s = sx if how.endswith("_x") else sy
                out[k] = v / s if how.startswith("size") else v * s
                scaled.append(name)
            elif how is not None:
                new = _scaled_axes(v, how, sy, sx, ndim)
                if new is None:
                    dropped.append(name)
                else:
                    out[k] = new
                    if new is not v:
                        scaled.append(name)
            elif isinstance(v, dict):
                out[k] = walk(v, name + ".")
            else:
                out[k] = v
        return out

    new = walk({k: v for k, v in meta.items() if k != "liif"}, "")
    return new, {"scaled": scaled, "dropped": dropped}
