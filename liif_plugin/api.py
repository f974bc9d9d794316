"""The public API: load_model, LiifModel.encode -> ImageField.render, and upscale."""
import math
from pathlib import Path

import numpy as np
import torch

from . import arrays, weights
from .bicubic import check_detail
from .checkpoint import load_network
from .encode import encode_tiled
from .field import ImageField, check_out_shape, check_region
from .layouts import AUTHORS_NORM, Normalization

ENCODE_TILE = 256
# Above this many latent codes (all planes), upscale() works block by block so that the feature
# map of the whole image is never held at once (64 channels x 4 bytes x 2 M = 512 MB).
BLOCKWISE_LATENTS = 2_000_000
BLOCK = 512  # input pixels per side of one block in the block-wise path


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

    def __init__(self, net, spec, name, path=None, sha256=None, device="auto", half=False,
                 normalization: Normalization = AUTHORS_NORM):
        self.device = pick_device(device)
        self.half = bool(half)
        if self.half and self.device.type == "cpu":
            raise ValueError("half precision needs a GPU; use half=False on the CPU")
        self.net = net.to(self.device)
        if self.half:
            self.net = self.net.half()
        self.spec = spec
        self.name = name
        self.path = path
        self.sha256 = sha256
        self.normalization = normalization  # the pixel units its weights were trained in
        self.hidden = self.net.imnet.layers[0].weight.shape[0]

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
        if self.half:
            x = x.half()
        with torch.inference_mode():
            return encode_tiled(self.net.encoder, x, tile=ENCODE_TILE, progress=progress)

    def encode(self, x):
        """Encode an image (HxW or HxWxC array) once; render it many times with the field."""
        planes, layout = arrays.to_planes(x)
        return ImageField(self, self.encode_planes(planes), layout, planes=planes)


def load_model(name_or_path=None, device="auto", half=False):
    """A registry name (default 'edsr-baseline') or a path to a LIIF checkpoint -> LiifModel."""
    name_or_path = weights.DEFAULT_MODEL if name_or_path is None else name_or_path
    if isinstance(name_or_path, LiifModel):
        return name_or_path
    text = str(name_or_path)
    if name_or_path in weights.registry() and not Path(text).exists():
        path = weights.ensure(text)
        name = text
    elif isinstance(name_or_path, Path) or "/" in text or text.endswith((".pth", ".pt")) or Path(text).exists():
        path = Path(text)
        name = path.stem
    else:
        weights.entry(text)  # raises: unknown name
    net, ckpt = load_network(path)
    return LiifModel(net, ckpt.spec, name, path=path, sha256=weights.sha256_of(path), device=device, half=half,
                     normalization=ckpt.normalization)


_default_models = {}


def _model(model):
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


def upscale(x, scale=None, *, shape=None, region=None, model=None, progress=None, detail=1.0):
    """Resample image `x` with LIIF. Give scale (float or (sy, sx)) or shape (h, w); optional region.

    The output keeps x's dtype and channel layout. Large images are processed block by block.
    `detail` (0..1) keeps that much of LIIF's difference from bicubic on the same output grid:
    1 is LIIF as it is, 0 is bicubic; lower it for noisy images (see liif_plugin.noise).
    """
    x = arrays.check_image(x)
    detail = check_detail(detail)
    m = _model(model)
    H, W = x.shape[:2]
    out_shape = output_shape((H, W), scale, shape, region)
    region = check_region(region, (H, W))
    if H * W * arrays.n_planes(1 if x.ndim == 2 else x.shape[2]) <= BLOCKWISE_LATENTS:
        return m.encode(x).render(out_shape, region, progress=progress, detail=detail)
    from .blocks import upscale_blockwise

    return upscale_blockwise(m, x, out_shape, region, block=BLOCK, progress=progress, detail=detail)
