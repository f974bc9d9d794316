"""What the panel's controls say, as plain values, and what that means for a layer (no Qt here).

``Choices`` is a snapshot of the controls (the view, napari_plugin._widget, reads it from its
magicgui widgets); the functions turn it into the engine's keyword arguments for a layer: the scale
or output shape, the region of 'current view only', the layers a run covers, the zx / zy plane
sizes. They raise ValueError or TypeError with one sentence that the panel shows as it is.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

from napari.layers import Image

from liif_plugin.errors import message_for

from . import _resample as rs

SCALE_MODE, SHAPE_MODE, SIZE_MODE = "scale factor", "output shape", "pixel size"
AUTO = "auto"  # the model setting that picks, per layer, the model that suits it (liif_plugin.quality.choose)
PLANES = ("yx", "zx", "zy")
# Precision choices: label -> (Preview's, Run's). The default keeps Run's layers exact.
PRECISIONS = {
    "auto for Preview, fp32 for Run": ("auto", "fp32"),
    "auto": ("auto", "auto"),
    "fp32": ("fp32", "fp32"),
    "bf16": ("bf16", "bf16"),
    "fp16": ("fp16", "fp16"),
}
PLANE_AXES = {"zx": (0, 2), "zy": (0, 1)}  # the (z, y, x) axes a section of each plane spans
PLANE_WALKED = {"zx": 1, "zy": 2}  # the axis its sections are taken along


@functools.cache
def devices() -> list[str]:
    """The device choices this machine offers."""
    import torch

    devs = ["auto", "cpu"]
    if torch.cuda.is_available():
        devs.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        devs.append("mps")
    return devs


@dataclass(frozen=True)
class Choices:
    """The panel's settings at one moment."""

    plane: str = "yx"
    mode: str = SCALE_MODE
    scale: tuple[float, float] = (2.0, 2.0)  # (y, x); in the zx / zy plane: (z, x) / (z, y)
    shape: tuple[int, int] = (1, 1)  # (h, w) of the output shape
    pixel_size: float = 0.1  # the new pixel size in the layer's units (mode SIZE_MODE)
    view_only: bool = False
    all_selected: bool = False
    model: str = AUTO  # 'auto' (the model that suits each layer, chosen once per layer), a registry name or a path
    device: str = "auto"
    detail: float = 1.0
    precision: str = next(iter(PRECISIONS))  # a PRECISIONS label

    def precision_for(self, action: str) -> str:
        """The precision the picker gives `action` ('preview' or 'run')."""
        preview, run = PRECISIONS[self.precision]
        return preview if action == "preview" else run

    def device_guess(self) -> str:
        """The device 'auto' will pick (before a model is loaded)."""
        devs = devices()
        if self.device == "auto":
            return devs[-1] if len(devs) > 2 else "cpu"
        return self.device


def real(obj):
    """napari hands plugins PublicOnlyProxy wrappers; the layer itself, so identity checks hold."""
    return getattr(obj, "__wrapped__", obj)


def why_not(layer) -> str | None:
    """Why LIIF cannot resample this layer (one sentence), or None. Event handlers run inside
    napari's event loop, so they report instead of raising."""
    try:
        rs.check_layer(real(layer))
    except (ValueError, TypeError) as e:
        return message_for(e, "napari")
    return None


def pixel_size(layer) -> tuple[float, float]:
    """(y, x) size of one pixel in the layer's units: its scale on the two spatial axes."""
    sy, sx = (abs(float(v)) for v in layer.scale[-2:])
    return sy, sx


def unit(layer) -> str:
    """The layer's spatial unit as the panel writes it, in words ('pixels' for none, else e.g. 'micrometer')."""
    units = getattr(layer, "units", None)
    return "pixels" if not units or str(units[-1]) == "pixel" else f"{units[-1]:P}"


def resample_kwargs(layer, choices: Choices, viewer=None) -> dict:
    """scale or shape, and region, for resampling `layer` in the yx plane; raises ValueError."""
    if layer is None:
        raise ValueError("there is no image layer to resample; open an image first")
    region = None
    if choices.view_only:
        view = rs.view_region(layer, viewer)
        if view is None:
            raise ValueError(
                f"'{layer.name}' is not visible in the current view; pan to it or untick 'current view only'"
            )
        region = view[0]
    if choices.mode == SCALE_MODE:
        return {"scale": tuple(choices.scale), "region": region}
    if choices.mode == SIZE_MODE:
        return {"scale": size_scale(layer, choices.pixel_size), "region": region}
    return {"shape": tuple(choices.shape), "region": region}


def size_scale(layer, target: float) -> tuple[float, float]:
    """The (y, x) scale that turns the layer's pixel size into `target`."""
    py, px = pixel_size(layer)
    return py / target, px / target


def plan_kwargs(kw: dict) -> dict:
    """The arguments of `kw` that decide a render's size (what rs.plan and rs.estimate take)."""
    return {k: v for k, v in kw.items() if k in ("scale", "shape", "region", "lead_index")}


def plane_kwargs(layer, choices: Choices) -> tuple:
    """(scale, shape) for the zx / zy plane of a 3D layer; raises ValueError."""
    from . import _volume

    plane = choices.plane
    sizes = dict(zip("zyx", _volume.check_3d(layer, f"the {plane} plane")))
    if choices.view_only:
        raise ValueError(f"'current view only' works in the yx plane; untick it to resample the {plane} plane")
    if choices.mode == SCALE_MODE:
        return tuple(choices.scale), None
    if choices.mode == SIZE_MODE:
        return (sizes[plane[0]] / choices.pixel_size, sizes[plane[1]] / choices.pixel_size), None
    return None, tuple(choices.shape)


def plane_output(layer, choices: Choices) -> tuple[int, int, int]:
    """(h, w, sections) of a zx / zy resample; raises ValueError."""
    from liif_plugin.api import output_shape

    scale, shape = plane_kwargs(layer, choices)
    h, w = output_shape(tuple(layer.data.shape[a] for a in PLANE_AXES[choices.plane]), scale, shape)
    return h, w, layer.data.shape[PLANE_WALKED[choices.plane]]


def targets(layer, choices: Choices, viewer) -> list:
    """The layers Run resamples: the picked one, or every selected resamplable image layer."""
    if not choices.all_selected:
        return [] if layer is None else [layer]
    chosen = [
        real(ly)
        for ly in viewer.layers
        if ly in viewer.layers.selection and isinstance(ly, Image) and why_not(ly) is None
    ]
    return chosen or ([] if layer is None else [layer])
