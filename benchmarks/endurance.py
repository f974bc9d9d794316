"""Does the ZoomWidget's memory stay bounded over an hour of zooming? (prints a table)

    python benchmarks/endurance.py [--minutes 60] [--size 20000] [--layout ome|zarr] [--dir DIR]

Writes an N x N uint16 image (benchmarks/scale.py's mosaic; OME-Zarr with levels by default),
then, in a fresh process (so the peak is the widget's own), opens a ZoomWidget on it with the
released model and plays a user for `--minutes`: zooms to random places at x1 .. x64 (log-uniform),
drags (pans in small steps), now and then the whole image. Each view is set through the widget's
`viewport` trait, so its real background pipeline runs (bicubic, reduced LIIF, full LIIF, PNG
encoding); after a view the user either waits for the render or moves on after a short look
(0.05 .. 1.5 s), which interrupts it, half and half. A sampler thread reads VmRSS every
`--sample` seconds. Every `--every` minutes a row: views set, renders finished / dropped, latent
tiles encoded, tile cache bytes, RSS now, peak RSS (the larger of the sampled VmRSS peak and
VmHWM and ru_maxrss). The verdict compares the peak with --limit-mb (1.5 GB).

Timings depend on the machine; the header names its CPU and the torch threads used.
"""

import argparse
import math
import os
import random
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import cpu_name, make_image  # noqa: E402  (the same generated image as the scale table)

LOOK_S = (0.05, 1.5)  # how long an impatient user looks at a view before the next one
DRAG_STEPS = (3, 12)  # camera updates in one drag
DRAG_STEP_S = 0.03  # between two updates of a drag (a browser sends about this often)


def status_mb(key: str) -> float:
    """A memory line of /proc/self/status, in MB (VmRSS: resident now; VmHWM: its peak)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    return status_mb("VmRSS")


def maxrss_mb() -> float:
    """ru_maxrss. Linux carries it across exec from the forking parent, which is why the parent
    here stays small: the image is written by a process of its own."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class Sampler(threading.Thread):
    """Reads VmRSS every `period` seconds and keeps the highest value seen."""

    def __init__(self, period: float):
        super().__init__(daemon=True, name="rss-sampler")
        self.period, self.peak, self.now = period, 0.0, 0.0
        self._stop = threading.Event()

    def run(self):
        while not self._stop.is_set():
            self.now = rss_mb()
            self.peak = max(self.peak, self.now)
            self._stop.wait(self.period)

    def stop(self):
        self._stop.set()


def random_view(rng: random.Random, canvas, image_shape, zoom_range):
    """A window at a random place, at a log-uniform zoom (device pixels per image pixel)."""
    ch, cw = canvas
    H, W = image_shape
    z = math.exp(rng.uniform(math.log(zoom_range[0]), math.log(zoom_range[1])))
    vh, vw = ch / z, cw / z
    y, x = rng.uniform(0, max(0.0, H - vh)), rng.uniform(0, max(0.0, W - vw))
    return [y, x, y + vh, x + vw]


def drag(rng: random.Random, w):
    """A drag: the window moves by up to one window size, in a few small camera updates."""
    y0, x0, y1, x1 = w.viewport
    dy, dx = rng.uniform(-1, 1) * (y1 - y0), rng.uniform(-1, 1) * (x1 - x0)
    n = rng.randint(*DRAG_STEPS)
    for _ in range(n):
        y0, x0, y1, x1 = w.viewport
        w.viewport = [y0 + dy / n, x0 + dx / n, y1 + dy / n, x1 + dx / n]
        time.sleep(DRAG_STEP_S)
    return n


def run(path: str, minutes: float, every: float, sample_s: float, limit_mb: float, seed: int, canvas):
    import torch

    import liif_plugin as liif
    from liif_plugin.notebook import ZoomWidget

    sampler = Sampler(sample_s)
    sampler.start()
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} with {torch.get_num_threads()} "
        f"threads; canvas {canvas[0]} x {canvas[1]}; {minutes:g} minutes; image {path}",
        flush=True,
    )
    model = liif.load_model(device="cpu", precision="auto")
    w = ZoomWidget(path, model=model, height=canvas[0], canvas_shape=list(canvas))
    H, W = w.image_shape
    print(
        f"# image {H} x {W}, precision {w.precision}, tile cache bound {w.field.cache_bytes >> 20} MB, "
        f"RSS after open {rss_mb():.0f} MB",
        flush=True,
    )
    head = [
        "minute",
        "views",
        "renders done",
        "dropped",
        "errors",
        "tiles encoded",
        "cache MB",
        "RSS now MB",
        "peak RSS MB",
    ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head), flush=True)
    rng = random.Random(seed)
    views, waited, t_start = 0, 0, time.monotonic()
    next_row = every * 60

    def row(t):
        s = w.stats
        peak = max(sampler.peak, status_mb("VmHWM"), maxrss_mb())
        cells = [
            f"{t / 60:.1f}",
            str(views),
            str(s["done"]),
            str(s["dropped"]),
            str(len(s["errors"])),
            str(w.field.tiles_encoded),
            f"{w.field.cached_bytes / 2**20:.0f}",
            f"{rss_mb():.0f}",
            f"{peak:.0f}",
        ]
        print("| " + " | ".join(cells) + " |", flush=True)
        return peak

    while time.monotonic() - t_start < minutes * 60:
        r = rng.random()
        if r < 0.1:
            w.reset()  # the whole image: the overview
            views += 1
        elif r < 0.4:
            views += drag(rng, w)
        else:
            w.viewport = random_view(rng, canvas, (H, W), (1.0, 64.0))
            views += 1
        if rng.random() < 0.5:
            w.wait(timeout=300)
            waited += 1
        else:
            time.sleep(rng.uniform(*LOOK_S))
        now = time.monotonic() - t_start
        if next_row <= now < minutes * 60:  # the last row comes after the loop
            row(now)
            while next_row <= now:  # a long wait may have passed several row times: one row
                next_row += every * 60
    w.wait(timeout=300)  # the render in progress counts too
    peak = row(time.monotonic() - t_start)
    errors = w.stats["errors"]
    w.close()
    sampler.stop()
    print(f"# waited for {waited} renders, interrupted the others; errors: {errors[:3] if errors else 'none'}")
    verdict = "PASS" if peak <= limit_mb else "FAIL"
    print(f"# verdict: peak RSS {peak:.0f} MB vs {limit_mb:.0f} MB limit: {verdict}", flush=True)
    return 0 if peak <= limit_mb else 1


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--minutes", type=float, default=60.0)
    p.add_argument("--every", type=float, default=5.0, help="minutes between table rows")
    p.add_argument("--sample", type=float, default=2.0, help="seconds between RSS samples")
    p.add_argument("--size", type=int, default=20000)
    p.add_argument(
        "--layout",
        choices=("ome", "zarr"),
        default="ome",
        help="OME-Zarr with levels, or a plain zarr array (the widget builds its own overview)",
    )
    p.add_argument("--canvas", default="512,768", help="canvas height,width in device pixels")
    p.add_argument("--limit-mb", type=float, default=1536.0)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--dir", help="where the image is written and kept (default: a temporary folder, removed)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    p.add_argument("--write", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    canvas = tuple(int(v) for v in args.canvas.split(","))
    if args.write:
        return make_image(Path(args.write), args.size, args.layout == "ome")
    if args.one:
        return run(args.one, args.minutes, args.every, args.sample, args.limit_mb, args.seed, canvas)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="liif-endurance-"))
    folder.mkdir(parents=True, exist_ok=True)
    ome = args.layout == "ome"
    path = folder / f"img{args.size}{'.ome' if ome else ''}.zarr"
    try:
        if not path.exists():
            t0 = time.perf_counter()
            # In a process of its own: the measurement's peak must not inherit the writer's.
            subprocess.check_call([sys.executable, __file__, "--write", str(path), *(argv or sys.argv[1:])])
            print(f"# wrote {path} in {time.perf_counter() - t0:.0f} s", flush=True)
        return subprocess.call([sys.executable, __file__, "--one", str(path), *(argv or sys.argv[1:])])
    finally:
        if not args.dir:
            shutil.rmtree(folder, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
