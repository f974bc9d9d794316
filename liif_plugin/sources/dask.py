"""LIIF as a lazy dask array: images and stacks larger than memory, on one machine or a cluster.

    import liif_plugin.sources.dask as ld
    y = ld.upscale(x, scale=2)          # x: numpy, zarr or dask array -> lazy dask.array
    y.to_zarr("out.zarr")               # or ld.upscale_zarr("in.zarr", "out.zarr", scale=2)

The last two axes are the image (or the two before a last RGB/RGBA axis of size 3 or 4); every
other axis is a stack of independent images. Each input block is read with a halo of the
encoder's receptive radius plus the latent codes LIIF's ensemble and 3x3 unfold reach, and
rendered by the engine's one windowed primitive (liif_plugin.engine.tiles.TiledField), so every output
pixel is computed from exactly the numbers an in-memory render uses.
Value ranges follow ``liif_plugin.sources.arrays`` per image: uint8 and floats in [0, 1] need nothing;
any other data is stretched by each image's own min..max, which one reduction pass finds when
``upscale`` is called (the LIIF work itself stays lazy).
"""

from __future__ import annotations

import math
import os
import shutil
from pathlib import Path
from typing import Any

import dask.array as da
import dask.callbacks
import numpy as np
from dask.base import compute, tokenize

from liif_plugin.api import output_shape
from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.field import MAX_LAZY_OUTPUT_PIXELS, MAX_OUTPUT_PIXELS
from liif_plugin.engine.tiles import MARGIN, TiledField, block_bounds, output_ranges
from liif_plugin.errors import LiifError
from liif_plugin.models.loading import load_model
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.sources import arrays
from liif_plugin.sources.source import Source, _multiscales, open_zarr_source

BLOCK = 512  # input pixels per side of one chunk (at most: see OUT_BLOCK)
# Output pixels per side a chunk aims at: at large scales the input blocks shrink (down to the model's reach),
# so a chunk's float planes stay near 50 MB however far the image is enlarged.
OUT_BLOCK = 2048

_models = {}


class _ModelRef:
    """A picklable pointer to a checkpoint: workers load it once instead of receiving weights."""

    def __init__(self, model, precision=None):
        m = model if model is not None else load_model()
        if not hasattr(m, "net"):
            m = load_model(m)
        # Checked here, so a bad precision fails at the call rather than in a worker.
        self.precision = m.precision if precision is None else resolve_precision(precision, m.device)
        self.path = str(m.path)
        self.radius = m.receptive_radius
        _models.setdefault(self.path, m)

    def get(self):
        if self.path not in _models:
            _models[self.path] = load_model(self.path)
        return _models[self.path]


def upscale(array, scale=None, *, shape=None, model=None, rgb=None, block=BLOCK, precision=None, detail=1.0):
    """A lazy dask array: `array` (numpy, zarr or dask; (..., H, W) or (..., H, W, 3|4)) resampled.

    Give scale (float or (sy, sx)) or shape (h, w) for the image axes. `rgb` says whether the last
    axis is colour; by default it is when it has size 3 or 4 and the array has 3+ dimensions.
    `precision`: None uses the model's (fp32 unless load_model was given another). `detail` (0..1), as
    in liif_plugin.upscale: each block blends with the bicubic of its own overlapped input.
    """
    detail = check_detail(detail)
    x = array if isinstance(array, da.Array) else da.from_array(array, chunks="auto")
    arrays.check_dtype(x.dtype)
    if rgb is None:
        rgb = x.ndim >= 3 and x.shape[-1] in (3, 4)
    if x.ndim < (3 if rgb else 2):
        raise ValueError(f"expected an image (..., H, W) or (..., H, W, 3|4), got an array of shape {x.shape}")
    n_channels = int(x.shape[-1]) if rgb else None
    sp = x.ndim - (3 if rgb else 2)  # index of the H axis
    lead = x.shape[:sp]
    H, W = int(x.shape[sp]), int(x.shape[sp + 1])
    if H == 0 or W == 0 or 0 in lead:
        raise ValueError(f"the array is empty (shape {x.shape}); give images with at least one pixel")
    h, w = output_shape((H, W), scale, shape, limit=MAX_LAZY_OUTPUT_PIXELS)  # block by block: never held whole
    ref = _ModelRef(model, precision)
    # A block renders the output pixels whose centres fall in it; when shrinking, each is the mean of samples
    # up to half an output pixel from its centre (engine.coords.supersampling), which the halo must reach too.
    depth = ref.radius + MARGIN + math.ceil(max(H / h, W / w, 1.0) / 2 - 0.5)
    if block < 1:
        raise ValueError(f"block must be a positive number of pixels, got {block}")
    block = min(block, math.ceil(OUT_BLOCK / max(h / H, w / W)))
    block = max(block, depth)  # dask's halo cannot be wider than a block

    rows = block_bounds(H, block, min_size=depth)
    cols = block_bounds(W, block, min_size=depth)
    out_rows = output_ranges(h, 0.0, H, rows)
    out_cols = output_ranges(w, 0.0, W, cols)
    biggest = max(b - a for a, b in out_rows) * max(d - c for c, d in out_cols)
    if biggest > MAX_OUTPUT_PIXELS:  # refused here, before a zarr is half written
        raise LiifError(
            f"at this scale one block of the input (at least {depth} pixels, the model's reach) becomes "
            f"{biggest / 1e6:.0f} megapixels, more than a block may hold",
            "choose a smaller scale or output shape",
        )
    chunks: tuple = (1,) * sp + (tuple(b - a for a, b in rows), tuple(b - a for a, b in cols))
    chunks += ((n_channels,),) if rgb else ()
    x = x.rechunk(chunks)  # pyright: ignore[reportArgumentType]  (dask accepts a tuple of chunk sizes)
    ranges = arrays.value_range(x, n_channels, lead=len(lead))
    # An axis cut in one block needs no halo (and dask refuses a halo wider than the block).
    halo = {sp: depth if len(rows) > 1 else 0, sp + 1: depth if len(cols) > 1 else 0}
    xo = da.overlap.overlap(x, depth=halo, boundary="none") if any(halo.values()) else x

    def render_block(blk, block_id=None):
        assert block_id is not None  # dask passes it to map_blocks functions that take it
        i, j = block_id[sp], block_id[sp + 1]
        (a, b), (c, d) = rows[i], cols[j]
        img = blk.reshape(blk.shape[sp:])
        # The overlapped block, placed where it sits in the image; the field reads only inside it.
        src = Source(img, channels=rgb, offset=(max(a - depth, 0), max(c - depth, 0)), full_shape=(H, W))
        field = TiledField(
            ref.get(),
            src,
            value_range=ranges[tuple(block_id[:sp])],
            precision=ref.precision,
            cache_bytes=0,
            block=max(b - a, d - c),
        )
        planes = field.render_planes((h, w), None, rows=out_rows[i], cols=out_cols[j], detail=detail)
        y = arrays.from_planes(planes, field.layout)
        return y.reshape((1,) * sp + y.shape)

    out_chunks = (1,) * sp + (tuple(b - a for a, b in out_rows), tuple(b - a for a, b in out_cols))
    out_chunks += ((n_channels,),) if rgb else ()
    # One key per distinct piece of work (same inputs, same key): a fixed name made a scheduler mix
    # up the blocks of two different resamplings.
    name = "liif-upscale-" + tokenize(xo.name, (h, w), vars(ref), rows, cols, np.asarray(ranges), detail)
    return da.map_blocks(
        render_block,
        xo,
        chunks=out_chunks,
        dtype=x.dtype,
        meta=np.empty((0,) * len(out_chunks), dtype=x.dtype),
        name=name,
    )


class _TaskProgress(dask.callbacks.Callback):
    """Calls progress(done, total) in finished tasks (local schedulers)."""

    def __init__(self, progress):
        super().__init__()
        self.progress, self.done, self.total = progress, 0, 0

    def _start_state(self, dsk, state):
        self.total = sum(len(state[k]) for k in ("ready", "waiting", "running", "finished"))

    def _posttask(self, key, result, dsk, state, worker_id):
        self.done += 1
        self.progress(self.done, max(self.total, self.done))


def upscale_zarr(
    src,
    dst,
    scale=None,
    *,
    shape=None,
    model=None,
    progress=None,
    overwrite=False,
    component=None,
    block=BLOCK,
    precision=None,
    detail=1.0,
):
    """Resample the zarr array at `src` into a new zarr array at `dst`, chunk by chunk.

    Memory stays bounded by a few chunks whatever the array size. The result is written next to
    `dst` and moved into place when complete, so a failed or interrupted run leaves no half array.
    `progress(done, total)` counts finished tasks. Returns the output shape.
    """
    import zarr

    src, dst = Path(src), Path(dst)
    if dst.exists() and not overwrite:
        raise FileExistsError(f"{dst} already exists; choose another output or pass overwrite=True")
    z, group = open_zarr_source(src, component)
    y = upscale(da.from_zarr(z), scale, shape=shape, model=model, block=block, precision=precision, detail=detail)
    # zarr needs regular chunks; output blocks differ by a pixel where the scale is not whole.
    sp = y.ndim - (3 if z.ndim >= 3 and z.shape[-1] in (3, 4) else 2)
    regular = tuple(1 if k < sp else (max(y.chunks[k]) if k < sp + 2 else y.shape[k]) for k in range(y.ndim))
    y = y.rechunk(regular)
    tmp = dst.with_name(dst.name + ".partial")
    if tmp.exists():
        shutil.rmtree(tmp)
    try:
        if group is None:  # a plain array: its attributes go with it
            store = y.to_zarr(str(tmp), compute=False, overwrite=True)
            zarr.open_array(str(tmp), mode="r+").attrs.update(dict(z.attrs))
        else:  # an OME-Zarr image: one level, "0", with the pixel size scaled
            hw = y.shape[sp : sp + 2]
            out = zarr.open_group(str(tmp), mode="w", zarr_format=group.metadata.zarr_format)
            out.attrs.update(scaled_ome_attrs(dict(group.attrs), z.shape[sp : sp + 2], hw))
            dims = getattr(z.metadata, "dimension_names", None)
            extra: dict[str, Any] = {"dimension_names": dims} if dims else {}
            arr = out.create_array("0", shape=y.shape, chunks=regular, dtype=y.dtype, **extra)
            store = da.to_zarr(y, arr, compute=False)
        if progress is not None:
            with _TaskProgress(progress):
                compute(store)
        else:
            compute(store)
        if dst.exists():
            shutil.rmtree(dst) if dst.is_dir() else os.remove(dst)
        os.replace(tmp, dst)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return y.shape


def scaled_ome_attrs(attrs, in_hw, out_hw):
    """OME-Zarr group attributes for the resampled full-resolution level, written as level "0".

    Its `scale` on the two image axes is divided by the resampling factor of each axis and its
    `translation` moved so each output pixel centre keeps its physical position (as in a
    whole-image render: output pixel j's centre is at input index -0.5 + (j + 0.5) / s).
    """
    import copy

    attrs = copy.deepcopy(attrs)
    found = _multiscales(attrs)
    assert found, "not the attributes of an OME-Zarr image (no multiscales)"
    ms = found[0]
    level = ms["datasets"][0]
    transforms = level.get("coordinateTransformations", [])
    scale = next((t["scale"] for t in transforms if t.get("type") == "scale"), None)
    ndim = len(scale) if scale else len(ms.get("axes", [])) or len(in_hw)
    scale = list(scale) if scale else [1.0] * ndim
    old_t = next((t["translation"] for t in transforms if t.get("type") == "translation"), [0.0] * ndim)
    trans = list(old_t)
    sp = ndim - 2  # OME-Zarr puts y and x last
    for k, (n_in, n_out) in enumerate(zip(in_hw, out_hw)):
        f = n_out / n_in
        trans[sp + k] = old_t[sp + k] + scale[sp + k] * (0.5 / f - 0.5)
        scale[sp + k] = scale[sp + k] / f
    new = [{"type": "scale", "scale": scale}]
    if any(trans):
        new.append({"type": "translation", "translation": trans})
    level = dict(level, path="0", coordinateTransformations=new)
    ms["datasets"] = [level]
    return attrs


__all__ = ["upscale", "upscale_zarr", "open_zarr_source", "scaled_ome_attrs", "BLOCK"]
