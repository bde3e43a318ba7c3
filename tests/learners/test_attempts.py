"""The attempt lifecycle: start, resume, submit exactly once, replay, unreadable answers."""

from __future__ import annotations

import json

from flask import Flask
from flask.testing import FlaskClient

from tests.backends import all_backends
from tests.factories import (
    ALL_RIGHT,
    api_key,
    json_keys,
    register,
    sample_definition,
    seed_sample,
)

pytestmark = all_backends

ANSWER_KEYS = {"answer", "correct", "explanation", "correct_answer", "tolerance", "generator"}


def start(client: FlaskClient, auth: dict[str, str], slug: str = "sample-quiz"):
    return client.post(f"/v1/quizzes/{slug}/attempts", headers=auth)


def test_start_then_resume_returns_the_same_open_attempt(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    first = start(client, auth)
    assert first.status_code == 201
    body = first.json
    assert {"id", "quiz", "attempt_number", "started_at", "questions"} <= set(body)
    assert body["quiz"] == "sample-quiz"
    assert body["attempt_number"] == 1
    assert [q["id"] for q in body["questions"]] == ["q-numeric", "q-single", "q-multi", "q-tf"]
    assert not ANSWER_KEYS & json_keys(body["questions"])
    again = start(client, auth)
    assert again.status_code == 200
    assert again.json == body


def test_full_marks_then_second_submission_is_409(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    url = f"/v1/attempts/{attempt['id']}/submission"
    graded = client.post(url, json={"answers": ALL_RIGHT}, headers=auth)
    assert graded.status_code == 200
    result = graded.json
    assert result["attempt_id"] == attempt["id"]
    assert (result["score"], result["max_score"], result["passed"]) == (4, 4, True)
    assert all(r["correct"] for r in result["results"])
    assert result["results"][0]["correct_answer"] == 1048576
    assert result["results"][0]["explanation"] == "Each layer multiplies by 2."
    second = client.post(url, json={"answers": {"q-numeric": "1"}}, headers=auth)
    assert second.status_code == 409
    assert "already submitted" in second.json["detail"]
    stored = client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json
    assert stored["status"] == "submitted"
    assert stored["result"]["score"] == 4


def test_partial_credit_and_missing_answers(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    answers = {"q-numeric": "1e6", "q-multi": ["layer", "batch"]}
    result = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=auth
    ).json
    by_id = {r["question_id"]: r for r in result["results"]}
    assert by_id["q-numeric"]["points"] == 0
    assert by_id["q-multi"]["points"] == 0  # one right pick minus one wrong pick
    assert by_id["q-single"]["feedback"] == "not answered"
    assert result["score"] == 0
    assert result["passed"] is False


def test_idempotency_key_replays_the_stored_result(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    url = f"/v1/attempts/{attempt['id']}/submission"
    headers = {**auth, "Idempotency-Key": "click-1"}
    first = client.post(url, json={"answers": ALL_RIGHT}, headers=headers)
    replay = client.post(url, json={"answers": ALL_RIGHT}, headers=headers)
    assert first.status_code == replay.status_code == 200
    assert replay.json == first.json
    assert first.headers["Idempotent-Replayed"] == "false"
    assert replay.headers["Idempotent-Replayed"] == "true"
    # The same key with other answers is neither a retry nor a new submission.
    reused = client.post(url, json={"answers": {}}, headers=headers)
    assert reused.status_code == 422
    assert reused.json["type"] == "urn:activation-lab:problem:idempotency-key-reused"
    assert "'click-1' was used for attempt" in reused.json["detail"]
    assert reused.json["errors"] == {"Idempotency-Key": ["was used with other answers"]}
    again = client.post(url, json={"answers": ALL_RIGHT}, headers=headers)
    assert again.json == first.json  # still the first submission's result
    other_key = client.post(
        url, json={"answers": ALL_RIGHT}, headers={**auth, "Idempotency-Key": "2"}
    )
    assert other_key.status_code == 409


def test_unreadable_answer_is_422_and_the_attempt_stays_open(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    url = f"/v1/attempts/{attempt['id']}/submission"
    bad = client.post(
        url, json={"answers": {**ALL_RIGHT, "q-numeric": "two to the 20"}}, headers=auth
    )
    assert bad.status_code == 422
    assert list(bad.json["errors"]["answers"]) == ["q-numeric"]
    assert "q-numeric" in bad.json["detail"]
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json["status"] == "open"
    good = client.post(url, json={"answers": ALL_RIGHT}, headers=auth)
    assert good.status_code == 200


def test_answers_must_be_an_object(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    url = f"/v1/attempts/{attempt['id']}/submission"
    for body in ({}, {"answers": [1, 2]}, {"answers": "x"}):
        response = client.post(
            url, data=json.dumps(body), content_type="application/json", headers=auth
        )
        assert response.status_code == 422
        assert "answers" in response.json["errors"]


def test_new_attempt_after_submission_gets_new_numbering(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    first = start(client, auth).json
    client.post(f"/v1/attempts/{first['id']}/submission", json={"answers": {}}, headers=auth)
    second = start(client, auth)
    assert second.status_code == 201
    assert second.json["attempt_number"] == 2
    assert second.json["id"] != first["id"]


def test_max_attempts_is_enforced_with_409(app: Flask, client: FlaskClient) -> None:
    seed_sample(app, "limited", max_attempts=1)
    _, auth = register(client)
    attempt = start(client, auth, "limited").json
    client.post(f"/v1/attempts/{attempt['id']}/submission", json={"answers": {}}, headers=auth)
    refused = start(client, auth, "limited")
    assert refused.status_code == 409
    assert "All 1 attempts" in refused.json["detail"]


def test_unknown_quiz_and_attempt_are_404(client: FlaskClient) -> None:
    _, auth = register(client)
    assert start(client, auth, "no-such-quiz").status_code == 404
    missing = "00000000-0000-4000-8000-000000000000"
    assert client.get(f"/v1/attempts/{missing}", headers=auth).status_code == 404


def test_an_attempt_keeps_its_quiz_version_after_the_quiz_changes(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    preview = client.get("/v1/quizzes/sample-quiz")
    assert preview.json["version"] == 1
    author = {**api_key(app, "author"), "If-Match": preview.headers["ETag"]}
    definition = sample_definition()
    definition["questions"] = definition["questions"][:1]
    assert client.put("/v1/quizzes/sample-quiz", json=definition, headers=author).status_code == 200
    assert client.get("/v1/quizzes/sample-quiz").json["version"] == 2
    result = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    ).json
    assert result["max_score"] == 4  # graded against version 1, which had four questions


def test_api_key_reads_an_attempt_but_cannot_submit_it(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = start(client, auth).json
    key = api_key(app, "integration")
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=key).status_code == 200
    submit = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": {}}, headers=key
    )
    assert submit.status_code == 403


def test_after_pass_shows_a_failed_attempts_answers_once_another_passed(
    app: Flask, client: FlaskClient
) -> None:
    seed_sample(app, show_correct_answers="after_pass", pass_fraction=0.75)
    _, auth = register(client)
    failed = start(client, auth).json
    graded = client.post(
        f"/v1/attempts/{failed['id']}/submission", json={"answers": {}}, headers=auth
    ).json
    assert not graded["passed"]
    assert all(r["correct_answer"] is None for r in graded["results"])

    def stored_answers() -> list[object]:
        stored = client.get(f"/v1/attempts/{failed['id']}", headers=auth).json
        return [r["correct_answer"] for r in stored["result"]["results"]]

    assert stored_answers() == [None] * 4
    passed = start(client, auth).json
    client.post(
        f"/v1/attempts/{passed['id']}/submission", json={"answers": ALL_RIGHT}, headers=auth
    )
    assert stored_answers()[0] == 1048576


def test_a_wrong_answer_shows_the_misconception_behind_it(app: Flask, client: FlaskClient) -> None:
    from service.quizzes.services import seed_bank

    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    _, auth = register(client)
    attempt = start(client, auth, "activation-distribution").json
    assert "misconception" not in json.dumps(attempt)
    answers = {"q1-variance-20-layers": 40, "q3-internal-covariate-shift": "a"}
    result = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=auth
    ).json
    by_id = {r["question_id"]: r for r in result["results"]}
    hit = by_id["q1-variance-20-layers"]["misconception"]
    assert hit["id"] == "added-factors"
    assert "the factors multiply" in hit["feedback"]
    assert by_id["q1-variance-20-layers"]["feedback"] == "incorrect (read as 40)"
    assert by_id["q3-internal-covariate-shift"]["misconception"] is None  # right answer
    assert by_id["q2-linear-stack-variance"]["misconception"] is None  # not answered
    stored = client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json
    assert stored["result"]["results"][0]["misconception"] == hit
