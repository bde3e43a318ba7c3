"""Grade passback: a submitted LTI attempt's score reaches the platform's line item through the
outbox, once, even when the platform fails before accepting it."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask

from service.db import get_database, utcnow
from service.lti.keys import signing_key
from service.outbox import queue
from service.outbox.models import OutboxMessage
from service.outbox.transport import HttpResponse
from service.outbox.wiring import app_outbox, delivery_context
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, register
from tests.lti.conftest import QUIZ, Tool, launch_and_submit, row_counts
from tests.lti.platform import Lms

pytestmark = all_backends


def _deliver(app: Flask, **kwargs: Any) -> queue.DeliveryReport:
    return queue.deliver_due(delivery_context(app), app_outbox(app).handlers, **kwargs)


def _messages(app: Flask) -> list[OutboxMessage]:
    with app.app_context(), get_database().sessionmaker() as session, session.begin():
        return list(session.query(OutboxMessage).order_by(OutboxMessage.id))


def test_the_score_reaches_the_platform_once(tool: Tool, lms: Lms) -> None:
    launch_and_submit(tool, lms)
    [message] = _messages(tool.app)
    assert (message.kind, message.status) == ("lti.ags_score", "pending")
    assert lms.scores == []  # nothing leaves during the request

    report = _deliver(tool.app)
    assert (report.delivered, report.retrying, report.failed) == (1, 0, 0)
    [(line_item, score)] = lms.scores
    assert line_item == "1"
    assert score["userId"] == "lms-user-42"
    assert score["scoreGiven"] == 4.0
    assert score["scoreMaximum"] == 4.0
    assert score["activityProgress"] == "Completed"
    assert score["gradingProgress"] == "FullyGraded"
    assert score["timestamp"].endswith("Z")
    assert lms.tokens_issued == 1

    assert _deliver(tool.app).claimed == 0
    assert len(lms.scores) == 1
    [message] = _messages(tool.app)
    assert message.status == "delivered"
    assert message.delivered_at is not None


def test_a_platform_that_fails_twice_then_accepts_gets_the_grade_once(tool: Tool, lms: Lms) -> None:
    launch_and_submit(tool, lms, answers={**ALL_RIGHT, "q-tf": False})
    lms.fail_next_scores = 2
    policy = queue.BackoffPolicy(base_seconds=30, cap_seconds=3600)
    start = utcnow()

    first = _deliver(tool.app, now=start, policy=policy)
    assert first.retrying == 1
    [message] = _messages(tool.app)
    assert message.attempts == 1
    assert "503" in (message.last_error or "")
    assert message.next_attempt_at == start + timedelta(seconds=30)

    assert _deliver(tool.app, now=start + timedelta(seconds=29), policy=policy).claimed == 0

    second = _deliver(tool.app, now=start + timedelta(seconds=31), policy=policy)
    assert second.retrying == 1
    [message] = _messages(tool.app)
    assert message.attempts == 2
    assert message.next_attempt_at == start + timedelta(seconds=31 + 60)

    third = _deliver(tool.app, now=start + timedelta(seconds=92), policy=policy)
    assert third.delivered == 1
    assert _deliver(tool.app, now=start + timedelta(days=1), policy=policy).claimed == 0
    assert [score["scoreGiven"] for _, score in lms.scores] == [3.0]


def test_a_message_that_keeps_failing_ends_failed_and_an_admin_can_retry_it(
    tool: Tool, lms: Lms
) -> None:
    launch_and_submit(tool, lms)
    lms.fail_next_scores = 100
    policy = queue.BackoffPolicy(base_seconds=1, cap_seconds=2, max_attempts=3)
    moment = utcnow()
    statuses = []
    for step in range(3):
        report = _deliver(tool.app, now=moment + timedelta(seconds=10 * step), policy=policy)
        statuses.append((report.retrying, report.failed))
    assert statuses == [(1, 0), (1, 0), (0, 1)]

    listed = tool.client.get("/v1/outbox?status=failed", headers=tool.admin)
    assert listed.status_code == 200
    [item] = listed.json["items"]
    assert item["attempts"] == 3
    assert "503" in item["last_error"]

    lms.fail_next_scores = 0
    retried = tool.client.post(f"/v1/outbox/{item['id']}/retry", headers=tool.admin)
    assert retried.status_code == 200
    assert (retried.json["status"], retried.json["attempts"]) == ("pending", 0)
    delivered = tool.client.post("/v1/outbox/deliveries", headers=tool.admin)
    assert delivered.status_code == 200
    assert delivered.json["delivered"] == 1
    assert len(lms.scores) == 1
    assert tool.client.get(f"/v1/outbox/{item['id']}", headers=tool.admin).json["status"] == (
        "delivered"
    )


def test_the_outbox_endpoints_are_for_admins(tool: Tool) -> None:
    _, learner = register(tool.client)
    assert tool.client.get("/v1/outbox").status_code == 401
    assert tool.client.get("/v1/outbox", headers=learner).status_code == 403
    assert tool.client.get("/v1/outbox/999", headers=tool.admin).status_code == 404


def test_a_worker_run_from_the_cli_delivers(tool: Tool, lms: Lms) -> None:
    launch_and_submit(tool, lms)
    result = tool.app.test_cli_runner().invoke(args=["outbox", "run", "--once"])
    assert result.exit_code == 0, result.output
    assert "delivered 1" in result.output
    assert len(lms.scores) == 1
    status = tool.app.test_cli_runner().invoke(args=["outbox", "status"])
    assert "delivered\t1" in status.output


class RecordingTransport:
    """An injected sender: records every request and answers from a script."""

    def __init__(self, answers: list[HttpResponse]) -> None:
        self.answers = answers
        self.requests: list[tuple[str, str, Mapping[str, str] | None, bytes | None]] = []

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpResponse:
        self.requests.append((method, url, form, body))
        return self.answers.pop(0)


def test_the_sender_is_injectable_and_a_missing_token_is_an_error(tool: Tool, lms: Lms) -> None:
    launch_and_submit(tool, lms)
    transport = RecordingTransport([HttpResponse(200, b'{"token_type": "bearer"}')])
    app_outbox(tool.app).transport = transport
    report = tool.client.post("/v1/outbox/deliveries", headers=tool.admin).json
    assert report["retrying"] == 1
    [(method, url, form, _)] = transport.requests
    assert (method, url) == ("POST", lms.token_url)
    assert form is not None
    assert form["grant_type"] == "client_credentials"
    assert form["scope"] == "https://purl.imsglobal.org/spec/lti-ags/scope/score"
    assert lms.scores == []
    [message] = _messages(tool.app)
    assert message.last_error == "token endpoint answered without an access_token"


def test_a_removed_platform_fails_the_message_for_good(tool: Tool, lms: Lms) -> None:
    launch_and_submit(tool, lms)
    # Contexts go with the platform, but the queued message keeps what it needs to report.
    assert (
        tool.client.delete(f"/v1/lti/platforms/{tool.platform_id}", headers=tool.admin).status_code
        == 204
    )
    report = _deliver(tool.app)
    assert report.failed == 1
    [message] = _messages(tool.app)
    assert "no longer registered" in (message.last_error or "")


def test_a_plain_learner_submission_queues_no_grade(tool: Tool) -> None:
    _, learner = register(tool.client)
    attempt = tool.client.post(f"/v1/quizzes/{QUIZ}/attempts", headers=learner).json
    tool.client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=learner
    )
    assert row_counts(tool.app)["outbox_messages"] == 0
    assert row_counts(tool.app)["xapi_statements"] == 6


def test_no_response_or_log_carries_a_private_key(
    tool: Tool, lms: Lms, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    lms.fail_next_scores = 1
    launch_and_submit(tool, lms)
    _deliver(tool.app)
    _deliver(tool.app, now=utcnow() + timedelta(hours=1))
    assert len(lms.scores) == 1
    with tool.app.extensions["database"].sessionmaker() as session, session.begin():
        private_pem = signing_key(session, tool.app.config["SECRET_KEY"]).private_pem
    secret_line = private_pem.splitlines()[5]
    texts = [caplog.text] + [
        tool.client.get(path, headers=tool.admin).get_data(as_text=True)
        for path in ("/lti/jwks", "/lti/config", "/openapi.json", "/v1/outbox")
    ]
    for text in texts:
        assert "PRIVATE KEY" not in text
        assert secret_line not in text
