"""The panel's logic without Qt: napari_plugin._controller on a napari ViewerModel, no window, no viewer fixture.

Choices become the engine's arguments, the estimate line, the confirmation decision, a run's events
and result with the real model, cancelling, a removed source, and engine errors in the panel's words.
"""

import ast
import subprocess
import sys
from pathlib import Path

import dask.array as da
import numpy as np
import pytest
from napari.components import ViewerModel
from napari.layers import Image
from skimage import data

import liif_plugin
from liif_plugin.errors import Hint, LiifError
from liif_plugin.hub import cache
from liif_plugin.runtime import cost, memory
from liif_plugin.runtime import speed as speeds
from napari_plugin import _choices, resample_layer
from napari_plugin._choices import SHAPE_MODE, SIZE_MODE, Choices
from napari_plugin._controller import Job, ResampleController


class Recorder:
    """Stands for napari's notifications: (level, text) of each message."""

    def __init__(self):
        self.log = []

    def __call__(self, level, text):
        self.log.append((level, text))


def controller_with(*layers, launch=None, loaded=None):
    viewer = ViewerModel()
    for layer in layers:
        viewer.add_layer(layer)
    c = ResampleController(viewer, launch=launch, notify=Recorder())
    if loaded is not None:
        for name in cache.registry():  # the loaded model stands for whatever 'auto' picks
            c.models[(name, "auto")] = loaded
    return c


def test_the_controller_imports_no_qt():
    code = (
        "import sys, napari_plugin._controller, napari_plugin._choices, liif_plugin.runtime.cost, "
        "liif_plugin.runtime.progress\n"
        "qt = [m for m in sys.modules if m.split('.')[0] in ('qtpy', 'PyQt5', 'PyQt6', 'PySide2', 'PySide6')\n"
        "      or m.startswith(('napari._qt', 'napari.qt', 'superqt'))]\n"
        "assert not qt, qt\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    for module in ("_controller", "_choices", "_resample", "_volume", "_settings"):  # nor lazily, in a function
        tree = ast.parse((Path(_choices.__file__).parent / f"{module}.py").read_text())
        names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
        names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
        assert not [n for n in names if n.split(".")[0] in ("qtpy", "magicgui", "superqt")], (module, names)


def test_choices_become_keyword_arguments():
    layer = Image(np.zeros((24, 32), np.uint8), name="cells", scale=(0.4, 0.5))
    c = controller_with(layer)
    kw = _choices.resample_kwargs
    assert kw(layer, Choices(scale=(2.0, 3.0)), c.viewer) == {"scale": (2.0, 3.0), "region": None}
    assert kw(layer, Choices(mode=SIZE_MODE, pixel_size=0.1), c.viewer) == {"scale": (4.0, 5.0), "region": None}
    assert kw(layer, Choices(mode=SHAPE_MODE, shape=(10, 20)), c.viewer) == {"shape": (10, 20), "region": None}
    c.viewer.camera.center = (5000.0, 5000.0)  # the layer is off screen
    with pytest.raises(ValueError, match="pan to it or untick 'current view only'"):
        kw(layer, Choices(view_only=True), c.viewer)
    with pytest.raises(ValueError, match="no image layer"):
        kw(None, Choices(), c.viewer)
    assert Choices().precision_for("run") == "fp32" and Choices().precision_for("preview") == "auto"
    assert Choices(precision="bf16").precision_for("preview") == "bf16"


def test_zx_plane_sizes_and_targets(tmp_path, monkeypatch):
    monkeypatch.setattr(speeds, "_path", lambda: tmp_path / "speed.json")  # nothing measured on this machine
    stack = Image(np.zeros((5, 24, 30), np.uint16), name="stack", scale=(2.0, 0.5, 0.5))
    flat = Image(np.zeros((8, 8), np.uint8), name="flat")
    mask = Image(np.zeros((8, 8), bool), name="mask")
    c = controller_with(stack, flat, mask)
    zx = Choices(plane="zx", mode=SIZE_MODE, pixel_size=0.5)
    assert _choices.plane_kwargs(stack, zx) == ((4.0, 1.0), None)
    assert _choices.plane_output(stack, zx) == (20, 30, 24)
    est = c.estimate(stack, zx)
    assert est.text == "24 zx sections of 20 × 30 pixels" and est.time.startswith("Run roughly ")
    assert "untick" in c.estimate(stack, Choices(plane="zx", view_only=True)).text
    assert "3D" in c.estimate(flat, zx).text
    # Every selected image layer LIIF can resample (not the boolean one), or the picked one.
    c.viewer.layers.selection = {stack, flat, mask}
    assert _choices.targets(flat, Choices(all_selected=True), c.viewer) == [stack, flat]
    assert _choices.targets(flat, Choices(), c.viewer) == [flat]
    assert "booleans" in _choices.why_not(mask) and _choices.why_not(flat) is None


def test_estimate_line_and_the_confirmation_decision(tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path))  # nothing measured on this machine
    layer = Image(data.camera()[:32, :40], name="cam")
    c = controller_with(layer)
    assert c.estimate(None, Choices()).text == "no image layer"
    est = c.estimate(layer, Choices(scale=(2.5, 2.5)))
    assert est.shape == (80, 100)
    assert est.text.startswith("80 × 100 pixels, output 8.0 kB, memory about ")
    # Not measured on this machine yet: a range, and it says so (a Run and a Preview of the view).
    assert est.time.startswith("Run roughly ") and " · Preview " in est.time and "not measured yet" in est.time
    works, total = c.last_estimate
    assert not total.measured and works[0].output_bytes == 8000
    assert total.seconds == pytest.approx(works[0].seconds(cost.ROUGH_SPEED))
    assert c.estimate(layer, Choices(mode=SHAPE_MODE, shape=(10, 20))).shape is None  # the shape is given
    # A run asks first only above the controller's limits, with the same numbers.
    job = c.prepare_run(layer, Choices(scale=(2.5, 2.5)))
    assert isinstance(job, Job) and job.sources == [layer] and c.question(job) is None
    c.CONFIRM_BYTES = 500
    question = c.question(job)
    peak = cost.format_bytes(cost.peak_bytes(job.works))
    assert question.startswith(f"This needs about {peak} of memory (8.0 kB of it the result)")
    c.CONFIRM_BYTES, c.CONFIRM_SECONDS = 1 << 30, 0.0
    assert c.question(job) is None  # a rough estimate never asks for time: it is not this machine's
    job.estimate = type(job.estimate)(job.estimate.seconds, True)  # measured: now it asks
    assert "Run it?" in c.question(job)
    assert not c.busy and c.notify.log == []  # preparing starts nothing


def test_run_events_and_result_with_the_real_model(model, tmp_path, monkeypatch):
    monkeypatch.setenv("LIIF_WEIGHTS_DIR", str(tmp_path / "cache"))  # an empty speed store: measured first
    img = data.camera()[200:224, 200:232]
    layer = Image(img, name="cam", colormap="magma")
    c = controller_with(layer, loaded=model)
    statuses, running = [], []
    c.events.status.connect(lambda e: statuses.append(e.value))
    c.events.running.connect(lambda e: running.append(e.value))
    job = c.prepare_run(layer, Choices(scale=(2.0, 2.0)))
    c.start(job)  # the default launcher runs it here, to its end
    assert running == [True, False] and not c.busy and c.job is None
    new = c.viewer.layers[-1]
    assert new.name == "cam [LIIF x2 edsr-baseline]" and new.data.shape == (48, 64) and new.colormap.name == "magma"
    assert new.metadata["liif"]["model_choice"].startswith("auto: clean photo")
    np.testing.assert_array_equal(new.data, resample_layer(layer, scale=2, model=model, precision="fp32").data)
    kinds = [e[0] for e in job.seen]
    assert kinds[:3] == ["status", "plan", "layer"] and "measuring" in job.seen[0][1]
    pixels = [e[1] for e in job.seen if e[0] == "pixels"]
    assert pixels == sorted(pixels) and pixels[-1] == 48 * 64
    assert statuses[-1] == "added 'cam [LIIF x2 edsr-baseline]' (48, 64)" and c.progress == 1000
    assert speeds.stored(model, "fp32") is not None and c.last_run_estimate > 0


def test_cancel_stops_the_generator_and_adds_nothing(model):
    layer = Image(data.camera()[:96, :96], name="big")
    c = controller_with(layer, launch=lambda controller, job: None, loaded=model)  # the test drives the job
    job = c.prepare_run(layer, Choices(scale=(6.0, 6.0)))
    c.start(job)
    assert c.busy and c.status.startswith("rendering (") and c.status.endswith(") …")
    gen = job.events()
    for event in gen:
        c.handle(event)
        if event[0] == "pixels":
            break
    c.cancel()
    with pytest.raises(StopIteration) as stop:
        next(gen)
    assert stop.value.value is None  # no result
    c.finish(job, None)
    c.finished(job)
    assert [ly.name for ly in c.viewer.layers] == ["big"] and not c.busy
    assert c.status == "cancelled; no layer added" and c.progress == 0


def test_a_removed_source_cancels_its_run(model):
    src = Image(data.camera()[:96, :96], name="big")
    c = controller_with(src, Image(np.zeros((8, 8), np.uint8), name="other"), loaded=model)

    def launch(controller, job):  # remove the source once the render has reported, then run on
        for event in job.events():
            controller.handle(event)
            if event[0] == "pixels" and src in controller.viewer.layers:
                controller.viewer.layers.remove(src)
                controller.layer_removed(src)  # what the panel's layer hook does
        controller.finished(job)

    c.launch = launch
    c.start(c.prepare_run(src, Choices(scale=(6.0, 6.0))))
    assert [ly.name for ly in c.viewer.layers] == ["other"]
    assert c.status == "'big' was removed, so its run was cancelled; no layer added"


def test_engine_errors_are_shown_with_their_napari_hint(monkeypatch):
    hint = Hint(python="use region=(y0, x0, y1, x1)", napari="tick 'current view only'")

    def too_big(*args, **kwargs):
        raise LiifError("the output is too large", hint)

    layer = Image(np.zeros((16, 16), np.uint8), name="img")
    c = controller_with(layer)
    monkeypatch.setattr("napari_plugin._resample.plan", too_big)
    assert c.estimate(layer, Choices()).text == "the output is too large; tick 'current view only'"
    assert c.prepare_run(layer, Choices()) is None
    assert c.notify.log == [("error", "LIIF: the output is too large; tick 'current view only'")]

    def work():
        yield ("status", "loading …")
        raise LiifError("precision 'fp16' runs only on a CUDA GPU", Hint(python="use 'fp32'", napari="choose fp32"))

    c.start(Job("run", [layer], work, "starting"))
    assert c.notify.log[-1] == ("error", "LIIF: precision 'fp16' runs only on a CUDA GPU; choose fp32")
    assert c.status == "failed: precision 'fp16' runs only on a CUDA GPU; choose fp32" and not c.busy
    assert len(c.viewer.layers) == 1


def test_isotropic_and_nothing_to_do_without_qt(tiny_model):
    stack = np.stack([data.camera()[100 + 8 * k : 116 + 8 * k, 200:220] for k in range(4)]).astype(np.uint16)
    layer = Image(stack, name="stack", scale=(2.0, 0.5, 0.5))
    flat = Image(np.zeros((16, 16), np.uint8), name="flat")
    c = controller_with(layer, flat, loaded=tiny_model)
    assert c.prepare_isotropic(flat, Choices()) is None and "3D" in c.status
    assert c.prepare_isotropic(None, Choices()) is None and "open a 3D stack" in c.notify.log[-1][1]
    assert c.prepare_run(None, Choices()) is None and c.notify.log[-1][0] == "warning"
    c.start(c.prepare_isotropic(layer, Choices()))
    new = c.viewer.layers[f"stack [LIIF isotropic z {tiny_model.name}]"]
    want = liif_plugin.isotropic(stack, (2.0, 0.5, 0.5), model=tiny_model, precision="fp32")
    np.testing.assert_array_equal(new.data, want.data)
    assert c.progress == 1000


def test_the_cost_model_reads_the_engines_tuning(monkeypatch):
    from liif_plugin.engine import tiles

    assert cost.tuning().block == tiles.BLOCK
    monkeypatch.setattr(tiles, "BLOCK", 20)
    assert cost.tuning().block == 20  # read when asked, not at import
    wk = cost.work((40, 36), (80, 72), (0, 0, 40, 36), 1, 1, 1, 1)
    assert wk.encode_calls == 4  # 2 x 2 blocks of 20
    clock = [0.0]
    bands = cost.Bands(clock=lambda: clock[0])
    assert bands() == cost.FIRST_BAND
    bands.rendered(8000)
    clock[0] = 1.0  # 8000 pixels a second: a band of BAND_SECONDS
    assert bands() == 8000 * cost.BAND_SECONDS == cost.band_pixels(speeds.Speed(1.0, 8000.0))
    assert cost.format_bytes(1536) == "1.5 kB" and cost.format_seconds(150) == "2 min"


def test_a_run_bigger_than_the_free_memory_is_refused_before_it_starts():
    """Said on the output line before Run, and Run refuses it: such a run would swap for hours or be killed
    part way. The job is sized from this machine's own free memory, so it is too big on any machine."""
    free = memory.available_bytes()
    assert free is not None and free > 0
    per_plane = 16384 * 16384 * 4  # the largest float32 plane an output may have
    planes = 2 * free // per_plane + 2
    layer = Image(da.zeros((planes, 256, 256), np.float32, chunks=(1, 256, 256)), name="big")
    c = controller_with(layer)
    choices = Choices(scale=(64.0, 64.0))
    line = c.estimate(layer, choices).text
    assert "more than the" in line and "free" in line and "'current view only'" in line, line
    assert c.prepare_run(layer, choices) is None and c.notify.log[-1][0] == "error"
    assert "more than the" in c.notify.log[-1][1] and not c.busy and len(c.viewer.layers) == 1
    small = Choices(scale=(2.0, 2.0))  # a run that fits says its memory as before
    assert "memory about" in c.estimate(layer, small).text and c.prepare_run(layer, small) is not None
