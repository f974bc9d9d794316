"""Put a model this project trained into weights/: fp16 file, sha256, and its registry entry with the recipe.

    .venv/bin/python scripts/commit_model.py NAME CHECKPOINT --log RUN.log.jsonl --auto-for jpeg noisy-photo \
        --trained-on "..." --recipe "..." --description "..."

The checkpoint is written as fp16 weights (``liif_plugin.training.train.export_half``) to
``weights/NAME.pth`` (refused above 10 MB), and ``weights/registry.json`` gets (or updates) the
entry: file, sha256, size, parameters, what it is for, what it was trained on, the degradation
recipe, steps, seed, wall time and CPU of the run (read from the run's JSON-lines log and the
values given), and which image conditions model="auto" gives it. A later session resumes
training from the committed file (``liif train --resume weights/NAME.pth``: weights and step
count; a fresh optimizer).
"""

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MAX_BYTES = 10 * 2**20


def run_summary(log: Path, upto: int | None = None) -> dict:
    """Steps, training seconds, the last validation and where each session ran (device, fp32 or bf16
    autocast) from a run's JSON-lines log (all its sessions), up to step `upto` (the checkpoint's: a run
    may have gone on after it)."""
    steps, seconds, last_val = 0, 0.0, None
    prev = 0.0
    where = {}  # each session's device and whether it autocast to bf16 (older logs lack it)
    for line in log.read_text().splitlines():
        e = json.loads(line)
        if upto is not None and int(e.get("step", e.get("run", {}).get("first_step", 0))) > upto:
            continue
        s = float(e.get("seconds", 0.0))
        if s < prev:  # a resumed session starts its clock again
            seconds += prev
        prev = s
        steps = max(steps, int(e.get("step", 0)))
        if "validation" in e:
            last_val = {"step": e["step"], **e["validation"]}
        if "run" in e:
            where[e["run"]["device"], "bf16 autocast" if e["run"]["bf16"] else "fp32"] = None
    return {
        "steps": steps,
        "seconds": round(seconds + prev),
        "validation": last_val,
        "ran_on": [f"{d}, {p}" for d, p in where],
    }


def write_entry(name, dst: Path, *, description, trained_on, auto_for, take_auto_from, source, training) -> dict:
    """Add or update weights/registry.json's entry for the committed file `dst`; return the entry."""
    import torch

    from liif_plugin.hub.wheels import sha256_of

    sd = torch.load(dst, map_location="cpu", weights_only=True)["model"]["sd"]
    reg_path = ROOT / "weights" / "registry.json"
    reg = json.loads(reg_path.read_text())
    for other in take_auto_from:
        reg["models"][other]["auto_for"] = [c for c in reg["models"][other].get("auto_for", []) if c not in auto_for]
    reg["models"][name] = entry = {
        "family": "authors",
        "encoder": "edsr-baseline",
        "file": dst.name,
        "sha256": sha256_of(dst),
        "size": dst.stat().st_size,
        "parameters": sum(v.numel() for v in sd.values()),  # as the loaded network counts them (mean shifts too)
        "licence": "BSD-3-Clause (a derivative of the LIIF authors' BSD-3-Clause edsr-baseline weights, "
        "fine-tuned by liif-plugin)",
        "source": source,
        "get": {"committed": True},
        "psnr": None,
        "psnr_source": None,
        "description": description,
        "trained_on": trained_on,
        "auto_for": list(auto_for),
        "training": training,
    }
    reg_path.write_text(json.dumps(reg, indent=2, ensure_ascii=False) + "\n")
    return entry


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("name")
    ap.add_argument("checkpoint", type=Path)
    ap.add_argument("--log", type=Path, required=True, help="the run's JSON-lines log (liif train --log)")
    ap.add_argument("--auto-for", nargs="*", default=[], help="conditions auto gives it (jpeg, noisy-photo, ...)")
    ap.add_argument("--take-auto-from", nargs="*", default=[], help="models that stop serving those conditions")
    ap.add_argument("--trained-on", required=True)
    ap.add_argument("--recipe", required=True, help="degradation and training settings, in words")
    ap.add_argument("--description", required=True)
    ap.add_argument("--seed", type=int, required=True)
    ap.add_argument("--cpu", required=True, help="the CPU(s) the run used (lscpu)")
    ap.add_argument("--from-model", default="edsr-baseline", help="what the fine-tuning started from")
    args = ap.parse_args(argv)

    import torch

    from liif_plugin.training.train import export_half

    step = torch.load(args.checkpoint, map_location="cpu", weights_only=False).get("epoch")
    dst = ROOT / "weights" / f"{args.name}.pth"
    export_half(args.checkpoint, dst)
    size = dst.stat().st_size
    if size > MAX_BYTES:
        dst.unlink()
        print(f"{dst} would be {size / 2**20:.1f} MB, over the 10 MB a committed model may take", file=sys.stderr)
        return 2
    run = run_summary(args.log, step)
    entry = write_entry(
        args.name,
        dst,
        description=args.description,
        trained_on=args.trained_on,
        auto_for=args.auto_for,
        take_auto_from=args.take_auto_from,
        source=f"liif-plugin: {args.from_model} fine-tuned with `liif train` (docs/weights.md has the recipe)",
        training={
            "from": args.from_model,
            "recipe": args.recipe,
            "steps": run["steps"],
            "seed": args.seed,
            "wall_seconds": run["seconds"],
            "cpu": args.cpu,
            **({"ran_on": run["ran_on"]} if run["ran_on"] else {}),
            "last_validation": run["validation"],
        },
    )
    print(
        f"wrote {dst} ({size / 2**20:.1f} MB, sha256 {entry['sha256'][:12]}...), "
        f"{run['steps']} steps; registry entry '{args.name}' auto_for {args.auto_for}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
