"""How noisy is an image? A robust estimate, and the warning the faces show for the released model.

The estimate is Donoho's: the median absolute value of the finest diagonal Haar wavelet
coefficients, (a - b - c + d) / 2 over 2x2 blocks, divided by 0.6745, taken over the flattest
part of the image. For white Gaussian noise of
standard deviation sigma those coefficients are Gaussian with the same sigma (the transform is
orthonormal), while smooth image content cancels in them, and the median ignores the edges that
do not. The result is in units of each plane's [0, 1] range as liif_plugin.sources.arrays makes it (uint8
/ 255; other integers stretched by the image's own min..max), i.e. the numbers the model sees.
"""

import numpy as np

from liif_plugin.sources import arrays

# The released model (trained on clean DIV2K photos) turns noise into worm-like texture. Measured
# with benchmarks/noise_threshold.py (six scikit-image images, four of them microscopy, x2,
# Poisson-Gaussian noise): LIIF's mean PSNR gain over bicubic against the clean image is +0.76 dB
# where this estimate reads 0.008 and -0.47 dB where it reads 0.013, crossing zero near 0.011
# (microscopy alone loses from about 0.005, the photos from about 0.03). Clean images read
# 0.000-0.006, a few small, finely textured crops up to about 0.016 (see docs/microscopy.md).
NOISE_THRESHOLD = 0.011
RELEASED_MODEL = "edsr-baseline"
ROBUST_MODEL = "edsr-baseline-denoise"  # the first model fine-tuned on noisy inputs (docs/weights.md)
MAX_BLOCKS = 1 << 20  # 2x2 blocks measured at most (a regular subset of a bigger image): plenty for a median
FLAT_FRACTION = 0.25  # the share of the image (its flattest part) the estimate looks at
PHOTON_BANDS = 6  # brightness bands estimate_photons fits noise against


def _quads(p):
    """The four pixels of every 2x2 block of a 2D plane, as float64 arrays (None when under 2x2)."""
    h, w = p.shape[0] // 2 * 2, p.shape[1] // 2 * 2
    if h < 2 or w < 2:
        return None
    return tuple(p[i:h:2, j:w:2].astype(np.float64) for i, j in ((0, 0), (0, 1), (1, 0), (1, 1)))


def _flat_blocks(p):
    """(diagonal Haar coefficient, mean, activity, inside) of every 2x2 block of plane `p`; None when under 16 inside.

    Noise is measured on the flattest blocks by `activity`: the other two finest bands (horizontal and
    vertical detail, summed over 3x3 blocks). For white noise those bands are independent of the
    diagonal one, so choosing by them does not bias the estimate; for an image it leaves out the fine
    texture that would otherwise read as noise. Only blocks `inside` the range count: clipping at 0
    or 1 removes part of the noise.
    """
    quads = _quads(p)
    if quads is None:
        return None
    a, b, c, d = quads
    hh = (a - b - c + d) / 2
    activity = np.pad(np.abs(a + b - c - d) + np.abs(a - b + c - d), 1, mode="edge")
    n, m = hh.shape
    activity = np.sum([activity[i : i + n, j : j + m] for i in range(3) for j in range(3)], axis=0)
    inside = (np.minimum(np.minimum(a, b), np.minimum(c, d)) > 0) & (np.maximum(np.maximum(a, b), np.maximum(c, d)) < 1)
    if inside.sum() < 16:
        return None  # all at the range's ends: nothing to measure
    return hh, (a + b + c + d) / 4, activity, inside


def _mad_sigma(hh):
    """Sigma of zero-mean Gaussian samples from their median absolute value (robust to a few edges)."""
    return float(np.median(np.abs(hh)) / 0.6745)


def _diagonal_mad(p):
    """Noise sigma of one 2D float plane from its finest diagonal Haar coefficients, over its flattest quarter."""
    blocks = _flat_blocks(p)
    if blocks is None:
        return 0.0
    hh, _, activity, inside = blocks
    return _mad_sigma(hh[inside & (activity <= np.quantile(activity[inside], FLAT_FRACTION))])


def _photons(p) -> float:
    """Photons at the top of the range of one 2D plane, from how its noise grows with brightness (estimate_photons)."""
    blocks = _flat_blocks(p)
    if blocks is None:
        return float("inf")
    hh, mean, activity, inside = blocks
    edges = np.quantile(mean[inside], np.linspace(0, 1, PHOTON_BANDS + 1))
    points = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        band = inside & (mean >= lo) & (mean <= hi)
        if band.sum() < 32:
            continue
        flat = band & (activity <= np.quantile(activity[band], FLAT_FRACTION))
        points.append((float(mean[flat].mean()), _mad_sigma(hh[flat]) ** 2))
    if len(points) < 3:
        return float("inf")
    m, var = np.array(points).T
    slope = np.polyfit(m, var, 1)[0]  # variance = slope * brightness + read noise variance
    return float(1 / slope) if slope > 1e-6 else float("inf")  # a million photons and up: no shot noise to see


def _gray_planes(x):
    """The 2D [0, 1] planes noise is measured on: each colour channel and plane of `x`, of at most
    MAX_BLOCKS 2x2 blocks (whole blocks, every stride-th one along each axis, of a bigger image)."""
    x = arrays.check_image(x)
    H, W = x.shape[:2]
    stride = int(np.ceil(np.sqrt(H * W / 4 / MAX_BLOCKS)))
    if stride > 1:

        def pairs(n):
            starts = np.arange(0, n - 1, 2 * stride)
            return np.stack([starts, starts + 1], axis=1).ravel()

        x = x[pairs(H)][:, pairs(W)]
    planes, layout = arrays.to_planes(x)
    for b, p in enumerate(planes):
        colour = layout.kind == "rgb" or (layout.kind == "rgba" and b == 0)
        yield from (p[c] for c in (range(3) if colour else (0,)))


def estimate_noise(x):
    """Noise sigma of image `x` (HxW or HxWxC array) in units of its [0, 1] range.

    Each colour channel and plane is measured on its own; the noisiest one is returned, since
    noise in any of them becomes texture in the output.
    """
    return max(_diagonal_mad(p) for p in _gray_planes(x))


def estimate_photons(x) -> float:
    """About how many photons the brightest pixel of `x` collected: inf when the noise does not grow with brightness.

    Shot (Poisson) noise has a variance proportional to the signal, a camera's read noise a constant
    one: the noise variance of brightness bands (PHOTON_BANDS of equal counts, each measured over its
    flattest quarter as estimate_noise does) is fitted by slope * brightness + constant, in units of
    the [0, 1] range, and 1 / slope is the photon count at 1. The estimate is rough (within 20 % on a
    256 px image, a factor of 2-3 either way on an 80 px one), enough to tell shot-noise-limited
    from read-noise-limited images.
    Each channel of a multi-channel image is measured on its own; the fewest photons are returned.
    """
    return min(_photons(p) for p in _gray_planes(x))


def fine_detail(x) -> float:
    """How much the finest scale varies: the mean of the finest horizontal and vertical Haar detail.

    Same units as estimate_noise ([0, 1] range), over the whole image (the colour channels
    averaged). Noise adds to it, so noise / fine_detail says how much of what a model would
    enlarge as detail is noise: white noise alone reads about 1.25, a textured photo near 0.05.
    """
    planes, _ = arrays.to_planes(arrays.check_image(x))
    means = []
    for p in planes:
        quads = _quads(p.mean(axis=0))
        if quads is None:
            return 0.0
        a, b, c, d = quads
        means.append(float(np.mean(np.abs(a + b - c - d) + np.abs(a - b + c - d)) / 2))
    return float(np.mean(means))


def coarse_noise_ratio(x) -> float:
    """How the noise estimate falls one scale coarser: estimate_noise of `x` averaged over 2x2 blocks, over
    estimate_noise of `x`, on the plane estimate_noise reports.

    Averaging four pixels halves white noise, so noise reads about 0.5; fine texture, which the estimate
    also reads on small images, does not fall (about 1 and more on clean textured 48-96 px crops). Meant
    for the chooser's sample (at most MAX_BLOCKS blocks, so no plane is subsampled); 0.0 when nothing
    reads as noise.
    """
    sigma, ratio = 0.0, 0.0
    for p in _gray_planes(x):
        s = _diagonal_mad(p)
        quads = _quads(p)
        if s > sigma and quads is not None:
            sigma, ratio = s, _diagonal_mad(sum(quads) / 4) / s
    return ratio


def is_released_model(model):
    """True for the released EDSR-baseline weights: a LiifModel (by name or the file's sha256) or a
    registry name."""
    from liif_plugin.hub import cache

    if getattr(model, "name", model) == RELEASED_MODEL:
        return True
    try:
        return getattr(model, "sha256", None) == cache.entry(RELEASED_MODEL).sha256
    except ValueError:
        return False


def warning_for(model, x, how="lower detail"):
    """noise_warning for image `x`; the image is only measured when `model` is the released one, by the
    chooser's one look (so the warning and `auto`'s reason read the same noise)."""
    if not is_released_model(model):
        return None
    from liif_plugin.quality.choose import measure

    s = measure(x)
    return noise_warning(model, s.noise, how, texture=s.may_be_texture)


def noise_warning(model, sigma, how="lower detail", texture=False):
    """One sentence for a noisy image met by the released model, or None when there is nothing to say.

    `how` names the face's control, e.g. "pass --detail 0.3"; `texture`: what reads as noise may be fine
    texture (liif_plugin.quality.choose.TEXTURE_RATIO), and the sentence says so.
    """
    if sigma < NOISE_THRESHOLD or not is_released_model(model):
        return None
    from liif_plugin.quality.choose import model_for  # the registry says which models serve noisy images

    micro = model_for("noisy-microscopy") or ROBUST_MODEL
    photo = model_for("noisy-photo") or ROBUST_MODEL
    maybe = ", or fine texture: if it is clean texture, the released model suits it" if texture else ""
    return (
        f"this image looks noisy (noise sigma {sigma:.3f} of its range{maybe}) and the released model "
        f"'{RELEASED_MODEL}' turns noise into worm-like texture: {how} to keep less of LIIF's "
        f"difference from bicubic, or let model 'auto' (the default) pick a noise-robust model "
        f"('{micro}' for micrographs, '{photo}' for photos; --model NAME on the command line, "
        f"model='NAME' in Python, the model list in napari)"
    )
