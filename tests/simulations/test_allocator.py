"""The allocator settings: with them, the heap memory of freed mid-sized numpy arrays stays with
the process for the next ones instead of going back to the kernel (glibc's mallinfo2 gives the
heap's size)."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import ctypes, sys
import numpy as np
from service.simulations.allocator import reuse_freed_memory

class Info(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]

libc = ctypes.CDLL(None)
libc.mallinfo2.restype = Info
tuned = reuse_freed_memory() if sys.argv[1] == "tuned" else None
arrays = [np.ones((705, 100)) for _ in range(6)]  # a training evaluation's live arrays
held = libc.mallinfo2().arena
del arrays
print(tuned, held - libc.mallinfo2().arena)
"""


def _heap_returned(mode: str) -> tuple[str, int]:
    done = subprocess.run(
        [sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True
    )
    tuned, returned = done.stdout.split()  # bytes the heap shrank by when the arrays went
    return tuned, int(returned)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's allocator")
def test_freed_arrays_stay_in_the_heap_once_tuned() -> None:
    _, by_default = _heap_returned("default")
    tuned, once_tuned = _heap_returned("tuned")
    assert by_default > 1_000_000  # several of the 564 KB arrays went back to the kernel
    assert (tuned, once_tuned) == ("True", 0)
