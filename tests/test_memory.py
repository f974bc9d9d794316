"""A long viewer session gives freed memory back: encodes of ever new window sizes do not pile up."""
import subprocess
import sys
import textwrap

import pytest

SCRIPT = textwrap.dedent("""
    import numpy as np, torch
    import liif_plugin as liif
    from liif_plugin.memory import release_freed_memory
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
def test_encodes_of_new_window_sizes_do_not_keep_their_memory(model):
    # Without the release, glibc kept about 2 MB per new window size here (60 sizes: +120 MB).
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert float(out.stdout.strip().splitlines()[-1]) < 30
