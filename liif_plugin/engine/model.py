"""LiifModel: a loaded LIIF network on a device, and the two ways into the engine.

``encode(x)`` encodes an in-memory image whole (an ImageField); ``open(x)`` gives the lazy tiled
field of any source (zarr, dask, memmap, path). Both render any window at any size.

Precision: `precision` is the MLP's (see liif_plugin.runtime.hardware); the encoder runs in fp32 unless
asked otherwise (`encoder_precision`): the interactive faces ask for the 16-bit precision the device
runs natively (hardware.interactive_encoder_precision), every exact path keeps fp32.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, TypeVar, cast

import numpy as np
import torch

from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.encoder import encode_tiled
from liif_plugin.engine.field import ImageField
from liif_plugin.errors import LiifError
from liif_plugin.models.families import AUTHORS_NORM, Normalization
from liif_plugin.runtime import hardware
from liif_plugin.runtime.hardware import Precision, pick_device
from liif_plugin.runtime.memory_format import layout_for
from liif_plugin.sources import arrays
from liif_plugin.sources.source import open_source

if TYPE_CHECKING:
    from liif_plugin.engine.tiles import TiledField
    from liif_plugin.models.liif import LIIF, Encoder

ENCODE_TILE = 256  # input pixels per side of one encoder tile of a whole-image encode
Progress = Callable[[int, int], None]
M = TypeVar("M", bound=torch.nn.Module)


def _to_layout(module: M, fmt: torch.memory_format) -> M:
    """``module.to(memory_format=fmt)``: the module, its weights now in `fmt`."""
    # PyTorch takes the keyword (Module.to's docstring lists it); its typed overloads leave it out.
    return module.to(memory_format=fmt)  # pyright: ignore[reportCallIssue]


class LiifModel:
    """A loaded LIIF network with what is known about its weights."""

    def __init__(
        self,
        net: LIIF,
        spec: dict,
        name: str,
        path: Path | None = None,
        sha256: str | None = None,
        device: str | torch.device = "auto",
        precision: Precision | str = "fp32",
        half: bool = False,
        normalization: Normalization = AUTHORS_NORM,
        detail: float = 1.0,
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
        # The share of LIIF's difference from bicubic its renders keep (the registry's `detail`, calibrated for
        # the images `auto` gives it; 1: LIIF as it is). A render's own `detail` multiplies it.
        self.detail = check_detail(detail)
        self.hidden = cast(torch.nn.Linear, self.net.imnet.layers[0]).weight.shape[0]
        self.layout = self._measure_layout()
        self._encoders: dict[str, Encoder] = {}  # precision -> a 16-bit copy of the encoder (made on first use)
        self._encoders_lock = threading.Lock()

    def _measure_layout(self):
        """Memory format of the convolutions on this device (liif_plugin.runtime.memory_format); sets the encoder's."""
        enc = self.net.encoder

        def probe(fmt):
            x = torch.zeros((1, 3, 48, 48), device=self.device).contiguous(memory_format=fmt)
            # Convert outside inference mode: weights converted inside it become inference tensors, and a
            # network that is still being trained (liif train validates through this class) then fails
            # its next backward pass.
            layered = _to_layout(enc, fmt)
            with torch.inference_mode():
                layered(x)

        fmt = layout_for(self.device, probe)
        _to_layout(enc, fmt)
        return fmt

    @property
    def encoder_name(self) -> str:
        return self.spec["args"]["encoder_spec"]["name"]

    @property
    def receptive_radius(self) -> int:
        return self.net.encoder.receptive_radius

    def __repr__(self):
        return f"LiifModel({self.name!r}, encoder={self.encoder_name!r}, device={str(self.device)!r})"

    def encoder_for(self, precision: str = "fp32") -> Encoder:
        """The encoder with its weights in `precision` ('fp32': the model's own; 'bf16' / 'fp16': a copy
        made once, 3 MB for EDSR-baseline)."""
        if precision == "fp32":
            return self.net.encoder
        with self._encoders_lock:
            enc = self._encoders.get(precision)
            if enc is None:
                enc = copy.deepcopy(self.net.encoder).to(hardware.DTYPES[precision])
                _to_layout(enc, self.layout)
                self._encoders[precision] = enc
        return enc

    def encode_planes(
        self,
        planes: np.ndarray,
        progress: Progress | None = None,
        *,
        precision: str = "fp32",
        check: Callable[[], None] | None = None,
    ) -> torch.Tensor:
        """Float planes (B, 3, H, W) in [0, 1] (numpy) -> latent features (B, C, H, W), float32.

        `progress(done, total)` is called after each encoder tile; raising from it stops the work.
        `precision` is the encoder's ('fp32' exact; 'bf16' / 'fp16' for interactive frames);
        `check()` is called between the encoder's convolutions (raising from it stops the work).
        """
        x = torch.from_numpy(np.ascontiguousarray(planes)).to(self.device)
        x = self.normalization.to_net(x)
        enc = self.encoder_for(precision)
        with torch.inference_mode():
            feat = encode_tiled(
                enc,
                x.to(hardware.DTYPES[precision]),
                tile=ENCODE_TILE,
                memory_format=self.layout,
                progress=progress,
                check=check,
            )
            return feat if feat.dtype == torch.float32 else feat.float()

    def encode(
        self, x, precision: Precision | str | None = None, *, encoder_precision: str = "fp32"
    ) -> ImageField | TiledField:
        """Encode an image once; render it many times with the field.

        An in-memory HxW or HxWxC numpy array is encoded now, whole (an ``ImageField``). Anything
        else (zarr, dask, memmap, a path) gives the lazy ``TiledField`` of ``open``.
        `precision` ('auto', 'fp32', 'bf16', 'fp16') is the field's; None: the model's.
        `encoder_precision` is the encoder's: 'fp32' (exact, the default) or what an interactive face
        uses (see hardware.interactive_encoder_precision).
        """
        if not isinstance(x, np.ndarray) or isinstance(x, np.memmap):
            return self.open(x, precision=precision, encoder_precision=encoder_precision)
        planes, layout = arrays.to_planes(x)
        feat = self.encode_planes(planes, precision=self._encoder_precision(encoder_precision))
        return ImageField(self, feat, layout, planes=planes, precision=precision)

    def _encoder_precision(self, precision: str) -> str:
        return "fp32" if precision == "fp32" else hardware.resolve_precision(precision, self.device)

    def open(
        self,
        x,
        *,
        index: tuple[int, ...] = (),
        channels: bool | None = None,
        value_range=None,
        precision: Precision | str | None = None,
        cache_bytes: int | None = None,
        encoder_precision: str = "fp32",
    ) -> TiledField:
        """A lazy field of any image: array, memmap, zarr, dask array or path (TIFF, zarr, OME-Zarr).

        Nothing is encoded until a render asks; then only the tiles under its window are, and kept
        in a cache of `cache_bytes` (default liif_plugin.engine.tiles.CACHE_BYTES). `index` picks one image
        of a stack (leading axes); `channels` whether the last axis is colour/channels (None: see
        liif_plugin.sources.source); `value_range` (lo, hi) spares the pass that finds it;
        `encoder_precision` as in ``encode``.
        """
        from liif_plugin.engine.tiles import TiledField

        return TiledField(
            self,
            open_source(x, index=index, channels=channels),
            value_range=value_range,
            precision=precision,
            cache_bytes=cache_bytes,
            encoder_precision=encoder_precision,
        )


def half_alias(precision: Precision | str, half: bool) -> Precision | str:
    """`half=True` is the older spelling of precision='fp16'."""
    if not half:
        return precision
    if precision not in ("fp32", "fp16"):
        raise LiifError(
            f"half=True means precision='fp16' but precision={precision!r} was given", "pass only precision"
        )
    return "fp16"
