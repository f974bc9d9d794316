"""Progress, time left, cancelling: what the panel shows while a run goes and how it stops.

The events a run's worker yields are recorded by the controller as it handles them (``job.seen``),
from the first one: a test that connected to the worker's signal after clicking Run could miss the
first on a busy machine. No test here checks how fast anything is.
"""

import json
import os
import threading
import time

import numpy as np
import pytest
from panel_helpers import KEY, WAIT, open_widget, wait_idle
from qtpy.QtWidgets import QMessageBox
from skimage import data

from liif_plugin.runtime import cost
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.progress import Tracker
from napari_plugin import _threads

pytestmark = pytest.mark.napari


@pytest.fixture
def speed_store(model, tiny_model, tmp_path, monkeypatch):
    """An empty speed store (speeds.STORE lives in the weights cache dir), after the models loaded."""
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache" / speeds.STORE


def test_tracker_fills_encodes_by_time_and_decodes_by_pixels():
    clock = [0.0]
    wk = cost.Work((("encode", 100), ("decode", 400), ("encode", 100), ("decode", 400)), 1, 0, 0)
    t = Tracker([wk], speeds.Speed(100.0, 400.0), clock=lambda: clock[0])  # 1 s per step, 4 s in all
    t.begin(0)
    clock[0] = 0.5
    assert t.fraction() == pytest.approx(0.125)  # half of the first encode, by time
    clock[0] = 5.0
    assert t.fraction() == pytest.approx(0.95 / 4)  # an encode over its estimate waits at 95 %
    t.update(200)  # half of the first decode reported
    assert t.fraction() == pytest.approx(1.5 / 4)
    t.update(400)  # first decode done: the second encode is under way
    clock[0] = 5.5
    assert t.fraction() == pytest.approx(2.5 / 4)
    # Twice as slow as estimated so far (5.5 s for 2.5 s of estimate): the rest takes twice as long too.
    assert t.seconds_left() == pytest.approx(1.5 * 5.5 / 2.5)
    t.update(800)
    assert t.fraction() == 1.0 and t.seconds_left() == 0.0


@pytest.mark.slow
def test_progress_moves_during_encoding_and_resets_on_confirm(make_napari_viewer, qtbot, model, speed_store):
    viewer = make_napari_viewer()
    # Big enough that encoding takes a while on any CPU (on a fast one a 96 x 96 plane was encoded and
    # decoding already reported before the first look at the bar).
    viewer.add_image(data.cell()[100:420, 100:420].astype(np.uint16) * 16, name="cell")
    w = open_widget(viewer, model)
    w.scale_y.value = 1.0  # as many pixels decoded as encoded: encoding is most of the time
    w.run_btn.native.click()
    job = w.controller.job
    # Before the render has reported a single output pixel, the bar already moves: the encode is counted.
    c = w.controller
    qtbot.waitUntil(lambda: c.tracker is not None and c.tracker.started is not None, timeout=WAIT)
    qtbot.waitUntil(lambda: w.progress.value > 0 or not w.busy, timeout=WAIT)
    assert not any(e[0] == "pixels" for e in job.seen), "the bar moved only once decoding reported"
    assert "left" in w.status.value and "%" in w.status.value
    wait_idle(qtbot, w)
    assert w.progress.value == 1000
    assert job.seen[0][0] == "status" and "measuring" in job.seen[0][1]  # first use on this device: calibrated
    # A run that waits for confirmation does not show the previous run's 100 %.
    w.controller.CONFIRM_SECONDS = 0.0
    w.run_btn.native.click()
    assert w.confirm_box is not None
    assert w.progress.value == 0 and w.status.value == "waiting for confirmation"
    w.confirm_box.button(QMessageBox.StandardButton.No).click()


def test_time_estimate_is_calibrated_before_the_first_run(make_napari_viewer, qtbot, model, speed_store, calibrating):
    """Rough (a range) until this machine's speed is measured; the panel measures it on a worker as soon as a
    layer is picked, before any button is pressed, and then shows one calibrated number."""
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[200:264, 200:264], name="cam")
    w = open_widget(viewer, model)
    assert "not measured yet" in w.time_label.value and "roughly" in w.time_label.value
    qtbot.waitUntil(lambda: "measured speed" in w.time_label.value, timeout=WAIT)  # measured in the background
    assert not w.busy and len(viewer.layers) == 1  # nothing ran
    stored = json.loads(speed_store.read_text())
    assert speeds.key(model, "fp32") in stored  # Run's precision (and Preview's, auto)
    assert speeds.stored(model, "fp32") == speeds.Speed(
        **{k: v for k, v in stored[speeds.key(model, "fp32")].items() if k != "measured_with"}
    )
    w.scale_y.value = 3.0
    works, total = w.controller.last_estimate
    assert total.measured and total.seconds == pytest.approx(cost.seconds(works, speeds.stored(model, "fp32")))
    assert w.time_label.value.startswith(f"Run {total.text()} · Preview ")
    w.run_btn.native.click()
    assert w.controller.job.text == f"rendering ({total.text()}) …"
    wait_idle(qtbot, w)
    assert viewer.layers[-1].data.shape == (192, 192)
    assert w.controller.last_run_estimate == pytest.approx(total.seconds)  # the run was planned with it


def test_speed_is_measured_once_per_precision(model, speed_store):
    first = speeds.speed(model, "fp32")
    mtime = speed_store.stat().st_mtime_ns
    assert speeds.speed(model, "fp32") == first and speed_store.stat().st_mtime_ns == mtime  # read back
    assert speeds.stored(model, "bf16") is None  # another precision is its own measurement
    assert first.encode_px_per_s > 0 and first.decode_px_per_s > 0


def test_cancel_adds_no_layer(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:96, :96], name="big")
    w = open_widget(viewer, model)
    w.scale_y.value = 6.0  # 576 x 576: far longer than the test waits
    w.run_btn.native.click()
    worker = w.worker
    qtbot.waitUntil(lambda: w.controller.tracker is not None and w.controller.tracker.done_px > 0, timeout=WAIT)
    assert not w.run_btn.enabled and w.cancel_btn.enabled
    with qtbot.waitSignal(worker.finished, timeout=WAIT):
        w.cancel_btn.native.click()
    assert [ly.name for ly in viewer.layers] == ["big"]
    assert w.status.value == "cancelled; no layer added" and w.run_btn.enabled and w.progress.value == 0


def test_closing_widget_cancels(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    viewer.add_image(data.camera()[:96, :96], name="big")
    dock, w = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    w.controller.models[KEY] = model
    w.scale_y.value = 6.0
    w.run_btn.native.click()
    worker = w.worker
    qtbot.waitUntil(lambda: w.controller.tracker is not None and w.controller.tracker.done_px > 0, timeout=WAIT)
    with qtbot.waitSignal(worker.finished, timeout=WAIT):
        viewer.window.remove_dock_widget(dock)
    qtbot.wait(50)
    assert [ly.name for ly in viewer.layers] == ["big"]


def test_removing_the_source_layer_cancels_its_run(make_napari_viewer, qtbot, model):
    viewer = make_napari_viewer()
    src = viewer.add_image(data.camera()[:96, :96], name="big")
    viewer.add_image(data.camera()[:8, :8], name="other")
    w = open_widget(viewer, model)
    w.set_layer(src)
    w.scale_y.value = 16.0  # 1536 x 1536: far longer than the test waits, even in bf16 on AVX-512
    w.controller.CONFIRM_SECONDS = float("inf")  # measured, it is minutes long: the panel would ask first
    w.run_btn.native.click()
    worker = w.worker
    qtbot.waitUntil(lambda: w.controller.tracker is not None and w.controller.tracker.done_px > 0, timeout=WAIT)
    with qtbot.waitSignal(worker.finished, timeout=WAIT):
        viewer.layers.remove(src)
    qtbot.wait(50)
    assert [ly.name for ly in viewer.layers] == ["other"]
    assert w.status.value == "'big' was removed, so its run was cancelled; no layer added"
    assert w.run_btn.enabled and w.progress.value == 0


@pytest.mark.skipif(not hasattr(os, "getpriority"), reason="per-thread nice values are Linux's")
@pytest.mark.slow
def test_runs_never_inherit_the_live_views_lowered_priority(make_napari_viewer, qtbot, tiny_model):
    """The live view's render thread runs at background priority for good. The panel's runs must
    not land on such a thread (they did on Qt's shared pool, and then waited behind everything else
    on a busy machine): the live view and the panel have thread pools of their own."""
    viewer = make_napari_viewer(show=True)
    viewer.add_image(data.camera()[:128, :128], name="cam")
    w = open_widget(viewer, tiny_model)
    viewer.camera.zoom = 6.0
    w.live.value = True
    qtbot.waitUntil(lambda: w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    w.live.value = False
    main = os.getpriority(os.PRIO_PROCESS, threading.main_thread().native_id)
    seen, load = [], w.controller.model_for

    def model_for(key):  # called on the run's worker thread
        seen.append(os.getpriority(os.PRIO_PROCESS, threading.get_native_id()))
        return load(key)

    w.controller.model_for = model_for
    for _ in range(3):
        w.run_btn.native.click()
        wait_idle(qtbot, w)
    assert seen == [main] * 3
    assert _threads.pool("panel") is not _threads.pool("live")


@pytest.mark.slow
def test_cancel_on_isotropic_z_leaves_the_process_idle(make_napari_viewer, qtbot, model):
    """Cancel stops the band under way (the engine asks the job between encoder convolutions and before
    decoder chunks), not only at the next band: afterwards the process computes nothing. Loose bound on
    the process's CPU time from the click to a second after the worker ended (a band of this stack is
    several CPU-seconds of the released model)."""
    viewer = make_napari_viewer()
    stack = np.stack([data.camera()[100:260, 100:260]] * 24)  # 24 x 160 x 160, z four times coarser
    viewer.add_image(stack, name="stack", scale=(4, 1, 1))
    w = open_widget(viewer, model)
    w.iso_btn.native.click()
    worker, job = w.worker, w.controller.job
    assert worker is not None, w.status.value
    qtbot.waitUntil(lambda: any(e[0] == "fraction" and e[1] > 0 for e in job.seen), timeout=WAIT)
    cpu = time.process_time()
    with qtbot.waitSignal(worker.finished, timeout=WAIT):
        w.cancel_btn.native.click()
    qtbot.wait(1000)
    assert time.process_time() - cpu < 1.0
    assert [ly.name for ly in viewer.layers] == ["stack"] and "cancelled" in w.status.value


@pytest.mark.slow
def test_a_run_starts_while_the_live_view_renders_and_the_live_view_yields(
    make_napari_viewer, qtbot, tiny_model, monkeypatch
):
    """Run while a live render is under way: the Run starts at once, the live render stops at its next
    engine check and renders no band while the Run goes (before, both rendered side by side, the Run's
    decoder threads at the live view's lowered priority), and renders again once the Run is done."""
    from napari_plugin import _resample as rs

    viewer = make_napari_viewer(show=True)
    viewer.add_image(data.camera(), name="cam")
    w = open_widget(viewer, tiny_model)
    log, held, go = [], threading.Event(), threading.Event()
    real = rs.iter_resample

    def logged(layer, **kwargs):  # every band of every render, in order; the first live band is held
        who = "live" if "(LIIF live)" in (kwargs.get("name") or "") else "run"
        gen = real(layer, **kwargs)
        while True:
            try:
                event = next(gen)
            except StopIteration as end:
                return end.value
            log.append(who)
            if who == "live" and not held.is_set():
                held.set()
                go.wait(60)
            yield event

    monkeypatch.setattr(rs, "iter_resample", logged)
    viewer.camera.center, viewer.camera.zoom = (256.0, 256.0), 3.0
    w.live.value = True
    qtbot.waitUntil(held.is_set, timeout=WAIT)  # the live view is rendering (held after its first band)
    w.run_btn.native.click()
    job = w.controller.job
    assert job is not None and w.worker is not None  # started at once
    qtbot.waitUntil(lambda: "run" in log, timeout=WAIT)
    go.set()  # the live render goes on: its next engine check sees the Run
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)
    during = log[log.index("run") : len(log) - log[::-1].index("run")]
    assert "live" not in during and w.viewer.layers[-1].name.startswith("cam [LIIF")
    # Once the panel is idle the live view renders the view again.
    qtbot.waitUntil(lambda: w._live.renders >= 1 and w._live.idle, timeout=WAIT)
    assert log[-1] == "live"
    w.live.value = False
