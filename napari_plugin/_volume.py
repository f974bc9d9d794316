"""3D layers in napari: isotropic z and resampling in the zx or zy plane, placed exactly, on a worker.

The engine's `isotropic` refines z by LIIF on zx and zy slices (y and x stay on the input's grid),
and `resample_planes` resamples every slice of a chosen plane; both say where the new voxels are
(spacing, origin shift). Here that becomes a new Image layer whose scale and translate put every
voxel at its physical position, and a generator for the dock widget's thread_worker that reports
progress and stops when the run is cancelled.
"""

from __future__ import annotations

import numpy as np
from napari.layers import Image

import liif_plugin

from . import _resample as rs


def check_3d(layer, what="'isotropic z'"):
    """Refuse what is not a gray (z, y, x) stack, in one sentence; returns its (z, y, x) pixel sizes."""
    rs.check_layer(layer)
    if layer.ndim != 3 or layer.rgb:
        raise ValueError(f"'{layer.name}' has {layer.ndim} axes; {what} needs a 3D (z, y, x) stack")
    return tuple(abs(float(v)) for v in layer.scale[-3:])


def check_stack(layer):
    """Refuse a stack that isotropic z cannot improve, in one sentence."""
    sz, sy, sx = check_3d(layer)
    if not np.isclose(sy, sx, rtol=1e-6):
        raise ValueError(f"'{layer.name}' has different y and x pixel sizes ({sy:g}, {sx:g}); resample y/x first")
    if sz <= sy * (1 + 1e-6):
        raise ValueError(f"'{layer.name}' is already isotropic or finer in z (z {sz:g}, y/x {sy:g}); nothing to do")
    return sz, sy, sx


def why_not_isotropic(layer) -> str | None:
    """Why isotropic z cannot run on `layer` (one sentence), or None."""
    if layer is None:
        return "isotropic z needs a 3D (z, y, x) stack; open one first"
    try:
        check_stack(layer)
    except (ValueError, TypeError) as e:
        return str(e)
    return None


def volume_layer(layer, result, model, precision, operation, name) -> Image:
    """The new layer for `result` (a liif_plugin.Resampled of the layer's data)."""
    from napari.utils.transforms import CompositeAffine

    old = np.asarray(layer.scale, float)
    scale = np.asarray(result.spacing, float) * np.sign(old)
    # The origin shift is physical (along the data axes); the layer's linear part carries it to world.
    linear = CompositeAffine(scale=np.ones(3), rotate=layer.rotate, shear=layer.shear, ndim=3).linear_matrix
    translate = np.asarray(layer.translate, float) + linear @ (np.asarray(result.origin, float) * np.sign(old))
    meta = dict(layer.metadata)
    meta["liif"] = {
        "operation": operation,
        "model": model.name,
        "weights_sha256": model.sha256,
        "precision": precision,
        "model_detail": model.detail,  # the model's own share of LIIF's difference from bicubic (the registry's)
        "spacing": list(result.spacing),
        "origin_shift": list(result.origin),
        "source_layer": layer.name,
        "plugin_version": liif_plugin.__version__,
    }
    kwargs = dict(
        name=name,
        scale=scale,
        translate=translate,
        rotate=layer.rotate,
        shear=layer.shear,
        opacity=layer.opacity,
        blending=layer.blending,
        metadata=meta,
        axis_labels=layer.axis_labels,
        units=layer.units,
        colormap=layer.colormap,
        contrast_limits=layer.contrast_limits,
        gamma=layer.gamma,
    )
    return Image(result.data, **kwargs)


def iter_isotropic(layer, model, precision=None, stop=None):
    """Generator for the dock widget: isotropic z of a 3D layer (see iter_volume). `stop()` is asked within
    every band (between encoder convolutions, before decoder chunks); raising from it (Cancel) stops at once."""
    spacing = check_stack(layer)
    data = np.asarray(rs.level0(layer))
    steps = liif_plugin.iter_isotropic(data, spacing, model=model, precision=precision, stop=stop)
    return iter_volume(layer, model, precision, "isotropic z", steps)


def iter_plane(layer, model, plane, scale=None, shape=None, precision=None, stop=None):
    """Generator for the dock widget: every slice of the `plane` ("zx" or "zy") of a 3D layer resampled;
    scale / shape are for the plane's two axes in that order; `stop` as in iter_isotropic."""
    spacing = check_3d(layer, f"the {plane} plane")
    data = np.asarray(rs.level0(layer))
    steps = liif_plugin.iter_resample_planes(
        data, scale, shape=shape, plane=plane, spacing=spacing, model=model, precision=precision, stop=stop
    )
    return iter_volume(layer, model, precision, f"{plane} plane", steps)


def iter_volume(layer, model, precision, operation, steps):
    """Yields ("fraction", f) and ("status", text) after every band of the engine's generator
    (liif_plugin.iter_isotropic / iter_resample_planes); returns [the new layer].

    The work runs in the caller's thread, between these yields: when the worker stops asking
    (Cancel closes this generator), the engine's generator is closed too and nothing computes on.
    """
    try:
        while True:
            try:
                done, total = next(steps)
            except StopIteration as end:
                result = end.value
                break
            yield ("fraction", done / max(total, 1))
            yield ("status", f"{operation} … {100 * done / max(total, 1):.0f} %")
    finally:
        steps.close()
    return [
        volume_layer(layer, result, model, precision or model.precision, operation, f"{layer.name} (LIIF {operation})")
    ]
