"""Memory layout of the convolutions (encoder and first-layer map): channels_last or contiguous.

The faster layout depends on the device's convolution kernels, so it is measured, not assumed:
on the CPU it was measured by benchmarks/speed.py (channels_last 1.2-2x faster on an AVX2 AMD EPYC,
and 1.9x on an AVX-512/AMX Xeon), so the table holds it; on any other device (CUDA, MPS) both
layouts are timed on a small input the first time that device encodes, and the faster one is
kept for the process. Both layouts give the same numbers up to float rounding (< 1e-4).
"""

import threading
import time

import torch

LAYOUTS = {"cpu": torch.channels_last}
_LOCK = threading.Lock()


def layout_for(device, probe=None):
    """The memory format for convolutions on `device`; `probe(fmt)` runs one pass for measuring."""
    kind = torch.device(device).type
    if kind not in LAYOUTS:
        if probe is None:
            return torch.contiguous_format
        with _LOCK:
            if kind not in LAYOUTS:
                LAYOUTS[kind] = fastest(probe, device)
    return LAYOUTS[kind]


def fastest(probe, device, repeats=2):
    """The format for which `probe(fmt)` runs fastest (one warm-up, best of `repeats`)."""

    def sync():
        if torch.device(device).type == "cuda":
            torch.cuda.synchronize(device)

    best = {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        probe(fmt)
        sync()
        times = []
        for _ in range(repeats):
            t = time.perf_counter()
            probe(fmt)
            sync()
            times.append(time.perf_counter() - t)
        best[fmt] = min(times)
    return min(best, key=lambda f: best[f])
