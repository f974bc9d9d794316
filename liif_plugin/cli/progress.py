"""The `liif upscale` estimate before a batch, and its progress bar: percent, time so far, time left.

The estimate is the engine's cost model (liif_plugin.runtime.cost) at this machine's measured speed
for the model's architecture and precision (liif_plugin.runtime.speed); the first time a batch that
would take a while meets an unmeasured (architecture, precision, device), the CLI measures it (a
second or two) and says so. The bar follows liif_plugin.runtime.progress.Tracker: encoding (which
reports nothing until it ends) fills by time, decoding by output pixels, and the time left is
corrected by how this run's speed compares with the estimate. A small thread redraws it twice a
second, so it moves during a long encode too.
"""

from __future__ import annotations

import sys
import threading

from liif_plugin.runtime import cost
from liif_plugin.runtime import speed as speeds
from liif_plugin.runtime.estimate import TimeEstimate
from liif_plugin.runtime.progress import Tracker

MEASURE_ABOVE_S = 3.0  # a batch roughly longer than this measures the machine's speed before it starts
SAY_ABOVE_S = 1.0  # the estimate line is printed for batches that take longer than this
REDRAW_S = 0.5


def image_work(image, out_shape, region, model, speed, planes: int = 1) -> cost.Work:
    """The cost of one `liif upscale` input (an (H, W) or (H, W, C) array; `planes` of them for a stack)."""
    H, W = image.shape[:2]
    chans = 1 if image.ndim == 2 else image.shape[2]
    y0, x0, y1, x1 = (0.0, 0.0, float(H), float(W)) if region is None else (float(v) for v in region)
    sub = 2 if chans == 4 else 1
    return cost.work(
        (H, W), out_shape, (y0, x0, y1, x1), planes, sub, chans, image.dtype.itemsize, cost.Arch.of(model), speed
    )


def plan_speeds(models, precision: str, rough_works=None, quiet=False) -> list:
    """This machine's speed for each model (None: not measured); measured first when the batch is
    roughly long (`rough_works`: its works at the rough speed), saying so unless `quiet`."""
    found = [speeds.stored(m, _resolved(m, precision)) for m in models]
    if any(s is None for s in found) and rough_works is not None:
        if cost.seconds(rough_works, cost.ROUGH_SPEED) > MEASURE_ABOVE_S:
            if not quiet:
                print("measuring this machine's speed (once for this model, device and precision) …", file=sys.stderr)
            found = [s or speeds.speed(m, _resolved(m, precision)) for m, s in zip(models, found)]
    return found


def _resolved(model, precision):
    from liif_plugin.runtime.hardware import resolve_precision

    return resolve_precision(precision, model.device)


def batch_estimate(works, found) -> TimeEstimate:
    total = TimeEstimate(0.0, True)
    for wk, speed in zip(works, found):
        total = total + TimeEstimate.of([wk], speed)
    return total


class BatchBar:
    """One bar over the whole batch: 'photo.png (2 of 3)  40 %|####      | 12 s so far, about 18 s left'."""

    def __init__(self, works, speed, names, quiet=False):
        self.tracker = Tracker(works, speed or cost.ROUGH_SPEED)
        self.names = names
        self.quiet = quiet
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            fmt = "{desc} {percentage:3.0f}%|{bar:20}| {unit}"  # unit: the time so far and left (see redraw)
            self.bar = tqdm(total=1000, unit="", desc=names[0] if names else "", bar_format=fmt, file=sys.stderr)
            self._thread = threading.Thread(target=self._redraw_loop, name="liif-progress", daemon=True)
            self._thread.start()

    def begin(self, i: int) -> None:
        with self._lock:
            self.tracker.begin(i)
            if self.bar is not None:
                n = len(self.names)
                self.bar.set_description_str(self.names[i] + (f" ({i + 1} of {n})" if n > 1 else ""), refresh=False)
        self.redraw()

    def update(self, done: int, total: int | None = None) -> None:
        with self._lock:
            self.tracker.update(done)
        self.redraw()

    def redraw(self) -> None:
        if self.bar is None:
            return
        with self._lock:
            t = self.tracker
            if t.started is None:
                return
            self.bar.n = round(1000 * t.fraction())
            seconds_left = t.seconds_left()
            assert seconds_left is not None  # (a number once started)
            took, left = cost.format_seconds(t.clock() - t.started), cost.format_seconds(seconds_left)
            self.bar.unit = f"{took} so far, about {left} left"  # (the bar's format shows it as is)
            self.bar.refresh()

    def _redraw_loop(self):
        while not self._stop.wait(REDRAW_S):
            self.redraw()

    def close(self, done: bool = True) -> None:
        """Stop redrawing; a finished batch shows 100 % and the time it took."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self.bar is not None:
            with self._lock:
                if done:
                    t = self.tracker
                    took = cost.format_seconds(t.clock() - t.started) if t.started is not None else "0 s"
                    self.bar.n = 1000
                    self.bar.unit = f"done in {took}"
                self.bar.close()  # draws the last state once
