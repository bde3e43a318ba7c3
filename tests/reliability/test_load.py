"""Load: 2,000 learners each take a quiz through 50 concurrent keep-alive clients against four
gunicorn workers; no 5xx, and the attempts table holds exactly what the clients were told."""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime

import pytest
from sqlalchemy import create_engine, func, select

from service.learners.models import Attempt, Learner
from service.xapi.models import XapiStatement
from tests.reliability.conftest import ServerFactory
from tests.reliability.servers import Journey, KeepAliveClient, SeededDatabase, take_quiz

pytestmark = pytest.mark.slow

LEARNERS = 2_000
CLIENTS = 50
WORKERS = 4
DEADLINE_SECONDS = 200  # under pytest-timeout's 300 s, so the teardown still runs


def run_journeys(
    base_url: str, slugs: tuple[str, ...], count: int, clients: int, deadline: float
) -> list[Journey]:
    """`count` journeys spread over `clients` threads, each with its own keep-alive connection."""
    local = threading.local()
    journeys = [Journey(index) for index in range(count)]

    def run(journey: Journey) -> None:
        if time.monotonic() > deadline:
            journey.errors.append("not run: the deadline passed")
            return
        if not hasattr(local, "client"):
            local.client = KeepAliveClient(base_url, timeout=60)
        take_quiz(local.client, journey, slugs[journey.index % len(slugs)])

    with ThreadPoolExecutor(max_workers=clients) as pool:
        list(pool.map(run, journeys))
    return journeys


def test_two_thousand_learners_take_a_quiz(
    seeded_database: SeededDatabase, start_server: ServerFactory
) -> None:
    server = start_server(seeded_database.url, workers=WORKERS)
    started = time.monotonic()
    journeys = run_journeys(
        server.base_url,
        seeded_database.quiz_slugs,
        LEARNERS,
        CLIENTS,
        started + DEADLINE_SECONDS,
    )
    elapsed = time.monotonic() - started

    statuses = Counter(status for journey in journeys for _, status in journey.steps)
    errors = [error for journey in journeys for error in journey.errors]
    assert not errors, f"{len(errors)} failed steps, e.g. {errors[:5]}; statuses {statuses}"
    assert statuses == {201: 2 * LEARNERS, 200: LEARNERS}, statuses
    assert all(journey.submitted for journey in journeys)

    engine = create_engine(seeded_database.url)
    try:
        with engine.connect() as connection:
            learners = connection.scalar(select(func.count()).select_from(Learner))
            by_status = dict(
                connection.execute(
                    select(Attempt.status, func.count()).group_by(Attempt.status)
                ).all()
            )
            stored = {
                str(attempt_id): (learner_id, score, submitted_at)
                for attempt_id, learner_id, score, submitted_at in connection.execute(
                    select(Attempt.id, Attempt.learner_id, Attempt.score, Attempt.submitted_at)
                ).all()
            }
            per_learner = Counter(
                connection.execute(select(Attempt.learner_id)).scalars().all()
            ).most_common(1)
            without_statements = connection.scalar(
                select(func.count())
                .select_from(Attempt)
                .where(
                    ~select(XapiStatement.id).where(XapiStatement.attempt_id == Attempt.id).exists()
                )
            )
    finally:
        engine.dispose()

    assert learners == LEARNERS
    assert by_status == {"submitted": LEARNERS}, by_status
    assert per_learner[0][1] == 1, "a learner has two attempts"
    seen = {journey.attempt_id: journey for journey in journeys}
    assert set(stored) == set(seen), "attempt rows differ from the attempts the clients saw"
    for attempt_id, (learner_id, score, submitted_at) in stored.items():
        journey = seen[attempt_id]
        assert str(learner_id) == journey.learner_id
        assert score == journey.score
        assert journey.submitted_at is not None
        assert submitted_at == datetime.fromisoformat(journey.submitted_at)
    assert without_statements == 0, "a submitted attempt has no xAPI statements"
    print(
        f"\nload: {sum(statuses.values())} requests from {CLIENTS} clients, {LEARNERS} learners, "
        f"{WORKERS} workers on {server.env['DATABASE_URL'].split(':')[0]} in {elapsed:.1f} s "
        f"({sum(statuses.values()) / elapsed:.0f} req/s); {len(stored)} attempt rows checked"
    )
