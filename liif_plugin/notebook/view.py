"""Viewport arithmetic shared by the widget (the ES module repeats it so the browser reacts at once).

A viewport is (y0, x0, y1, x1) in input pixel-edge units; it may reach past the image on one axis
when the canvas and the image have different aspect ratios. The canvas is (h, w) device pixels.
"""

from liif_plugin.engine.coords import parse_box

MAX_ZOOM = 256.0  # device pixels per input pixel; beyond this LIIF only draws smooth ramps


def check_viewport(v):
    return parse_box(v, "viewport")


def fit_viewport(v, canvas_shape, image_shape, max_zoom=MAX_ZOOM):
    """The viewport the canvas really shows for a requested one.

    The requested window is kept whole and centred, widened on one axis to the canvas's aspect;
    zooming out stops where the whole image fits, zooming in at `max_zoom`, and the window is
    kept over the image (centred on an axis where the image is smaller than the window).
    """
    y0, x0, y1, x1 = check_viewport(v)
    ch, cw = canvas_shape
    H, W = image_shape
    s = min(ch / (y1 - y0), cw / (x1 - x0))
    s = min(max(s, min(ch / H, cw / W)), max_zoom)
    vh, vw = ch / s, cw / s
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    cy = H / 2 if vh >= H else min(max(cy, vh / 2), H - vh / 2)
    cx = W / 2 if vw >= W else min(max(cx, vw / 2), W - vw / 2)
    return [cy - vh / 2, cx - vw / 2, cy + vh / 2, cx + vw / 2]


def resized_viewport(v, old_canvas, new_canvas, image_shape, max_zoom=MAX_ZOOM):
    """The viewport after the canvas changed size: the same zoom and centre (resizing the output area or
    the window must not zoom the image out and leave it so), unless the whole image was fitted: then it is
    fitted again."""
    H, W = image_shape
    y0, x0, y1, x1 = v
    if not old_canvas or min(old_canvas) < 1 or (y0 <= 1e-6 and x0 <= 1e-6 and y1 >= H - 1e-6 and x1 >= W - 1e-6):
        return fit_viewport([0, 0, H, W], new_canvas, image_shape, max_zoom)
    z = zoom_factor(v, old_canvas)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    vh, vw = new_canvas[0] / z, new_canvas[1] / z
    return fit_viewport([cy - vh / 2, cx - vw / 2, cy + vh / 2, cx + vw / 2], new_canvas, image_shape, max_zoom)


def zoom_factor(v, canvas_shape):
    """Device pixels per input pixel."""
    return canvas_shape[1] / (v[3] - v[1])


def visible_part(v, canvas_shape, image_shape):
    """The part of the image inside viewport `v`: (region, (h, w)) at the canvas's resolution.

    `region` is the viewport cut to the image; (h, w) is how many device pixels it covers.
    """
    y0, x0, y1, x1 = v
    ch, cw = canvas_shape
    H, W = image_shape
    sy, sx = ch / (y1 - y0), cw / (x1 - x0)
    r = (max(y0, 0.0), max(x0, 0.0), min(y1, float(H)), min(x1, float(W)))
    # Round the edges, not the size, so neighbouring windows meet without gaps.
    h = max(1, round((r[2] - y0) * sy) - round((r[0] - y0) * sy))
    w = max(1, round((r[3] - x0) * sx) - round((r[1] - x0) * sx))
    return r, (int(h), int(w))
