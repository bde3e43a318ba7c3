"""Quiz HTTP endpoints: listing, preview with ETag, authoring with API keys."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from tests.backends import all_backends
from tests.factories import api_key, json_keys, register, sample_definition, seed_sample

pytestmark = all_backends


def test_list_is_paginated(app: Flask, client: FlaskClient) -> None:
    for slug in ("quiz-a", "quiz-b", "quiz-c"):
        seed_sample(app, slug)
    page = client.get("/v1/quizzes?per_page=2&page=2").json
    assert page["total"] == 3
    assert (page["page"], page["per_page"]) == (2, 2)
    assert [item["slug"] for item in page["items"]] == ["quiz-c"]
    assert page["items"][0] == {
        "slug": "quiz-c",
        "title": "Sample quiz",
        "lesson": 1,
        "description": "One question of each type.",
        "question_count": 4,
        "max_score": 4.0,
    }


def test_preview_hides_answers_and_supports_etag(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    response = client.get("/v1/quizzes/sample-quiz")
    assert response.status_code == 200
    body = response.json
    assert set(body) == {"slug", "title", "lesson", "description", "version", "questions"}
    assert body["questions"][1] == {
        "id": "q-single",
        "type": "single_choice",
        "prompt": "Which variant normalizes over the batch?",
        "points": 1.0,
        "choices": [{"id": "batch", "text": "Batch norm"}, {"id": "layer", "text": "Layer norm"}],
    }
    assert "choices" not in body["questions"][0]
    etag = response.headers["ETag"]
    cached = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": etag})
    assert cached.status_code == 304
    assert cached.data == b""
    # If-None-Match compares weakly (RFC 9110 13.1.2): a W/ tag or * matches too.
    for header in (f"W/{etag}", '"other", ' + etag, "*"):
        assert (
            client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": header}).status_code
            == 304
        )
    assert (
        client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": '"other"'}).status_code
        == 200
    )


def test_etag_changes_with_the_content(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    etag = client.get("/v1/quizzes/sample-quiz").headers["ETag"]
    definition = sample_definition()
    definition["title"] = "Renamed"
    client.put("/v1/quizzes/sample-quiz", json=definition, headers=api_key(app, "author"))
    response = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json["title"] == "Renamed"


def test_authoring_needs_an_author_key(app: Flask, client: FlaskClient) -> None:
    definition = sample_definition("new-quiz")
    assert client.post("/v1/quizzes", json=definition).status_code == 401
    _, learner = register(client)
    assert client.post("/v1/quizzes", json=definition, headers=learner).status_code == 403
    integration = api_key(app, "integration")
    assert client.post("/v1/quizzes", json=definition, headers=integration).status_code == 403
    created = client.post("/v1/quizzes", json=definition, headers=api_key(app, "author"))
    assert created.status_code == 201
    assert created.json["slug"] == "new-quiz"
    assert created.json["version"] == 1


def test_create_twice_is_409_and_put_makes_a_version(app: Flask, client: FlaskClient) -> None:
    author = api_key(app, "author")
    definition = sample_definition("new-quiz")
    client.post("/v1/quizzes", json=definition, headers=author)
    assert client.post("/v1/quizzes", json=definition, headers=author).status_code == 409
    unchanged = client.put("/v1/quizzes/new-quiz", json=definition, headers=author)
    assert unchanged.json["version"] == 1
    definition["questions"].pop()
    changed = client.put("/v1/quizzes/new-quiz", json=definition, headers=author)
    assert changed.json["version"] == 2
    assert len(changed.json["questions"]) == 3


def test_invalid_definitions_name_the_field(app: Flask, client: FlaskClient) -> None:
    author = api_key(app, "author")
    definition = sample_definition("bad-quiz")
    definition["questions"][1]["choices"][1]["correct"] = True  # two right answers
    definition["questions"][0]["tolerance"] = {"kind": "relative", "value": 5}
    response = client.post("/v1/quizzes", json=definition, headers=author)
    assert response.status_code == 422
    errors = response.json["errors"]["questions"]
    assert set(errors) == {"0", "1"}
    assert "value" in errors["0"]["tolerance"]


def test_soft_delete_hides_the_quiz_but_keeps_results(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, auth = register(client)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    author = api_key(app, "author")
    assert client.delete("/v1/quizzes/sample-quiz", headers=author).status_code == 204
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404
    assert client.get("/v1/quizzes").json["total"] == 0
    assert client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).status_code == 404
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=auth).status_code == 200
    assert client.delete("/v1/quizzes/sample-quiz", headers=author).status_code == 404
    # The bank seed does not bring it back.
    seed_sample(app)
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404


FORBIDDEN_BEFORE_GRADING = {
    "answer",
    "correct",
    "correct_answer",
    "explanation",
    "tolerance",
    "generator",
    "result",
    "results",
}


def test_no_quiz_response_leaks_an_answer_before_grading(app: Flask, client: FlaskClient) -> None:
    from service.quizzes.services import seed_bank

    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    _, auth = register(client)
    listing = client.get("/v1/quizzes").json
    responses = [listing]
    for item in listing["items"]:
        slug = item["slug"]
        responses.append(client.get(f"/v1/quizzes/{slug}").json)
        attempt = client.post(f"/v1/quizzes/{slug}/attempts", headers=auth).json
        responses.append(attempt)
        responses.append(client.get(f"/v1/attempts/{attempt['id']}", headers=auth).json)
    for response in responses:
        leaked = json_keys(response) & FORBIDDEN_BEFORE_GRADING
        assert not leaked or (leaked == {"result"} and response.get("result") is None), leaked
    assert len(responses) == 1 + 3 * len(listing["items"])


def test_export_needs_an_api_key_and_round_trips(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    _, learner = register(client)
    assert client.get("/v1/quizzes/sample-quiz/export").status_code == 401
    assert client.get("/v1/quizzes/sample-quiz/export", headers=learner).status_code == 403
    key = api_key(app, "author")
    exported = client.get("/v1/quizzes/sample-quiz/export?format=json", headers=key)
    assert exported.status_code == 200
    assert exported.json["questions"][0]["answer"] == 1048576
    gift = client.get("/v1/quizzes/sample-quiz/export?format=gift", headers=key)
    assert gift.mimetype == "text/plain"
    assert "::q-numeric::" in gift.get_data(as_text=True)
    xml = client.get("/v1/quizzes/sample-quiz/export?format=moodle-xml", headers=key)
    assert xml.mimetype == "application/xml"
    imported = client.post(
        "/v1/quizzes/import?format=moodle-xml&slug=imported-quiz",
        data=xml.get_data(),
        content_type="application/xml",
        headers=key,
    )
    assert imported.status_code == 201, imported.json
    assert imported.json["slug"] == "imported-quiz"
    assert [q["type"] for q in imported.json["questions"]] == [
        "numeric",
        "single_choice",
        "multiple_choice",
        "true_false",
    ]


def test_import_of_junk_is_422(app: Flask, client: FlaskClient) -> None:
    response = client.post(
        "/v1/quizzes/import?format=gift",
        data="this is not gift {{{",
        content_type="text/plain",
        headers=api_key(app, "author"),
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
