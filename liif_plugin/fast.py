"""The fast decoder: the same numbers as ``query.query_reference``, with less work.

Two facts make it fast:
1. The first MLP layer is linear in [unfolded feature, rel. coordinate, cell]. Its feature part
   depends only on which latent code is looked up, so it is computed once per latent code, as a
   3x3 convolution of the feature map (``first_layer_map``), instead of once per query.
2. The nearest lookup is index arithmetic (the same float32 steps as ``grid_sample``) followed by
   a row gather, so no (Q, 576) input is ever built.

The feature map may be a window of a larger image (``offset``), which is how tiles are rendered.
"""
import torch
import torch.nn.functional as F


def first_layer_map(net, feat):
    """Feature part of the first MLP layer, plus its bias, for every latent code: (B, H, W, hidden)."""
    first = net.imnet.layers[0]
    C = feat.shape[1]
    n_feat = C * 9 if net.feat_unfold else C
    w = first.weight[:, :n_feat]
    if net.feat_unfold:
        pre = F.conv2d(feat, w.reshape(-1, C, 3, 3), first.bias, padding=1)
    else:
        pre = F.conv2d(feat, w.reshape(-1, C, 1, 1), first.bias)
    return pre.permute(0, 2, 3, 1).contiguous()


def nearest_index(c, n):
    """Index of the nearest of n cells for normalized coordinates c (grid_sample's arithmetic)."""
    return torch.round((c + 1) * (n / 2) - 0.5).long().clamp_(0, n - 1)


def query_fast(net, pre, coord, cell, full_shape, offset=(0, 0)):
    """Decode values at `coord` (B, Q, 2) given `pre` = first_layer_map of a feature window.

    `full_shape` is the (H, W) of the whole latent grid; `offset` is where the window starts in it.
    Every queried latent code must lie inside the window.
    """
    B, h, w, hidden = pre.shape
    H, W = full_shape
    first = net.imnet.layers[0]
    n_pos = first.weight.shape[1] - (4 if net.cell_decode else 2)
    w_rel = first.weight[:, n_pos:n_pos + 2]
    rest = net.imnet.layers[1:]
    Q = coord.shape[1]

    cell_term = None
    if net.cell_decode:
        rel_cell = cell * torch.tensor([H, W], dtype=cell.dtype, device=cell.device)
        cell_term = rel_cell @ first.weight[:, n_pos + 2:n_pos + 4].T  # (B, Q, hidden)

    if net.local_ensemble:
        shifts, eps = [(-1, -1), (-1, 1), (1, -1), (1, 1)], 1e-6
    else:
        shifts, eps = [(0, 0)], 0.0

    flat = pre.view(B * h * w, hidden)
    batch_base = (torch.arange(B, device=pre.device) * (h * w)).view(B, 1)
    preds, areas = [], []
    for sy, sx in shifts:
        cy = (coord[..., 0] + (sy / H + eps)).clamp(-1 + 1e-6, 1 - 1e-6)
        cx = (coord[..., 1] + (sx / W + eps)).clamp(-1 + 1e-6, 1 - 1e-6)
        iy = nearest_index(cy, H)
        ix = nearest_index(cx, W)
        # Latent centre in float32 exactly as coords.axis_centres computes it.
        centre_y = -1 + 1 / H + (2 / H) * iy.float()
        centre_x = -1 + 1 / W + (2 / W) * ix.float()
        rel = torch.stack(((coord[..., 0] - centre_y) * H, (coord[..., 1] - centre_x) * W), dim=-1)
        rows = (iy - offset[0]) * w + (ix - offset[1]) + batch_base
        x = flat.index_select(0, rows.reshape(-1)).view(B, Q, hidden)
        x = torch.addmm(x.view(-1, hidden), rel.view(-1, 2), w_rel.T).view(B, Q, hidden)
        if cell_term is not None:
            x = x + cell_term
        preds.append(rest(x))  # rest starts with the first layer's ReLU
        areas.append(torch.abs(rel[..., 0] * rel[..., 1]) + 1e-9)

    total = torch.stack(areas).sum(dim=0)
    if net.local_ensemble:
        areas = areas[::-1]
    out = 0
    for pred, area in zip(preds, areas):
        out = out + pred * (area / total).unsqueeze(-1)
    return out
