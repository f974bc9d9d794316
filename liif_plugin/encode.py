"""Running the encoder in overlapping tiles, so memory stays bounded on any image size.

A tile is cut with a halo at least as wide as the encoder's receptive radius; only its core is
kept. With zero 'same' padding, every kept feature then sees exactly the input it would see in
one pass over the whole image, so the stitched map equals the untiled one (up to float rounding).
"""
import torch


def encode_tiled(encoder, x, tile=256, halo=None, memory_format=torch.contiguous_format, progress=None):
    """Encoder features of x (B, 3, H, W), normalized to [-1, 1], computed tile by tile.

    Each tile goes through the encoder in `memory_format` (the encoder's weights should match it).
    `progress(done, total)` is called after each tile (in tiles); raising from it stops the work.
    """
    B, _, H, W = x.shape
    halo = encoder.receptive_radius if halo is None else halo
    if H <= tile + 2 * halo and W <= tile + 2 * halo:
        return encoder(x.contiguous(memory_format=memory_format))
    out = None
    total, done = -(-H // tile) * -(-W // tile), 0
    for y0 in range(0, H, tile):
        y1 = min(y0 + tile, H)
        for x0 in range(0, W, tile):
            x1 = min(x0 + tile, W)
            a, b = max(y0 - halo, 0), min(y1 + halo, H)
            c, d = max(x0 - halo, 0), min(x1 + halo, W)
            f = encoder(x[:, :, a:b, c:d].contiguous(memory_format=memory_format))
            if out is None:
                out = torch.empty((B, f.shape[1], H, W), dtype=f.dtype, device=f.device)
            out[:, :, y0:y1, x0:x1] = f[:, :, y0 - a:y1 - a, x0 - c:x1 - c]
            done += 1
            if progress is not None:
                progress(done, total)
    return out
