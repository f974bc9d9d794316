"""How long does a user wait for LIIF after a wheel or a pan? (prints tables)

    python benchmarks/interaction.py [--size 20000] [--cases zarr,dask] [--faces notebook,napari]
                                     [--canvas 512] [--precision auto] [--dir DIR]

Replays one recorded session of wheel notches and drags (SESSION below: a spin of the wheel from
the whole image to x2, a few more notches, a fast drag, a slow drag, a zoom out, a long drag to
another place, a zoom in) against

- the ZoomWidget's Python side (no browser): each event sets `viewport` as zoom.js does (a wheel
  notch zooms by exp(100 x 0.002) about the cursor; a drag moves the view by the pointer's motion),
  the messages the widget sends are recorded with their `view_changed_at`;
- napari's live view (a real viewer under Xvfb, started here when DISPLAY is unset): each event moves
  the camera the same way (zoom about the cursor, pan by the motion); the overlay frames shown are
  recorded (debounce of 150 ms included in their latency).

Images (built here, never committed): a 20000 x 20000 uint8 zarr (chunks 512 x 512, a mosaic of
scikit-image's camera) and a 20000 x 20000 uint8 dask array computed by a function per chunk. Each
face and case runs in a fresh process with the released model at `--precision` (default auto).

Printed per event: its latency to the reduced LIIF frame and to the full one (from the event to the
frame handed to the browser / shown in napari); "-" when a newer event superseded it before a frame
came (the newest view only is rendered). Then per burst (the event the user waits on), against the
targets, and the stale-stop time: from an event to the moment the render of the view before it has
stopped (notebook). Peak memory per stage is VmHWM, reset between stages (/proc/self/clear_refs).
Wall-clock numbers: the header names the CPU and the load; quote them with both.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from scale import cpu_name  # noqa: E402

NOTCH = math.exp(100 * 0.002)  # zoom.js: one wheel notch (deltaY 100)
# Targets (docs/notebook.md, docs/speed.md): the first LIIF frame after an event, the full one, and how
# soon a stale render stops (issue 23).
TARGETS = {"reduced": 1.0, "full": 5.0, "stop": 0.2}
SETTLE_S = 120.0  # the longest a burst's full frame is waited for

# (burst name, events): an event is ("wheel", notches, (fy, fx)) about that canvas fraction, or
# ("drag", (dy, dx) device pixels); each with the seconds before the next event of the burst.
SESSION = [
    ("wheel in to x2", [("wheel", 1, (0.62, 0.41), 0.03)] * 22),
    ("3 notches more", [("wheel", 1, (0.5, 0.5), 0.05)] * 3),
    ("fast drag", [("drag", (0, -20), 0.016)] * 10),
    ("slow drag", [("drag", (15, 25), 0.4)] * 5),
    ("wheel out 2", [("wheel", -1, (0.3, 0.7), 0.05)] * 2),
    ("long drag elsewhere", [("drag", (-30, -30), 0.016)] * 20),
    ("wheel in 4", [("wheel", 1, (0.5, 0.5), 0.05)] * 4),
]


def load_text():
    a, b, c = os.getloadavg()
    return f"load average {a:.2f} / {b:.2f} / {c:.2f}"


def make_zarr(path: Path, n: int):
    """An N x N uint8 zarr, chunks 512 x 512: camera tiles, rotated and dimmed per tile."""
    import zarr
    from skimage import data

    base = data.camera()
    z = zarr.open_array(str(path), mode="w", shape=(n, n), chunks=(512, 512), dtype=np.uint8)
    for y0 in range(0, n, 2048):
        y1 = min(n, y0 + 2048)
        z[y0:y1] = mosaic(base, y0, y1, 0, n)
    return path


def mosaic(base, y0, y1, x0, x1):
    out = np.empty((y1 - y0, x1 - x0), np.uint8)
    t = base.shape[0]
    for ty in range(y0 // t, -(-y1 // t)):
        for tx in range(x0 // t, -(-x1 // t)):
            tile = np.rot90(base, (tx + ty) % 4) // (1 + (tx * 7 + ty * 3) % 3)
            ya, yb = max(ty * t, y0), min((ty + 1) * t, y1)
            xa, xb = max(tx * t, x0), min((tx + 1) * t, x1)
            out[ya - y0 : yb - y0, xa - x0 : xb - x0] = tile[ya - ty * t : yb - ty * t, xa - tx * t : xb - tx * t]
    return out


def computed_dask(n: int):
    """An N x N uint8 dask array computed chunk by chunk (the mosaic, plus a gradient)."""
    import dask.array as da
    from skimage import data

    base = data.camera()

    def block(block_info=None):
        (y0, y1), (x0, x1) = block_info[None]["array-location"]
        return mosaic(base, y0, y1, x0, x1) // 2 + ((np.arange(y0, y1)[:, None] + x0) // 200 % 128).astype(np.uint8)

    return da.map_blocks(block, chunks=((512,) * (n // 512) + ((n % 512,) if n % 512 else ()),) * 2, dtype=np.uint8)


def source(case, path, n):
    import dask.array as da

    return da.from_zarr(str(path)) if case == "zarr" else computed_dask(n)


def reset_peak():
    """Reset VmHWM (Linux >= 4.0: writing 5 to clear_refs); False where not possible."""
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def peak_mb():
    return _status("VmHWM")


def _status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1]) / 1024
    return float("nan")


def stage(fields=(), dask_cache=False):
    """The stage just played: peak RSS (VmHWM) during it, RSS at its end (and after returning freed heap to
    the OS), the latent tile caches (MB) and napari's opportunistic dask cache (MB, global: napari turns it
    on while it slices); then the peak is reset."""
    from liif_plugin.runtime.memory import release_freed_memory

    out = {"peak": peak_mb(), "rss": _status("VmRSS")}
    release_freed_memory()  # what of the RSS is freed heap that glibc kept (viewers trim once still)
    out["rss trimmed"] = _status("VmRSS")
    out["tiles"] = sum(f.cached_bytes for f in fields) / 2**20
    if dask_cache:
        from napari.utils import _dask_utils

        out["dask cache"] = _dask_utils._DASK_CACHE.cache.total_bytes / 2**20
    reset_peak()
    return out


# -- the notebook ---------------------------------------------------------------------------------------
def zoom_at(v, fy, fx, f):
    ay, ax = v[0] + fy * (v[2] - v[0]), v[1] + fx * (v[3] - v[1])
    vh, vw = (v[2] - v[0]) / f, (v[3] - v[1]) / f
    return [ay - fy * vh, ax - fx * vw, ay + (1 - fy) * vh, ax + (1 - fx) * vw]


def drag(v, dy, dx, canvas):
    sy, sx = canvas[0] / (v[2] - v[0]), canvas[1] / (v[3] - v[1])
    return [v[0] - dy / sy, v[1] - dx / sx, v[2] - dy / sy, v[3] - dx / sx]


def notebook_case(case, path, n, canvas, precision):
    import liif_plugin as liif
    from liif_plugin.notebook import ZoomWidget

    model = liif.load_model(device="cpu")
    sent, lock = [], threading.Lock()
    stages = {}
    reset_peak()
    w = ZoomWidget(
        source(case, path, n), model=model, height=canvas, canvas_shape=[canvas, canvas], precision=precision
    )

    def record(content, buffers=None):
        with lock:
            sent.append((time.time(), content))

    w.send = record
    jobs = []  # (the view_changed_at a render job answers, when it ended)
    job = w._render_job

    def timed_job(view, canvas_, mode, stale, detail=1.0, changed_at=None):
        try:
            return job(view, canvas_, mode, stale, detail, changed_at)
        finally:
            jobs.append((changed_at, time.time()))

    w._render_job = timed_job
    steps = []  # (start, end) of each background step: a view arriving meanwhile waits for its end
    step = w._background_step

    def timed_step(stale):
        t0 = time.time()
        try:
            return step(stale)
        finally:
            steps.append((t0, time.time()))

    w._background_step = timed_step
    w._handle_custom_msg({"type": "hello"}, [])  # the widget is shown: the whole image
    wait_final(w, sent, None)
    stages["open + whole view"] = stage(notebook_fields(w))
    events = []
    for burst, evs in SESSION:
        for ev in evs:
            v = list(w.viewport)
            v = zoom_at(v, *ev[2], NOTCH ** ev[1]) if ev[0] == "wheel" else drag(v, *ev[1], w.canvas_shape)
            events.append((burst, time.time(), ev))
            w.viewport = v  # the widget records the view change (view_changed_at) as it schedules the render
            time.sleep(ev[-1])
        t_last = events[-1][1]
        wait_final(w, sent, t_last)
        stages[burst] = stage(notebook_fields(w))
    w.wait(600)  # the background pass (the exact range is known: uint8; the overview levels)
    stages["background pass (after the session)"] = stage(notebook_fields(w))
    rows = []
    frames = {}
    for t, c in sent:
        if c.get("layer") == "liif" and c.get("view_changed_at") is not None:
            f = frames.setdefault(c["view_changed_at"], {})
            key = "full" if c["final"] else "reduced"
            f.setdefault(key, t - c["view_changed_at"])
    changed = sorted(frames)
    for i, (burst, t, ev) in enumerate(events):
        # The frames answering this event: the view change the widget recorded as it took it (before the next).
        nxt = events[i + 1][1] if i + 1 < len(events) else float("inf")
        match = next((c for c in changed if t <= c < nxt), None)
        got = frames.get(match, {})
        rows.append((burst, ev[0], got.get("reduced"), got.get("full")))
    stops = []
    for (_, end), (changed, _) in zip(jobs, jobs[1:]):
        if changed is not None and end > changed:  # the render before ran on when this view came
            stops.append(end - changed)  # how long the newer view waited for it to stop
    for _, t, _ in events:  # a view change during a background step waited for that step's end
        stops += [end - t for start, end in steps if start <= t < end]
    out = {"rows": rows, "stops": stops, "stages": stages, "zoom": w.zoom}
    w.close()
    return out


def notebook_fields(w):
    return [w.field] + list(w._coarse.values())


def wait_final(w, sent, after):
    """Block until a final frame answering a view changed at or after `after` came (or SETTLE_S)."""
    t0 = time.time()
    while time.time() - t0 < SETTLE_S:
        if any(c["final"] and (after is None or (c.get("view_changed_at") or 0) >= after - 1e-6) for _, c in sent):
            break
        time.sleep(0.01)


# -- napari ---------------------------------------------------------------------------------------------
def napari_case(case, path, n, canvas, precision):
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from live_gaps import ensure_display

    xvfb = ensure_display()
    os.environ.setdefault("QT_API", "pyqt6")
    try:
        return _napari_case(case, path, n, canvas, precision)
    finally:
        if xvfb is not None:
            xvfb.terminate()


def _napari_case(case, path, n, canvas, precision):
    import napari
    from qtpy.QtWidgets import QApplication

    import liif_plugin as liif
    from napari_plugin import _resample as rs
    from napari_plugin._live import LiveView

    viewer = napari.Viewer(show=True)
    app = QApplication.instance()
    layer = viewer.add_image(source(case, path, n), name="big", contrast_limits=(0, 255))
    ch, cw = canvas, round(canvas * 4 / 3)
    viewer.window._qt_viewer.canvas.native.resize(cw, ch)
    pump(app, 1.0)
    model = liif.load_model(device="cpu")
    live = LiveView(viewer, lambda: model, precision=precision)
    shown = []
    show = live._show

    def record(new, full=True):
        shown.append((time.time(), full, tuple(new.metadata["liif"]["region"])))
        return show(new, full)

    live._show = record
    cam = viewer.camera
    stages = {}
    reset_peak()
    cam.center, cam.zoom = (n / 2, n / 2), min(viewer.canvas.size) / n
    live.start(layer)
    pump(app, 2.0)
    stages["open + whole view"] = stage(live_fields(live), dask_cache=True)
    events = []
    for burst, evs in SESSION:
        for ev in evs:
            hh, ww = viewer.canvas.size
            t = time.time()
            if ev[0] == "wheel":
                fy, fx = ev[2]
                off = np.array([(fy - 0.5) * hh, (fx - 0.5) * ww])
                point = np.asarray(cam.center[-2:]) + off / cam.zoom
                cam.zoom = cam.zoom * NOTCH ** ev[1]
                cam.center = tuple(point - off / cam.zoom)
            else:
                cy, cx = cam.center[-2:]
                cam.center = (cy - ev[1][0] / cam.zoom, cx - ev[1][1] / cam.zoom)
            view = rs.view_region(layer, viewer)
            events.append((burst, t, ev, view))
            pump(app, ev[-1])
        t0 = time.time()
        while time.time() - t0 < SETTLE_S and not (live.idle and any(t >= events[-1][1] and f for t, f, _ in shown)):
            pump(app, 0.02)
        stages[burst] = stage(live_fields(live), dask_cache=True)
    rows = []
    for i, (burst, t, ev, view) in enumerate(events):
        nxt = events[i + 1][1] if i + 1 < len(events) else float("inf")
        got = {}
        for ts, full, region in shown:
            if ts >= t and view is not None and _same_view(region, view):
                got.setdefault("full" if full else "reduced", ts - t)
        if not got or min(got.values()) + t > nxt + 5.0:
            got = {}
        rows.append((burst, ev[0], got.get("reduced"), got.get("full")))
    live.stop()
    viewer.close()
    return {"rows": rows, "stops": [], "stages": stages}


def live_fields(live):
    return list(live._fields.values()) + [f for _, f in live._coarse.values()]


def _same_view(region, view):
    (y0, x0, y1, x1), (h, w) = view
    step = (y1 - y0) / h
    return max(abs(a - b) for a, b in zip(region, view[0])) <= 1.01 * step


def pump(app, seconds):
    t0 = time.time()
    while True:
        app.processEvents()
        if time.time() - t0 >= seconds:
            return
        time.sleep(0.005)


# -- the tables -----------------------------------------------------------------------------------------
def fmt(v):
    return "-" if v is None else f"{v:.2f} s"


def report(face, case, out):
    rows = out["rows"]
    print(f"\n### {face}, {case}: every event (latency to the reduced / the full LIIF frame)\n")
    print("| # | burst | event | reduced | full |\n|---|---|---|---|---|")
    for i, (burst, kind, red, full) in enumerate(rows):
        print(f"| {i} | {burst} | {kind} | {fmt(red)} | {fmt(full)} |")
    print(f"\n### {face}, {case}: the event each burst ends with (what the user waits on), against the targets\n")
    print(
        f"| burst | reduced (target {TARGETS['reduced']:.1f} s) | full (target {TARGETS['full']:.1f} s) | met |\n"
        "|---|---|---|---|"
    )
    last = {}
    for burst, _kind, red, full in rows:
        last[burst] = (red, full)
    for burst, (red, full) in last.items():
        first = red if red is not None else full
        ok = first is not None and first <= TARGETS["reduced"] and full is not None and full <= TARGETS["full"]
        print(f"| {burst} | {fmt(red)} | {fmt(full)} | {'yes' if ok else 'no'} |")
    if out["stops"]:
        s = np.asarray(out["stops"])
        print(
            f"\nstale render stopped after: median {np.median(s):.3f} s, max {s.max():.3f} s over {len(s)} "
            f"superseded renders (target {TARGETS['stop']:.1f} s)"
        )
    keys = list(next(iter(out["stages"].values())))
    print(f"\n### {face}, {case}: memory per stage (MB; peak = VmHWM during the stage, reset before it)\n")
    print("| stage | " + " | ".join(keys) + " |\n|---|" + "---|" * len(keys))
    for name, m in out["stages"].items():
        print(f"| {name} | " + " | ".join(f"{m[k]:.0f}" for k in keys) + " |")


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=20000)
    p.add_argument("--cases", default="zarr,dask")
    p.add_argument("--faces", default="notebook,napari")
    p.add_argument("--canvas", type=int, default=512, help="canvas height in device pixels (napari: width 4/3 of it)")
    p.add_argument("--precision", default="auto")
    p.add_argument("--dir", help="where the zarr is written and kept (default: a temporary folder)")
    p.add_argument("--one", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    folder = Path(args.dir or tempfile.mkdtemp(prefix="liif-interaction-"))
    path = folder / f"u8_{args.size}.zarr"
    if args.one:
        face, case = args.one.split(":")
        run = notebook_case if face == "notebook" else napari_case
        out = run(case, path, args.size, args.canvas, args.precision)
        print("JSON " + json.dumps(out))
        return 0
    import torch

    from liif_plugin.runtime import hardware

    cpu = torch.device("cpu")
    mlp = hardware.resolve_precision(args.precision, cpu)
    print(
        f"# {cpu_name()}: {hardware.cpu().summary()}; {os.cpu_count()} logical CPUs, torch {torch.__version__} "
        f"({torch.get_num_threads()} threads); precision {args.precision} -> MLP {mlp}, encoder of interactive "
        f"frames {hardware.interactive_encoder_precision(mlp, cpu)}"
    )
    print(f"# at the start: {load_text()}", flush=True)
    try:
        if "zarr" in args.cases and not path.exists():
            t0 = time.time()
            make_zarr(path, args.size)
            print(f"# wrote {path.name} in {time.time() - t0:.0f} s", flush=True)
        for face in args.faces.split(","):
            for case in args.cases.split(","):
                r = subprocess.run(
                    [
                        sys.executable,
                        __file__,
                        "--one",
                        f"{face}:{case}",
                        "--size",
                        str(args.size),
                        "--canvas",
                        str(args.canvas),
                        "--precision",
                        args.precision,
                        "--dir",
                        str(folder),
                    ],
                    capture_output=True,
                    text=True,
                )
                line = next((ln for ln in r.stdout.splitlines() if ln.startswith("JSON ")), None)
                if line is None:
                    print(f"# {face} {case} failed:\n{r.stderr[-3000:]}")
                    continue
                report(face, case, json.loads(line[5:]))
                print(f"# after {face} {case}: {load_text()}", flush=True)
    finally:
        if not args.dir:
            import shutil

            shutil.rmtree(folder, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
