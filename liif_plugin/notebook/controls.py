"""What the ZoomWidget shows besides the image: its controls (model, detail), the advice line and the
time the next LIIF render will take. The ZoomWidget (liif_plugin.notebook.widget) is built on this.

- ``model_name`` is the model control: 'auto' (the model that suits the image, chosen once when the
  widget opens, from a central window of it: liif_plugin.quality.advice) or a model's name;
  ``model_choices`` lists what the control offers, 'auto' labelled with its pick; ``model_in_use``
  names the model rendering now. Changing ``model_name`` (the menu, or Python) loads that model and
  renders the view again.
- ``detail`` (a slider on screen, a trait in Python) keeps that much of LIIF's difference from bicubic.
- ``advice`` is one line under the image: what the image is, the model that runs and why, and what to
  change when that model does not suit it (``warning`` holds it then, else it is empty).
- ``estimate`` is the time the full LIIF render of the current view will take ('about 2 s', or a range
  while this machine's speed is not measured; the widget measures it in the background once), shown
  in the label while a frame is pending; '' where no LIIF render is due (zoomed out, bicubic modes).
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import TYPE_CHECKING

import anywidget
import traitlets as t

from liif_plugin import api
from liif_plugin.engine.model import LiifModel
from liif_plugin.errors import one_line
from liif_plugin.hub import cache
from liif_plugin.notebook.view import visible_part
from liif_plugin.quality import advice
from liif_plugin.runtime import cost
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.estimate import TimeEstimate
from liif_plugin.runtime.hardware import resolve_precision

if TYPE_CHECKING:
    from liif_plugin.sources.source import Source

AUTO = advice.AUTO


def installed_models() -> list[str]:
    """Registry models whose weights are here (the ones the model control offers)."""
    out = []
    for name in cache.registry():
        try:
            if cache.path_of(name).exists():
                out.append(name)
        except (OSError, ValueError):
            continue
    return sorted(out, key=lambda n: n != cache.DEFAULT_MODEL)


class ZoomControls(anywidget.AnyWidget):
    """The traits of the ZoomWidget's controls and labels (see the module's docstring)."""

    model_name = t.Unicode(AUTO).tag(sync=True)
    model_choices = t.List(read_only=True).tag(sync=True)  # [[label, value], ...]
    model_in_use = t.Unicode("", read_only=True).tag(sync=True)
    advice = t.Unicode("", read_only=True).tag(sync=True)
    warning = t.Unicode("", read_only=True).tag(sync=True)
    estimate = t.Unicode("", read_only=True).tag(sync=True)

    # What the ZoomWidget built on these controls provides: its view's traits, state and methods.
    detail: t.Float[float, int | float]
    mode: t.Enum[str]
    viewport: t.List[float]
    canvas_shape: t.List[int]
    image_shape: t.List[int]
    zoom: float
    last_render: dict | None
    _precision_setting: str
    _source: Source
    _live: bool
    _open: Callable[[Source], None]
    _schedule: Callable[[], None]

    # -- set up: one look at the image, the model ------------------------------------------------------
    def _choose_model(self, source, model) -> LiifModel:
        """The model for `model` (None / 'auto': the one that suits this image, decided now, once)."""
        self._check = advice.check(source, planes=max(1, _prod(source.lead_shape)))
        if isinstance(model, LiifModel):
            self._given = model
            setting = model.name
        else:
            self._given = None
            setting = AUTO if model in (None, AUTO) else str(model)
        m = self._given or api.get_model(self._check.model(setting))  # a bad name or path fails here
        self._setting = setting
        return m

    def _controls_ready(self):
        """Show the model control and the advice (after the traits exist)."""
        names = installed_models()
        given = self._given.name if self._given is not None else self._setting
        if given != AUTO and given not in names:
            names.append(given)  # a file or a model object of the caller's
        auto = f"auto ({self._check.auto.name})"
        self.set_trait("model_choices", [[auto, AUTO]] + [[n, n] for n in names])
        self.model_name = self._setting
        self.set_trait("model_in_use", self._model.name)
        self._update_advice()
        self._update_estimate()
        self._calibrate()

    def _calibrate(self):
        """Measure this machine's speed for the model once, in the background, then say the calibrated
        time (the thread holds the widget only weakly: a dropped widget is not kept alive by it)."""
        if speeds.stored(self._model, self.precision) is not None:
            return
        ref = weakref.ref(self)

        def done():
            widget = ref()
            if widget is not None:
                widget._update_estimate()

        speeds.calibrate_in_background(self._model, self.precision, done=done)

    # -- the model control --------------------------------------------------------------------------------
    @t.validate("model_name")
    def _check_model_name(self, proposal):
        v = str(proposal["value"])
        offered = [value for _, value in self.model_choices] if self.model_choices else [v]
        if v not in offered:
            raise one_line(t.TraitError(f"model_name must be one of {', '.join(offered)}, got {v!r}"))
        return v

    @t.observe("model_name")
    def _model_changed(self, change):
        if not self.model_choices or change["new"] == change["old"]:
            return
        given = self._given
        if given is not None and change["new"] == given.name:
            model = given
        else:
            model = api.get_model(self._check.model(change["new"]))
        if model is not self._model:
            self._model = model
            self.precision = resolve_precision(self._precision_setting, model.device)
            self._open(self._source)  # the field of the new model (its tiles are the new model's)
            self.set_trait("model_in_use", model.name)
            self._calibrate()
            if self._live:
                self._schedule()
        self._update_advice()
        self._update_estimate()

    # -- what the widget says -------------------------------------------------------------------------------
    @t.observe("detail")
    def _detail_changed(self, change):
        if getattr(self, "_check", None) is not None:
            self._update_advice()

    def _update_advice(self):
        c, setting = self._check, self.model_name
        if self._given is not None and setting == self._given.name:
            setting = self._given.name
        line = c.advice("notebook", setting, self.detail)
        self.set_trait("advice", line)
        self.set_trait("warning", line if c.needs_change(setting, self.detail) else "")

    @t.observe("viewport", "canvas_shape", "mode")
    def _view_estimate(self, change):
        if getattr(self, "_check", None) is not None:
            self._update_estimate()

    def _update_estimate(self):
        """The time of the full LIIF render of the current view ('' when none is due)."""
        if not self.image_shape or self.mode in ("bicubic", "nearest") or self.zoom < 1.0:
            self.set_trait("estimate", "")
            return
        region, shape = visible_part(self.viewport, self.canvas_shape, self.image_shape)
        src = self._source
        chans = src.channels or 1
        sub = 2 if chans == 4 else 1
        speed = speeds.stored(self._model, self.precision)
        H, W = self.image_shape
        wk = cost.work((H, W), shape, region, 1, sub, chans, src.dtype.itemsize, cost.Arch.of(self._model), speed)
        self.set_trait("estimate", TimeEstimate.of([wk], speed).text())

    def _frame_serves(self, mode) -> bool:
        """True when the frame on screen already is what `mode` shows (LIIF and compare show the same
        LIIF render: switching between them renders nothing again)."""
        last = self.last_render
        return (
            mode in ("liif", "compare")
            and last is not None
            and last.get("layer") == "liif"
            and last.get("mode") in ("liif", "compare")
            and last.get("viewport") == list(self.viewport)
            and last.get("detail", self.detail) == self.detail
        )


def _prod(shape) -> int:
    n = 1
    for v in shape:
        n *= int(v)
    return n


__all__ = ["ZoomControls", "installed_models"]
