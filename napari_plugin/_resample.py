"""Resample a napari Image layer with LIIF: plane by plane, with exact world geometry.

The two spatial axes are the last two of the layer (the two before the colour axis for RGB/RGBA
layers); every other axis (t, z, c, ...) is walked plane by plane, so a dask-backed layer is read
one plane at a time. Each plane is rendered by the engine's tiled field (liif_plugin.engine.tiles), which
reads and encodes only the window a render needs, block by block; a multiscale layer is read from
its full-resolution level the same way. ``iter_resample`` is a generator that yields progress between
small bands of output rows, which is what lets a napari ``thread_worker`` cancel within a fraction
of a second; ``resample_layer`` runs it to the end.
"""

import itertools
import math

import numpy as np
from napari.layers import Image

import liif_plugin
from liif_plugin import TiledField
from liif_plugin.api import output_shape
from liif_plugin.engine.classic import check_detail
from liif_plugin.engine.field import check_region
from liif_plugin.runtime import cost
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.runtime.progress import drive
from liif_plugin.sources import arrays
from liif_plugin.sources.source import Source

from ._metadata import rescale as rescale_metadata

# A lazy (dask, zarr) plane up to this size, or any plane resampled whole, is read once into memory;
# a window of a bigger plane (Preview, current view) reads only the window and its halo.
PLANE_PIXELS = 1 << 24


def check_layer(layer):
    """Refuse what is not a resamplable image layer, with one sentence that says why."""
    if not isinstance(layer, Image):
        kind = type(layer).__name__
        raise TypeError(
            f"'{getattr(layer, 'name', layer)}' is a {kind} layer; LIIF resamples image layers only "
            "(convert labels or shapes to an image first)"
        )
    if np.dtype(layer.dtype) == bool:
        raise TypeError(f"'{layer.name}' holds booleans; convert it to uint8 first")
    spatial = layer.data.shape[-3:-1] if layer.rgb else layer.data.shape[-2:]
    if len(spatial) < 2:
        raise ValueError(f"'{layer.name}' has shape {layer.data.shape}; it needs two spatial axes")
    return layer


def spatial_shape(layer):
    return tuple(layer.data.shape[-3:-1] if layer.rgb else layer.data.shape[-2:])


def lead_shape(layer):
    """Shape of the non-spatial axes (t, z, c, ...) that are walked plane by plane."""
    return tuple(layer.data.shape[:-3] if layer.rgb else layer.data.shape[:-2])


def plan(layer, scale=None, shape=None, region=None):
    """Check arguments and return (region, (h, w), number of planes)."""
    check_layer(layer)
    H, W = spatial_shape(layer)
    out = output_shape((H, W), scale, shape, region)
    return check_region(region, (H, W)), out, int(np.prod(lead_shape(layer), dtype=np.int64))


def layer_work(layer, region, out_shape, planes, arch=cost.Arch(), speed=None) -> cost.Work:
    """The engine's cost model (liif_plugin.runtime.cost.work) for a napari Image layer: gray is one
    3-channel sub-plane, RGB one, RGBA two (colour and alpha)."""
    chans = layer.data.shape[-1] if layer.rgb else 1
    itemsize = np.dtype(layer.dtype).itemsize
    sub = 2 if chans == 4 else 1
    return cost.work(spatial_shape(layer), out_shape, region, planes, sub, chans, itemsize, arch, speed)


def estimate(layer, scale=None, shape=None, region=None, model=None, speed=None, lead_index=None) -> cost.Work:
    """The cost of a resample before it runs (liif_plugin.runtime.cost.Work): output and working
    bytes, and its steps; ``.seconds(speed)`` is its time at a measured speed (liif_plugin.runtime.speed).
    model: the LiifModel (its sizes), or None for the released EDSR-baseline's; lead_index: one plane."""
    region, out, n = plan(layer, scale, shape, region)
    return layer_work(layer, region, out, 1 if lead_index is not None else n, cost.Arch.of(model), speed)


def geometry(layer, region, out_shape, lead_offset=None):
    """(scale, translate) of the new layer so each output pixel centre lands where it belongs.

    Output pixel j covers input edges y0 + [j, j+1) * dy with dy = (y1 - y0) / h, so its centre is at
    input index y0 - 0.5 + (j + 0.5) * dy. The offset goes through the layer's whole linear part
    (scale, rotate, shear) so rotated or sheared layers stay aligned too.
    """
    from napari.utils.transforms import CompositeAffine

    y0, x0, y1, x1 = region
    h, w = out_shape
    ndim = layer.ndim
    step = np.ones(ndim)
    offset = np.zeros(ndim)
    step[-2:] = ((y1 - y0) / h, (x1 - x0) / w)
    offset[-2:] = (y0 - 0.5 + 0.5 * step[-2], x0 - 0.5 + 0.5 * step[-1])
    if lead_offset is not None and len(lead_offset):
        offset[: len(lead_offset)] = lead_offset
    linear = CompositeAffine(scale=layer.scale, rotate=layer.rotate, shear=layer.shear, ndim=ndim).linear_matrix
    return np.asarray(layer.scale) * step, np.asarray(layer.translate) + linear @ offset


def _label(region, out_shape, full):
    y0, x0, y1, x1 = region
    sy, sx = out_shape[0] / (y1 - y0), out_shape[1] / (x1 - x0)
    tag = f"x{sy:.3g}" if math.isclose(sy, sx, rel_tol=1e-3) else f"x{sy:.3g}/{sx:.3g}"
    return tag if full else f"{tag} region"


def result_name(layer_name: str, what: str, model_name: str) -> str:
    """A new layer's name: its source, what LIIF did and with which model, e.g.
    ``cells [LIIF x2 edsr-baseline-denoise]``, ``cells [LIIF preview edsr-baseline]``."""
    return f"{layer_name} [LIIF {what} {model_name}]"


def _new_layer(
    layer, data, region, out_shape, model, name=None, lead_offset=None, detail=1.0, precision="fp32", tag=None
):
    H, W = spatial_shape(layer)
    full = tuple(region) == (0.0, 0.0, float(H), float(W))
    scale, translate = geometry(layer, region, out_shape, lead_offset)
    sy, sx = out_shape[0] / (region[2] - region[0]), out_shape[1] / (region[3] - region[1])
    meta, touched = rescale_metadata(dict(layer.metadata), sy, sx, layer.ndim)
    meta["liif"] = {
        "model": model.name,
        "weights_sha256": model.sha256,
        "precision": precision,
        "scale": [sy, sx],
        "region": [float(v) for v in region],
        "output_shape": [int(v) for v in out_shape],
        "detail": detail,
        "model_detail": model.detail,  # the model's own share of LIIF's difference from bicubic (times `detail`)
        "source_layer": layer.name,
        "preview": tag == "preview",
        "plugin_version": liif_plugin.__version__,
        "metadata": touched,  # source metadata keys scaled to the new pixels, and dropped
    }
    return Image(
        data,
        **_like(layer),
        name=name or result_name(layer.name, tag or _label(region, out_shape, full), model.name),
        scale=scale,
        translate=translate,
        metadata=meta,
    )


def _like(layer):
    """The Image arguments that make a new layer look like `layer` and share its axes and transform."""
    kwargs = dict(
        rgb=layer.rgb,
        rotate=layer.rotate,
        shear=layer.shear,
        affine=layer.affine.affine_matrix,
        opacity=layer.opacity,
        blending=layer.blending,
        axis_labels=layer.axis_labels,
        units=layer.units,
    )
    if not layer.rgb:
        kwargs.update(colormap=layer.colormap, contrast_limits=layer.contrast_limits, gamma=layer.gamma)
    return kwargs


def placeholder_layer(layer, name):
    """An empty, transparent 1 x 1 layer with the look and axes of `layer`, for the live view's overlay
    to be added once and then updated in place (napari_plugin._live)."""
    chans = (level0(layer).shape[-1],) if layer.rgb else ()
    data = np.zeros((1,) * layer.ndim + chans, dtype=np.dtype(layer.dtype))
    return Image(data, **{**_like(layer), "opacity": 0.0}, name=name, scale=layer.scale, translate=layer.translate)


def level0(layer):
    """The full-resolution data of a layer (level 0 of a multiscale one): read lazily, by windows."""
    return layer.data[0] if layer.multiscale else layer.data


def iter_resample(
    layer,
    *,
    scale=None,
    shape=None,
    region=None,
    model=None,
    lead_index=None,
    name=None,
    detail=1.0,
    on_plane=None,
    precision=None,
    field_for=None,
    tag=None,
    stop=None,
):
    """Generator: yields (done, total) output pixels between bands and returns the new layer.

    lead_index picks one plane of a stack (e.g. the one on screen, for a preview); the result
    then has length 1 on every non-spatial axis and sits at that plane's position. `detail` (0..1)
    keeps that much of LIIF's difference from bicubic (liif_plugin.upscale's detail). `on_plane`
    is called with the input under the region of the first plane (the widget measures noise on it).
    precision: None uses the model's (see liif_plugin.runtime.hardware); the layer's metadata records it.
    Each plane is rendered by the engine's tiled field: only the window under `region` (plus the
    encoder's halo) is read and encoded, so a preview's time follows the view, not the layer.
    `field_for(index)` may give that field (the live view keeps them, with their tile caches).
    The new layer is called `name`, or after its source, `tag` (default: the scale, e.g. 'x2') and
    the model (see result_name). `stop()` is asked inside the engine's work (between encoder
    convolutions and decoder chunks); raising Cancelled from it stops a band under way.
    """
    region, (h, w), _ = plan(layer, scale, shape, region)
    detail = check_detail(detail)
    if model is None or (isinstance(model, str) and model == "auto"):  # the one model that suits this layer
        from ._advice import SHARED_CHECKS

        model = SHARED_CHECKS.get(layer).auto.name
    m = liif_plugin.get_model(model) if not isinstance(model, liif_plugin.LiifModel) else model
    precision = m.precision if precision is None else resolve_precision(precision, m.device)
    lead = lead_shape(layer)
    if lead_index is None:
        indices = list(itertools.product(*(range(n) for n in lead)))
        out_lead = lead
    else:
        indices = [tuple(int(i) for i in lead_index)]
        out_lead = (1,) * len(lead)
    chans = (layer.data.shape[-1],) if layer.rgb else ()
    out = np.empty(out_lead + (h, w) + chans, dtype=np.dtype(layer.dtype))
    total = len(indices) * h * w
    done = 0
    data = level0(layer)
    bands = cost.Bands()  # each band sized to take about cost.BAND_SECONDS
    whole = tuple(region) == (0.0, 0.0) + tuple(float(n) for n in spatial_shape(layer))
    for idx in indices:
        src = Source(data, channels=layer.rgb, index=idx)
        if (
            field_for is None
            and not isinstance(data, np.ndarray)
            and (whole or src.shape[0] * src.shape[1] <= PLANE_PIXELS)
        ):
            src = Source(src.read(0, src.shape[0], 0, src.shape[1]), channels=layer.rgb)  # one read of the plane
        field = field_for(idx) if field_for is not None else TiledField(m, src, precision=precision, cache_bytes=0)
        if on_plane is not None:
            y0, x0, y1, x1 = region
            on_plane(field.source.read(int(y0), math.ceil(y1), int(x0), math.ceil(x1)))
            on_plane = None
        dest = out[idx if lead_index is None else (0,) * len(lead)]
        layout = field.layout
        for (r0, r1), (c0, c1), part in field.parts((h, w), region, detail=detail, band=bands, stop=stop):
            dest[r0:r1, c0:c1] = arrays.from_planes(part, layout)
            bands.rendered((r1 - r0) * (c1 - c0) * part.shape[0])
            done += (r1 - r0) * (c1 - c0)
            yield done, total
    # A single plane sits where it was taken from along the non-spatial axes.
    at = indices[0] if lead_index is not None else None
    return _new_layer(
        layer, out, region, (h, w), m, name=name, lead_offset=at, detail=detail, precision=precision, tag=tag
    )


def resample_layer(
    layer, *, scale=None, shape=None, region=None, model="auto", progress=None, detail=1.0, precision=None
):
    """Resample a napari Image layer with LIIF; returns a new Image layer (not added to a viewer).

    scale: a factor or (sy, sx) for the two spatial axes; or shape=(h, w); region=(y0, x0, y1, x1)
    in the layer's pixel-edge units picks a window. model: 'auto' (the model that suits the layer, chosen
    once per layer: napari_plugin._advice), a LiifModel, registry name or .pth path.
    progress(done, total) is called per band of output pixels; raising liif_plugin.Cancelled stops.
    detail (0..1): how much of LIIF's difference from bicubic to keep (1: LIIF as it is).
    precision: None uses the model's ('fp32' unless it was loaded with another).
    """
    gen = iter_resample(layer, scale=scale, shape=shape, region=region, model=model, detail=detail, precision=precision)
    return drive(gen, progress)


def view_region(layer, viewer):
    """The part of the layer visible on the canvas: (region in pixel edges, (h, w) at screen resolution).

    Returns None when the layer is not on screen. Uses the displayed 2D view (camera centre and
    zoom, canvas size) mapped through the layer's world -> data transform.
    """
    if viewer.dims.ndisplay != 2:
        raise ValueError("the current-view region needs the 2D view; switch the viewer to 2D")
    H, W = spatial_shape(layer)
    ch, cw = viewer.canvas.size
    zoom = viewer.camera.zoom
    centre = np.asarray(viewer.camera.center)[-2:]
    half = np.array([ch, cw]) / (2 * zoom)
    point = np.asarray(viewer.dims.point, dtype=float)
    corners = []
    for dy, dx in ((-1, -1), (-1, 1), (1, -1), (1, 1)):
        world = point.copy()
        world[-2:] = centre + half * (dy, dx)
        corners.append(np.asarray(layer.world_to_data(world[-layer.ndim :]))[-2:] + 0.5)
    corners = np.array(corners)
    y0, x0 = np.clip(corners.min(axis=0), 0, (H, W))
    y1, x1 = np.clip(corners.max(axis=0), 0, (H, W))
    if y1 - y0 < 1e-6 or x1 - x0 < 1e-6:
        return None
    region = (float(y0), float(x0), float(y1), float(x1))
    # Screen pixels covered by the region: its data size times the data -> world scale times zoom.
    sy, sx = np.abs(np.asarray(layer.scale)[-2:])
    h = max(1, round((y1 - y0) * sy * zoom))
    w = max(1, round((x1 - x0) * sx * zoom))
    return region, (h, w)


def current_plane(layer, viewer):
    """Index of the plane on screen along the layer's non-spatial axes."""
    lead = lead_shape(layer)
    if not lead:
        return ()
    point = np.asarray(viewer.dims.point, dtype=float)[-layer.ndim :]
    idx = np.asarray(layer.world_to_data(point))[: len(lead)]
    return tuple(int(np.clip(round(v), 0, n - 1)) for v, n in zip(idx, lead))
