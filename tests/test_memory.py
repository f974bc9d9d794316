"""A long viewer session gives freed memory back: encodes of ever new window sizes do not pile up."""

import os
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    import liif_plugin as liif
    from liif_plugin.runtime.memory import release_freed_memory
    torch.set_num_threads(1)

    def rss_mb():
        for line in open("/proc/self/status"):
            if line.startswith("VmRSS"):
                return int(line.split()[1]) / 1024

    model = liif.load_model(device="cpu")
    x = torch.rand(1, 3, 130, 130)
    with torch.no_grad():
        model.encode_planes(x[..., :64, :64])
        release_freed_memory()
        start = rss_mb()
        for h, w in np.random.default_rng(0).integers(64, 130, size=(30, 2)):
            model.encode_planes(x[..., :h, :w].contiguous())  # a window of a new size, as a viewer does
            assert release_freed_memory()
    print(rss_mb() - start)
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's malloc_trim is Linux-only")
@pytest.mark.slow
def test_encodes_of_new_window_sizes_do_not_keep_their_memory(model):
    # Without the release, glibc kept about 2 MB per new window size here (60 sizes: +120 MB).
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 30


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="per-thread nice values are Linux's")
def test_render_threads_run_at_background_priority_and_their_torch_workers_too():
    """The widget's render thread lowers its own priority (not the process's), and PyTorch's OpenMP
    workers that it starts inherit it, so the GUI or kernel thread is served first."""
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            textwrap.dedent("""
        import os, threading, torch
        from liif_plugin.notebook.worker import LatestWorker
        torch.set_num_threads(2)
        main = threading.get_native_id()
        before = set(os.listdir("/proc/self/task"))  # the threads that are not the render's
        seen = {}
        def job(stale):
            torch.set_num_threads(2)  # this thread's own OpenMP team: two threads, so a worker starts
            x = torch.rand(1 << 22)
            for _ in range(3):  # parallel regions of ATen and oneDNN: they start this thread's OpenMP workers
                (x.exp() + x.sin()).sum()
                torch.nn.functional.conv2d(torch.rand(1, 32, 256, 256), torch.rand(32, 32, 3, 3))
            me = threading.get_native_id()
            seen["render"] = os.getpriority(os.PRIO_PROCESS, me)
            seen["others"] = [int(open(f"/proc/self/task/{t}/stat").read().rsplit(")", 1)[1].split()[16])
                              for t in set(os.listdir("/proc/self/task")) - before if int(t) != me]
        w = LatestWorker()
        w.submit(job)
        w.wait_idle(60)
        w.close()
        print(os.getpriority(os.PRIO_PROCESS, main), seen["render"], min(seen["others"], default=-1),
              len(seen["others"]), torch.get_num_threads())
    """),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert r.returncode == 0, r.stderr
    main, render, workers_min, workers, threads = map(int, r.stdout.split())
    # The render thread is niced, the process's main thread not; the threads the render started
    # (PyTorch's OpenMP workers: at least one, its team has two threads) are niced too.
    parent = os.getpriority(os.PRIO_PROCESS, 0)  # the child starts at the test's own nice value (make may run niced)
    assert main == parent and render >= max(10, parent)
    assert workers >= 1 and workers_min >= 10, (workers, workers_min)
