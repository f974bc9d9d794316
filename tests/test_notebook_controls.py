"""ZoomWidget's controls and what it says, in the kernel: the model menu (auto with its pick), one
model per image, Compare reusing the rendered frame, and the time estimate of the pending render."""

import threading

import numpy as np
import pytest
import traitlets
from skimage import data

import liif_plugin as liif
from liif_plugin.notebook import ZoomWidget
from liif_plugin.quality import choose


def collect(widget):
    sent, lock = [], threading.Lock()

    def record(content, buffers=None):
        with lock:
            sent.append(content)

    widget.send = record
    return sent


@pytest.fixture(scope="module")
def photo():
    return np.ascontiguousarray(data.camera()[::4, ::4])  # 128 x 128, a clean photo to the chooser


def fluorescence(seed=0, photons=50, background=2):
    """A noisy 16-bit fluorescence image: at 50 photons 'auto' picks the registry's model for noisy microscopy."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:80, :80]  # wider than 64: a (3, 80, 80) array reads as a stack, not 80 channels
    blobs = sum(np.exp(-((yy - cy) ** 2 + (xx - cx) ** 2) / 30.0) for cy, cx in [(15, 20), (40, 45), (50, 12)])
    return rng.poisson(blobs * photons + background).astype(np.uint16)


def test_model_menu_offers_auto_with_its_pick_and_switches_models(photo):
    w = ZoomWidget(photo, height=64, canvas_shape=[64, 64])
    try:
        assert w.model_name == "auto" and w.model_in_use == "edsr-baseline"
        assert w.model_choices[0] == ["auto (edsr-baseline)", "auto"]
        offered = [v for _, v in w.model_choices]
        assert "edsr-baseline-denoise" in offered
        assert "auto picks 'edsr-baseline'" in w.advice
        w.model_name = "edsr-baseline-denoise"  # what the menu does
        assert w.model_in_use == "edsr-baseline-denoise" and w.field.model.name == "edsr-baseline-denoise"
        assert "model 'edsr-baseline-denoise' (auto would pick 'edsr-baseline')" in w.advice
        with pytest.raises(traitlets.TraitError, match="model_name must be one of"):
            w.model_name = "no-such-model"
        w.model_name = "auto"
        assert w.model_in_use == "edsr-baseline"
    finally:
        w.close()


def test_the_advice_says_when_the_picked_model_keeps_part_of_bicubic(read_noise_micrograph):
    """The light microscopy tier's model renders 0.6 of its difference from bicubic (the registry's `detail`):
    the advice line says so beside the pick, and the widget's field renders that way."""
    w = ZoomWidget(read_noise_micrograph, height=64, canvas_shape=[64, 64])
    try:
        light = choose.model_for("noisy-microscopy-light")
        assert w.model_in_use == light and f"auto picks '{light}' at detail 0.6." in w.advice
        assert w.field.model.detail == 0.6 and w.detail == 1.0  # the slider multiplies the model's own share
    finally:
        w.close()


def test_auto_is_decided_once_per_image_for_every_view_and_plane():
    """One choice per image: the stack's planes and every view use the model picked when it opened."""
    stack = np.stack([fluorescence(0), fluorescence(1), (fluorescence(2, 400, 20) // 50 + 100).astype(np.uint16)])
    w = ZoomWidget(stack, height=64, canvas_shape=[64, 64], index=(0,))
    try:
        picked = w.model_in_use
        assert picked == liif.choose_model(stack[0]).name == choose.model_for("noisy-microscopy")
        assert w.model_choices[0] == [f"auto ({picked})", "auto"]
        for index, view in (([2], [0, 0, 16, 16]), ([1], [30, 30, 50, 50]), ([2], [50, 0, 74, 24])):
            w.index = index  # a plane the chooser alone would call otherwise (index 2 is clean)
            w.viewport = view
            assert w.wait(120)
            assert w.model_in_use == picked and w.field.model.name == picked
    finally:
        w.close()


def test_compare_reuses_the_rendered_liif_frame(photo):
    w = ZoomWidget(photo, height=64, canvas_shape=[64, 96])
    sent = collect(w)
    try:
        w.viewport = [20, 20, 40, 50]
        assert w.wait(120)
        assert w.last_render["layer"] == "liif"
        before = list(sent)
        w.mode = "compare"  # LIIF left, bicubic right: both are on the page already
        assert w.wait(120)
        w.mode = "liif"
        assert w.wait(120)
        assert sent == before  # nothing rendered or sent again
        w.mode = "bicubic"
        assert w.wait(120)
        w.mode = "compare"  # from bicubic, the LIIF frame is due: rendered
        assert w.wait(120)
        assert [c["layer"] for c in sent[len(before) :] if c["layer"] != "overview"][-1] == "liif"
    finally:
        w.close()


def test_the_pending_render_has_an_estimate(photo):
    w = ZoomWidget(photo, height=64, canvas_shape=[64, 96])
    try:
        w.reset()  # the whole image: zoomed out below 1, the overview is the picture
        w.viewport = [0, 0, 128, 128]
        if w.zoom < 1:
            assert w.estimate == ""
        w.viewport = [20, 20, 40, 50]  # zoomed in: a LIIF render is due
        assert w.estimate.startswith(("about", "roughly", "under a second"))
        w.mode = "bicubic"
        assert w.estimate == ""  # no LIIF render in bicubic mode
    finally:
        w.close()
