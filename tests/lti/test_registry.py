"""Platform registrations (admin API and CLI), the tool's keys, and the documents an LMS admin
reads (GET /lti/jwks, GET /lti/config)."""

from __future__ import annotations

import json
from datetime import timedelta

import jwt
import pytest
from flask import Flask
from flask.testing import FlaskClient
from jwcrypto.jwk import JWK  # type: ignore[import-untyped]
from sqlalchemy import select, update

from service.db import utcnow
from service.errors import ServiceUnavailable
from service.lti.keys import RETIRED_KEY_GRACE, generate_key, rotate_key, signing_key
from service.lti.models import LtiToolKey
from tests.backends import all_backends
from tests.factories import api_key, register

pytestmark = all_backends

PLATFORM = {
    "name": "Moodle",
    "issuer": "https://moodle.example.edu",
    "client_id": "client-1",
    "auth_login_url": "https://moodle.example.edu/mod/lti/auth.php",
    "auth_token_url": "https://moodle.example.edu/mod/lti/token.php",
    "key_set_url": "https://moodle.example.edu/mod/lti/certs.php",
    "deployment_ids": ["1"],
}


def test_an_admin_registers_lists_reads_and_removes_a_platform(
    app: Flask, client: FlaskClient
) -> None:
    admin = api_key(app, "admin")
    created = client.post("/v1/lti/platforms", json=PLATFORM, headers=admin)
    assert created.status_code == 201, created.json
    platform_id = created.json["id"]
    assert created.json["deployment_ids"] == ["1"]
    assert created.json["has_key_set"] is False

    duplicate = client.post("/v1/lti/platforms", json=PLATFORM, headers=admin)
    assert duplicate.status_code == 409

    added = client.post(
        f"/v1/lti/platforms/{platform_id}/deployments", json={"deployment_id": "2"}, headers=admin
    )
    assert added.json["deployment_ids"] == ["1", "2"]
    assert (
        client.post(
            f"/v1/lti/platforms/{platform_id}/deployments",
            json={"deployment_id": "2"},
            headers=admin,
        ).status_code
        == 409
    )
    assert (
        client.delete(f"/v1/lti/platforms/{platform_id}/deployments/1", headers=admin).status_code
        == 204
    )
    assert client.get(f"/v1/lti/platforms/{platform_id}", headers=admin).json["deployment_ids"] == [
        "2"
    ]

    listed = client.get("/v1/lti/platforms", headers=admin).json
    assert listed["total"] == 1
    assert client.delete(f"/v1/lti/platforms/{platform_id}", headers=admin).status_code == 204
    assert client.get(f"/v1/lti/platforms/{platform_id}", headers=admin).status_code == 404


def test_a_platform_needs_exactly_one_source_of_keys(app: Flask, client: FlaskClient) -> None:
    admin = api_key(app, "admin")
    both = {**PLATFORM, "key_set": {"keys": []}}
    neither = {k: v for k, v in PLATFORM.items() if k != "key_set_url"}
    for body in (both, neither):
        response = client.post("/v1/lti/platforms", json=body, headers=admin)
        assert response.status_code == 422
        assert "key_set_url" in response.json["errors"]
    pasted = client.post(
        "/v1/lti/platforms", json={**neither, "key_set": {"keys": []}}, headers=admin
    )
    assert pasted.status_code == 201
    assert pasted.json["has_key_set"] is True


def test_bad_urls_are_refused(app: Flask, client: FlaskClient) -> None:
    admin = api_key(app, "admin")
    response = client.post(
        "/v1/lti/platforms", json={**PLATFORM, "auth_token_url": "not a url"}, headers=admin
    )
    assert response.status_code == 422
    assert "auth_token_url" in response.json["errors"]


def test_only_admin_keys_manage_platforms(app: Flask, client: FlaskClient) -> None:
    _, learner = register(client)
    assert client.get("/v1/lti/platforms").status_code == 401
    assert client.get("/v1/lti/platforms", headers=learner).status_code == 403
    integration = api_key(app, "integration")
    assert client.post("/v1/lti/platforms", json=PLATFORM, headers=integration).status_code == 403


def test_the_cli_registers_lists_and_removes_platforms(app: Flask) -> None:
    runner = app.test_cli_runner()
    added = runner.invoke(
        args=[
            "lti", "add-platform",
            "--name", "Canvas",
            "--issuer", "https://canvas.instructure.com",
            "--client-id", "10000000000001",
            "--auth-login-url", "https://sso.canvaslms.com/api/lti/authorize_redirect",
            "--auth-token-url", "https://sso.canvaslms.com/login/oauth2/token",
            "--key-set-url", "https://sso.canvaslms.com/api/lti/security/jwks",
            "--deployment-id", "1:abc", "--deployment-id", "2:def",
        ]
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    assert "deployments 1:abc, 2:def" in added.output
    again = runner.invoke(args=["lti", "add-deployment", "1", "3:ghi"])
    assert "3:ghi" in again.output
    listed = runner.invoke(args=["lti", "list-platforms"])
    assert "https://canvas.instructure.com" in listed.output
    duplicate = runner.invoke(
        args=[
            "lti", "add-platform", "--name", "x", "--issuer", "https://canvas.instructure.com",
            "--client-id", "10000000000001", "--auth-login-url", "https://a.example",
            "--auth-token-url", "https://a.example", "--key-set-url", "https://a.example",
        ]
    )  # fmt: skip
    assert duplicate.exit_code != 0
    assert "already registered" in duplicate.output
    assert runner.invoke(args=["lti", "remove-platform", "1"]).exit_code == 0
    assert "no platforms" in runner.invoke(args=["lti", "list-platforms"]).output


# --------------------------------------------------------------------------------------------
# Keys


def test_keys_are_generated_once_rotated_and_published_without_private_parts(
    app: Flask, client: FlaskClient
) -> None:
    runner = app.test_cli_runner()
    assert client.get("/lti/jwks").json == {"keys": []}
    first = runner.invoke(args=["lti", "generate-key"])
    assert first.output.startswith("created active key ")
    assert runner.invoke(args=["lti", "generate-key"]).output.startswith("kept active key ")
    rotated = runner.invoke(args=["lti", "rotate-key"])
    assert rotated.exit_code == 0
    old_kid = first.output.split()[-1]
    assert f"retired {old_kid}" in rotated.output

    jwks = client.get("/lti/jwks")
    assert jwks.headers["Cache-Control"] == "public, max-age=300"
    keys = jwks.json["keys"]
    assert len(keys) == 2  # the retired key stays during the grace time
    for key in keys:
        assert set(key) == {"kty", "n", "e", "kid", "alg", "use"}
        assert JWK(**key).thumbprint() == key["kid"]
    listed = runner.invoke(args=["lti", "list-keys"]).output
    assert "PRIVATE" not in listed
    assert "active" in listed
    assert "retired" in listed

    with app.extensions["database"].sessionmaker() as session, session.begin():
        session.execute(
            update(LtiToolKey)
            .where(LtiToolKey.kid == old_kid)
            .values(retired_at=utcnow() - RETIRED_KEY_GRACE - timedelta(minutes=1))
        )
    published = [k["kid"] for k in client.get("/lti/jwks").json["keys"]]
    assert len(published) == 1
    assert old_kid not in published
    pruned = runner.invoke(args=["lti", "prune"])
    assert "1 retired keys" in pruned.output


def test_private_keys_are_stored_encrypted_and_sign_verifiably(app: Flask) -> None:
    secret = app.config["SECRET_KEY"]
    with app.extensions["database"].sessionmaker() as session:
        kid, created = generate_key(session, secret)
        assert created
        with session.begin():
            stored = session.scalar(select(LtiToolKey.private_key_encrypted))
            key = signing_key(session, secret)
    assert stored is not None
    assert "PRIVATE KEY" not in stored
    token = jwt.encode({"x": 1}, key.private_pem, "RS256", headers={"kid": kid})
    assert jwt.decode(token, key.public_pem, ["RS256"]) == {"x": 1}


def test_a_changed_secret_key_asks_for_a_rotation(app: Flask) -> None:
    with app.extensions["database"].sessionmaker() as session:
        generate_key(session, "old-secret")
        with session.begin(), pytest.raises(ServiceUnavailable, match="rotate-key"):
            signing_key(session, "new-secret")
        rotate_key(session, "new-secret")
        with session.begin():
            assert signing_key(session, "new-secret").private_pem.startswith("-----BEGIN")


# --------------------------------------------------------------------------------------------
# The registration document


def test_the_config_document_tells_an_lms_admin_what_to_enter(client: FlaskClient) -> None:
    document = client.get("/lti/config").json
    assert document["initiate_login_uri"] == "http://localhost/lti/login"
    assert document["redirect_uris"] == ["http://localhost/lti/launch"]
    assert document["jwks_uri"] == "http://localhost/lti/jwks"
    assert "https://purl.imsglobal.org/spec/lti-ags/scope/score" in document["scope"]
    configuration = document["https://purl.imsglobal.org/spec/lti-tool-configuration"]
    assert {m["type"] for m in configuration["messages"]} == {
        "LtiResourceLinkRequest",
        "LtiDeepLinkingRequest",
    }
    assert document["admin_values"]["public_keyset_url"] == "http://localhost/lti/jwks"


def test_the_config_uses_the_public_base_url(app: Flask) -> None:
    from service import create_app

    other = create_app(
        app.config["SETTINGS"].with_overrides(public_base_url="https://lab.example.org/")
    )
    try:
        document = other.test_client().get("/lti/config").json
        assert document["jwks_uri"] == "https://lab.example.org/lti/jwks"
        printed = other.test_cli_runner().invoke(args=["lti", "config"])
        assert json.loads(printed.output)["redirect_uris"] == ["https://lab.example.org/lti/launch"]
    finally:
        other.extensions["database"].dispose()


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/lti/config"), ("GET", "/lti/login"), ("POST", "/lti/launch")],
)
def test_production_without_a_public_base_url_never_reflects_the_host(
    app: Flask, method: str, path: str
) -> None:
    """APP_ENV=production and no PUBLIC_BASE_URL: every URL the tool would build from the
    request's Host header is refused (503 naming the setting), not written with that host."""
    from service import create_app

    production = create_app(app.config["SETTINGS"].with_overrides(app_env="production"))
    try:
        response = production.test_client().open(
            path, method=method, headers={"Host": "attacker.example"}
        )
        assert response.status_code == 503, response.get_data(as_text=True)
        assert response.content_type == "application/problem+json"
        assert "PUBLIC_BASE_URL" in response.json["detail"]
        assert "attacker.example" not in response.get_data(as_text=True)
    finally:
        production.extensions["database"].dispose()


def test_development_builds_urls_from_the_request(client: FlaskClient) -> None:
    document = client.get("/lti/config", headers={"Host": "laptop.local:8000"}).json
    assert document["jwks_uri"] == "http://laptop.local:8000/lti/jwks"
