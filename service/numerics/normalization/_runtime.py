"""numba's run-time settings for the kernels; `kernels` imports this before it imports numba.

- Threading layer: always TBB (`tbb` from PyPI, pinned). The service calls kernels from several
  gunicorn threads at once: numba's default `workqueue` layer is not safe for concurrent
  parallel calls, and GNU OpenMP (`omp`) is thread-safe but not fork-safe, starts a team of
  threads per calling thread (4 request threads x 2 = 8 threads on 2 cores) and would be a
  second OpenMP runtime beside torch's in the tests. TBB is both thread- and fork-safe, and
  one pool per process serves every calling thread. A layer that cannot load is an error at
  the first parallel call (the worker's warm-up), never a silent fallback.
- Threads: numba's own NUMBA_NUM_THREADS (default: the CPUs this process may run on), read when
  numba is imported. The pool is per worker process and shared by its request threads, so
  WEB_CONCURRENCY workers run at most WEB_CONCURRENCY x NUMBA_NUM_THREADS kernel threads.
- Cache: numba's own NUMBA_CACHE_DIR (default: __pycache__ in the kernels package), keyed on all
  the package's sources (`kernels.options`); compiled kernels are loaded from there instead of
  compiled again (see `warmup`).
"""

from __future__ import annotations

import ctypes
import os
import sys

LAYER = "tbb"
# pip's tbb wheel installs libtbb.so.12 into <prefix>/lib, which is not on the dynamic loader's
# path in a virtualenv; loaded globally first, it satisfies numba's tbbpool extension.
_TBB = "libtbb.so.12"


def _load_tbb() -> None:
    for prefix in dict.fromkeys((sys.prefix, sys.base_prefix, sys.exec_prefix)):
        path = os.path.join(prefix, "lib", _TBB)
        if os.path.exists(path):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
            return


def configure() -> None:
    """Choose the threading layer (numba may already be imported: `kernels` sets its config
    too) and make TBB loadable."""
    os.environ["NUMBA_THREADING_LAYER"] = LAYER
    _load_tbb()


configure()
