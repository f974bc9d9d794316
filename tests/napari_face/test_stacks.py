"""3D stacks from the panel: isotropic z, and every zx section resampled, placed exactly."""

import numpy as np
import pytest
from panel_helpers import WAIT, open_widget
from skimage import data

import liif_plugin

pytestmark = pytest.mark.napari


def test_isotropic_z_from_the_widget(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer()
    stack = np.stack([data.camera()[100 + 8 * k : 132 + 8 * k, 200:240] for k in range(6)]).astype(np.uint16) * 16
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5), translate=(1.0, 0.0, 0.0))
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    w.set_layer(layer)
    # Before it starts, the panel says how long Isotropic z takes (not measured yet for this model: a range).
    assert "Isotropic z roughly " in w.time_label.value and "not measured yet" in w.time_label.value
    w.iso_btn.native.click()
    job = w.controller.job
    assert job.kind == "isotropic" and "roughly" in job.text
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    new = viewer.layers["stack [LIIF isotropic z tiny-liif]"]
    # Its progress was planned (a tracker over both passes) and followed to the end.
    kinds = [e[0] for e in job.seen]
    assert "plan" in kinds and kinds.index("plan") < kinds.index("fraction") and w.progress.value == 1000
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    want = liif_plugin.isotropic(stack, (2.0, 0.5, 0.5), model=model, precision=w.choices().precision_for("run"))
    np.testing.assert_array_equal(new.data, want.data)
    assert new.data.shape == (24, 32, 40) and new.data.dtype == np.uint16
    np.testing.assert_allclose(new.scale, (0.5, 0.5, 0.5))
    # Output slice j sits at input z index -0.5 + (j + 0.5) * 6 / 24: the first at -0.375.
    np.testing.assert_allclose(new.data_to_world((0, 0, 0)), layer.data_to_world((-0.375, 0, 0)), atol=1e-9)
    assert new.metadata["liif"]["operation"] == "isotropic z"
    w.set_layer(viewer.add_image(data.camera()[:32, :32], name="flat"))
    assert not w.iso_btn.enabled and "needs a 3D (z, y, x) stack" in w.iso_btn.tooltip  # says why, before a click
    w.isotropic()  # (called anyway) a 2D layer: one sentence, nothing added
    assert "3D" in w.status.value and len(viewer.layers) == 3 and not w.busy
    w.set_layer(layer)
    assert w.iso_btn.enabled and w.iso_btn.tooltip.startswith("3D stacks: refine z")


def test_zx_plane_from_the_widget(make_napari_viewer, qtbot, tiny_model_path):
    viewer = make_napari_viewer()
    stack = np.stack([data.camera()[100 + 8 * k : 124 + 8 * k, 200:230] for k in range(5)])
    layer = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    w = open_widget(viewer)
    w.add_model_path(tiny_model_path)
    w.set_layer(layer)
    w.plane_combo.value = "zx"
    w.mode_combo.value = "pixel size"
    w.pixel_size.value = 0.5  # z: 2.0 -> 0.5 (x4), x stays at 0.5
    assert w.estimate_label.value == "24 zx sections of 20 × 30 pixels"
    assert w.time_label.value.startswith("Run roughly ")  # the sections' time, before Run
    w.run_btn.native.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    new = viewer.layers["stack [LIIF zx plane tiny-liif]"]
    model = liif_plugin.load_model(tiny_model_path, device="cpu")
    want = liif_plugin.resample_planes(
        stack, (4.0, 1.0), plane="zx", spacing=(2.0, 0.5, 0.5), model=model, precision=w.choices().precision_for("run")
    )
    np.testing.assert_array_equal(new.data, want.data)
    np.testing.assert_allclose(new.scale, (0.5, 0.5, 0.5))
    np.testing.assert_allclose(new.data_to_world((0, 0, 0)), layer.data_to_world((-0.375, 0, 0)), atol=1e-9)
    w.view_only.value = True  # a yx-only option: one sentence, nothing runs
    w.run_btn.native.click()
    assert "untick" in w.status.value and not w.busy
