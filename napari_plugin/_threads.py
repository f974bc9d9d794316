"""Where the panel's and the live view's workers run: a thread pool of their own each.

napari's ``thread_worker`` starts on Qt's global thread pool, which napari and every plugin share
and whose size is the number of cores (2 on a small machine). The live view lowers its render
thread's CPU priority for good (liif_plugin.runtime.memory.background_priority: it cannot be raised
again without privileges); on the shared pool that thread then ran later work too, the panel's
renders included, at the lowered priority (on a busy machine a Run then waited minutes to start). A
pool of its own for each keeps the lowered threads to the live view, and a Run never queues behind a
live render or a cancelled run that has yet to reach its next band. On quitting, the workers still
running are asked to stop and waited for, as napari does for the global pool.

The live view also yields to the panel: while a panel job runs (``busy("panel")``, read from any thread),
a live render stops at its next engine check (between encoder convolutions, before a decoder chunk) and
renders again once the panel is idle (``when_idle``). A Run never shares the CPU with a live render.
"""

from __future__ import annotations

from qtpy.QtCore import QCoreApplication, QThreadPool

THREADS = 4  # per pool: a cancelled worker finishing its current band leaves room for a new one
_pools: dict[str, QThreadPool] = {}
_running: set = set()
_busy: dict[str, int] = {}  # pool name -> workers started there and not finished (read from any thread)
_waiting: dict[str, list] = {}  # pool name -> callbacks for when it has no worker left


def pool(name: str) -> QThreadPool:
    """The pool called `name` ('panel' or 'live'), made on first use."""
    p = _pools.get(name)
    if p is None:
        if not _pools and QCoreApplication.instance() is not None:
            QCoreApplication.instance().aboutToQuit.connect(stop_all)
        p = _pools[name] = QThreadPool()
        p.setMaxThreadCount(THREADS)
    return p


def start(worker, name: str) -> None:
    """Start a napari/superqt worker (made with start_thread=False) on pool `name`."""
    _running.add(worker)
    _busy[name] = _busy.get(name, 0) + 1
    worker.finished.connect(lambda: _finished(worker, name))
    pool(name).start(worker)


def _finished(worker, name: str) -> None:
    if worker not in _running:
        return
    _running.discard(worker)
    _busy[name] -= 1
    if not _busy[name]:
        for callback in _waiting.pop(name, []):
            callback()


def running() -> int:
    """Workers started here and not finished yet."""
    return len(_running)


def busy(name: str) -> bool:
    """Whether a worker started on pool `name` has not finished yet (safe to ask from any thread)."""
    return _busy.get(name, 0) > 0


def when_idle(name: str, callback) -> None:
    """Call `callback()` (in the GUI thread) once pool `name` has no worker left: now, if it has none."""
    if busy(name):
        if callback not in _waiting.setdefault(name, []):
            _waiting[name].append(callback)
    else:
        callback()


def stop_all(msecs: int = 5000) -> bool:
    """Ask every running worker to quit and wait up to `msecs` for each pool; False if some did not end."""
    for worker in list(_running):
        worker.quit()
    return all(p.waitForDone(msecs) for p in _pools.values())
