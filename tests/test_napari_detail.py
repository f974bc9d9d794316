"""napari dock widget: the noise warning (once per layer) and the detail control, in a real viewer."""
import numpy as np
import pytest

napari = pytest.importorskip("napari")

from napari.utils.notifications import notification_manager  # noqa: E402
from skimage import data  # noqa: E402

import liif_plugin  # noqa: E402
from liif_plugin import arrays  # noqa: E402
from liif_plugin.bicubic import ClassicResampler  # noqa: E402

pytestmark = pytest.mark.napari
WAIT = 60_000  # ms; a generous ceiling for a render on a busy 2-core machine, not a speed check


@pytest.fixture(scope="module")
def model():
    return liif_plugin.load_model("edsr-baseline", device="cpu")


def noisy_cells():
    clean = data.cell()[300:332, 250:290]
    rng = np.random.default_rng(0)
    return np.clip(clean + rng.normal(0, 0.06 * 255, clean.shape), 0, 255).astype(np.uint8)


def widget_with(viewer, model):
    _, w = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    w._models[("edsr-baseline", "auto")] = model  # loaded once for the module
    return w


def run(qtbot, w):
    w.run_btn.click()
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    return w.viewer.layers[-1]


def warnings_since(n):
    return [str(r.message) for r in notification_manager.records[n:] if "noisy" in str(r.message)]


def test_noisy_layer_warns_once_and_clean_layer_never(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[100:132, 180:220], name="clean")
    noisy = viewer.add_image(noisy_cells(), name="noisy cells")
    w = widget_with(viewer, model)
    w.set_layer(viewer.layers["clean"])
    n = len(notification_manager.records)
    run(qtbot, w)
    assert warnings_since(n) == []
    w.set_layer(noisy)
    run(qtbot, w)
    run(qtbot, w)  # a second run on the same layer says nothing new
    msgs = warnings_since(n)
    assert len(msgs) == 1 and "'noisy cells'" in msgs[0] and "detail" in msgs[0] and "noise-robust" in msgs[0]


def test_detail_control_blends_with_bicubic(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    img = noisy_cells()
    viewer.add_image(img, name="cells")
    w = widget_with(viewer, model)
    w.scale_y.setValue(2.0)
    w.detail.setValue(0.0)
    n = len(notification_manager.records)
    zero = run(qtbot, w)
    assert warnings_since(n) == []  # detail already lowered: nothing to advise
    planes, layout = arrays.to_planes(img)
    bic = arrays.from_planes(ClassicResampler(planes, layout.kind).render((0, 0, 32, 40), (64, 80)), layout)
    np.testing.assert_array_equal(zero.data, bic)
    assert zero.metadata["liif"]["detail"] == 0.0
    w.detail.setValue(0.5)
    half = run(qtbot, w)
    ref = model.encode(img).render((64, 80), detail=0.5)
    np.testing.assert_array_equal(half.data, ref)
    assert half.metadata["liif"]["detail"] == 0.5
