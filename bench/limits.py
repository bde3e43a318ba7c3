"""The slowest simulations the limits accept: time and peak memory of each, against its estimate.

`.venv/bin/python -m bench.limits` runs each request below through the simulation service (as a
view would, without the HTTP layer) in a child process of its own, with the default limits, and
prints its wall and CPU time (the machines are shared: CPU is the steadier), tracemalloc's peak
(numpy reports its buffers to it), the child's maximum resident set and the estimated memory and
work. Each request sits just under MAX_SIMULATION_WORK in a different corner (thin and deep,
wide, backward with normalization, weight-drawing heavy, memory heavy). Figures go to
bench/notes.md by hand; nothing here is asserted by the tests.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

REQUESTS: list[dict[str, Any]] = [
    {"depth": 5_000, "width": 1, "batch_size": 7_400, "weight_variance": 1},
    {"depth": 14, "width": 1000, "batch_size": 1000, "init": "he_normal"},
    {
        "depth": 75,
        "width": 256,
        "batch_size": 1024,
        "init": "he_normal",
        "activation": "gelu",
        "normalization": "layer",
        "backward": True,
    },
    {"depth": 10, "width": 3000, "batch_size": 2, "init": "he_normal"},
    {"depth": 1, "width": 4096, "batch_size": 800, "init": "he_normal"},
]

CHILD = """
import json, resource, sys, time, tracemalloc
from service.config import Settings
from service.numerics.monte_carlo_cost import monte_carlo_cost
from service.numerics.network import build_network_spec
from service.simulations import services
from service.simulations.services import SPEC_FIELDS

request = {"mode": "monte_carlo", **json.loads(sys.argv[1])}
config = Settings(database_url="sqlite://", secret_key="bench")
limits = services.SimulationLimits(
    max_memory=config.max_simulation_memory,
    max_work=config.max_simulation_work,
    max_analytic_depth=config.max_analytic_depth,
    deadline_seconds=None,
)
spec = build_network_spec(**{k: request[k] for k in SPEC_FIELDS if k in request})
cost = monte_carlo_cost(spec, request["batch_size"], backward=request.get("backward", False))
tracemalloc.start()
start, cpu = time.perf_counter(), time.process_time()
answer = services.propagate(request, limits)
seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
peak = tracemalloc.get_traced_memory()[1]
print(json.dumps({
    "seconds": seconds,
    "cpu": cpu,
    "traced_peak": peak,
    "max_rss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    "estimated_memory": cost.memory_bytes,
    "estimated_work": cost.work,
    "body": len(answer.body),
}))
"""


def main() -> None:
    print("| request | wall | CPU | traced peak | max RSS | estimated memory | estimated work |")
    print("|---|---|---|---|---|---|---|")
    for request in REQUESTS:
        output = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(request)],
            capture_output=True,
            text=True,
        )
        if output.returncode != 0:
            print(f"| `{json.dumps(request)}` | failed: {output.stderr.strip()[-300:]} |")
            continue
        row = json.loads(output.stdout.strip().splitlines()[-1])
        mib = 2**20
        print(
            f"| `{json.dumps(request)}` | {row['seconds']:.2f} s | {row['cpu']:.2f} s "
            f"| {row['traced_peak'] / mib:.0f} MiB | {row['max_rss'] / mib:.0f} MiB "
            f"| {row['estimated_memory'] / mib:.0f} MiB | {row['estimated_work']:.3g} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
