"""Giving freed memory back to the operating system between renders of a long-running viewer.

Each render of a viewer encodes a window of a new size. glibc serves the encoder's activations
(a few MB each) from its heap once its dynamic mmap threshold has grown, and keeps the freed
pages: measured on this project's 2-core machine, 60 encodes of different window sizes grew the
resident memory by 120 MB, which an hour of zooming turns into gigabytes. `malloc_trim(0)`
after each render returns those pages (the same 60 encodes: +10 MB).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import sys

_libc = None
if sys.platform.startswith("linux"):
    try:
        _libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        _libc.malloc_trim  # noqa: B018  (musl has none: then nothing is done)
    except (OSError, AttributeError):
        _libc = None


def release_freed_memory() -> bool:
    """Return the C heap's free pages to the OS (glibc); False where that is not available."""
    if _libc is None:
        return False
    _libc.malloc_trim(0)
    return True
