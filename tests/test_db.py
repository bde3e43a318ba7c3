"""SQLite under several workers: writers serialize on BEGIN IMMEDIATE, readers never wait."""

from __future__ import annotations

import sqlite3
import time

from flask import Flask
from flask.testing import FlaskClient

from tests.factories import register, seed_sample


def test_reads_do_not_wait_for_a_writer(app: Flask, client: FlaskClient, database_url: str) -> None:
    seed_sample(app)
    _, auth = register(client)
    path = database_url.removeprefix("sqlite:///")
    writer = sqlite3.connect(path, isolation_level=None, timeout=0)
    writer.execute("BEGIN IMMEDIATE")  # another worker in the middle of a write
    try:
        started = time.perf_counter()
        assert client.get("/v1/quizzes/sample-quiz").status_code == 200
        assert client.get("/v1/learners/me", headers=auth).status_code == 200
        assert time.perf_counter() - started < 2  # busy_timeout is 30 s: nothing waited
    finally:
        writer.execute("ROLLBACK")
        writer.close()
