"""`liif evaluate`: LIIF against bicubic on your images (PSNR/SSIM per scale, table + CSV/JSON)."""

import sys
from pathlib import Path


def add_parser(subparsers):
    p = subparsers.add_parser(
        "evaluate",
        help="measure LIIF against bicubic on your images (PSNR, SSIM)",
        description="For each image and scale: shrink it with bicubic, bring it back with LIIF and with "
        "bicubic, and score both against the original (PSNR and SSIM, `scale` border pixels removed).",
    )
    p.add_argument("inputs", nargs="+", help="image files or folders of images (PNG, JPEG, TIFF, ...)")
    p.add_argument("--scales", default="2,3,4,6,12", help="comma-separated factors (default 2,3,4,6,12)")
    p.add_argument("--model", default=None, help="registry name or path to a LIIF .pth (default edsr-baseline)")
    p.add_argument("--device", default="auto", help="auto, cpu or cuda")
    p.add_argument("--y", action="store_true", help="score the luma (Y) channel only, as many SR papers do")
    p.add_argument("--crop", type=int, default=None, help="evaluate only the central CROP x CROP pixels of each image")
    p.add_argument("--csv", type=Path, help="write all rows to this CSV file")
    p.add_argument("--json", type=Path, help="write rows and per-scale means to this JSON file")
    p.add_argument(
        "--save-crops",
        type=Path,
        metavar="DIR",
        help="save side-by-side PNGs (LR | bicubic | LIIF | original) into DIR",
    )
    p.add_argument("--force", action="store_true", help="overwrite existing CSV/JSON files")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(func=run)
    return p


def run(args):
    from liif_plugin.models.loading import load_model
    from liif_plugin.quality import evaluate as ev

    try:
        scales = ev.parse_scales(args.scales)
        if args.crop is not None and args.crop < 16:
            raise ValueError(f"--crop must be at least 16 pixels, got {args.crop}")
        for out in (args.csv, args.json):
            if out is not None and out.exists() and not args.force:
                raise FileExistsError(f"{out} exists; choose another name or pass --force to overwrite it")
            if out is not None and (out.is_dir() or not out.parent.is_dir()):  # found now, not after the run
                raise ValueError(f"{out} is a folder" if out.is_dir() else f"the folder of {out} does not exist")
        if args.csv is not None and args.json is not None and args.csv.resolve() == args.json.resolve():
            raise ValueError("--csv and --json name the same file; give them different names")
        if args.save_crops is not None and args.save_crops.exists() and not args.save_crops.is_dir():
            raise ValueError(f"--save-crops {args.save_crops} is a file; give a folder")
        ev.image_files(args.inputs)  # fail on a bad path before the model loads
        model = load_model(args.model, device=args.device)
        rows = ev.evaluate(
            args.inputs,
            scales,
            model=model,
            y_channel=args.y,
            crop=args.crop,
            crops_dir=args.save_crops,
            progress=not args.quiet,
        )
    except (ValueError, TypeError, FileNotFoundError, FileExistsError) as e:
        print(f"liif evaluate: error: {e}", file=sys.stderr)
        return 2
    print(ev.format_table(rows))
    meta = {
        "model": model.name,
        "y_channel": args.y,
        "crop": args.crop,
        "scales": scales,
        "protocol": "PIL bicubic LR; PSNR/SSIM after removing ceil(scale) border pixels",
    }
    if args.csv:
        ev.write_csv(rows, args.csv)
        print(f"wrote {args.csv}")
    if args.json:
        ev.write_json(rows, args.json, **meta)
        print(f"wrote {args.json}")
    if args.save_crops:
        print(f"side-by-side crops in {args.save_crops}")
    return 0
