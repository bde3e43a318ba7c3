"""/metrics is for the scraper only: METRICS_TOKEN as a bearer token, 404 when no token is set."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings

TOKEN = "scrape-secret-0123456789"


@pytest.fixture
def scraped(settings: Settings) -> Flask:
    return create_app(settings.with_overrides(metrics_token=TOKEN))


def test_without_a_token_configured_there_are_no_metrics(client: FlaskClient) -> None:
    for headers in ({}, {"Authorization": "Bearer anything"}):
        response = client.get("/metrics", headers=headers)
        assert response.status_code == 404
        assert response.content_type == "application/problem+json"
        assert "METRICS_TOKEN" in response.json["detail"]
        assert "activation_lab" not in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"X-API-Key": TOKEN},
    ],
)
def test_a_scrape_without_the_token_is_401(scraped: Flask, headers: dict[str, str]) -> None:
    response = scraped.test_client().get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert "activation_lab" not in response.get_data(as_text=True)


def test_the_scraper_gets_the_metrics(scraped: Flask) -> None:
    response = scraped.test_client().get("/metrics", headers={"Authorization": f"Bearer {TOKEN}"})
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    assert "activation_lab_http_requests_total" in response.get_data(as_text=True)
    assert response.headers["Cache-Control"] == "no-store"


def test_the_token_is_read_from_the_environment_and_never_shown() -> None:
    settings = Settings.from_env({"METRICS_TOKEN": TOKEN})
    assert settings.metrics_token == TOKEN
    assert TOKEN not in repr(settings)
