"""Learner events: published inside the use case's transaction to the subscribers registered
at the composition root, so a subscriber's failure rolls the use case back."""

from __future__ import annotations

import uuid

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.learners.events import AttemptSubmitted, LearnerDeleted, LearnerEvents
from service.learners.models import Learner
from service.xapi.models import XapiStatement
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, seed_sample

pytestmark = all_backends


class Boom(Exception):
    pass


def _events(app: Flask) -> LearnerEvents:
    events: LearnerEvents = app.extensions["learner_events"]
    return events


def _count(app: Flask, model: type) -> int:
    with app.extensions["database"].sessionmaker() as session, session.begin():
        return session.scalar(select(func.count()).select_from(model)) or 0


def test_a_submission_publishes_one_event_with_what_subscribers_need(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    _, auth = register(client, "Ada")
    seen: list[AttemptSubmitted] = []
    _events(app).subscribe(AttemptSubmitted, lambda _session, event: seen.append(event))
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    submitted = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    )
    assert submitted.status_code == 200
    [event] = seen
    assert event.attempt.id == uuid.UUID(attempt["id"])
    assert (event.context.slug, event.context.display_name, event.context.issuer) == (
        "sample-quiz",
        "Ada",
        None,
    )
    assert event.result["score"] == event.result["max_score"] == 4.0
    assert event.answers == ALL_RIGHT
    # A replay publishes nothing more.
    again = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    )
    assert again.status_code == 409
    assert len(seen) == 1


def test_a_failing_subscriber_rolls_the_submission_back(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)

    def fail(_session: Session, _event: AttemptSubmitted) -> None:
        raise Boom

    # Registered after the xAPI recorder: its statements are written, then rolled back.
    _events(app).subscribe(AttemptSubmitted, fail)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    failed = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    )
    assert failed.status_code == 500
    reread = client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json
    assert reread["status"] == "open"
    assert _count(app, XapiStatement) == 0


def test_deleting_a_learner_publishes_learner_deleted_in_its_transaction(
    app: Flask, client: FlaskClient
) -> None:
    learner_id, auth = register(client)
    admin = api_key(app, "admin")
    seen: list[uuid.UUID] = []

    def refuse(_session: Session, event: LearnerDeleted) -> None:
        seen.append(event.learner_id)
        raise Boom

    _events(app).subscribe(LearnerDeleted, refuse)
    assert client.delete(f"/v1/learners/{learner_id}", headers=admin).status_code == 500
    assert seen == [uuid.UUID(learner_id)]
    assert _count(app, Learner) == 1  # rolled back with the failing subscriber
    assert client.get("/v1/learners/me", headers=auth).status_code == 200


def test_deleting_a_missing_learner_publishes_nothing(app: Flask, client: FlaskClient) -> None:
    admin = api_key(app, "admin")
    seen: list[LearnerDeleted] = []
    _events(app).subscribe(LearnerDeleted, lambda _session, event: seen.append(event))
    response = client.delete(f"/v1/learners/{uuid.uuid4()}", headers=admin)
    assert response.status_code == 404
    assert seen == []
