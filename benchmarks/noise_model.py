"""The noise-robust model against the released one: clean photos and noisy microscopy (prints tables).

    python benchmarks/noise_model.py [--models edsr-baseline,edsr-baseline-denoise,FILE.pth ...] [--quick]
    python benchmarks/noise_model.py --photos-only   # the clean-photo table alone
    python benchmarks/noise_model.py --check   # the numbers the registry records for edsr-baseline-denoise

Clean photos (was the clean quality kept?): the protocol of `benchmarks/quality.py gains`, on
images no training run here has seen: the top-left 240x240 crops of the RGB photos astronaut,
chelsea and rocket and of the gray camera and moon, LR by PIL bicubic on uint8, back to HR size,
PSNR on RGB with a border of `scale` px, mean over the five images, x2 x3 x4; bicubic is PIL's.
Noisy microscopy: the protocol of benchmarks/microscopy.py (nuclei-2d and cell, 256 px crops,
Poisson photons at the peak + read noise 0.005, same noise draws), mean PSNR over the two images
per scale and noise level, with the engine's bicubic on LIIF's grid. Use it to pick a checkpoint;
benchmarks/microscopy.py gives the full table (SSIM, NL-means, figure).
`--check` prints the small fixed case tests/test_noise_model.py reproduces.
"""

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import microscopy as mic  # noqa: E402  (the microscopy protocol, one copy)

import liif_plugin as liif  # noqa: E402
from liif_plugin.quality import evaluate as ev  # noqa: E402
from liif_plugin.quality.noise import RELEASED_MODEL, ROBUST_MODEL  # noqa: E402
from liif_plugin.sources.arrays import from_planes  # noqa: E402

PHOTOS = ("astronaut", "chelsea", "rocket", "camera", "moon")
CHECK = {"image": "cell", "crop": 128, "scale": 2, "photons": (0, 500, 20), "seed": 0}


def clean_photos(models: dict, scales: list[int], crop: int = 240) -> dict:
    """{(method, scale): mean PSNR} over PHOTOS; method 'bicubic' or a model's label."""
    import skimage.data

    out = {}
    for s in scales:
        acc = {}
        for name in PHOTOS:
            hr, lr = ev.degrade(getattr(skimage.data, name)()[:crop, :crop], s)
            acc.setdefault("bicubic", []).append(ev.psnr(hr, ev.bicubic_resize(lr, hr.shape[:2]), border=s))
            for label, m in models.items():
                acc.setdefault(label, []).append(ev.psnr(hr, m.encode(lr).render(hr.shape[:2]), border=s))
        out.update({(k, s): float(np.mean(v)) for k, v in acc.items()})
    return out


def microscopy(models: dict, scales: list[int], levels: list[float], crop: int = 256) -> dict:
    """{(method, scale, level): mean PSNR} over nuclei-2d and cell, with microscopy.py's noise draws."""
    rng = np.random.default_rng(0)
    acc = {}
    for name in ("nuclei-2d", "cell"):
        clean = mic.clean_image(name, crop)
        for s in scales:
            hr, lr = ev.degrade(clean, s)
            lr = np.clip(lr, 0, 1)
            for p in levels:
                noisy = mic.add_photon_noise(lr, p, rng)
                outs = {label: m.encode(noisy) for label, m in models.items()}
                full = (0.0, 0.0) + tuple(float(v) for v in noisy.shape)
                first = next(iter(outs.values()))
                bic = from_planes(first.bicubic.render(full, hr.shape), first.layout)
                acc.setdefault(("bicubic", s, p), []).append(ev.psnr(hr, bic, data_range=1.0, border=s))
                for label, f in outs.items():
                    y = from_planes(f.render_planes(hr.shape), f.layout)
                    acc.setdefault((label, s, p), []).append(ev.psnr(hr, y, data_range=1.0, border=s))
    return {k: float(np.mean(v)) for k, v in acc.items()}


def check_numbers(model) -> dict[str, float]:
    """PSNR of `model` on the fixed CHECK case (microscopy.py's protocol), keyed 'photons=P'."""
    rng = np.random.default_rng(CHECK["seed"])
    hr, lr = ev.degrade(mic.clean_image(CHECK["image"], CHECK["crop"]), CHECK["scale"])
    lr = np.clip(lr, 0, 1)
    out = {}
    for p in CHECK["photons"]:
        noisy = mic.add_photon_noise(lr, p, rng)
        f = model.encode(noisy)
        y = from_planes(f.render_planes(hr.shape), f.layout)
        out[f"photons={p:g}"] = round(ev.psnr(hr, y, data_range=1.0, border=CHECK["scale"]), 3)
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument(
        "--models",
        default=f"{RELEASED_MODEL},{ROBUST_MODEL}",
        help="registry names or checkpoint files, comma separated",
    )
    p.add_argument("--quick", action="store_true", help="x2 and x4, photons 0,500,20")
    p.add_argument("--check", action="store_true", help="print the fixed check case's numbers and stop")
    p.add_argument("--photos-only", action="store_true", help="only the clean-photo table")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    if args.check:
        print(check_numbers(liif.load_model(ROBUST_MODEL, device="cpu")))
        return 0
    models = {
        Path(n).stem if n.endswith(".pth") else n: liif.load_model(n, device="cpu") for n in args.models.split(",")
    }
    scales = [2, 4] if args.quick else [2, 3, 4]
    levels = [0, 500, 20] if args.quick else [0, 5000, 500, 100, 20]
    labels = ["bicubic"] + list(models)
    photos = clean_photos(models, scales)
    print("\nClean photos (astronaut, chelsea, rocket, camera, moon; 240 px top-left), mean PSNR dB\n")
    print("| x | " + " | ".join(labels) + " |\n|---|" + "---:|" * len(labels))
    for s in scales:
        print(f"| {s} | " + " | ".join(f"{photos[(k, s)]:.2f}" for k in labels) + " |")
    if args.photos_only:
        print(f"\n{time.perf_counter() - t0:.0f} s")
        return 0
    micro = microscopy(models, scales, levels)
    print("\nNoisy microscopy (nuclei-2d, cell; 256 px), mean PSNR dB\n")
    print("| x | photons | " + " | ".join(labels) + " |\n|---|---|" + "---:|" * len(labels))
    for s in scales:
        for lv in levels:
            print(f"| {s} | {mic.level_name(lv)} | " + " | ".join(f"{micro[(k, s, lv)]:.2f}" for k in labels) + " |")
    print(f"\n{time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
