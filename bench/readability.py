"""The readability rule (bench/notes.md): an optimization that adds code stays only if it moves
a goal row by more than that row's noise. Each optimization is measured with and without on
the goal row it serves, in one invocation: the service and `bench.variants` servers (the service
without one optimization each) under the same load, rounds interleaved.

- quiz flow, SQLite WAL and PostgreSQL, 32 clients: without `answers` (the quiz goal row's
  figure is throughput, so its time a request 1 / throughput);
- GET /v1/quizzes/{slug}, SQLite, 32 clients: without each name in GET (none left);
- analytic 10,000 layers cold, sequential: without `row-splicing`.

bench/notes.md (sixth round) keeps the figures of the optimizations this measured and that were
removed since (schema instances kept, the cookie-less session, the analytic answer cache, the
per-seed instances cache).
Read the server CPU a request first: on a loaded machine throughput noise hides changes under
~20% (bench/notes.md, sixth round).
"""

from __future__ import annotations

from bench.client import Http, LoadResult
from bench.common import Context, Table, prepare_database, sqlite_url
from bench.propagation import ANALYTIC_DEPTH, cold_analytic
from bench.quizzes import CLIENTS, Target, get_quiz_flow, measure, postgres_database, quiz_flow
from bench.server import Server, serving
from bench.stats import interleave, median, pair_ratio

FLOW = ("answers",)
GET: tuple[str, ...] = ()  # the cookie-less session was measured here, then removed
ANALYTIC = ("row-splicing",)


def _variant(context: Context, name: str, database_url: str, tag: str = "") -> Server:
    return context.server(
        f"without-{name}{tag}",
        "bench.variants:create_app()",
        DATABASE_URL=database_url,
        BENCH_WITHOUT=name,
    )


def _load_row(
    table: Table, row: str, results: dict[str, list[LoadResult]], name: str, base: str
) -> None:
    """without / with as time a request (1 / throughput) and as server CPU a request."""
    per_round = [w.rps / r.rps for w, r in zip(results[base], results[name], strict=True) if r.rps]
    spread = (max(per_round) - min(per_round)) / median(per_round) if len(per_round) > 1 else 0
    rps = median([r.rps for r in results[base]])
    rps_without = median([r.rps for r in results[name]])
    cpu = median([r.server_cpu_per_request for r in results[base]]) * 1e3
    cpu_without = median([r.server_cpu_per_request for r in results[name]]) * 1e3
    table.rows.append(
        [
            name.removeprefix("without "),
            row,
            f"{1e3 / rps:.2f} ms ({cpu:.2f} ms CPU)",
            f"{1e3 / rps_without:.2f} ms ({cpu_without:.2f} ms CPU)",
            f"{rps / rps_without:.3f} ({cpu_without / cpu:.3f})",
            f"±{spread * 50:.0f}%",
        ]
    )


def _flow_rows(context: Context, table: Table, database: str, backend: str) -> None:
    tag = "-" + backend.split()[0].lower()
    service = context.service(f"readability-service{tag}", database)
    variants = {name: _variant(context, name, database, tag) for name in FLOW}
    with serving(service, *variants.values()):
        targets = [Target("service", service, quiz_flow(), 3)]
        targets += [Target(f"without {n}", variants[n], quiz_flow(), 3) for n in FLOW]
        context.say(f"readability: quiz flow, {backend}, {len(targets)} servers")
        results = measure(
            context,
            targets,
            clients=CLIENTS,
            rounds=context.reps(5, 2),
            seconds=context.reps(3.0, 1.5),
        )
        if GET and backend.startswith("SQLite"):
            targets = [Target("service", service, get_quiz_flow())]
            targets += [Target(f"without {n}", variants[n], get_quiz_flow()) for n in GET]
            gets = measure(
                context,
                targets,
                clients=CLIENTS,
                rounds=context.reps(5, 2),
                seconds=context.reps(3.0, 1.5),
            )
            for name in GET:
                _load_row(table, f"GET quiz, {backend}", gets, f"without {name}", "service")
    for name in FLOW:
        _load_row(table, f"quiz flow, {backend}", results, f"without {name}", "service")


def run(context: Context) -> None:
    table = Table(
        "Readability rule: each optimization with and without, on the goal row it serves",
        ["without", "row", "with", "without", "without / with (CPU)", "noise"],
        note="Quiz rows: time a request = 1 / throughput at 32 clients, server CPU a request in "
        "brackets; analytic: wall time of a sequential request. Noise: half the range (load "
        "rows) or half the IQR (analytic) of the per-round ratios.",
    )
    database = sqlite_url(context, "readability")
    prepare_database(context, database)
    _flow_rows(context, table, database, "SQLite WAL")
    with postgres_database(context, "readability") as postgres:
        if postgres:
            prepare_database(context, postgres)
            _flow_rows(context, table, postgres, "PostgreSQL")

    service = context.service("readability-analytic", database)
    variants = {name: _variant(context, name, database) for name in ANALYTIC}
    with serving(service, *variants.values()):
        path = "/v1/simulations/propagation"
        connections = {"service": Http(service.port)}
        connections |= {name: Http(variants[name].port) for name in ANALYTIC}
        context.say("readability: analytic cold")
        samples = interleave(
            {name: cold_analytic(http, path, "input") for name, http in connections.items()},
            repeats=context.reps(15, 5),
            budget_s=context.reps(30, 8),
        )
        for http in connections.values():
            http.close()
    for name in ANALYTIC:
        ratio, noise = pair_ratio(samples[name], samples["service"])
        table.rows.append(
            [
                name,
                f"analytic {ANALYTIC_DEPTH} layers cold",
                f"{median(samples['service']) * 1e3:.1f} ms",
                f"{median(samples[name]) * 1e3:.1f} ms",
                f"{ratio:.3f}",
                f"±{noise * 50:.0f}%",
            ]
        )
    context.tables.append(table)
