"""`flask seed` loads the bank idempotently; a changed file adds a version."""

from __future__ import annotations

import dataclasses

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from service.quizzes.bank_loader import load_bank
from service.quizzes.models import QuizVersion
from service.quizzes.services import seed_bank, seed_quizzes
from tests.backends import all_backends

pytestmark = all_backends

BANK = [
    "activation-distribution",
    "batch-normalization",
    "layer-normalization",
    "group-normalization",
    "instance-normalization",
    "initialization",
]


def versions(app: Flask) -> int:
    with app.extensions["database"].sessionmaker() as session, session.begin():
        return session.scalar(select(func.count()).select_from(QuizVersion)) or 0


def test_seed_command_loads_the_bank_and_is_idempotent(app: Flask, client: FlaskClient) -> None:
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed"])
    assert first.exit_code == 0, first.output
    assert first.output.count(": created") == len(BANK)
    second = runner.invoke(args=["seed"])
    assert second.output.count(": unchanged") == len(BANK)
    assert versions(app) == len(BANK)
    listing = client.get("/v1/quizzes").json
    assert [item["slug"] for item in listing["items"]] == BANK
    lesson = client.get("/v1/quizzes/activation-distribution").json
    assert lesson["lesson"] == 1
    assert len(lesson["questions"]) == 3
    assert lesson["questions"][0]["type"] == "numeric"
    assert "20" in lesson["questions"][0]["prompt"]


def test_a_changed_bank_file_adds_a_version(app: Flask) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    quizzes = [entry.quiz for entry in load_bank()]
    changed = dataclasses.replace(quizzes[0], title="A new title")
    with app.extensions["database"].sessionmaker() as session:
        outcome = seed_quizzes(session, [changed, *quizzes[1:]])
    assert outcome[changed.slug] == "updated"
    assert versions(app) == len(BANK) + 1
