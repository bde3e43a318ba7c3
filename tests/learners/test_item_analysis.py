"""GET /v1/quizzes/{slug}/analytics and `quiz_analytics`: every figure against a hand computation
on a fixture of attempts, on SQLite and PostgreSQL."""

from __future__ import annotations

import csv
import io
import math
import uuid
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.learners.item_analysis import quiz_analytics
from service.quizzes.bank_schema import load_quiz
from service.quizzes.services import seed_quizzes
from tests.backends import all_backends
from tests.factories import api_key, register

pytestmark = all_backends

SLUG = "analysed"
DEFINITION: dict[str, Any] = {
    "slug": SLUG,
    "title": "Analysed",
    "settings": {"shuffle_choices": False},
    "questions": [
        {
            "id": "n",
            "type": "numeric",
            "prompt": "20 doublings?",
            "answer": "2^20",
            "tolerance": {"kind": "relative", "value": 0.0001},
            "explanation": "2^20.",
            "misconceptions": [
                {"id": "added-factors", "value": 40, "feedback": "Factors multiply."},
                {"id": "standard-deviation", "value": 1024, "feedback": "That is the sd."},
            ],
        },
        {
            "id": "s",
            "type": "single_choice",
            "prompt": "Pick a.",
            "choices": [
                {"id": "a", "text": "A", "correct": True},
                {"id": "b", "text": "B"},
                {"id": "c", "text": "C"},
                {"id": "d", "text": "D"},
            ],
            "explanation": "a.",
            "misconceptions": [{"id": "m-b", "choice": "b", "feedback": "Not b."}],
        },
        {
            "id": "m",
            "type": "multiple_choice",
            "points": 2,
            "prompt": "Pick x and y.",
            "choices": [
                {"id": "x", "text": "X", "correct": True},
                {"id": "y", "text": "Y", "correct": True},
                {"id": "z", "text": "Z"},
            ],
            "explanation": "x, y.",
            "misconceptions": [{"id": "m-z", "choice": "z", "feedback": "Not z."}],
        },
    ],
}

# First attempts of five learners; marks (n, s, m) and totals by hand:
#   L1 right everywhere                      (1, 1, 2) = 4
#   L2 40, b, [x]     -> added-factors, m-b  (0, 0, 1) = 1   (m: (1 − 0)/2 of 2 points)
#   L3 2^20, c, [x,z] -> m-z                 (1, 0, 0) = 1   (m: (1 − 1)/2 = 0)
#   L4 1024, a, [x,y] -> standard-deviation  (0, 1, 2) = 3
#   L5 40, a, [y]     -> added-factors       (0, 1, 1) = 2
# L1 then makes a second attempt: 40, b, [z] -> (0, 0, 0) = 0, three misconceptions.
FIRST = [
    {"n": "2^20", "s": "a", "m": ["x", "y"]},
    {"n": 40, "s": "b", "m": ["x"]},
    {"n": "1048576", "s": "c", "m": ["x", "z"]},
    {"n": 1024, "s": "a", "m": ["x", "y"]},
    {"n": "40.0", "s": "a", "m": ["y"]},
]
SECOND = {"n": 40, "s": "b", "m": ["z"]}

# Totals T = [4, 1, 1, 3, 2]: mean 11/5, Σ(T − mean)² = 6.8, sample variance 1.7.
# Sample variances of the marks: n [1,0,1,0,0] 0.3, s [1,0,0,1,1] 0.3, m [2,1,0,2,1] 0.7.
# Rest of the quiz X = T − x and Pearson r(x, X) by hand:
#   n: X = [3,1,0,3,2], Σdx·dX = −0.6, Σdx² = 1.2, ΣdX² = 6.8
#   s: X = [3,1,1,2,1], Σdx·dX = 1.2,  Σdx² = 1.2, ΣdX² = 3.2
#   m: X = [2,0,1,1,1], Σdx·dX = 1.0,  Σdx² = 2.8, ΣdX² = 2.0
EXPECTED_QUIZ = {
    "attempts": 5,
    "max_score": 4,
    "mean_score": 2.2,
    "median_score": 2,
    "score_sd": math.sqrt(1.7),
    "cronbach_alpha": 100 * 3 / 2 * (1 - (0.3 + 0.3 + 0.7) / 1.7),  # 35.29 %
}
EXPECTED_QUESTIONS = {
    "n": {
        "facility_index": 40,
        "discrimination_index": 100 * -0.6 / math.sqrt(1.2 * 6.8),  # −21.00 %
        "choices": {},
        "misconceptions": {"added-factors": 2, "standard-deviation": 1},
    },
    "s": {
        "facility_index": 60,
        "discrimination_index": 100 * 1.2 / math.sqrt(1.2 * 3.2),  # 61.24 %
        "choices": {"a": 3, "b": 1, "c": 1, "d": 0},
        "misconceptions": {"m-b": 1},
    },
    "m": {
        "facility_index": 60,  # mean of [1, ½, 0, 1, ½]
        "discrimination_index": 100 * 1.0 / math.sqrt(2.8 * 2.0),  # 42.26 %
        "choices": {"x": 4, "y": 3, "z": 1},
        "misconceptions": {"m-z": 1},
    },
}


def _submit(client: FlaskClient, auth: dict[str, str], answers: dict[str, Any]) -> None:
    attempt = client.post(f"/v1/quizzes/{SLUG}/attempts", headers=auth).json
    response = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=auth
    )
    assert response.status_code == 200, response.json


@pytest.fixture
def learners(app: Flask, client: FlaskClient) -> list[str]:
    """The fixture's attempts submitted through the API; the learners' ids in order."""
    with app.extensions["database"].sessionmaker() as session:
        seed_quizzes(session, [load_quiz(DEFINITION)])
    ids = []
    for number, answers in enumerate(FIRST, start=1):
        learner_id, auth = register(client, f"L{number}")
        _submit(client, auth, answers)
        if number == 1:
            _submit(client, auth, SECOND)
        ids.append(learner_id)
    _, auth = register(client, "Open only")
    client.post(f"/v1/quizzes/{SLUG}/attempts", headers=auth)  # never submitted: not counted
    return ids


def _approx(expected: dict[str, Any]) -> dict[str, Any]:
    return {
        k: pytest.approx(v, rel=1e-12) if isinstance(v, float) else v for k, v in expected.items()
    }


def test_every_figure_matches_the_hand_computation(
    app: Flask, client: FlaskClient, learners: list[str]
) -> None:
    response = client.get(f"/v1/quizzes/{SLUG}/analytics", headers=api_key(app, "author"))
    assert response.status_code == 200
    body = response.json
    assert (body["quiz"], body["version"], body["attempts_included"]) == (SLUG, 1, "first")
    assert {k: body[k] for k in EXPECTED_QUIZ} == _approx(EXPECTED_QUIZ)
    assert [q["id"] for q in body["questions"]] == ["n", "s", "m"]
    for question in body["questions"]:
        expected = EXPECTED_QUESTIONS[question["id"]]
        assert {k: question[k] for k in expected} == _approx(expected)
        assert question["attempts"] == 5
    by_id = {q["id"]: q for q in body["questions"]}
    assert by_id["s"]["random_guess_score"] == 25
    assert by_id["m"]["intended_weight"] == 50
    assert body["reasons"] == {}


def test_all_attempts_and_a_learner_filter(
    app: Flask, client: FlaskClient, learners: list[str]
) -> None:
    body = client.get(
        f"/v1/quizzes/{SLUG}/analytics?attempts=all", headers=api_key(app, "integration")
    ).json
    assert body["attempts_included"] == "all"
    assert body["attempts"] == 6
    assert body["mean_score"] == pytest.approx(11 / 6)
    by_id = {q["id"]: q for q in body["questions"]}
    assert by_id["n"]["misconceptions"] == {"added-factors": 3, "standard-deviation": 1}
    assert by_id["s"]["choices"] == {"a": 3, "b": 2, "c": 1, "d": 0}
    assert by_id["m"]["misconceptions"] == {"m-z": 2}
    with app.extensions["database"].sessionmaker() as session:
        two = quiz_analytics(session, SLUG, learner_ids=[uuid.UUID(i) for i in learners[:2]])
        none = quiz_analytics(session, SLUG, learner_ids=[])
    assert (two.figures.attempts, two.figures.mean_score) == (2, 2.5)  # totals 4 and 1
    assert two.figures.skewness is None
    assert two.figures.reasons["cronbach_alpha"] == "needs at least 3 attempts"
    assert none.figures.attempts == 0
    assert none.figures.questions[0].facility_index is None
    assert (
        none.figures.questions[0].reasons["facility_index"] == "no attempt includes this question"
    )


def test_too_few_attempts_give_null_with_a_reason(app: Flask, client: FlaskClient) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_quizzes(session, [load_quiz(DEFINITION)])
    _, auth = register(client)
    _submit(client, auth, FIRST[1])
    body = client.get(f"/v1/quizzes/{SLUG}/analytics", headers=api_key(app, "admin")).json
    assert (body["attempts"], body["mean_score"], body["score_sd"]) == (1, 1, None)
    assert body["reasons"]["score_sd"] == "needs at least 2 attempts"
    question = body["questions"][0]
    assert question["facility_index"] == 0
    assert question["discrimination_index"] is None
    assert question["reasons"]["discrimination_index"] == "needs at least 2 attempts"
    assert question["misconceptions"] == {"added-factors": 1, "standard-deviation": 0}


def test_csv(app: Flask, client: FlaskClient, learners: list[str]) -> None:
    response = client.get(
        f"/v1/quizzes/{SLUG}/analytics?format=csv", headers=api_key(app, "author")
    )
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert f'filename="{SLUG}-analytics.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(response.get_data(as_text=True))))
    assert [(r["scope"], r["question_id"]) for r in rows] == [
        ("quiz", ""),
        ("question", "n"),
        ("question", "s"),
        ("question", "m"),
    ]
    quiz, n, s, _ = rows
    assert float(quiz["mean_score"]) == pytest.approx(2.2)
    assert float(quiz["cronbach_alpha"]) == pytest.approx(EXPECTED_QUIZ["cronbach_alpha"])
    assert quiz["facility_index"] == ""
    assert float(n["discrimination_index"]) == pytest.approx(
        EXPECTED_QUESTIONS["n"]["discrimination_index"]
    )  # a negative number stays a number
    assert n["misconceptions"] == "added-factors=2; standard-deviation=1"
    assert s["choices"] == "a=3; b=1; c=1; d=0"


def test_who_may_read_analytics(app: Flask, client: FlaskClient) -> None:
    with app.extensions["database"].sessionmaker() as session:
        seed_quizzes(session, [load_quiz(DEFINITION)])
    url = f"/v1/quizzes/{SLUG}/analytics"
    assert client.get(url).status_code == 401
    _, learner = register(client)
    assert client.get(url, headers=learner).status_code == 403
    for role in ("author", "integration", "admin"):
        assert client.get(url, headers=api_key(app, role)).status_code == 200
    key = api_key(app, "author")
    assert client.get("/v1/quizzes/nope/analytics", headers=key).status_code == 404
    bad = client.get(f"{url}?attempts=some", headers=key)
    assert bad.status_code == 422
    assert bad.content_type == "application/problem+json"


def test_true_false_answers_are_counted_as_choices(app: Flask, client: FlaskClient) -> None:
    definition = {
        **DEFINITION,
        "questions": [
            *DEFINITION["questions"],
            {
                "id": "t",
                "type": "true_false",
                "prompt": "True?",
                "answer": True,
                "explanation": ".",
            },
        ],
    }
    with app.extensions["database"].sessionmaker() as session:
        seed_quizzes(session, [load_quiz(definition)])
    for answer in (True, "false", True):
        _, auth = register(client)
        _submit(client, auth, {"t": answer})
    body = client.get(f"/v1/quizzes/{SLUG}/analytics", headers=api_key(app, "author")).json
    by_id = {q["id"]: q for q in body["questions"]}
    assert by_id["t"]["choices"] == {"true": 2, "false": 1}
    assert by_id["t"]["facility_index"] == pytest.approx(200 / 3)
    assert by_id["t"]["random_guess_score"] == 50
    assert by_id["n"]["choices"] == {}  # blank numeric answers pick nothing
