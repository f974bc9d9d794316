"""Before a run: one look at each layer (the model 'auto' picks, the advice line) and each action's time.

``LayerChecks`` looks at a layer once (liif_plugin.quality.advice.check on a central window of its
middle plane; for a JPEG file its quantization tables too) and keeps the result for as long as the
layer holds the same data: every run, preview, section and live view of that layer then uses the one
model 'auto' picked for it, never a choice per window or plane.

``Timing`` estimates what each button will take before it is pressed: Run (2D, every selected layer,
or every zx / zy section), Preview (the view on screen, one plane) and Isotropic z, from the engine's
cost model (liif_plugin.runtime.cost, .estimate) at this machine's measured speed for the model's
architecture, precision and device (liif_plugin.runtime.speed), or a rough range until that speed is
measured. No Qt here.
"""

from __future__ import annotations

import math
import weakref
from pathlib import Path

import numpy as np

from liif_plugin.hub import cache
from liif_plugin.quality import advice
from liif_plugin.runtime import cost as cost_model
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.estimate import TimeEstimate, isotropic_work, planes_work
from liif_plugin.runtime.hardware import resolve_precision
from liif_plugin.runtime.memory import short_of_memory

from . import _resample as rs
from ._choices import PLANE_WALKED, Choices, plan_kwargs, plane_output, resample_kwargs, targets

JPEG = (".jpg", ".jpeg", ".jpe", ".jfif")


class LayerChecks:
    """One look per layer (and per data object it holds): liif_plugin.quality.advice.Check."""

    def __init__(self):
        self._checks = weakref.WeakKeyDictionary()  # layer -> (its data object, Check)

    def get(self, layer) -> advice.Check:
        data = layer.data
        hit = self._checks.get(layer)
        if hit is not None and hit[0] is data:
            return hit[1]
        from liif_plugin.sources.source import Source

        lead = rs.lead_shape(layer)
        middle = tuple(n // 2 for n in lead)
        src = Source(rs.level0(layer), channels=layer.rgb, index=middle)
        path = getattr(getattr(layer, "source", None), "path", None)
        path = path if path and Path(str(path)).suffix.lower() in JPEG else None
        found = advice.check(src, path=path, planes=math.prod(lead))
        self._checks[layer] = (data, found)
        return found

    def model_name(self, layer, choices: Choices) -> str:
        """The model a run of `layer` uses: the named one, or the one 'auto' picked for this layer."""
        if choices.model != advice.AUTO or layer is None:
            return cache.DEFAULT_MODEL if choices.model == advice.AUTO else choices.model
        return self.get(layer).auto.name

    def line(self, layer, choices: Choices) -> str:
        """The panel's advice line for `layer` with these choices ('' without a layer)."""
        if layer is None:
            return ""
        return self.get(layer).advice("napari", choices.model, choices.detail)


SHARED_CHECKS = LayerChecks()  # resample_layer's 'auto' (the panel keeps its own, with the same rule)


class Timing:
    """The time each action of the panel will take, before it starts. ``models`` is the controller's
    cache of loaded models ((name, device) -> LiifModel); ``checks`` its LayerChecks."""

    def __init__(self, models: dict, checks: LayerChecks, viewer):
        self.models, self.checks, self.viewer = models, checks, viewer

    def speed(self, name: str, choices: Choices, action: str):
        """This machine's measured speed for model `name` at the action's precision; None: not measured yet."""
        import torch

        model = self.models.get((name, choices.device))
        device = torch.device(choices.device_guess()) if model is None else model.device
        try:
            precision = resolve_precision(choices.precision_for(action), device)
        except ValueError:
            return None
        if model is not None:
            return speeds.stored(model, precision)
        return speeds.stored_for(device, precision, name)  # a file not loaded yet: unknown until loaded

    def arch(self, name: str, choices: Choices) -> cost_model.Arch:
        return cost_model.Arch.of(self.models.get((name, choices.device)))

    def run(self, layer, choices: Choices) -> tuple[list, TimeEstimate]:
        """(Work of every layer Run covers, the time) for a Run in the yx plane; raises ValueError."""
        works, total = [], TimeEstimate(0.0, True)
        for ly in targets(layer, choices, self.viewer):
            name = self.checks.model_name(ly, choices)
            speed = self.speed(name, choices, "run")
            kw = plan_kwargs(resample_kwargs(ly, choices, self.viewer))
            wk = rs.estimate(ly, model=self.models.get((name, choices.device)), speed=speed, **kw)
            works.append(wk)
            total = total + TimeEstimate.of([wk], speed)
        return works, total

    def preview(self, layer, choices: Choices) -> TimeEstimate | None:
        """The Preview of the view on screen (one plane at screen resolution); None when it cannot run."""
        try:
            view = rs.view_region(layer, self.viewer)
        except ValueError:
            return None
        if view is None:
            return None
        region, shape = view
        name = self.checks.model_name(layer, choices)
        speed = self.speed(name, choices, "preview")
        wk = rs.layer_work(layer, region, shape, 1, self.arch(name, choices), speed)  # the plane on screen
        return TimeEstimate.of([wk], speed)

    def isotropic(self, layer, choices: Choices) -> tuple[cost_model.Work, TimeEstimate] | None:
        """Isotropic z of a 3D layer; None when the layer is not a stack it can refine."""
        from . import _volume

        try:
            spacing = _volume.check_stack(layer)
        except (ValueError, TypeError):
            return None
        name = self.checks.model_name(layer, choices)
        speed = self.speed(name, choices, "run")
        itemsize = np.dtype(layer.dtype).itemsize
        wk = isotropic_work(tuple(rs.level0(layer).shape), spacing, itemsize, self.arch(name, choices), speed)
        return wk, TimeEstimate.of([wk], speed)

    def plane(self, layer, choices: Choices) -> tuple[cost_model.Work, TimeEstimate]:
        """Every zx / zy section of a 3D layer (raises ValueError when it cannot run)."""
        h, w, _ = plane_output(layer, choices)
        name = self.checks.model_name(layer, choices)
        speed = self.speed(name, choices, "run")
        itemsize = np.dtype(layer.dtype).itemsize
        assert choices.plane in PLANE_WALKED
        wk = planes_work(
            tuple(rs.level0(layer).shape), choices.plane, (h, w), itemsize, self.arch(name, choices), speed
        )
        return wk, TimeEstimate.of([wk], speed)

    def lines(self, layer, choices: Choices) -> tuple[str, tuple | None, list, tuple | None]:
        """(the output line, the output shape a scale gives or None, [(button, TimeEstimate)], (Work of
        every layer, TimeEstimate) of a yx Run or None); raises ValueError / TypeError when it cannot run."""
        times, shape, run = [], None, None
        if choices.plane != "yx":  # sections of a 3D stack: what comes out, and its time
            h, w, n = plane_output(layer, choices)
            times.append(("Run", self.plane(layer, choices)[1]))
            text = f"{n} {choices.plane} sections of {h} × {w} pixels"
        else:
            kw = resample_kwargs(layer, choices, self.viewer)
            _, (h, w), n = rs.plan(layer, **kw)
            shape = (h, w) if "scale" in kw else None
            works, total = run = self.run(layer, choices)
            times.append(("Run", total))
            preview = self.preview(layer, choices)
            if preview is not None:
                times.append(("Preview", preview))
            text = describe((h, w), n, works)
        iso = self.isotropic(layer, choices)
        if iso is not None:
            times.append(("Isotropic z", iso[1]))
        return text, shape, times, run

    def uncalibrated(self, layer, choices: Choices) -> list[tuple[str, str]]:
        """(model name, action) pairs whose speed is not measured yet for the actions this layer offers."""
        if layer is None:
            return []
        actions = ("run",) if choices.plane != "yx" else ("run", "preview")
        needed = []
        for ly in targets(layer, choices, self.viewer):
            name = self.checks.model_name(ly, choices)
            for action in actions:
                if self.speed(name, choices, action) is None and (name, action) not in needed:
                    needed.append((name, action))
        return needed


def describe(shape: tuple[int, int], planes: int, works: list) -> str:
    """The 'output' line: the shape, planes and layers a run makes, their size and memory."""
    more = len(works) - 1
    text = f"{shape[0]} × {shape[1]} pixels" + (f" × {planes} planes" if planes > 1 else "")
    text += f" (and {more} more layer{'s' if more > 1 else ''})" if more else ""
    out = cost_model.format_bytes(sum(wk.output_bytes for wk in works))
    peak = cost_model.peak_bytes(works)
    short = short_of_memory(peak)
    if short is not None:  # said before Run, which refuses it (ResampleController._too_big)
        return f"{text}: {memory_advice(works, short)}"
    return f"{text}, output {out}, memory about {cost_model.format_bytes(peak)}"


def memory_advice(works: list, free: int) -> str:
    """Why a job does not fit in the `free` memory, and what to do, in the panel's words."""
    need = cost_model.format_bytes(cost_model.peak_bytes(works))
    return (
        f"needs about {need} of memory, more than the {cost_model.format_bytes(free)} free; tick 'current view "
        "only', lower the scale or resample fewer layers"
    )


def time_line(parts: list[tuple[str, TimeEstimate]], measuring: bool = False) -> str:
    """'Run about 46 s · Preview under a second · Isotropic z about 1 min', with how sure it is."""
    if not parts:
        return ""
    measured = all(t.measured for _, t in parts)
    text = " · ".join(f"{what} {t.text().replace(', not measured yet', '')}" for what, t in parts)
    if measured:
        return f"{text} (at this machine's measured speed)"
    why = "measuring this machine's speed now" if measuring else "the first run measures this machine's speed"
    return f"{text} (not measured yet: {why})"
