"""Calibrate model="auto"'s thresholds (liif_plugin.quality.choose): photos on the training photos,
micrographs on time-lapse frames no model was trained on.

    python scripts/calibrate_chooser.py jpeg --data ../shared/data/train-photos    # seconds
    python scripts/calibrate_chooser.py noise --data ../shared/data/train-photos   # ~30 min on 1 core
    python scripts/calibrate_chooser.py micro                                      # ~40 min on 2 cores
    python scripts/calibrate_chooser.py photo-light --data ../shared/data/train-photos  # ~15 min on 2 cores

Every third photo (40 of the 118): a random 192-px crop, shrunk by 2, 2.5, 3 or 4 (in turn) with the
benchmark's bicubic filter (48-96 px inputs, the hardest size to read), then degraded as
benchmarks/realworld.py degrades its held-out photos.

- ``jpeg``: clean, JPEG 95-30, noisy and noisy + JPEG inputs; the JPEG grid measure
  (choose.jpeg_grid) per case and the share above each candidate threshold (clean and noisy inputs
  must stay below JPEG_GRID, JPEG 75 and 50 above), and how often the quality read from the pixels
  (liif_plugin.quality.jpeg.quality_from_pixels) is the one the input was saved at.
- ``noise``: clean and 0.5-5 % Gaussian noise (every fourth photo gray); the released model and the
  noisy-photo model render each input, and for each candidate NOISE_SHARE_PHOTO the mean gain over
  bicubic that choosing by noise / fine detail would give. The photo model was fine-tuned on these
  photos, which flatters it: the held-out benchmark (realworld.py --calibrate) is the check.
- ``micro``: NOISE_FAINT_MAX, where light-tier micrographs go to the faint-noise model. Truths: the
  time-lapse frames of scripts/blend_weights.py --micro (MICRO_FRAMES: no model saw them, no benchmark
  scores on them), as its 192-px corners and as whole frames, read as 16-bit like StarDist's nuclei-2d,
  with camera noise of 1-8 % of the range in the truth (the more, the more of it any reference the user
  has carries); shrunk x2-x4, then the benchmark's photon noise. Every input the chooser sends to the
  light or faint tier is rendered by both models, and each candidate split is scored by the mean gain
  over bicubic and the count of inputs below it; then each tier's detail (the share of its model's
  difference from bicubic that the registry's ``detail`` keeps), on the inputs the split gives it.
- ``photo-light``: NOISE_PHOTO_LIGHT_MAX and the light noisy-photo model's alpha. The unseen
  scikit-image crops of scripts/blend_weights.py (UNSEEN: no model trained on them, no benchmark
  scores on them) at x2-x4 and, with --data, the training photos, clean and under Gaussian noise of
  0.5-5 %; every input the chooser reads as a noisy photo is rendered by the photo model, the released
  one and blends of the two, and each (alpha, split) is scored by the mean gain over bicubic; then, with
  the 0.5 blend, each (share, cap) of the second way in (NOISE_SHARE_PHOTO_LIGHT, NOISE_PHOTO_LIGHT_CAP)
  and each (ratio, cap) of the third, fine texture read as noise (TEXTURE_RATIO,
  NOISE_PHOTO_LIGHT_TEXTURE_CAP), with what the clean inputs among them lose to the released model.
"""

from __future__ import annotations

import argparse
import math
import sys
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import realworld as rw  # noqa: E402  (the benchmark's degradations, so the two agree)

from liif_plugin.quality import choose  # noqa: E402
from liif_plugin.quality import evaluate as ev  # noqa: E402
from liif_plugin.quality.jpeg import quality_from_pixels  # noqa: E402

JPEG_CASES = (
    "clean",
    "jpeg95",
    "jpeg90",
    "jpeg85",
    "jpeg75",
    "jpeg60",
    "jpeg50",
    "jpeg30",
    "noise1",
    "noise3",
    "noise2+jpeg75",
)
NOISE_CASES = ("clean", "noise0.5", "noise1", "noise2", "noise3", "noise5")
GRID_THRESHOLDS = (0.15, 0.25, 0.35, 0.45)
SHARE_THRESHOLDS = (0.15, 0.19, 0.21, 0.23, 0.25, 0.3)
MICRO_CASES = ("clean", "photons5000", "photons1000", "photons500", "photons200")
CAMERA_NOISE = (1.0, 2.0, 3.0, 4.0, 6.0, 8.0)  # % of the truth's range
FAINT_SPLITS = (0.85, 0.95, 1.05, 1.15, 1.25, 1.35)  # % of the input's range
MICRO_DETAILS = (0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0)  # shares of a model's difference from bicubic (its `detail`)
# Clean inputs too: a textured one can read as a noisy photo, and the rules act on it as on a noisy one.
PHOTO_LIGHT_CASES = ("clean", "noise0.5", "noise0.75", "noise1", "noise1.5", "noise2", "noise3", "noise5")
PHOTO_LIGHT_ALPHAS = (0.25, 0.5, 0.75)  # share of the noisy-photo model in a blend with the released one
PHOTO_LIGHT_SPLITS = (0.7, 0.85, 1.0, 1.2, 1.5, 2.0, 2.5)  # % of the input's range
PHOTO_LIGHT_SHARES = (0.28, 0.3, 0.32, 0.35)  # of the fine detail: the second way into the light tier
PHOTO_LIGHT_CAPS = (3.0, 4.0, 5.0, math.inf)  # % of the input's range: the share rule's upper bound
TEXTURE_RATIOS = (1.0, 1.1, 1.2, 1.3)  # coarse_noise_ratio above which the reading may be fine texture
TEXTURE_CAPS = (4.5, 5.0, 6.0, math.inf)  # % of the input's range: up to where such inputs get the light tier
PHOTO_LIGHT_SCALES = (2.0, 2.5, 3.0, 4.0)  # for the unseen crops (the training photos take one each, in turn)


def inputs(data: Path, every: int, cases, gray_every: int = 0):
    """(photo name, case, scale, ground truth, degraded input) for each photo and case."""
    files = sorted(f for f in data.iterdir() if f.suffix.lower() in (".png", ".jpg", ".jpeg"))[::every]
    rng = np.random.default_rng(0)
    for i, f in enumerate(files):
        gray = gray_every and i % gray_every == gray_every - 1
        im = np.asarray(Image.open(f).convert("L" if gray else "RGB"))
        a, b = rng.integers(0, im.shape[0] - 192), rng.integers(0, im.shape[1] - 192)
        s = (2.0, 2.5, 3.0, 4.0)[i % 4]
        hr, lr = ev.degrade(np.ascontiguousarray(im[a : a + 192, b : b + 192]), s)
        for k, case in enumerate(cases):
            yield f.name, case, s, hr, rw.degrade(lr, case, seed=i * 10 + k)


def jpeg(args) -> None:
    grids: dict[str, list[tuple[float, float]]] = {c: [] for c in JPEG_CASES}
    read: dict[str, list[int | None]] = {c: [] for c in JPEG_CASES}  # quality_from_pixels at the origin
    for _, case, _, _, x in inputs(args.data, args.every, JPEG_CASES):
        grids[case].append(choose.jpeg_grid(choose.luma(x))[:2])
        read[case].append(quality_from_pixels(x))
    print(f"JPEG_GRID = {choose.JPEG_GRID}, shifted grids {choose.JPEG_GRID_SHIFTED}\n")
    print(
        "| case | at origin (min-max) | best phase (max) | "
        + " | ".join(f"> {t}" for t in GRID_THRESHOLDS)
        + " | quality read: exact | other | none |"
    )
    print("|---|---|---|" + "---|" * (len(GRID_THRESHOLDS) + 3))
    for case, v in grids.items():
        g = np.array(v)
        shares = " | ".join(f"{np.mean(g[:, 0] > t):.0%}" for t in GRID_THRESHOLDS)
        true = int(case.split("jpeg")[1]) if "jpeg" in case else None
        q = read[case]
        exact, none = sum(r == true for r in q if r is not None), sum(r is None for r in q)
        others = sorted({r for r in q if r is not None and r != true})
        print(
            f"| {case} | {g[:, 0].min():.2f}-{g[:, 0].max():.2f} | {g[:, 1].max():.2f} | {shares} | "
            f"{exact} of {len(q)} | {', '.join(map(str, others)) or '-'} | {none} |"
        )


def noise(args) -> None:
    import liif_plugin as liif
    from liif_plugin.quality.noise import fine_detail

    released, photo = choose.model_for("clean"), choose.model_for("noisy-photo")
    models = {n: liif.get_model(n, device="cpu") for n in (released, photo)}
    rows = []  # (case, noise, share, gain of the released model, gain of the photo model)
    for name, case, s, hr, x in inputs(args.data, args.every, NOISE_CASES, gray_every=4):
        dr, border = ev.data_range_of(hr), math.ceil(s)
        base = ev.psnr(hr, ev.bicubic_resize(x, hr.shape[:2]), dr, border=border)
        gains = [ev.psnr(hr, m.encode(x).render(hr.shape[:2]), dr, border=border) - base for m in models.values()]
        sig = choose.measure(x)
        rows.append((case, sig.noise, sig.noise / max(fine_detail(x), 1e-9), *gains))
        print(
            f"  {name} {case} x{s:g}: noise/detail {rows[-1][2]:.2f}, gains {gains[0]:+.2f} {gains[1]:+.2f}",
            file=sys.stderr,
        )
    r = np.array([row[1:] for row in rows])
    cases = np.array([row[0] for row in rows])
    print(f"{len(rows)} inputs; released '{released}', noisy-photo model '{photo}'; mean gain over bicubic (dB)\n")
    print("| rule | all | " + " | ".join(NOISE_CASES) + " |")
    print("|---|---|" + "---|" * len(NOISE_CASES))
    choices = {"released always": np.zeros(len(r), bool), "photo model always": np.ones(len(r), bool)}
    for t in SHARE_THRESHOLDS:
        mark = " (NOISE_SHARE_PHOTO)" if t == choose.NOISE_SHARE_PHOTO else ""
        choices[f"noise/detail > {t}{mark}"] = (r[:, 0] > choose.NOISE_FLOOR_PHOTO) & (r[:, 1] > t)
    for label, noisy in choices.items():
        g = np.where(noisy, r[:, 3], r[:, 2])
        per = " | ".join(f"{g[cases == c].mean():+.2f}" for c in NOISE_CASES)
        print(f"| {label} | {g.mean():+.3f} | {per} |")
    best = np.maximum(r[:, 2], r[:, 3])
    print(
        f"| the better of the two, per input | {best.mean():+.3f} | "
        + " | ".join(f"{best[cases == c].mean():+.2f}" for c in NOISE_CASES)
        + " |"
    )


def photo_light_inputs(data: Path | None, every: int):
    """(set, case, scale, truth, input): the UNSEEN crops of scripts/blend_weights.py at x2-x4, and with --data
    the training photos as `noise` reads them (one scale each)."""
    import blend_weights as bw
    import skimage.data

    for n in bw.UNSEEN:
        gt = rw.centre(getattr(skimage.data, n)(), rw.CROP)
        for s in PHOTO_LIGHT_SCALES:
            hr, lr = ev.degrade(gt, s)
            for case in PHOTO_LIGHT_CASES:
                yield "unseen", case, s, hr, rw.degrade(lr, case, seed=zlib.crc32(f"{n}|{s}|{case}".encode()))
    if data is not None:
        for _, case, s, hr, x in inputs(data, every, PHOTO_LIGHT_CASES, gray_every=4):
            yield "training", case, s, hr, x


def photo_light(args) -> None:
    """Whether lightly noisy photos want a blend of the noisy-photo model with the released one, at which
    alpha and up to which noise: every input the chooser calls a noisy photo is rendered by the photo model,
    each blend of PHOTO_LIGHT_ALPHAS and the released model."""
    import blend_weights as bw

    import liif_plugin as liif

    released, photo = choose.model_for("clean"), choose.model_for("noisy-photo")
    models = {"photo": liif.get_model(photo, device="cpu"), "released": liif.get_model(released, device="cpu")}
    for a in PHOTO_LIGHT_ALPHAS:
        models[f"blend {a:g}"] = bw.blended_model(models["photo"].path, models["released"].path, a)
    rows = []  # (set, case, noise %, gains per model, noise / fine detail, coarse_noise_ratio)
    for where, case, s, hr, x in photo_light_inputs(args.data, args.every):
        sig = choose.measure(x)
        if sig.condition not in ("noisy-photo", "noisy-photo-light"):
            continue
        dr, border = ev.data_range_of(hr), math.ceil(s)
        base = ev.psnr(hr, ev.bicubic_resize(x, hr.shape[:2]), dr, border=border)
        g = [ev.psnr(hr, m.encode(x).render(hr.shape[:2]), dr, border=border) - base for m in models.values()]
        rows.append((where, case, 100 * sig.noise, g, sig.noise / max(sig.detail, 1e-9), sig.coarse_ratio))
        print(f"  {where} {case} x{s:g}: noise {100 * sig.noise:.2f} %, share {rows[-1][4]:.2f}, "
              f"ratio {sig.coarse_ratio:.2f}, gains " + " ".join(f"{v:+.2f}" for v in g), file=sys.stderr)  # fmt: skip
    names = list(models)
    for where in sorted({r[0] for r in rows}):
        sel = [r for r in rows if r[0] == where]
        nz = np.array([r[2] for r in sel])
        g = np.array([r[3] for r in sel])
        cases = [r[1] for r in sel]
        label = "scikit-image crops (UNSEEN of scripts/blend_weights.py)" if where == "unseen" else str(args.data)
        print(f"\n{len(sel)} inputs read as noisy photos, {label}; mean gain over bicubic (dB)\n")
        print("| case | inputs | noise % (min-max) | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for c in PHOTO_LIGHT_CASES:
            m = np.array([k == c for k in cases])
            if m.any():
                print(f"| {c} | {m.sum()} | {nz[m].min():.2f}-{nz[m].max():.2f} | "
                      + " | ".join(f"{v:+.2f}" for v in g[m].mean(0)) + " |")  # fmt: skip
        alphas = " | ".join(f"alpha {a:g}" for a in PHOTO_LIGHT_ALPHAS)
        print(f"\n| rule: blend up to the split, the photo model above | {alphas} |")
        print("|---|" + "---|" * len(PHOTO_LIGHT_ALPHAS))
        print("| photo model always | " + " | ".join(f"{g[:, 0].mean():+.3f}" for _ in PHOTO_LIGHT_ALPHAS) + " |")
        for t in PHOTO_LIGHT_SPLITS:
            cells = [np.where(nz <= t, g[:, 2 + j], g[:, 0]).mean() for j in range(len(PHOTO_LIGHT_ALPHAS))]
            print(f"| up to {t:g} % | " + " | ".join(f"{v:+.3f}" for v in cells) + " |")
        always = " | ".join(f"{g[:, 2 + j].mean():+.3f}" for j in range(len(PHOTO_LIGHT_ALPHAS)))
        print(f"| the blend always | {always} |")
        share, blend = np.array([r[4] for r in sel]), g[:, 2 + PHOTO_LIGHT_ALPHAS.index(0.5)]
        print_share_rule(nz, share, g[:, 0], blend)
        print_texture_rule(nz, share, np.array([r[5] for r in sel]), np.array(cases), g[:, 0], g[:, 1], blend)


def print_rule_table(title: str, alone_label: str, alone, rows, caps, light, mine) -> None:
    """One table of a way into the light tier: the mean gain with the half mix where `light(row, cap)` (boolean per
    input) holds, the worst change against the rule before it (`alone`: its gains, then the blend's and the photo
    model's per input) and how many inputs moved, per row value and cap; `mine` marks choose's cell."""
    print(f"\n| {title}: (rows), cap (columns) | " + " | ".join(f"{c:g} %" for c in caps) + " |")
    print("|---|" + "---|" * len(caps))
    print(f"| {alone_label} | {alone[0].mean():+.3f} |" + " |" * (len(caps) - 1))
    for r in rows:
        cells = []
        for c in caps:
            g = np.where(light(r, c), alone[1], alone[2])
            cells.append(
                f"{g.mean():+.3f} (worst {np.min(g - alone[0]):+.2f}, {np.sum(g != alone[0])} moved)"
                + (" (`choose`)" if (r, c) == mine else "")
            )
        print(f"| {r:g} | " + " | ".join(cells) + " |")


def print_share_rule(nz, share, photo, blend) -> None:
    """The second way into the light tier: the blend also where the noise is at most a share of the fine detail and
    at most a cap; the mean gain, and the worst change against the split alone, per (share, cap)."""
    split = nz <= 100 * choose.NOISE_PHOTO_LIGHT_MAX
    print_rule_table(
        f"alpha 0.5 up to {100 * choose.NOISE_PHOTO_LIGHT_MAX:g} %, or at most a share of the fine detail up to a "
        "cap: share",
        "the split alone",
        (np.where(split, blend, photo), blend, photo),
        PHOTO_LIGHT_SHARES,
        PHOTO_LIGHT_CAPS,
        lambda t, c: split | ((nz <= c) & (share <= t)),
        (choose.NOISE_SHARE_PHOTO_LIGHT, 100 * choose.NOISE_PHOTO_LIGHT_CAP),
    )


def print_texture_rule(nz, share, ratio, cases, photo, released, blend) -> None:
    """The third way into the light tier: what may be fine texture read as noise (coarse_noise_ratio above a
    ratio), up to a cap; the mean gain and the worst change against the split and share rule alone, per (ratio,
    cap), and what clean inputs read as noisy photos lose against the released model."""
    split = nz <= 100 * choose.NOISE_PHOTO_LIGHT_MAX
    by_share = (nz <= 100 * choose.NOISE_PHOTO_LIGHT_CAP) & (share <= choose.NOISE_SHARE_PHOTO_LIGHT)
    alone = np.where(split | by_share, blend, photo)
    print_rule_table(
        "alpha 0.5 by the split and share rule, or where the reading may be texture: ratio",
        "the split and share rule alone",
        (alone, blend, photo),
        TEXTURE_RATIOS,
        TEXTURE_CAPS,
        lambda r, c: split | by_share | ((nz <= c) & (ratio > r)),
        (choose.TEXTURE_RATIO, 100 * choose.NOISE_PHOTO_LIGHT_TEXTURE_CAP),
    )
    clean = cases == "clean"
    if clean.any():
        chosen = np.where(
            [choose.light_photo(n / 100, n / 100 / max(sh, 1e-9), ra) for n, sh, ra in zip(nz, share, ratio)],
            blend,
            photo,
        )
        print(f"\n{clean.sum()} clean inputs read as noisy photos (coarse ratio {ratio[clean].min():.2f}-"
              f"{ratio[clean].max():.2f}): released model {released[clean].mean():+.2f} dB over bicubic, `auto` before "
              f"the texture rule {alone[clean].mean():+.2f}, now {chosen[clean].mean():+.2f}")  # fmt: skip


def micro_truths(whole: bool) -> dict[str, np.ndarray]:
    """The held-out time-lapse frames, whole or as scripts/blend_weights.py's corners (8-bit, before noise)."""
    import blend_weights as bw

    from liif_plugin.hub.sample_data import load

    stack = load("bio-timelapse")
    if whole:
        return {f"t{t}": stack[t] for t in bw.MICRO_FRAMES}
    return {
        f"t{t}-{y}-{x}": stack[t, y : y + rw.CROP, x : x + rw.CROP]
        for t in bw.MICRO_FRAMES
        for y, x in bw.MICRO_CORNERS
    }


def micro_inputs(levels):
    """(label, camera noise %, ground truth, degraded input, scale) for each truth, level, scale and case."""
    for whole in (False, True):
        truths = micro_truths(whole)
        for r in levels:
            for name, base in truths.items():
                c = base.astype(np.float64)
                rng = np.random.default_rng(zlib.crc32(f"{name}|{r}".encode()))
                noisy = c + rng.normal(0, r / 100 * (c.max() - c.min()), c.shape)
                gt = np.clip(np.rint(noisy), 0, 65535).astype(np.uint16)
                for s in (2.0, 3.0, 4.0):
                    hr, lr = ev.degrade(gt, s)
                    for j, case in enumerate(MICRO_CASES):
                        x = rw.degrade(lr, case, seed=zlib.crc32(f"{name}|{r}|{s}|{j}".encode()))
                        yield ("whole" if whole else "corner"), r, hr, x, s


def micro(args) -> None:
    import liif_plugin as liif
    from liif_plugin.hub import cache

    tiers = ("noisy-microscopy-light", "noisy-microscopy-faint")
    names = [choose.model_for(t) for t in tiers]
    # Each model as a plain checkpoint (detail 1), so every share of its difference from bicubic can be scored;
    # "served" is the share its registry entry keeps (LiifModel.detail).
    models = [liif.load_model(cache.path_of(n), device="cpu") for n in names]
    served = [cache.entry(n).detail for n in names]
    rows = []  # (noise %, camera noise %, then per model: its gain at each of MICRO_DETAILS)
    for label, r, hr, x, s in micro_inputs(args.levels):
        sig = choose.measure(x)
        if sig.condition not in tiers:
            continue
        dr, border = ev.data_range_of(hr), math.ceil(s)
        bic = ev.bicubic_resize(x, hr.shape[:2]).astype(np.float64)
        base = ev.psnr(hr, bic, dr, border=border)
        gains = []
        for m in models:
            raw = m.encode(x).render(hr.shape[:2]).astype(np.float64)
            gains += [ev.psnr(hr, bic + d * (raw - bic), dr, border=border) - base for d in MICRO_DETAILS]
        rows.append((100 * sig.noise, r, *gains))
        print(f"  {label} {r:g} % x{s:g}: noise {rows[-1][0]:.2f} %", file=sys.stderr)
    a = np.array(rows)
    k = len(MICRO_DETAILS)
    at = lambda i, d: a[:, 2 + i * k + MICRO_DETAILS.index(d)]  # noqa: E731  (model i's gains at detail d)
    light, faint = at(0, served[0]), at(1, served[1])
    print(
        f"{len(a)} light-tier inputs; light model '{names[0]}' (detail {served[0]:g}), faint-noise model "
        f"'{names[1]}' (detail {served[1]:g}); gain over bicubic (dB)\n"
    )
    print("| camera noise in the truth | inputs | input noise % (min-max) | light model | faint-noise model |")
    print("|---|---|---|---|---|")
    for r in args.levels:
        m = a[:, 1] == r
        if m.any():
            print(
                f"| {r:g} % | {m.sum()} | {a[m, 0].min():.2f}-{a[m, 0].max():.2f} | "
                f"{light[m].mean():+.3f} | {faint[m].mean():+.3f} |"
            )
    print("\n| rule | mean gain | worst | below bicubic | below -0.1 dB |\n|---|---|---|---|---|")
    rules = {"light model always": np.full(len(a), -np.inf), "faint-noise model always": np.full(len(a), np.inf)}
    for t in FAINT_SPLITS:
        mark = " (NOISE_FAINT_MAX)" if abs(t - 100 * choose.NOISE_FAINT_MAX) < 1e-9 else ""
        rules[f"faint-noise model up to {t:g} %{mark}"] = np.full(len(a), t)
    for label, split in rules.items():
        g = np.where(a[:, 0] <= split, faint, light)
        print(f"| {label} | {g.mean():+.3f} | {g.min():+.2f} | {np.sum(g < 0)} | {np.sum(g < -0.1)} |")
    # Each tier's detail (the registry's `detail`): the share of the model's difference from bicubic it keeps,
    # scored on the inputs the split at NOISE_FAINT_MAX gives that tier.
    faint_side = a[:, 0] <= 100 * choose.NOISE_FAINT_MAX
    print("\n| tier | inputs | " + " | ".join(f"detail {d:g}" for d in MICRO_DETAILS) + " |")
    print("|---|---|" + "---|" * k)
    for i, (tier, side) in enumerate(zip(tiers, (~faint_side, faint_side))):
        cells = []
        for d in MICRO_DETAILS:
            g = at(i, d)[side]
            mark = "*" if d == served[i] else ""
            cells.append(f"{g.mean():+.3f}{mark} ({np.sum(g < 0)} below)" if len(g) else "-")
        print(f"| {tier} | {side.sum()} | " + " | ".join(cells) + " |")
    print("\n(* the detail the registry gives the tier's model; in brackets: inputs below bicubic)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("part", choices=("jpeg", "noise", "micro", "photo-light"))
    p.add_argument("--data", type=Path, help="training photos (PNG/JPEG): jpeg, noise; photo-light optional")
    p.add_argument("--every", type=int, default=3, help="use every n-th photo (default 3)")
    p.add_argument("--levels", type=float, nargs="*", default=CAMERA_NOISE, help="micro: camera noise in the truth, %%")
    args = p.parse_args()
    if args.part == "photo-light":
        print(f"photo-light calibration on scikit-image crops{' and ' + str(args.data) if args.data else ''}")
    elif args.part == "micro":
        print(f"micro calibration on time-lapse frames, camera noise {', '.join(f'{r:g}' for r in args.levels)} %")
    elif args.data is None:
        p.error(f"{args.part} needs --data (a folder of training photos)")
    else:
        print(f"{args.part} calibration on one photo in {args.every} of {args.data}")
    {"jpeg": jpeg, "noise": noise, "micro": micro, "photo-light": photo_light}[args.part](args)


if __name__ == "__main__":
    main()
