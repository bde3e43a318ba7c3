"""The statement builder (pure) and the statements a real submission stores, reads back at
GET /v1/xapi/statements and forwards to an LRS through the outbox."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from fractions import Fraction
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from ralph.models.xapi.base.statements import BaseXapiStatement

from service import create_app
from service.config import Settings
from service.outbox.queue import deliver_due
from service.outbox.wiring import app_outbox, delivery_context
from service.xapi import statements as xs
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, seed_sample
from tests.lti.platform import Lms, make_key_pair, serve

STARTED = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
ACTOR = xs.Actor("Ada", "https://lms.example", "user-1")


def _submission(score: float = 3.0, max_score: float = 4.0, passed: bool = False) -> xs.Submission:
    return xs.Submission(
        attempt_id=uuid.UUID("12345678-1234-5678-1234-567812345678"),
        attempt_number=2,
        quiz_slug="quiz-a",
        quiz_title="Quiz A",
        started_at=STARTED,
        submitted_at=STARTED + timedelta(seconds=90),
        score=score,
        max_score=max_score,
        passed=passed,
        questions=[
            xs.QuestionOutcome("q1", "multiple_choice", "Pick two", 0.5, 1.0, False, ["a", "b"]),
            xs.QuestionOutcome("q2", "true_false", "True?", 1.0, 1.0, True, True),
        ],
    )


def test_a_submission_gives_answered_per_question_then_completed_and_the_verdict() -> None:
    built = xs.build_statements(_submission(), ACTOR, base_url="https://lab.example/")
    assert [s["verb"]["id"] for s in built] == [xs.ANSWERED, xs.ANSWERED, xs.COMPLETED, xs.FAILED]
    first, second, completed, failed = built
    assert first["object"]["id"] == "https://lab.example/v1/quizzes/quiz-a/questions/q1"
    assert first["object"]["definition"]["interactionType"] == "choice"
    assert first["result"] == {
        "score": {"raw": 0.5, "min": 0.0, "max": 1.0, "scaled": 0.5},
        "success": False,
        "response": "a[,]b",
    }
    assert second["result"]["response"] == "true"
    assert first["context"]["contextActivities"]["parent"][0]["id"] == (
        "https://lab.example/v1/quizzes/quiz-a"
    )
    assert completed["result"]["score"] == {"raw": 3.0, "min": 0.0, "max": 4.0, "scaled": 0.75}
    assert completed["result"]["completion"] is True
    assert completed["result"]["duration"] == "PT90.00S"
    assert failed["result"]["success"] is False
    assert all(
        s["actor"]["account"] == {"homePage": "https://lms.example", "name": "user-1"}
        for s in built
    )
    assert all(s["timestamp"] == "2026-01-02T03:05:35.000Z" for s in built)
    assert all(
        s["context"]["registration"] == "12345678-1234-5678-1234-567812345678" for s in built
    )


def test_a_pass_says_passed_and_ids_are_stable() -> None:
    built = xs.build_statements(_submission(4.0, 4.0, True), ACTOR, base_url=None)
    assert built[-1]["verb"]["id"] == xs.PASSED
    assert built[-1]["object"]["id"].startswith(xs.DEFAULT_HOME)
    again = xs.build_statements(_submission(4.0, 4.0, True), ACTOR, base_url=None)
    assert [s["id"] for s in built] == [s["id"] for s in again]
    assert len({s["id"] for s in built}) == len(built)


@hypothesis_settings(max_examples=60, deadline=None)
@given(
    raw=st.floats(min_value=0, max_value=1e6, allow_nan=False),
    extra=st.floats(min_value=0, max_value=1e6, allow_nan=False),
)
def test_scaled_is_raw_over_max_within_0_and_1(raw: float, extra: float) -> None:
    maximum = raw + extra
    [*_, completed, _verdict] = xs.build_statements(_submission(raw, maximum), ACTOR, base_url=None)
    score = completed["result"]["score"]
    if maximum == 0:  # xAPI wants max > min: the raw score alone
        assert score == {"raw": raw}
        return
    assert 0.0 <= score["scaled"] <= 1.0
    assert score["scaled"] == raw / maximum  # unrounded, as the module promises
    assert score["min"] <= score["raw"] <= score["max"]


@hypothesis_settings(max_examples=80, deadline=None)
@given(
    name=st.text(max_size=20),
    title=st.text(max_size=20),
    prompt=st.text(max_size=20),
    points=st.fractions(min_value=0, max_value=5),
    numeric=st.fractions(min_value=-(10**30), max_value=10**30),
    picked=st.lists(st.sampled_from(["a", "b", "c"]), unique=True, max_size=3),
)
def test_any_submission_builds_statements_ralph_accepts(
    name: str, title: str, prompt: str, points: Fraction, numeric: Fraction, picked: list[str]
) -> None:
    """Names, titles and prompts as LMSs and authors write them (empty ones included)."""
    started = datetime(2026, 1, 2, tzinfo=UTC)
    questions = [
        xs.QuestionOutcome("q1", "numeric", prompt, float(points), 5.0, False, numeric),
        xs.QuestionOutcome("q2", "multiple_choice", prompt, 0.0, 1.0, False, picked),
        xs.QuestionOutcome("q3", "true_false", prompt, 1.0, 1.0, True, None),
    ]
    submission = xs.Submission(
        uuid.uuid4(), 1, "quiz-a", title, started, started, float(points), 7.0, False, questions
    )
    actor = xs.Actor(name, "https://lms.example", "user-1")
    built = xs.build_statements(submission, actor, base_url="https://lab.example")
    for statement in built:
        BaseXapiStatement.model_validate(statement)
    assert len(built) == (3 if not picked else 4)


@given(st.fractions(max_denominator=10**6))
def test_a_numeric_response_is_a_decimal_literal_of_the_value(value: Fraction) -> None:
    """xAPI numeric responses are numbers: a JSON-style literal, exact when the decimal is
    finite, else the value to 17 significant digits."""
    text = xs.number_text(value)
    assert re.fullmatch(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:e[+-]?\d+)?", text), text
    denominator = value.denominator
    for prime in (2, 5):
        while denominator % prime == 0:
            denominator //= prime
    if denominator == 1:
        assert Fraction(text) == value
    else:
        assert abs(Fraction(text) - value) <= abs(value) * Fraction(1, 10**16)


# --------------------------------------------------------------------------------------------
# Stored, read back, forwarded


def _submit(client: FlaskClient, headers: dict[str, str], answers: dict[str, Any]) -> str:
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=headers).json
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=headers
    )
    assert response.status_code == 200
    return str(attempt["id"])


@all_backends
def test_submissions_are_readable_filtered_by_learner_and_time(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    ada_id, ada = register(client, "Ada")
    bob_id, bob = register(client, "Bob")
    before = datetime.now(UTC) - timedelta(seconds=1)
    attempt_id = _submit(client, ada, ALL_RIGHT)
    _submit(client, bob, {"q-tf": False})
    reader = api_key(app, "integration")

    everyone = client.get("/v1/xapi/statements", headers=reader).json
    assert everyone["total"] == 9  # Bob left three questions blank: no statement for them
    mine = client.get(f"/v1/xapi/statements?learner={ada_id}", headers=reader).json
    assert mine["total"] == 6
    verbs = [s["verb"]["display"]["en-US"] for s in mine["items"]]
    assert verbs == ["answered"] * 4 + ["completed", "passed"]
    assert {s["context"]["registration"] for s in mine["items"]} == {attempt_id}
    assert mine["items"][0]["actor"]["name"] == "Ada"
    assert all(s["stored"].endswith("Z") for s in mine["items"])

    since = before.isoformat()
    assert (
        client.get("/v1/xapi/statements", query_string={"since": since}, headers=reader).json[
            "total"
        ]
        == 9
    )
    later = (datetime.now(UTC) + timedelta(minutes=1)).isoformat()
    assert (
        client.get("/v1/xapi/statements", query_string={"since": later}, headers=reader).json[
            "total"
        ]
        == 0
    )
    assert (
        client.get("/v1/xapi/statements", query_string={"until": since}, headers=reader).json[
            "total"
        ]
        == 0
    )
    failed = client.get(
        "/v1/xapi/statements", query_string={"verb": xs.FAILED}, headers=reader
    ).json
    assert [s["actor"]["name"] for s in failed["items"]] == ["Bob"]
    paged = client.get("/v1/xapi/statements?per_page=4&page=3", headers=reader).json
    assert len(paged["items"]) == 1

    # A learner reads their own statements only.
    assert client.get("/v1/xapi/statements", headers=bob).json["total"] == 3
    assert client.get(f"/v1/xapi/statements?learner={ada_id}", headers=bob).status_code == 403
    assert client.get("/v1/xapi/statements").status_code == 401
    assert bob_id != ada_id


@pytest.fixture
def lrs() -> Iterator[Lms]:
    yield from serve(Lms(make_key_pair()))


@all_backends
def test_statements_are_forwarded_to_the_lrs_through_the_outbox(
    settings: Settings, lrs: Lms
) -> None:
    app = create_app(
        settings.with_overrides(xapi_lrs_url=lrs.lrs_url + "/", xapi_lrs_auth="Basic dGVzdA==")
    )
    try:
        seed_sample(app)
        client = app.test_client()
        _, ada = register(client)
        _submit(client, ada, ALL_RIGHT)
        lrs.fail_next_statements = 1
        context, handlers = delivery_context(app), app_outbox(app).handlers
        now = datetime.now(UTC)
        assert deliver_due(context, handlers, now=now).retrying == 1
        assert deliver_due(context, handlers, now=now + timedelta(hours=1)).delivered == 1
        assert deliver_due(context, handlers, now=now + timedelta(days=1)).claimed == 0
        [batch] = lrs.statements
        assert len(batch) == 6
        stored = client.get("/v1/xapi/statements", headers=api_key(app, "admin")).json["items"]
        assert [s["id"] for s in batch] == [s["id"] for s in stored]
    finally:
        app.extensions["database"].dispose()


@all_backends
def test_without_an_lrs_nothing_is_queued(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, ada = register(client)
    _submit(client, ada, ALL_RIGHT)
    admin = api_key(app, "admin")
    assert client.get("/v1/outbox", headers=admin).json["total"] == 0
    assert client.get("/v1/xapi/statements", headers=admin).json["total"] == 6
