"""Goal 4: how the figures grow with array size (1e4..1e7), depth (10..1000) and concurrent
clients (1..64). Each cell is a median of interleaved repetitions; the ratio columns are the
same ratios as the headline goals, at that size."""

from __future__ import annotations

import functools

from bench.client import Http
from bench.common import Context, Table, prepare_database, sqlite_url
from bench.normalize import activations, json_body, npy_bytes
from bench.normalize_kernels import compare_with_torch
from bench.propagation import analytic_body, bare_chain, cold_analytic, monte_carlo_body
from bench.quizzes import (
    Target,
    get_quiz_flow,
    hello_flow,
    measure,
    postgres_database,
    quiz_flow,
)
from bench.server import serving
from bench.stats import interleave, median, timed

NPY = {"Content-Type": "application/x-npy", "Accept": "application/x-npy"}
JSON = {"Content-Type": "application/json", "Accept": "application/json"}
MC_WIDTH = 128  # width and batch of the depth sweep: 1000 layers of 512 would take minutes
BIG_LIMITS = {
    "MAX_ARRAY_ELEMENTS": str(1 << 24),
    "MAX_CONTENT_LENGTH": str(256 << 20),
    "MAX_SIMULATION_WORK": "1e12",
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:.1f}" if seconds < 1 else f"{seconds * 1e3:.0f}"


def array_sizes(context: Context) -> None:
    sizes = (
        (10_000, 100_000, 1_000_000) if context.quick else (10_000, 100_000, 1_000_000, 10_000_000)
    )
    table = Table(
        "Scaling with array size (layer norm over a last axis of 64, float32; ms)",
        [
            "elements",
            ".npy service",
            ".npy bare",
            "ratio (goal <= 1.5)",
            "JSON service",
            "JSON naive",
            "ratio (goal <= 0.5)",
            "kernel",
            "torch (best)",
            "ratio (goal <= 1)",
        ],
        note="JSON at 1e7 elements (a 110 MB body) runs once per side.",
    )
    service = context.service("scaling-arrays", sqlite_url(context, "scaling-arrays"), **BIG_LIMITS)
    baseline = context.baseline("scaling-baseline")
    with serving(service, baseline):
        ours, bare = Http(service.port), Http(baseline.port)
        for size in sizes:
            x = activations((size // 64, 64))
            context.say(f"scaling: {size:.0e} elements")
            npy = npy_bytes(x)
            fast = interleave(
                {
                    "service": ours.timed("POST", "/v1/normalize/layer", npy, NPY),
                    "bare": bare.timed("POST", "/npy/layer", npy, NPY),
                },
                repeats=context.reps(15, 5) if size <= 1_000_000 else context.reps(5, 3),
                budget_s=context.reps(6, 2),
            )
            body = json_body(x)
            once = size >= 10_000_000
            slow = interleave(
                {
                    "service": ours.timed("POST", "/v1/normalize/layer", body, JSON),
                    "naive": bare.timed("POST", "/naive/layer", body, JSON),
                },
                repeats=1 if once else context.reps(5, 3),
                budget_s=context.reps(8, 3),
                warmup=0 if once else 1,
            )
            rounds = context.reps(15, 5)
            (torch,) = compare_with_torch(
                x, x, rounds=rounds, budget_s=2, only=("layer",), directions=("forward",)
            )
            best = min(torch["torch"], torch["torch1"])
            s, b = median(fast["service"]), median(fast["bare"])
            js, jn = median(slow["service"]), median(slow["naive"])
            table.rows.append(
                [
                    f"{size:.0e}",
                    _ms(s),
                    _ms(b),
                    f"{s / b:.2f}",
                    _ms(js),
                    _ms(jn),
                    f"{js / jn:.2f}",
                    _ms(torch["kernel"]),
                    _ms(best),
                    f"{torch['kernel'] / best:.2f}",
                ]
            )
        ours.close()
        bare.close()
    context.tables.append(table)


def depths(context: Context) -> None:
    table = Table(
        "Scaling with depth (ms)",
        [
            "depth",
            f"Monte Carlo service ({MC_WIDTH}x{MC_WIDTH})",
            "numpy chain + bare request",
            "ratio (goal <= 1.3)",
            "analytic service (cold)",
            "same-size bare request",
            "ratio (goal <= 1.05)",
            "analytic response",
        ],
    )
    service = context.service("scaling-depth", sqlite_url(context, "scaling-depth"), **BIG_LIMITS)
    baseline = context.baseline("scaling-depth-baseline")
    path = "/v1/simulations/propagation"
    with serving(service, baseline):
        ours, bare = Http(service.port), Http(baseline.port)
        for depth in (10, 100, 1000):
            context.say(f"scaling: depth {depth}")
            body = monte_carlo_body(depth, MC_WIDTH, MC_WIDTH)
            size = len(ours.request("POST", path, body, JSON)[2])
            mc = interleave(
                {
                    "service": ours.timed("POST", path, body, JSON),
                    "chain": timed(functools.partial(bare_chain, depth, MC_WIDTH, MC_WIDTH)),
                    "bare": bare.timed("GET", f"/bytes/{size}"),
                },
                repeats=context.reps(7, 3),
                budget_s=context.reps(10, 4),
            )
            body = analytic_body(depth)
            size = len(ours.request("POST", path, body, JSON)[2])
            an = interleave(
                {
                    # cold: every request distinct, as in the propagation scenario
                    "service": cold_analytic(ours, path, "input", depth),
                    "bare": bare.timed("GET", f"/bytes/{size}"),
                },
                repeats=context.reps(15, 5),
                budget_s=context.reps(5, 2),
            )
            s = median(mc["service"])
            b = median(mc["chain"]) + median(mc["bare"])
            a, ab = median(an["service"]), median(an["bare"])
            table.rows.append(
                [
                    str(depth),
                    _ms(s),
                    _ms(b),
                    f"{s / b:.2f}",
                    _ms(a),
                    _ms(ab),
                    f"{a / ab:.1f}",
                    f"{size / 1e3:.0f} kB",
                ]
            )
        ours.close()
        bare.close()
    context.tables.append(table)


def clients(context: Context) -> None:
    counts = (1, 4, 16, 64) if context.quick else (1, 4, 16, 32, 64)
    table = Table(
        "Scaling with concurrent clients (req/s, p99 ms in brackets)",
        [
            "clients",
            "hello",
            "quiz flow SQLite",
            "quiz flow PostgreSQL",
            "GET quiz SQLite",
            "quiz / hello",
            "GET / hello",
            "errors",
        ],
    )
    sqlite = sqlite_url(context, "scaling-clients")
    prepare_database(context, sqlite)
    with postgres_database(context, "scaling") as postgres:
        if postgres:
            prepare_database(context, postgres)
        hello = context.baseline("scaling-hello")
        servers = [context.service("scaling-sqlite", sqlite)]
        if postgres:
            servers.append(context.service("scaling-postgres", postgres))
        with serving(hello, *servers):
            for count in counts:
                context.say(f"scaling: {count} clients")
                targets = [
                    Target("hello", hello, hello_flow()),
                    Target("sqlite", servers[0], quiz_flow(), 3),
                    Target("get", servers[0], get_quiz_flow()),
                ]
                if postgres:
                    targets.append(Target("postgres", servers[1], quiz_flow(), 3))
                results = measure(
                    context, targets, clients=count, rounds=1, seconds=context.reps(2.5, 1.5)
                )
                rps = {k: median([r.rps for r in v]) for k, v in results.items()}
                p99 = {k: median([r.percentile(99) for r in v]) * 1e3 for k, v in results.items()}
                errors = sum(r.errors for v in results.values() for r in v)

                cells = {k: f"{rps[k]:.0f} ({p99[k]:.0f})" for k in rps}
                table.rows.append(
                    [
                        str(count),
                        cells.get("hello", "n/a"),
                        cells.get("sqlite", "n/a"),
                        cells.get("postgres", "n/a"),
                        cells.get("get", "n/a"),
                        f"{rps['sqlite'] / rps['hello']:.3f}",
                        f"{rps['get'] / rps['hello']:.3f}",
                        str(errors),
                    ]
                )
    context.tables.append(table)


def run(context: Context) -> None:
    array_sizes(context)
    depths(context)
    clients(context)
