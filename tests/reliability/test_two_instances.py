"""Two service instances (separate gunicorn masters) on one PostgreSQL database: exactly-once
holds across them, because it lives in the database (a conditional UPDATE, a partial unique
index), not in any process. 16 racers are spread over both instances, released together."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from typing import Any

import pytest
from sqlalchemy import create_engine, select

from service.learners.models import Attempt
from tests.reliability.conftest import ServerFactory
from tests.reliability.servers import (
    GunicornServer,
    KeepAliveClient,
    SeededDatabase,
    answers_for,
    json_body,
)

pytestmark = pytest.mark.slow

RACERS = 16
ROUNDS = 4


def race(
    servers: list[GunicornServer],
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> list[tuple[int, dict[str, str], Any]]:
    """RACERS identical requests, alternately to each server, on connections opened (and
    warmed) beforehand and released by one barrier."""
    clients = [
        KeepAliveClient(servers[i % len(servers)].base_url, timeout=60) for i in range(RACERS)
    ]
    for client in clients:
        status, _, _ = client.request("GET", "/health/live")
        assert status == 200
    barrier = threading.Barrier(RACERS)
    answers: list[Any] = [None] * RACERS

    def run(index: int) -> None:
        barrier.wait(timeout=30)
        status, response_headers, data = clients[index].request(method, path, body, headers)
        answers[index] = (status, response_headers, json_body(data))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(RACERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=90)
    for client in clients:
        client.close()
    assert all(answer is not None for answer in answers), "a racer did not finish"
    return answers


def attempt_rows(url: str, learner_id: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return list(
                connection.execute(
                    select(
                        Attempt.id, Attempt.status, Attempt.score, Attempt.idempotency_key
                    ).where(Attempt.learner_id == learner_id)
                ).all()
            )
    finally:
        engine.dispose()


def new_learner(server: GunicornServer, name: str) -> tuple[str, dict[str, str]]:
    client = KeepAliveClient(server.base_url)
    status, _, data = client.request("POST", "/v1/learners", {"display_name": name})
    client.close()
    assert status == 201
    body = json_body(data)
    return body["id"], {"Authorization": f"Bearer {body['token']}"}


@pytest.fixture
def two_instances(
    postgres_only: str, seeded_database: SeededDatabase, start_server: ServerFactory
) -> list[GunicornServer]:
    return [start_server(seeded_database.url, workers=2, name=f"instance-{i}") for i in "ab"]


def test_racing_submissions_over_two_instances_grade_exactly_once(
    two_instances: list[GunicornServer], seeded_database: SeededDatabase
) -> None:
    first, second = two_instances
    assert first.process is not None
    assert second.process is not None
    assert first.process.pid != second.process.pid
    slug = seeded_database.quiz_slugs[0]
    for round_number in range(ROUNDS):
        learner_id, auth = new_learner(first, f"Racer {round_number}")
        client = KeepAliveClient(second.base_url)
        status, _, data = client.request("POST", f"/v1/quizzes/{slug}/attempts", headers=auth)
        client.close()
        assert status == 201
        attempt = json_body(data)
        answers = race(
            two_instances,
            "POST",
            f"/v1/attempts/{attempt['id']}/submission",
            {"answers": answers_for(attempt["questions"])},
            auth,
        )
        statuses = Counter(status for status, _, _ in answers)
        assert statuses == {200: 1, 409: RACERS - 1}, statuses
        winner = next(body for status, _, body in answers if status == 200)
        assert all(
            body["status"] == 409 and body["attempt_id"] == attempt["id"]
            for status, _, body in answers
            if status == 409
        )
        rows = attempt_rows(seeded_database.url, learner_id)
        assert [(str(row.id), row.status, row.score) for row in rows] == [
            (attempt["id"], "submitted", winner["score"])
        ]


def test_racing_starts_over_two_instances_open_one_attempt(
    two_instances: list[GunicornServer], seeded_database: SeededDatabase
) -> None:
    slug = seeded_database.quiz_slugs[1]
    for round_number in range(ROUNDS):
        learner_id, auth = new_learner(two_instances[0], f"Starter {round_number}")
        answers = race(two_instances, "POST", f"/v1/quizzes/{slug}/attempts", headers=auth)
        assert Counter(status for status, _, _ in answers) == {201: 1, 200: RACERS - 1}
        assert len({body["id"] for _, _, body in answers}) == 1
        assert len(attempt_rows(seeded_database.url, learner_id)) == 1


def test_one_idempotency_key_over_two_instances_replays_one_grading(
    two_instances: list[GunicornServer], seeded_database: SeededDatabase
) -> None:
    slug = seeded_database.quiz_slugs[2]
    learner_id, auth = new_learner(two_instances[1], "Replayer")
    client = KeepAliveClient(two_instances[0].base_url)
    status, _, data = client.request("POST", f"/v1/quizzes/{slug}/attempts", headers=auth)
    client.close()
    assert status == 201
    attempt = json_body(data)
    answers = race(
        two_instances,
        "POST",
        f"/v1/attempts/{attempt['id']}/submission",
        {"answers": answers_for(attempt["questions"])},
        {**auth, "Idempotency-Key": "one-key"},
    )
    assert Counter(status for status, _, _ in answers) == {200: RACERS}
    replayed = Counter(headers.get("idempotent-replayed") for _, headers, _ in answers)
    assert replayed == {"false": 1, "true": RACERS - 1}, replayed
    assert len({(body["score"], body["submitted_at"]) for _, _, body in answers}) == 1
    rows = attempt_rows(seeded_database.url, learner_id)
    assert [(row.status, row.idempotency_key) for row in rows] == [("submitted", "one-key")]
