"""One BLAS thread while training runs compute.

OpenBLAS threads a matrix product above a small size (the training's 60 × 100 × 100 products are
above it), and its thread count is one setting for the whole process. Under gunicorn the
parallelism comes from the workers and their request threads already, so a second BLAS thread
only waits for a core: with the other core busy a 1,000-step run took 33-48 s on two BLAS
threads against 4.8 s on one (bench/notes.md). The count drops to one while any run computes in
the process and comes back when the last one ends (a count of holders, since threadpoolctl's
own context manager would restore the setting under a run still computing).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped]

_lock = threading.Lock()
_holders = 0
_restore: Any = None
_controller: ThreadpoolController | None = None


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the body with the process's BLAS on one thread (nested and concurrent uses share it)."""
    global _holders, _restore, _controller
    with _lock:
        if _holders == 0:
            if _controller is None:
                _controller = ThreadpoolController()
            _restore = _controller.limit(limits=1, user_api="blas")
        _holders += 1
    try:
        yield
    finally:
        with _lock:
            _holders -= 1
            if _holders == 0 and _restore is not None:
                _restore.restore_original_limits()
                _restore = None
