"""How faithful is LIIF on real fluorescence microscopy, clean and noisy? (prints tables)

    python benchmarks/microscopy.py [--quick] [--csv FILE] [--figure FILE]

Protocol. Images: the StarDist nuclei image `nuclei-2d` (img2d.tif, real fluorescence from the
2018 Data Science Bowl, fetched with `liif data fetch`) and scikit-image's `cell` (a real
microscope image that ships inside the scikit-image wheel, no download). Each is stretched to
[0, 1] (min..max), smoothed with a Gaussian of sigma 1 px to make a nearly noise-free clean
reference, centre-cropped (`--crop` px) and stretched again, so 1 is the crop's peak. For each
scale s the clean image is cut to a multiple of s and reduced with PIL bicubic
(liif_plugin.quality.evaluate.degrade); the small image (LR) is clipped to [0, 1]. Noise: none, or
Poisson shot noise with P photons at the peak (value 1) plus Gaussian read noise of sigma
READ_NOISE (in [0, 1] units), clipped to [0, 1]. The figure (--figure) shows the central 96 px of
the first image at x2, one row per noise level, one display range for every panel.
Methods, all back to the clean image's size on LIIF's pixel grid: the engine's bicubic
(liif_plugin.engine.classic, PIL's filter at LIIF's pixel centres), LIIF (edsr-baseline), LIIF at
detail 0.5 (bicubic + 0.5 * (LIIF - bicubic), the same blend as `upscale(..., detail=0.5)`), the
noise-robust model `edsr-baseline-denoise` (`denoise`; edsr-baseline fine-tuned on noisy inputs,
docs/weights.md), and
NL-means (skimage denoise_nl_means, h = 0.8 sigma, sigma read by estimate_noise, since
skimage's estimate_sigma needs PyWavelets, not a dependency) on the LR followed by bicubic or by
LIIF. Metrics: PSNR and SSIM (liif_plugin.quality.evaluate) against the clean reference, a border of s px
removed. `est` is liif_plugin.quality.noise.estimate_noise on the noisy LR and `warn` says whether the CLI
and the widgets would show their noise warning for the released model (est >= NOISE_THRESHOLD).
"""

import argparse
import csv
import time

import numpy as np

import liif_plugin as liif
from liif_plugin.engine.classic import blend
from liif_plugin.quality import evaluate as ev
from liif_plugin.quality.noise import NOISE_THRESHOLD, RELEASED_MODEL, ROBUST_MODEL, estimate_noise, noise_warning
from liif_plugin.sources.arrays import from_planes

READ_NOISE = 0.005  # Gaussian read noise sigma, [0, 1] units, added whenever there is shot noise
METHODS = ("bicubic", "liif", "liif d=0.5", "denoise", "nlm+bicubic", "nlm+liif")
FIGURE_COLUMNS = ("LR (nearest)", "bicubic", "liif", "liif d=0.5", "denoise", "clean")


def stretch(x: np.ndarray) -> np.ndarray:
    x = x.astype(np.float32)
    return (x - x.min()) / max(float(x.max() - x.min()), 1e-12)


def clean_image(name: str, crop: int) -> np.ndarray:
    """Clean reference in [0, 1]: the image stretched, smoothed (Gaussian, sigma 1), cropped, stretched."""
    from skimage.filters import gaussian

    if name == "nuclei-2d":
        from liif_plugin.hub.sample_data import nuclei_2d

        raw = nuclei_2d()
    else:
        import skimage.data

        raw = getattr(skimage.data, name)()
    x = gaussian(stretch(raw), sigma=1.0, preserve_range=True)
    H, W = x.shape
    c = min(crop, H, W)
    y0, x0 = (H - c) // 2, (W - c) // 2
    return stretch(x[y0 : y0 + c, x0 : x0 + c])


def add_photon_noise(x: np.ndarray, photons: float, rng: np.random.Generator) -> np.ndarray:
    """Poisson noise with `photons` at value 1, plus READ_NOISE Gaussian read noise; 0 photons: no noise."""
    if photons == 0:
        return x
    y = rng.poisson(x * photons) / photons + rng.normal(0.0, READ_NOISE, x.shape)
    return np.clip(y, 0, 1).astype(np.float32)


def nl_means(x: np.ndarray, sigma: float) -> np.ndarray:
    """skimage's NL-means for noise `sigma` (h = 0.8 sigma); sigma 0 leaves x as it is."""
    from skimage.restoration import denoise_nl_means

    if sigma <= 0:
        return x
    y = denoise_nl_means(x, h=0.8 * sigma, sigma=sigma, patch_size=5, patch_distance=6, fast_mode=True)
    return np.clip(y, 0, 1).astype(np.float32)


def restore(model, lr: np.ndarray, shape: tuple[int, int], robust=None) -> dict[str, np.ndarray]:
    """bicubic, LIIF, LIIF at detail 0.5 (and the `robust` model's LIIF) of `lr` at `shape`, all on LIIF's grid."""
    field = model.encode(lr)
    full = (0.0, 0.0) + tuple(float(v) for v in lr.shape[:2])
    bic = field.bicubic.render(full, shape)
    sr = field.render_planes(shape)
    half = blend(sr.copy(), bic, 0.5)  # the same blend as detail=0.5
    planes = {"bicubic": bic, "liif": sr, "liif d=0.5": half}
    if robust is not None:
        planes["denoise"] = robust.encode(lr).render_planes(shape)
    return {k: from_planes(v, field.layout) for k, v in planes.items()}


def level_name(photons: float) -> str:
    return "none" if photons == 0 else f"{photons:g}"


def run(
    images: list[str], scales: list[int], levels: list[float], crop: int, with_nlm: bool, figure_image: str
) -> tuple[list[dict], dict]:
    """One row per (image, scale, noise level) with est, warn, PSNR/SSIM per method; figure panels."""
    model = liif.load_model(RELEASED_MODEL, device="cpu")
    robust = liif.load_model(ROBUST_MODEL, device="cpu")
    rng = np.random.default_rng(0)
    rows, panels = [], {}
    for name in images:
        clean = clean_image(name, crop)
        for s in scales:
            hr, lr = ev.degrade(clean, s)
            lr = np.clip(lr, 0, 1)  # bicubic overshoots a little
            for photons in levels:
                noisy = add_photon_noise(lr, photons, rng)
                est = estimate_noise(noisy)
                out = restore(model, noisy, hr.shape, robust)
                if with_nlm:
                    den = restore(model, nl_means(noisy, est), hr.shape)
                    out["nlm+bicubic"], out["nlm+liif"] = den["bicubic"], den["liif"]
                row = {
                    "image": name,
                    "scale": s,
                    "photons": level_name(photons),
                    "est": est,
                    "warn": noise_warning(RELEASED_MODEL, est) is not None,
                }
                for k, y in out.items():
                    row[f"psnr {k}"] = ev.psnr(hr, y, data_range=1.0, border=s)
                    row[f"ssim {k}"] = ev.ssim(hr, y, data_range=1.0, border=s)
                rows.append(row)
                if name == figure_image and s == 2:
                    near = np.repeat(np.repeat(noisy, s, axis=0), s, axis=1)
                    panels[level_name(photons)] = [
                        near,
                        out["bicubic"],
                        out["liif"],
                        out["liif d=0.5"],
                        out["denoise"],
                        hr,
                    ]
                print(f"  {name} x{s} photons={level_name(photons)} done", flush=True)
    return rows, panels


def mean_rows(rows: list[dict]) -> list[dict]:
    """Mean over images per (scale, noise level)."""
    keys = [k for k in rows[0] if k.startswith(("psnr", "ssim")) or k == "est"]
    out = []
    for s, p in dict.fromkeys((r["scale"], r["photons"]) for r in rows):
        group = [r for r in rows if r["scale"] == s and r["photons"] == p]
        warned = f"{sum(r['warn'] for r in group)}/{len(group)}"
        m = {"image": "mean", "scale": s, "photons": p, "warn": warned}
        m.update({k: float(np.mean([r[k] for r in group])) for k in keys})
        out.append(m)
    return out


def print_table(rows: list[dict], methods: list[str]) -> None:
    """Markdown table: PSNR (dB) / SSIM per method, and the PSNR gains of LIIF and denoise over bicubic."""
    head = ["image", "x", "photons", "est", "warn"] + methods + ["LIIF - bicubic dB", "denoise - bicubic dB"]
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join(["---"] * 3 + ["---:"] * (len(head) - 3)) + "|")
    for r in rows:
        warn = r["warn"] if isinstance(r["warn"], str) else ("yes" if r["warn"] else "no")
        cells = [r["image"], str(r["scale"]), r["photons"], f"{r['est']:.4f}", warn]
        cells += [f"{r['psnr ' + k]:.2f} / {r['ssim ' + k]:.3f}" for k in methods]
        cells.append(f"{r['psnr liif'] - r['psnr bicubic']:+.2f}")
        cells.append(f"{r['psnr denoise'] - r['psnr bicubic']:+.2f}")
        print("| " + " | ".join(cells) + " |")


def write_figure(panels: dict, path: str, zoom: int = 2, size: int = 96) -> None:
    """Crop grid PNG: one row per noise level, FIGURE_COLUMNS as columns, one display range for all."""
    from PIL import Image, ImageDraw

    first = next(iter(panels.values()))
    H, W = first[-1].shape
    y0, x0 = (H - size) // 2, (W - size) // 2
    lo, hi = np.percentile(first[-1], (0.5, 99.5))  # the clean image's range, for every panel
    pad, label = 4, 14
    cell = size * zoom
    grid = Image.new("L", (len(FIGURE_COLUMNS) * (cell + pad) + 60, label + len(panels) * (cell + pad)), 255)
    draw = ImageDraw.Draw(grid)
    for j, title in enumerate(FIGURE_COLUMNS):
        draw.text((60 + j * (cell + pad), 1), title, fill=0)
    for i, (level, images) in enumerate(panels.items()):
        top = label + i * (cell + pad)
        draw.text((2, top + cell // 2), "photons\n" + level, fill=0)
        for j, y in enumerate(images):
            v = np.clip((y[y0 : y0 + size, x0 : x0 + size] - lo) / (hi - lo), 0, 1)
            tile = Image.fromarray(np.uint8(np.rint(v * 255))).resize((cell, cell), Image.NEAREST)
            grid.paste(tile, (60 + j * (cell + pad), top))
    grid.save(path, optimize=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="defaults --crop 128 --scales 2,4 --photons 0,100")
    p.add_argument("--crop", type=int, help="centre crop of each clean image, px (default 256)")
    p.add_argument("--scales", help="default 2,3,4")
    p.add_argument("--photons", help="photons at the peak, 0 = no noise (default 0,5000,500,100,20)")
    p.add_argument("--images", default="nuclei-2d,cell")
    p.add_argument("--no-nlm", action="store_true", help="leave out the NL-means columns")
    p.add_argument("--csv", help="write every row (per image and mean) to this CSV file")
    p.add_argument("--figure", help="write a crop grid PNG of the first image at x2")
    args = p.parse_args(argv)
    defaults = (128, "2,4", "0,100") if args.quick else (256, "2,3,4", "0,5000,500,100,20")
    args.crop, args.scales, args.photons = (
        v if v is not None else d for v, d in zip((args.crop, args.scales, args.photons), defaults)
    )
    images = args.images.split(",")
    scales = [int(v) for v in args.scales.split(",")]
    levels = [float(v) for v in args.photons.split(",")]
    methods = [m for m in METHODS if not (args.no_nlm and m.startswith("nlm"))]
    t0 = time.perf_counter()
    rows, panels = run(images, scales, levels, args.crop, not args.no_nlm, images[0])
    means = mean_rows(rows)
    print(
        f"\nPSNR (dB) / SSIM against the clean image, crop {args.crop} px, border s px; "
        f"warn = estimate >= NOISE_THRESHOLD ({NOISE_THRESHOLD}); read noise {READ_NOISE}\n"
    )
    print_table(rows, methods)
    print("\nMean over images:\n")
    print_table(means, methods)
    print(f"\n{time.perf_counter() - t0:.0f} s")
    if args.csv:
        with open(args.csv, "w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=list(rows[0]))
            w.writeheader()
            w.writerows(rows + means)
    if args.figure and panels:
        write_figure(panels, args.figure)


if __name__ == "__main__":
    main()
