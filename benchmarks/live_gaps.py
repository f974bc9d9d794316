"""Does napari stay responsive while the live LIIF view renders? (prints a table)

    python benchmarks/live_gaps.py [--size 4096] [--planes 3] [--canvas 640,480] [--rounds 2]

Opens a real napari viewer (under Xvfb, started here when DISPLAY is unset) with a lazy
(planes, N, N) uint16 dask layer over a zarr written to a temporary folder (benchmarks/scale.py's
mosaic), and the released LIIF model. A QTimer on the main thread ticks every TICK_MS and records
the gaps between its ticks: a gap is how long the viewer could not answer the user. The same
scripted camera sequence (zoom in past 1:1 at several places, a slow drag, a fast drag, pans
slower than the debounce so renders start and are cancelled, dims-slider changes, zoom out) runs
twice, side by side:

- live on: LiveView follows the camera; each step holds until the render is in (at least its
  minimum hold), and the holds are recorded;
- live off (baseline): the same steps with the same holds, napari alone.

A first unmeasured pass touches every plane, so both runs meet the same warm caches.
Wall-clock numbers from this machine: the header names its CPU; quote them with the load it had.
"""

import argparse
import collections
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import cpu_name, make_image, peak_rss_mb  # noqa: E402

TICK_MS = 10
SLOW_MS = 50  # a gap longer than this is a stutter the user sees
MAX_HOLD_S = 180.0  # a render that takes longer than this is reported, not waited for


def ensure_display():
    """Start a private Xvfb when there is no display (napari's canvas needs a GL context)."""
    if os.environ.get("DISPLAY"):
        return None
    r, w = os.pipe()
    proc = subprocess.Popen(
        ["Xvfb", "-displayfd", str(w), "-screen", "0", "1600x1200x24", "-nolisten", "tcp"],
        pass_fds=(w,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(w)
    with os.fdopen(r) as f:
        num = f.readline().strip()
    if not num:
        raise RuntimeError("Xvfb did not start; install the xvfb package or set DISPLAY")
    os.environ["DISPLAY"] = f":{num}"
    return proc


IDLE = {"wait", "select", "_worker", "get"}  # innermost frames of a thread that waits for work


class GapSampler(threading.Thread):
    """While the main thread is late for its tick, samples what every thread is doing (--why).

    The innermost frames of the main thread say what it is busy with; when it sits in the Qt
    event loop (C++) with no Python above, it is waiting: for the GIL or for a CPU.
    """

    def __init__(self, last_tick, late_s=0.03, period_s=0.005):
        super().__init__(daemon=True, name="gap-sampler")
        self.last_tick, self.late_s, self.period_s = last_tick, late_s, period_s
        self.main = threading.main_thread().ident
        self.counts = collections.Counter()
        self.halt = threading.Event()

    def run(self):
        while not self.halt.wait(self.period_s):
            if time.perf_counter() - self.last_tick[0] < self.late_s:
                continue
            frames = sys._current_frames()
            names = {t.ident: t.name for t in threading.enumerate()}
            for ident, frame in frames.items():
                if ident == self.ident or frame.f_code.co_name in IDLE:
                    continue
                main = ident == self.main
                self.counts[("main" if main else names.get(ident, "?"), _where(frame, 8 if main else 3))] += 1

    def report(self, top):
        print(
            f"# while the main thread was late (> {self.late_s * 1e3:.0f} ms), samples every "
            f"{self.period_s * 1e3:.0f} ms: thread, innermost frames"
        )
        for (who, where), n in self.counts.most_common(top):
            print(f"#   {n:5d}  {who}: {where}")


def _where(frame, depth=3):
    parts = []
    while frame is not None and len(parts) < depth:
        code = frame.f_code
        parts.append(f"{Path(code.co_filename).stem}.{code.co_name}:{frame.f_lineno}")
        frame = frame.f_back
    return " < ".join(parts)


def camera(viewer):
    """The camera (napari 0.9 moved it under viewer.scene)."""
    scene = getattr(viewer, "scene", None)
    return scene.camera if scene is not None and hasattr(scene, "camera") else viewer.camera


def camera_script(rng: np.random.Generator, size: int, planes: int, rounds: int):
    """Steps (what, action(viewer), minimum hold s, wait for the live render). World = data pixels."""

    def at(zoom, y, x):
        def act(v):
            camera(v).center = (y, x)
            camera(v).zoom = zoom

        return act

    def pan(dy, dx):
        def act(v):
            cy, cx = camera(v).center[-2:]
            camera(v).center = (cy + dy, cx + dx)

        return act

    def plane(k):
        return lambda v: v.dims.set_current_step(0, k)

    steps = [("zoomed out", at(0.15, size / 2, size / 2), 1.0, True)]
    for _ in range(rounds):
        y, x = rng.uniform(300, size - 300, 2)
        steps += [("zoom x2", at(2.0, y, x), 0.3, True), ("zoom x4", at(4.0, y, x), 0.3, True)]
        steps += [("slow drag", pan(12, -15), 0.06, False)] * 10 + [("drag end", pan(12, -15), 0.3, True)]
        steps += [("pan > debounce", pan(-60, 40), 0.4, False)] * 4 + [("pan end", pan(-60, 40), 0.3, True)]
        y, x = rng.uniform(300, size - 300, 2)
        steps += [("zoom x3 elsewhere", at(3.0, y, x), 0.3, True)]
        if planes > 1:
            steps += [("dims", plane(int(rng.integers(1, planes))), 0.3, True)]
        steps += [("fast drag", pan(-8, -8), 0.02, False)] * 15 + [("drag end", pan(-8, -8), 0.3, True)]
        y, x = rng.uniform(300, size - 300, 2)
        steps += [("zoom x8 elsewhere", at(8.0, y, x), 0.3, True)]
        if planes > 1:
            steps += [("dims", plane(0), 0.3, True)]
        steps += [("zoom x1.5", at(1.5, y, x), 0.3, True), ("zoomed out", at(0.15, size / 2, size / 2), 1.0, True)]
    return steps


def play(app, viewer, steps, live=None, holds=None, why=0):
    """Run the steps on the Qt event loop; returns (tick gaps in ms, the step each gap ended in,
    holds in s, renders)."""
    from qtpy.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    ticks, labels, done_holds, last, busy = [], [], [], [time.perf_counter()], []
    sampler = GapSampler(last) if why else None
    state = {"i": -1, "t": 0.0}
    renders0 = live.renders if live is not None else 0

    def ready(now):
        i = state["i"]
        if i < 0:
            return True
        held = now - state["t"]
        if holds is not None:
            return held >= holds[i]
        _, _, minimum, wait = steps[i]
        return held >= minimum and (not wait or live is None or live.idle) or held >= MAX_HOLD_S

    def tick():
        now = time.perf_counter()
        ticks.append(now)
        busy.append(live is not None and live.worker is not None)  # a render runs as the gap starts
        last[0] = now
        if ready(now):
            if state["i"] >= 0:
                done_holds.append(now - state["t"])
            state["i"] += 1
            if state["i"] == len(steps):
                timer.stop()
                loop.quit()
                return
            state["t"] = now
            steps[state["i"]][1](viewer)
        labels.append(steps[max(state["i"], 0)][0])  # the gap after this tick is this step's

    timer = QTimer()
    timer.setInterval(TICK_MS)
    timer.timeout.connect(tick)
    timer.start()
    if sampler is not None:
        sampler.start()
    loop.exec()
    if sampler is not None:
        sampler.halt.set()
        sampler.report(why)
    gaps = np.diff(ticks) * 1e3
    return (
        gaps,
        labels[: len(gaps)],
        done_holds,
        (live.renders - renders0) if live is not None else 0,
        np.asarray(busy[: len(gaps)], dtype=bool),
    )


def summary(gaps, renders, seconds, busy):
    g = np.asarray(gaps)
    r = g[busy] if busy.any() else None
    during = "-" if r is None else f"{r.max():.0f} / {int((r > SLOW_MS).sum())} of {len(r)}"
    return [
        f"{g.max():.0f}",
        f"{np.percentile(g, 99):.0f}",
        f"{np.percentile(g, 95):.0f}",
        f"{np.median(g):.1f}",
        str(int((g > SLOW_MS).sum())),
        during,
        str(len(g)),
        str(renders),
        f"{seconds:.0f}",
    ]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=4096)
    p.add_argument("--planes", type=int, default=3, help="planes of the stack (a dims slider when > 1)")
    p.add_argument("--canvas", default="640,480", help="canvas width,height in screen pixels")
    p.add_argument("--rounds", type=int, default=2)
    p.add_argument("--precision", default="auto")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--only", choices=("on", "off"), help="one run (the off run then holds each step 1 s)")
    p.add_argument(
        "--why",
        type=int,
        default=0,
        metavar="N",
        help="sample all threads while the main thread is late; print the N commonest places",
    )
    p.add_argument(
        "--multiscale",
        action="store_true",
        help="one plane as a multiscale layer over OME-Zarr levels (how big microscopy images arrive)",
    )
    p.add_argument("--dir", help="where the zarr is written and kept (default: a temporary folder)")
    args = p.parse_args(argv)
    xvfb = ensure_display()
    os.environ.setdefault("QT_API", "pyqt6")
    folder = Path(args.dir or tempfile.mkdtemp(prefix="liif-gaps-"))
    path = folder / f"img{args.size}{'.ome' if args.multiscale else ''}.zarr"
    try:
        if not path.exists():
            make_image(path, args.size, ome=args.multiscale)
        return measure(args, path)
    finally:
        if not args.dir:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
        if xvfb is not None:
            xvfb.terminate()


def measure(args, path):
    import dask.array as da
    import napari
    import torch
    from qtpy.QtWidgets import QApplication

    import liif_plugin as liif
    from napari_plugin._live import LiveView

    if args.multiscale:
        import zarr

        group = zarr.open_group(str(path), mode="r")
        stack = [da.from_zarr(group[d["path"]]) for d in group.attrs["multiscales"][0]["datasets"]]
        args.planes = 1
    else:
        base = da.from_zarr(str(path))
        # Different pictures per plane (a dims change must show something new), all read lazily.
        stack = da.stack([base, base[::-1], base[:, ::-1]][: args.planes] + [base.T] * max(0, args.planes - 3))
    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    layer = viewer.add_image(stack, name="big", contrast_limits=(0, 4095), multiscale=args.multiscale)
    cw, ch = (int(v) for v in args.canvas.split(","))
    viewer.window._qt_viewer.canvas.native.resize(cw, ch)
    for _ in range(50):
        app.processEvents()
        if tuple(viewer.canvas.size) == (ch, cw):
            break
        time.sleep(0.02)
    model = liif.load_model(device="cpu")
    status = []
    live = LiveView(viewer, lambda: model, precision=args.precision, on_status=status.append)
    steps = camera_script(np.random.default_rng(args.seed), args.size, args.planes, args.rounds)
    print(
        f"# {cpu_name()}, {os.cpu_count()} cores, torch {torch.__version__} ({torch.get_num_threads()} threads), "
        f"napari {napari.__version__}; layer {layer.data.shape} {layer.dtype} dask over zarr"
        f"{f', multiscale ({len(stack)} levels)' if args.multiscale else ''}; canvas "
        f"{tuple(viewer.canvas.size)}; {len(steps)} camera steps; tick {TICK_MS} ms",
        flush=True,
    )
    play(app, viewer, steps, holds=[0.15] * len(steps))  # warm-up: every plane read once
    napari_peak = peak_rss_mb()
    rows, holds = [], [1.0] * len(steps)
    if args.only != "off":
        live.start(layer)
        t0 = time.perf_counter()
        gaps, labels, holds, renders, busy = play(app, viewer, steps, live=live, why=args.why)
        rows.append(("live on", gaps, labels, renders, time.perf_counter() - t0, busy))
        live.stop()
    if args.only != "on":
        t0 = time.perf_counter()
        gaps, labels, _, _, busy = play(app, viewer, steps, holds=holds, why=args.why)
        rows.insert(0, ("live off (napari alone)", gaps, labels, 0, time.perf_counter() - t0, busy))
    head = [
        "run",
        "max gap ms",
        "p99 ms",
        "p95 ms",
        "median ms",
        f"gaps > {SLOW_MS} ms",
        f"while a render runs: max ms / gaps > {SLOW_MS} ms",
        "ticks",
        "renders done",
        "seconds",
    ]
    print("| " + " | ".join(head) + " |\n|" + "---|" * len(head))
    for name, gaps, _, renders, seconds, busy in rows:
        print(f"| {name} | " + " | ".join(summary(gaps, renders, seconds, busy)) + " |", flush=True)
    for name, gaps, labels, _, _, _ in rows:  # where the worst stutters happened
        worst = np.argsort(gaps)[::-1][:6]
        print(f"# {name}, largest gaps: " + ", ".join(f"{gaps[i]:.0f} ms ({labels[i]})" for i in worst))
        slow = collections.Counter(lab for g, lab in zip(gaps, labels) if g > SLOW_MS)
        print(f"# {name}, gaps > {SLOW_MS} ms by step: " + ", ".join(f"{lab} {n}" for lab, n in slow.most_common()))
    if args.only != "off":  # how long each kind of waited-for step took until its render was in
        by = collections.defaultdict(list)
        for (what, _, _, wait), held in zip(steps, holds):
            if wait and what.startswith(("zoom x", "drag end", "pan end", "dims")):
                by[what.split(" elsewhere")[0]].append(held)
        print(
            "# live on, camera change -> overlay in (debounce 150 ms included), median / max s: "
            + ", ".join(f"{k} {np.median(v):.2f} / {max(v):.2f}" for k, v in by.items())
        )
    print(
        f"# peak RSS of the process (VmHWM): {napari_peak:.0f} MB after the warm-up (napari showing the "
        f"layer, the model loaded), {peak_rss_mb():.0f} MB at the end"
    )
    failed = [s for s in status if "failed" in s]
    if failed:
        print(f"# live view errors: {failed[:3]}")
    viewer.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
