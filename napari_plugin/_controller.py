"""The "Resample with LIIF" panel's logic, without Qt: what to resample, what it costs, the runs.

``ResampleController`` is to the panel (napari_plugin._widget) what napari-animation's model is to
its ``_qt`` views. Given the viewer, the picked layer and the panel's ``Choices`` it

- says what a run will make and cost (``estimate``; the cost model is liif_plugin.runtime.cost),
- prepares a run, preview, zx / zy plane or isotropic-z ``Job``, or reports in one sentence why
  not (``notify``), and decides whether a run needs confirmation first (``question``),
- follows a started job from its events (``handle``, ``tick``), adds its result to the viewer when
  it ends (``finish``), and cancels it (``cancel``, or its source layer removed).

A ``Job``'s ``events()`` is a generator: it yields progress events between small bands of work and
returns the new layers (None once cancelled). Who runs it is injected: ``launch(controller, job)``;
the panel gives a napari ``thread_worker``, the default (``run_here``) runs it in the calling thread.
State changes are announced on ``events`` (status, progress, running); messages go to ``notify``
(napari's notifications unless replaced). Engine errors are shown with their napari hint
(liif_plugin.errors.message_for).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Generator
from typing import NamedTuple

from napari.utils.events import EmitterGroup

import liif_plugin
from liif_plugin.errors import Cancelled, message_for
from liif_plugin.hub import cache
from liif_plugin.quality.noise import warning_for
from liif_plugin.runtime import cost as cost_model
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.runtime.progress import Tracker

from . import _resample as rs
from . import _volume
from ._choices import Choices, plan_kwargs, plane_kwargs, plane_output, resample_kwargs, targets


class Estimate(NamedTuple):
    text: str  # the panel's 'output' line
    shape: tuple[int, int] | None = None  # the output shape a scale gives, for the shape boxes


class Job:
    """One run of the panel: its source layers, and ``work()``, a generator of progress events that
    returns the new layers. Events: ("status", text), ("plan", [Work], speed), ("layer", i),
    ("pixels", done, total) and ("fraction", f)."""

    def __init__(self, kind: str, sources: list, work: Callable[[], Generator], text: str, replace=None):
        self.kind = kind  # 'run', 'preview', 'plane' or 'isotropic'
        self.sources = list(sources)
        self.work = work
        self.text = text  # the status line when it starts
        self.replace = replace  # layers of this name are replaced by the result (a preview)
        self.works, self.speed = [], None  # its estimate (a run's confirmation reads it)
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


def describe(shape: tuple[int, int], planes: int, works: list, speed, rough: bool) -> str:
    """The 'output' line: the shape, planes and layers a run makes, their memory and time."""
    more = len(works) - 1
    text = f"{shape[0]} × {shape[1]}" + (f" × {planes} planes" if planes > 1 else "")
    text += f" (and {more} more layer{'s' if more > 1 else ''})" if more else ""
    out = cost_model.format_bytes(sum(wk.output_bytes for wk in works))
    peak = cost_model.format_bytes(cost_model.peak_bytes(works))
    secs = cost_model.format_seconds(cost_model.seconds(works, speed))
    guess = " (rough: the first run measures this machine's speed)" if rough else ""
    return f"{text}, output {out}, memory about {peak}, about {secs}{guess}"


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


class NoiseCheck:
    """Warns once per layer when the released model meets a noisy image at detail 1."""

    def __init__(self):
        self.checked = weakref.WeakSet()  # layers already looked at
        self.note = None  # a warning from the render thread, for the GUI thread to show

    def for_layer(self, layer, choices: Choices):
        """A callable that measures the first plane a render reads (on the render thread) and notes
        one sentence for a noisy image; None when there is nothing to check."""
        if layer in self.checked or choices.detail < 1.0:
            return None
        model = choices.model

        def check(plane):
            if layer not in self.checked:
                self.checked.add(layer)
                msg = warning_for(model, plane, how="lower 'detail' in the LIIF panel (e.g. to 0.3)")
                if msg:
                    self.note = f"LIIF: '{layer.name}': {msg}"

        return check

    def show(self, notify: Callable[[str, str], None]) -> None:
        """Show a noted warning (in the thread that owns the viewer)."""
        note, self.note = self.note, None
        if note:
            notify("warning", note)


def _pixels(render: Generator) -> Generator:
    """rs.iter_resample's (done, total) as ("pixels", done, total) events; returns its layer."""
    while True:
        try:
            done, total = next(render)
        except StopIteration as stop:
            return stop.value
        yield ("pixels", done, total)


class ResampleController:
    # Above either limit a run asks for confirmation first (memory: output plus working buffers;
    # time: at this machine's measured speed).
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
        self.job = None  # the Job running
        self.tracker = None  # its progress (liif_plugin.runtime.progress)
        self.last_estimate = None  # (Work of every source, speed, rough?) behind the last estimate
        self.last_run_estimate = None  # seconds the running (or last) run was estimated to take
        self.adding = False  # True while results are added to the viewer
        self.noise = NoiseCheck()

    @property
    def busy(self) -> bool:
        return self.job is not None

    def say(self, text: str) -> None:
        self.status = text
        self.events.status(value=text)

    def set_progress(self, value: float) -> None:
        self.progress = int(value)
        self.events.progress(value=self.progress)

    def model_for(self, key: tuple[str, str]):
        """The LiifModel for (model, device), loaded once (on the worker thread that first needs it)."""
        model = self.models.get(key)
        if model is None:
            model = self.models[key] = liif_plugin.load_model(key[0], device=key[1])
        return model

    # -- before a run ------------------------------------------------------------------------
    def estimate(self, layer, choices: Choices) -> Estimate:
        """What Run makes of `layer` with `choices`, its memory and time; or why it cannot run."""
        if layer is None:
            return Estimate("no image layer")
        shape = None
        try:
            if choices.plane != "yx":  # sections of a 3D stack: what comes out (the estimate is for yx)
                h, w, n = plane_output(layer, choices)
                return Estimate(f"{choices.plane} sections: {h} × {w} × {n}")
            kw = resample_kwargs(layer, choices, self.viewer)
            _, (h, w), n = rs.plan(layer, **kw)
            shape = (h, w) if "scale" in kw else None
            jobs = [(ly, resample_kwargs(ly, choices, self.viewer)) for ly in targets(layer, choices, self.viewer)]
            works, speed, rough = self.cost(jobs, choices)
        except (ValueError, TypeError) as e:
            return Estimate(message_for(e, "napari"), shape)
        return Estimate(describe((h, w), n, works, speed, rough), shape)

    def cost(self, jobs: list, choices: Choices, action: str = "run") -> tuple:
        """(Work of each (layer, kwargs), the speed the time is estimated at, whether that speed is a guess)."""
        model = self.models.get(choices.model_key)
        speed = self.stored_speed(model, choices, action)
        works = [rs.estimate(layer, model=model, speed=speed, **plan_kwargs(kw)) for layer, kw in jobs]
        self.last_estimate = (works, speed or cost_model.ROUGH_SPEED, speed is None)
        return self.last_estimate

    def stored_speed(self, model, choices: Choices, action: str = "run"):
        """This machine's measured speed for the chosen model, device and precision; None: not measured yet."""
        import torch

        device = torch.device(choices.device_guess()) if model is None else model.device
        try:
            precision = resolve_precision(choices.precision_for(action), device)
        except ValueError:
            return None
        if model is not None:
            return speeds.stored(model, precision)
        reg = cache.registry()
        if choices.model not in reg:
            return None  # a file not loaded yet: its weights (and speed) are unknown until the first run
        # The published file's sha256 (not hashing the file here, on every change of a control).
        return speeds.stored_for(device, precision, choices.model, reg[choices.model].sha256)

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
            works, speed, _ = self.cost(jobs, choices)
        except (ValueError, TypeError) as e:
            self.notify("error", f"LIIF: {message_for(e, 'napari')}")
            return None
        job = self._resample_job(
            "run", [(ly, dict(kw, precision=choices.precision_for("run"))) for ly, kw in jobs], choices
        )
        job.works, job.speed = works, speed
        return job

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
        name = f"{layer.name} (LIIF preview)"
        kw = dict(shape=shape, region=region, lead_index=plane, name=name, precision=choices.precision_for("preview"))
        return self._resample_job("preview", [(layer, kw)], choices, replace=name)

    def prepare_isotropic(self, layer, choices: Choices) -> Job | None:
        """A 3D layer's voxels made cubic (z refined by LIIF) into a new layer."""
        return self._volume_job("isotropic", layer, choices)

    def question(self, job: Job) -> str | None:
        """What to ask before `job` runs when it needs much memory or time; None: just run it."""
        if not job.works:
            return None
        nbytes, secs = cost_model.peak_bytes(job.works), cost_model.seconds(job.works, job.speed)
        if nbytes <= self.CONFIRM_BYTES and secs <= self.CONFIRM_SECONDS:
            return None
        out = sum(wk.output_bytes for wk in job.works)
        return (
            f"This needs about {cost_model.format_bytes(nbytes)} of memory ({cost_model.format_bytes(out)} of it "
            f"the result) and takes about {cost_model.format_seconds(secs)}. Run it?"
        )

    def _resample_job(self, kind: str, jobs: list, choices: Choices, replace=None) -> Job:
        """Render [(layer, kwargs), ...] one after the other; the results are added together at the end."""
        key = choices.model_key
        jobs = [(ly, dict(kw, detail=choices.detail, on_plane=self.noise.for_layer(ly, choices))) for ly, kw in jobs]

        def work():
            model = self.model_for(key)
            precision = resolve_precision(jobs[0][1].get("precision") or model.precision, model.device)
            speed = speeds.stored(model, precision)
            if speed is None:
                yield ("status", "measuring this machine's speed (once for this model, device and precision) …")
                speed = speeds.speed(model, precision)
            yield ("plan", [rs.estimate(ly, model=model, speed=speed, **plan_kwargs(kw)) for ly, kw in jobs], speed)
            results = []
            for i, (ly, kw) in enumerate(jobs):
                yield ("layer", i)
                results.append((yield from _pixels(rs.iter_resample(ly, model=model, **kw))))
            return results

        text = f"loading '{key[0]}' …" if key not in self.models else "rendering …"
        return Job(kind, [ly for ly, _ in jobs], work, text, replace)

    def _volume_job(self, kind: str, layer, choices: Choices) -> Job | None:
        try:
            text, start = volume_start(kind, layer, choices)
        except (ValueError, TypeError) as e:
            msg = message_for(e, "napari")
            self.notify("error", f"LIIF: {msg}")
            self.say(msg)
            return None
        key, precision = choices.model_key, choices.precision_for("run")

        def work():  # Cancel stops a band under way too (job.check, asked inside the engine's work)
            return (yield from start(self.model_for(key), precision, job.check))

        job = Job(kind, [layer], work, text)
        return job

    # -- a run ---------------------------------------------------------------------------------
    def start(self, job: Job) -> None:
        """Run `job` (through ``launch``); its result is added when it ends, nothing on cancel."""
        self.job, self.tracker = job, None
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
        self.noise.show(self.notify)
        kind = event[0]
        if kind == "status":
            self.say(event[1])
        elif kind == "fraction":
            self.set_progress(1000 * event[1])
        elif kind == "plan":
            self.tracker = Tracker(event[1], event[2])
            self.last_run_estimate = cost_model.seconds(event[1], event[2])
        elif kind == "layer" and self.tracker is not None:
            self.tracker.begin(event[1])
        elif kind == "pixels" and self.tracker is not None:
            self.tracker.update(event[1])
        self.tick()

    def tick(self) -> None:
        """Progress and time left from the tracker (also between events, while an encode runs)."""
        t, job = self.tracker, self.job
        if t is None or job is None or t.started is None:
            return
        self.set_progress(1000 * t.fraction())
        several = len(job.sources) > 1
        which = f" '{job.sources[t.layer].name}' ({t.layer + 1} of {len(job.sources)})" if several else ""
        left = cost_model.format_seconds(t.seconds_left())
        self.say(f"rendering{which} … {100 * t.fraction():.0f} %, about {left} left")

    def finish(self, job: Job, results: list | None) -> None:
        """The job returned: add its layers (replacing a previous preview), unless it was cancelled
        or a source layer went away as it ended."""
        self.tracker = None  # the render is over: ticks leave the bar and status line alone
        if results is None or job.cancelled or any(src not in self.viewer.layers for src in job.sources):
            return
        if job.replace is not None:
            for old in [ly for ly in self.viewer.layers if ly.name == job.replace]:
                self.viewer.layers.remove(old)
        self.adding = True  # napari selects a newly added layer; the panel stays on its source
        try:
            for new in results:
                self.viewer.add_layer(new)
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
        self.noise.show(self.notify)
        if self.job is not job:
            return
        if job.cancelled:
            why = f"'{job.removed}' was removed, so its run was cancelled" if job.removed else "cancelled"
            self.say(f"{why}; no layer added")
            self.set_progress(0)
        self.job, self.tracker = None, None
        self.events.running(value=False)
