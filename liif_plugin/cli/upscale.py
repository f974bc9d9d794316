"""`liif upscale IN... (-o OUT | --out-dir DIR) (--scale S | --size WxH | --width W | --height H)`.

Everything is checked before any pixel is rendered: inputs readable, outputs writable and not
already there (unless --overwrite), sizes sane. Outputs are written atomically, so an error or
Ctrl-C never leaves a partial file.
"""

import sys
import time
from pathlib import Path

import numpy as np


def add_parser(sub):
    p = sub.add_parser(
        "upscale",
        help="resample images to a new size with LIIF",
        description="Resample images with LIIF. Sizes are given as a scale, an exact size, or one side.",
    )
    p.add_argument(
        "inputs",
        nargs="+",
        metavar="IN",
        help="PNG, JPEG, TIFF (a TIFF stack is resampled plane by plane, one model for all), BMP or WebP "
        "files, or one .zarr array (written chunk by chunk to -o OUT.zarr)",
    )
    out = p.add_mutually_exclusive_group(required=True)
    out.add_argument("-o", "--output", metavar="OUT", help="output file (one input only)")
    out.add_argument(
        "--out-dir",
        metavar="DIR",
        help="folder for the outputs (same file names; BMP and WebP inputs are written as .png)",
    )
    size = p.add_mutually_exclusive_group(required=True)
    size.add_argument("--scale", metavar="S", help="scale factor, e.g. 3.5, or SY,SX for per-axis scales")
    size.add_argument("--size", metavar="WxH", help="exact output size in pixels, e.g. 1920x1080")
    size.add_argument("--width", metavar="W", type=int, help="output width; height keeps the aspect ratio")
    size.add_argument("--height", metavar="H", type=int, help="output height; width keeps the aspect ratio")
    p.add_argument("--region", metavar="Y0,X0,Y1,X1", help="render only this window of the input (pixel edges)")
    p.add_argument(
        "--model",
        default="auto",
        metavar="NAME|PATH",
        help="auto (default: the model that suits each image, chosen from the image and printed), a registry "
        "name (`liif weights list`) or a .pth file",
    )
    p.add_argument("--device", default="auto", choices=["auto", "cpu", "cuda", "mps"])
    p.add_argument(
        "--detail",
        default=1.0,
        type=float,
        metavar="D",
        help="0..1: how much of LIIF's difference from bicubic to keep (default 1: all of it; "
        "lower it for noisy images)",
    )
    p.add_argument(
        "--precision",
        default="fp32",
        choices=["fp32", "auto", "bf16", "fp16"],
        help="fp32: exact (default); bf16/fp16: the MLP in 16 bits on hardware that has them "
        "(fp16: CUDA only); auto: the fastest within 2/255 of fp32 (see `liif info`)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace existing output files")
    p.add_argument("--quiet", action="store_true", help="no estimate, model lines or progress bar")
    p.add_argument(
        "--dry-run",
        action="store_true",
        help="check everything and say what would be written (size, model, time, memory); write nothing",
    )
    p.set_defaults(func=run)


def parse_numbers(text, n, what):
    parts = [t for t in text.lower().replace("x", ",").split(",") if t.strip()]
    try:
        values = [float(t) for t in parts]
    except ValueError:
        values = []
    if len(values) not in n:
        raise ValueError(f"{what} '{text}' is not valid; see `liif upscale --help`")
    return values


def target(args, in_shape):
    """(scale, shape) for output_shape(), from the size options."""
    H, W = in_shape
    region = args.region_t
    rh, rw = (region[2] - region[0], region[3] - region[1]) if region else (H, W)
    if args.scale is not None:
        s = parse_numbers(args.scale, (1, 2), "--scale")
        return (s[0] if len(s) == 1 else tuple(s)), None
    if args.size is not None:
        w, h = parse_numbers(args.size, (2,), "--size (WxH)")
        if w != int(w) or h != int(h):
            raise ValueError(f"--size '{args.size}' must be whole pixels, e.g. 1920x1080")
        return None, (int(h), int(w))
    if args.width is not None:
        if args.width < 1:
            raise ValueError("--width must be at least 1")
        return None, (max(1, round(rh * args.width / rw)), args.width)
    if args.height < 1:
        raise ValueError("--height must be at least 1")
    return None, (args.height, max(1, round(rw * args.height / rh)))


def planes_of(x: np.ndarray, meta) -> np.ndarray:
    """The images of `x` as one (N, H, W[, C]) array: a TIFF stack's planes (meta.planes names their
    axes), or N = 1 for one image."""
    return x.reshape((-1, *x.shape[len(meta.planes) :]))


def size_text(x, meta, out_shape) -> str:
    """'96x64', or '96x64 x 10 planes (ZYX)' for a stack: what --dry-run and the run both say."""
    n = len(planes_of(x, meta))
    return f"{out_shape[1]}x{out_shape[0]}" + (f" x {n} planes ({meta.planes}YX)" if meta.planes else "")


def plan(args):
    """Check every input and output up front; returns [(in_path, out_path, image, scale, shape, meta)]."""
    from liif_plugin.api import output_shape
    from liif_plugin.engine.classic import check_detail
    from liif_plugin.engine.field import MAX_OUTPUT_PIXELS
    from liif_plugin.errors import LiifError
    from liif_plugin.sources.arrays import check_image
    from liif_plugin.sources.imageio import WRITE_SUFFIXES, check_writable, read_image_meta

    if args.output and len(args.inputs) > 1:
        raise ValueError(f"-o takes one input but {len(args.inputs)} were given; use --out-dir DIR for several")
    if args.region:
        y0, x0, y1, x1 = parse_numbers(args.region, (4,), "--region (y0,x0,y1,x1)")
        args.region_t = (y0, x0, y1, x1)
    else:
        args.region_t = None
    args.detail = check_detail(args.detail)
    if args.out_dir:
        out_dir = Path(args.out_dir)
        if out_dir.exists() and not out_dir.is_dir():
            raise FileExistsError(f"--out-dir {out_dir} is a file, not a folder; give a folder")
        if not out_dir.is_dir():
            raise FileNotFoundError(f"output folder {out_dir} does not exist; create it first")
    jobs, seen = [], set()
    for src in map(Path, args.inputs):
        dst = Path(args.output) if args.output else Path(args.out_dir) / src.name
        if args.out_dir and dst.suffix.lower() not in WRITE_SUFFIXES:
            dst = dst.with_suffix(".png")  # BMP, WebP: a format this writes, without losing anything
        if dst.resolve() == src.resolve():
            raise ValueError(f"{dst} is the input itself; choose another output name or folder")
        if dst.resolve() in seen:
            raise ValueError(f"two inputs would both be written to {dst}")
        seen.add(dst.resolve())
        if dst.is_dir():  # (before "already exists": --overwrite would not help)
            check_writable(dst, "uint8", 1)
        if dst.exists() and not args.overwrite:
            raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it")
        x, meta = read_image_meta(src)
        planes = planes_of(x, meta)
        try:
            for plane in planes:
                check_image(plane)
        except LiifError as e:  # which of several inputs it is
            raise type(e)(f"{src}: {e.what}", e.hint) from None
        hw = planes.shape[1:3]
        scale, shape = target(args, hw)
        out_shape = output_shape(hw, scale, shape, args.region_t)  # held in memory: its limit
        if len(planes) * out_shape[0] * out_shape[1] > MAX_OUTPUT_PIXELS:  # each plane fits; the stack not
            raise LiifError(
                f"{src}: {len(planes)} planes of {out_shape[1]}x{out_shape[0]} are too large to hold in memory",
                "choose a smaller --scale or --size, or resample a --region",
            )
        check_writable(dst, x.dtype, 1 if planes.ndim == 3 else int(planes.shape[-1]), len(planes))
        jobs.append((src, dst, x, scale, out_shape, meta))
    return jobs


def is_zarr(path):
    return str(path).rstrip("/").endswith(".zarr")


def run(args):
    from liif_plugin.api import upscale
    from liif_plugin.cli.progress import BatchBar
    from liif_plugin.runtime import speed as speeds
    from liif_plugin.sources.imageio import scaled_meta, write_image

    if any(map(is_zarr, args.inputs)) or (args.output and is_zarr(args.output)):
        return run_zarr(args)
    jobs = plan(args)
    models, works, estimate, found = prepare(args, jobs)
    if args.dry_run:
        return say_plan(jobs, models, works, estimate)
    names = [src.name for src, *_ in jobs]
    bar = BatchBar(works, next((s for s in found if s is not None), None), names, quiet=args.quiet)
    done = False
    try:
        for i, ((_src, dst, x, _scale, out_shape, meta), model) in enumerate(zip(jobs, models)):
            bar.begin(i)
            t0 = time.perf_counter()
            planes = planes_of(x, meta)
            ys = []
            for k, plane in enumerate(planes):  # a stack: each plane as one image, as a .zarr stack's are
                ys.append(
                    upscale(
                        plane,
                        shape=out_shape,
                        region=args.region_t,
                        model=model,
                        progress=lambda n, total, k=k: bar.update(k * total + n),  # total: one plane's
                        detail=args.detail,
                    )
                )
            y = np.stack(ys).reshape(x.shape[: len(meta.planes)] + ys[0].shape) if meta.planes else ys[0]
            if found[i] is not None:  # this machine's stored speed follows what the image took
                speeds.observe(model, model.precision, works[i].seconds(found[i]), time.perf_counter() - t0)
            y0, x0, y1, x1 = args.region_t or (0, 0, *planes.shape[1:3])
            write_image(dst, y, meta=scaled_meta(meta, out_shape[0] / (y1 - y0), out_shape[1] / (x1 - x0)))
            if bar.bar is not None:  # (None when quiet)
                bar.bar.write(f"wrote {dst} ({size_text(x, meta, out_shape)}, {y.dtype})", file=sys.stdout)
        done = True
    finally:
        bar.close(done)
    return 0


def prepare(args, jobs):
    """The model of each input (auto: chosen per image, one line each), the batch's works and its time
    estimate (this machine's speed measured first when a batch that would take a while lacks it),
    printed in one line unless --quiet. Returns (models, works, TimeEstimate, speeds)."""
    from liif_plugin.cli.progress import SAY_ABOVE_S, batch_estimate, image_work, plan_speeds

    # A stack gets one model, chosen from its middle plane.
    stacks = [planes_of(x, meta) for _s, _d, x, _sc, _o, meta in jobs]
    models = [pick_model(args, p[len(p) // 2], src) for (src, *_), p in zip(jobs, stacks)]
    rough = [image_work(p[0], job[4], args.region_t, m, None, len(p)) for job, p, m in zip(jobs, stacks, models)]
    found = plan_speeds(models, args.precision, rough, quiet=args.quiet)
    works = [
        image_work(p[0], job[4], args.region_t, m, sp, len(p)) for job, p, m, sp in zip(jobs, stacks, models, found)
    ]
    estimate = batch_estimate(works, found)
    if not args.quiet and estimate.range[1] > SAY_ABOVE_S:
        what = f"{len(jobs)} images" if len(jobs) > 1 else jobs[0][0].name
        print(f"{what}: {estimate.text()}", file=sys.stderr)
    return models, works, estimate, found


def say_plan(jobs, models, works, estimate) -> int:
    """--dry-run: one line per input (what would be written, by which model) and the batch's time and memory."""
    from liif_plugin.quality.choose import at_detail
    from liif_plugin.runtime import cost

    for (src, dst, x, _scale, out_shape, meta), model in zip(jobs, models):
        print(f"{src} -> {dst}: {size_text(x, meta, out_shape)} {x.dtype}, model {model.name}{at_detail(model)}")
    print(f"would take {estimate.text()}, peak memory about {cost.format_bytes(cost.peak_bytes(works))}; "
          "nothing written (--dry-run)")  # fmt: skip
    return 0


def say_zarr_estimate(args, src, shape, rgb, dtype, out, model):
    """One line with the time of a .zarr run (every plane of the array), unless --quiet."""
    import math

    import numpy as np

    from liif_plugin.cli.progress import SAY_ABOVE_S, batch_estimate, plan_speeds
    from liif_plugin.runtime import cost

    lead = shape[:-3] if rgb else shape[:-2]
    H, W = shape[-3:-1] if rgb else shape[-2:]
    chans = shape[-1] if rgb else 1

    def work(speed):
        region = (0.0, 0.0, float(H), float(W))
        sub = 2 if chans == 4 else 1
        arch = cost.Arch.of(model)
        return cost.work((H, W), out, region, math.prod(lead), sub, chans, np.dtype(dtype).itemsize, arch, speed)

    found = plan_speeds([model], args.precision, [work(None)], quiet=args.quiet)
    estimate = batch_estimate([work(found[0])], found)
    if not args.quiet and estimate.range[1] > SAY_ABOVE_S:
        print(f"{src.name}: {estimate.text()}", file=sys.stderr)
    return estimate


def estimate_argv(argv):
    """The TimeEstimate `liif upscale ARGS` prints before it starts (for benchmarks/estimates.py)."""
    from liif_plugin.cli.main import build_parser

    args = build_parser().parse_args(argv)
    args.quiet = True
    return prepare(args, plan(args))[2]


def pick_model(args, image, src):
    """The model for one input: `--model auto` chooses from the image (and a JPEG file's tables) and
    says which and why in one line; a named model is used as it is, with a warning when it is the
    released model and the image is noisy."""

    from liif_plugin.models.loading import AUTO, get_model
    from liif_plugin.quality.choose import choose_model
    from liif_plugin.quality.noise import warning_for

    name = args.model
    if name == AUTO:
        choice = choose_model(image, path=None if is_zarr(src) else src)
        name = choice.name
        if not args.quiet:
            print(f"{src.name}: model {name} ({choice.reason})", file=sys.stderr)
    model = get_model(name, device=args.device, precision=args.precision)
    if args.model != AUTO and args.detail == 1.0 and not is_zarr(src):
        msg = warning_for(model, image, how="pass e.g. --detail 0.3, or leave --model at auto")
        if msg:
            print(f"warning: {src}: {msg}", file=sys.stderr)
    return model


def run_zarr(args):
    """Arrays larger than memory: zarr in, zarr out, through liif_plugin.sources.dask (stacks included)."""
    from tqdm import tqdm

    from liif_plugin.api import output_shape
    from liif_plugin.engine.field import MAX_LAZY_OUTPUT_PIXELS

    if not any(map(is_zarr, args.inputs)):  # an image file with -o OUT.zarr
        raise ValueError(f"-o {args.output} needs a .zarr input; write image files to a .png, .jpg or .tif")
    if len(args.inputs) != 1 or not args.output or not is_zarr(args.inputs[0]) or not is_zarr(args.output):
        raise ValueError("a .zarr input takes exactly one input and -o OUT.zarr")
    if args.region:
        raise ValueError("--region is not supported for .zarr arrays; resample the whole array")
    from liif_plugin.engine.classic import check_detail
    from liif_plugin.sources.dask import open_zarr_source, upscale_zarr

    args.detail = check_detail(args.detail)

    src, dst = Path(args.inputs[0]), Path(args.output)
    if not src.exists():
        raise FileNotFoundError(f"input {src} does not exist")
    if dst.exists() and not args.overwrite:
        raise FileExistsError(f"{dst} already exists; pass --overwrite to replace it")
    array = open_zarr_source(src)[0]  # the array (an OME-Zarr image's full-resolution level)
    shape = array.shape
    rgb = array.ndim >= 3 and shape[-1] in (3, 4)
    *_, h, w = shape[:-1] if rgb else shape
    hw = (h, w)
    args.region_t = None
    scale, out = target(args, hw)
    out = output_shape(hw, scale, out, limit=MAX_LAZY_OUTPUT_PIXELS)  # block by block; validated before any work
    model = pick_model(args, src, src)  # auto: one choice from a window of the whole array
    estimate = say_zarr_estimate(args, src, shape, rgb, array.dtype, out, model)
    if args.dry_run:
        from liif_plugin.quality.choose import at_detail

        size = (*(shape[:-3] if rgb else shape[:-2]), *out, *((shape[-1],) if rgb else ()))
        print(f"{src} -> {dst}: shape {size} {array.dtype}, model {model.name}{at_detail(model)}")
        print(f"would take {estimate.text()}; nothing written (--dry-run)")
        return 0
    with tqdm(unit="task", disable=args.quiet, desc=f"{src.name} -> {dst.name}") as bar:

        def progress(done, total):
            bar.total = total
            bar.n = done
            bar.refresh()

        result = upscale_zarr(
            src, dst, shape=out, model=model, progress=progress, overwrite=args.overwrite, detail=args.detail
        )
    if not args.quiet:
        print(f"wrote {dst} (shape {tuple(result)})")
    return 0
