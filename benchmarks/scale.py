"""Does the ZoomWidget's cost depend on the view, not the image? (prints a table)

    python benchmarks/scale.py [--sizes 1024,4096,20000] [--canvas 512] [--dir DIR] [--keep]

For each size N the benchmark writes an N x N uint16 image to disk (a mosaic of rotated
scikit-image `camera` tiles, 12-bit range) as OME-Zarr with area-averaged levels x2 ... down to
<= 512 px, the way microscopy pyramids arrive, and as a plain zarr array (no levels). Then, each
case in a fresh process (so peak memory is its own), as the widget does it, with the released
model at the widget's default precision ('auto'), for a `--canvas` square canvas:

- first frame: ZoomWidget(path) until the first overview pixels are ready: the file's own levels,
  or (no levels) the first rows of the one pass over the image, which the widget shows while it
  reads the rest; whole overview: until the overview of the whole image is ready;
- range: the one streaming pass that finds the exact value range LIIF needs (OME-Zarr: read of
  level 0 only; plain zarr: the same pass also builds the overview, so `open` includes it);
- then, for each zoom factor (`--zoom`, default x4), five zooms to random places: bicubic window,
  reduced LIIF (the widget's 16 k-pixel first pass, only where it is finer than the image; it
  includes encoding the tiles under the new window), full LIIF at canvas resolution (counted from
  the zoom, as the user waits), and the first LIIF frame after a pan by a quarter of the window
  (most tiles cached) (medians);
- peak RSS of the process (VmHWM), and how many latent tiles were encoded.

Timings are wall-clock on this machine; name the CPU when quoting them (the header prints it).
"""

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TILE = 500


def make_image(path: Path, n: int, ome: bool):
    """Write the N x N uint16 mosaic, chunked 256 x 256, with levels when `ome`."""
    import zarr
    from skimage import data

    base = (data.camera().astype(np.uint16) * 16)[:TILE, :TILE]  # 12-bit range
    g = zarr.open_group(str(path), mode="w") if ome else None
    arr = (
        g.create_array("0", shape=(n, n), chunks=(256, 256), dtype=np.uint16)
        if ome
        else zarr.open_array(str(path), mode="w", shape=(n, n), chunks=(256, 256), dtype=np.uint16)
    )
    band = 2048
    level_parts = []
    for y0 in range(0, n, band):
        y1 = min(n, y0 + band)
        rows = np.empty((y1 - y0, n), np.uint16)
        for ty in range(y0 // TILE, -(-y1 // TILE)):
            for tx in range(-(-n // TILE)):
                t = np.rot90(base, (tx + ty) % 4) // (1 + (tx * 7 + ty * 3) % 3) + (tx + ty) % 50 * 20
                ya, yb = max(ty * TILE, y0), min((ty + 1) * TILE, y1)
                xa, xb = tx * TILE, min((tx + 1) * TILE, n)
                rows[ya - y0 : yb - y0, xa:xb] = t[ya - ty * TILE : yb - ty * TILE, : xb - xa]
        arr[y0:y1] = rows
        level_parts.append(rows)
        if not ome:
            level_parts.clear()
    if not ome:
        return
    level, k, datasets = (
        np.concatenate(level_parts),
        0,
        [{"path": "0", "coordinateTransformations": [{"type": "scale", "scale": [1.0, 1.0]}]}],
    )
    del level_parts
    while max(level.shape) > 512:
        h, w = level.shape[0] // 2 * 2, level.shape[1] // 2 * 2
        level = level[:h, :w].reshape(h // 2, 2, w // 2, 2).mean(axis=(1, 3)).astype(np.uint16)
        k += 1
        g.create_array(str(k), data=level, chunks=(256, 256))
        datasets.append({"path": str(k), "coordinateTransformations": [{"type": "scale", "scale": [2.0**k] * 2}]})
    g.attrs["multiscales"] = [
        {
            "version": "0.4",
            "axes": [{"name": "y", "type": "space"}, {"name": "x", "type": "space"}],
            "datasets": datasets,
        }
    ]


def one_case(path: str, canvas: int, zooms: int, seed: int, zoom_factors=(4.0,)) -> dict:
    """Run in a fresh process: open, range pass, zooms. Returns the measurements."""
    import liif_plugin as liif
    from liif_plugin.notebook import ZoomWidget
    from liif_plugin.notebook.view import fit_viewport, visible_part
    from liif_plugin.notebook.widget import reduced_shape

    model = liif.load_model(device="cpu", precision="auto")
    t0 = time.perf_counter()
    w = ZoomWidget(path, model=model, height=canvas, canvas_shape=[canvas, canvas])
    H, W = w.image_shape
    whole = fit_viewport([0, 0, H, W], w.canvas_shape, (H, W))
    first = []

    def on_rows(rows):  # the widget shows the rows read so far (an image without levels)
        if not first:
            w._overview.planes_so_far(*visible_part(whole, w.canvas_shape, (rows, W)))
            first.append(time.perf_counter() - t0)

    ov = w._ready_overview(exact=False, on_rows=on_rows)
    region, shape = visible_part(whole, w.canvas_shape, (H, W))
    ov.planes(region, shape)
    t_open = time.perf_counter() - t0
    t_first = first[0] if first else t_open
    t0 = time.perf_counter()
    w._ready_overview()
    t_range = time.perf_counter() - t0
    rng = np.random.default_rng(seed)
    by_zoom = {}
    for zoom in zoom_factors:
        times = {"bicubic": [], "reduced LIIF": [], "full LIIF": [], "pan LIIF": []}
        win = canvas / zoom
        for _ in range(zooms):
            y, x = rng.uniform(0, H - win), rng.uniform(0, W - win)
            # The widget's own steps, timed one by one (setting w.viewport would also start its
            # background render, which would run beside the timed calls).
            region, shape = visible_part([y, x, y + win, x + win], w.canvas_shape, w.image_shape)
            t0 = time.perf_counter()
            ov.planes(region, shape)
            times["bicubic"].append(time.perf_counter() - t0)
            small = reduced_shape(shape, region)
            t0 = time.perf_counter()
            if small is not None:  # the first LIIF frame: reduced, or (zoom < 4) the full one
                w.field.prefetch(region)
                w.field.render_planes(small, region)
                times["reduced LIIF"].append(time.perf_counter() - t0)
            w.field.render_planes(shape, region)
            times["full LIIF"].append(time.perf_counter() - t0)  # from the zoom, as the user waits
            dy = min(win / 4, H - win - y)  # a pan by a quarter of the window: most tiles are cached
            region, shape = visible_part([y + dy, x, y + dy + win, x + win], w.canvas_shape, w.image_shape)
            small = reduced_shape(shape, region) or shape
            t0 = time.perf_counter()
            w.field.prefetch(region)
            w.field.render_planes(small, region)
            times["pan LIIF"].append(time.perf_counter() - t0)
        by_zoom[zoom] = {k: float(np.median(v)) if v else None for k, v in times.items()}
    out = {
        "first": t_first,
        "open": t_open,
        "range": t_range,
        "zooms": by_zoom,
        "peak_rss_mb": peak_rss_mb(),
        "tiles": w.field.tiles_encoded,
        "precision": w.precision,
    }
    w.close()
    return out


def peak_rss_mb() -> float:
    """This process's peak RSS. VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child
    started by a parent that had just written a 20k image (2 GB) would report the parent's peak."""
    try:
        for line in open("/proc/self/status"):
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--sizes", default="1024,4096,20000")
    p.add_argument("--canvas", type=int, default=512)
    p.add_argument("--zooms", type=int, default=5, help="random places per zoom factor")
    p.add_argument("--zoom", default="4", help="zoom factors (screen pixels per image pixel), e.g. 1.5,2,4,8")
    p.add_argument("--dir", help="where the images are written (default: a temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the images")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    factors = [float(v) for v in args.zoom.split(",")]
    if args.one:
        print(json.dumps(one_case(args.one, args.canvas, args.zooms, seed=0, zoom_factors=factors)))
        return
    import torch

    folder = Path(args.dir or tempfile.mkdtemp(prefix="liif-scale-"))
    folder.mkdir(parents=True, exist_ok=True)
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__}; canvas {args.canvas}^2, "
        f"{args.zooms} zooms to random places per zoom factor (medians); full LIIF counts from the zoom; "
        f"a pan re-renders the first LIIF frame"
    )
    head = [
        "image",
        "layout",
        "write s",
        "first frame s",
        "whole overview s",
        "range s",
        "zoom",
        "bicubic s",
        "reduced LIIF s",
        "full LIIF s",
        "pan: first LIIF s",
        "peak RSS MB",
        "tiles",
    ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    try:
        for n in (int(v) for v in args.sizes.split(",")):
            for ome in (True, False):
                path = folder / f"img{n}{'.ome' if ome else ''}.zarr"
                t0 = time.perf_counter()
                if not path.exists():
                    make_image(path, n, ome)
                t_write = time.perf_counter() - t0
                res = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        str(path),
                        "--canvas",
                        str(args.canvas),
                        "--zooms",
                        str(args.zooms),
                        "--zoom",
                        args.zoom,
                    ],
                    capture_output=True,
                    text=True,
                )
                if res.returncode != 0:
                    print(
                        f"| {n} x {n} | {'OME-Zarr' if ome else 'zarr'} | "
                        f"failed: {res.stderr.strip().splitlines()[-1]} |"
                    )
                    continue
                r = json.loads(res.stdout.strip().splitlines()[-1])
                for zoom, z in r["zooms"].items():
                    cells = [
                        f"{n} x {n}",
                        "OME-Zarr, levels" if ome else "zarr, no levels",
                        f"{t_write:.1f}",
                        f"{r['first']:.2f}",
                        f"{r['open']:.2f}",
                        f"{r['range']:.2f}",
                        f"x{float(zoom):g}",
                        f"{z['bicubic']:.3f}",
                        "(none)" if z["reduced LIIF"] is None else f"{z['reduced LIIF']:.2f}",
                        f"{z['full LIIF']:.2f}",
                        f"{z['pan LIIF']:.2f}",
                        f"{r['peak_rss_mb']:.0f}",
                        str(r["tiles"]),
                    ]
                    print("| " + " | ".join(cells) + " |", flush=True)
    finally:
        if not args.keep and not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    main()
