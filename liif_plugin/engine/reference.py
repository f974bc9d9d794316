"""The readable reference of LIIF's query procedure: the oracle every fast path is tested against.

Given a feature map (B, C, H, W) and query coordinates (B, Q, 2) in [-1, 1] (y, x order), it
returns the decoded values (B, Q, out_dim), following the paper step by step:
nearest latent lookup, relative coordinate, cell, MLP, and the area-weighted local ensemble.
"""

import torch
import torch.nn.functional as F


def unfold3x3(feat):
    """Each feature vector becomes the concatenation of its 3x3 neighbourhood (zero padded)."""
    B, C, H, W = feat.shape
    return F.unfold(feat, 3, padding=1).view(B, C * 9, H, W)


def latent_centres(H, W, device=None):
    """Normalized (y, x) centre of every latent code, shape (1, 2, H, W)."""
    from liif_plugin.engine.coords import axis_centres

    ys = axis_centres(H).to(device)
    xs = axis_centres(W).to(device)
    grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=0)
    return grid.unsqueeze(0)


def nearest(grid_values, coord):
    """Value of the nearest grid cell at each coordinate: (B, C, H, W), (B, Q, 2) -> (B, Q, C)."""
    sampled = F.grid_sample(grid_values, coord.flip(-1).unsqueeze(1), mode="nearest", align_corners=False)
    return sampled[:, :, 0, :].permute(0, 2, 1)


def query_reference(net, feat: torch.Tensor, coord: torch.Tensor, cell: torch.Tensor) -> torch.Tensor:
    """Decode values at `coord` with cell sizes `cell` (both (B, Q, 2), normalized units)."""
    if net.feat_unfold:
        feat = unfold3x3(feat)
    B, _, H, W = feat.shape
    centres = latent_centres(H, W, feat.device).expand(B, 2, H, W)

    if net.local_ensemble:
        shifts = [(-1, -1), (-1, 1), (1, -1), (1, 1)]
        eps = 1e-6
    else:
        shifts = [(0, 0)]
        eps = 0.0
    ry, rx = 1 / H, 1 / W  # half a latent cell in normalized units

    preds, areas = [], []
    for sy, sx in shifts:
        c = coord.clone()
        c[:, :, 0] += sy * ry + eps
        c[:, :, 1] += sx * rx + eps
        c.clamp_(-1 + 1e-6, 1 - 1e-6)
        q_feat = nearest(feat, c)
        q_centre = nearest(centres, c)
        rel = coord - q_centre
        rel[:, :, 0] *= H
        rel[:, :, 1] *= W
        parts = [q_feat, rel]
        if net.cell_decode:
            rel_cell = cell.clone()
            rel_cell[:, :, 0] *= H
            rel_cell[:, :, 1] *= W
            parts.append(rel_cell)
        inp = torch.cat(parts, dim=-1)
        preds.append(net.imnet(inp.view(B * inp.shape[1], -1)).view(B, inp.shape[1], -1))
        areas.append(torch.abs(rel[:, :, 0] * rel[:, :, 1]) + 1e-9)

    total = torch.stack(areas).sum(dim=0)
    if net.local_ensemble:
        # Each prediction is weighted by the area opposite to its latent code.
        areas = areas[::-1]
    out = torch.zeros_like(preds[0])  # 0 + x is x exactly: the same sums as the authors' `ret = 0`
    for pred, area in zip(preds, areas):
        out = out + pred * (area / total).unsqueeze(-1)
    return out
