"""Does OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE matter here? The same numpy work in two child
processes, one with the variables as the machine sets them and one without, interleaved."""

from __future__ import annotations

import os
import subprocess
import sys

from bench.common import Context, Table
from bench.server import ROOT
from bench.stats import median

OPENBLAS_VARS = ("OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE")

CHILD = r"""
import json, time, numpy as np
try:
    from threadpoolctl import threadpool_info
except ImportError:
    def threadpool_info():
        return []
from service.numerics.normalization import normalize
from bench.propagation import bare_chain
x = np.random.default_rng(0).standard_normal((64, 256, 64), dtype=np.float32)
a = np.random.default_rng(1).standard_normal((512, 512))
def best(f, n):
    times = []
    for _ in range(n):
        s = time.perf_counter(); f(); times.append(time.perf_counter() - s)
    times.sort(); return times[len(times) // 2]
kernel = [i.get("architecture") for i in threadpool_info() if i.get("user_api") == "blas"]
print(json.dumps({
    "kernel": kernel[0] if kernel else "?",
    "matmul": best(lambda: a @ a, 15),
    "chain": best(bare_chain, 3),
    "layer": best(lambda: normalize("layer", x, normalized_shape=(64,)), 15),
}))
"""


def _child(env: dict[str, str]) -> dict[str, object]:
    import json

    out = subprocess.run(
        [sys.executable, "-c", CHILD],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def run(context: Context) -> None:
    machine = os.environ.get("BENCH_UNSET_OPENBLAS", "")
    pairs = dict(item.split("=", 1) for item in machine.split(",") if "=" in item)
    pairs.update({k: os.environ[k] for k in OPENBLAS_VARS if k in os.environ})
    if not pairs:
        context.notes.append("blas: no OPENBLAS_* variables on this machine; nothing to compare")
        return
    base = {k: v for k, v in context.base_env.items() if k not in OPENBLAS_VARS}
    with_vars = {**base, **pairs}
    runs: dict[str, list[dict[str, object]]] = {"set": [], "unset": []}
    for _ in range(context.reps(3, 1)):
        runs["set"].append(_child(with_vars))
        runs["unset"].append(_child(base))
    table = Table(
        "OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE set as on this machine vs unset (ms, medians)",
        ["environment", "kernel", "matmul 512x512 f64", "MC chain 50x512x512", "layer norm 1M f32"],
        note="The bench runs with both unset (its servers too) unless --keep-openblas-env.",
    )
    for label, rows in (
        ("set: " + ", ".join(f"{k}={v}" for k, v in pairs.items()), runs["set"]),
        ("unset", runs["unset"]),
    ):
        table.rows.append(
            [
                label,
                str(rows[0]["kernel"]),
                f"{median([float(r['matmul']) for r in rows]) * 1e3:.2f}",  # type: ignore[arg-type]
                f"{median([float(r['chain']) for r in rows]) * 1e3:.0f}",  # type: ignore[arg-type]
                f"{median([float(r['layer']) for r in rows]) * 1e3:.2f}",  # type: ignore[arg-type]
            ]
        )
    context.tables.append(table)
