"""Screenshot for the README and docs/napari.md: the "Resample with LIIF" widget next to a resampled layer.

The panel shows, for its layer, what Run makes (output), how long each button takes (time), what
the image is and which model 'auto' picks (advice), and the status of the run just done; the new
layer's name carries the model.

A real napari window (shown, on a virtual X display when there is no screen) runs the widget on a
crop of scikit-image's immunohistochemistry slide; grid mode puts the source (left, nearest
neighbour) beside the LIIF x4 result (right). Writes docs/napari.png.

    xvfb-run -a .venv/bin/python scripts/napari_screenshot.py [OUT.png]

Without DISPLAY it re-runs itself under xvfb-run.
"""

import sys
from pathlib import Path

from _shot import default_settings, ensure_display, grid_and_save, wait_idle

OUT = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).resolve().parent.parent / "docs" / "napari.png"


def main():
    ensure_display()
    default_settings()

    import napari
    from skimage import data

    viewer = napari.Viewer(show=True, title="liif-plugin")
    viewer.window._qt_window.resize(1400, 800)
    crop = data.immunohistochemistry()[150:230, 250:330]  # 80 x 80 RGB
    src = viewer.add_image(crop, name="ihc", interpolation2d="nearest")
    _, widget = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    widget.set_layer(src)
    widget.scale_y.value = 4.0
    widget.run_btn.native.click()
    secs = wait_idle(widget, 600)
    print(f"rendered in {secs:.1f} s: {widget.status.value}")
    new = viewer.layers[-1]
    viewer.layers.selection.active = src  # the widget shows its source layer
    caption = f"left: {src.name} {crop.shape[1]}x{crop.shape[0]} (nearest)   right: {new.name}"
    shape = grid_and_save(viewer, caption, OUT)
    print(f"wrote {OUT} {shape[1]}x{shape[0]}, new layer {new.name!r} {new.data.shape}")
    viewer.close()


if __name__ == "__main__":
    main()
