"""What the panel says before and during a job, read from its widgets in a real headless viewer: the time
of every button before it is pressed, the advice line (what the image is, the model 'auto' picks and
why) before Run, one model per layer whatever the window, progress of 3D jobs, new layers named after
their model, and status lines that go when what they describe changes."""

import numpy as np
import pytest
from panel_helpers import WAIT, messages, n_messages, open_widget, run_and_wait, wait_idle
from PIL import Image
from skimage import data

from liif_plugin.quality import advice, choose
from napari_plugin._choices import SHAPE_MODE

pytestmark = pytest.mark.napari


def fluorescence(size=64, seed=0, photons=40, background=2):
    """Noisy 16-bit fluorescence: blobs on a dark background, Poisson noise (at 40 photons, what 'auto' gives
    the registry's noisy-microscopy model; from a few hundred up, the light one)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    spots = [(0.25, 0.3), (0.6, 0.7), (0.8, 0.2), (0.3, 0.8)]
    blobs = sum(np.exp(-((yy - cy * size) ** 2 + (xx - cx * size) ** 2) / 30.0) for cy, cx in spots)
    return rng.poisson(blobs * photons + background).astype(np.uint16)


def test_every_button_says_how_long_it_takes_before_it_is_pressed(make_napari_viewer, qtbot, tiny_model):
    viewer = make_napari_viewer()
    flat = viewer.add_image(data.camera()[:48, :64], name="cam")
    stack = np.stack([data.camera()[100 + 6 * k : 132 + 6 * k, 200:240] for k in range(5)]).astype(np.uint16)
    vol = viewer.add_image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    w = open_widget(viewer, tiny_model)
    w.set_layer(flat)
    # A 2D layer: Run and Preview (the view on screen), before either is pressed; no Isotropic z.
    line = w.time_label.value
    assert line.startswith("Run ") and " · Preview " in line and "Isotropic z" not in line, line
    assert "not measured yet" in line or "measured speed" in line
    w.set_layer(vol)
    line = w.time_label.value
    assert line.startswith("Run ") and " · Preview " in line and " · Isotropic z " in line, line
    # Every zx section: the Run of the sections has its time too.
    w.plane_combo.value = "zx"
    assert w.estimate_label.value.startswith("32 zx sections of ") and w.time_label.value.startswith("Run ")
    w.plane_combo.value = "yx"
    # Several layers: one time for all of them.
    viewer.layers.selection = {flat, vol}
    w.all_selected.value = True
    assert "(and 1 more layer)" in w.estimate_label.value and w.time_label.value.startswith("Run ")
    w.all_selected.value = False
    # The job starts with its estimate in the status line, then shows progress, time so far and time left.
    w.iso_btn.native.click()
    job = w.controller.job
    assert job.kind == "isotropic" and job.estimate is not None
    assert w.status.value.startswith("isotropic z (") and job.estimate.text() in w.status.value
    statuses = []
    w.controller.events.status.connect(lambda e: statuses.append(e.value))
    wait_idle(qtbot, w)
    ticks = [s for s in statuses if " %, " in s]
    assert ticks and all("so far, about" in s and s.endswith(" left") for s in ticks), statuses


@pytest.mark.slow
def test_isotropic_z_shows_progress_while_it_runs(make_napari_viewer, qtbot, model):
    """A real stack (released model, z x4): the bar moves and the time left is said before the job ends."""
    viewer = make_napari_viewer()
    stack = np.stack([fluorescence(64, k, photons=4000) for k in range(8)])
    viewer.add_image(stack, name="nuclei", scale=(2.0, 0.5, 0.5))
    w = open_widget(viewer, model)
    w.iso_btn.native.click()
    c = w.controller
    qtbot.waitUntil(lambda: c.progress > 0 and "left" in c.status, timeout=WAIT)
    assert w.busy  # the bar moved while it still ran
    assert 0 < w.progress.value < 1000 and "%" in w.status.value
    wait_idle(qtbot, w)
    assert w.progress.value == 1000 and w.status.value.startswith("added 'nuclei [LIIF isotropic z ")


def test_advice_line_before_run(make_napari_viewer, qtbot, read_noise_micrograph):
    """What the image is, the model 'auto' picks and why, in the panel's words, before anything runs; a
    named model that does not suit the image gets what to change. Nothing is said after Run in a toast."""
    viewer = make_napari_viewer()
    clean = viewer.add_image(data.camera()[::4, ::4], name="camera")
    cells = viewer.add_image(fluorescence(), name="cells")
    w = open_widget(viewer)
    w.set_layer(clean)
    assert w.advice_label.value.startswith("clean photo (noise ")
    assert "'auto' picks 'edsr-baseline'" in w.advice_label.value and "128 × 128, uint8 values" in w.advice_label.value
    assert w.model_combo.value == "auto" and w.model_combo.native.currentText() == "auto (edsr-baseline)"
    w.set_layer(cells)
    line = w.advice_label.value
    picked = advice.check(fluorescence()).auto.name
    assert picked == choose.model_for("noisy-microscopy") == "edsr-baseline-microscopy"  # the registry says
    assert line.startswith("noise about ") and "(microscopy)" in line and f"'auto' picks '{picked}'" in line
    assert w.model_combo.native.currentText() == f"auto ({picked})"  # the choice, in the model control too
    w.model_combo.value = "edsr-baseline"  # a named model wins; the panel says what it costs and what to do
    line = w.advice_label.value
    assert f"model 'edsr-baseline' ('auto' would pick '{picked}')" in line
    assert "set 'model' to auto or lower 'detail' (e.g. to 0.3)" in line
    assert "liif_plugin" not in line and "model=" not in line  # napari's words, not Python calls
    w.detail.value = 0.3
    assert "lower 'detail'" not in w.advice_label.value  # done: nothing left to advise
    w.model_combo.value = "auto"
    # A model the registry gives a detail below 1 says so: the share of its difference from bicubic it keeps.
    w.set_layer(viewer.add_image(read_noise_micrograph, name="camera noise"))
    light = choose.model_for("noisy-microscopy-light")
    assert f"camera read noise (microscopy): 'auto' picks '{light}' at detail 0.6." in w.advice_label.value
    w.set_layer(cells)
    n = n_messages()
    new = run_and_wait(qtbot, w)
    assert [m for m in messages(n) if "noise" in m] == []  # no toast after the fact
    assert new.name == f"cells [LIIF x2 {picked}]"
    assert new.metadata["liif"]["model"] == picked
    assert new.metadata["liif"]["model_choice"].startswith("auto: noise about ")
    # A small picture of clean grass reads as noise; the panel says it may be texture and what to pick then.
    grass = np.asarray(Image.fromarray(data.grass()[160:352, 160:352]).resize((64, 64), Image.BICUBIC))
    w.set_layer(viewer.add_image(grass, name="grass"))
    line = w.advice_label.value
    assert line.startswith("fine texture or noise about ")
    assert f"(photo): 'auto' picks '{choose.model_for('noisy-photo-light')}'" in line  # the light tier: texture
    assert f"; if it is clean texture, pick '{choose.model_for('clean')}' in 'model'." in line


def test_one_model_per_layer_whatever_the_window(make_napari_viewer, qtbot, tiny_model, monkeypatch):
    """'auto' decides once per layer, from the whole layer (a central window of its middle plane): two
    previews of different windows, a Run and the live view of one layer all use that model, although
    one window alone would choose another. The chooser looks once."""
    viewer = make_napari_viewer(show=True)
    noisy = fluorescence(128, photons=300, background=20)
    clean = (np.asarray(data.camera()[:128, :128], np.uint16) * 16).astype(np.uint16)
    both = np.concatenate([np.concatenate([clean, clean], 1), np.concatenate([noisy, noisy], 1)], 0)  # 256 x 256
    looks = []
    real_check = advice.check
    monkeypatch.setattr(advice, "check", lambda *a, **k: looks.append(a[0].shape) or real_check(*a, **k))
    layer = viewer.add_image(both, name="mixed")
    w = open_widget(viewer, tiny_model)
    picked = w.controller.checks.get(layer).auto.name
    top, bottom = real_check(clean).auto.name, real_check(noisy).auto.name
    assert top != bottom  # the two halves alone would choose differently
    viewer.window._qt_viewer.canvas.native.resize(160, 120)
    qtbot.waitUntil(lambda: tuple(viewer.canvas.size) == (120, 160), timeout=5_000)
    used = []
    load = w.controller.model_for
    w.controller.model_for = lambda key: used.append(key[0]) or load(key)
    for centre in ((40.0, 60.0), (200.0, 180.0)):  # a window in the clean half, one in the noisy half
        viewer.camera.center = centre
        viewer.camera.zoom = 4.0
        run_and_wait(qtbot, w, "preview")
    w.scale_y.value = 1.5
    run_and_wait(qtbot, w)
    w.live.value = True
    qtbot.waitUntil(lambda: w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    w._live.model_for()
    w.live.value = False
    assert used and set(used) == {picked}, used
    assert {ly.metadata["liif"]["model_choice"] for ly in viewer.layers if "liif" in ly.metadata} == {
        f"auto: {w.controller.checks.get(layer).auto.reason}"
    }
    assert looks == [(256, 256)]  # one look at the layer, for every window and job


def test_status_lines_go_when_what_they_describe_changes(make_napari_viewer, qtbot, tiny_model):
    viewer = make_napari_viewer()
    a = viewer.add_image(data.camera()[:32, :32], name="a")
    b = viewer.add_image(data.camera()[32:64, :32], name="b")
    w = open_widget(viewer, tiny_model)
    w.set_layer(a)
    run_and_wait(qtbot, w)
    assert w.status.value.startswith("added 'a [LIIF x2 ") and w.progress.value == 1000
    w.set_layer(a)  # the same layer and settings: the line still describes them
    assert w.status.value.startswith("added ")
    w.set_layer(b)  # another layer: the line about 'a' goes
    assert w.status.value == "ready" and w.progress.value == 0
    w.set_layer(a)
    run_and_wait(qtbot, w)
    w.mode_combo.value = SHAPE_MODE  # other settings: likewise
    assert w.status.value == "ready" and w.progress.value == 0


def test_an_error_line_goes_once_the_panel_shows_something_else(make_napari_viewer, qtbot):
    viewer = make_napari_viewer()
    w = open_widget(viewer)
    assert not w.iso_btn.enabled and "open one first" in w.iso_btn.tooltip  # nothing to work on
    w.isotropic()
    assert "open a 3D stack" in w.status.value
    w.live.value = True
    assert w.status.value == "live view: open an image layer first" and not w.live.value
    viewer.add_image(data.camera()[:32, :32], name="cam")  # what they said is no longer so
    assert w.layer is not None and w.status.value == "ready"


def test_the_estimate_is_calibrated_for_each_models_architecture(
    make_napari_viewer, qtbot, model, tmp_path, monkeypatch, calibrating
):
    """A model of the released model's architecture (the noise-robust one) gets the calibrated estimate of
    that architecture, not a rough one: the speed is kept per architecture, precision and device."""
    from liif_plugin.runtime import speed as speeds

    monkeypatch.setattr(speeds, "_path", lambda: tmp_path / "speed.json")  # nothing measured yet
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:64, :64], name="cam")
    w = open_widget(viewer, model)
    qtbot.waitUntil(lambda: "measured speed" in w.time_label.value, timeout=WAIT)  # measured in the background
    w.model_combo.value = "edsr-baseline-denoise"  # not loaded, never run: the same architecture
    assert "measured speed" in w.time_label.value and "roughly" not in w.time_label.value
