"""This machine's measured render speed, per device, precision and architecture: the basis of time estimates.

Speed depends on the processor, the precision and the model's size, so no constant can stand for
it (the same render takes 8 s on one 2-core machine and 13 s on another). The first time a
(device, precision, architecture) is asked for, ``speed`` measures a small encode and render (about
a second with the released model on 2 CPU cores) and stores the rates in ``speed.json`` in the
weights cache (``liif_plugin.hub.cache.cache_dir``); later calls read them.

The rates are kept per architecture (encoder and parameter count), not per weights file: two
models of one architecture (the released model and one fine-tuned from it) compute the same
operations, so a measurement of either serves both, and the entry records which weights were
timed. The key also holds what makes a measurement stale: the processor (or GPU), the threads
torch uses and torch's version; a change in any of them is measured anew.

``calibrate_in_background`` measures on a thread of its own (once per key), so a face can show a
rough estimate at once and a calibrated one a second later, before the user starts anything.
``observe`` moves the stored rates part of the way towards what a finished render took, so the
estimates follow a machine that has become busier or quieter since it was measured.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
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
# sizes; small enough that the whole measurement takes a second or two on an idle 2-core CPU (3-5 s
# on a busy one).
ENCODE_SIZES = (32, 96)  # input pixels per side of the two timed encodes
ENCODE_REPEATS = (2, 1)  # the small one is timed twice (its fastest counts): it is short and noise swamps it
DECODE_SIZE = 128  # output pixels per side of the timed decode
# Rows of one timed band: 4096 output pixels, the band a render starts with (cost.FIRST_BAND). Small
# bands decode slower per pixel (a bf16 decoder in 768-pixel bands ran at a third of its speed in
# 4096-pixel ones on an AVX512-BF16 CPU), so the timed bands are the size renders use.
DECODE_BAND_ROWS = 32
DECODE_SECONDS = 0.5  # the timed decode stops after this long (whole bands, at least three: the median counts)


@dataclass(frozen=True)
class Speed:
    """Pixels per second of one 3-channel plane."""

    encode_px_per_s: float  # input pixels through the encoder (and the MLP's first-layer map)
    decode_px_per_s: float  # output pixels decoded
    encode_call_s: float = 0.0  # fixed seconds of each encode call

    def seconds(self, encode_px: float, decode_px: float, encode_calls: int = 0) -> float:
        return encode_calls * self.encode_call_s + encode_px / self.encode_px_per_s + decode_px / self.decode_px_per_s


def arch_id(model) -> str:
    """What a loaded model's speed depends on: its encoder and parameter count (e.g. 'edsr-baseline/1567323')."""
    n = getattr(model, "_liif_parameters", None)
    if n is None:
        n = sum(int(p.numel()) for p in model.net.parameters())
        try:
            model._liif_parameters = n
        except AttributeError:
            pass
    return f"{model.encoder_name}/{n}"


def arch_id_of(name: str) -> str | None:
    """arch_id of a registry model not loaded yet (from its entry), or None when the registry does not say."""
    from liif_plugin.hub import cache

    e = cache.registry().get(name)
    if e is None or e.parameters is None:
        return None
    return f"{e.encoder}/{e.parameters}"


def key(model, precision: str) -> str:
    """What the rates depend on: the device (and which processor), threads, precision, architecture, torch."""
    return key_for(model.device, precision, arch_id(model))


def key_for(device, precision: str, arch: str) -> str:
    dev = torch.device(device)
    if dev.type == "cpu":
        where = f"{hardware.cpu().name}, {torch.get_num_threads()} threads"
    elif dev.type == "cuda":
        where = torch.cuda.get_device_name(dev)  # another GPU in the same slot is measured anew
    else:
        where = str(dev)
    return f"{dev.type}|{where}|{precision}|{arch}|torch {torch.__version__}"


def _path():
    return cache.cache_dir() / STORE


def _load() -> dict:
    try:
        raw = json.loads(_path().read_text())
    except (OSError, ValueError):
        return {}
    return raw if isinstance(raw, dict) else {}


def stored(model, precision: str | None = None) -> Speed | None:
    """The rates measured earlier for this model's architecture, device and precision, or None."""
    return _speed_at(key(model, precision or model.precision))


def stored_for(device, precision: str, name: str) -> Speed | None:
    """``stored`` for a registry model not loaded yet, by its name (its entry gives the architecture)."""
    arch = arch_id_of(name)
    return None if arch is None else _speed_at(key_for(device, precision, arch))


def _speed_at(k):
    raw = _load().get(k)
    if not isinstance(raw, dict):
        return None
    try:
        return Speed(float(raw["encode_px_per_s"]), float(raw["decode_px_per_s"]), float(raw["encode_call_s"]))
    except (TypeError, KeyError, ValueError):
        return None


def measure(model, precision: str | None = None) -> Speed:
    """Time two small encodes and a small render on this machine (after one untimed warm-up)."""
    precision = precision or model.precision
    rng = np.random.default_rng(0)
    # detail=1.0: these fields hold no input to blend with; what is timed is the network.
    warm = ImageField(
        model, model.encode_planes(rng.random((1, 3, 24, 24), dtype=np.float32)), None, precision=precision, detail=1.0
    )
    warm.render_planes((24, 24))  # first calls set up thread pools and kernels; not what a render costs
    times, field = [], None
    for n, repeats in zip(ENCODE_SIZES, ENCODE_REPEATS):
        best = None
        for _ in range(repeats):  # the fastest of a few: a busy machine only ever adds delays
            planes = rng.random((1, 3, n, n), dtype=np.float32)
            t0 = time.perf_counter()
            field = ImageField(model, model.encode_planes(planes), None, precision=precision, detail=1.0)
            field.render_planes((4, 4))  # builds the first-layer map: per latent code, so part of encoding
            _sync(model)
            took = time.perf_counter() - t0
            best = took if best is None else min(best, took)
        times.append(best)
    assert field is not None  # (ENCODE_SIZES is not empty)
    # Decode bands of rows until DECODE_SECONDS have passed: a precision this processor only
    # emulates (bf16 without AVX512-BF16) decodes 30x slower, and its measurement must stay short.
    t1 = time.perf_counter()
    rows, band, rates = 0, DECODE_BAND_ROWS, []
    while rows < DECODE_SIZE and (len(rates) < 3 or time.perf_counter() - t1 < DECODE_SECONDS):
        t = time.perf_counter()
        field.render_planes((DECODE_SIZE, DECODE_SIZE), rows=(rows, min(rows + band, DECODE_SIZE)))
        _sync(model)
        rates.append((min(rows + band, DECODE_SIZE) - rows) * DECODE_SIZE / max(time.perf_counter() - t, 1e-6))
        rows = min(rows + band, DECODE_SIZE)
    (n0, n1), (s0, s1) = ENCODE_SIZES, times
    # The fixed cost of a call: what the small encode takes beyond its pixels at the large one's rate,
    # at most half the small encode (two noisy timings otherwise give a slope far off, and a call cost
    # of seconds); the rate per pixel is then the large encode's, less that call.
    per_px = max((s1 - s0) / (n1 * n1 - n0 * n0), 1e-9)
    call = min(max(s0 - per_px * n0 * n0, 0.0), 0.5 * s0)
    per_px = max((s1 - call) / (n1 * n1), 1e-9)
    return Speed(1.0 / per_px, float(np.median(rates)), call)  # the median band: a burst of load counts less


def _sync(model):
    if torch.device(model.device).type == "cuda":
        torch.cuda.synchronize(model.device)


def speed(model, precision: str | None = None, remeasure: bool = False) -> Speed:
    """The stored rates, measured and stored first when there are none (or when remeasure)."""
    precision = precision or model.precision
    found = None if remeasure else stored(model, precision)
    if found is not None:
        return found
    with _measuring:  # one measurement at a time: two at once would each time the other's load
        found = None if remeasure else stored(model, precision)
        if found is not None:
            return found
        found = measure(model, precision)
        table = _load()
        table[key(model, precision)] = dict(asdict(found), measured_with=f"{model.name} {(model.sha256 or '')[:16]}")
        try:
            write_atomic(_path(), json.dumps(table, indent=1).encode())
        except OSError:
            pass  # a read-only cache: measure again next time rather than fail a render
    return found


# A finished render that took `r` times its estimate moves the stored rates by r ** LEARN_WEIGHT (half
# of the way, in ratio terms): a machine that is busier (or quieter) than when it was measured gets
# estimates that follow within a few runs, while one odd run moves them only part of the way.
LEARN_WEIGHT = 0.5
LEARN_MIN_SECONDS = 2.0  # shorter renders are too noisy to learn from
LEARN_RATIO = (0.25, 4.0)  # a ratio outside this is something else (a paused process, a swap storm)


def observe(model, precision: str, estimated_s: float, took_s: float) -> Speed | None:
    """Move the stored rates towards what a finished render took (`took_s` against `estimated_s` at
    the stored rates); returns the new rates, or None when nothing was learnt."""
    precision = precision or model.precision
    old = stored(model, precision)
    if old is None or estimated_s < LEARN_MIN_SECONDS or took_s <= 0:
        return None
    ratio = took_s / estimated_s
    if not LEARN_RATIO[0] <= ratio <= LEARN_RATIO[1]:
        return None
    f = ratio**LEARN_WEIGHT
    new = Speed(old.encode_px_per_s / f, old.decode_px_per_s / f, old.encode_call_s * f)
    with _measuring:
        table = _load()
        entry = table.get(key(model, precision), {})
        table[key(model, precision)] = dict(entry, **asdict(new), runs_learnt=int(entry.get("runs_learnt", 0)) + 1)
        try:
            write_atomic(_path(), json.dumps(table, indent=1).encode())
        except OSError:
            return None
    return new


_measuring = threading.Lock()
_background: dict[str, threading.Thread] = {}


def calibrate_in_background(model, precision: str | None = None, done: Callable[[], None] | None = None):
    """Measure this machine's speed for `model` at `precision` on a daemon thread, unless it is stored
    (or being measured); `done()` is called on that thread afterwards. Returns the thread, or None
    when the rates are stored already."""
    precision = precision or model.precision
    if stored(model, precision) is not None:
        return None
    k = key(model, precision)

    def run():
        try:
            speed(model, precision)
        finally:
            _background.pop(k, None)
            if done is not None:
                done()

    thread = _background.get(k)
    if thread is None or not thread.is_alive():
        thread = _background[k] = threading.Thread(target=run, name="liif-calibrate", daemon=True)
        thread.start()
    return thread
