"""The public API: upscale any image with LIIF, and the names every face builds on.

``upscale`` is the one-call path; ``get_model`` / ``load_model`` give a LiifModel whose ``encode``
or ``open`` returns a field that renders any window (liif_plugin.engine). ``model=None`` or
``"auto"`` means the model ``choose_model`` picks for the image.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.field import MAX_OUTPUT_PIXELS, check_out_shape, check_region
from liif_plugin.engine.model import LiifModel
from liif_plugin.errors import Hint, LiifError
from liif_plugin.models.loading import get_model, list_models, load_model
from liif_plugin.quality.choose import choose_model
from liif_plugin.runtime.hardware import Precision, pick_device
from liif_plugin.sources import arrays

__all__ = [
    "LiifModel",
    "choose_model",
    "get_model",
    "list_models",
    "load_model",
    "output_shape",
    "pick_device",
    "render_blockwise",
    "upscale",
]

# Above this many latent codes (all planes), upscale() works block by block through the tiled
# field, so the feature map of the whole image is never held at once (64 x 4 bytes x 2 M = 512 MB).
BLOCKWISE_LATENTS = 2_000_000
Scale = float | Sequence[float]  # one factor, or (sy, sx)
Region = tuple[float, float, float, float]


def output_shape(
    in_shape: tuple[int, int],
    scale: Scale | None = None,
    shape: Sequence[int] | None = None,
    region: Region | None = None,
    *,
    limit: int = MAX_OUTPUT_PIXELS,
) -> tuple[int, int]:
    """The output (h, w) for upscale's arguments; raises a clear error for bad ones. `limit`: the most
    pixels a plane may have (MAX_LAZY_OUTPUT_PIXELS where it is rendered block by block)."""
    if (scale is None) == (shape is None):
        raise LiifError(
            "the output size is not set once",
            Hint(
                "give exactly one of scale= (a factor) or shape= (height, width)",
                cli="give one of --scale, --size, --width or --height",
                napari="choose a scale factor or an output shape",
            ),
        )
    if shape is not None:
        return check_out_shape(shape, limit)
    assert scale is not None  # exactly one of scale and shape was given (checked above)
    pair: list[Any] = list(scale) if isinstance(scale, (tuple, list, np.ndarray)) else [scale, scale]
    if len(pair) != 2:
        raise ValueError(f"scale must be a number or a pair (sy, sx), got {scale!r}")
    try:
        sy, sx = float(pair[0]), float(pair[1])
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a number or a pair (sy, sx), got {scale!r}") from None
    if not (math.isfinite(sy) and math.isfinite(sx)) or sy <= 0 or sx <= 0:
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    y0, x0, y1, x1 = check_region(region, in_shape)
    h, w = round((y1 - y0) * sy), round((x1 - x0) * sx)
    if h < 1 or w < 1:
        raise ValueError(f"scale {scale!r} makes the output empty ({h}x{w}); use a larger scale")
    return check_out_shape((h, w), limit)


def upscale(
    x,
    scale: Scale | None = None,
    *,
    shape: Sequence[int] | None = None,
    region: Region | None = None,
    model: str | LiifModel | None = None,
    progress: Callable[[int, int], None] | None = None,
    detail: float = 1.0,
    precision: Precision | str | None = None,
) -> np.ndarray:
    """Resample image `x` with LIIF. Give scale (float or (sy, sx)) or shape (h, w); optional region.

    The output keeps x's dtype and channel layout. Large images are processed block by block.
    `detail` (0..1) keeps that much of LIIF's difference from bicubic on the same output grid:
    1 is LIIF as it is, 0 is bicubic; lower it for noisy images (see liif_plugin.quality.noise).
    `precision`: None uses the model's (fp32 unless load_model was given another).
    `model`: a name, a path, a LiifModel, or None / "auto": the model ``choose_model(x)`` picks
    (logged on the "liif_plugin" logger).
    """
    x = arrays.check_image(x)
    arrays.check_channels_last(x)
    detail = check_detail(detail)
    m = get_model(model, x)
    H, W = x.shape[:2]
    out_shape = output_shape((H, W), scale, shape, region)
    region = check_region(region, (H, W))
    if H * W * arrays.n_planes(1 if x.ndim == 2 else x.shape[2]) <= BLOCKWISE_LATENTS:
        return m.encode(x, precision).render(out_shape, region, progress=progress, detail=detail)
    return render_blockwise(
        m.open(x, precision=precision, cache_bytes=0, channels=x.ndim == 3),
        out_shape,
        region,
        progress=progress,
        detail=detail,
    )


def render_blockwise(field, out_shape, region, progress=None, detail=1.0):
    """A field's render straight into the output dtype, one block at a time.

    The float32 planes of the whole output are never held (for a 4096x4096 RGB uint8 result they
    and their float64 conversion would take over 1 GB); only one block's are.
    """
    h, w = out_shape
    layout = field.layout
    out = None
    done = 0
    for (ra, rb), (ca, cb), part in field.parts(out_shape, region, detail=detail):
        part = arrays.from_planes(part, layout)
        if out is None:
            out = np.empty((h, w) + part.shape[2:], dtype=part.dtype)
        out[ra:rb, ca:cb] = part
        done += (rb - ra) * (cb - ca)
        if progress is not None:
            progress(done, h * w)
    assert out is not None  # a render has at least one part
    return out
