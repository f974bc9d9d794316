"""This machine's measured render speed, per device, precision and model: the basis of time estimates.

Speed depends on the processor, the precision and the model's size, so no constant can stand for
it (the same render takes 8 s on one 2-core machine and 13 s on another). The first time a
(device, precision, model) is asked for, ``speed`` measures a small encode and render (about a
second with the released model on 2 CPU cores) and stores the rates in ``speed.json`` in the
weights cache (``liif_plugin.hub.cache.cache_dir``); later calls read them.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass

import numpy as np
import torch

from liif_plugin.engine.field import ImageField
from liif_plugin.hub import cache
from liif_plugin.hub.wheels import write_atomic
from liif_plugin.runtime import hardware

STORE = "speed.json"
# Measured sizes. An encode has a fixed cost per call besides its cost per pixel (per-layer set-up and
# thread hand-offs: about 2 s of a 64 x 64 encode on a busy 2-core machine), so it is timed at two
# sizes; small enough that the whole measurement takes about a second on an idle 2-core CPU.
ENCODE_SIZES = (32, 96)  # input pixels per side of the two timed encodes
DECODE_SIZE = 96  # output pixels per side of the timed decode
DECODE_SECONDS = 0.5  # the timed decode stops after this long (whole bands of 8 rows)


@dataclass(frozen=True)
class Speed:
    """Pixels per second of one 3-channel plane."""

    encode_px_per_s: float  # input pixels through the encoder (and the MLP's first-layer map)
    decode_px_per_s: float  # output pixels decoded
    encode_call_s: float = 0.0  # fixed seconds of each encode call

    def seconds(self, encode_px: float, decode_px: float, encode_calls: int = 0) -> float:
        return encode_calls * self.encode_call_s + encode_px / self.encode_px_per_s + decode_px / self.decode_px_per_s


def key(model, precision: str) -> str:
    """What the rates depend on: the device (and which processor), the precision, the weights, torch."""
    return key_for(model.device, precision, model.name, model.sha256)


def key_for(device, precision: str, name: str, sha256: str | None) -> str:
    dev = torch.device(device)
    where = hardware.cpu().name if dev.type == "cpu" else str(dev)
    return f"{dev.type}|{where}|{precision}|{name}|{(sha256 or '')[:16]}|torch {torch.__version__}"


def _path():
    return cache.cache_dir() / STORE


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
        return Speed(float(raw["encode_px_per_s"]), float(raw["decode_px_per_s"]), float(raw["encode_call_s"]))
    except (TypeError, KeyError, ValueError):
        return None


def measure(model, precision: str | None = None) -> Speed:
    """Time two small encodes and a small render on this machine (after one untimed warm-up)."""
    precision = precision or model.precision
    rng = np.random.default_rng(0)
    warm = ImageField(
        model, model.encode_planes(rng.random((1, 3, 24, 24), dtype=np.float32)), None, precision=precision
    )
    warm.render_planes((24, 24))  # first calls set up thread pools and kernels; not what a render costs
    times, field = [], None
    for n in ENCODE_SIZES:
        planes = rng.random((1, 3, n, n), dtype=np.float32)
        t0 = time.perf_counter()
        field = ImageField(model, model.encode_planes(planes), None, precision=precision)
        field.render_planes((4, 4))  # builds the first-layer map: per latent code, so part of encoding
        _sync(model)
        times.append(time.perf_counter() - t0)
    # Decode bands of rows until DECODE_SECONDS have passed: a precision this processor only
    # emulates (bf16 without AVX512-BF16) decodes 30x slower, and its measurement must stay short.
    t1 = time.perf_counter()
    rows, band = 0, 8
    while rows < DECODE_SIZE and (rows == 0 or time.perf_counter() - t1 < DECODE_SECONDS):
        field.render_planes((DECODE_SIZE, DECODE_SIZE), rows=(rows, min(rows + band, DECODE_SIZE)))
        _sync(model)
        rows = min(rows + band, DECODE_SIZE)
    t2 = time.perf_counter()
    (n0, n1), (s0, s1) = ENCODE_SIZES, times
    per_px = max((s1 - s0) / (n1 * n1 - n0 * n0), 1e-9)  # the slope; the rest of a call is fixed
    call = min(max(s0 - per_px * n0 * n0, 0.0), s0)
    return Speed(1.0 / per_px, rows * DECODE_SIZE / max(t2 - t1, 1e-6), call)


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
