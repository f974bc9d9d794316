"""Screenshot for the README's microscopy walk-through: a 3D stack made isotropic from the widget.

A real napari window (on a virtual X display when there is no screen) opens StarDist's nuclei-3d
stack (`liif data fetch nuclei-3d`) with a z step 4x its pixel size, runs "Isotropic z" with the
released model, and shows a zx section of the source (left) beside the result (right), the dock
widget in "pixel size" mode. Writes docs/napari-microscopy.png.

    .venv/bin/python scripts/napari_microscopy_screenshot.py [OUT.png]
"""

import sys
from pathlib import Path

from _shot import default_settings, ensure_display, grid_and_save, wait_idle

OUT = (
    Path(sys.argv[1])
    if len(sys.argv) > 1
    else Path(__file__).resolve().parent.parent / "docs" / "napari-microscopy.png"
)


def main():
    ensure_display()
    default_settings()

    import napari

    from liif_plugin.hub import sample_data
    from napari_plugin._choices import SIZE_MODE

    stack = sample_data.load("nuclei-3d")
    viewer = napari.Viewer(show=True, title="liif-plugin")
    viewer.window._qt_window.resize(1400, 820)
    src = viewer.add_image(
        stack,
        name="nuclei-3d",
        scale=(2.0, 0.5, 0.5),
        colormap="magma",
        interpolation2d="nearest",
        axis_labels=("z", "y", "x"),
        units="um",
    )
    _, widget = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    widget.set_layer(src)
    widget.mode_combo.value = SIZE_MODE  # set first: a status line goes when the settings change
    widget.pixel_size.value = 0.25
    print(f"before: time: {widget.time_label.value}\n        advice: {widget.advice_label.value}")
    widget.iso_btn.native.click()
    secs = wait_idle(widget, 900)
    print(f"isotropic in {secs:.1f} s: {widget.status.value}")
    new = viewer.layers[-1]
    new.interpolation2d = "nearest"
    viewer.layers.selection.active = src
    viewer.dims.order = (1, 0, 2)  # a zx section: z runs down the screen
    viewer.dims.set_point(1, stack.shape[1] * 0.5 / 2)
    caption = f"left: 2 um z steps   right: isotropic z, {new.scale[0]:g} um voxels"  # zx sections
    shape = grid_and_save(viewer, caption, OUT)
    print(f"wrote {OUT} {shape[1]}x{shape[0]}, new layer {new.name!r} {new.data.shape}")
    viewer.close()


if __name__ == "__main__":
    main()
