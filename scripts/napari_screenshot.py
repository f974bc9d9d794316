"""Screenshot for the README and docs/napari.md: the "Resample with LIIF" widget next to a resampled layer.

A real napari window (shown, on a virtual X display when there is no screen) runs the widget on a
crop of scikit-image's immunohistochemistry slide; grid mode puts the source (left, nearest
neighbour) beside the LIIF x4 result (right). Writes docs/napari.png.

    xvfb-run -a .venv/bin/python scripts/napari_screenshot.py [OUT.png]

Without DISPLAY it re-runs itself under xvfb-run.
"""
import os
import shutil
import sys
import time
from pathlib import Path

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "napari.png"


def main():
    if not os.environ.get("DISPLAY") and os.environ.get("QT_QPA_PLATFORM") != "offscreen":
        if shutil.which("xvfb-run") is None:
            sys.exit("no display: install xvfb (apt-get install xvfb) or run on a desktop")
        os.execvp("xvfb-run", ["xvfb-run", "-a", "-s", "-screen 0 1600x1000x24", sys.executable, *sys.argv])

    import napari
    from qtpy.QtWidgets import QApplication
    from skimage import data

    viewer = napari.Viewer(show=True, title="liif-plugin")
    viewer.window._qt_window.resize(1400, 800)
    crop = data.immunohistochemistry()[150:230, 250:330]  # 80 x 80 RGB
    src = viewer.add_image(crop, name="ihc", interpolation2d="nearest")
    _, widget = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    widget.set_layer(src)
    widget.scale_y.setValue(4.0)
    widget.run_btn.click()
    t0 = time.time()
    while widget.busy:
        QApplication.processEvents()
        time.sleep(0.02)
        if time.time() - t0 > 600:
            sys.exit("the render did not finish in 10 minutes")
    print(f"rendered in {time.time() - t0:.1f} s: {widget.status.text()}")
    new = viewer.layers[-1]
    viewer.layers.selection.active = src  # the widget shows its source layer
    viewer.canvas.grid.enabled = True
    text = viewer.canvas.overlays["text"]
    text.visible = True
    text.font_size = 11
    text.text = f"left: {src.name} {crop.shape[1]}x{crop.shape[0]} (nearest)    right: {new.name} {new.data.shape[1]}x{new.data.shape[0]}"
    viewer.reset_view()
    for _ in range(20):
        QApplication.processEvents()
        time.sleep(0.05)
    img = viewer.screenshot(canvas_only=False, flash=False)
    from PIL import Image

    OUT.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(OUT, optimize=True)
    print(f"wrote {OUT} {img.shape[1]}x{img.shape[0]}, new layer {new.name!r} {new.data.shape}")
    viewer.close()


if __name__ == "__main__":
    main()
