"""ImageField: an encoded image, rendered at any resolution over any window.

A field holds the latent feature map of a window of the image's latent grid (the whole grid when
it comes from ``LiifModel.encode``; a tile plus margin in the block-wise and dask paths) and the
layout needed to give results back in the user's dtype and channels.

Rendering goes in bands of output rows, so memory is bounded by the band, not the output.
"""

import math

import numpy as np
import torch

from liif_plugin.engine.classic import ClassicResampler, blend, check_detail
from liif_plugin.engine.coords import axis_centres, block_mean, cell_size, parse_box, region_ranges, supersampling
from liif_plugin.engine.decoder import first_layer_map, query_fast
from liif_plugin.engine.reference import query_reference
from liif_plugin.errors import Cancelled, Hint, LiifError  # noqa: F401  (Cancelled re-exported)
from liif_plugin.runtime.hardware import DTYPES, resolve_precision
from liif_plugin.sources import arrays

MAX_OUTPUT_PIXELS = 1 << 28  # 268 M pixels per plane held in memory; beyond that use liif_plugin.sources.dask
# A plane rendered block by block (dask, zarr; a TiledField's parts) is never held whole: only a bound that
# keeps its coordinates meaningful (float32 steps of 2 / 262144 between pixel centres are still exact enough).
MAX_LAZY_OUTPUT_PIXELS = 1 << 36  # 68.7 G pixels per plane, e.g. 262144 x 262144
QUERY_BATCH = 1 << 16  # output pixels (all planes together) decoded per step
PRE_CACHE_BYTES = 512 << 20  # keep the first-layer map of the whole window when it fits
MAP_PART_BYTES = 32 << 20  # a 16-bit first-layer map is made in fp32 parts of about this size


def check_region(region, in_shape):
    H, W = in_shape
    if region is None:
        return (0.0, 0.0, float(H), float(W))
    y0, x0, y1, x1 = parse_box(region, "region")
    if y0 < 0 or x0 < 0 or y1 > H or x1 > W:
        raise ValueError(f"region {region!r} reaches outside the {H}x{W} image; keep it within (0, 0, {H}, {W})")
    return (y0, x0, y1, x1)


def check_out_shape(shape, limit: int = MAX_OUTPUT_PIXELS) -> tuple[int, int]:
    """(h, w) of an output shape; refuses one that is not two whole numbers, empty, or over `limit` pixels
    (MAX_OUTPUT_PIXELS: held in memory; MAX_LAZY_OUTPUT_PIXELS: rendered block by block)."""
    try:
        h, w = shape
        if isinstance(h, float) and not h.is_integer() or isinstance(w, float) and not w.is_integer():
            raise TypeError
        h, w = int(h), int(w)
    except (TypeError, ValueError):
        raise ValueError(f"shape must be two whole numbers (height, width), got {shape!r}") from None
    if h < 1 or w < 1:
        raise ValueError(f"output shape {shape!r} is empty; height and width must be at least 1")
    if h * w > limit:
        if limit >= MAX_LAZY_OUTPUT_PIXELS:  # rendered block by block already: only a smaller size helps
            what = f"{h * w / 1e9:.0f} G pixels per plane) is more than liif-plugin renders ({limit / 1e9:.1f} G"
            raise LiifError(f"an output of {h}x{w} ({what})", "choose a smaller scale or output shape")
        raise LiifError(
            f"an output of {h}x{w} ({h * w / 1e6:.0f} megapixels) is too large to hold in memory",
            Hint(
                "render it in windows (region=...) or use liif_plugin.sources.dask.upscale",
                # (a .zarr input is rendered block by block, up to the lazy limit: only image files get here)
                cli="choose a smaller --scale or --size, or store the image as .zarr and write a .zarr",
                napari="tick 'current view only' to render a part, or choose a smaller scale or output shape",
            ),
        )
    return h, w


class ImageField:
    def __init__(
        self,
        model,
        feat,
        layout,
        full_shape=None,
        offset=(0, 0),
        planes=None,
        precision=None,
        classic=None,
        detail=None,
    ):
        self.model = model
        self.planes = planes  # the input planes (B, 3, H, W), for the bicubic that detail < 1 blends
        # The model's own share of LIIF's difference from bicubic (LiifModel.detail), which a render's `detail`
        # multiplies. 1.0 for a tiled field's windows and speed probes: whoever renders them blends (or does not).
        self.model_detail = model.detail if detail is None else check_detail(detail)
        self._classic = classic  # a ClassicResampler of `planes` the caller already has, or None
        # 'fp32' decodes exactly; 'bf16'/'fp16' run the MLP in 16 bits (see liif_plugin.runtime.hardware).
        self.precision = model.precision if precision is None else resolve_precision(precision, feat.device)
        self.feat = feat  # (B, C, h, w) window of the latent grid
        self.layout = layout
        self.full_shape = tuple(full_shape or feat.shape[-2:])
        self.offset = tuple(offset)
        self._pre = None

    @property
    def shape(self):
        """(H, W) of the encoded image, in input pixels."""
        return self.full_shape

    # -- public ------------------------------------------------------------------------------
    def render(self, shape, region=None, *, progress=None, reference=False, detail=1.0):
        """Render the window `region` (y0, x0, y1, x1; default whole image) at `shape` (h, w).

        Returns an array in the input's dtype and channel layout. `progress(done, total)` is
        called after each batch; raising ``Cancelled`` from it stops the render. `detail` (0..1)
        keeps that much of LIIF's difference from bicubic on the same grid (1: the model as it is;
        a model calibrated to keep less, ``LiifModel.detail``, has its share multiplied by this).
        """
        planes = self.render_planes(shape, region, progress=progress, reference=reference, detail=detail)
        return arrays.from_planes(planes, self.layout)

    def render_planes(
        self, shape, region=None, *, rows=None, cols=None, progress=None, reference=False, detail=1.0, stop=None
    ):
        """Like render, but returns float32 planes (B, h, w, 3) in [0, 1].

        `rows` and `cols` ((start, stop)) pick a part of the output grid; its values are the same
        as in the whole render. This is how blocks and dask chunks are made. `stop()` is called
        before every decoder chunk (a few ms of work); raising from it stops the render at once.
        """
        h, w = check_out_shape(shape, MAX_LAZY_OUTPUT_PIXELS)  # the grid; the part below is what is held
        region = check_region(region, self.full_shape)
        r_a, r_b = rows or (0, h)
        c_a, c_b = cols or (0, w)
        check_out_shape((r_b - r_a, c_b - c_a))
        ky, kx = supersampling((h, w), region)
        if ky > 1 or kx > 1:  # coarser than the input: the mean of a fine grid's samples (coords.supersampling)
            fine = self.render_planes(
                (h * ky, w * kx),
                region,
                rows=(r_a * ky, r_b * ky),
                cols=(c_a * kx, c_b * kx),
                progress=progress,
                reference=reference,
                detail=detail,
                stop=stop,
            )
            return block_mean(fine, ky, kx)
        detail = check_detail(detail) * self.model_detail
        if detail != 1.0 and self.planes is None:
            raise ValueError("detail below 1 needs the input image; render a field from LiifModel.encode(x)")
        B = self.feat.shape[0]
        out = np.empty((B, r_b - r_a, c_b - c_a, 3), dtype=np.float32)
        step = max(1, QUERY_BATCH // ((c_b - c_a) * B))
        total = (r_b - r_a) * (c_b - c_a)
        for r0 in range(r_a, r_b, step):
            r1 = min(r_b, r0 + step)
            out[:, r0 - r_a : r1 - r_a] = self._render_part(h, w, region, (r0, r1), (c_a, c_b), reference, stop)
            if progress is not None:
                progress((r1 - r_a) * (c_b - c_a), total)
        if detail != 1.0:
            out = blend(out, self.bicubic.render(region, (h, w), rows=(r_a, r_b), cols=(c_a, c_b)), detail)
        return out

    @property
    def bicubic(self):
        """The engine's bicubic resampler of the encoded image (same grid as the LIIF render)."""
        if self._classic is None:
            self._classic = ClassicResampler(self.planes, self.layout.kind if self.layout else None)
        return self._classic

    # -- internals -----------------------------------------------------------------------------
    def query_grid(self, h, w, region, rows, cols):
        """Normalized coordinates (rows, cols, 2) of a part of the output grid, and the cell (2,)."""
        (vy0, vy1), (vx0, vx1) = region_ranges(region, self.full_shape)
        ys = axis_centres(h, vy0, vy1)[rows[0] : rows[1]]
        xs = axis_centres(w, vx0, vx1)[cols[0] : cols[1]]
        grid = torch.stack(torch.meshgrid(ys, xs, indexing="ij"), dim=-1)
        return grid, cell_size((h, w), self.full_shape, region)

    @torch.inference_mode()
    def _render_part(self, h, w, region, rows, cols, reference, stop=None):
        net = self.model.net
        dev = self.feat.device
        grid, (cy, cx) = self.query_grid(h, w, region, rows, cols)
        B = self.feat.shape[0]
        coord = grid.reshape(1, -1, 2).expand(B, -1, -1).to(dev)
        cell = torch.tensor([cy, cx], dtype=torch.float32, device=dev).expand_as(coord)
        if reference:
            if self.offset != (0, 0) or tuple(self.feat.shape[-2:]) != self.full_shape:
                raise ValueError("the reference path needs the whole latent grid, not a window")
            pred = query_reference(net, self.feat.float(), coord, cell)
        else:
            pre, off = self._first_layer_window(grid)
            # Coordinates stay float32 (half would pick wrong latent codes on big images).
            pred = query_fast(net, pre, coord, cell, self.full_shape, off, stop=stop)
        pred = self.model.normalization.from_net(pred.float()).clamp_(0, 1)
        return pred.view(B, rows[1] - rows[0], cols[1] - cols[0], 3).cpu().numpy()

    def _first_layer_window(self, grid):
        """First-layer map over the latent codes a band of queries can reach, and its offset."""
        fh, fw = self.feat.shape[-2:]
        oy, ox = self.offset
        if fh * fw * self.feat.shape[0] * self.model.hidden * 4 <= PRE_CACHE_BYTES:
            if self._pre is None:
                self._pre = self._first_layer_map(self.feat)
            return self._pre, self.offset
        H, W = self.full_shape
        # The ensemble looks one latent code away from the nearest one at most.
        ya = max(int(math.floor((grid[..., 0].min().item() + 1) * H / 2)) - 1, oy)
        yb = min(int(math.ceil((grid[..., 0].max().item() + 1) * H / 2)) + 1, oy + fh)
        xa = max(int(math.floor((grid[..., 1].min().item() + 1) * W / 2)) - 1, ox)
        xb = min(int(math.ceil((grid[..., 1].max().item() + 1) * W / 2)) + 1, ox + fw)
        # One more latent code each side feeds the 3x3 unfold; the window edge itself is zero padded
        # only where it is the image edge, which the crop below guarantees.
        a, b = max(ya - 1, oy), min(yb + 1, oy + fh)
        c, d = max(xa - 1, ox), min(xb + 1, ox + fw)
        pre = self._first_layer_map(self.feat[:, :, a - oy : b - oy, c - ox : d - ox])
        pre = pre[:, ya - a : pre.shape[1] - (b - yb), xa - c : pre.shape[2] - (d - xb)].contiguous()
        return pre, (ya, xa)

    def _first_layer_map(self, feat):
        # Computed in fp32 from fp32 features, then stored in the MLP's dtype (half the memory traffic).
        dtype = DTYPES[self.precision]
        B, _, h, w = feat.shape
        rows = max(1, MAP_PART_BYTES // (B * w * self.model.hidden * 4))
        if dtype == torch.float32 or rows >= h:
            return first_layer_map(self.model.net, feat, memory_format=self.model.layout).to(dtype)
        # A 16-bit map made in parts of rows (each with the row above and below that its 3x3 convolution
        # reads), so the fp32 map of the whole window never exists beside its 16-bit copy: a viewer's
        # render peaks at the 16-bit map plus one part, not at 1.5 times the fp32 map.
        out = torch.empty((B, h, w, self.model.hidden), dtype=dtype, device=feat.device)
        for a in range(0, h, rows):
            b = min(h, a + rows)
            ia, ib = max(0, a - 1), min(h, b + 1)
            part = first_layer_map(self.model.net, feat[:, :, ia:ib], memory_format=self.model.layout)
            out[:, a:b] = part[:, a - ia : a - ia + (b - a)]
        return out
