"""One background thread that runs the newest job only.

A job that arrives while another waits replaces it (the waiting one is dropped, never queued);
a running job sees `stale()` turn true and stops at its next check (the engine's progress hook).
"""
import threading
import traceback

from ..field import Cancelled


class LatestWorker:
    def __init__(self, name="liif-zoom-render"):
        self._cond = threading.Condition()
        self._pending = None
        self._running = False
        self._closed = False
        self._name = name
        self._thread = None
        self.dropped = 0  # jobs replaced while waiting or cancelled while running
        self.done = 0
        self.errors = []

    def submit(self, job):
        """Run `job(stale)` soon on the worker thread; `stale()` is true once a newer job exists."""
        with self._cond:
            if self._closed:
                return
            if self._pending is not None:
                self.dropped += 1
            self._pending = job
            if self._thread is None:
                self._thread = threading.Thread(target=self._loop, name=self._name, daemon=True)
                self._thread.start()
            self._cond.notify_all()

    def stale(self):
        return self._pending is not None or self._closed

    def idle(self):
        with self._cond:
            return self._pending is None and not self._running

    def wait_idle(self, timeout=None):
        """Block until no job runs or waits (for scripts and tests). Returns False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending is None and not self._running, timeout)

    def close(self):
        with self._cond:
            self._closed = True
            self._pending = None
            self._cond.notify_all()

    def _loop(self):
        while True:
            with self._cond:
                self._cond.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    self._running = False
                    self._cond.notify_all()
                    return
                job, self._pending = self._pending, None
                self._running = True
            try:
                job(self.stale)
                self.done += 1
            except Cancelled:
                self.dropped += 1
            except Exception as e:  # keep the thread alive; the widget shows the message
                self.errors.append("".join(traceback.format_exception_only(type(e), e)).strip())
            finally:
                with self._cond:
                    self._running = False
                    self._cond.notify_all()
