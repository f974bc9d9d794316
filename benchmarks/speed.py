"""Speed and scale benchmark: prints tables, every figure measured in this run, side by side.

    .venv/bin/python benchmarks/speed.py            # full
    .venv/bin/python benchmarks/speed.py --quick    # fewer repeats, smaller memory case (CI-sized)
    .venv/bin/python benchmarks/speed.py --precisions fp32,bf16   # also time a precision that is
                                                                  # not native here (slow: emulated)

Header: the hardware (liif_plugin.runtime.hardware: CPU, its SIMD level and bf16 units, GPUs) and what
`auto` picks. Tables:
1. whole calls, x2 and x4 (128->256/512, 256->512/1024): the authors'-style reference (same weights,
   same inputs: one encoder pass in the authors' NCHW layout, then their query procedure in batches of
   30000 queries) against ``liif.upscale`` at every precision this machine runs natively; ratio, max
   abs difference against the reference, PSNR against fp32;
2. where an exact x4 128->512 call goes (encoder, first-layer map, decoder, the rest) with GFLOP/s,
   beside one single-threaded 4096x256x256 product (this core's practical fp32 peak);
   encoder and decoder separately: the encoder in NCHW, channels_last and channels_last with the
   fused convolutions in use, the first-layer map in both layouts, the decoder per precision;
3. accuracy of 16-bit paths against fp32 and the ground truth: bf16 MLP, bf16 encoder + MLP, fp16
   MLP, on 96 px crops of three photos at x2 and x4 (runs on any CPU; emulated bf16 is slow, so small);
4. the earlier rows: peak RSS of a big upscale, widget latency, dask, and CUDA rows where a GPU is.
The best of the repeats counts, as other work on a shared CPU only slows a run down; the paths
compared in one row group run in turn within each repeat.
"""

import argparse
import copy
import json
import os
import subprocess
import sys
import time

import numpy as np
import torch
from skimage import data

import liif_plugin as liif
from liif_plugin.engine.decoder import first_layer_map
from liif_plugin.engine.encoder import run_encoder
from liif_plugin.engine.field import ImageField
from liif_plugin.engine.reference import query_reference
from liif_plugin.quality.evaluate import bicubic_resize, psnr
from liif_plugin.runtime import hardware

AUTHORS_BATCH = 30000  # queries per batch in the authors' test script (batched_predict)
WHOLE_CASES = [(128, 2), (128, 4), (256, 2), (256, 4)]
PART_SIZES = (128, 256)  # encoder inputs; the decoder rows render them x4


def timed(fn):
    t = time.perf_counter()
    out = fn()
    return time.perf_counter() - t, out


def best_of(fn, repeats):
    """(best time, last result) of `repeats` runs."""
    times, out = [], None
    for _ in range(repeats):
        t, out = timed(fn)
        times.append(t)
    return min(times), out


def best_of_each(fns, repeats):
    """{name: (best time, last result)}, the functions run in turn in each repeat (side by side:
    a load change on the shared CPU hits all of them alike)."""
    times, outs = {k: [] for k in fns}, {}
    for _ in range(repeats):
        for k, fn in fns.items():
            t, outs[k] = timed(fn)
            times[k].append(t)
    return {k: (min(times[k]), outs[k]) for k in fns}


def photo(n, name="astronaut"):
    """A real n x n RGB photo (resized with plain area averaging, no LIIF involved)."""
    from skimage.transform import resize

    img = resize(getattr(data, name)(), (n, n), anti_aliasing=True, preserve_range=True)
    return img.round().astype(np.uint8)


def planes_of(img):
    return img.transpose(2, 0, 1)[None].astype(np.float32) / 255


def authors_net(model):
    """The same weights in the authors' layout (NCHW encoder), for the reference rows."""
    net = copy.deepcopy(model.net)
    net.encoder.to(memory_format=torch.contiguous_format)
    return net


@torch.inference_mode()
def authors_style(model, net, img, out_shape):
    """The authors' procedure: one encoder pass, then query_reference over batches of queries."""
    x = (torch.from_numpy(planes_of(img)) - 0.5) / 0.5
    feat = net.encoder(x)
    h, w = out_shape
    grid, (cy, cx) = ImageField(model, feat, None).query_grid(h, w, (0.0, 0.0) + img.shape[:2], (0, h), (0, w))
    coord = grid.reshape(1, -1, 2)
    cell = torch.tensor([cy, cx]).expand_as(coord)
    preds = [
        query_reference(net, feat, coord[:, i : i + AUTHORS_BATCH], cell[:, i : i + AUTHORS_BATCH])
        for i in range(0, coord.shape[1], AUTHORS_BATCH)
    ]
    out = (torch.cat(preds, 1) * 0.5 + 0.5).clamp(0, 1).view(h, w, 3).numpy()
    return (out * 255).round().astype(np.uint8)


def psnr_vs(ref, out):
    d = psnr(ref, out, 255.0) if ref.dtype == np.uint8 else psnr(ref, out, 1.0)
    return "identical" if d == float("inf") else f"{d:.1f} dB"


def whole_calls(model, precisions, repeats):
    rows = []
    net = authors_net(model)
    for n_in, s in WHOLE_CASES:
        img = photo(n_in)
        out_shape = (n_in * s, n_in * s)
        px = out_shape[0] * out_shape[1]
        fns = {"ref": lambda: authors_style(model, net, img, out_shape)}
        for p in precisions:
            fns[p] = lambda p=p: liif.upscale(img, s, model=model, precision=p)
        res = best_of_each(fns, repeats)
        t_ref, ref = res["ref"]
        label = f"x{s} {n_in}->{n_in * s}"
        rows.append(
            (label, "authors'-style reference", f"{t_ref:.2f} s", f"{px / t_ref / 1e3:.1f} k px/s", "1.00 x", "")
        )
        fp32 = res["fp32"][1] if "fp32" in res else None
        for p in precisions:
            t, out = res[p]
            diff = np.abs(out.astype(int) - ref.astype(int)).max()
            note = f"max abs diff vs ref {diff}/255" + ("" if p == "fp32" else f", PSNR vs fp32 {psnr_vs(fp32, out)}")
            rows.append(
                (label, f"liif.upscale {p}", f"{t:.2f} s", f"{px / t / 1e3:.1f} k px/s", f"{t_ref / t:.2f} x", note)
            )
    return rows


def parts(model, precisions, repeats):
    """Encoder (both layouts) and decoder (per precision), 128->512 and 256->1024."""
    rows = []
    enc_nchw = authors_net(model).encoder
    for n_in in PART_SIZES:
        img = photo(n_in)
        x = (torch.from_numpy(planes_of(img)) - 0.5) / 0.5
        x_l = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode():
            enc = best_of_each(
                {
                    "nchw": lambda: enc_nchw(x),
                    "cl": lambda: model.net.encoder(x_l),
                    "fused": lambda: run_encoder(model.net.encoder, x_l),
                },
                repeats,
            )
            (t_c, _), (t_l, feat), (t_f, feat_f) = enc["nchw"], enc["cl"], enc["fused"]
            m_c, _ = best_of(lambda: first_layer_map(model.net, feat, torch.contiguous_format), repeats)
            m_l, _ = best_of(lambda: first_layer_map(model.net, feat, torch.channels_last), repeats)
        rows.append((f"encoder {n_in}x{n_in}", "NCHW (contiguous)", f"{t_c:.2f} s", "", "", ""))
        rows.append(
            (
                f"encoder {n_in}x{n_in}",
                "channels_last",
                f"{t_l:.2f} s",
                "",
                f"{t_c / t_l:.2f} x",
                f"layout in use on {model.device.type}: {str(model.layout).split('.')[-1]}",
            )
        )
        rows.append(
            (
                f"encoder {n_in}x{n_in}",
                "channels_last, conv+ReLU/add fused",
                f"{t_f:.2f} s",
                "",
                f"{t_c / t_f:.2f} x",
                f"in use on cpu; max abs diff vs module {(feat_f - feat).abs().max():.1e}",
            )
        )
        rows.append((f"first-layer map {n_in}x{n_in}", "NCHW -> NHWC copy", f"{m_c * 1e3:.0f} ms", "", "", ""))
        rows.append(
            (f"first-layer map {n_in}x{n_in}", "channels_last", f"{m_l * 1e3:.0f} ms", "", f"{m_c / m_l:.2f} x", "")
        )
        n_out = 4 * n_in
        px = n_out * n_out
        field = model.encode(img)
        ref = None
        t_r = None
        if n_in == PART_SIZES[0]:  # the readable reference decoder on the same cached field
            t_r, ref = best_of(lambda: field.render_planes((n_out, n_out), reference=True), 1)
            rows.append(
                (
                    f"decoder {n_in}->{n_out}",
                    "reference (query_reference)",
                    f"{t_r:.2f} s",
                    f"{px / t_r / 1e3:.1f} k px/s",
                    "1.00 x",
                    "",
                )
            )
        for p in precisions:
            f = ImageField(model, field.feat, field.layout, precision=p)
            f.render_planes((8, 8))  # builds the cached first-layer map outside the timing
            t, out = best_of(lambda: f.render_planes((n_out, n_out)), repeats)
            note = "" if ref is None else f"max abs diff vs reference {np.abs(out - ref).max():.1e}"
            rows.append(
                (
                    f"decoder {n_in}->{n_out}",
                    f"fast, {p}",
                    f"{t:.2f} s",
                    f"{px / t / 1e3:.1f} k px/s",
                    f"{t_r / t:.2f} x" if t_r else "",
                    note,
                )
            )
    return rows


def decoder_gflop(net, px):
    """Multiply-adds x 2 of the fast decoder for px output pixels (its first layer is a lookup)."""
    lin = [l for l in net.imnet.layers if isinstance(l, torch.nn.Linear)]
    n_pos = 4 if net.cell_decode else 2
    per_query = n_pos * lin[0].out_features + sum(l.in_features * l.out_features for l in lin[1:])
    return 2 * px * (4 if net.local_ensemble else 1) * per_query / 1e9


def conv_gflop(module, h, w):
    convs = [c for c in module.modules() if isinstance(c, torch.nn.Conv2d) and c.weight.requires_grad]
    return sum(2 * h * w * c.in_channels * c.out_channels * c.kernel_size[0] * c.kernel_size[1] for c in convs) / 1e9


def product_gflops(repeats=20):
    """A 4096x256 @ 256x256 product on one thread: what the decoder's kernels reach here at best."""
    a, b, out = torch.randn(4096, 256), torch.randn(256, 256), torch.empty(4096, 256)
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        t, _ = best_of(lambda: torch.mm(a, b, out=out), repeats)
    finally:
        torch.set_num_threads(n)
    return 2 * 4096 * 256 * 256 / t / 1e9


def split(model, repeats):
    """Where one whole exact x4 128->512 call goes: encoder, first-layer map, decoder, the rest."""
    n_in, s = PART_SIZES[0], 4
    img = photo(n_in)
    n_out = n_in * s
    x = (torch.from_numpy(planes_of(img)) - 0.5) / 0.5
    x_l = x.contiguous(memory_format=model.layout)
    field = model.encode(img)
    field.render_planes((8, 8))
    with torch.inference_mode():
        res = best_of_each(
            {
                "call": lambda: liif.upscale(img, s, model=model, precision="fp32"),
                "encoder": lambda: run_encoder(model.net.encoder, x_l),
                "map": lambda: first_layer_map(model.net, field.feat, model.layout),
                "decoder": lambda: field.render_planes((n_out, n_out)),
            },
            repeats,
        )
    t = {k: v[0] for k, v in res.items()}
    g_enc = conv_gflop(model.net.encoder, n_in, n_in)
    fl = model.net.imnet.layers[0]
    g_map = 2 * n_in * n_in * fl.out_features * (fl.in_features - 4) / 1e9
    g_dec = decoder_gflop(model.net, n_out * n_out)
    peak = product_gflops()
    n = torch.get_num_threads()
    rest = max(t["call"] - t["encoder"] - t["map"] - t["decoder"], 0.0)
    share = lambda v: f"{100 * v / t['call']:.0f} %"
    return [
        (
            "whole call x4 128->512",
            f"{t['call']:.2f} s",
            "100 %",
            f"{g_enc + g_map + g_dec:.0f}",
            f"{(g_enc + g_map + g_dec) / t['call']:.0f}",
            "",
        ),
        (
            "encoder (fused, 2 threads)",
            f"{t['encoder']:.2f} s",
            share(t["encoder"]),
            f"{g_enc:.1f}",
            f"{g_enc / t['encoder']:.0f}",
            "oneDNN convolutions",
        ),
        ("first-layer map", f"{t['map'] * 1e3:.0f} ms", share(t["map"]), f"{g_map:.1f}", f"{g_map / t['map']:.0f}", ""),
        (
            "decoder (MLP in chunks)",
            f"{t['decoder']:.2f} s",
            share(t["decoder"]),
            f"{g_dec:.0f}",
            f"{g_dec / t['decoder']:.0f}",
            f"{g_dec / t['decoder'] / (n * peak) * 100:.0f} % of {n} x the product below",
        ),
        ("the rest (arrays, coordinates, timing spread)", f"{rest:.2f} s", share(rest), "", "", ""),
        (
            "one 4096x256x256 product, 1 thread",
            "",
            "",
            "",
            f"{peak:.0f}",
            "best of 20: this core's practical fp32 peak",
        ),
    ]


SPLIT_HEADS = ("part", "time", "share of call", "GFLOP", "GFLOP/s", "note")


def small_emulated(model, precisions_native):
    """bf16 timing where it is not native: a small decoder case, fp32 beside it."""
    if "bf16" in precisions_native:
        return []
    field = model.encode(photo(64))
    rows = []
    for p in ("fp32", "bf16"):
        f = ImageField(model, field.feat, field.layout, precision=p)
        f.render_planes((8, 8))
        t, _ = best_of(lambda: f.render_planes((128, 128)), 1)
        rows.append(
            (
                "decoder 64->128",
                f"fast, {p}" + ("" if p == "fp32" else " (emulated here)"),
                f"{t:.2f} s",
                f"{128 * 128 / t / 1e3:.1f} k px/s",
                "",
                "",
            )
        )
    return rows


@torch.inference_mode()
def accuracy(model):
    """16-bit paths against fp32 and against the ground truth (PSNR change), x2 and x4."""
    enc_bf16 = copy.deepcopy(model.net.encoder).to(torch.bfloat16)
    results = {
        k: {"max": 0.0, "psnr_fp32": [], "gt_change": []} for k in ("bf16 MLP", "bf16 encoder + MLP", "fp16 MLP")
    }
    for name in ("astronaut", "chelsea", "rocket"):
        hr = np.ascontiguousarray(getattr(data, name)()[:96, :96])
        for s in (2, 4):
            lr = bicubic_resize(hr, (96 // s, 96 // s))
            field = model.encode(lr)
            exact = field.render_planes((96, 96))[0]
            planes = torch.from_numpy(planes_of(lr))
            feat_bf16 = enc_bf16(
                ((planes - 0.5) / 0.5).to(torch.bfloat16).contiguous(memory_format=model.layout)
            ).float()
            cases = {
                "bf16 MLP": ImageField(model, field.feat, None, precision="bf16"),
                "bf16 encoder + MLP": ImageField(model, feat_bf16, None, precision="bf16"),
                "fp16 MLP": ImageField(model, field.feat, None, precision="fp32"),
            }
            cases["fp16 MLP"].precision = "fp16"  # the CUDA path's arithmetic, run on the CPU here
            gt = hr.astype(np.float32) / 255
            base = psnr(gt, exact, 1.0, border=s)
            for k, f in cases.items():
                out = f.render_planes((96, 96))[0]
                r = results[k]
                r["max"] = max(r["max"], float(np.abs(out - exact).max()))
                r["psnr_fp32"].append(psnr(exact, out, 1.0))
                r["gt_change"].append(psnr(gt, out, 1.0, border=s) - base)
    rows = []
    for k, r in results.items():
        # quality.py's protocol: the PSNR change averaged over the photos, per scale.
        means = [float(np.mean(r["gt_change"][i::2])) for i in range(2)]
        ok = r["max"] <= 2 / 255 and max(abs(v) for v in means) <= 0.01
        rows.append(
            (
                k,
                f"{r['max']:.4f}",
                f"{min(r['psnr_fp32']):.1f} dB",
                f"{means[0]:+.4f} / {means[1]:+.4f} dB",
                f"{min(r['gt_change']):+.4f}..{max(r['gt_change']):+.4f} dB",
                "within" if ok else "outside",
            )
        )
    return rows


ACCURACY_HEADS = (
    "path",
    "max abs diff vs fp32",
    "PSNR vs fp32 (min)",
    "GT PSNR change x2 / x4 (mean of 3)",
    "GT PSNR change, single images",
    "auto's bounds (2/255, 0.01 dB)",
)


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


def latency(model, repeats, precision):
    """A 512x512 viewport of a cached field: a quarter-size preview first, then the full view."""
    field = model.encode(photo(256), precision)
    region = (40.0, 60.0, 168.0, 188.0)  # a 128x128 window shown at 512x512 (x4 zoom)
    field.render_planes((8, 8), region)
    t_pre, _ = best_of(lambda: field.render_planes((128, 128), region), repeats)
    t_full, _ = best_of(lambda: field.render_planes((512, 512), region), repeats)
    return t_pre, t_full


def dask_case(model):
    import distributed

    import liif_plugin.sources.dask as ld

    img = photo(256)
    t_mem, ref = timed(lambda: liif.upscale(img.astype(np.float32) / 255, scale=2, model=model))
    with (
        distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster,
        distributed.Client(cluster) as client,
    ):
        y = ld.upscale(img.astype(np.float32) / 255, scale=2, model=model, block=128)
        client.compute(y[:8, :8]).result()  # workers load the model before timing
        t_dask, got = timed(lambda: client.compute(y).result())
    return t_mem, t_dask, float(np.abs(got - ref).max())


def gpu_rows(repeats):
    """CUDA: 1024->4096 per native precision, and a 16k x 16k output (block-wise) at auto."""
    if not torch.cuda.is_available():
        return [("CUDA", "no GPU visible to PyTorch", "not measured", "", "", "")]
    dev = torch.device("cuda")
    model = liif.load_model(device="cuda")
    img = photo(1024)
    rows, fp32 = [], None
    for p in ["fp32"] + [q for q in hardware.native_precisions(dev) if q != "fp32"]:
        liif.upscale(img[:64, :64], 4, model=model, precision=p)  # warm-up: kernels, layout measurement
        torch.cuda.synchronize()
        t, out = best_of(lambda: liif.upscale(img, 4, model=model, precision=p), repeats)
        fp32 = out if p == "fp32" else fp32
        note = (
            ""
            if p == "fp32"
            else (
                f"max abs diff vs fp32 {np.abs(out.astype(int) - fp32.astype(int)).max()}/255, "
                f"PSNR vs fp32 {psnr_vs(fp32, out)}"
            )
        )
        rows.append(("CUDA x4 1024->4096", p, f"{t:.2f} s", f"{4096 * 4096 / t / 1e6:.2f} M px/s", "", note))
    big = photo(4096)
    auto = hardware.auto_precision(dev)
    t, out = timed(lambda: liif.upscale(big, 4, model=model, precision=auto))
    rows.append(
        (
            "CUDA x4 4096->16384 (block-wise)",
            auto,
            f"{t:.1f} s",
            f"{out.shape[0] * out.shape[1] / t / 1e6:.2f} M px/s",
            "",
            f"peak GPU memory {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB",
        )
    )
    return rows


def print_table(title, rows, heads=("case", "path", "time", "throughput", "speed-up", "note")):
    widths = [max(len(str(r[i])) for r in rows + [heads]) for i in range(len(heads))]
    print(f"\n## {title}\n")
    print("| " + " | ".join(h.ljust(w) for h, w in zip(heads, widths)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for r in rows:
        print("| " + " | ".join(str(v).ljust(w) for v, w in zip(r, widths)) + " |", flush=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="one repeat, smaller memory case")
    ap.add_argument("--large", type=int, default=None, help="input side of the memory case (default 2048)")
    ap.add_argument(
        "--precisions", default=None, help="comma-separated precisions for the CPU rows (default: those native here)"
    )
    ap.add_argument(
        "--skip", default="", help="comma-separated tables to leave out: whole,split,parts,accuracy,other,gpu"
    )
    ap.add_argument("--large-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.large_child:
        return large_child(int(args.large_child[0]), float(args.large_child[1]))
    repeats = 1 if args.quick else 2
    skip = set(filter(None, args.skip.split(",")))
    cpu = torch.device("cpu")
    native = hardware.native_precisions(cpu)
    precisions = args.precisions.split(",") if args.precisions else ["fp32"] + [p for p in native if p != "fp32"]
    model = liif.load_model(device="cpu")
    print("# liif-plugin speed benchmark\n")
    for key, value in hardware.report():
        print(f"- {key}: {value}")
    print(
        f"- load average {os.getloadavg()[0]:.1f} at start (other work on the CPU slows every figure; "
        f"ratios are taken side by side in this run)",
        flush=True,
    )

    if "whole" not in skip:
        print_table("Whole calls (CPU)", whole_calls(model, precisions, repeats))
    if "split" not in skip:
        print_table("Where an exact x4 128->512 call goes (CPU)", split(model, repeats), SPLIT_HEADS)
    if "parts" not in skip:
        print_table(
            "Encoder and decoder separately (CPU)", parts(model, precisions, repeats) + small_emulated(model, native)
        )
    if "accuracy" not in skip:
        print_table(
            "16-bit paths against fp32 and the ground truth (CPU arithmetic; 96 px crops of astronaut, "
            "chelsea, rocket; PIL bicubic LR at x2 and x4; PSNR with a border of the scale)",
            accuracy(model),
            ACCURACY_HEADS,
        )
    if "other" not in skip:
        rows = []
        for n_in in (128, 256):  # the reference table's two cases (DESIGN.md), in a fresh process
            r = large(n_in, 4)
            rows.append(
                (
                    f"upscale {n_in}->{4 * n_in}, fresh process",
                    "fp32",
                    f"{r['seconds']:.1f} s",
                    f"{(4 * n_in) ** 2 / r['seconds'] / 1e3:.1f} k px/s",
                    "",
                    f"peak RSS {r['peak_rss_mb']:.0f} MB",
                )
            )
        n_large = args.large or (512 if args.quick else 2048)
        big = large(n_large, 2)
        rows.append(
            (
                f"upscale {n_large}->{2 * n_large} uint8 RGB",
                "fp32",
                f"{big['seconds']:.1f} s",
                "",
                "",
                f"peak RSS {big['peak_rss_mb']:.0f} MB",
            )
        )
        for p in dict.fromkeys(["fp32", hardware.auto_precision(cpu)]):
            t_pre, t_full = latency(model, repeats, p)
            rows.append(("widget: 128x128 preview, cached field", p, f"{t_pre:.2f} s", "", "", "target <= 1 s"))
            rows.append(
                (
                    "widget: 512x512 viewport, cached field",
                    p,
                    f"{t_full:.2f} s",
                    "",
                    "",
                    "target <= 1 s with AMX, <= 4 s on AVX2",
                )
            )
        t_mem, t_dask, ddiff = dask_case(model)
        rows.append(("in-memory upscale 256->512", "fp32", f"{t_mem:.2f} s", "", "", ""))
        rows.append(("dask, LocalCluster 2 workers", "fp32", f"{t_dask:.2f} s", "", "", f"max abs diff {ddiff:.1e}"))
        print_table("Memory, interactive latency, dask (CPU)", rows)
    if "gpu" not in skip:
        print_table("CUDA", gpu_rows(repeats))


if __name__ == "__main__":
    main()
