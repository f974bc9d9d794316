"""One background thread that runs the newest job only, and never outlives its use.

A job that arrives while another waits replaces it (the waiting one is dropped, never queued);
a running job sees `stale()` turn true and stops at its next check (the engine's stop hook, called
between the encoder's convolutions and before every decoder chunk).

Between jobs the thread does background work in small steps (``set_background``: a widget's value
range and overview pass), each step stopping as soon as a job arrives: preparation uses idle time
and never delays a view.

Lifetime rules, so that a notebook or script never leaks threads or aborts at exit:
- the thread holds no reference to the widget (jobs are given it through a weak reference) and
  lets go of each job as soon as it has run, so a dropped widget can be garbage-collected;
- the thread ends after `idle_s` seconds without work and starts again on the next job;
- `close()` (the widget's close, or its garbage collection) marks the running job stale;
- at interpreter exit every open worker is closed and its thread joined, because a daemon thread
  still inside torch while the interpreter shuts down aborts the process.
"""

import atexit
import threading
import traceback
import weakref

from liif_plugin.engine.field import Cancelled
from liif_plugin.runtime.memory import background_priority, release_freed_memory

_open_workers = weakref.WeakSet()
EXIT_JOIN_S = 30.0  # a running job reaches its next staleness check well within this


class LatestWorker:
    def __init__(self, name="liif-zoom-render", idle_s=5.0):
        self._cond = threading.Condition()
        self._pending = None
        self._running = False
        self._closed = False
        self._name = name
        self._idle_s = idle_s
        self._thread = None
        self._background = None  # step(stale) -> True while more remains: idle-time work
        self.dropped = 0  # jobs replaced while waiting or cancelled while running
        self.done = 0
        self.errors = []
        _open_workers.add(self)

    def submit(self, job):
        """Run `job(stale)` soon on the worker thread; `stale()` is true once a newer job exists."""
        with self._cond:
            if self._closed:
                return
            if self._pending is not None:
                self.dropped += 1
            self._pending = job
            self._start_thread()
            self._cond.notify_all()

    def set_background(self, step):
        """Run `step(stale)` again and again while no job waits, until it returns False (or raises).
        A step must be short (a band of a pass) and stop at a check when `stale()` turns true."""
        with self._cond:
            if self._closed:
                return
            self._background = step
            self._start_thread()
            self._cond.notify_all()

    def _start_thread(self):
        if self._thread is None:
            # The thread gets the condition and a weak reference, never the worker itself.
            self._thread = threading.Thread(
                target=_loop, args=(weakref.ref(self), self._cond), name=self._name, daemon=True
            )
            self._thread.start()

    def stale(self):
        return self._pending is not None or self._closed

    @property
    def closed(self):
        return self._closed

    @property
    def alive(self):
        """True while the worker's thread runs (it ends after `idle_s` seconds without work)."""
        t = self._thread
        return t is not None and t.is_alive()

    def idle(self):
        with self._cond:
            return self._pending is None and not self._running

    def wait_idle(self, timeout=None, background=False):
        """Block until no job runs or waits (and, with `background`, no background work is left): for
        scripts and tests. Returns False on timeout."""
        with self._cond:
            return self._cond.wait_for(
                lambda: self._pending is None and not self._running and not (background and self._background),
                timeout,
            )

    def close(self, join_s=0.0):
        """Stop: drop the waiting job, make the running one stale; wait up to `join_s` for the thread."""
        with self._cond:
            self._closed = True
            self._pending = None
            self._background = None
            self._cond.notify_all()
            thread = self._thread
        if join_s and thread is not None and thread is not threading.current_thread():
            thread.join(join_s)

    # What the loop needs, taken under the condition's lock.
    def _next(self):
        """The next job, else a background step (the worker's `_background`), or None when the thread
        should end (closed, or idle too long)."""
        ready = lambda: self._pending is not None or self._background is not None or self._closed  # noqa: E731
        if not self._cond.wait_for(ready, self._idle_s) or self._closed:
            self._running = False
            self._thread = None
            self._cond.notify_all()
            return None
        if self._pending is None:
            return self._background
        job, self._pending = self._pending, None
        self._running = True
        return job

    def _background_done(self, step, more):
        if not more and self._background is step:
            self._background = None
        self._cond.notify_all()

    def _finish(self, outcome):
        self._running = False
        if outcome == "done":
            self.done += 1
        elif outcome == "cancelled":
            self.dropped += 1
        else:
            self.errors.append(outcome)
        self._cond.notify_all()


def _loop(ref, cond):
    background_priority()  # the kernel's own thread (the browser's messages) goes first
    while True:
        with cond:
            worker = ref()
            job = worker._next() if worker is not None else None
            if worker is None or job is None:
                return
            stale = worker.stale
            background = job is worker._background
            del worker  # hold the worker (and through it the widget) only while a job runs
        if background:
            try:
                more = bool(job(stale))
            except Cancelled:
                more = True
            except Exception as e:  # background work is best effort: say so, do not retry
                more = False
                with cond:
                    worker = ref()
                    if worker is not None:
                        worker.errors.append("".join(traceback.format_exception_only(type(e), e)).strip())
                    del worker
            with cond:
                worker = ref()
                if worker is None:
                    return
                worker._background_done(job, more)
                del worker
            del job, stale
            continue
        try:
            job(stale)
            outcome = "done"
        except Cancelled:
            outcome = "cancelled"
        except Exception as e:  # keep the thread alive; the widget shows the message
            outcome = "".join(traceback.format_exception_only(type(e), e)).strip()
        del job, stale
        release_freed_memory()  # a long session of zooming must not keep every render's freed pages
        with cond:
            worker = ref()
            if worker is None:
                return
            worker._finish(outcome)
            del worker


@atexit.register
def _close_all_at_exit():
    workers = list(_open_workers)
    for w in workers:
        w.close()
    for w in workers:
        w.close(join_s=EXIT_JOIN_S)
