"""This machine's measured render speed, per device, precision and model: the basis of time estimates.

Speed depends on the processor, the precision and the model's size, so no constant can stand for
it (the same render takes 8 s on one 2-core machine and 13 s on another). The first time a
(device, precision, model) is asked for, ``speed`` measures a small encode and render (about a
second with the released model on 2 CPU cores) and stores the rates in ``speed.json`` in the
weights cache (``liif_plugin.weights.cache_dir``); later calls read them.
"""
from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from . import hardware, weights
from .field import ImageField
from .pypi import write_atomic

STORE = "speed.json"
# Measured sizes: big enough that fixed per-call costs are small, small enough to take about a second.
ENCODE_SIZE = 96  # input pixels per side of the timed encode
DECODE_SIZE = 128  # output pixels per side of the timed decode


@dataclass(frozen=True)
class Speed:
    """Pixels per second of one 3-channel plane."""

    encode_px_per_s: float  # input pixels through the encoder (and the MLP's first-layer map)
    decode_px_per_s: float  # output pixels decoded

    def seconds(self, encode_px: float, decode_px: float) -> float:
        return encode_px / self.encode_px_per_s + decode_px / self.decode_px_per_s


def key(model, precision: str) -> str:
    """What the rates depend on: the device (and which processor), the precision, the weights, torch."""
    return key_for(model.device, precision, model.name, model.sha256)


def key_for(device, precision: str, name: str, sha256: str | None) -> str:
    dev = torch.device(device)
    where = hardware.cpu().name if dev.type == "cpu" else str(dev)
    return f"{dev.type}|{where}|{precision}|{name}|{(sha256 or '')[:16]}|torch {torch.__version__}"


def _path():
    return weights.cache_dir() / STORE


def _load() -> dict:
    try:
        raw = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def stored(model, precision: str | None = None) -> Speed | None:
    """The rates measured earlier for this model, device and precision, or None."""
    return _speed_at(key(model, precision or model.precision))


def stored_for(device, precision: str, name: str, sha256: str | None) -> Speed | None:
    """``stored`` for a model not loaded yet, named by its registry name and weights' sha256."""
    return _speed_at(key_for(device, precision, name, sha256))


def _speed_at(k):
    raw = _load().get(k)
    try:
        return Speed(float(raw["encode_px_per_s"]), float(raw["decode_px_per_s"]))
    except (TypeError, KeyError, ValueError):
        return None


def measure(model, precision: str | None = None) -> Speed:
    """Time a small encode and a small render on this machine (after one untimed warm-up)."""
    precision = precision or model.precision
    rng = np.random.default_rng(0)
    planes = rng.random((1, 3, ENCODE_SIZE, ENCODE_SIZE), dtype=np.float32)
    n = ENCODE_SIZE // 3
    warm = ImageField(model, model.encode_planes(planes[:, :, :n, :n]), None, precision=precision)
    warm.render_planes((n, n))  # first calls set up thread pools and kernels; not what a render costs
    t0 = time.perf_counter()
    field = ImageField(model, model.encode_planes(planes), None, precision=precision)
    field.render_planes((4, 4))  # builds the first-layer map: per latent code, so part of encoding
    t1 = time.perf_counter()
    field.render_planes((DECODE_SIZE, DECODE_SIZE))
    t2 = time.perf_counter()
    _sync(model)
    return Speed(ENCODE_SIZE ** 2 / max(t1 - t0, 1e-6), DECODE_SIZE ** 2 / max(t2 - t1, 1e-6))


def _sync(model):
    if torch.device(model.device).type == "cuda":
        torch.cuda.synchronize(model.device)


def speed(model, precision: str | None = None, remeasure: bool = False) -> Speed:
    """The stored rates, measured and stored first when there are none (or when remeasure)."""
    precision = precision or model.precision
    found = None if remeasure else stored(model, precision)
    if found is not None:
        return found
    found = measure(model, precision)
    table = _load()
    table[key(model, precision)] = asdict(found)
    try:
        write_atomic(_path(), json.dumps(table, indent=1).encode())
    except OSError:
        pass  # a read-only cache: measure again next time rather than fail a render
    return found
