"""Progress and results after a known sequence of attempts."""

from __future__ import annotations

import csv
import io

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, seed_sample

pytestmark = all_backends


def take(client: FlaskClient, auth: dict[str, str], slug: str, answers: dict) -> dict:
    attempt = client.post(f"/v1/quizzes/{slug}/attempts", headers=auth).json
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=auth
    )
    assert response.status_code == 200
    return response.json


def test_progress_numbers_after_three_attempts(app: Flask, client: FlaskClient) -> None:
    seed_sample(app, "first-quiz")
    seed_sample(app, "last-policy", scoring_policy="last")
    learner_id, auth = register(client)
    half = {"q-numeric": "2**20", "q-single": "batch"}  # 2 of 4
    take(client, auth, "first-quiz", half)
    take(client, auth, "first-quiz", ALL_RIGHT)
    take(client, auth, "last-policy", ALL_RIGHT)
    take(client, auth, "last-policy", half)
    # An open attempt does not count.
    client.post("/v1/quizzes/first-quiz/attempts", headers=auth)

    body = client.get(f"/v1/learners/{learner_id}/progress", headers=auth).json
    assert body["learner_id"] == learner_id
    by_slug = {q["slug"]: q for q in body["quizzes"]}
    first = by_slug["first-quiz"]
    assert (first["attempts"], first["best_score"], first["last_score"]) == (2, 4, 4)
    assert (first["score"], first["max_score"], first["passed"]) == (4, 4, True)
    last = by_slug["last-policy"]
    assert (last["attempts"], last["best_score"], last["last_score"]) == (2, 4, 2)
    assert (last["score"], last["passed"]) == (2, False)  # policy "last": 2/4 < 0.8
    assert body["lessons_completed"] == 1
    assert body["lessons_total"] == 2


def test_progress_of_a_new_learner_lists_every_quiz_unattempted(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    learner_id, auth = register(client)
    body = client.get(f"/v1/learners/{learner_id}/progress", headers=auth).json
    assert body["quizzes"][0]["attempts"] == 0
    assert body["quizzes"][0]["score"] is None
    assert (body["lessons_completed"], body["lessons_total"]) == (0, 1)


def test_results_as_json_and_csv(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    ada, ada_auth = register(client, "Ada")
    bob, bob_auth = register(client, "=cmd|' /C calc'!A0")
    take(client, ada_auth, "sample-quiz", ALL_RIGHT)
    take(client, bob_auth, "sample-quiz", {"q-tf": True})
    key = api_key(app, "integration")
    page = client.get("/v1/quizzes/sample-quiz/results?per_page=1", headers=key).json
    assert page["total"] == 2
    assert [row["learner_id"] for row in page["items"]] == [ada]
    assert page["items"][0]["score"] == 4
    response = client.get("/v1/quizzes/sample-quiz/results?format=csv", headers=key)
    assert response.content_type.startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["learner_id"], r["score"], r["passed"]) for r in rows] == [
        (ada, "4.0", "True"),
        (bob, "1.0", "False"),
    ]
    assert rows[1]["display_name"].startswith("'=")  # no spreadsheet formula injection
    assert client.get("/v1/quizzes/sample-quiz/results", headers=ada_auth).status_code == 403


@pytest.mark.parametrize("name", ["\t=1+1", "\r=1+1", "@SUM(1)", "+1", "-1+1"])
def test_the_csv_export_neutralizes_every_formula_trigger(
    app: Flask, client: FlaskClient, name: str
) -> None:
    """OWASP CSV injection: also a leading tab or carriage return, which spreadsheets skip."""
    seed_sample(app)
    _, auth = register(client, name)
    take(client, auth, "sample-quiz", ALL_RIGHT)
    response = client.get(
        "/v1/quizzes/sample-quiz/results?format=csv", headers=api_key(app, "integration")
    )
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True), newline="")))
    assert rows[0]["display_name"] == "'" + name
    assert rows[0]["score"] == "4.0"
