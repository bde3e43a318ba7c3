"""The quiz read model: one app's quiz caches (built quizzes, seeds' instances, generated answers,
rendered versions, the current version per slug for QUIZ_CACHE_SECONDS), nothing shared between
apps, and all of them off with CACHES_ENABLED=false."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import event, text

from service import create_app
from service.config import Settings
from service.quizzes import domain
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.read_model import QuizReadModel, of_session
from service.quizzes.services import quiz_of, seed_bank
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, sample_definition, seed_sample


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def with_clock(app: Flask, clock: Clock) -> QuizReadModel:
    """Give `app` a read model whose QUIZ_CACHE_SECONDS run on `clock`."""
    database = app.extensions["database"]
    model = QuizReadModel(current_seconds=1.0, clock=clock)
    model.attach(database.sessionmaker, database.read_sessionmaker)
    app.extensions["quiz_read_model"] = model
    return model


def put_renamed(client: FlaskClient, app: Flask, title: str) -> None:
    author = api_key(app, "author")
    etag = client.get("/v1/quizzes/sample-quiz").headers["ETag"]
    definition = {**sample_definition(), "title": title}
    response = client.put(
        "/v1/quizzes/sample-quiz", json=definition, headers={**author, "If-Match": etag}
    )
    assert response.status_code == 200, response.json


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
    with_clock(app, clock)
    first = client.get("/v1/quizzes/sample-quiz")
    assert first.json["title"] == "Sample quiz"

    writer = other_app.test_client()
    put_renamed(writer, other_app, "Renamed")
    assert writer.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"

    clock.now += 0.5  # within QUIZ_CACHE_SECONDS (1 s): this process still answers from memory
    stale = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": first.headers["ETag"]})
    assert stale.status_code == 304
    assert stale.headers["ETag"] == first.headers["ETag"]
    assert stale.headers["Cache-Control"] == "no-cache"
    clock.now += 0.5
    fresh = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": first.headers["ETag"]})
    assert fresh.status_code == 200
    assert fresh.json["title"] == "Renamed"
    assert fresh.headers["ETag"] != first.headers["ETag"]


@all_backends
def test_a_stale_cached_etag_cannot_pass_if_match(
    app: Flask, client: FlaskClient, other_app: Flask
) -> None:
    """If-Match is compared with the database's current version, not this process's cache."""
    seed_sample(app)
    clock = Clock()
    with_clock(app, clock)
    old = client.get("/v1/quizzes/sample-quiz").headers["ETag"]
    put_renamed(other_app.test_client(), other_app, "Renamed elsewhere")
    assert client.get("/v1/quizzes/sample-quiz").headers["ETag"] == old  # served from memory
    response = client.put(
        "/v1/quizzes/sample-quiz",
        json=sample_definition(),
        headers={**api_key(app, "author"), "If-Match": old},
    )
    assert response.status_code == 412


@all_backends
def test_writes_through_this_process_show_at_once(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    author = api_key(app, "author")
    put_renamed(client, app, "Renamed")
    assert client.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"
    etag = client.get("/v1/quizzes/sample-quiz").headers["ETag"]
    deleted = client.delete("/v1/quizzes/sample-quiz", headers={**author, "If-Match": etag})
    assert deleted.status_code == 204
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404


def count_statements(app: Flask) -> list[str]:
    """The SQL the app sends from now on."""
    statements: list[str] = []

    @event.listens_for(app.extensions["database"].engine, "before_cursor_execute")
    def record(*args: Any) -> None:
        statements.append(args[2])

    return statements


@all_backends
def test_quiz_cache_seconds_zero_reads_the_database_every_time(
    settings: Settings, app: Flask
) -> None:
    seed_sample(app)
    uncached = create_app(settings.with_overrides(quiz_cache_seconds=0))
    try:
        reader = uncached.test_client()
        statements = count_statements(uncached)
        assert reader.get("/v1/quizzes/sample-quiz").json["title"] == "Sample quiz"
        assert reader.get("/v1/quizzes/sample-quiz").status_code == 200
        current = [s for s in statements if "current_version" in s]
        assert len(current) == 2  # which version is current: asked by each GET
        put_renamed(app.test_client(), app, "Renamed")
        assert reader.get("/v1/quizzes/sample-quiz").json["title"] == "Renamed"
        # Versions stay cached (they never change): the definition was read once per version.
        assert sum("definition" in statement for statement in statements) == 2
    finally:
        uncached.extensions["database"].dispose()


def read_models(*apps: Flask) -> list[QuizReadModel]:
    return [application.extensions["quiz_read_model"] for application in apps]


def cache_sizes(model: QuizReadModel) -> dict[str, int]:
    return {
        name: len(getattr(model, name)) for name in ("quizzes", "answers", "rendered", "current")
    }


def test_two_apps_in_one_process_share_no_cache(settings: Settings, app: Flask) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    other = create_app(settings)
    try:
        client = app.test_client()
        _, auth = register(client)
        for slug in ("activation-distribution", "initialization"):
            assert client.get(f"/v1/quizzes/{slug}").status_code == 200
            attempt = client.post(f"/v1/quizzes/{slug}/attempts", headers=auth).json
            client.post(
                f"/v1/attempts/{attempt['id']}/submission", json={"answers": {}}, headers=auth
            )
        assert (
            client.get("/v1/simulations/propagation?depth=3&width=4&weight_variance=1").status_code
            == 200
        )

        mine, theirs = read_models(app, other)
        assert mine is not theirs
        assert all(size > 0 for size in cache_sizes(mine).values()), cache_sizes(mine)
        assert set(cache_sizes(theirs).values()) == {0}

        # The other app builds its own quiz objects, with its own memos.
        with app.extensions["database"].sessionmaker() as mine_session, mine_session.begin():
            version = mine_session.execute(
                text("SELECT content_hash, id FROM quiz_versions LIMIT 1")
            ).one()
            quiz_a = quiz_of(mine_session, version[0], version[1])
        with other.extensions["database"].sessionmaker() as other_session, other_session.begin():
            quiz_b = quiz_of(other_session, version[0], version[1])
            assert of_session(other_session) is theirs
        assert quiz_a == quiz_b
        assert quiz_a is not quiz_b
    finally:
        other.extensions["database"].dispose()


@all_backends
def test_caches_enabled_false_keeps_nothing_and_changes_no_answer(
    settings: Settings, app: Flask
) -> None:
    seed_sample(app)
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    plain = create_app(settings.with_overrides(caches_enabled=False))
    try:
        uncached, cached = plain.test_client(), app.test_client()
        statements = count_statements(plain)
        for _ in range(2):
            preview = uncached.get("/v1/quizzes/sample-quiz")
        assert preview.data == cached.get("/v1/quizzes/sample-quiz").data
        assert preview.headers["ETag"] == cached.get("/v1/quizzes/sample-quiz").headers["ETag"]
        assert sum("definition" in statement for statement in statements) == 2

        _, auth = register(uncached)
        attempt = uncached.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
        graded = uncached.post(
            f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
        ).json
        assert (graded["score"], graded["passed"]) == (4, True)
        generated = uncached.post("/v1/quizzes/initialization/attempts", headers=auth)
        assert generated.status_code == 201
        query = "/v1/simulations/propagation?depth=3&width=4&weight_variance=1"
        assert uncached.get(query).data == cached.get(query).data

        assert set(cache_sizes(plain.extensions["quiz_read_model"]).values()) == {0}
    finally:
        plain.extensions["database"].dispose()


def test_a_built_quiz_keeps_its_generated_answers(app: Flask) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
        model = of_session(session)
        with session.begin():
            row = session.execute(
                text(
                    "SELECT v.content_hash, v.id FROM quiz_versions v JOIN quizzes q "
                    "ON q.id = v.quiz_id WHERE q.slug = 'initialization'"
                )
            ).one()
            quiz = quiz_of(session, row[0], row[1])
    assert domain.instantiate(quiz, 7) == domain.instantiate(quiz, 7)
    generated = [q.generator for q in quiz.questions if q.generator is not None]
    assert generated
    assert all(generator.memo is model.answers for generator in generated)  # type: ignore[attr-defined]
    # One computation per drawn parameters, which the answer and its explanation share, and
    # one for the network the ReLU question's `relu-half-forgotten` misconception imagines.
    assert len(model.answers) == len(generated) + 1
    plain = load_quiz(dump_quiz(quiz))
    assert plain == quiz  # remembering generators are not part of the quiz's value
