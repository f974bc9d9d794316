"""The ZoomWidget's render thread never aborts the process and never keeps a dropped widget alive.

Each case runs in a fresh Python process, as a user's script or kernel would: exit status,
stderr, the threads left and the resident memory are what is checked.
"""

import subprocess
import sys
import textwrap

import pytest

from liif_plugin.notebook.worker import LatestWorker


def run_script(code, *args, timeout=300):
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code), *map(str, args)], capture_output=True, text=True, timeout=timeout
    )


def test_script_exits_cleanly_while_a_big_render_runs():
    """Exit while the thread is inside torch (encoding a 2048 x 2048 photo with the released model)."""
    r = run_script("""
        import time
        import numpy as np
        from liif_plugin.notebook import ZoomWidget

        img = (np.random.default_rng(0).random((2048, 2048, 3)) * 255).astype(np.uint8)
        w = ZoomWidget(img)
        w.viewport = [0, 0, 512, 512]  # a new view at 1:1: the thread starts encoding its 512 x 512 window
        t0 = time.time()
        while not w._worker._running and time.time() - t0 < 60:
            time.sleep(0.05)
        time.sleep(1.0)  # well inside the encoder (one 580 x 580 encode: seconds on 2 cores)
        print("running" if w._worker._running and w.field.tiles_encoded == 0 else "not running", flush=True)
    """)
    assert r.stdout.strip() == "running", r.stdout + r.stderr  # the case really exited mid-render
    assert r.returncode == 0, r.stderr
    assert r.stderr == ""


@pytest.mark.slow
def test_dropped_widgets_leave_no_threads_and_return_memory(tiny_model_path):
    """20 widgets on a 256 x 256 image, each rendered in the background, closed and dropped (as
    re-running a notebook cell that closes the old one does): no thread remains, no widget stays
    alive, memory comes back. 5 more are dropped without close(): ipywidgets and its comm keep
    those (by design), but no render thread stays behind for them."""
    r = run_script(
        """
        import gc, sys, threading, time, weakref
        import numpy as np
        import liif_plugin as liif
        from liif_plugin.notebook import ZoomWidget

        def rss_mb():
            with open("/proc/self/statm") as f:
                return int(f.read().split()[1]) * 4096 / 2**20

        def threads():
            return sum(t.name == "liif-zoom-render" and t.is_alive() for t in threading.enumerate())

        def wait_no_threads():
            t0 = time.time()
            while threads() and time.time() - t0 < 30:
                time.sleep(0.1)
            return threads()

        def rendered_widget():
            w = ZoomWidget(img, model=model, height=64)
            w.viewport = [0, 0, 128, 128]  # a background LIIF render: encodes the image
            assert w.wait(120)
            assert w.stats["done"] == 1 and w._field is not None, w.stats
            return w

        model = liif.load_model(sys.argv[1], device="cpu")
        img = (np.random.default_rng(0).random((256, 256, 3)) * 255).astype(np.uint8)
        base, refs = None, []
        for i in range(20):
            w = rendered_widget()
            refs.append(weakref.ref(w))
            w.close()
            del w
            gc.collect()
            if i == 0:
                base = rss_mb()  # after the first widget: imports and allocator pools are warm
        gc.collect()
        closed = (wait_no_threads(), sum(r() is not None for r in refs), round(rss_mb() - base, 1))
        kept = [rendered_widget() for _ in range(5)]
        print(*closed, wait_no_threads())
    """,
        tiny_model_path,
    )
    assert r.returncode == 0, r.stderr
    n_threads, n_alive, grown, n_threads_unclosed = r.stdout.split()
    assert int(n_threads) == 0, r.stdout
    assert int(n_alive) == 0, r.stdout  # no widget kept alive by its thread, job, field or assets
    assert float(grown) < 100, r.stdout  # MB
    assert int(n_threads_unclosed) == 0, r.stdout  # idle threads end by themselves


def test_closed_worker_thread_ends_and_idle_thread_ends_by_itself():
    import threading

    ran = threading.Event()
    w = LatestWorker(name="liif-test-worker", idle_s=0.2)
    w.submit(lambda stale: ran.set())
    assert ran.wait(10) and w.wait_idle(10)
    t = w._thread
    t.join(10) if t is not None else None
    assert not w.alive  # ended after 0.2 s without work
    ran.clear()
    w.submit(lambda stale: ran.set())  # and starts again for the next job
    assert ran.wait(10)
    w.close(join_s=10)
    assert not w.alive
    w.submit(lambda stale: pytest.fail("a closed worker must not run jobs"))
    assert not w.alive
