"""Progress of a run over one or more images, encoding included, and the time it still needs.

The render reports only output pixels, between bands of decoding; an encode (seconds on a big
plane) reports nothing until it ends. Each image's ``Work`` (liif_plugin.runtime.cost) lists its
steps in the order they run, with a cost from the measured speed, so the output pixels reported
tell which step is running: when they stop at the end of a decode step the next encode is under
way, and its share of the bar fills with the time it has taken (up to 95 % of its estimate until
it reports).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Sequence
from typing import TYPE_CHECKING

from liif_plugin.runtime.speed import Speed

if TYPE_CHECKING:
    from liif_plugin.runtime.cost import Work

ENCODE_FILL_CAP = 0.95  # an encode that runs over its estimate waits here until it reports


def drive(steps: Generator[tuple[int, int], None, object], progress: Callable[[int, int], None] | None = None):
    """Run a generator of (done, total) to its end, calling `progress` after each step; returns its result.

    The blocking form of every ``iter_*`` function: one loop, so a Cancelled raised by `progress` stops all alike.
    """
    while True:
        try:
            done, total = next(steps)
        except StopIteration as end:
            return end.value
        if progress is not None:
            progress(done, total)


class Tracker:
    """Where a run over ``works`` (one per image, in order) is, from what it reported and the clock."""

    def __init__(self, works: Sequence[Work], speed: Speed, clock: Callable[[], float] = time.monotonic):
        self.clock = clock
        self.layers = []  # per layer: (step costs (s), cumulative output px at each step's end, kinds)
        for wk in works:
            costs, ends, kinds, px = [], [], [], 0
            for kind, n in wk.steps:
                enc = kind == "encode"
                costs.append(speed.seconds(wk.sub * n, 0, 1) if enc else speed.seconds(0, wk.sub * n))
                px += 0 if enc else n
                ends.append(px)
                kinds.append(kind)
            self.layers.append((costs, ends, kinds))
        self.offsets = [0.0]
        for costs, _, _ in self.layers:
            self.offsets.append(self.offsets[-1] + sum(costs))
        self.total = self.offsets[-1]
        self.layer, self.done_px, self.since = 0, 0, None
        self.started = None

    def begin(self, layer: int) -> None:
        """Image `layer` (an index into ``works``) starts rendering now (its first step, an encode, is under way)."""
        now = self.clock()
        self.started = now if self.started is None else self.started
        self.layer, self.done_px, self.since = layer, 0, now

    def update(self, done_px: int) -> None:
        """The render of the current image reported `done_px` output pixels (of each of its planes)."""
        self.done_px, self.since = done_px, self.clock()

    def spent(self) -> float:
        """Estimated seconds of work done so far (what the bar shows, over total)."""
        if self.started is None:
            return 0.0
        assert self.since is not None  # begin() sets it with `started`
        costs, ends, kinds = self.layers[self.layer]
        spent = self.offsets[self.layer]
        for i, (cost, end, kind) in enumerate(zip(costs, ends, kinds)):
            before = ends[i - 1] if i else 0  # output pixels reported before this step
            if kind == "encode":
                if self.done_px > before:  # its decode has reported: the encode is over
                    spent += cost
                    continue
                return spent + min(self.clock() - self.since, ENCODE_FILL_CAP * cost)
            if self.done_px >= end:
                spent += cost
                continue
            return spent + (self.done_px - before) / max(end - before, 1) * cost
        return spent

    def fraction(self) -> float:
        """The share of the estimated work done, 0..1."""
        return min(1.0, self.spent() / self.total) if self.total > 0 else 0.0

    def seconds_left(self) -> float | None:
        """The estimate of the rest, corrected by how this run's speed compares with the estimate so far."""
        if self.started is None:
            return None
        spent = self.spent()
        elapsed = self.clock() - self.started
        ratio = elapsed / spent if spent > 0.05 * self.total and spent > 0 else 1.0
        return max(0.0, (self.total - spent) * ratio)
