"""What the napari screenshot scripts share: a display, waiting for the widget, grid view and saving."""

import os
import shutil
import sys
import time


def ensure_display():
    """Re-run this script under xvfb-run when there is no screen."""
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        if shutil.which("xvfb-run") is None:
            sys.exit("no display: install xvfb (apt-get install xvfb) or run on a desktop")
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv])


def default_settings():
    """Start the widget from its defaults, whatever this user's napari chose last (and leave that alone)."""
    import tempfile

    os.environ["LIIF_CONFIG_DIR"] = tempfile.mkdtemp(prefix="liif-shot-")


def wait_idle(widget, limit_s, what="the render"):
    """Keep Qt running until the widget's worker is done; returns the seconds it took."""
    from qtpy.QtWidgets import QApplication

    t0 = time.time()
    while widget.busy:
        QApplication.processEvents()
        time.sleep(0.02)
        if time.time() - t0 > limit_s:
            sys.exit(f"{what} did not finish in {limit_s / 60:.0f} minutes")
    return time.time() - t0


def grid_and_save(viewer, caption, out):
    """Source and result side by side (grid mode) with a caption; the whole window saved as PNG."""
    from PIL import Image
    from qtpy.QtWidgets import QApplication

    viewer.canvas.grid.enabled = True
    text = viewer.canvas.overlays["text"]
    text.visible = True
    text.font_size = 11
    text.text = caption
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    img = viewer.screenshot(canvas_only=False, flash=False)
    out.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(out, optimize=True)
    return img.shape
