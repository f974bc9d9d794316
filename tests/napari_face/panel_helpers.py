"""Shared by the napari tests: open the panel, run it and wait, read napari's notifications."""

import numpy as np

WAIT = 120_000  # ms: a ceiling for a render on a busy 2-core machine, not a speed check
KEY = ("edsr-baseline", "auto")  # the released model on the panel's default device


def stand_in(models, loaded):
    """Let `loaded` (a LiifModel) stand for every registry model on the default device: whatever 'auto'
    picks for a test's image, the test's model renders it (tests of plumbing, not of the choice)."""
    from liif_plugin.hub import cache

    for name in cache.registry():
        models[(name, "auto")] = loaded


def open_widget(viewer, loaded=None):
    """The docked "Resample with LIIF" panel; `loaded` (a LiifModel) stands for every registry model."""
    _, w = viewer.window.add_plugin_dock_widget("liif-plugin", "Resample with LIIF")
    if loaded is not None:
        stand_in(w.controller.models, loaded)
    return w


def wait_idle(qtbot, w):
    qtbot.waitUntil(lambda: not w.busy, timeout=WAIT)  # busy ends in the worker's 'finished' handler


def run_and_wait(qtbot, widget, button="run"):
    """Click a button, wait for its job to end; the last layer of the viewer."""
    before = len(widget.viewer.layers)
    getattr(widget, button + "_btn").native.click()
    assert widget.worker is not None, widget.status.value
    wait_idle(qtbot, widget)
    assert len(widget.viewer.layers) >= before
    return widget.viewer.layers[-1]


def messages(since):
    from napari.utils.notifications import notification_manager

    return [str(n.message) for n in notification_manager.records[since:]]


def n_messages():
    from napari.utils.notifications import notification_manager

    return len(notification_manager.records)


def block_mean(y, f):
    h, w = y.shape[0] // f * f, y.shape[1] // f * f
    y = y[:h, :w].astype(np.float64)
    return y.reshape(h // f, f, w // f, f, *y.shape[2:]).mean(axis=(1, 3))
