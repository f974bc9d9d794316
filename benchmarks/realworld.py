"""Real inputs: JPEG photos, noisy photos and noisy micrographs, bicubic vs each model vs model="auto".

    python benchmarks/realworld.py                       # the full table (about an hour on 2 CPU cores)
    python benchmarks/realworld.py --quick               # 3 photos, fewer cases (a few minutes)
    python benchmarks/realworld.py --models edsr-baseline runs/photo.pth --calibrate
    python benchmarks/realworld.py --no-micro --csv scores.csv  # every score, per image
    python benchmarks/realworld.py --no-photos --micro-crop 0   # micrographs whole, not a 192-px crop

Protocol (liif_plugin.quality.evaluate's): the ground truth is a central crop of an image no model
was trained on, shrunk with PIL's bicubic filter (the LR), then degraded: JPEG at a quality (PIL,
4:2:0 chroma), Gaussian noise of a sigma (of the 8-bit range, rounded back to 8 bits), both, or
for micrographs Poisson noise at a photon count at the brightest pixel. Every method brings the
degraded LR back to the ground truth's size and is scored against it (PSNR and SSIM on RGB, a
border of ceil(scale) pixels removed). The gain is a method's PSNR minus bicubic's.

`auto` is what ``liif_plugin.choose_model`` picks for each degraded input (looking at the array,
as it would for a decoded image; a JPEG file's tables are an easier signal). ``--calibrate``
prints the chooser's signals per condition next to which model did best, the data its
thresholds (liif_plugin.quality.choose) are set from. ``--figure`` writes the crop figure of
docs/quality.md.
"""

from __future__ import annotations

import argparse
import io
import math
import sys
import time
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

import liif_plugin as liif
from liif_plugin.quality import choose
from liif_plugin.quality import evaluate as ev
from liif_plugin.runtime.hardware import cpu

# Images no model of this project was trained on (training used ../shared/data/train-photos, i.e.
# BSD68 and Urban100, and scripts/noise_training_data.py's set, which leaves these out).
PHOTOS = ("astronaut", "chelsea", "rocket", "camera", "moon", "clock", "stereo_motorcycle")
# Micrographs: StarDist's nuclei-2d (widefield fluorescence, carrying its camera's noise), the middle plane of
# scikit-image's cells3d nuclei channel (confocal fluorescence) and scikit-image's cell (a gray 8-bit micrograph).
MICRO = ("nuclei-2d", "cells3d-z30", "cell")
PHOTO_CASES = (
    "clean",
    "jpeg90",
    "jpeg75",
    "jpeg50",
    "jpeg30",
    "noise1",
    "noise3",
    "noise5",
    "noise2+jpeg75",
)
MICRO_CASES = ("clean", "photons5000", "photons500", "photons100", "photons20")
SCALES = (2.0, 2.5, 3.0, 4.0)
CROP = 192


def photo(name: str) -> np.ndarray:
    import skimage.data

    x = getattr(skimage.data, name)()
    return x[0] if isinstance(x, tuple) else x


def micro(name: str) -> np.ndarray:
    import skimage.data

    from liif_plugin.hub.sample_data import cells3d_nuclei, nuclei_2d

    if name == "cell":
        return skimage.data.cell()
    if name == "cells3d-z30":
        return cells3d_nuclei()[30]
    return nuclei_2d()


def degrade(lr: np.ndarray, case: str, seed: int) -> np.ndarray:
    """The LR input of one case (same dtype as lr)."""
    rng = np.random.default_rng(seed)
    x = lr
    for part in case.split("+"):
        if part == "clean":
            continue
        if part.startswith("noise"):
            sigma = float(part[5:]) / 100 * 255
            x = np.clip(np.rint(x.astype(np.float64) + rng.normal(0, sigma, x.shape)), 0, 255).astype(np.uint8)
        elif part.startswith("jpeg"):
            buf = io.BytesIO()
            Image.fromarray(x).save(buf, "JPEG", quality=int(part[4:]))
            x = np.asarray(Image.open(io.BytesIO(buf.getvalue())))
        elif part.startswith("photons"):
            p = float(part[7:])
            lo, hi = float(lr.min()), float(lr.max())
            v = (lr.astype(np.float64) - lo) / max(hi - lo, 1e-12)
            noisy = rng.poisson(v * p) / p
            info = np.iinfo(lr.dtype)
            x = np.clip(np.rint(noisy * (hi - lo) + lo), info.min, info.max).astype(lr.dtype)
        else:
            raise ValueError(f"unknown case {case!r}")
    return x


def centre(x: np.ndarray, n: int) -> np.ndarray:
    return np.ascontiguousarray(ev.centre_crop(x, n))


def run(images: dict, cases, scales, models: dict, label: str):
    """Rows (image, case, scale, method, psnr, ssim) plus the auto choice per input."""
    rows, picks = [], []
    for iname, hr_full in images.items():
        for s in scales:
            hr, lr = ev.degrade(hr_full, s)
            dr = ev.data_range_of(hr)
            b = math.ceil(s)
            for k, case in enumerate(cases):
                x = degrade(lr, case, seed=zlib.crc32(f"{iname}|{s}|{k}".encode()))  # the same in every run
                outs = {"bicubic": ev.bicubic_resize(x, hr.shape[:2])}
                for mname, m in models.items():
                    outs[mname] = m.encode(x).render(hr.shape[:2])
                signals = choose.measure(x)
                chosen = choose.choose_model(x).name
                key = next((n for n, m in models.items() if m.name == chosen or n == chosen), None)
                if key is None:  # the chosen model was not given: load it for this case
                    models[chosen] = liif.get_model(chosen, device="cpu")
                    key = chosen
                    outs[key] = models[key].encode(x).render(hr.shape[:2])
                outs["auto"] = outs[key]
                picks.append((label, iname, case, s, key, signals))
                for meth, y in outs.items():
                    rows.append((iname, case, s, meth, ev.psnr(hr, y, dr, border=b), ev.ssim(hr, y, dr, border=b)))
            print(f"  {label} {iname} x{s:g} done ({time.strftime('%H:%M:%S')})", file=sys.stderr, flush=True)
    return rows, picks


def table(rows, cases, scales, methods):
    """Mean gain over bicubic (dB) per case and scale, the worst image in brackets; then mean SSIM."""
    out = []
    head = (
        "| case | x | "
        + " | ".join(f"{m} gain dB (worst)" for m in methods)
        + " | bicubic PSNR | "
        + " | ".join(f"{m} SSIM" for m in ["bicubic", *methods])
        + " |"
    )
    out.append(head)
    out.append("|" + "---|" * (3 + 2 * len(methods) + 1))
    by = {(r[0], r[1], r[2], r[3]): r for r in rows}
    images = sorted({r[0] for r in rows})
    for case in cases:
        for s in scales:
            cells = []
            for m in methods:
                g = [by[(i, case, s, m)][4] - by[(i, case, s, "bicubic")][4] for i in images if (i, case, s, m) in by]
                cells.append(f"{np.mean(g):+.2f} ({min(g):+.2f})" if g else "-")
            bic = np.mean([by[(i, case, s, "bicubic")][4] for i in images])
            ss = [
                f"{np.mean([by[(i, case, s, m)][5] for i in images if (i, case, s, m) in by]):.3f}"
                for m in ["bicubic", *methods]
            ]
            out.append(f"| {case} | {s:g} | " + " | ".join(cells) + f" | {bic:.2f} | " + " | ".join(ss) + " |")
    return "\n".join(out)


def summary(rows, groups, scales, method="auto"):
    """Mean gain of `method` over each group of cases (all images and scales), and the worst case mean."""
    by = {(r[0], r[1], r[2], r[3]): r for r in rows}
    images = sorted({r[0] for r in rows})
    lines = []
    for title, cases in groups:
        per_case = []
        for case in cases:
            for s in scales:
                g = [by[(i, case, s, method)][4] - by[(i, case, s, "bicubic")][4] for i in images]
                per_case.append(np.mean(g))
        lines.append(
            f"{title}: mean {np.mean(per_case):+.2f} dB, worst case (one quality or noise at one scale) "
            f"{min(per_case):+.2f} dB"
        )
    return "\n".join(lines)


def calibration(picks, rows):
    """Per condition: the chooser's signals and its picks, and the model that scored best."""
    by = {(r[0], r[1], r[2], r[3]): r[4] for r in rows}
    lines = [
        "| set | case | JPEG grid (min-max) | quality read (min-max) | noise % (min-max) | noise/detail (min-max) "
        "| photons (min-max) | picked (count) | best model (count) |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    groups = {}
    for label, iname, case, s, key, sig in picks:
        groups.setdefault((label, case), []).append((iname, s, key, sig))
    for (label, case), items in groups.items():
        bl = [sig.jpeg_grid for *_, sig in items]
        qs = [sig.jpeg_quality for *_, sig in items if sig.jpeg_quality is not None]
        read = f"{min(qs)}-{max(qs)} ({len(qs)} of {len(items)})" if qs else "-"
        nz = [100 * sig.noise for *_, sig in items]
        share = [sig.noise / sig.detail if sig.detail > 0 else 0.0 for *_, sig in items]
        ph = [sig.photons for *_, sig in items if sig.photons is not None]  # measured for noisy micrographs only
        photons = f"{min(ph):.0f}-{max(ph):.0f} ({len(ph)} of {len(items)})".replace("inf", "read noise") if ph else "-"
        picked, best = {}, {}
        for iname, s, key, _ in items:
            picked[key] = picked.get(key, 0) + 1
            cands = {m: v for (i, c, sc, m), v in by.items() if i == iname and c == case and sc == s and m != "auto"}
            top = max(cands, key=cands.get)
            best[top] = best.get(top, 0) + 1
        lines.append(
            f"| {label} | {case} | {min(bl):.2f}-{max(bl):.2f} | {read} | {min(nz):.2f}-{max(nz):.2f} | "
            f"{min(share):.2f}-{max(share):.2f} | {photons} | "
            + ", ".join(f"{k} {v}" for k, v in picked.items())
            + " | "
            + ", ".join(f"{k} {v}" for k, v in best.items())
            + " |"
        )
    return "\n".join(lines)


def figure(path: Path, models: dict, scale: float = 3.0, case: str = "jpeg50", name: str = "chelsea"):
    """Crop figure: degraded input (nearest) | bicubic | released | auto | ground truth."""
    hr_full = centre(photo(name), CROP)
    hr, lr = ev.degrade(hr_full, scale)
    x = degrade(lr, case, seed=0)
    chosen = liif.get_model("auto", x)
    tiles = [
        np.asarray(Image.fromarray(x).resize(hr.shape[1::-1], Image.Resampling.NEAREST)),
        ev.bicubic_resize(x, hr.shape[:2]),
        liif.get_model("edsr-baseline").encode(x).render(hr.shape[:2]),
        chosen.encode(x).render(hr.shape[:2]),
        hr,
    ]
    gap = np.full((hr.shape[0], 4, 3), 255, np.uint8)
    strip = np.concatenate([t for pair in zip(tiles, [gap] * 5) for t in pair][:-1], axis=1)
    Image.fromarray(strip).save(path)
    return chosen.name


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument(
        "--models",
        nargs="*",
        default=None,
        help="registry names or .pth files (default: edsr-baseline and every model this project trained)",
    )
    ap.add_argument("--quick", action="store_true", help="3 photos, 1 micrograph, fewer cases and scales")
    ap.add_argument("--calibrate", action="store_true", help="print the chooser's signals per case")
    ap.add_argument("--figure", type=Path, help="write the crop figure here (PNG)")
    ap.add_argument("--no-micro", action="store_true", help="photos only")
    ap.add_argument("--no-photos", action="store_true", help="micrographs only")
    ap.add_argument("--csv", type=Path, help="also write every score (image, case, scale, method, PSNR, SSIM) here")
    ap.add_argument(
        "--micro-crop",
        type=int,
        default=CROP,
        help=f"side of the micrographs' central crop (default {CROP}; 0: the whole images, about 7x slower)",
    )
    args = ap.parse_args(argv)
    if args.micro_crop < 0:
        ap.error("--micro-crop takes a side in pixels, or 0 for the whole images")
    micro_size = f"central {args.micro_crop}-px crops" if args.micro_crop else "whole images"

    import torch

    torch.manual_seed(0)
    if args.models is None:
        from liif_plugin.hub import cache

        names = ["edsr-baseline"] + [n for n, e in cache.registry().items() if n != "edsr-baseline" and e.committed]
    else:
        names = args.models
    models = {Path(n).stem if n.endswith(".pth") else n: liif.get_model(n, device="cpu") for n in names}
    photos = PHOTOS[:3] if args.quick else PHOTOS
    pcases = ("clean", "jpeg75", "jpeg50", "noise3", "noise2+jpeg75") if args.quick else PHOTO_CASES
    mcases = ("clean", "photons500", "photons20") if args.quick else MICRO_CASES
    scales = (2.0, 4.0) if args.quick else SCALES
    print(
        f"# benchmarks/realworld.py on {cpu().summary()}; photos: crops of {CROP} px; micrographs: "
        + micro_size
        + "; models: "
        + ", ".join(f"{k} ({m.path.name if m.path else m.name})" for k, m in models.items())
    )
    print(f"# photos: {', '.join(photos)} (scikit-image); none is in any training set of this project")
    t0 = time.time()
    prow, ppicks = [], []
    if not args.no_photos:
        prow, ppicks = run({n: centre(photo(n), CROP) for n in photos}, pcases, scales, models, "photo")
        methods = [*models, "auto"]
        print("\n## Photos: gain over bicubic (PSNR dB, mean over images; worst image in brackets) and SSIM\n")
        print(table(prow, pcases, scales, methods))
        jpeg = [c for c in pcases if c.startswith("jpeg") and int(c[4:]) >= 50]
        groups = [("JPEG 50-90", jpeg), ("noise + JPEG", [c for c in pcases if "+" in c]), ("clean", ["clean"])]
        print("\nauto: " + summary(prow, groups, scales).replace("\n", "\nauto: "))
        if "edsr-baseline" in models:
            print("released " + summary(prow, [("clean", ["clean"])], scales, "edsr-baseline"))
    picks = ppicks
    if not args.no_micro:
        crop = (lambda x: x) if args.micro_crop == 0 else (lambda x: centre(x, args.micro_crop))
        mimgs = {n: crop(micro(n)) for n in (MICRO[:1] if args.quick else MICRO)}
        mrow, mpicks = run(mimgs, mcases, scales, models, "micro")
        print(f"\n## Micrographs ({', '.join(mimgs)}; {micro_size}): gain over bicubic and SSIM\n")
        print(table(mrow, mcases, scales, [*models, "auto"]))
        picks = ppicks + mpicks
        rows_all = prow + mrow
    else:
        rows_all = prow
    if args.csv:
        with open(args.csv, "w") as f:
            f.write("image,case,scale,method,psnr,ssim\n")
            f.writelines(f"{i},{c},{s:g},{m},{p:.4f},{q:.5f}\n" for i, c, s, m, p, q in rows_all)
    if args.calibrate:
        print(
            "\n## Chooser calibration (signals of the degraded inputs; thresholds: JPEG grid "
            f"{choose.JPEG_GRID}, JPEG tiers: light from quality {choose.JPEG_LIGHT_QUALITY}, heavy below "
            f"{choose.JPEG_HEAVY_QUALITY}, clean from {choose.JPEG_CLEAN_QUALITY}; "
            f"photo noise/detail {choose.NOISE_SHARE_PHOTO} (noise at least "
            f"{100 * choose.NOISE_FLOOR_PHOTO:g} %; the light noisy-photo model up to "
            f"{100 * choose.NOISE_PHOTO_LIGHT_MAX:g} %, or up to {100 * choose.NOISE_PHOTO_LIGHT_CAP:g} % at "
            f"noise/detail {choose.NOISE_SHARE_PHOTO_LIGHT:g} or less), "
            f"microscopy noise {100 * choose.NOISE_MICROSCOPY:g} %, light "
            f"microscopy from {choose.PHOTONS_LIGHT} photons up to {100 * choose.NOISE_LIGHT_MAX:g} % noise, "
            f"faint-noise microscopy up to {100 * choose.NOISE_FAINT_MAX:g} %)\n"
        )
        print(calibration(picks, rows_all))
    if args.figure:
        name = figure(args.figure, models)
        print(f"\nfigure: {args.figure} (chelsea x3, JPEG 50; auto chose {name})")
    print(f"\n# {time.time() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
