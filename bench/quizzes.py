"""Goal 3: quiz traffic at 32 concurrent clients against SQLite (WAL) and PostgreSQL.

A flow is what a new learner does: register, start an attempt, submit answers (3 requests).
The goal row compares the flow with its floor (`bench/floors.py`): a bare Flask app on the same
gunicorn set-up replaying the SQL the service sends for a flow (captured from the service itself)
through the same driver and pool, with no validation, grading or events; time a request
(1 / throughput) service / floor, <= 1.5. The flow against hello world is kept as information
(the old baseline). GET /v1/quizzes/{slug} is measured plain (200 with the body) and conditional
(If-None-Match: 304) against hello world. All targets run in interleaved rounds under the same
load client; p99 latency, errors and the servers' CPU per request are reported.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass

import orjson

from bench.client import Flow, LoadResult, Recorder, run_load
from bench.common import Check, Context, prepare_database, sqlite_url
from bench.floors import capture, save
from bench.server import Server, serving
from bench.stats import Ratio, median

SLUG = "activation-distribution"
SECRET_KEY = "bench-" + "0" * 40
CLIENTS = 32
UNCACHED = "GET quiz, SQLite, QUIZ_CACHE_SECONDS=0"
FLOOR_SQLITE = "floor, SQLite"
FLOOR_POSTGRES = "floor, PostgreSQL"
POSTGRES_ADMIN = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
JSON = {"Content-Type": "application/json"}


def hello_flow() -> Flow:
    async def flow(recorder: Recorder) -> bool:
        await recorder.call("GET", "/hello")
        return True

    return flow


def _answers(questions: list[dict[str, object]]) -> dict[str, object]:
    """A plausible answer to every question (right or wrong does not matter here)."""
    answers: dict[str, object] = {}
    for question in questions:
        kind, choices = question.get("type"), question.get("choices") or []
        first = choices[0]["id"] if choices else None  # type: ignore[index]
        if kind == "single_choice":
            answers[str(question["id"])] = first
        elif kind == "multiple_choice":
            answers[str(question["id"])] = [first]
        elif kind == "true_false":
            answers[str(question["id"])] = True
        else:
            answers[str(question["id"])] = "1"
    return answers


def quiz_flow(slug: str = SLUG) -> Flow:
    """register -> start an attempt -> submit; a failed step ends the flow (counted)."""

    async def flow(recorder: Recorder) -> bool:
        registered = await recorder.call(
            "POST", "/v1/learners", b'{"display_name": "bench"}', JSON, expect=(201,)
        )
        if registered is None:
            return True
        auth = {"Authorization": "Bearer " + orjson.loads(registered)["token"]}
        started = await recorder.call(
            "POST", f"/v1/quizzes/{slug}/attempts", b"", auth, expect=(201,)
        )
        if started is None:
            return True
        attempt = orjson.loads(started)
        body = orjson.dumps({"answers": _answers(attempt["questions"])})
        await recorder.call(
            "POST",
            f"/v1/attempts/{attempt['id']}/submission",
            body,
            {**JSON, **auth},
            expect=(200,),
        )
        return True

    return flow


def get_quiz_flow(etag: str | None = None, slug: str = SLUG) -> Flow:
    headers = {"If-None-Match": etag} if etag else {}
    expect = (304,) if etag else (200,)

    async def flow(recorder: Recorder) -> bool:
        await recorder.call("GET", f"/v1/quizzes/{slug}", b"", headers, expect=expect)
        return True

    return flow


@contextlib.contextmanager
def postgres_database(context: Context, name: str) -> Iterator[str | None]:
    """A fresh database on the local PostgreSQL (dropped afterwards); None if unreachable."""
    try:
        import psycopg
    except ImportError:
        yield None
        return
    database = f"activation_lab_bench_{name}_{os.getpid()}"
    try:
        admin = psycopg.connect(
            "host=127.0.0.1 port=5432 user=postgres dbname=postgres",
            autocommit=True,
            connect_timeout=3,
        )
    except psycopg.OperationalError as exc:
        context.notes.append(f"PostgreSQL at 127.0.0.1:5432 unreachable ({exc}); skipped")
        yield None
        return
    with admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{database}"')
        try:
            yield f"postgresql+psycopg://postgres@127.0.0.1:5432/{database}"
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')


@dataclass
class Target:
    label: str
    server: Server
    flow: Flow
    requests_per_flow: int = 1


def measure(
    context: Context, targets: list[Target], *, clients: int, rounds: int, seconds: float
) -> dict[str, list[LoadResult]]:
    """Interleaved rounds: each target in turn under `clients` concurrent clients."""
    results: dict[str, list[LoadResult]] = {t.label: [] for t in targets}
    for target in targets:  # warm-up: caches, connection pools, imports
        run_load(target.server.port, target.flow, clients=clients, duration_s=min(1.0, seconds))
    for round_index in range(rounds):
        shift = round_index % len(targets)
        for target in targets[shift:] + targets[:shift]:
            cpu_before = target.server.cpu_seconds()
            result = run_load(target.server.port, target.flow, clients=clients, duration_s=seconds)
            result.server_cpu_s = target.server.cpu_seconds() - cpu_before
            results[target.label].append(result)
    return results


def etag_of(server: Server, slug: str = SLUG) -> str:
    from bench.client import Http

    http = Http(server.port)
    try:
        _, headers, _ = http.request("GET", f"/v1/quizzes/{slug}")
    finally:
        http.close()
    return headers["etag"]


def summarize(
    context: Context,
    results: dict[str, list[LoadResult]],
    hello: str,
    subjects: list[tuple[str, str, float]],
    scenario: str = "3 quizzes",
    information: bool = False,
) -> None:
    hello_rps = median([r.rps for r in results[hello]])
    for label, figure, goal in subjects:
        runs = results[label]
        rps = median([r.rps for r in runs])
        per_round = [r.rps / h.rps for r, h in zip(runs, results[hello], strict=False) if h.rps]
        noise = (max(per_round) - min(per_round)) / median(per_round) if len(per_round) > 1 else 0
        p99 = median([r.percentile(99) for r in runs]) * 1e3
        p50 = median([r.percentile(50) for r in runs]) * 1e3
        cpu = median([r.server_cpu_per_request for r in runs]) * 1e3
        hello_cpu = median([r.server_cpu_per_request for r in results[hello]]) * 1e3
        errors = sum(r.errors for r in runs)
        requests = sum(r.requests for r in runs)
        context.ratios.append(
            Ratio(
                scenario,
                figure,
                label,
                "hello world",
                rps,
                hello_rps,
                goal=goal,
                higher_is_better=True,
                unit="req/s",
                noise=noise,
                note=f"p50 {p50:.0f} ms, p99 {p99:.0f} ms; server CPU {cpu:.2f} ms a request "
                f"(hello {hello_cpu:.2f})",
                information=information,
            )
        )
        samples = [s for r in runs for s in r.error_samples][:2]
        context.checks.append(
            Check(
                scenario,
                f"{label}: errors",
                f"{errors} of {requests} requests",
                "0",
                errors == 0,
                note="; ".join(samples),
            )
        )


def floor_server(context: Context, name: str, database_url: str) -> Server:
    """The bare replay of the service's own SQL for one flow on `database_url` (captured there)."""
    trace = capture(database_url, SECRET_KEY, SLUG, _answers)
    path = context.workdir / f"{name}.trace"
    save(trace, path)
    context.say(
        f"quizzes: {name}: statements per request "
        + ", ".join(f"{endpoint} {trace.statements(endpoint)}" for endpoint in trace.steps)
    )
    return context.server(
        name, "bench.floors:create_app()", DATABASE_URL=database_url, BENCH_FLOOR_TRACE=str(path)
    )


def summarize_floors(
    context: Context, results: dict[str, list[LoadResult]], pairs: list[tuple[str, str, str]]
) -> None:
    """Goal rows: time a request (1 / throughput) of the service's flow over its floor's."""
    for label, floor, backend in pairs:
        runs, floors = results[label], results[floor]
        per_round = [f.rps / r.rps for r, f in zip(runs, floors, strict=True) if r.rps]
        noise = (max(per_round) - min(per_round)) / median(per_round) if len(per_round) > 1 else 0
        rps, floor_rps = median([r.rps for r in runs]), median([r.rps for r in floors])
        cpu = median([r.server_cpu_per_request for r in runs]) * 1e3
        floor_cpu = median([r.server_cpu_per_request for r in floors]) * 1e3
        context.ratios.append(
            Ratio(
                "3 quizzes",
                f"start + submit (+ register), {backend}, service / bare replay of its SQL",
                label,
                floor,
                1e3 / rps,
                1e3 / floor_rps,
                goal=1.5,
                unit="ms a request (1 / throughput)",
                noise=noise,
                note=f"{rps:.0f} against {floor_rps:.0f} req/s; p99 "
                f"{median([r.percentile(99) for r in runs]) * 1e3:.0f} against "
                f"{median([r.percentile(99) for r in floors]) * 1e3:.0f} ms; server CPU "
                f"{cpu:.2f} against {floor_cpu:.2f} ms a request ({cpu / floor_cpu:.2f}x)",
            )
        )
        errors = sum(r.errors for r in floors)
        context.checks.append(
            Check(
                "3 quizzes",
                f"{floor}: errors",
                f"{errors} of {sum(r.requests for r in floors)} requests",
                "0",
                errors == 0,
                note="; ".join([s for r in floors for s in r.error_samples][:2]),
            )
        )


def run(context: Context) -> None:
    sqlite = sqlite_url(context, "quizzes")
    prepare_database(context, sqlite)
    with postgres_database(context, "quizzes") as postgres:
        if postgres:
            prepare_database(context, postgres)
        servers = [context.service("quizzes-sqlite", sqlite)]
        floors = [floor_server(context, "floor-sqlite", sqlite)]
        if postgres:
            servers.append(context.service("quizzes-postgres", postgres))
            floors.append(floor_server(context, "floor-postgres", postgres))
        # The same service reading the database on every GET: what the 1 s cache is worth.
        uncached = context.service("quizzes-sqlite-uncached", sqlite, QUIZ_CACHE_SECONDS="0")
        hello = context.baseline("hello")
        with serving(hello, *servers, *floors, uncached):
            sqlite_server = servers[0]
            etag = etag_of(sqlite_server)
            targets = [
                Target("hello", hello, hello_flow()),
                Target("quiz flow, SQLite", sqlite_server, quiz_flow(), 3),
                Target(FLOOR_SQLITE, floors[0], quiz_flow(), 3),
                Target("GET quiz, SQLite", sqlite_server, get_quiz_flow()),
                Target("GET quiz 304, SQLite", sqlite_server, get_quiz_flow(etag)),
                Target(UNCACHED, uncached, get_quiz_flow()),
            ]
            if postgres:
                targets.insert(3, Target("quiz flow, PostgreSQL", servers[1], quiz_flow(), 3))
                targets.insert(4, Target(FLOOR_POSTGRES, floors[1], quiz_flow(), 3))
                targets.append(Target("GET quiz, PostgreSQL", servers[1], get_quiz_flow()))
            context.say(f"quizzes: {CLIENTS} clients, {len(targets)} targets")
            results = measure(
                context,
                targets,
                clients=CLIENTS,
                rounds=context.reps(5, 2),
                seconds=context.reps(3.0, 1.5),
            )
    pairs = [("quiz flow, SQLite", FLOOR_SQLITE, "SQLite WAL")]
    if postgres:
        pairs.append(("quiz flow, PostgreSQL", FLOOR_POSTGRES, "PostgreSQL"))
    summarize_floors(context, results, pairs)
    old = [
        ("quiz flow, SQLite", "start + submit (+ register), SQLite WAL / hello (old baseline)", 0.3)
    ]
    if postgres:
        old.append(
            (
                "quiz flow, PostgreSQL",
                "start + submit (+ register), PostgreSQL / hello (old baseline)",
                0.3,
            )
        )
    summarize(context, results, "hello", old, information=True)
    subjects = [("GET quiz, SQLite", "GET /v1/quizzes/{slug} (200), SQLite / hello", 0.6)]
    if postgres:
        subjects.append(
            ("GET quiz, PostgreSQL", "GET /v1/quizzes/{slug} (200), PostgreSQL / hello", 0.6)
        )
    subjects.append(
        ("GET quiz 304, SQLite", "GET /v1/quizzes/{slug} If-None-Match (304) / hello", 0.6)
    )
    summarize(context, results, "hello", subjects)
    hello_rps = median([r.rps for r in results["hello"]])
    uncached_rps = median([r.rps for r in results[UNCACHED]])
    for ratio in context.ratios:
        if ratio.subject == "GET quiz, SQLite":
            ratio.note += (
                f"; with QUIZ_CACHE_SECONDS=0 (a query per GET) {uncached_rps / hello_rps:.2f}"
            )
