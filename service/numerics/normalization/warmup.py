"""Compile the numba kernels once, before anyone waits for them: the normalization kernels and
the training's (service.numerics.training.kernels).

`python -m service.numerics.normalization.warmup` compiles every kernel signature into numba's
on-disk cache (NUMBA_CACHE_DIR, default __pycache__ in the kernels package) and prints how long it
took. gunicorn runs it in a child process before it starts its workers (`gunicorn.conf.py`), so
that each worker loads the compiled code (under a second) instead of compiling it (about 30 s of
CPU), and the Docker image runs it at build time.
"""

from __future__ import annotations

import time


def warm_up() -> float:
    """Compile or load every kernel and start numba's thread pool; returns the seconds taken."""
    started = time.perf_counter()
    from service.numerics.normalization import fused
    from service.numerics.training import kernels as training_kernels

    fused.warm_up()
    training_kernels.warm_up()
    return time.perf_counter() - started


def main() -> None:
    import numba

    seconds = warm_up()
    print(
        f"numba kernels (normalization, training) ready in {seconds:.2f} s "
        f"(threading layer {numba.threading_layer()}, {numba.get_num_threads()} threads)"
    )


if __name__ == "__main__":
    main()
