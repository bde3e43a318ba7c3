from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings


def test_index_is_served_at_root(client: FlaskClient) -> None:
    response = client.get("/")
    assert response.status_code == 200
    assert response.mimetype == "text/html"
    assert b'src="/static/app.js"' in response.data


@pytest.mark.parametrize(
    ("path", "mimetype"),
    [("/static/app.js", "text/javascript"), ("/static/styles.css", "text/css")],
)
def test_modules_are_served_with_their_mimetype(
    client: FlaskClient, path: str, mimetype: str
) -> None:
    response = client.get(path)
    assert response.status_code == 200
    assert response.mimetype == mimetype


def test_paths_outside_the_web_folder_are_404(client: FlaskClient) -> None:
    response = client.get("/static/../config.py")
    assert response.status_code == 404
    assert response.content_type == "application/problem+json"


def test_no_cors_headers_by_default(client: FlaskClient) -> None:
    response = client.get("/health/live", headers={"Origin": "https://elsewhere.example"})
    assert "Access-Control-Allow-Origin" not in response.headers


def test_configured_origins_get_cors_and_preflight(settings: Settings) -> None:
    client = create_app(
        settings.with_overrides(cors_origins=("https://lab.example",))
    ).test_client()
    allowed = client.get("/v1/quizzes", headers={"Origin": "https://lab.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://lab.example"
    assert "Origin" in allowed.headers["Vary"]
    preflight = client.options(
        "/v1/learners",
        headers={"Origin": "https://lab.example", "Access-Control-Request-Method": "POST"},
    )
    assert preflight.status_code == 200
    assert "Idempotency-Key" in preflight.headers["Access-Control-Allow-Headers"]
    other = client.get("/v1/quizzes", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in other.headers
