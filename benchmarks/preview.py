"""Does a napari Preview cost what the view costs? (prints a table)

    .venv/bin/python benchmarks/preview.py [--size 4096] [--repeats 3]

A `--size` square uint16 layer (a mosaic of scikit-image's `camera`), and a view of 581 x 442 screen
pixels over a window of it at x2.7 (the case the issue measured at 18.8 s when a Preview encoded whole
512-pixel blocks). Side by side in one run, medians of `--repeats`: the Preview's render
(`napari_plugin.resample_layer` with the view's region and shape, what the Preview button runs) and the
engine's `liif_plugin.upscale` of the same window; then the same view on a 512 x 512 layer, to show that
the Preview's time follows the view, not the layer. Released model, fp32.
"""

import argparse
import time

import numpy as np
from napari.layers import Image
from skimage import data

import liif_plugin as liif
from napari_plugin import resample_layer


def cpu_name():
    for line in open("/proc/cpuinfo"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return "unknown CPU"


def median_time(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    model = liif.load_model(device="cpu")
    tile = data.camera().astype(np.uint16) * 16
    big = np.tile(tile, (-(-args.size // 512), -(-args.size // 512)))[: args.size, : args.size]
    shape = (442, 581)
    h, w = shape[0] / 2.7, shape[1] / 2.7
    print(f"# {cpu_name()}; released model, fp32; view {shape[1]} x {shape[0]} px at x2.7; medians of {args.repeats}")
    print(
        "| layer | Preview (resample_layer of the view) s | liif.upscale of the same window s | ratio |\n"
        "|---|---|---|---|"
    )
    for n, x in ((args.size, big), (512, big[:512, :512])):
        y0, x0 = n / 2 - h / 2, n / 2 - w / 2
        region = (y0, x0, y0 + h, x0 + w)
        layer = Image(x)
        a = median_time(lambda: resample_layer(layer, shape=shape, region=region, model=model), args.repeats)
        b = median_time(lambda: liif.upscale(x, shape=shape, region=region, model=model), args.repeats)
        print(f"| {n} x {n} uint16 | {a:.2f} | {b:.2f} | {a / b:.2f} |", flush=True)


if __name__ == "__main__":
    main()
