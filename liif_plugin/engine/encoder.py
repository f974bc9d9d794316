"""Running the encoder in overlapping tiles, so memory stays bounded on any image size.

A tile is cut with a halo at least as wide as the encoder's receptive radius; only its core is
kept. With zero 'same' padding, every kept feature then sees exactly the input it would see in
one pass over the whole image, so the stitched map equals the untiled one (up to float rounding).

A caller that may have to stop (a viewer whose view moved on) passes `check`: it is called after
every convolution of an EDSR encoder (34 of them for EDSR-baseline, each a few tens of ms on a view's
window), and raising from it stops the encode there. The numbers are the same as without it.
"""

import torch

from liif_plugin.models.edsr import EDSR

# oneDNN's convolution with the ReLU or the residual add done on each output block while it is in
# cache (the ops PyTorch's own compiler uses on the CPU). The plain module makes 5 passes over the
# activations per residual block (conv, ReLU, conv, *res_scale, add), each its own parallel region;
# fused it is 2. Measured on a 2-core AVX2 AMD EPYC, shared, 128x128: 1.08x (best) to 1.26x
# (median) faster than the channels_last module, bit-identical features.
_FUSED_CONV = getattr(torch.ops.mkldnn, "_convolution_pointwise", None)
FUSE = True


def run_encoder(encoder, x, check=None):
    """encoder(x), with the convolutions fused with their ReLU / residual add where that is exact
    and available (EDSR on the CPU, inference, fp32 or bf16 weights and input); any other case runs
    the module as it is. `check()` is called between the convolutions of an EDSR encoder (see above)."""
    edsr = isinstance(encoder, EDSR) and not torch.is_grad_enabled()
    if not (
        FUSE
        and _FUSED_CONV is not None
        and edsr
        and x.device.type == "cpu"
        and x.dtype in (torch.float32, torch.bfloat16)
    ):
        return _edsr_steps(encoder, x, check) if edsr and check is not None else encoder(x)
    try:
        return _edsr_fused(encoder, x, check)
    except RuntimeError:  # a PyTorch build without these oneDNN ops
        return _edsr_steps(encoder, x, check) if check is not None else encoder(x)


def _conv(conv, x, unary="none"):
    assert _FUSED_CONV is not None  # run_encoder fuses only where the op exists
    return _FUSED_CONV(x, conv.weight, conv.bias, [1, 1], [1, 1], [1, 1], 1, unary, [], "")


def _conv_add(conv, x, other):
    """conv(x) + other in one pass (the same single float addition as the module's)."""
    assert _FUSED_CONV is not None  # run_encoder fuses only where the op exists
    return _FUSED_CONV.binary(x, other, conv.weight, conv.bias, [1, 1], [1, 1], [1, 1], 1, "add", None, None, [], None)


def _edsr_fused(enc, x, check=None):
    check = check or _nothing
    h = _conv(enc.head[0], x)
    r = h
    for block in enc.body[:-1]:
        c1, c2 = block.body[0], block.body[2]
        check()
        t = _conv(c1, r, "relu")
        check()
        r = _conv_add(c2, t, r) if block.res_scale == 1 else r + _conv(c2, t) * block.res_scale
    check()
    return _conv_add(enc.body[-1], r, h)


def _edsr_steps(enc, x, check):
    """The module's forward (head, then body added to it), one residual block at a time with a check
    between blocks: the same operations in the same order, so the same numbers."""
    h = enc.head(x)
    r = h
    for block in enc.body[:-1]:
        check()
        r = block(r)
    check()
    return h + enc.body[-1](r)


def _nothing():
    pass


def encode_tiled(encoder, x, tile=256, halo=None, memory_format=torch.contiguous_format, progress=None, check=None):
    """Encoder features of x (B, 3, H, W), normalized to [-1, 1], computed tile by tile.

    Each tile goes through the encoder in `memory_format` (the encoder's weights should match it).
    `progress(done, total)` is called after each tile (in tiles); raising from it stops the work.
    `check()` is called between the encoder's convolutions (see run_encoder).
    """
    B, _, H, W = x.shape
    halo = encoder.receptive_radius if halo is None else halo
    if H <= tile + 2 * halo and W <= tile + 2 * halo:
        return run_encoder(encoder, x.contiguous(memory_format=memory_format), check)
    out = None
    total, done = -(-H // tile) * -(-W // tile), 0
    for y0 in range(0, H, tile):
        y1 = min(y0 + tile, H)
        for x0 in range(0, W, tile):
            x1 = min(x0 + tile, W)
            a, b = max(y0 - halo, 0), min(y1 + halo, H)
            c, d = max(x0 - halo, 0), min(x1 + halo, W)
            f = run_encoder(encoder, x[:, :, a:b, c:d].contiguous(memory_format=memory_format), check)
            if out is None:
                out = torch.empty((B, f.shape[1], H, W), dtype=f.dtype, device=f.device)
            out[:, :, y0:y1, x0:x1] = f[:, :, y0 - a : y1 - a, x0 - c : x1 - c]
            done += 1
            if progress is not None:
                progress(done, total)
    assert out is not None  # at least one tile: the image is not empty (sources reject empty images)
    return out
