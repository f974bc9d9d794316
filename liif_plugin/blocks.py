"""Block-wise upscaling: bounded memory for images whose latent map is too large to hold.

The input is cut into blocks. Each output pixel belongs to the block its centre falls in. For a
block of input rows [a, b), its pixels' ensemble reaches latent codes in [a-1, b+1) and the 3x3
unfold one more, so the block needs exact features on [a-2, b+2): the encoder is run on that
window plus a halo of its receptive radius. Every output pixel is then computed from the same
numbers as in a whole-image render.
"""
import math

import numpy as np

from .field import ImageField

MARGIN = 2


def output_spans(n_out, lo, hi, n_in, block):
    """For each input block [a, b) along one axis, the output index range whose centres fall in it."""
    step = (hi - lo) / n_out
    spans = []
    for a in range(0, n_in, block):
        b = min(a + block, n_in)
        # Output j has its centre at lo + (j + 0.5) * step; find the first j with centre >= a.
        j0 = 0 if a == 0 else max(0, math.ceil((a - lo) / step - 0.5))
        j1 = n_out if b >= n_in else max(0, math.ceil((b - lo) / step - 0.5))
        j0, j1 = min(j0, n_out), min(j1, n_out)
        if j1 > j0:
            spans.append(((a, b), (j0, j1)))
    return spans


def block_bounds(n, block, min_size=1):
    """Cut n pixels into blocks of `block`; a last block smaller than `min_size` joins its neighbour."""
    cuts = list(range(0, n, block)) + [n]
    if len(cuts) > 2 and cuts[-1] - cuts[-2] < min_size:
        del cuts[-2]
    return list(zip(cuts[:-1], cuts[1:]))


def output_ranges(n_out, lo, hi, bounds):
    """Output index range [j0, j1) of each input block in `bounds` (possibly empty), in order.

    Output j belongs to the block its centre lo + (j + 0.5) * (hi - lo) / n_out falls in; the
    ranges tile [0, n_out) with no gap, which is what a chunked (dask) output needs.
    """
    step = (hi - lo) / n_out
    starts = [0 if a == 0 else min(n_out, max(0, math.ceil((a - lo) / step - 0.5))) for a, _ in bounds]
    ends = starts[1:] + [n_out]
    return list(zip(starts, ends))


def feature_window(model, planes, rows, cols):
    """Exact latent features over input rows/cols ranges (with MARGIN), and the window's offset."""
    H, W = planes.shape[-2:]
    R = model.receptive_radius
    fa, fb = max(rows[0] - MARGIN, 0), min(rows[1] + MARGIN, H)
    fc, fd = max(cols[0] - MARGIN, 0), min(cols[1] + MARGIN, W)
    ia, ib = max(fa - R, 0), min(fb + R, H)
    ic, id_ = max(fc - R, 0), min(fd + R, W)
    feat = model.encode_planes(planes[:, :, ia:ib, ic:id_])
    return feat[:, :, fa - ia:fb - ia, fc - ic:fd - ic], (fa, fc)


def iter_blocks(model, planes, out_shape, region, block=512, detail=1.0, kind=None, precision=None):
    """Yield (out_rows, out_cols, float planes (B, rows, cols, 3)) for each input block in turn.

    `detail` < 1 blends each part with the bicubic of the whole image on the same grid; `kind` is
    the planes' layout kind (it spares resampling gray planes three times).
    """
    from .bicubic import ClassicResampler, blend

    classic = ClassicResampler(planes, kind) if detail != 1.0 else None
    H, W = planes.shape[-2:]
    h, w = out_shape
    y0, x0, y1, x1 = region
    for in_rows, out_rows in output_spans(h, y0, y1, H, block):
        for in_cols, out_cols in output_spans(w, x0, x1, W, block):
            feat, offset = feature_window(model, planes, in_rows, in_cols)
            field = ImageField(model, feat, None, full_shape=(H, W), offset=offset, precision=precision)
            part = field.render_planes(out_shape, region, rows=out_rows, cols=out_cols)
            if classic is not None:
                part = blend(part, classic.render(region, out_shape, rows=out_rows, cols=out_cols), detail)
            yield out_rows, out_cols, part


def render_blockwise(model, planes, out_shape, region, block=512, progress=None, precision=None):
    """Render planes (B, 3, H, W) in [0, 1] to (B, h, w, 3), one input block at a time."""
    h, w = out_shape
    out = np.empty((planes.shape[0], h, w, 3), dtype=np.float32)
    done = 0
    for (ra, rb), (ca, cb), part in iter_blocks(model, planes, out_shape, region, block, precision=precision):
        out[:, ra:rb, ca:cb] = part
        done += (rb - ra) * (cb - ca)
        if progress is not None:
            progress(done, h * w)
    return out


def upscale_blockwise(model, x, out_shape, region, block=512, progress=None, detail=1.0, precision=None):
    """Like ``api.upscale`` for a big image, but each block goes straight to the output dtype.

    The float32 planes of the whole output are never held (for a 4096x4096 RGB uint8 result they
    and their float64 conversion would take over 1 GB); only one block's are.
    """
    from . import arrays

    planes, layout = arrays.to_planes(x)
    h, w = out_shape
    out = None
    done = 0
    for (ra, rb), (ca, cb), part in iter_blocks(model, planes, out_shape, region, block, detail, layout.kind,
                                                precision):
        part = arrays.from_planes(part, layout)
        if out is None:
            out = np.empty((h, w) + part.shape[2:], dtype=part.dtype)
        out[ra:rb, ca:cb] = part
        done += (rb - ra) * (cb - ca)
        if progress is not None:
            progress(done, h * w)
    return out
