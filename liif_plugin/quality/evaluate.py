"""Is LIIF better than bicubic on *my* images? Degrade, restore, measure.

For every image and scale s: the ground truth (HR) is cropped to a multiple of s, shrunk by s with
PIL's bicubic filter (the low-resolution input, LR), and brought back to the HR size twice: by LIIF
and by PIL's bicubic. Both are scored against HR with PSNR and SSIM after removing a border of
ceil(s) pixels (the paper's protocol), optionally on the luma (Y) channel only.

Values are compared in the image's own range: uint8 has peak 255 (as in the paper), floats inside
[0, 1] have peak 1, and anything else (uint16, 12-bit data, other floats) uses the ground truth's
max - min, the same stretch ``liif_plugin.sources.arrays`` applies before the model sees the image.
"""

import csv
import json
import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from liif_plugin.sources import arrays
from liif_plugin.sources.imageio import READ_SUFFIXES as IMAGE_SUFFIXES

# ITU-R BT.601 luma weights on [0, 1] RGB, as used for "Y-channel" PSNR in super-resolution papers.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


# -- resampling -------------------------------------------------------------------------------


def bicubic_resize(x, shape):
    """PIL bicubic resize of an HxW or HxWxC array to (h, w), keeping dtype and layout.

    uint8 channels are resized as 8-bit images (what PIL users and the reference numbers do);
    every other dtype goes through PIL's 32-bit float mode and is rounded back for integers.
    """
    from PIL import Image

    x = arrays.check_image(x)
    h, w = int(shape[0]), int(shape[1])
    chans = x[..., None] if x.ndim == 2 else x
    out = []
    for c in range(chans.shape[2]):
        ch = chans[..., c]
        if x.dtype == np.uint8:
            out.append(np.asarray(Image.fromarray(ch, "L").resize((w, h), Image.Resampling.BICUBIC)))
        else:
            r = np.asarray(Image.fromarray(ch.astype(np.float32), "F").resize((w, h), Image.Resampling.BICUBIC))
            if np.issubdtype(x.dtype, np.integer):
                info = np.iinfo(x.dtype)
                r = np.clip(np.rint(r), info.min, info.max)
            out.append(r.astype(x.dtype))
    y = np.stack(out, axis=2)
    return y[..., 0] if x.ndim == 2 else y


def degrade(hr, scale):
    """(HR cropped to a multiple of an integer scale, its bicubic LR). Non-integer scales round the LR size."""
    hr = arrays.check_image(hr)
    s = float(scale)
    if s.is_integer():
        k = int(s)
        hr = hr[: hr.shape[0] - hr.shape[0] % k, : hr.shape[1] - hr.shape[1] % k]
    lr_shape = (round(hr.shape[0] / s), round(hr.shape[1] / s))
    if min(lr_shape) < 4:
        raise ValueError(
            f"an image of {hr.shape[0]}x{hr.shape[1]} pixels is too small to evaluate at x{scale:g} "
            f"(its low-resolution version would be {lr_shape[0]}x{lr_shape[1]}); use smaller scales"
        )
    return hr, bicubic_resize(hr, lr_shape)


# -- metrics ----------------------------------------------------------------------------------


def data_range_of(hr):
    """Peak value used by PSNR/SSIM for this ground truth (see the module docstring)."""
    if hr.dtype == np.uint8:
        return 255.0
    lo, hi = float(hr.min()), float(hr.max())
    if np.issubdtype(hr.dtype, np.floating) and lo >= 0.0 and hi <= 1.0:
        return 1.0
    return max(hi - lo, 1e-12)


def _prepare(ref, out, border, y_channel, data_range):
    """Float64 HxWxC arrays, border removed, optionally reduced to luma (in units of data_range)."""
    if ref.shape != out.shape:
        raise ValueError(f"images to compare differ in shape: {ref.shape} vs {out.shape}")
    a = np.asarray(ref, dtype=np.float64)
    b = np.asarray(out, dtype=np.float64)
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    b_ = int(math.ceil(border))
    if b_ > 0:
        if min(a.shape[:2]) <= 2 * b_:
            raise ValueError(f"a border of {b_} px leaves nothing of a {a.shape[0]}x{a.shape[1]} image")
        a, b = a[b_:-b_, b_:-b_], b[b_:-b_, b_:-b_]
    if y_channel and a.shape[2] == 3:
        # BT.601 luma (with its 16/255 offset) of the values in [0, 1] units, back in the image's units.
        a = ((a / data_range) @ Y_WEIGHTS + 16 / 255) * data_range
        b = ((b / data_range) @ Y_WEIGHTS + 16 / 255) * data_range
        a, b = a[..., None], b[..., None]
    return a, b


def psnr(ref, out, data_range=None, border=0, y_channel=False):
    """Peak signal-to-noise ratio in dB (inf for identical images)."""
    data_range = data_range_of(np.asarray(ref)) if data_range is None else float(data_range)
    a, b = _prepare(ref, out, border, y_channel, data_range)
    mse = float(np.mean((a - b) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(data_range**2 / mse)


def _gaussian_window(size=11, sigma=1.5):
    t = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    g = torch.exp(-(t**2) / (2 * sigma**2))
    g = g / g.sum()
    return g


def ssim(ref, out, data_range=None, border=0, y_channel=False):
    """Structural similarity (Wang et al. 2004): 11x11 Gaussian window, sigma 1.5, K1 0.01, K2 0.03.

    Computed per channel over the 'valid' windows only and averaged.
    """
    data_range = data_range_of(np.asarray(ref)) if data_range is None else float(data_range)
    a, b = _prepare(ref, out, border, y_channel, data_range)
    if min(a.shape[:2]) < 11:
        raise ValueError(f"SSIM needs at least 11x11 pixels after the border crop, got {a.shape[0]}x{a.shape[1]}")
    g = _gaussian_window()
    ta = torch.from_numpy(np.ascontiguousarray(a.transpose(2, 0, 1)))[:, None]
    tb = torch.from_numpy(np.ascontiguousarray(b.transpose(2, 0, 1)))[:, None]

    def blur(t):  # separable Gaussian, valid part only
        t = F.conv2d(t, g.view(1, 1, -1, 1))
        return F.conv2d(t, g.view(1, 1, 1, -1))

    mu_a, mu_b = blur(ta), blur(tb)
    var_a = blur(ta * ta) - mu_a**2
    var_b = blur(tb * tb) - mu_b**2
    cov = blur(ta * tb) - mu_a * mu_b
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * mu_a * mu_b + c1) * (2 * cov + c2)) / ((mu_a**2 + mu_b**2 + c1) * (var_a + var_b + c2))
    return float(s.mean())


# -- evaluation -------------------------------------------------------------------------------


@dataclass
class Row:
    image: str
    scale: float
    method: str  # "liif" or "bicubic"
    psnr: float
    ssim: float
    hr_shape: str
    lr_shape: str
    data_range: float


def read_image(path):
    """An image file as a numpy array: a single 2D image (HxW or HxWxC)."""
    from liif_plugin.sources.imageio import read_image as read_file

    x = read_file(path)
    x = np.squeeze(x) if x.ndim > 3 else x
    if x.ndim not in (2, 3):
        raise ValueError(f"{path} holds an array of shape {x.shape}; evaluate works on single 2D images")
    return x


def image_files(inputs):
    """Expand files and folders (their image files, sorted) into a list of paths."""
    if isinstance(inputs, (str, Path)):
        inputs = [inputs]
    files = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in IMAGE_SUFFIXES)
            if not found:
                raise FileNotFoundError(f"the folder {p} holds no images ({', '.join(IMAGE_SUFFIXES)})")
            files.extend(found)
        elif p.exists():
            files.append(p)
        else:
            raise FileNotFoundError(f"{p} does not exist; give image files or a folder of images")
    return files


def centre_crop(x, size):
    """The central size x size part of x (the whole axis where it is shorter)."""
    h, w = x.shape[:2]
    a, b = max((h - size) // 2, 0), max((w - size) // 2, 0)
    return x[a : a + size, b : b + size]


def parse_scales(text):
    """'2,3,4' -> [2.0, 3.0, 4.0] with a clear error for anything else."""
    try:
        scales = [float(s) for s in str(text).split(",") if s.strip()]
    except ValueError:
        raise ValueError(f"scales must be numbers separated by commas, e.g. 2,3,4; got {text!r}") from None
    if not scales or any(not math.isfinite(s) or s <= 1 for s in scales):
        raise ValueError(f"scales must be numbers greater than 1, e.g. 2,3,4; got {text!r}")
    return scales


def evaluate_image(hr, scales, *, model=None, name="image", y_channel=False, crops_dir=None, progress=None):
    """Rows of PSNR/SSIM for LIIF and bicubic on one ground-truth array, per scale."""
    from liif_plugin.models.loading import get_model

    hr = arrays.check_image(hr)
    m = get_model(model)
    rows = []
    for s in scales:
        gt, lr = degrade(hr, s)
        dr = data_range_of(gt)
        sr = m.encode(lr).render(gt.shape[:2], progress=progress)
        bi = bicubic_resize(lr, gt.shape[:2])
        for method, out in (("liif", sr), ("bicubic", bi)):
            rows.append(
                Row(
                    name,
                    float(s),
                    method,
                    psnr(gt, out, dr, border=s, y_channel=y_channel),
                    ssim(gt, out, dr, border=s, y_channel=y_channel),
                    f"{gt.shape[0]}x{gt.shape[1]}",
                    f"{lr.shape[0]}x{lr.shape[1]}",
                    dr,
                )
            )
        if crops_dir is not None:
            save_side_by_side(Path(crops_dir) / f"{name}_x{s:g}.png", lr, bi, sr, gt)
    return rows


def _to_display(x):
    """uint8 RGB view of any image for the side-by-side PNG."""
    planes, layout = arrays.to_planes(x)
    p = planes[0].transpose(1, 2, 0)
    return (np.clip(p, 0, 1) * 255 + 0.5).astype(np.uint8)


def save_side_by_side(path, lr, bicubic, sr, gt, size=128):
    """PNG of the central crop: LR (nearest-neighbour enlarged) | bicubic | LIIF | ground truth."""
    from PIL import Image

    h, w = gt.shape[:2]
    s = min(size, h, w)
    a, b = (h - s) // 2, (w - s) // 2
    sy, sx = lr.shape[0] / h, lr.shape[1] / w
    ys = np.minimum(((np.arange(a, a + s) + 0.5) * sy).astype(int), lr.shape[0] - 1)
    xs = np.minimum(((np.arange(b, b + s) + 0.5) * sx).astype(int), lr.shape[1] - 1)
    tiles = [_to_display(lr)[ys][:, xs]] + [_to_display(im)[a : a + s, b : b + s] for im in (bicubic, sr, gt)]
    gap = np.full((s, 4, 3), 255, np.uint8)
    strip = np.concatenate([t for pair in zip(tiles, [gap] * 4) for t in pair][:-1], axis=1)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip).save(path)
    return path


def evaluate(inputs, scales=(2, 3, 4, 6, 12), *, model=None, y_channel=False, crop=None, crops_dir=None, progress=True):
    """Evaluate LIIF against bicubic on files, folders or arrays. Returns a list of Row.

    inputs: a path, a folder, a list of them, or a dict {name: array}. crop: evaluate the central
    crop x crop of each image (None: the whole image). progress: show a tqdm bar over all renders.
    """
    from liif_plugin.models.loading import get_model

    m = get_model(model)
    if isinstance(inputs, dict):
        items = list(inputs.items())
    elif isinstance(inputs, np.ndarray):
        items = [("image", inputs)]
    else:
        files = image_files(inputs)
        items = list(zip(row_names(files), files))
    scales = [float(s) for s in scales]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=len(items) * len(scales), desc="liif evaluate", unit="render")
    rows = []
    try:
        for name, src in items:
            x = read_image(src) if isinstance(src, (str, Path)) else arrays.check_image(np.asarray(src))
            if crop:
                x = centre_crop(x, int(crop))
            for s in scales:
                rows.extend(evaluate_image(x, [s], model=m, name=name, y_channel=y_channel, crops_dir=crops_dir))
                if bar is not None:
                    bar.set_postfix_str(f"{name} x{s:g}")
                    bar.update(1)
    finally:
        if bar is not None:
            bar.close()
    return rows


def row_names(paths) -> list[str]:
    """Each file's name in the table: its stem, or its file name where stems repeat (astro.png, astro.jpg),
    or its path where those repeat too, so no two rows (nor two saved crops) share a name."""
    paths = [Path(p) for p in paths]
    for key in (lambda p: p.stem, lambda p: p.name, str):
        names = [key(p) for p in paths]
        if len(set(names)) == len(names):
            return names
    return [str(p) for p in paths]


def summary(rows):
    """Per scale: mean PSNR/SSIM of LIIF and bicubic and the mean gain, over the images both render with
    some error (a flat image is exact for both: infinite PSNR, no gain to speak of). A list of dicts."""
    out = []
    for s in sorted({r.scale for r in rows}):
        at = [r for r in rows if r.scale == s]
        scored = {r.image for r in at if all(math.isfinite(q.psnr) for q in at if q.image == r.image)}
        pick = {meth: [r for r in at if r.method == meth and r.image in scored] for meth in ("liif", "bicubic")}
        mean = {
            meth: (float(np.mean([r.psnr for r in v])), float(np.mean([r.ssim for r in v]))) for meth, v in pick.items()
        }
        out.append(
            {
                "scale": s,
                "images": len(pick["liif"]),
                "liif_psnr": mean["liif"][0],
                "bicubic_psnr": mean["bicubic"][0],
                "gain_db": mean["liif"][0] - mean["bicubic"][0],
                "liif_ssim": mean["liif"][1],
                "bicubic_ssim": mean["bicubic"][1],
            }
        )
    return out


def format_table(rows):
    """A plain-text table: one line per image and scale, then the means per scale."""
    head = f"{'image':<24} {'scale':>6} {'LIIF PSNR':>10} {'bicubic':>8} {'gain':>6} {'LIIF SSIM':>10} {'bicubic':>8}"
    lines = [head, "-" * len(head)]
    by_key = {(r.image, r.scale, r.method): r for r in rows}
    for img, s in dict.fromkeys((r.image, r.scale) for r in rows):
        a, b = by_key[(img, s, "liif")], by_key[(img, s, "bicubic")]
        gain = a.psnr - b.psnr
        gain_text = f"{gain:>+6.2f}" if math.isfinite(gain) else f"{'flat':>6}"  # (both exact: no error to compare)
        lines.append(
            f"{img[:24]:<24} {'x%g' % s:>6} {a.psnr:>10.2f} {b.psnr:>8.2f} {gain_text} {a.ssim:>10.4f} {b.ssim:>8.4f}"
        )
    if len({r.image for r in rows}) > 1:
        lines.append("-" * len(head))
        for m in (m for m in summary(rows) if m["images"]):
            lines.append(
                f"{'mean of %d' % m['images']:<24} {'x%g' % m['scale']:>6} {m['liif_psnr']:>10.2f} "
                f"{m['bicubic_psnr']:>8.2f} {m['gain_db']:>+6.2f} {m['liif_ssim']:>10.4f} "
                f"{m['bicubic_ssim']:>8.4f}"
            )
    return "\n".join(lines)


def write_csv(rows, path):
    path = Path(path)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(asdict(rows[0])))
        w.writeheader()
        for r in rows:
            w.writerow(asdict(r))
    return path


def write_json(rows, path, **meta):
    path = Path(path)
    # JSON has no inf or NaN: a flat image's infinite PSNR is written as null
    finite = [
        {k: (v if not isinstance(v, float) or math.isfinite(v) else None) for k, v in asdict(r).items()} for r in rows
    ]
    path.write_text(json.dumps({**meta, "rows": finite, "summary": summary(rows)}, indent=2, allow_nan=False))
    return path
