"""Pixels for the widget: conversion to 8-bit and PNG bytes (classic resampling: liif_plugin.engine.classic).

Everything works on the engine's float planes (B, h, w, 3) in [0, 1] (see liif_plugin.sources.arrays), so
bicubic, nearest and LIIF windows of an image go back to the user's dtype the same way.
"""

import io

import numpy as np
from PIL import Image

from liif_plugin.engine.classic import ClassicResampler  # noqa: F401  (the widget and its tests import it from here)


def to_display(planes, kind):
    """Float planes (B, h, w, 3) -> uint8 HxW (gray), HxWx3 or HxWx4 for the screen.

    Multi-channel images show their first three channels as red, green and blue.
    """
    if kind == "rgb":
        img = planes[0]
    elif kind == "gray":
        img = planes[0].mean(axis=2)
    elif kind == "rgba":
        img = np.concatenate([planes[0], planes[1].mean(axis=2, keepdims=True)], axis=2)
    else:
        img = np.zeros(planes.shape[1:], dtype=np.float32)
        for c in range(min(3, planes.shape[0])):
            img[..., c] = planes[c].mean(axis=2)
    return np.rint(np.clip(img, 0, 1) * 255).astype(np.uint8)


def png_bytes(img):
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG", compress_level=1)  # speed over size: it is local
    return buf.getvalue()
