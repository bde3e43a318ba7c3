"""Test data: a small quiz covering every question type, learners and API keys."""

from __future__ import annotations

from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service.auth.services import create_api_key
from service.quizzes.bank_schema import load_quiz
from service.quizzes.services import seed_quizzes


def sample_definition(slug: str = "sample-quiz", **settings: Any) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": "Sample quiz",
        "lesson": 1,
        "description": "One question of each type.",
        "settings": settings,
        "questions": [
            {
                "id": "q-numeric",
                "type": "numeric",
                "prompt": "20 doublings of a variance of 1 give?",
                "answer": "2^20",
                "tolerance": {"kind": "relative", "value": 0.0001},
                "explanation": "Each layer multiplies by 2.",
            },
            {
                "id": "q-single",
                "type": "single_choice",
                "prompt": "Which variant normalizes over the batch?",
                "choices": [
                    {"id": "batch", "text": "Batch norm", "correct": True},
                    {"id": "layer", "text": "Layer norm"},
                ],
                "explanation": "Batch norm pools over the batch.",
            },
            {
                "id": "q-multi",
                "type": "multiple_choice",
                "prompt": "Which keep a per-example statistic?",
                "choices": [
                    {"id": "layer", "text": "Layer norm", "correct": True},
                    {"id": "instance", "text": "Instance norm", "correct": True},
                    {"id": "batch", "text": "Batch norm"},
                ],
                "explanation": "Layer and instance norm work per example.",
            },
            {
                "id": "q-tf",
                "type": "true_false",
                "prompt": "He initialization suits ReLU.",
                "answer": True,
                "explanation": "It doubles the variance to undo ReLU's halving.",
            },
        ],
    }


ALL_RIGHT = {
    "q-numeric": "1,048,576",
    "q-single": "batch",
    "q-multi": ["layer", "instance"],
    "q-tf": True,
}


def seed_sample(app: Flask, slug: str = "sample-quiz", **settings: Any) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_quizzes(session, [load_quiz(sample_definition(slug, **settings))])


def api_key(app: Flask, role: str) -> dict[str, str]:
    with app.extensions["database"].sessionmaker() as session:
        _, plaintext = create_api_key(session, f"test {role}", role, app.config["SECRET_KEY"])
    return {"X-API-Key": plaintext}


def register(client: FlaskClient, name: str = "Ada") -> tuple[str, dict[str, str]]:
    response = client.post("/v1/learners", json={"display_name": name})
    assert response.status_code == 201, response.json
    return response.json["id"], {"Authorization": f"Bearer {response.json['token']}"}


def json_keys(value: object) -> set[str]:
    """Every object key anywhere in a decoded JSON document."""
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in json_keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in json_keys(v)}
    return set()
