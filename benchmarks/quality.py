"""Quality benchmarks with the real model (prints tables; not a timed test).

    python benchmarks/quality.py gains       # LIIF vs PIL bicubic on scikit-image photos, x2 x3 x4 x6
    python benchmarks/quality.py microscopy  # fine-tune EDSR-baseline on microscopy, before/after PSNR

`gains` protocol (the one found to reproduce DESIGN.md's reference gains; see docs/README-quality.md):
the top-left 240x240 crop of the RGB photos astronaut, chelsea and rocket, HR cropped to a multiple
of the scale, LR made with PIL bicubic on uint8, LIIF and PIL bicubic back to the HR size, PSNR on
RGB with `scale` border pixels removed, averaged over the images; the gain is LIIF minus bicubic.
`--crop-at centre --images astronaut,coffee,chelsea,rocket` gives the other protocols reported there.

`microscopy`: the bundled scikit-image microscopy set (cell, immunohistochemistry, microaneurysms,
retina). The bottom 20 % of every image is held out; training only sees the rest. Held-out 96 px
tiles are scored at x2, x3, x4 before and after a fixed CPU budget of fine-tuning.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import torch

import liif_plugin as liif
from liif_plugin.quality import evaluate as ev

PHOTOS = ("astronaut", "chelsea", "rocket")
GRAY_PHOTOS = ("camera", "moon")
MICROSCOPY = ("cell", "immunohistochemistry", "microaneurysms", "retina")


def skimage_image(name):
    import skimage.data

    return getattr(skimage.data, name)()


def gains(args):
    m = liif.load_model(device=args.device, precision=args.precision)
    sets = {"RGB photos": args.images.split(","), "gray photos": GRAY_PHOTOS}
    report = {}
    for label, names in sets.items():
        cut = (
            (lambda x: x[: args.crop, : args.crop])
            if args.crop_at == "topleft"
            else (lambda x: ev.centre_crop(x, args.crop))
        )
        imgs = {n: cut(skimage_image(n)) for n in names}
        rows = ev.evaluate(imgs, args.scales, model=m, progress=not args.quiet)
        print(f"\n{label}: {args.crop}x{args.crop} {args.crop_at} crops, PIL bicubic LR, PSNR, border = scale")
        print(ev.format_table(rows))
        report[label] = {"rows": [vars(r) for r in rows], "summary": ev.summary(rows)}
    if args.json:
        Path(args.json).write_text(json.dumps(report, indent=2))
    return 0


def heldout_tiles(x, val_fraction=0.2, tile=64, per_image=6):
    """Evenly spaced, non-overlapping tile x tile crops of the held-out bottom strip that have texture.

    Flat tiles (e.g. the black surround of the retina) are skipped: bicubic restores them exactly,
    so their PSNR is infinite and says nothing.
    """
    from liif_plugin.training.train import split_rows

    strip = x[split_rows(x.shape[0], val_fraction) :]
    ys = range(0, strip.shape[0] - tile + 1, tile)
    xs = range(0, strip.shape[1] - tile + 1, tile)
    rng = float(x.max()) - float(x.min())
    spots = [(y, c) for y in ys for c in xs if strip[y : y + tile, c : c + tile].std() > 0.01 * rng]
    if not spots:
        return []
    pick = np.linspace(0, len(spots) - 1, min(per_image, len(spots))).round().astype(int)
    return [strip[spots[i][0] : spots[i][0] + tile, spots[i][1] : spots[i][1] + tile] for i in sorted(set(pick))]


def score(model, tiles, scales):
    rows = ev.evaluate(tiles, scales, model=model, progress=False)
    return {s["scale"]: s for s in ev.summary(rows)}


def microscopy(args):
    from liif_plugin.training.train import train

    imgs = {n: skimage_image(n) for n in MICROSCOPY}
    tiles = {f"{n}_{i}": t for n, x in imgs.items() for i, t in enumerate(heldout_tiles(x))}
    print(
        f"held-out tiles: {len(tiles)} of 64x64 px "
        f"({', '.join(f'{n}: {sum(k.startswith(n) for k in tiles)}' for n in imgs)})"
    )
    before = score(liif.load_model(device="cpu"), tiles, args.scales)
    if args.checkpoint:  # score a finished run only
        after = score(liif.load_model(args.checkpoint, device="cpu"), tiles, args.scales)
        ck = torch.load(args.checkpoint, map_location="cpu", weights_only=True)
        print(f"checkpoint {args.checkpoint} (step {ck['epoch']}, lr {ck['optimizer']['args']['lr']:g})")
        report(args, before, after, {"steps": ck["epoch"], "tiles": len(tiles)})
        return 0
    t0 = time.perf_counter()
    res = train(
        list(imgs.values()),
        out=args.out,
        steps=args.steps,
        init="edsr-baseline",
        batch_size=args.batch,
        lr=args.lr,
        val_every=0,
        save_every=25,
        max_seconds=args.minutes * 60,
        device="cpu",
        seed=args.seed,
        progress=not args.quiet,
    )
    spent = time.perf_counter() - t0
    after = score(liif.load_model(args.out, device="cpu"), tiles, args.scales)
    print(f"\nfine-tuned {res.steps} steps (batch {args.batch}, lr {args.lr:g}) in {spent / 60:.1f} min on the CPU")
    print(f"training L1 (first / last logged): {res.losses[0][1]:.4f} / {res.losses[-1][1]:.4f}")
    report(
        args,
        before,
        after,
        {
            "steps": res.steps,
            "batch": args.batch,
            "lr": args.lr,
            "minutes": spent / 60,
            "tiles": len(tiles),
            "losses": res.losses,
        },
    )
    return 0


def report(args, before, after, meta):
    print(f"{'scale':>6} {'bicubic':>8} {'before':>8} {'after':>8} {'change':>7}")
    for s in args.scales:
        b, a = before[s], after[s]
        print(
            f"{'x%g' % s:>6} {b['bicubic_psnr']:>8.2f} {b['liif_psnr']:>8.2f} {a['liif_psnr']:>8.2f} "
            f"{a['liif_psnr'] - b['liif_psnr']:>+7.2f}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps({**meta, "before": before, "after": after}, indent=2))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="what", required=True)
    g = sub.add_parser("gains", help="LIIF vs bicubic on scikit-image photos")
    g.add_argument("--scales", type=ev.parse_scales, default=[2, 3, 4, 6])
    g.add_argument("--crop", type=int, default=240)
    g.add_argument("--crop-at", choices=("topleft", "centre"), default="topleft")
    g.add_argument("--images", default=",".join(PHOTOS), help="scikit-image RGB photos, comma separated")
    g.add_argument("--device", default="auto")
    g.add_argument(
        "--precision",
        default="fp32",
        choices=("fp32", "auto", "bf16", "fp16"),
        help="render precision (see liif_plugin.runtime.hardware); compare with fp32 for auto's PSNR change",
    )
    g.set_defaults(func=gains)
    m = sub.add_parser("microscopy", help="fine-tune on microscopy, before/after PSNR on held-out tiles")
    m.add_argument("--scales", type=ev.parse_scales, default=[2, 3, 4])
    m.add_argument("--minutes", type=float, default=12.0, help="training time budget")
    m.add_argument(
        "--steps", type=int, default=100000, help="upper bound on steps (the time budget usually stops first)"
    )
    m.add_argument("--batch", type=int, default=4)
    m.add_argument("--lr", type=float, default=1e-4)
    m.add_argument("--seed", type=int, default=0)
    m.add_argument("--out", default="microscopy-finetuned.pth")
    m.add_argument("--checkpoint", help="do not train: score this finished checkpoint against the pretrained model")
    m.set_defaults(func=microscopy)
    for q in (g, m):
        q.add_argument("--json", help="also write the numbers to this JSON file")
        q.add_argument("--quiet", action="store_true", help="no progress bars")
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
