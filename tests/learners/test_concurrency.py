"""Racing requests: one quiz start opens one attempt, one attempt is submitted once.

Threads share nothing but the database, as gunicorn workers do; the database constraints and
the conditional UPDATE are what must hold (the multi-process version is in tests/reliability)."""

from __future__ import annotations

import threading
from collections import Counter

from flask import Flask
from sqlalchemy import func, select

from service.learners.models import Attempt
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, register, seed_sample

pytestmark = all_backends
RACERS = 16


def race(app: Flask, method: str, url: str, **kwargs: object) -> list:
    barrier = threading.Barrier(RACERS)
    responses: list = [None] * RACERS

    def run(index: int) -> None:
        client = app.test_client()
        barrier.wait()
        response = getattr(client, method)(url, **kwargs)
        responses[index] = (response.status_code, response.json)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return responses


def count_attempts(app: Flask, **filters: object) -> int:
    with app.extensions["database"].sessionmaker() as session, session.begin():
        query = select(func.count()).select_from(Attempt).filter_by(**filters)
        return session.scalar(query) or 0


def test_racing_starts_open_exactly_one_attempt(app: Flask) -> None:
    seed_sample(app)
    _, auth = register(app.test_client())
    responses = race(app, "post", "/v1/quizzes/sample-quiz/attempts", headers=auth)
    statuses = Counter(status for status, _ in responses)
    assert statuses == {201: 1, 200: RACERS - 1}
    assert len({body["id"] for _, body in responses}) == 1
    assert count_attempts(app) == 1


def test_racing_submissions_grade_exactly_once(app: Flask) -> None:
    seed_sample(app)
    client = app.test_client()
    _, auth = register(client)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    responses = race(
        app,
        "post",
        f"/v1/attempts/{attempt['id']}/submission",
        json={"answers": ALL_RIGHT},
        headers=auth,
    )
    statuses = Counter(status for status, _ in responses)
    assert statuses == {200: 1, 409: RACERS - 1}
    assert count_attempts(app, status="submitted") == 1
    stored = client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json
    winner = next(body for status, body in responses if status == 200)
    assert stored["submitted_at"] == winner["submitted_at"]


def test_racing_submissions_with_one_idempotency_key_all_get_the_result(app: Flask) -> None:
    seed_sample(app)
    client = app.test_client()
    _, auth = register(client)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    responses = race(
        app,
        "post",
        f"/v1/attempts/{attempt['id']}/submission",
        json={"answers": ALL_RIGHT},
        headers={**auth, "Idempotency-Key": "double-click"},
    )
    assert Counter(status for status, _ in responses) == {200: RACERS}
    assert len({body["submitted_at"] for _, body in responses}) == 1
