"""Keep freed memory in the process instead of handing it back to the OS after every large tensor.

The FCN allocates hundreds of MB per batch (the first block's output for five 30 s tracks is 600 MB).
glibc serves such blocks with ``mmap`` and returns them with ``munmap`` when freed, so every batch
pays for fresh zeroed pages: measured on a 2-core machine, half the time of an inference batch went
to the kernel. Raising glibc's mmap and trim thresholds lets the heap keep and reuse those blocks:
inference of 5 × 30 s went from 2.4–3.1 s to 1.2–1.3 s and a training step from 1.0–1.3 s to
0.6–0.8 s. The process keeps its peak memory instead of shrinking after each batch.

Those thresholds hold for glibc's main arena only. Every other thread (the demo page runs each
script run in a new one) gets an arena of its own, whose heaps cannot hold blocks that large, so
they are mapped and unmapped again whatever the thresholds. Limiting the process to one arena puts
every thread on the main one: an explanation computed in a new thread each time (as the page does)
took 13.4 s, then 16.2 s; with one arena 10.8 s, then 9.6 s (time+source, N_s 2048, 2 cores).
Set ``LEMONS_MALLOC_DEFAULTS=1`` to leave the allocator alone. Elsewhere than glibc this does nothing.

Nothing tunes it at import time: the entry points call :func:`keep_freed_memory` first (``lemons``,
the Sacred scripts through :func:`recsys.observers.run_commandline`, the demo page, the benchmark).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os

# mallopt parameters (malloc.h)
M_TRIM_THRESHOLD = -1
M_TOP_PAD = -2
M_MMAP_THRESHOLD = -3
M_ARENA_MAX = -8
LARGEST = 2**31 - 1
TOP_PAD = 1 << 30

_done = False


def keep_freed_memory() -> bool:
    """Tune glibc's allocator once per process; returns whether it is tuned."""
    global _done
    if _done or os.environ.get("LEMONS_MALLOC_DEFAULTS") == "1":
        return _done
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc (macOS, musl without mallopt, Windows)
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    _done = all(
        mallopt(parameter, value) == 1
        for parameter, value in (
            (M_MMAP_THRESHOLD, LARGEST),
            (M_TRIM_THRESHOLD, LARGEST),
            (M_TOP_PAD, TOP_PAD),
            (M_ARENA_MAX, 1),
        )
    )
    return _done


def is_tuned() -> bool:
    """Whether :func:`keep_freed_memory` has tuned this process's allocator."""
    return _done
