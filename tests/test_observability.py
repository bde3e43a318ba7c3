"""Metrics, rate limits and security headers."""

from __future__ import annotations

import logging

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from tests.factories import ALL_RIGHT, register, seed_sample


def _sample(text: str, name: str) -> float:
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in metrics")


def test_metrics_count_requests_submissions_and_outbox(settings: Settings) -> None:
    app = create_app(settings.with_overrides(metrics_token="scraper-token"))
    client = app.test_client()
    seed_sample(app)
    _, auth = register(client)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    )
    client.get("/nope")
    response = client.get("/metrics", headers={"Authorization": "Bearer scraper-token"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    text = response.get_data(as_text=True)
    assert (
        _sample(
            text,
            'activation_lab_http_requests_total{endpoint="learners.QuizAttempts",method="POST",'
            'status="201"}',
        )
        == 1.0
    )
    assert _sample(text, 'activation_lab_quiz_submissions_total{passed="true"}') == 1.0
    assert 'endpoint="unmatched",method="GET",status="404"' in text
    assert _sample(text, 'activation_lab_outbox_messages{status="pending"}') == 0.0
    assert "activation_lab_http_request_duration_seconds_bucket" in text


def test_a_classroom_burst_passes_and_abuse_is_429(settings: Settings) -> None:
    app = create_app(settings.with_overrides(rate_limits_enabled=True))
    client = app.test_client()
    statuses = [client.post("/v1/learners", json={}).status_code for _ in range(20)]
    assert statuses == [201] * 20
    limited = create_app(
        settings.with_overrides(rate_limits_enabled=True, rate_limit_registration="2 per minute")
    ).test_client()
    statuses = [limited.post("/v1/learners", json={}).status_code for _ in range(3)]
    assert statuses == [201, 201, 429]
    refused = limited.post("/v1/learners", json={})
    assert refused.content_type == "application/problem+json"
    assert int(refused.headers["Retry-After"]) > 0


def test_no_cookie_is_set(client: FlaskClient) -> None:
    """Nothing lives in Flask's signed cookie: no answer sets one."""
    assert "Set-Cookie" not in client.get("/health/live").headers
    assert "Set-Cookie" not in client.post("/v1/learners", json={}).headers


def test_security_headers(client: FlaskClient) -> None:
    api = client.get("/health/live")
    assert api.headers["X-Content-Type-Options"] == "nosniff"
    assert api.headers["X-Frame-Options"] == "DENY"
    assert "frame-ancestors 'none'" in api.headers["Content-Security-Policy"]
    assert api.headers["Referrer-Policy"] == "strict-origin-when-cross-origin"
    page = client.get("/")
    assert "X-Frame-Options" not in page.headers  # LMSs embed the page
    assert "frame-ancestors *" in page.headers["Content-Security-Policy"]
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]


def test_secrets_stay_out_of_logs(client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.DEBUG):
        token = client.post("/v1/learners", json={}).json["token"]
        client.get("/v1/learners/me", headers={"Authorization": f"Bearer {token}"})
        client.get(
            "/v1/learners/me", headers={"Authorization": "Bearer forged.forgedforgedforgedforged"}
        )
    assert token not in caplog.text
    assert token.split(".")[1] not in caplog.text


def test_rate_limits_are_shared_through_redis(settings: Settings) -> None:
    """Two apps (two workers or hosts) on one Redis count the same learner's requests together."""
    import redis

    url = "redis://127.0.0.1:6379/0"
    try:
        redis.Redis.from_url(url, socket_connect_timeout=1).ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    shared = settings.with_overrides(
        rate_limits_enabled=True, redis_url=url, rate_limit_attempts="3 per minute"
    )
    first, second = create_app(shared), create_app(shared)
    seed_sample(first)
    _, auth = register(first.test_client())
    url_path = "/v1/quizzes/sample-quiz/attempts"
    statuses = [
        app.test_client().post(url_path, headers=auth).status_code
        for app in (first, second, first, second)
    ]
    assert statuses == [201, 200, 200, 429]
