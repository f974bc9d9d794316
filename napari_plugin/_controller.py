"""The "Resample with LIIF" panel's logic, without Qt: what to resample, what it costs, the runs.

``ResampleController`` is to the panel (napari_plugin._widget) what napari-animation's model is to
its ``_qt`` views. Given the viewer, the picked layer and the panel's ``Choices`` it

- says what a run will make and cost, how long each button will take, and what the image is with the
  model that will run and why (``estimate``: the output, time and advice lines; napari_plugin._advice),
- prepares a run, preview, zx / zy plane or isotropic-z ``Job``, or reports in one sentence why
  not (``notify``), and decides whether a job needs confirmation first (``question``: only when
  its memory, or its time at this machine's measured speed, is large),
- follows a started job from its events (``handle``, ``tick``), adds its result to the viewer when
  it ends (``finish``), and cancels it (``cancel``, or its source layer removed).

A ``Job``'s ``events()`` is a generator: it yields progress events between small bands of work and
returns the new layers (None once cancelled). Who runs it is injected: ``launch(controller, job)``;
the panel gives a napari ``thread_worker``, the default (``run_here``) runs it in the calling thread.
State changes are announced on ``events`` (status, progress, running); messages go to ``notify``
(napari's notifications unless replaced). Engine errors are shown with their napari hint
(liif_plugin.errors.message_for).

Model 'auto' is decided once per layer (napari_plugin._advice.LayerChecks): every run, preview,
section and live view of a layer uses that one model, and the new layer's name and metadata say which.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator
from pathlib import Path
from typing import NamedTuple

from napari.utils.events import EmitterGroup

import liif_plugin
from liif_plugin.errors import Cancelled, message_for
from liif_plugin.runtime import cost as cost_model
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.estimate import isotropic_work, planes_work
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.runtime.memory import short_of_memory
from liif_plugin.runtime.progress import Tracker

from . import _resample as rs
from . import _volume
from ._advice import LayerChecks, Timing, memory_advice, time_line
from ._choices import Choices, plane_kwargs, plane_output, resample_kwargs, targets


class Estimate(NamedTuple):
    text: str  # the panel's 'output' line
    shape: tuple[int, int] | None = None  # the output shape a scale gives, for the shape boxes
    time: str = ""  # the 'time' line: how long each button takes
    advice: str = ""  # the 'advice' line: what the image is, the model that runs and why


class Job:
    """One run of the panel: its source layers, and ``work()``, a generator of progress events that
    returns the new layers. Events: ("status", text), ("plan", [Work], speed), ("layer", i),
    ("pixels", done, total) and ("fraction", f)."""

    def __init__(self, kind: str, sources: list, work: Callable[[], Generator], text: str, replace=None):
        self.kind = kind  # 'run', 'preview', 'plane' or 'isotropic'
        self.sources = list(sources)
        self.work = work
        self.text = text  # the status line when it starts
        self.replace = replace  # (new layer, viewer layer) -> True: that layer is replaced (a preview)
        self.works, self.estimate = [], None  # its estimate (Work, TimeEstimate): a confirmation reads them
        self.choice = {}  # source layer name -> how its model was chosen (for the new layer's metadata)
        self.cancelled = False
        self.removed = None  # the name of a source layer removed while it ran
        self.seen = []  # the events the controller handled, in order

    def events(self) -> Generator:
        """What a worker runs: the work's events; returns its new layers, or None once cancelled
        (looked at between events, and within them where the work asks ``check``)."""
        gen = self.work()
        try:
            while not self.cancelled:
                try:
                    event = next(gen)
                except StopIteration as stop:
                    return stop.value
                except Cancelled:
                    return None
                yield event
            return None
        finally:
            gen.close()

    def check(self) -> None:
        """Raise Cancelled once the job is cancelled: the engine asks this within its work (between encoder
        convolutions, before decoder chunks), so Cancel stops a band under way."""
        if self.cancelled:
            raise Cancelled()


def run_here(controller: ResampleController, job: Job) -> None:
    """Run `job` to its end in this thread, reporting as a worker does (scripts and tests without Qt)."""
    try:
        gen = job.events()
        while True:
            try:
                event = next(gen)
            except StopIteration as stop:
                controller.finish(job, stop.value)
                break
            controller.handle(event)
    except Exception as e:
        controller.fail(job, e)
    finally:
        controller.finished(job)


def notify(level: str, text: str) -> None:
    """A message in napari's notification area ('error', 'warning' or 'info')."""
    from napari.utils.notifications import show_error, show_info, show_warning

    show = show_error if level == "error" else show_warning if level == "warning" else show_info
    show(text)


def volume_start(kind: str, layer, choices: Choices) -> tuple[str, Callable]:
    """(status text, start(model, precision) -> generator) of isotropic z ('isotropic') or every zx / zy
    section resampled ('plane'); the sizes are checked now (ValueError, TypeError), in the caller's thread."""
    if layer is None:
        raise ValueError("there is no image layer; open a 3D stack first")
    if kind == "isotropic":
        _volume.check_stack(layer)
        return "isotropic z …", lambda model, precision, stop=None: _volume.iter_isotropic(
            layer, model, precision, stop
        )
    plane_output(layer, choices)
    (scale, shape), plane = plane_kwargs(layer, choices), choices.plane
    return f"{plane} plane …", lambda model, precision, stop=None: _volume.iter_plane(
        layer, model, plane, scale, shape, precision, stop
    )


def volume_work(kind: str, layer, choices: Choices, model, speed) -> cost_model.Work:
    """The steps of isotropic z or of every zx / zy section, with the loaded model's sizes."""
    import numpy as np

    shape, itemsize, arch = tuple(rs.level0(layer).shape), np.dtype(layer.dtype).itemsize, cost_model.Arch.of(model)
    if kind == "isotropic":
        return isotropic_work(shape, _volume.check_stack(layer), itemsize, arch, speed)
    h, w, _ = plane_output(layer, choices)
    return planes_work(shape, choices.plane, (h, w), itemsize, arch, speed)


def _pixels(render: Generator) -> Generator:
    """rs.iter_resample's (done, total) as ("pixels", done, total) events; returns its layer."""
    while True:
        try:
            done, total = next(render)
        except StopIteration as stop:
            return stop.value
        yield ("pixels", done, total)


def _measured_speed(model, precision: str) -> Generator:
    """This machine's speed for the model at `precision`: stored, or measured now (saying so first)."""
    speed = speeds.stored(model, precision)
    if speed is None:
        yield ("status", "measuring this machine's speed (once for this model, device and precision) …")
        speed = speeds.speed(model, precision)
    return speed


def learn(model, precision, estimated_s: float, took_s: float) -> None:
    """A finished render moves this machine's stored speed towards what it took (liif_plugin.runtime.speed)."""
    speeds.observe(model, resolve_precision(precision or model.precision, model.device), estimated_s, took_s)


def short_name(name: str) -> str:
    """A model as layer names show it: a registry name, or a checkpoint file's stem."""
    return Path(name).stem if ("/" in name or "\\" in name or name.endswith((".pth", ".pt"))) else name


class ResampleController:
    # Above either limit a job asks for confirmation first (memory: output plus working buffers;
    # time: at this machine's measured speed: a rough estimate never asks).
    CONFIRM_BYTES = 1 << 30
    CONFIRM_SECONDS = 120.0

    def __init__(self, viewer, launch: Callable | None = None, notify: Callable[[str, str], None] = notify):
        self.viewer = viewer
        self.launch = launch or run_here
        self.notify = notify
        self.events = EmitterGroup(source=self, status=None, progress=None, running=None)
        self.status = "ready"
        self.progress = 0  # of 1000
        self.models = {}  # (model, device) -> LiifModel, so repeated runs skip loading
        self.checks = LayerChecks()  # one look per layer: the advice line and the model 'auto' picks
        self.timing = Timing(self.models, self.checks, viewer)
        self.job = None  # the Job running
        self.tracker = None  # its progress (liif_plugin.runtime.progress)
        self.last_estimate = None  # (Work of every source, TimeEstimate) behind the last Run estimate
        self.last_run_estimate = None  # seconds the running (or last) job was estimated to take
        self.adding = False  # True while results are added to the viewer
        self.measuring = False  # True while the panel measures this machine's speed in the background
        self.said_for = None  # (layer, Choices) the status line describes; None: nothing to clear
        self.shown_for = None  # (layer, Choices) of the panel's last estimate: what it shows now

    @property
    def busy(self) -> bool:
        return self.job is not None

    def say(self, text: str) -> None:
        self.status = text
        self.events.status(value=text)
        if not self.busy:  # said of what the panel shows now (an error, the live view): it goes when that changes
            self.said_for = self.shown_for

    def set_progress(self, value: float) -> None:
        self.progress = int(value)
        self.events.progress(value=self.progress)

    def model_for(self, key: tuple[str, str]):
        """The LiifModel for (model, device), loaded once (on the worker thread that first needs it)."""
        model = self.models.get(key)
        if model is None:
            model = self.models[key] = liif_plugin.load_model(key[0], device=key[1])
        return model

    def model_key(self, layer, choices: Choices) -> tuple[str, str]:
        """(model, device) a job on `layer` uses: 'auto' is this layer's one choice."""
        return (self.checks.model_name(layer, choices), choices.device)

    def how_chosen(self, layer, choices: Choices) -> str:
        """How the model of `layer` was chosen, in a sentence for the new layer's metadata."""
        if choices.model != "auto":
            return f"named in the panel: {choices.model}"
        return f"auto: {self.checks.get(layer).auto.reason}"

    # -- before a run ------------------------------------------------------------------------
    def estimate(self, layer, choices: Choices) -> Estimate:
        """What Run makes of `layer` with `choices` (the output line), how long each button takes (the
        time line) and what the image is with the model that runs (the advice line); or why it cannot run.
        A status line about an earlier job on another layer or other settings is cleared."""
        if self.said_for is not None and not self.busy and self.said_for != (layer, choices):
            self.say("ready")
            self.said_for = None
            self.set_progress(0)
        self.shown_for = (layer, choices)
        if layer is None:
            return Estimate("no image layer")
        advice = self.checks.line(layer, choices)
        try:
            text, shape, times, run = self.timing.lines(layer, choices)
        except (ValueError, TypeError) as e:
            return Estimate(message_for(e, "napari"), None, "", advice)
        self.last_estimate = run if run is not None else self.last_estimate
        return Estimate(text, shape, time_line(times, self.measuring), advice)

    def calibration(self, layer, choices: Choices) -> Callable[[], None] | None:
        """What measures this machine's speed for the models and precisions the panel's estimates still
        lack (a few seconds; run it on a worker, then estimate again); None when nothing is missing."""
        needed = self.timing.uncalibrated(layer, choices)
        if not needed or self.busy:
            return None

        def measure():
            for name, action in needed:
                model = self.model_for((name, choices.device))
                speeds.speed(model, resolve_precision(choices.precision_for(action), model.device))

        return measure

    def prepare_run(self, layer, choices: Choices) -> Job | None:
        """The Run button's job: the picked layer (or every selected one) whole or its current view, or
        every zx / zy section of a 3D layer. None (and a message) when it cannot run."""
        layers = targets(layer, choices, self.viewer)
        if not layers:
            self.notify("warning", "LIIF: there is no image layer to resample; open an image first")
            return None
        if choices.plane != "yx":
            return self._volume_job("plane", layers[0], choices)
        try:
            jobs = [(ly, resample_kwargs(ly, choices, self.viewer)) for ly in layers]
            works, total = self.timing.run(layer, choices)
        except (ValueError, TypeError) as e:
            self.notify("error", f"LIIF: {message_for(e, 'napari')}")
            return None
        if self._too_big(works):
            return None
        job = self._resample_job(
            "run", [(ly, dict(kw, precision=choices.precision_for("run"))) for ly, kw in jobs], choices
        )
        job.works, job.estimate = works, total
        job.text = f"rendering ({total.text()}) …"
        return job

    def _too_big(self, works) -> bool:
        """Refuse (with a message) a job that needs more memory than the machine has free: it would swap
        for hours or be killed part way, losing the viewer's unsaved layers with it."""
        short = short_of_memory(cost_model.peak_bytes(works))
        if short is not None:
            self.notify("error", f"LIIF: {memory_advice(works, short)}")
        return short is not None

    def prepare_preview(self, layer, choices: Choices) -> Job | None:
        """The visible part of the plane on screen, at screen resolution, into one preview layer."""
        if layer is None:
            self.notify("warning", "LIIF: there is no image layer to preview; open an image first")
            return None
        try:
            view = rs.view_region(layer, self.viewer)
            if view is None:
                raise ValueError(f"'{layer.name}' is not visible in the current view; pan to it first")
            region, shape = view
            plane = rs.current_plane(layer, self.viewer)
            rs.plan(layer, shape=shape, region=region)
        except (ValueError, TypeError) as e:
            self.notify("error", f"LIIF preview: {message_for(e, 'napari')}")
            return None
        precision = choices.precision_for("preview")
        kw = dict(shape=shape, region=region, lead_index=plane, tag="preview", precision=precision)

        def replaced(old):  # an earlier preview of this layer (whatever its model)
            meta = old.metadata.get("liif", {}) if isinstance(old.metadata, dict) else {}
            return meta.get("source_layer") == layer.name and meta.get("preview", False)

        job = self._resample_job("preview", [(layer, kw)], choices, replace=replaced)
        job.estimate = self.timing.preview(layer, choices)
        job.text = f"preview ({job.estimate.text()}) …" if job.estimate is not None else "preview …"
        return job

    def prepare_isotropic(self, layer, choices: Choices) -> Job | None:
        """A 3D layer's voxels made cubic (z refined by LIIF) into a new layer."""
        return self._volume_job("isotropic", layer, choices)

    def question(self, job: Job) -> str | None:
        """What to ask before `job` runs when it needs much memory, or much time at this machine's
        measured speed; None: just run it."""
        nbytes = cost_model.peak_bytes(job.works) if job.works else 0
        long = job.estimate is not None and job.estimate.longer_than(self.CONFIRM_SECONDS)
        if nbytes <= self.CONFIRM_BYTES and not long:
            return None
        out = sum(wk.output_bytes for wk in job.works)
        takes = job.estimate.text() if job.estimate is not None else "an unknown time"
        return (
            f"This needs about {cost_model.format_bytes(nbytes)} of memory ({cost_model.format_bytes(out)} of it "
            f"the result) and takes {takes}. Run it?"
        )

    def _resample_job(self, kind: str, jobs: list, choices: Choices, replace=None) -> Job:
        """Render [(layer, kwargs), ...] one after the other, each with its layer's model; the results
        are added together at the end."""
        keys = [self.model_key(ly, choices) for ly, _ in jobs]
        jobs = [(ly, dict(kw, detail=choices.detail)) for ly, kw in jobs]

        def work():
            models = [self.model_for(key) for key in keys]
            plans, speeds_ = [], []
            for (ly, kw), model in zip(jobs, models):
                precision = resolve_precision(kw.get("precision") or model.precision, model.device)
                speed = yield from _measured_speed(model, precision)
                speeds_.append(speed)
                plans.append(rs.estimate(ly, model=model, speed=speed, **_plan_args(kw)))
            yield ("plan", plans, speeds_[0])
            results = []
            for i, ((ly, kw), model, plan, speed) in enumerate(zip(jobs, models, plans, speeds_)):
                yield ("layer", i)
                t0 = time.perf_counter()
                results.append((yield from _pixels(rs.iter_resample(ly, model=model, stop=job.check, **kw))))
                learn(model, kw.get("precision"), plan.seconds(speed), time.perf_counter() - t0)
            return results

        text = f"loading '{keys[0][0]}' …" if keys[0] not in self.models else "rendering …"
        job = Job(kind, [ly for ly, _ in jobs], work, text, replace)
        job.choice = {ly.name: self.how_chosen(ly, choices) for ly, _ in jobs}
        return job

    def _volume_job(self, kind: str, layer, choices: Choices) -> Job | None:
        try:
            text, start = volume_start(kind, layer, choices)
            estimate = (self.timing.isotropic(layer, choices) if kind == "isotropic" else None) or (
                self.timing.plane(layer, choices)
            )
        except (ValueError, TypeError) as e:
            msg = message_for(e, "napari")
            self.notify("error", f"LIIF: {msg}")
            self.say(msg)
            return None
        if self._too_big([estimate[0]]):
            return None
        key, precision = self.model_key(layer, choices), choices.precision_for("run")

        def work():  # Cancel stops a band under way too (job.check, asked inside the engine's work)
            model = self.model_for(key)
            speed = yield from _measured_speed(model, resolve_precision(precision, model.device))
            planned = volume_work(kind, layer, choices, model, speed)
            yield ("plan", [planned], speed)
            yield ("layer", 0)
            t0 = time.perf_counter()
            result = yield from start(model, precision, job.check)
            learn(model, precision, planned.seconds(speed), time.perf_counter() - t0)
            return result

        job = Job(kind, [layer], work, f"{text[:-2]} ({estimate[1].text()}) …")
        job.works, job.estimate = [estimate[0]], estimate[1]
        job.choice = {layer.name: self.how_chosen(layer, choices)}
        return job

    # -- a run ---------------------------------------------------------------------------------
    def start(self, job: Job, layer=None, choices: Choices | None = None) -> None:
        """Run `job` (through ``launch``); its result is added when it ends, nothing on cancel.
        `layer` and `choices`: what the panel showed (the status line is cleared when they change)."""
        self.job, self.tracker = job, None
        self.said_for = (layer, choices) if choices is not None else None
        self.set_progress(0)
        self.say(job.text)
        self.events.running(value=True)
        self.launch(self, job)

    def cancel(self) -> None:
        """Stop the running job at its next event; nothing is added to the viewer."""
        if self.job is not None and not self.job.cancelled:
            self.job.cancelled = True
            self.say("cancelling …")

    def layer_removed(self, layer) -> None:
        """A source layer removed mid-run cancels the run: its result would belong to nothing."""
        job = self.job
        if job is not None and any(layer is src for src in job.sources):
            job.removed, job.cancelled = layer.name, True
            self.say(f"'{layer.name}' was removed; cancelling its run …")

    def handle(self, event: tuple) -> None:
        """A progress event of the running job (in the thread that owns the viewer)."""
        if self.job is None:
            return
        self.job.seen.append(event)
        kind, t = event[0], self.tracker
        if kind == "status":
            if t is None or t.started is None:  # while the tracker runs, the time left is the status
                self.say(event[1])
        elif kind == "fraction":
            if t is not None and t.started is not None:  # a 3D job: its share of the planned pixels
                t.update(round(event[1] * sum(n for k, n in t_steps(self.job) if k == "decode")))
            else:
                self.set_progress(1000 * event[1])
        elif kind == "plan":
            self.tracker = Tracker(event[1], event[2])
            self.job.works = list(event[1])
            self.last_run_estimate = cost_model.seconds(event[1], event[2])
        elif kind == "layer" and t is not None:
            t.begin(event[1])
        elif kind == "pixels" and t is not None:
            t.update(event[1])
        self.tick()

    def tick(self) -> None:
        """Progress, time taken and time left from the tracker (also between events, while an encode runs)."""
        t, job = self.tracker, self.job
        if t is None or job is None or t.started is None:
            return
        self.set_progress(1000 * t.fraction())
        several = len(job.sources) > 1
        which = f" '{job.sources[t.layer].name}' ({t.layer + 1} of {len(job.sources)})" if several else ""
        took = cost_model.format_seconds(t.clock() - t.started)
        left = cost_model.format_seconds(t.seconds_left())
        self.say(f"rendering{which} … {100 * t.fraction():.0f} %, {took} so far, about {left} left")

    def finish(self, job: Job, results: list | None) -> None:
        """The job returned: add its layers (replacing a previous preview), unless it was cancelled
        or a source layer went away as it ended."""
        self.tracker = None  # the render is over: ticks leave the bar and status line alone
        if results is None or job.cancelled or any(src not in self.viewer.layers for src in job.sources):
            return
        if job.replace is not None:
            for old in [ly for ly in self.viewer.layers if job.replace(ly)]:
                self.viewer.layers.remove(old)
        self.adding = True  # napari selects a newly added layer; the panel stays on its source
        try:
            for new in results:
                self.viewer.add_layer(label_result(new, job))
        finally:
            self.adding = False
        self.say("added " + ", ".join(f"'{new.name}' {tuple(new.data.shape)}" for new in results))
        self.set_progress(1000)

    def fail(self, job: Job, exc: BaseException) -> None:
        msg = message_for(exc, "napari")
        self.notify("error", f"LIIF: {msg}")
        self.say(f"failed: {msg}")

    def finished(self, job: Job) -> None:
        """The job's worker is done (returned, failed or cancelled)."""
        if self.job is not job:
            return
        if job.cancelled:
            why = f"'{job.removed}' was removed, so its run was cancelled" if job.removed else "cancelled"
            self.say(f"{why}; no layer added")
            self.set_progress(0)
        self.job, self.tracker = None, None
        self.events.running(value=False)


def t_steps(job: Job):
    """Every step of a job's planned works, in order."""
    return [step for wk in job.works for step in wk.steps]


def _plan_args(kw: dict) -> dict:
    """The arguments of a render's kwargs that decide its size (what rs.estimate takes)."""
    return {k: v for k, v in kw.items() if k in ("scale", "shape", "region", "lead_index")}


def label_result(new, job: Job):
    """Name a new layer after its source, what was done and the model (``cells [LIIF x2 edsr-baseline]``),
    and record how the model was chosen in its metadata."""
    meta = new.metadata.get("liif") if isinstance(new.metadata, dict) else None
    if meta is None:
        return new
    src = meta.get("source_layer", "")
    meta["model_choice"] = job.choice.get(src, "")
    operation = meta.get("operation")
    if operation is not None:  # 3D results: named by the operation
        new.name = f"{src} [LIIF {operation} {short_name(meta['model'])}]"
    return new
