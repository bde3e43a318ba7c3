"""glibc's allocator tuned for numpy work that keeps several mid-sized arrays alive at once.

By default glibc serves an allocation above its mmap threshold (128 KiB, raised up to the size
of the largest chunk freed so far) with a fresh mmap, and gives memory at the top of the heap
back to the kernel beyond its trim threshold. Every fresh page then costs a page fault, which is
slow on this project's virtual machines: six live 705 × 100 float64 arrays (the shape of a
training run's evaluation forward) took 1.2 ms to allocate and fill against 0.07 ms with the
settings below (bench/notes.md, "Training simulations").

`reuse_freed_memory()` fixes both thresholds (glibc then stops adjusting them): arrays up to
MMAP_THRESHOLD come from the heap, and up to TRIM_THRESHOLD of freed memory stays with the
process for the next request. Larger arrays are still mapped and unmapped each time. gunicorn
calls it in every worker (`gunicorn.conf.py`), and `python -m bench` in its own process, so that
in-process ratios measure what the workers run.
"""

from __future__ import annotations

import ctypes
import ctypes.util

# mallopt's parameter numbers (glibc's malloc.h).
M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's own ceiling for its dynamic threshold
TRIM_THRESHOLD = 2 * MMAP_THRESHOLD  # what glibc pairs with a raised mmap threshold


def reuse_freed_memory() -> bool:
    """Set glibc's mmap and trim thresholds for this process; False where there is no glibc
    `mallopt` (another C library), which leaves the allocator as it was."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c"))
        mallopt = libc.mallopt
    except (OSError, AttributeError, TypeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    return bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(
        mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD)
    )
