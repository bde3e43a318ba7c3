"""The quiz GET served from each process's short-lived cache (QUIZ_CACHE_SECONDS)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.quizzes.preview_cache import PreviewCache, RenderedQuiz
from tests.backends import all_backends
from tests.factories import api_key, sample_definition, seed_sample


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_entries_expire_after_the_ttl() -> None:
    clock = Clock()
    cache = PreviewCache(2.0, clock=clock)
    cache.put("a", RenderedQuiz("e1", b"{}"))
    clock.now += 1.999
    assert cache.get("a") == RenderedQuiz("e1", b"{}")
    clock.now += 0.001
    assert cache.get("a") is None


def test_a_zero_ttl_keeps_nothing_and_forget_drops_an_entry() -> None:
    off = PreviewCache(0)
    off.put("a", RenderedQuiz("e1", b"{}"))
    assert off.get("a") is None
    on = PreviewCache(60)
    on.put("a", RenderedQuiz("e1", b"{}"))
    on.forget("a")
    on.forget("never-cached")
    assert on.get("a") is None


def test_the_cache_is_bounded() -> None:
    cache = PreviewCache(60, max_entries=3)
    for slug in ("a", "b", "c", "d"):
        cache.put(slug, RenderedQuiz(slug, b"{}"))
    assert cache.get("d") is not None
    assert sum(cache.get(slug) is not None for slug in ("a", "b", "c")) < 3


@pytest.fixture
def other_app(settings: Settings) -> Iterator[Flask]:
    """A second process's app on the same database."""
    application = create_app(settings)
    yield application
    application.extensions["database"].dispose()


@all_backends
def test_another_process_sees_a_new_version_within_the_ttl(
    app: Flask, client: FlaskClient, other_app: Flask
) -> None:
    seed_sample(app)
    clock = Clock()
    app.extensions["quiz_preview_cache"].clock = clock
    first = client.get("/v1/quizzes/sample-quiz")
    assert first.json["title"] == "Sample quiz"

    definition = sample_definition()
    definition["title"] = "Renamed"
    writer = other_app.test_client()
    assert (
        writer.put(
            "/v1/quizzes/sample-quiz", json=definition, headers=api_key(other_app, "author")
        ).status_code
        == 200
    )
    assert writer.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"

    clock.now += 0.5  # within QUIZ_CACHE_SECONDS (1 s): this process still answers from memory
    stale = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": first.headers["ETag"]})
    assert stale.status_code == 304
    clock.now += 0.5
    fresh = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": first.headers["ETag"]})
    assert fresh.status_code == 200
    assert fresh.json["title"] == "Renamed"
    assert fresh.headers["ETag"] != first.headers["ETag"]


@all_backends
def test_writes_through_this_process_show_at_once(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    author = api_key(app, "author")
    assert client.get("/v1/quizzes/sample-quiz").status_code == 200
    definition = sample_definition()
    definition["title"] = "Renamed"
    client.put("/v1/quizzes/sample-quiz", json=definition, headers=author)
    assert client.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"
    assert client.delete("/v1/quizzes/sample-quiz", headers=author).status_code == 204
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404


@all_backends
def test_quiz_cache_seconds_zero_reads_the_database_every_time(
    settings: Settings, app: Flask
) -> None:
    seed_sample(app)
    uncached = create_app(settings.with_overrides(quiz_cache_seconds=0))
    try:
        reader = uncached.test_client()
        assert reader.get("/v1/quizzes/sample-quiz").json["title"] == "Sample quiz"
        definition = sample_definition()
        definition["title"] = "Renamed"
        app.test_client().put(
            "/v1/quizzes/sample-quiz", json=definition, headers=api_key(app, "author")
        )
        assert reader.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"
    finally:
        uncached.extensions["database"].dispose()
