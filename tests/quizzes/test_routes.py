"""Quiz HTTP endpoints: listing, preview with ETag, authoring with API keys."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.migrate import upgrade
from service.quizzes.bank_schema import load_quiz
from service.quizzes.services import seed_quizzes
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
    author = {**api_key(app, "author"), "If-Match": etag}
    put = client.put("/v1/quizzes/sample-quiz", json=definition, headers=author)
    assert put.status_code == 200
    response = client.get("/v1/quizzes/sample-quiz", headers={"If-None-Match": etag})
    assert response.status_code == 200
    assert response.json["title"] == "Renamed"
    assert response.headers["ETag"] == put.headers["ETag"] != etag


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
    created = client.post("/v1/quizzes", json=definition, headers=author)
    assert created.headers["ETag"] == client.get("/v1/quizzes/new-quiz").headers["ETag"]
    assert client.post("/v1/quizzes", json=definition, headers=author).status_code == 409
    unchanged = client.put(
        "/v1/quizzes/new-quiz",
        json=definition,
        headers={**author, "If-Match": created.headers["ETag"]},
    )
    assert unchanged.json["version"] == 1
    assert unchanged.headers["ETag"] == created.headers["ETag"]
    definition["questions"].pop()
    changed = client.put(
        "/v1/quizzes/new-quiz",
        json=definition,
        headers={**author, "If-Match": unchanged.headers["ETag"]},
    )
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
    author = {**api_key(app, "author"), "If-Match": "*"}
    assert client.delete("/v1/quizzes/sample-quiz", headers=author).status_code == 204
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404
    assert client.get("/v1/quizzes").json["total"] == 0
    assert client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).status_code == 404
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=auth).status_code == 200
    assert client.delete("/v1/quizzes/sample-quiz", headers=author).status_code == 404
    put = client.put("/v1/quizzes/sample-quiz", json=sample_definition(), headers=author)
    assert put.status_code == 404
    # The bank seed does not bring it back; an author's POST does, as a new version.
    seed_sample(app)
    assert client.get("/v1/quizzes/sample-quiz").status_code == 404
    definition = {**sample_definition(), "title": "Back again"}
    restored = client.post("/v1/quizzes", json=definition, headers=author)
    assert restored.status_code == 201
    assert restored.json["version"] == 2
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=auth).status_code == 200


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


def test_import_with_a_colliding_misconception_is_422_naming_it(
    app: Flask, client: FlaskClient
) -> None:
    text = "::q::2^20?{#=1048576:0 =%0%1048576:0#Looks right but is a mistake.}"
    response = client.post(
        "/v1/quizzes/import?format=gift&slug=collide",
        data=text,
        content_type="text/plain",
        headers=api_key(app, "author"),
    )
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    errors = response.json["errors"]["questions"]["0"]["misconceptions"]
    assert errors == [
        "question 'q': misconception 'looks-right-but-is-a' (1.04858e+06) coincides with the "
        "correct answer (1.04858e+06) within the tolerance"
    ]


def change_only_an_answer(definition: dict[str, Any]) -> dict[str, Any]:
    """The sample quiz with the single-choice question's key moved to the other choice."""
    changed = copy.deepcopy(definition)
    for choice in changed["questions"][1]["choices"]:
        choice["correct"] = not choice.get("correct", False)
    return changed


def test_writes_need_if_match_428(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    author = api_key(app, "author")
    assert client.put("/v1/quizzes/sample-quiz", json=sample_definition()).status_code == 401
    for response in (
        client.put("/v1/quizzes/sample-quiz", json=sample_definition(), headers=author),
        client.delete("/v1/quizzes/sample-quiz", headers=author),
    ):
        assert response.status_code == 428
        assert response.content_type == "application/problem+json"
        assert response.json["type"].endswith(":precondition-required")
        assert "If-Match" in response.json["detail"]
    assert client.get("/v1/quizzes/sample-quiz").json["version"] == 1


def test_a_stale_if_match_is_412_and_writes_nothing(app: Flask, client: FlaskClient) -> None:
    """Two authors read version 1; the second one's write must not undo the first's."""
    seed_sample(app)
    author = api_key(app, "author")
    read = client.get("/v1/quizzes/sample-quiz").headers["ETag"]
    first = {**sample_definition(), "title": "First author's"}
    written = client.put(
        "/v1/quizzes/sample-quiz", json=first, headers={**author, "If-Match": read}
    )
    assert written.status_code == 200
    second = {**sample_definition(), "title": "Second author's"}
    for response in (
        client.put("/v1/quizzes/sample-quiz", json=second, headers={**author, "If-Match": read}),
        client.delete("/v1/quizzes/sample-quiz", headers={**author, "If-Match": read}),
        client.put(
            "/v1/quizzes/sample-quiz",
            json=second,
            headers={**author, "If-Match": read.replace('"', 'W/"', 1)},  # weak: never matches
        ),
    ):
        assert response.status_code == 412
        assert response.json["type"].endswith(":precondition-failed")
    current = client.get("/v1/quizzes/sample-quiz")
    assert current.json["title"] == "First author's"
    assert current.headers["ETag"] == written.headers["ETag"]
    assert (
        client.put(
            "/v1/quizzes/sample-quiz",
            json=second,
            headers={**author, "If-Match": f'"other", {written.headers["ETag"]}'},
        ).status_code
        == 200
    )


def test_the_etag_does_not_depend_on_answers(
    app: Flask, settings: Settings, tmp_path: Path
) -> None:
    """Issue 20: the ETag of GET /v1/quizzes/{slug} must not let anyone recover the answer key.

    The same public content at the same version has the same ETag whatever the answers are:
    here in two databases whose only difference is which choice is right."""
    seed_sample(app)
    other_url = f"sqlite:///{tmp_path / 'other.db'}"
    upgrade(other_url)
    other = create_app(settings.with_overrides(database_url=other_url))
    try:
        with other.extensions["database"].sessionmaker() as session:
            seed_quizzes(session, [load_quiz(change_only_an_answer(sample_definition()))])
        mine = app.test_client().get("/v1/quizzes/sample-quiz")
        theirs = other.test_client().get("/v1/quizzes/sample-quiz")
        assert mine.data == theirs.data
        assert mine.headers["ETag"] == theirs.headers["ETag"]
    finally:
        other.extensions["database"].dispose()


def test_an_answer_only_change_still_makes_if_match_stale(app: Flask, client: FlaskClient) -> None:
    """An answer-only write makes a new version: the ETag changes with the (public) version
    number alone, so an author holding the old ETag gets 412 instead of undoing it."""
    seed_sample(app)
    author = api_key(app, "author")
    before = client.get("/v1/quizzes/sample-quiz")
    changed = client.put(
        "/v1/quizzes/sample-quiz",
        json=change_only_an_answer(sample_definition()),
        headers={**author, "If-Match": before.headers["ETag"]},
    )
    assert changed.status_code == 200
    after = client.get("/v1/quizzes/sample-quiz")
    assert {**after.json, "version": 1} == before.json  # only the version number differs
    assert after.headers["ETag"] != before.headers["ETag"]
    stale = client.put(
        "/v1/quizzes/sample-quiz",
        json=sample_definition(),
        headers={**author, "If-Match": before.headers["ETag"]},
    )
    assert stale.status_code == 412
