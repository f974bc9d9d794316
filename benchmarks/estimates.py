"""How close the time estimates are: each face's estimate before an action, then the action timed.

    .venv/bin/python benchmarks/estimates.py                 # every shipped model present
    .venv/bin/python benchmarks/estimates.py --remeasure     # measure this machine's speed anew first
    .venv/bin/python benchmarks/estimates.py --models edsr-baseline --quick

For every shipped model present (the registry's published and committed models whose weights are
here), and for each action a face estimates before it starts:

- napari Run of a 2D layer at x2 (gray) and x4 (RGB), what the panel's "time" line says
  (napari_plugin._advice.Timing.run) against ``resample_layer`` timed;
- napari Preview: a view-sized window of a larger layer at screen resolution (Timing.preview) against
  the render of that window;
- napari Isotropic z of a small uint16 stack (Timing.isotropic) against ``liif_plugin.isotropic``;
- napari every zx section (Timing.plane) against ``liif_plugin.resample_planes``;
- the CLI on a batch of three images (liif_plugin.cli.upscale's estimate) against ``liif upscale`` run
  in this process.

Each estimate uses this machine's stored speed for the model's architecture and precision (measured
first when none is stored, or with --remeasure once per architecture and precision, as the faces do),
and after each action the stored speed learns from the time it took (liif_plugin.runtime.speed.observe,
as the panel and the CLI do after a render). The table prints estimate, measured wall time and their
ratio (measured / estimated), with the CPU named. Times vary with what else runs on the machine; the
benchmark reports, it asserts nothing.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import time
from pathlib import Path

import numpy as np
from napari.components import ViewerModel
from napari.layers import Image
from skimage import data

import liif_plugin as liif
from liif_plugin.hub import cache
from liif_plugin.runtime import hardware
from liif_plugin.runtime import speed as speeds
from napari_plugin._advice import LayerChecks, Timing
from napari_plugin._choices import Choices
from napari_plugin._resample import iter_resample, resample_layer


def shipped_models():
    """Registry models whose weights are here: published ones fetched, and the project's committed ones."""
    out = []
    for name, e in cache.registry().items():
        if e.custom:
            continue
        if (e.committed or e.pypi is not None) and cache.status(name) == "present":
            out.append(name)
    return out


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def drain(gen):
    while True:
        try:
            next(gen)
        except StopIteration as stop:
            return stop.value


def cases(quick):
    """(name, layer, choices, action, run) per case; run() does the action."""
    n = 96 if quick else 192
    cam = data.camera()
    gray = Image(cam[:n, :n], name="gray")
    rgb = Image(data.astronaut()[: n // 2, : n // 2], rgb=True, name="rgb")
    big = Image(cam, name="big")  # 512 x 512; the view below shows a part of it
    z = 8 if quick else 16
    stack = np.stack([cam[100 + 6 * k : 100 + 6 * k + n // 2, 200 : 200 + n // 2] for k in range(z)]).astype(np.uint16)
    vol = Image(stack * 16, name="stack", scale=(4.0, 1.0, 1.0))
    return [
        ("Run 2D gray x2", gray, Choices(scale=(2.0, 2.0)), "run"),
        ("Run 2D RGB x4", rgb, Choices(scale=(4.0, 4.0)), "run"),
        ("Preview (view of a 512^2 layer)", big, Choices(), "preview"),
        ("Isotropic z (stack, z x4)", vol, Choices(), "isotropic"),
        ("zx sections x4 in z", vol, Choices(plane="zx", scale=(4.0, 1.0)), "plane"),
    ]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=None, help="comma-separated registry names (default: every shipped one)")
    ap.add_argument("--quick", action="store_true", help="smaller images")
    ap.add_argument("--remeasure", action="store_true", help="measure this machine's speed anew first")
    args = ap.parse_args()
    names = args.models.split(",") if args.models else shipped_models()
    cpu = hardware.cpu().summary()
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    model_line = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("Model name")), "?")
    cores = next((ln.split(":", 1)[1].strip() for ln in lscpu.splitlines() if ln.startswith("CPU(s)")), "?")
    print(f"CPU: {model_line}, {cores} CPUs ({cpu}); torch {__import__('torch').__version__}")
    print(f"load average before: {open('/proc/loadavg').read().split()[:3]}")
    rows, measured = [], set()
    for name in names:
        model = liif.load_model(name, device="cpu")
        for precision in ("fp32", hardware.resolve_precision("auto", model.device)):
            key = speeds.key(model, precision)  # one measurement per architecture, precision and device
            speeds.speed(model, precision, remeasure=args.remeasure and key not in measured)
            measured.add(key)
        viewer = ViewerModel()
        viewer.canvas.size = (300, 400)
        models = {(name, "auto"): model}
        timing = Timing(models, LayerChecks(), viewer)
        for label, layer, choices, action in cases(args.quick):
            choices = Choices(**{**choices.__dict__, "model": name})
            viewer.layers.clear()
            viewer.add_layer(layer)
            if action == "run":
                _, est = timing.run(layer, choices)
                secs = timed(lambda: resample_layer(layer, model=model, precision="fp32", **_size(choices)))
            elif action == "preview":
                viewer.camera.center = (200.0, 260.0)
                viewer.camera.zoom = 2.0  # 150 x 200 image pixels on a 300 x 400 canvas
                est = timing.preview(layer, choices)
                from napari_plugin._resample import view_region

                region, shape = view_region(layer, viewer)
                precision = choices.precision_for("preview")
                kw = dict(shape=shape, region=region, model=model, lead_index=(), precision=precision)
                secs = timed(lambda: drain(iter_resample(layer, **kw)))
            elif action == "isotropic":
                _, est = timing.isotropic(layer, choices)
                secs = timed(lambda: liif.isotropic(layer.data, tuple(layer.scale), model=model, precision="fp32"))
            else:
                _, est = timing.plane(layer, choices)
                secs = timed(
                    lambda: liif.resample_planes(
                        layer.data, (4.0, 1.0), plane="zx", spacing=tuple(layer.scale), model=model, precision="fp32"
                    )
                )
            rows.append((name, label, est, secs))
            show(rows[-1])
            # What the faces do after a render: the stored speed moves towards what it took.
            precision = choices.precision_for("preview" if action == "preview" else "run")
            speeds.observe(model, hardware.resolve_precision(precision, model.device), est.seconds, secs)
        est, secs = cli_batch(name, args.quick)
        rows.append((name, "CLI batch: 3 images x2", est, secs))
        show(rows[-1])
    print(f"load average after: {open('/proc/loadavg').read().split()[:3]}")
    print()
    print(f"CPU: {model_line}, {cores} CPUs ({cpu})")
    print("| model | action | estimate | measured | measured / estimate |")
    print("|---|---|---|---|---|")
    for name, label, est, secs in rows:
        print(f"| {name} | {label} | {est.seconds:.1f} s ({est.text()}) | {secs:.1f} s | {secs / est.seconds:.2f} |")
    worst = max(max(secs / est.seconds, est.seconds / secs) for _, _, est, secs in rows)
    print(f"\nworst factor between estimate and measurement: {worst:.2f} (the goal: within 1.5)")


def show(row):
    name, label, est, secs = row
    print(f"  {name:24s} {label:34s} estimate {est.text():24s} measured {secs:6.1f} s  ratio {secs / est.seconds:.2f}")


def _size(choices):
    return {"scale": choices.scale}


def cli_batch(name, quick):
    """The CLI's estimate of a batch of three images at x2, then the batch run in this process."""
    from PIL import Image as PILImage

    from liif_plugin.cli import upscale as cli_upscale
    from liif_plugin.cli.main import main as liif_main

    n = 96 if quick else 160
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        (tmp / "out").mkdir()
        files = []
        for k, img in enumerate((data.camera(), data.astronaut(), data.coffee())):
            p = tmp / f"img{k}.png"
            PILImage.fromarray(img[100 : 100 + n, 100 : 100 + int(n * 1.25)]).save(p)
            files.append(str(p))
        argv = ["upscale", *files, "--out-dir", str(tmp / "out"), "--scale", "2", "--model", name, "--quiet"]
        est = cli_upscale.estimate_argv(argv)
        secs = timed(lambda: liif_main(argv))
    return est, secs


if __name__ == "__main__":
    main()
