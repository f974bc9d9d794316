"""How close the napari widget's estimates are: memory and time estimated, then measured, side by side.

    .venv/bin/python benchmarks/napari_estimate.py            # released model
    .venv/bin/python benchmarks/napari_estimate.py --quick    # smaller cases

Each row: a layer resampled with ``napari_plugin.resample_layer`` (what the widget runs), after
``napari_plugin._resample.estimate`` at this machine's measured speed (liif_plugin.runtime.speed, measured
first if it is not stored). Memory: the peak growth of this process's resident memory during the run,
sampled every 2 ms after handing freed memory back to the system (malloc_trim). Time: wall clock.
"""

import argparse
import ctypes
import gc
import os
import threading
import time

import numpy as np
from napari.layers import Image
from skimage import data

import liif_plugin as liif
from liif_plugin.runtime import hardware
from liif_plugin.runtime import speed as speeds
from napari_plugin import resample_layer
from napari_plugin._resample import estimate

PAGE = os.sysconf("SC_PAGE_SIZE")


def rss():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def measured(fn):
    """(peak RSS growth in bytes, seconds) of fn()."""
    gc.collect()
    ctypes.CDLL("libc.so.6").malloc_trim(0)
    base = peak = rss()
    running = True

    def sample():
        nonlocal peak
        while running:
            peak = max(peak, rss())
            time.sleep(0.002)

    t = threading.Thread(target=sample, daemon=True)
    t.start()
    t0 = time.perf_counter()
    fn()
    took = time.perf_counter() - t0
    running = False
    t.join()
    return peak - base, took


def cases(quick):
    cam = data.camera()
    n = 64 if quick else 128
    return [
        ("gray uint8 x3", Image(cam[:n, :n]), 3.0),
        ("RGB uint8 x2", Image(data.astronaut()[:n, :n], rgb=True), 2.0),
        ("stack 2 x uint16 x2", Image(np.stack([cam[:n, :n], cam[n : 2 * n, :n]]).astype(np.uint16) * 200), 2.0),
        ("gray uint16 x1 (encode-heavy)", Image(cam[: 2 * n, : 2 * n].astype(np.uint16)), 1.0),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    args = ap.parse_args()
    model = liif.load_model("edsr-baseline", device="cpu")
    speed = speeds.speed(model, "fp32")
    print(f"CPU: {hardware.cpu().summary()}")
    print(
        f"measured speed: encode {speed.encode_call_s:.2f} s per call + {speed.encode_px_per_s:,.0f} input px/s, "
        f"decode {speed.decode_px_per_s:,.0f} "
        "output px/s (fp32)\n"
    )
    resample_layer(Image(data.camera()[:16, :16]), scale=2, model=model)  # warm-up: thread pools, kernels
    print("| case | output | memory est. | memory used | est./used | time est. | time taken | est./taken |")
    print("|---|---|---|---|---|---|---|---|")
    for name, layer, scale in cases(args.quick):
        wk = estimate(layer, scale=scale, model=model, speed=speed)
        used, took = measured(lambda: resample_layer(layer, scale=scale, model=model))
        secs = wk.seconds(speed)
        print(
            f"| {name} | {wk.output_bytes / 1e6:.1f} MB | {wk.total_bytes / 1e6:.0f} MB | {used / 1e6:.0f} MB | "
            f"{wk.total_bytes / max(used, 1):.2f} | {secs:.1f} s | {took:.1f} s | {secs / took:.2f} |"
        )


if __name__ == "__main__":
    main()
