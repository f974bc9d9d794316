"""The one model resolution: a registry name, a checkpoint path, a LiifModel or "auto" -> a LiifModel.

Every face and every engine entry point that takes ``model=`` goes through ``get_model``. A name
or path is loaded once per process (and device and precision) and kept; "auto" (or None) with an
image asks ``liif_plugin.quality.choose.choose_model`` which model suits that image and logs the
choice; "auto" without an image is the default model.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from liif_plugin.engine.model import LiifModel
from liif_plugin.errors import LiifError
from liif_plugin.hub import cache
from liif_plugin.models.checkpoint import load_network
from liif_plugin.runtime.hardware import Precision

AUTO = "auto"
log = logging.getLogger("liif_plugin")
_loaded: dict[tuple, LiifModel] = {}
_lock = threading.Lock()


def load_model(
    name_or_path: str | Path | LiifModel | None = None,
    device: str = "auto",
    precision: Precision | str = "fp32",
    half: bool = False,
) -> LiifModel:
    """A registry name (default 'edsr-baseline') or a path to a LIIF checkpoint -> a new LiifModel.

    precision: 'fp32' (exact, the default), 'bf16' (CPU or CUDA), 'fp16' (CUDA) or 'auto' (the
    fastest this hardware runs natively within 2/255 of fp32; see liif_plugin.runtime.hardware).
    `half=True` is an alias of precision='fp16'. For "auto" (a model chosen per image) use
    ``get_model(model, image)`` or ``choose_model(image)``. A registry name renders as its entry's
    ``detail`` says (``LiifModel.detail``); a checkpoint path renders as LIIF (detail 1).
    """
    if isinstance(name_or_path, LiifModel):
        return name_or_path
    name_or_path = cache.DEFAULT_MODEL if name_or_path is None else name_or_path
    text = str(name_or_path)
    if text == AUTO:
        raise LiifError(
            "model 'auto' picks a model for an image",
            "pass the image too: liif_plugin.get_model('auto', image), or name a model "
            "(liif_plugin.list_models() lists them)",
        )
    detail = 1.0  # a checkpoint file renders as LIIF; a registry name as the registry says
    if text in cache.registry() and not Path(text).exists():
        path, name = cache.ensure(text), text
        detail = cache.entry(text).detail
    elif isinstance(name_or_path, Path) or "/" in text or text.endswith((".pth", ".pt")) or Path(text).exists():
        path = Path(text)
        name = path.stem
    else:
        cache.entry(text)  # raises: unknown name, with the known ones
        raise AssertionError("unreachable")
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
        detail=detail,
    )


def _key(model: str | Path, device: str, precision: str) -> tuple:
    p = Path(str(model))
    if p.exists():  # a file: its identity is where it is and what it is now
        st = p.stat()
        return (str(p.resolve()), st.st_size, st.st_mtime_ns, device, precision)
    return (str(model), device, precision)


def get_model(
    model: str | Path | LiifModel | None = None,
    image=None,
    *,
    path: str | Path | None = None,
    device: str = "auto",
    precision: Precision | str = "fp32",
) -> LiifModel:
    """The LiifModel for `model`, loaded once per process and kept.

    model: a LiifModel (returned as it is), a registry name, a checkpoint path, or None / "auto":
    the model ``choose_model`` picks for `image` (any array, Source, zarr or path; `path` is the
    file it came from, whose JPEG tables are the best signal), the default model without one.
    """
    if isinstance(model, LiifModel):
        return model
    if model is None or str(model) == AUTO:
        if image is None and path is None:
            model = cache.DEFAULT_MODEL
        else:
            from liif_plugin.quality.choose import choose_model

            choice = choose_model(image, path=path)
            log.info("model auto: %s (%s)", choice.name, choice.reason)
            model = choice.name
    key = _key(model, str(device), str(precision))
    with _lock:
        m = _loaded.get(key)
    if m is None:
        m = load_model(model, device=device, precision=precision)
        with _lock:
            m = _loaded.setdefault(key, m)
    return m


@dataclass(frozen=True)
class ModelInfo:
    """One row of ``list_models()``: what a model is, what it is for, what it was trained on."""

    name: str
    architecture: str  # the encoder (edsr-baseline | edsr | rdn) + LIIF's MLP
    parameters: int | None
    purpose: str
    trained_on: str
    auto_for: tuple[str, ...]  # the image conditions "auto" gives it
    detail: float  # the share of LIIF's difference from bicubic its renders keep (1: LIIF as it is)
    status: str  # present | missing | custom | corrupt (see liif_plugin.hub.cache.status)
    licence: str


def list_models() -> list[ModelInfo]:
    """Every model liif-plugin knows (the registry and the user's own), like timm's ``list_models``."""
    out = []
    for name, e in cache.registry().items():
        out.append(
            ModelInfo(
                name=name,
                architecture=f"{e.encoder} + LIIF MLP",
                parameters=e.parameters,
                purpose=e.description,
                trained_on=e.trained_on,
                auto_for=e.auto_for,
                detail=e.detail,
                status=cache.status(name),
                licence=e.licence,
            )
        )
    return out
