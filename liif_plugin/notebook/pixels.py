"""Pixels for the widget: classic resampling of a window, conversion to 8-bit, PNG bytes.

Everything works on the engine's float planes (B, h, w, 3) in [0, 1] (see liif_plugin.arrays), so
bicubic, nearest and LIIF windows of an image go back to the user's dtype the same way.
"""
import io

import numpy as np
from PIL import Image

_FILTERS = {"bicubic": Image.Resampling.BICUBIC, "nearest": Image.Resampling.NEAREST}


class ClassicResampler:
    """Bicubic / nearest windows of the input planes, with PIL (which filters properly when shrinking)."""

    def __init__(self, planes, kind):
        # planes: (B, 3, H, W) float32. Gray-like planes hold one value three times: resample it once.
        self.colour = [kind == "rgb" or (kind == "rgba" and b == 0) for b in range(planes.shape[0])]
        self.images = [
            [Image.fromarray(np.ascontiguousarray(p[c])) for c in (range(3) if col else (0,))]
            for p, col in zip(planes, self.colour)
        ]

    def render(self, region, shape, method="bicubic"):
        """Planes (B, h, w, 3) float32 in [0, 1] of `region` (y0, x0, y1, x1) resampled to `shape`."""
        if method not in _FILTERS:
            raise ValueError(f"unknown resampling {method!r}; use 'bicubic' or 'nearest'")
        y0, x0, y1, x1 = region
        h, w = shape
        out = np.empty((len(self.images), h, w, 3), dtype=np.float32)
        for b, chans in enumerate(self.images):
            got = [np.asarray(im.resize((w, h), _FILTERS[method], box=(x0, y0, x1, y1))) for im in chans]
            out[b] = np.stack(got, axis=-1) if len(got) == 3 else got[0][..., None]
        return np.clip(out, 0.0, 1.0, out=out)


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
