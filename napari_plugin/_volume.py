"""Isotropic z for a napari 3D layer: liif_plugin.isotropic, placed exactly, on a worker.

The engine's `isotropic` refines z by LIIF on zx and zy slices (y and x stay on the input's grid)
and says where the new slices are (spacing, origin shift). Here that becomes a new Image layer
whose scale and translate put every voxel at its physical position, and a generator for the dock
widget's thread_worker that reports progress and stops when the run is cancelled.
"""
from __future__ import annotations

import threading

import numpy as np
from napari.layers import Image

import liif_plugin
from liif_plugin.field import Cancelled

from . import _resample as rs


def check_stack(layer):
    """Refuse what is not a (z, y, x) stack, in one sentence."""
    rs.check_layer(layer)
    spatial = layer.ndim
    if spatial != 3:
        raise ValueError(f"'{layer.name}' has {spatial} axes; 'isotropic z' needs a 3D (z, y, x) stack")
    sz, sy, sx = (abs(float(v)) for v in layer.scale[-3:])
    if not np.isclose(sy, sx, rtol=1e-6):
        raise ValueError(f"'{layer.name}' has different y and x pixel sizes ({sy:g}, {sx:g}); resample y/x first")
    if sz <= sy * (1 + 1e-6):
        raise ValueError(f"'{layer.name}' is already isotropic or finer in z (z {sz:g}, y/x {sy:g}); nothing to do")
    return sz, sy, sx


def isotropic_layer(layer, result, model, precision) -> Image:
    """The new layer for `result` (a liif_plugin.Resampled of the layer's data)."""
    from napari.utils.transforms import CompositeAffine

    old = np.asarray(layer.scale, float)
    scale = np.asarray(result.spacing, float) * np.sign(old)
    # The origin shift is physical (along the data axes); the layer's linear part carries it to world.
    linear = CompositeAffine(scale=np.ones(3), rotate=layer.rotate, shear=layer.shear, ndim=3).linear_matrix
    translate = np.asarray(layer.translate, float) + linear @ (np.asarray(result.origin, float) * np.sign(old))
    meta = dict(layer.metadata)
    meta["liif"] = {"operation": "isotropic z", "model": model.name, "weights_sha256": model.sha256,
                    "precision": precision, "spacing": list(result.spacing), "origin_shift": list(result.origin),
                    "source_layer": layer.name, "plugin_version": liif_plugin.__version__}
    kwargs = dict(name=f"{layer.name} (LIIF isotropic z)", scale=scale, translate=translate, rotate=layer.rotate,
                  shear=layer.shear, opacity=layer.opacity, blending=layer.blending, metadata=meta,
                  axis_labels=layer.axis_labels, units=layer.units, colormap=layer.colormap,
                  contrast_limits=layer.contrast_limits, gamma=layer.gamma)
    return Image(result.data, **kwargs)


def iter_isotropic(layer, model, precision=None):
    """Generator for the dock widget: yields ("status", text) and ("fraction", f); returns [new layer].

    The engine call runs on a helper thread so this generator can report between slices; closing
    the generator (Cancel) makes the next slice raise Cancelled there.
    """
    spacing = check_stack(layer)
    data = np.asarray(rs.level0(layer))
    state = {"p": (0, 1), "out": None, "err": None, "stop": False}

    def progress(done, total):
        state["p"] = (done, total)
        if state["stop"]:
            raise Cancelled()

    def work():
        try:
            state["out"] = liif_plugin.isotropic(data, spacing, model=model, precision=precision, progress=progress)
        except BaseException as e:  # handed to the worker thread, which reports it
            state["err"] = e

    th = threading.Thread(target=work, name="liif-isotropic", daemon=True)
    th.start()
    try:
        while th.is_alive():
            th.join(0.1)
            done, total = state["p"]
            yield ("fraction", done / max(total, 1))
            yield ("status", f"isotropic z … {done} / {total} slices")
    finally:
        state["stop"] = True
    if state["err"] is not None:
        raise state["err"]
    return [isotropic_layer(layer, state["out"], model, precision or model.precision)]
