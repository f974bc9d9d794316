"""ZoomWidget: the noise warning and the detail trait (real weights, the real widget class)."""

import io
import re
import threading

import numpy as np
import pytest
import traitlets
from PIL import Image
from skimage import data

import liif_plugin as liif
from liif_plugin.engine.classic import ClassicResampler
from liif_plugin.notebook import ZoomWidget
from liif_plugin.sources import arrays


@pytest.fixture(scope="module")
def model():
    return liif.load_model()


@pytest.fixture(scope="module")
def clean():
    return np.ascontiguousarray(data.camera()[100:148, 180:228])


@pytest.fixture(scope="module")
def noisy(clean):
    rng = np.random.default_rng(0)
    return np.clip(clean + rng.normal(0, 0.06 * 255, clean.shape), 0, 255).astype(np.uint8)


def test_advice_for_a_noisy_image_only(model, tiny_model, clean, noisy):
    """The advice line (under the image) says what the image is and which model runs; when that model
    does not suit the image it says what to change, in the widget's words (and `warning` holds it)."""
    w = ZoomWidget(noisy, model=model, height=48, canvas_shape=[48, 48])
    try:
        assert "noise about" in w.advice and "model 'edsr-baseline'" in w.advice
        assert "detail slider" in w.warning and w.warning == w.advice
        assert not re.search(r"[.!?] [A-Z]", w.warning.split(". ")[0])  # one sentence, then the facts
        with pytest.raises(traitlets.TraitError):
            w.warning = ""  # read-only: the kernel says it
        w.detail = 0.3  # following the advice: nothing left to change
        assert w.warning == "" and "noise about" in w.advice
    finally:
        w.close()
    photo = np.ascontiguousarray(data.camera()[::4, ::4])  # a clean photo to the chooser (48 px crops are not)
    for img, m in ((photo, model), (noisy, tiny_model)):  # a clean image, or a model of the caller's: no warning
        w = ZoomWidget(img, model=m, height=48, canvas_shape=[48, 48])
        try:
            assert w.warning == "" and w.advice
        finally:
            w.close()


def test_detail_trait_blends_with_the_engines_bicubic(model, noisy):
    w = ZoomWidget(noisy, model=model, height=48, canvas_shape=[40, 60], detail=0.0)
    try:
        w.viewport = [10, 10, 20, 25]
        planes, layout = arrays.to_planes(noisy)
        bic = ClassicResampler(planes, layout.kind).render((10, 10, 20, 25), (40, 60))
        np.testing.assert_array_equal(w.render_viewport(), arrays.from_planes(bic, layout))
        w.detail = 1.0
        np.testing.assert_array_equal(
            w.render_viewport(),
            model.encode(noisy, precision=w.precision, encoder_precision=w.encoder_precision).render(
                (40, 60), (10, 10, 20, 25)
            ),
        )
        w.detail = 0.5
        half = model.encode(noisy, precision=w.precision, encoder_precision=w.encoder_precision).render_planes(
            (40, 60), (10, 10, 20, 25), detail=0.5
        )
        np.testing.assert_array_equal(w.render_viewport(), arrays.from_planes(half, layout))
        with pytest.raises(traitlets.TraitError, match="detail"):
            w.detail = 1.5
    finally:
        w.close()


def test_changing_detail_re_renders_the_view(model, noisy):
    w = ZoomWidget(noisy, model=model, height=32, canvas_shape=[32, 48])
    sent, lock = [], threading.Lock()

    def record(content, buffers=None):
        with lock:
            sent.append((content, buffers))

    w.send = record  # no browser at the other end here
    try:
        w.viewport = [4, 4, 20, 28]
        assert w.wait(120)
        full = sent[-1]
        w.detail = 0.2
        assert w.wait(120)
        content, buffers = sent[-1]
        assert content["final"] and content["layer"] == "liif" and content["id"] > full[0]["id"]
        shown = np.asarray(Image.open(io.BytesIO(buffers[0])))
        np.testing.assert_array_equal(shown, w.render_viewport())
        assert not np.array_equal(shown, np.asarray(Image.open(io.BytesIO(full[1][0]))))
    finally:
        w.close()
