"""One BLAS thread for the training tests.

Their matrix products are small (60 × 100 × 100) but above OpenBLAS's threading threshold, so by
default each one wakes a second thread; with pytest-xdist's workers already on both cores, that
thread waits for a core and a run that takes 6 s single-threaded took 140 s (measured on the
shared 2-core machine). threadpoolctl comes with the dev extra that `make test` installs; without
it the tests still pass, only slower.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread() -> Iterator[None]:
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:  # pragma: no cover - the dev extra provides it
        yield
        return
    with threadpool_limits(limits=1, user_api="blas"):
        yield
