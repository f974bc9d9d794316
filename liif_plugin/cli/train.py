"""`liif train`: fine-tune a LIIF model on your images (or train one from scratch)."""

import sys
from pathlib import Path


def add_parser(subparsers):
    p = subparsers.add_parser(
        "train",
        help="fine-tune LIIF on your own images",
        description="Fine-tune (default: from the pretrained edsr-baseline) or train LIIF on a folder of images with "
        "the authors' recipe: 48x48 LR patches, scale ~ U(1, 4), 2304 sampled pixels, L1 loss, Adam. "
        "The bottom 20% of every image is held out for validation PSNR. Checkpoints are in the "
        "official LIIF format; register the result with `liif weights add NAME PATH`.",
    )
    p.add_argument("--data", nargs="+", required=True, help="training image files or folders")
    p.add_argument("--out", type=Path, default=Path("liif-finetuned.pth"), help="checkpoint to write")
    start = p.add_mutually_exclusive_group()
    start.add_argument(
        "--from",
        dest="init",
        default="edsr-baseline",
        help="registry name or .pth to start from (default edsr-baseline)",
    )
    start.add_argument(
        "--encoder", choices=("edsr-baseline", "rdn"), help="train a new model with this encoder from random weights"
    )
    start.add_argument("--resume", type=Path, help="continue a run from its checkpoint (weights, Adam state, step)")
    p.add_argument("--steps", type=int, default=1000, help="number of optimizer steps (default 1000)")
    p.add_argument("--batch", type=int, default=16, help="patches per step (default 16, as the authors)")
    p.add_argument("--patch", type=int, default=48, help="LR patch side in pixels (default 48, as the authors)")
    p.add_argument("--queries", type=int, default=2304, help="sampled HR pixels per patch (default 2304)")
    p.add_argument("--lr", type=float, default=1e-4, help="Adam learning rate (default 1e-4)")
    p.add_argument(
        "--lr-end",
        type=float,
        default=None,
        help="let the learning rate fall to this along a half cosine over --steps or --minutes, whichever "
        "ends first (default: constant)",
    )
    p.add_argument("--max-scale", type=float, default=4.0, help="largest training scale (default 4)")
    p.add_argument("--val-fraction", type=float, default=0.2, help="held-out bottom part of each image (default 0.2)")
    p.add_argument("--val-every", type=int, default=200, help="validation PSNR every N steps (0: only at the end)")
    p.add_argument("--save-every", type=int, default=200, help="write the checkpoint every N steps")
    p.add_argument("--minutes", type=float, default=None, help="stop after this much training time")
    p.add_argument(
        "--degrade",
        choices=("bicubic", "photo", "jpeg", "microscopy"),
        default=None,
        help="how LR patches are made: bicubic (the authors' recipe, default), photo (blur, resize, noise "
        "and JPEG, second order), jpeg (resize and JPEG only) or microscopy (Poisson-Gaussian noise, mild blur); "
        "targets stay clean",
    )
    p.add_argument(
        "--noise",
        metavar="LOW,HIGH",
        help="noisy LR patches (clean targets): Poisson noise with LOW..HIGH photons at the peak "
        "(log-uniform), e.g. 10,10000, for a noise-robust model",
    )
    p.add_argument(
        "--read-noise",
        type=float,
        default=0.01,
        help="with --noise: largest Gaussian read-noise sigma, [0, 1] units (default 0.01)",
    )
    p.add_argument(
        "--clean-share",
        type=float,
        default=None,
        help="share of patches left clean (bicubic only); default 0.25 with --noise, the recipe's own with --degrade",
    )
    p.add_argument(
        "--resize",
        metavar="METHODS",
        help="with --degrade photo or jpeg: the resize filters to draw from, comma-separated "
        "(default bicubic,bilinear,area)",
    )
    p.add_argument(
        "--jpeg-quality",
        metavar="LOW,HIGH",
        help="with --degrade photo or jpeg: the JPEG qualities to draw from (default 30,95; e.g. 75,95 for light JPEG)",
    )
    p.add_argument(
        "--photons",
        metavar="LOW,HIGH",
        help="with --degrade microscopy: the photon range at the peak (log-uniform; default 5,5000)",
    )
    p.add_argument(
        "--truth-noise",
        metavar="SIGMA",
        help="with --degrade microscopy: put read noise up to SIGMA ([0, 1] units; LOW,HIGH for a band) into the "
        "targets too, as a camera puts it into every real micrograph (the light microscopy model: keep the "
        "image's own noise)",
    )
    p.add_argument(
        "--bf16",
        choices=("auto", "on", "off"),
        default="auto",
        help="bfloat16 autocast; auto: where the CPU (AVX512-BF16/AMX) or GPU computes it natively",
    )
    p.add_argument("--log", type=Path, help="append the loss and validation curve to this JSON-lines file")
    p.add_argument("--keep", action="store_true", help="also keep every saved checkpoint as OUT-stepN.pth")
    p.add_argument("--threads", type=int, help="CPU threads for torch (default: torch's choice)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--force", action="store_true", help="overwrite an existing --out file")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    import torch

    from liif_plugin.training.degradations import (
        NoiseModel,
        make_degradation,
        parse_photons,
        parse_quality,
        parse_truth_noise,
    )
    from liif_plugin.training.train import format_validation, train

    try:
        if args.threads is not None:
            if args.threads < 1:
                raise ValueError(f"--threads must be at least 1, got {args.threads}")
            torch.set_num_threads(args.threads)
        if args.noise is not None and args.degrade not in (None, "bicubic"):
            raise ValueError("--noise and --degrade photo/jpeg/microscopy both set the degradation; give one of them")
        if args.noise and (args.resize or args.jpeg_quality):
            which = "--resize" if args.resize else "--jpeg-quality"
            raise ValueError(f"{which} applies to --degrade photo or jpeg, not to --noise")
        if args.noise and (args.photons or args.truth_noise is not None):
            which = "--photons" if args.photons else "--truth-noise"
            raise ValueError(f"{which} applies to --degrade microscopy, not to --noise (it takes the photons itself)")
        clean = args.clean_share
        degradation = (
            NoiseModel(parse_photons(args.noise), args.read_noise, 0.25 if clean is None else clean)
            if args.noise
            else make_degradation(
                args.degrade or "bicubic",
                clean=clean,
                resize_methods=tuple(m.strip() for m in args.resize.split(",")) if args.resize else None,
                quality=parse_quality(args.jpeg_quality) if args.jpeg_quality else None,
                photons=parse_photons(args.photons, "--photons") if args.photons else None,
                truth_read=None if args.truth_noise is None else parse_truth_noise(args.truth_noise),
            )
        )
        resuming_here = args.resume is not None and args.resume.resolve() == args.out.resolve()
        if args.out.exists() and not args.force and not resuming_here:
            raise FileExistsError(f"{args.out} exists; choose another --out, pass --force, or --resume it")
        if args.resume is not None and not args.resume.exists():
            raise FileNotFoundError(f"--resume {args.resume} does not exist")
        init = None if args.encoder else args.init
        res = train(
            args.data,
            out=args.out,
            steps=args.steps,
            init=init,
            encoder=args.encoder or "edsr-baseline",
            resume=args.resume,
            batch_size=args.batch,
            lr=args.lr,
            lr_end=args.lr_end,
            max_scale=args.max_scale,
            val_fraction=args.val_fraction,
            val_every=args.val_every,
            save_every=args.save_every,
            device=args.device,
            seed=args.seed,
            max_seconds=None if args.minutes is None else args.minutes * 60,
            progress=not args.quiet,
            degradation=degradation,
            bf16=args.bf16,
            keep=args.keep,
            lr_size=args.patch,
            n_query=args.queries,
            log=args.log,
        )
    except (ValueError, TypeError, FileNotFoundError, FileExistsError, FloatingPointError) as e:
        print(f"liif train: error: {e}", file=sys.stderr)
        return 2
    if res.losses:
        print(
            f"L1 loss: {res.losses[0][1]:.4f} (first {res.losses[0][0]} steps) -> {res.losses[-1][1]:.4f} "
            f"(at step {res.losses[-1][0]})"
        )
    for step, v in res.validation[-1:]:
        print(f"validation at step {step}, gain over bicubic: {format_validation(v)}")
    print(
        f"wrote {res.checkpoint} after {res.steps} steps ({res.seconds / 60:.1f} min on {res.device}, "
        f"{'bf16 autocast' if res.bf16 else 'fp32'}); "
        f"register it with: liif weights add NAME {res.checkpoint}"
    )
    return 0
