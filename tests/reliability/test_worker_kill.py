"""A gunicorn worker killed with SIGKILL in the middle of a load: requests in flight on it may
fail, but no committed attempt is lost, none is left half-written, and the service keeps
answering (the master replaces the worker; clients retry, submissions with an Idempotency-Key)."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime

import pytest
from sqlalchemy import create_engine, func, select

from service.learners.models import Attempt, Learner
from service.xapi.models import XapiStatement
from tests.reliability.conftest import ServerFactory
from tests.reliability.servers import (
    GunicornServer,
    Journey,
    KeepAliveClient,
    SeededDatabase,
    take_quiz,
)

pytestmark = pytest.mark.slow

JOURNEYS = 600
CLIENTS = 24
WORKERS = 4
KILLS = 2
RETRIES = 3
DEADLINE_SECONDS = 180  # under pytest-timeout's 300 s, so the teardown still runs


@dataclass(frozen=True)
class Kill:
    victim: int
    connections: int  # client connections the victim was serving when it died
    workers_after: list[int]


def kill_workers_during(
    server: GunicornServer, progress: Counter[str], stop: threading.Event
) -> list[Kill]:
    """SIGKILL the busiest worker each time another 1/(KILLS+1) of the journeys is done, then
    wait for the master to replace it."""
    kills: list[Kill] = []
    for number in range(1, KILLS + 1):
        threshold = JOURNEYS * number // (KILLS + 1)
        while progress["done"] < threshold and not stop.is_set():
            time.sleep(0.02)
        if stop.is_set():
            break
        connections = server.client_connections()
        victim = max(connections, key=lambda pid: connections[pid])
        os.kill(victim, signal.SIGKILL)
        deadline = time.monotonic() + 30
        workers = server.worker_pids()
        while time.monotonic() < deadline and (victim in workers or len(workers) < WORKERS):
            time.sleep(0.05)
            workers = server.worker_pids()
        kills.append(Kill(victim, connections[victim], workers))
    return kills


def test_a_killed_worker_loses_no_committed_attempt(
    seeded_database: SeededDatabase, start_server: ServerFactory
) -> None:
    server = start_server(seeded_database.url, workers=WORKERS)
    slugs = seeded_database.quiz_slugs
    deadline = time.monotonic() + DEADLINE_SECONDS
    progress: Counter[str] = Counter()
    lock = threading.Lock()
    local = threading.local()
    journeys = [Journey(index) for index in range(JOURNEYS)]

    def run(journey: Journey) -> None:
        if time.monotonic() < deadline:
            if not hasattr(local, "client"):
                local.client = KeepAliveClient(server.base_url, timeout=60)
            take_quiz(
                local.client,
                journey,
                slugs[journey.index % len(slugs)],
                idempotency_key=f"kill-test-{journey.index}",
                retries=RETRIES,
            )
        with lock:
            progress["done"] += 1

    stop = threading.Event()
    kills: list[Kill] = []
    killer = threading.Thread(
        target=lambda: kills.extend(kill_workers_during(server, progress, stop)), daemon=True
    )
    killer.start()
    try:
        with ThreadPoolExecutor(max_workers=CLIENTS) as pool:
            list(pool.map(run, journeys))
    finally:
        stop.set()
        killer.join(timeout=60)

    # The master replaced every victim and the service answers.
    assert len(kills) == KILLS, kills
    for kill in kills:
        assert kill.connections > 0, "the victim was serving no client"
        assert kill.victim not in kill.workers_after
        assert len(kill.workers_after) == WORKERS, kill
    assert server.ready()
    failed_steps = Counter(name for j in journeys for name, status in j.steps if status == 0)
    server_errors = Counter(name for j in journeys for name, status in j.steps if status >= 500)
    # The victims' clients lost their connections: the kills were felt, not missed.
    assert failed_steps, "no request failed: the kills hit nothing in flight"
    # With retries every learner got through (a step may have failed in flight, then succeeded).
    unfinished = [j for j in journeys if not j.submitted]
    assert not unfinished, [(j.index, j.steps, j.errors[:2]) for j in unfinished[:5]]

    engine = create_engine(seeded_database.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(
                    Attempt.id,
                    Attempt.learner_id,
                    Attempt.status,
                    Attempt.submitted_at,
                    Attempt.answers,
                    Attempt.result,
                    Attempt.score,
                    Attempt.max_score,
                    Attempt.passed,
                )
            ).all()
            statements = dict(
                connection.execute(
                    select(XapiStatement.attempt_id, func.count()).group_by(
                        XapiStatement.attempt_id
                    )
                ).all()
            )
            learners = connection.scalar(select(func.count()).select_from(Learner)) or 0
    finally:
        engine.dispose()

    # No attempt half-written: a submitted one has all its grading and its statements, an open
    # one none of it.
    for row in rows:
        graded = (row.submitted_at, row.answers, row.result, row.score, row.max_score, row.passed)
        if row.status == "submitted":
            assert all(value is not None for value in graded), row
            assert statements.get(row.id, 0) > 0, f"attempt {row.id} has no xAPI statements"
        else:
            assert all(value is None for value in graded), row
    # No committed attempt lost, none duplicated.
    stored = {str(row.id): row for row in rows}
    assert len(stored) == JOURNEYS, f"{len(stored)} attempt rows for {JOURNEYS} learners"
    assert Counter(row.learner_id for row in rows).most_common(1)[0][1] == 1
    for journey in journeys:
        row = stored[journey.attempt_id]
        assert str(row.learner_id) == journey.learner_id
        assert row.status == "submitted"
        assert row.score == journey.score
        assert journey.submitted_at is not None
        assert row.submitted_at == datetime.fromisoformat(journey.submitted_at)
    requests = sum(len(j.steps) for j in journeys)
    backend = server.env["DATABASE_URL"].split(":")[0]
    print(
        f"\nworker kill: {KILLS} of {WORKERS} workers SIGKILLed (serving "
        f"{[kill.connections for kill in kills]} client connections) during {requests} "
        f"requests from {CLIENTS} clients on {backend}; failed in flight "
        f"{dict(failed_steps)}, 5xx {dict(server_errors)}; {len(rows)} attempt rows checked, "
        f"{learners - JOURNEYS} learners registered by a request whose answer was lost"
    )
