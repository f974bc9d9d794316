"""At which noise level does the released model start losing to bicubic? (prints a table)

    python benchmarks/noise_threshold.py [--size 256] [--sigmas 0,0.005,...]

Protocol: a centre crop (`--size` px, default 192) of bundled scikit-image images (microscopy: cell,
immunohistochemistry, microaneurysms, retina; photos: camera, astronaut) is the clean
ground truth HR in [0, 1]. LR is its PIL-bicubic x2 reduction. Poisson-Gaussian noise is added
to LR: variance a*x + b with b = s^2 / 2 and a = s^2 / (2 * mean(LR)), so the mean variance is
s^2 (half signal-dependent shot noise, half read noise); values are clipped to [0, 1]. LR goes
back to HR size with LIIF (edsr-baseline) and with the engine's bicubic on the same grid;
PSNR against the clean HR (2 px border removed). The table lists, per nominal s, the noise
sigma liif_plugin.quality.noise.estimate_noise reads on the noisy LR (mean over images), and the mean
PSNR gain over bicubic of LIIF at detail 1 and 0.5. The threshold in liif_plugin/quality/noise.py is the
estimate where the detail-1 gain crosses zero.
"""

import argparse

import numpy as np

import liif_plugin as liif
from liif_plugin.engine.classic import blend
from liif_plugin.quality import evaluate as ev
from liif_plugin.quality.noise import estimate_noise
from liif_plugin.sources.arrays import from_planes

IMAGES = ("cell", "immunohistochemistry", "microaneurysms", "retina", "camera", "astronaut")


def clean_hr(name, size):
    import skimage.data

    x = getattr(skimage.data, name)().astype(np.float32) / 255.0
    H, W = x.shape[:2]
    s = min(size, H, W) // 2 * 2
    y0, x0 = (H - s) // 2, (W - s) // 2
    return x[y0 : y0 + s, x0 : x0 + s]


def add_noise(x, s, rng):
    if s == 0:
        return x
    b = s * s / 2
    a = s * s / (2 * max(float(x.mean()), 1e-3))
    y = rng.poisson(x / a) * a + rng.normal(0.0, np.sqrt(b), x.shape)
    return np.clip(y, 0, 1).astype(np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=192)
    p.add_argument("--sigmas", default="0,0.005,0.01,0.015,0.02,0.03,0.05,0.08")
    p.add_argument("--images", default=",".join(IMAGES))
    args = p.parse_args(argv)
    m = liif.load_model("edsr-baseline", device="cpu")
    rng = np.random.default_rng(0)
    sigmas = [float(v) for v in args.sigmas.split(",")]
    names = args.images.split(",")
    print(f"{'s':>6} {'estimate':>9} {'gain d=1':>9} {'gain d=.5':>9}   per image: gain d=1 (dB) @ estimate")
    for s in sigmas:
        est, g1, g5 = [], [], []
        for name in names:
            hr = clean_hr(name, args.size)
            lr = np.clip(ev.degrade(hr, 2)[1], 0, 1)  # bicubic overshoots a little
            noisy = add_noise(lr, s, rng)
            est.append(estimate_noise(noisy))
            field = m.encode(noisy)
            full = (0.0, 0.0) + tuple(float(v) for v in noisy.shape[:2])
            bic = field.bicubic.render(full, hr.shape[:2])
            sr = field.render_planes(hr.shape[:2])
            pb = ev.psnr(hr, from_planes(bic, field.layout), data_range=1.0, border=2)
            g1.append(ev.psnr(hr, from_planes(sr, field.layout), data_range=1.0, border=2) - pb)
            half = from_planes(blend(sr, bic, 0.5), field.layout)  # the same blend as detail=0.5
            g5.append(ev.psnr(hr, half, data_range=1.0, border=2) - pb)
        per = " ".join(f"{n[:6]}={g:+.2f}@{e:.4f}" for n, g, e in zip(names, g1, est))
        print(f"{s:6.3f} {np.mean(est):9.4f} {np.mean(g1):+9.2f} {np.mean(g5):+9.2f}   {per}", flush=True)


if __name__ == "__main__":
    main()
