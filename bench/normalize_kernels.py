"""Goal 1 in process: every normalization variant, forward and backward, through the fused
kernels (what the service runs) against torch.nn.functional, with the numpy reference beside
them for information; and what the kernels cost at a cold start.

Backward: the service computes the gradients of Σ output·grad_output from x and grad_output
(recomputing the statistics), so torch's baseline is the same task through autograd:
the forward with requires_grad, then torch.autograd.grad.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from bench.client import Http
from bench.common import Check, Context, Table, sqlite_url
from bench.stats import Ratio, interleave, median, pair_ratio

RTOL, ATOL = 1e-4, 1e-5
# Before each sample: a pause, then untimed calls for at least WARM_S (and at least WARM_CALLS).
# torch's OpenMP threads spin on the other core for milliseconds after a call, so a subject timed
# right after torch would share its cores with them (~8 ms of CPU per call, measured). The pause
# lets them park; the untimed calls wake the subject's pool and warm the caches again, so each is
# timed in its own steady state. After a 20 ms pause, on a 1M-value array, the kernels (whose TBB
# workers sleep between calls) needed 6-8 calls to reach it and torch (whose OpenMP threads
# spin) 3-4: three calls timed the kernels' wake-up (bench/notes.md, "Eighth round").
SETTLE_S = 0.02
WARM_S = 0.01
WARM_CALLS = 3

Subjects = dict[str, tuple[Callable[[], Any], Callable[[], Any], Callable[[], Any]]]


def _arguments(x: np.ndarray) -> dict[str, tuple[dict[str, Any], Callable[..., Any]]]:
    """variant -> (service parameters, torch.nn.functional call on a tensor)."""
    import torch.nn.functional as F

    last = (x.shape[-1],)
    return {
        "layer": ({"normalized_shape": last}, lambda t: F.layer_norm(t, last, eps=1e-5)),
        "batch": ({}, lambda t: F.batch_norm(t, None, None, training=True, eps=1e-5)),
        "group": ({"num_groups": 32}, lambda t: F.group_norm(t, 32, eps=1e-5)),
        "instance": ({}, lambda t: F.instance_norm(t, eps=1e-5)),
        "rms": ({"normalized_shape": last}, lambda t: F.rms_norm(t, last)),
    }


def subjects(x: np.ndarray, g: np.ndarray, direction: str) -> Subjects:
    """variant -> (kernel call, numpy reference call, torch call), each giving an array."""
    import torch

    from service.numerics.normalization import normalize, normalize_backward
    from service.numerics.normalization.backward import reference_backward
    from service.numerics.normalization.dispatch import call
    from service.numerics.normalization.forward import reference_forward

    tensor, grad = torch.from_numpy(x), torch.from_numpy(g)

    def calls(variant: str, params: dict[str, Any], function: Callable[..., Any]) -> Any:
        def kernel() -> np.ndarray:
            if direction == "forward":
                return normalize(variant, x, **params).output
            return normalize_backward(variant, x, g, **params).grad_input

        def reference() -> np.ndarray:
            validated = call(variant, x, **params)
            if direction == "forward":
                return reference_forward(validated).output
            return reference_backward(validated, g).grad_input

        def theirs() -> np.ndarray:
            if direction == "forward":
                return function(tensor).numpy()
            leaf = tensor.detach().requires_grad_(True)
            (grad_input,) = torch.autograd.grad(function(leaf), leaf, grad)
            return grad_input.numpy()

        return kernel, reference, theirs

    return {
        variant: calls(variant, params, function)
        for variant, (params, function) in _arguments(x).items()
    }


def _per_call(function: Callable[[], Any], calls: int) -> Callable[[], float]:
    def run() -> float:
        time.sleep(SETTLE_S)
        warm_until = time.perf_counter() + WARM_S
        for _ in range(WARM_CALLS):
            function()
        while time.perf_counter() < warm_until:
            function()
        start = time.perf_counter()
        for _ in range(calls):
            function()
        return (time.perf_counter() - start) / calls

    return run


def compare_with_torch(
    x: np.ndarray,
    g: np.ndarray,
    *,
    rounds: int,
    budget_s: float,
    only: tuple[str, ...] | None = None,
    directions: tuple[str, ...] = ("forward", "backward"),
) -> list[dict[str, Any]]:
    """Per variant and direction: medians (s) of the kernels, the numpy reference, torch
    (default threads) and torch (1 thread), the kernels' largest difference from torch, and the
    noise of kernel / best torch."""
    import torch

    from service.numerics.normalization.warmup import warm_up

    warm_up()
    default_threads = torch.get_num_threads()
    calls = max(3, int(2e6 // x.size))

    def torch_with(threads: int, function: Callable[[], Any]) -> Callable[[], Any]:
        def run() -> Any:
            torch.set_num_threads(threads)
            try:
                return function()
            finally:
                torch.set_num_threads(default_threads)

        return run

    rows: list[dict[str, Any]] = []
    for direction in directions:
        with torch.inference_mode(direction == "forward"):
            for variant, (kernel, reference, theirs) in subjects(x, g, direction).items():
                if only is not None and variant not in only:
                    continue
                expected = theirs()
                got = kernel()
                difference = float(np.max(np.abs(got.astype(np.float64) - expected)))
                equal = got.dtype == np.float32 and np.allclose(got, expected, RTOL, ATOL)
                samples = interleave(
                    {
                        "kernel": _per_call(kernel, calls),
                        "numpy": _per_call(reference, 1),
                        "torch": _per_call(torch_with(default_threads, theirs), calls),
                        "torch1": _per_call(torch_with(1, theirs), calls),
                    },
                    repeats=rounds,
                    budget_s=budget_s,
                )
                row = {name: median(values) for name, values in samples.items()}
                best = "torch" if row["torch"] <= row["torch1"] else "torch1"
                _, noise = pair_ratio(samples["kernel"], samples[best])
                rows.append(
                    {
                        **row,
                        "variant": variant,
                        "direction": direction,
                        "best": best,
                        "difference": difference,
                        "equal": bool(equal),
                        "noise": noise,
                        "threads": default_threads,
                    }
                )
    return rows


# --- cold start --------------------------------------------------------------------------------


def _child(cache: Path) -> tuple[float, float]:
    """(wall, CPU) seconds of a child process that compiles or loads every kernel."""
    env = {**os.environ, "NUMBA_CACHE_DIR": str(cache)}
    before = os.times()
    start = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "service.numerics.normalization.warmup"],
        env=env,
        check=True,
        capture_output=True,
    )
    wall = time.perf_counter() - start
    after = os.times()
    return wall, (after.children_user - before.children_user) + (
        after.children_system - before.children_system
    )


def _first_requests(context: Context, cache: Path, body: bytes, label: str) -> list[str]:
    """Start the service with this kernel cache; time its start and its first requests."""
    headers = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
    server = context.service(
        f"normalize-cold-{label}", sqlite_url(context, f"cold-{label}"), NUMBA_CACHE_DIR=str(cache)
    )
    start = time.perf_counter()
    try:  # an empty cache compiles first (~30 s of CPU; minutes of wall on a loaded machine)
        server.start(timeout_s=600.0)
    except RuntimeError as exc:  # slower than that
        return [label, f"not ready: {exc}", "", "", ""]
    ready = time.perf_counter() - start
    client = Http(server.port)
    try:
        first = client.timed("POST", "/v1/normalize/layer", body, headers)()
        later = [client.timed("POST", "/v1/normalize/layer", body, headers)() for _ in range(15)]
    finally:
        client.close()
        server.stop()
    steady = median(later)
    return [
        label,
        f"{ready:.1f} s",
        f"{first * 1e3:.1f} ms",
        f"{steady * 1e3:.1f} ms",
        f"{first / steady:.2f}",
    ]


def cold_start(context: Context, body: bytes) -> None:
    """Compile and load times of the kernels, and the service's first request after a start
    with an empty and with a filled kernel cache."""
    context.say("normalize: kernel cold start (empty numba cache, then filled)")
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as folder:
        cache = Path(folder)
        compile_wall, compile_cpu = _child(cache)
        load_wall, load_cpu = _child(cache)
        rows = [
            [
                "compile every kernel, empty cache (child process)",
                f"{compile_wall:.1f} s",
                f"{compile_cpu:.1f} s",
            ],
            [
                "load every kernel from the cache (child process)",
                f"{load_wall:.2f} s",
                f"{load_cpu:.2f} s",
            ],
        ]
        context.tables.append(
            Table(
                "1 normalize: kernel compile and load (python -m "
                "service.numerics.normalization.warmup)",
                ["step", "wall", "CPU"],
                rows,
                note="Most of a load is importing numba and llvmlite.",
            )
        )
    with tempfile.TemporaryDirectory(prefix="numba-cache-") as empty:
        first_cold = _first_requests(context, Path(empty), body, "empty cache")
        first_warm = _first_requests(context, Path(empty), body, "filled cache")
    context.tables.append(
        Table(
            "1 normalize: the service's first requests after a start (1M-element .npy layer norm)",
            [
                "kernel cache",
                "start to ready",
                "first request",
                "median of the next 15",
                "first / median",
            ],
            [first_cold, first_warm],
            note="gunicorn compiles the kernels into the cache in a child process before it "
            "starts its workers, and each worker loads them before it accepts a connection, so "
            "no request waits for a compilation.",
        )
    )
    for row in (first_cold, first_warm):
        ratio = float(row[-1]) if row[-1] else float("inf")
        context.checks.append(
            Check(
                "1 normalize",
                f"first request after a start / the next ones ({row[0]})",
                f"{ratio:.2f}" if row[-1] else row[1],
                "< 10 (a compilation takes seconds)",
                ratio < 10,
            )
        )


def report(context: Context, rows: list[dict[str, Any]]) -> None:
    """Goal rows (kernel / best torch), equality checks, and a table with the numpy reference."""
    table = Table(
        "1 normalize: in process, 64x256x64 float32 (ms, medians of interleaved samples)",
        [
            "variant",
            "direction",
            "kernel",
            "numpy reference",
            "torch 2 threads",
            "torch 1 thread",
            "kernel / torch",
            "numpy / torch",
        ],
        note="torch: the faster of its default threads and 1 thread. The numpy reference "
        "computes in float64 and is kept for reading and testing, not speed.",
    )
    for row in rows:
        torch_best = min(row["torch"], row["torch1"])
        name = f"{row['variant']} {row['direction']}"
        which = "torch, default threads" if row["best"] == "torch" else "torch, 1 thread"
        context.ratios.append(
            Ratio(
                "1 normalize",
                f"{name}, kernel / torch (in process)",
                "fused kernel",
                which,
                row["kernel"] * 1e3,
                torch_best * 1e3,
                goal=1.0,
                noise=row["noise"],
                note=f"torch {row['threads']} threads {row['torch'] * 1e3:.2f} ms, "
                f"1 thread {row['torch1'] * 1e3:.2f} ms",
            )
        )
        context.checks.append(
            Check(
                "1 normalize",
                f"{name} equals torch (float32)",
                f"max |diff| {row['difference']:.1e}",
                f"allclose rtol {RTOL:g}, atol {ATOL:g}, float32 out",
                row["equal"],
            )
        )
        table.rows.append(
            [row["variant"], row["direction"]]
            + [f"{row[key] * 1e3:.3f}" for key in ("kernel", "numpy", "torch", "torch1")]
            + [f"{row['kernel'] / torch_best:.2f}", f"{row['numpy'] / torch_best:.2f}"]
        )
    context.tables.append(table)
