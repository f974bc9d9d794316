"""Speed and scale benchmark: prints one table, every figure measured in this run.

    .venv/bin/python benchmarks/speed.py            # full: 128->512 paths, 2048->4096 memory case
    .venv/bin/python benchmarks/speed.py --quick    # smaller large case (512->1024), fewer repeats

Rows: the readable reference decoder and the fast decoder on the same cached field, side by side
and repeated (the best of the repeats counts, as other work on a shared CPU only slows a run
down); their ratio and max abs difference; peak RSS of a whole upscale of a large image (run in a
child process so that only its own memory counts); the interactive latency of a cached field
(the notebook widget / napari preview case); dask on a 2-worker LocalCluster against the in-memory
result; and, where CUDA is present, GPU throughput and the PSNR cost of half precision.
"""
import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from skimage import data

import liif_plugin as liif


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def photo(n):
    """A real n x n RGB photo (astronaut, resized with plain area averaging, no LIIF involved)."""
    from skimage.transform import resize

    img = resize(data.astronaut(), (n, n), anti_aliasing=True, preserve_range=True)
    return img.round().astype(np.uint8)


def paths(model, n_in, n_out, repeats):
    field = model.encode(photo(n_in))
    field.render_planes((8, 8))  # builds the cached first-layer map outside the timing
    fast_t, ref_t, diff = [], [], 0.0
    for _ in range(repeats):
        tf, a = timed(lambda: field.render_planes((n_out, n_out)))
        tr, r = timed(lambda: field.render_planes((n_out, n_out), reference=True))
        fast_t.append(tf)
        ref_t.append(tr)
        diff = max(diff, float(np.abs(a - r).max()))
    return min(ref_t), min(fast_t), diff, ref_t, fast_t


def large_child(n_in, scale):
    """Runs in a child process: one whole liif.upscale call, then reports its own peak RSS.

    Above api.BLOCKWISE_LATENTS latent codes upscale() goes block by block, so the big case
    measures the bounded-memory path and the small ones the whole-image path.
    """
    import resource

    img = photo(n_in)
    model = liif.load_model(device="cpu")
    t, out = timed(lambda: liif.upscale(img, scale, model=model))
    peak_kb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": t, "peak_rss_mb": peak_kb / 1024, "shape": list(out.shape)}))


def large(n_in, scale):
    cmd = [sys.executable, os.path.abspath(__file__), "--large-child", str(n_in), str(scale)]
    res = subprocess.run(cmd, capture_output=True, text=True, check=True)
    return json.loads(res.stdout.strip().splitlines()[-1])


def latency(model, repeats):
    """A 512x512 viewport of a cached field: a quarter-size preview first, then the full view."""
    field = model.encode(photo(256))
    region = (40.0, 60.0, 168.0, 188.0)  # a 128x128 window shown at 512x512 (x4 zoom)
    field.render_planes((8, 8), region)
    pre, full = [], []
    for _ in range(repeats):
        pre.append(timed(lambda: field.render_planes((128, 128), region))[0])
        full.append(timed(lambda: field.render_planes((512, 512), region))[0])
    return min(pre), min(full)


def dask_case(model):
    import distributed

    import liif_plugin.dask as ld

    img = photo(256)
    t_mem, ref = timed(lambda: liif.upscale(img.astype(np.float32) / 255, scale=2, model=model))
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster, distributed.Client(cluster) as client:
        y = ld.upscale(img.astype(np.float32) / 255, scale=2, model=model, block=128)
        client.compute(y[:8, :8]).result()  # workers load the model before timing
        t_dask, got = timed(lambda: client.compute(y).result())
    return t_mem, t_dask, float(np.abs(got - ref).max())


def gpu_case():
    if not torch.cuda.is_available():
        return None
    img = photo(256)
    m32 = liif.load_model(device="cuda")
    m16 = liif.load_model(device="cuda", half=True)
    f32 = m32.encode(img)
    f32.render((64, 64))
    torch.cuda.synchronize()
    t, out32 = timed(lambda: f32.render((1024, 1024)))
    out16 = m16.encode(img).render((1024, 1024))
    from liif_plugin.evaluate import psnr

    return 1024 * 1024 / t, psnr(out32, out16)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller large case and fewer repeats")
    ap.add_argument("--large", type=int, default=None, help="input side of the memory case (default 2048)")
    ap.add_argument("--large-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.large_child:
        return large_child(int(args.large_child[0]), float(args.large_child[1]))
    repeats = 2 if args.quick else 3
    model = liif.load_model(device="cpu")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average "
          f"{os.getloadavg()[0]:.1f} at start (other work on the CPU slows every figure)", flush=True)

    rows = []
    n_px = 512 * 512
    t_ref, t_fast, diff, all_ref, all_fast = paths(model, 128, 512, repeats)
    rows.append(("reference decoder, 128->512", f"{t_ref:.2f} s", f"{n_px / t_ref / 1e3:.1f} k px/s"))
    rows.append(("fast decoder, 128->512", f"{t_fast:.2f} s", f"{n_px / t_fast / 1e3:.1f} k px/s"))
    rows.append(("fast / reference", f"{t_ref / t_fast:.2f} x", f"max |diff| {diff:.1e}"))
    rows.append(("  (all repeats, s)", "ref " + " ".join(f"{v:.2f}" for v in all_ref),
                 "fast " + " ".join(f"{v:.2f}" for v in all_fast)))

    for n_in in (128, 256):  # the reference table's two cases (DESIGN.md)
        r = large(n_in, 4)
        rows.append((f"upscale {n_in}->{4 * n_in}, whole call", f"{r['seconds']:.1f} s",
                     f"{(4 * n_in) ** 2 / r['seconds'] / 1e3:.1f} k px/s, peak RSS {r['peak_rss_mb']:.0f} MB"))

    n_large = args.large or (512 if args.quick else 2048)
    big = large(n_large, 2)
    rows.append((f"upscale {n_large}->{2 * n_large} uint8 RGB", f"{big['seconds']:.1f} s",
                 f"peak RSS {big['peak_rss_mb']:.0f} MB"))

    t_pre, t_full = latency(model, repeats)
    rows.append(("widget: 128x128 preview, cached field", f"{t_pre:.2f} s", "target <= 1 s"))
    rows.append(("widget: 512x512 viewport, cached field", f"{t_full:.2f} s", "target <= 4 s"))

    t_mem, t_dask, ddiff = dask_case(model)
    rows.append(("in-memory upscale 256->512", f"{t_mem:.2f} s", ""))
    rows.append(("dask, LocalCluster 2 workers", f"{t_dask:.2f} s", f"max |diff| {ddiff:.1e}"))

    g = gpu_case()
    if g is None:
        rows.append(("CUDA", "no GPU present", "half precision not measured"))
    else:
        rows.append(("CUDA float32, 256->1024", f"{g[0] / 1e3:.0f} k px/s", ""))
        rows.append(("CUDA half vs float32", f"PSNR {g[1]:.1f} dB", ""))

    w = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    print(f"\n{'measure':<{w}} | {'value':<{w1}} | note")
    print("-" * (w + w1 + 30))
    for name, value, note in rows:
        print(f"{name:<{w}} | {value:<{w1}} | {note}")


if __name__ == "__main__":
    main()
