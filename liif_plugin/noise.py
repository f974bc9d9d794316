"""How noisy is an image? A robust estimate, and the warning the faces show for the released model.

The estimate is Donoho's: the median absolute value of the finest diagonal Haar wavelet
coefficients, (a - b - c + d) / 2 over 2x2 blocks, divided by 0.6745. For white Gaussian noise of
standard deviation sigma those coefficients are Gaussian with the same sigma (the transform is
orthonormal), while smooth image content cancels in them, and the median ignores the edges that
do not. The result is in units of each plane's [0, 1] range as liif_plugin.arrays makes it (uint8
/ 255; other integers stretched by the image's own min..max), i.e. the numbers the model sees.
"""
import numpy as np

from . import arrays

# The released model (trained on clean DIV2K photos) turns noise into worm-like texture. Measured
# with benchmarks/noise_threshold.py (scikit-image images, x2, Poisson-Gaussian noise): LIIF's
# PSNR against the clean image falls below bicubic's once this estimate reaches about 0.02.
NOISE_THRESHOLD = 0.02
RELEASED_MODEL = "edsr-baseline"
MAX_COEFFICIENTS = 1 << 22  # a strided subset above this: the median needs no more


def _diagonal_mad(p):
    """Noise sigma of one 2D float plane from its finest diagonal Haar coefficients."""
    h, w = p.shape[0] // 2 * 2, p.shape[1] // 2 * 2
    if h < 2 or w < 2:
        return 0.0
    stride = max(1, int(np.ceil(np.sqrt(h * w / 4 / MAX_COEFFICIENTS))))
    a = p[0:h:2 * stride, 0:w:2 * stride]
    b = p[0:h:2 * stride, 1:w:2 * stride]
    c = p[1:h:2 * stride, 0:w:2 * stride]
    d = p[1:h:2 * stride, 1:w:2 * stride]
    hh = (a.astype(np.float64) - b - c + d) / 2
    return float(np.median(np.abs(hh)) / 0.6745)


def estimate_noise(x):
    """Noise sigma of image `x` (HxW or HxWxC array) in units of its [0, 1] range.

    Each colour channel and plane is measured on its own; the noisiest one is returned, since
    noise in any of them becomes texture in the output.
    """
    planes, layout = arrays.to_planes(x)
    sigmas = []
    for b, p in enumerate(planes):
        colour = layout.kind == "rgb" or (layout.kind == "rgba" and b == 0)
        sigmas += [_diagonal_mad(p[c]) for c in (range(3) if colour else (0,))]
    return max(sigmas)


def is_released_model(model):
    """True for the released EDSR-baseline weights, by registry name or by the file's sha256."""
    from . import weights

    if getattr(model, "name", None) == RELEASED_MODEL:
        return True
    try:
        return getattr(model, "sha256", None) == weights.entry(RELEASED_MODEL).get("sha256")
    except ValueError:
        return False


def noise_warning(model, sigma, how="lower detail"):
    """One sentence for a noisy image met by the released model, or None when there is nothing to say.

    `how` names the face's control, e.g. "pass --detail 0.3".
    """
    if sigma < NOISE_THRESHOLD or not is_released_model(model):
        return None
    return (f"this image looks noisy (noise sigma {sigma:.3f} of its range) and the released model "
            f"'{RELEASED_MODEL}' turns noise into worm-like texture: {how} to keep less of LIIF's "
            "difference from bicubic (a noise-robust model is planned)")
