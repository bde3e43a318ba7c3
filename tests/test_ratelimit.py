"""Rate limits count per verified principal (learner, API key), else per client address: a
credential the service cannot verify buys no bucket of its own, and a client address is the
one nginx saw when TRUSTED_PROXY_COUNT says a proxy is in front."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask

from service import create_app
from service.auth.services import issue_learner_token
from service.config import Settings
from tests.factories import api_key, register, seed_sample

ATTEMPTS = "/v1/quizzes/sample-quiz/attempts"


def _limited(settings: Settings, **limits: str) -> Flask:
    return create_app(settings.with_overrides(rate_limits_enabled=True, **limits))


def test_an_unverified_authorization_header_buys_no_fresh_bucket(settings: Settings) -> None:
    client = _limited(settings, rate_limit_registration="2 per minute").test_client()
    statuses = [
        client.post(
            "/v1/learners", json={}, headers={"Authorization": f"Bearer {uuid.uuid4().hex}.x{n}"}
        ).status_code
        for n in range(4)
    ]
    assert statuses == [201, 201, 429, 429]
    # an unverifiable X-API-Key shares the address's bucket as well
    refused = client.post("/v1/learners", json={}, headers={"X-API-Key": "alk_forged"})
    assert refused.status_code == 429


def test_a_forged_credential_cannot_spend_a_real_principals_bucket(settings: Settings) -> None:
    """A forged key that copies a real key's id counts against the caller's address."""
    app = _limited(settings, rate_limit_lti="2 per minute")
    client = app.test_client()
    admin = api_key(app, "admin")
    key_id = admin["X-API-Key"].split("_")[1]
    forged = {"X-API-Key": f"alk_{key_id}_{'f' * 43}"}
    assert [client.get("/v1/outbox", headers=forged).status_code for _ in range(3)] == [
        401,
        401,
        429,
    ]
    assert client.get("/v1/outbox", headers=admin).status_code == 200


def test_a_learner_is_one_bucket_whatever_token_it_sends(settings: Settings) -> None:
    app = _limited(settings, rate_limit_attempts="3 per minute")
    seed_sample(app)
    client = app.test_client()
    learner_id, first = register(client)
    with app.extensions["database"].sessionmaker() as session, session.begin():
        second = issue_learner_token(
            session, uuid.UUID(learner_id), "test-secret-key", timedelta(hours=1), "api"
        )
    tokens = [first, {"Authorization": f"Bearer {second.token}"}] * 2
    assert [client.post(ATTEMPTS, headers=auth).status_code for auth in tokens] == [
        201,
        200,
        200,
        429,
    ]
    # another learner from the same address has a bucket of its own
    _, other = register(client)
    assert client.post(ATTEMPTS, headers=other).status_code == 201


def test_the_address_is_the_proxys_client_only_when_a_proxy_is_trusted(
    settings: Settings,
) -> None:
    """Behind nginx (TRUSTED_PROXY_COUNT=1) the client address is the last X-Forwarded-For
    entry; without a trusted proxy the header is the client's own word and is ignored."""

    def statuses(app: Flask, forwarded_for: list[str]) -> list[int]:
        client = app.test_client()
        return [
            client.post(
                "/v1/learners",
                json={},
                headers={"X-Forwarded-For": value},
                environ_base={"REMOTE_ADDR": "10.0.0.1"},  # the proxy
            ).status_code
            for value in forwarded_for
        ]

    # a client behind nginx that spoofs a first entry: nginx appends the address it saw
    behind_proxy = _limited(settings, rate_limit_registration="2 per minute", trusted_proxy_count=1)
    spoofed = ["1.1.1.1, 203.0.113.7", "2.2.2.2, 203.0.113.7", "3.3.3.3, 203.0.113.7"]
    assert statuses(behind_proxy, spoofed) == [201, 201, 429]
    # two clients behind the one proxy address are two buckets
    assert statuses(behind_proxy, ["203.0.113.8"]) == [201]

    direct = _limited(settings, rate_limit_registration="2 per minute")
    assert statuses(direct, ["203.0.113.1", "203.0.113.2", "203.0.113.3"]) == [201, 201, 429]


@pytest.mark.parametrize("count", ["-1", "two"])
def test_trusted_proxy_count_must_be_a_whole_number(count: str) -> None:
    from service.config import ConfigError

    with pytest.raises(ConfigError, match="TRUSTED_PROXY_COUNT"):
        Settings.from_env({"TRUSTED_PROXY_COUNT": count})


def test_trusted_proxy_count_is_read_from_the_environment() -> None:
    assert Settings.from_env({}).trusted_proxy_count == 0
    assert Settings.from_env({"TRUSTED_PROXY_COUNT": "1"}).trusted_proxy_count == 1


def test_an_instructor_is_counted_by_lti_session_not_by_token_or_address(
    settings: Settings,
) -> None:
    """The instructor token of a staff launch (an LTI session) is a verified principal too:
    two launches of one LMS user share a bucket, another user has their own, and a forged
    token counts against the address."""
    from service.lti.instructor_token import InstructorScope, issue

    app = _limited(settings, rate_limit_lti="2 per minute")
    client = app.test_client()

    def token(user: str, link: str) -> dict[str, str]:
        scope = InstructorScope(1, 1, "course-1", "sample-quiz", link, user)
        value = issue(
            scope, secret_key="test-secret-key", issuer="http://localhost", ttl_seconds=60
        )
        return {"Authorization": f"Bearer {value}"}

    path = "/v1/lti/instructor/class"
    first, second = token("teacher-1", "link-a"), token("teacher-1", "link-b")
    assert [client.get(path, headers=h).status_code for h in (first, second, first)][2] == 429
    assert client.get(path, headers=token("teacher-2", "link-a")).status_code != 429
    forged = {"Authorization": "Bearer lti-instructor.e30.e30.forged"}
    assert [client.get(path, headers=forged).status_code for _ in range(3)] == [401, 401, 429]
