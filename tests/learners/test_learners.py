"""Registration, tokens and isolation between learners."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from service import create_app
from service.auth.models import LearnerToken
from service.auth.services import issue_learner_token
from service.config import Settings
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, seed_sample

pytestmark = all_backends


def test_register_returns_id_token_and_name(client: FlaskClient) -> None:
    response = client.post("/v1/learners", json={"display_name": "Ada"})
    assert response.status_code == 201
    body = response.json
    assert set(body) == {"id", "token", "display_name", "token_expires_at"}
    assert body["display_name"] == "Ada"
    me = client.get("/v1/learners/me", headers={"Authorization": f"Bearer {body['token']}"})
    assert me.status_code == 200
    assert me.json["id"] == body["id"]
    assert me.json["from_lms"] is False


def test_anonymous_registration_gets_a_default_name(client: FlaskClient) -> None:
    response = client.post("/v1/learners", json={})
    assert response.json["display_name"] == "Anonymous learner"


def test_token_is_stored_only_as_a_keyed_hash(app: Flask, client: FlaskClient) -> None:
    response = client.post("/v1/learners", json={})
    token = response.json["token"]
    with app.extensions["database"].sessionmaker() as session, session.begin():
        hashes = session.scalars(select(LearnerToken.secret_hash)).all()
    assert len(hashes) == 1
    assert token not in hashes[0]
    assert token.split(".")[1] not in hashes[0]


@pytest.mark.parametrize(
    "header",
    [
        {},
        {"Authorization": "Bearer not-a-token"},
        {"Authorization": "Bearer " + "0" * 32 + ".forgedforgedforgedforgedforged"},
        {"X-API-Key": "alk_" + "0" * 32 + "_forgedforgedforgedforged"},
    ],
    ids=["none", "garbage", "forged-token", "forged-key"],
)
def test_missing_or_forged_credentials_are_401(client: FlaskClient, header: dict) -> None:
    response = client.get("/v1/learners/me", headers=header)
    assert response.status_code == 401
    assert response.content_type == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_with_a_tampered_secret_is_401(client: FlaskClient) -> None:
    _, auth = register(client)
    tampered = auth["Authorization"][:-3] + (
        "aaa" if not auth["Authorization"].endswith("aaa") else "bbb"
    )
    assert client.get("/v1/learners/me", headers={"Authorization": tampered}).status_code == 401


def test_revoked_token_is_401(client: FlaskClient) -> None:
    _, auth = register(client)
    assert client.delete("/v1/learners/me/token", headers=auth).status_code == 204
    response = client.get("/v1/learners/me", headers=auth)
    assert response.status_code == 401
    assert "revoked" in response.json["detail"]


def test_expired_token_is_401(app: Flask, client: FlaskClient) -> None:
    learner_id, _ = register(client)
    with app.extensions["database"].sessionmaker() as session, session.begin():
        issued = issue_learner_token(
            session, uuid.UUID(learner_id), app.config["SECRET_KEY"], timedelta(seconds=-1), "lti"
        )
    response = client.get("/v1/learners/me", headers={"Authorization": f"Bearer {issued.token}"})
    assert response.status_code == 401
    assert "expired" in response.json["detail"]


def test_a_token_signed_with_another_secret_key_is_401(settings: Settings) -> None:
    first = create_app(settings).test_client()
    token = first.post("/v1/learners", json={}).json["token"]
    other = create_app(settings.with_overrides(secret_key="another")).test_client()
    assert (
        other.get("/v1/learners/me", headers={"Authorization": f"Bearer {token}"}).status_code
        == 401
    )


def test_learners_cannot_read_each_other(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    alice, alice_auth = register(client, "Alice")
    bob, bob_auth = register(client, "Bob")
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=alice_auth).json
    assert client.get(f"/v1/learners/{alice}/progress", headers=bob_auth).status_code == 403
    assert client.get(f"/v1/learners/{alice}", headers=bob_auth).status_code == 403
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=bob_auth).status_code == 404
    submit = client.post(
        f"/v1/attempts/{attempt['id']}/submission", json={"answers": ALL_RIGHT}, headers=bob_auth
    )
    assert submit.status_code == 404
    assert client.delete(f"/v1/learners/{alice}", headers=bob_auth).status_code == 403
    assert client.get(f"/v1/learners/{bob}/progress", headers=bob_auth).status_code == 200
    # Nothing of Alice's changed.
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=alice_auth).json["status"] == "open"


def test_api_keys_read_any_learner_but_need_the_right_role(app: Flask, client: FlaskClient) -> None:
    learner_id, learner_auth = register(client)
    integration = api_key(app, "integration")
    assert client.get(f"/v1/learners/{learner_id}/progress", headers=integration).status_code == 200
    listing = client.get("/v1/learners?per_page=10", headers=integration).json
    assert listing["total"] == 1
    assert listing["items"][0]["id"] == learner_id
    # A learner token is not an API key, and an integration key may not delete learners.
    assert client.get("/v1/learners", headers=learner_auth).status_code == 403
    assert client.delete(f"/v1/learners/{learner_id}", headers=integration).status_code == 403


def test_per_page_above_the_cap_is_422(app: Flask, client: FlaskClient) -> None:
    response = client.get("/v1/learners?per_page=1000", headers=api_key(app, "admin"))
    assert response.status_code == 422
    assert "MAX_PAGE_SIZE" in response.json["errors"]["per_page"][0]


def test_deleting_a_learner_removes_their_attempts(app: Flask, client: FlaskClient) -> None:
    seed_sample(app)
    learner_id, auth = register(client)
    attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
    assert client.delete(f"/v1/learners/{learner_id}", headers=auth).status_code == 204
    admin = api_key(app, "admin")
    assert client.get(f"/v1/attempts/{attempt['id']}", headers=admin).status_code == 404
    assert client.get(f"/v1/learners/{learner_id}", headers=admin).status_code == 404
    assert client.get("/v1/learners/me", headers=auth).status_code == 401


def test_closed_registration_needs_an_integration_key(settings: Settings) -> None:
    app = create_app(settings.with_overrides(open_registration=False))
    client = app.test_client()
    assert client.post("/v1/learners", json={}).status_code == 401
    assert client.post("/v1/learners", json={}, headers=api_key(app, "author")).status_code == 403
    assert (
        client.post("/v1/learners", json={}, headers=api_key(app, "integration")).status_code == 201
    )
