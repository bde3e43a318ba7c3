"""SQLite under several workers: writers serialize on BEGIN IMMEDIATE, readers never wait.
A request's session keeps one pooled connection for all its transactions."""

from __future__ import annotations

import math
import sqlite3

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import JSON, event, text

from service.db import get_database
from tests.backends import all_backends
from tests.factories import register, seed_sample


def test_reads_do_not_wait_for_a_writer(app: Flask, client: FlaskClient, database_url: str) -> None:
    seed_sample(app)
    _, auth = register(client)
    path = database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    # With no busy timeout, a read that had to wait for the writer's lock fails at once
    # ("database is locked") instead of waiting: success proves nothing waited.
    engine = get_database(app).engine
    engine.dispose()
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=0"))
    writer.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    try:
        assert client.get("/v1/quizzes/sample-quiz").status_code == 200
        assert client.get("/v1/learners/me", headers=auth).status_code == 200
    finally:
        writer.execute("ROLLBACK")
        writer.close()


@all_backends
def test_a_learner_request_checks_out_one_connection_for_its_writes(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    _, auth = register(client)
    database = get_database(app)
    checkouts: list[object] = []

    def count(*_args: object) -> None:
        checkouts.append(None)

    event.listen(database.engine, "checkout", count)
    try:
        started = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth)
    finally:
        event.remove(database.engine, "checkout", count)
    assert started.status_code == 201
    # Authentication and the start share the request's connection; SQLite reads the token on a
    # connection of its own (a deferred transaction, which never waits for the write lock).
    assert len(checkouts) == (2 if database.url.startswith("sqlite") else 1)


def test_json_columns_still_read_rows_the_stdlib_wrote(app: Flask) -> None:
    """JSON columns are written and read with orjson now; a SQLite row written before, by the
    stdlib with NaN in it (which orjson refuses), still reads."""
    with get_database(app).engine.connect() as connection:
        legacy = connection.scalar(
            text("""SELECT '{"score": NaN, "q": "é"}' AS v""").columns(v=JSON)
        )
        fresh = connection.scalar(text("""SELECT '{"score": 1.5}' AS v""").columns(v=JSON))
    assert math.isnan(legacy["score"])
    assert legacy["q"] == "é"
    assert fresh == {"score": 1.5}
