"""The public API: load_model, LiifModel.encode -> ImageField.render, and upscale."""

import math
from pathlib import Path

import numpy as np
import torch

from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.encoder import encode_tiled
from liif_plugin.engine.field import ImageField, check_out_shape, check_region
from liif_plugin.hub import cache
from liif_plugin.models.checkpoint import load_network
from liif_plugin.models.families import AUTHORS_NORM, Normalization
from liif_plugin.runtime import hardware
from liif_plugin.runtime.memory_format import layout_for
from liif_plugin.sources import arrays
from liif_plugin.sources.source import open_source

ENCODE_TILE = 256
# Above this many latent codes (all planes), upscale() works block by block through the tiled
# field, so the feature map of the whole image is never held at once (64 x 4 bytes x 2 M = 512 MB).
BLOCKWISE_LATENTS = 2_000_000


def pick_device(device="auto"):
    if isinstance(device, torch.device):
        return device
    if device in (None, "auto"):
        if torch.cuda.is_available():
            return torch.device("cuda")
        mps = getattr(torch.backends, "mps", None)
        if mps is not None and mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise ValueError("device 'cuda' was asked for but PyTorch sees no CUDA GPU; use device='cpu' or 'auto'")
    if device not in ("cpu", "cuda", "mps") and not str(device).startswith("cuda:"):
        raise ValueError(f"unknown device {device!r}; use 'auto', 'cpu', 'cuda' or 'mps'")
    return torch.device(device)


class LiifModel:
    """A loaded LIIF network with what is known about its weights."""

    def __init__(
        self,
        net,
        spec,
        name,
        path=None,
        sha256=None,
        device="auto",
        precision="fp32",
        half=False,
        normalization: Normalization = AUTHORS_NORM,
    ):
        self.device = pick_device(device)
        # The precision of renders: the MLP's dtype (the encoder, coordinates and lookups stay fp32).
        self.precision = hardware.resolve_precision(half_alias(precision, half), self.device)
        self.net = net.to(self.device)
        self.spec = spec
        self.name = name
        self.path = path
        self.sha256 = sha256
        self.normalization = normalization  # the pixel units its weights were trained in
        self.hidden = self.net.imnet.layers[0].weight.shape[0]
        self.layout = self._measure_layout()

    def _measure_layout(self):
        """Memory format of the convolutions on this device (liif_plugin.runtime.memory_format); sets the encoder's."""
        enc = self.net.encoder

        def probe(fmt):
            x = torch.zeros((1, 3, 48, 48), device=self.device).contiguous(memory_format=fmt)
            with torch.inference_mode():
                enc.to(memory_format=fmt)(x)

        fmt = layout_for(self.device, probe)
        enc.to(memory_format=fmt)
        return fmt

    @property
    def encoder_name(self):
        return self.spec["args"]["encoder_spec"]["name"]

    @property
    def receptive_radius(self):
        return self.net.encoder.receptive_radius

    def __repr__(self):
        return f"LiifModel({self.name!r}, encoder={self.encoder_name!r}, device={str(self.device)!r})"

    def encode_planes(self, planes, progress=None):
        """Float planes (B, 3, H, W) in [0, 1] (numpy) -> latent features (B, C, H, W).

        `progress(done, total)` is called after each encoder tile; raising from it stops the work.
        """
        x = torch.from_numpy(np.ascontiguousarray(planes)).to(self.device)
        x = self.normalization.to_net(x)
        with torch.inference_mode():
            return encode_tiled(self.net.encoder, x, tile=ENCODE_TILE, memory_format=self.layout, progress=progress)

    def encode(self, x, precision=None):
        """Encode an image once; render it many times with the field.

        An in-memory HxW or HxWxC numpy array is encoded now, whole (an ``ImageField``). Anything
        else (zarr, dask, memmap, a path) gives the lazy ``TiledField`` of ``open``.
        `precision` ('auto', 'fp32', 'bf16', 'fp16') is the field's; None: the model's.
        """
        if not isinstance(x, np.ndarray) or isinstance(x, np.memmap):
            return self.open(x, precision=precision)
        planes, layout = arrays.to_planes(x)
        return ImageField(self, self.encode_planes(planes), layout, planes=planes, precision=precision)

    def open(self, x, *, index=(), channels=None, value_range=None, precision=None, cache_bytes=None):
        """A lazy field of any image: array, memmap, zarr, dask array or path (TIFF, zarr, OME-Zarr).

        Nothing is encoded until a render asks; then only the tiles under its window are, and kept
        in a cache of `cache_bytes` (default liif_plugin.engine.tiles.CACHE_BYTES). `index` picks one image
        of a stack (leading axes); `channels` whether the last axis is colour/channels (None: see
        liif_plugin.sources.source); `value_range` (lo, hi) spares the pass that finds it.
        """
        from liif_plugin.engine.tiles import TiledField

        return TiledField(
            self,
            open_source(x, index=index, channels=channels),
            value_range=value_range,
            precision=precision,
            cache_bytes=cache_bytes,
        )


def half_alias(precision, half):
    """`half=True` is the older spelling of precision='fp16'."""
    if not half:
        return precision
    if precision not in ("fp32", "fp16"):
        raise ValueError(f"half=True means precision='fp16' but precision={precision!r} was given; pass only precision")
    return "fp16"


def load_model(name_or_path=None, device="auto", precision="fp32", half=False):
    """A registry name (default 'edsr-baseline') or a path to a LIIF checkpoint -> LiifModel.

    precision: 'fp32' (exact, the default), 'bf16' (CPU or CUDA), 'fp16' (CUDA) or 'auto' (the
    fastest this hardware runs natively within 2/255 of fp32; see liif_plugin.runtime.hardware).
    `half=True` is an alias of precision='fp16'.
    """
    name_or_path = cache.DEFAULT_MODEL if name_or_path is None else name_or_path
    if isinstance(name_or_path, LiifModel):
        return name_or_path
    text = str(name_or_path)
    if name_or_path in cache.registry() and not Path(text).exists():
        path = cache.ensure(text)
        name = text
    elif isinstance(name_or_path, Path) or "/" in text or text.endswith((".pth", ".pt")) or Path(text).exists():
        path = Path(text)
        name = path.stem
    else:
        cache.entry(text)  # raises: unknown name
    net, ckpt = load_network(path)
    return LiifModel(
        net,
        ckpt.spec,
        name,
        path=path,
        sha256=cache.sha256_of(path),
        device=device,
        precision=precision,
        half=half,
        normalization=ckpt.normalization,
    )


_default_models = {}


def get_model(model=None) -> "LiifModel":
    """A LiifModel for `model`: None (the default registry model, loaded once), a LiifModel, a
    registry name or a checkpoint path."""
    if model is None:
        if "default" not in _default_models:
            _default_models["default"] = load_model()
        return _default_models["default"]
    if isinstance(model, LiifModel):
        return model
    return load_model(model)


def output_shape(in_shape, scale=None, shape=None, region=None):
    """The output (h, w) for upscale's arguments; raises a clear error for bad ones."""
    if (scale is None) == (shape is None):
        raise ValueError("give exactly one of scale= (a factor) or shape= (height, width)")
    if shape is not None:
        return check_out_shape(shape)
    if isinstance(scale, (tuple, list, np.ndarray)):
        if len(scale) != 2:
            raise ValueError(f"scale must be a number or a pair (sy, sx), got {scale!r}")
        sy, sx = scale
    else:
        sy = sx = scale
    try:
        sy, sx = float(sy), float(sx)
    except (TypeError, ValueError):
        raise ValueError(f"scale must be a number or a pair (sy, sx), got {scale!r}") from None
    if not (math.isfinite(sy) and math.isfinite(sx)) or sy <= 0 or sx <= 0:
        raise ValueError(f"scale must be positive and finite, got {scale!r}")
    y0, x0, y1, x1 = check_region(region, in_shape)
    h, w = round((y1 - y0) * sy), round((x1 - x0) * sx)
    if h < 1 or w < 1:
        raise ValueError(f"scale {scale!r} makes the output empty ({h}x{w}); use a larger scale")
    return check_out_shape((h, w))


def upscale(x, scale=None, *, shape=None, region=None, model=None, progress=None, detail=1.0, precision=None):
    """Resample image `x` with LIIF. Give scale (float or (sy, sx)) or shape (h, w); optional region.

    The output keeps x's dtype and channel layout. Large images are processed block by block.
    `detail` (0..1) keeps that much of LIIF's difference from bicubic on the same output grid:
    1 is LIIF as it is, 0 is bicubic; lower it for noisy images (see liif_plugin.quality.noise).
    `precision`: None uses the model's (fp32 unless load_model was given another).
    """
    x = arrays.check_image(x)
    detail = check_detail(detail)
    m = get_model(model)
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
    return out
