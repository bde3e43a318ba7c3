"""`python -m bench [--quick] [--only NAME ...] [--keep-openblas-env]`: run the scenarios, print
the ratios with their goals, and (for a full run of every scenario) rewrite bench/README.md."""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")
SCENARIOS = (
    "normalize",
    "propagation",
    "quizzes",
    "workers",
    "scaling",
    "blas",
    "training",
    "lecture_hall",
    "readability",
)


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions (~3 minutes)")
    parser.add_argument(
        "--only", action="append", choices=SCENARIOS, help="run only this scenario (repeatable)"
    )
    parser.add_argument(
        "--keep-openblas-env",
        action="store_true",
        help="keep OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE (by default the bench unsets both)",
    )
    return parser.parse_args(argv)


def _reexec_without_openblas_env(args: argparse.Namespace) -> None:
    """numpy reads the variables when it loads: unset them before any import of numpy."""
    present = {name: os.environ[name] for name in OPENBLAS_VARS if name in os.environ}
    if args.keep_openblas_env or not present:
        return
    env = {k: v for k, v in os.environ.items() if k not in OPENBLAS_VARS}
    env["BENCH_UNSET_OPENBLAS"] = ",".join(f"{k}={v}" for k, v in present.items())
    os.execve(sys.executable, [sys.executable, "-m", "bench", *sys.argv[1:]], env)


_SIMD = (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"))


def _cpu_model() -> str:
    """The CPU's model name and widest SIMD from /proc/cpuinfo: torch and numpy pick their
    kernels by it, and the ratios against torch moved by 2x between machines."""
    try:
        info = Path("/proc/cpuinfo").read_text()
    except OSError:
        return platform.processor() or platform.machine()
    fields = {
        key.strip(): value.strip()
        for key, _, value in (line.partition(":") for line in info.splitlines())
    }
    flags = fields.get("flags", "").split()
    simd = next((name for flag, name in _SIMD if flag in flags), "no AVX")
    return f"{fields.get('model name', 'unknown CPU')} ({simd})"


def _blas_kernel() -> str:
    try:
        from threadpoolctl import threadpool_info  # type: ignore[import-untyped]
    except ImportError:
        return "unknown (pip install threadpoolctl)"
    import numpy  # noqa: F401  (loads OpenBLAS so that it is listed)

    infos = [i for i in threadpool_info() if i.get("user_api") == "blas"]
    return (
        ", ".join(
            f"{i.get('internal_api')} {i.get('version')} kernel {i.get('architecture')} "
            f"{i.get('num_threads')} threads"
            for i in infos
        )
        or "none found"
    )


INTRO = """# Bench: ratios against bare baselines

`make bench` (or `.venv/bin/python -m bench`) measures the service against baselines run in the
same invocation and rewrites this file (13-18 minutes on the 2-core machines here); `--quick`
runs fewer repetitions (about 3 minutes), `--only NAME` one scenario (normalize, propagation,
quizzes, workers, scaling, blas, training, lecture_hall, readability); both print the report and
leave this file alone.
Every figure is a median of interleaved repetitions (baseline and subject alternate, order
rotated each round); noise is half the interquartile range of the per-round ratios. These
machines are shared, so read ratios, not absolute times. Nothing here is asserted by the test
suite.

Servers: gunicorn with the project's `gunicorn.conf.py` (2 workers, gthread unless the row says
otherwise) on 127.0.0.1; the bare baselines (`bench/baselines.py`) are served by the same
config. The load client (`bench/client.py`) is asyncio over keep-alive connections in the bench
process, so it shares the two cores with the servers. PostgreSQL runs are against a database the
bench creates on 127.0.0.1:5432 and drops afterwards. OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE are
unset for the bench process and its servers (the `blas` table shows both ways).

Everything below "Last run" is regenerated; the sections after the tables come from
`bench/notes.md`. No plot: matplotlib is not a dependency of the project.
"""


def main(argv: list[str]) -> int:
    args = _parse(argv)
    _reexec_without_openblas_env(args)

    from bench import (
        blas,
        lecture_hall,
        normalize,
        propagation,
        quizzes,
        readability,
        scaling,
        training,
        workers,
    )
    from bench.common import Context
    from bench.report import print_report, write_readme
    from bench.server import install_cleanup, stop_all
    from service.simulations.allocator import reuse_freed_memory

    reuse_freed_memory()  # as gunicorn's workers do: in-process ratios measure what they run

    install_cleanup()
    selected = args.only or list(SCENARIOS)
    runners: dict[str, Callable[..., None]] = {
        "normalize": normalize.run,
        "propagation": propagation.run,
        "quizzes": quizzes.run,
        "workers": workers.run,
        "scaling": scaling.run,
        "blas": blas.run,
        "training": training.run,
        "lecture_hall": lecture_hall.run,
        "readability": readability.run,
    }
    workdir = Path(tempfile.mkdtemp(prefix="activation-lab-bench-"))
    base_env = {k: v for k, v in os.environ.items() if not k.startswith("BENCH_")}
    context = Context(quick=args.quick, workdir=workdir, base_env=base_env)
    started = time.monotonic()
    failed: list[str] = []
    try:
        for name in selected:
            t0 = time.monotonic()
            try:
                runners[name](context)
            except Exception as exc:  # report what ran; a broken scenario must not hide the rest
                failed.append(name)
                context.notes.append(f"scenario {name} failed: {exc!r}")
                print(f"scenario {name} FAILED: {exc!r}", file=sys.stderr, flush=True)
            finally:
                stop_all()
            context.say(f"  ({name}: {time.monotonic() - t0:.0f} s)")
    finally:
        stop_all()
    unset = os.environ.get("BENCH_UNSET_OPENBLAS")
    header = [
        f"mode: {'quick' if args.quick else 'full'}; scenarios: {', '.join(selected)}; "
        f"took {time.monotonic() - started:.0f} s; "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}",
        f"machine: {platform.machine()}, {_cpu_model()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, load average at the end "
        f"{', '.join(f'{v:.1f}' for v in os.getloadavg())}",
        f"BLAS: {_blas_kernel()}; "
        + (f"unset for the bench: {unset}" if unset else "OPENBLAS_* environment left as it was"),
    ]
    if failed:
        header.append(f"server logs: {workdir}")
    print_report(context, header)
    if not args.only and not args.quick:
        write_readme(context, header, INTRO)
        print(f"wrote {Path(__file__).with_name('README.md')}")
    if not failed:
        shutil.rmtree(workdir, ignore_errors=True)
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
