"""LTI Dynamic Registration end to end against a platform written from the specification
(registration_platform.py): the initiation URL, the configuration checks, the registration
request the platform accepts, the stored platform and deployment, the closing message, and a
launch from the newly registered platform. Off unless the issuer is listed."""

from __future__ import annotations

import dataclasses
from typing import Any
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient

from service.config import Settings
from service.lti.keys import generate_key
from tests.backends import all_backends
from tests.factories import api_key, seed_sample
from tests.lti.conftest import QUIZ, TARGET, row_counts
from tests.lti.platform import Lms, launch_form

pytestmark = all_backends
TOOL_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-tool-configuration"
PLATFORM_CONFIGURATION = "https://purl.imsglobal.org/spec/lti-platform-configuration"
DEEP_LINKING_ONLY = {"messages_supported": [{"type": "LtiDeepLinkingRequest"}]}


@pytest.fixture
def settings(settings: Settings, lms: Lms) -> Settings:
    return dataclasses.replace(settings, lti_registration_issuers=(lms.issuer,))


@pytest.fixture
def keyed(app: Flask) -> Flask:
    with app.extensions["database"].sessionmaker() as session:
        generate_key(session, app.config["SECRET_KEY"])
    return app


def _initiate(client: FlaskClient, lms: Lms, **params: str) -> Any:
    query = {
        "openid_configuration": f"{lms.issuer}/.well-known/openid-configuration",
        "registration_token": lms.registration_token,
        **params,
    }
    return client.get(f"/lti/register?{urlencode(query)}")


def _platforms(app: Flask, client: FlaskClient) -> list[dict[str, Any]]:
    listed = client.get("/v1/lti/platforms", headers=api_key(app, "admin"))
    return list(listed.json["items"])


def test_a_platform_registers_the_tool_and_launches_with_it(
    keyed: Flask, client: FlaskClient, lms: Lms
) -> None:
    response = _initiate(client, lms)
    assert response.status_code == 200, response.get_data(as_text=True)
    page = response.get_data(as_text=True)
    assert "postMessage({subject: 'org.imsglobal.lti.close'}, '*')" in page
    assert "script-src 'sha256-" in response.headers["Content-Security-Policy"]

    [request] = lms.registrations  # the platform found nothing to refuse in it
    assert request["initiate_login_uri"] == "http://localhost/lti/login"
    assert request["redirect_uris"] == ["http://localhost/lti/launch"]
    assert request["jwks_uri"] == "http://localhost/lti/jwks"
    messages = [m["type"] for m in request[TOOL_CONFIGURATION]["messages"]]
    assert messages == ["LtiResourceLinkRequest", "LtiDeepLinkingRequest"]
    assert "contextmembership.readonly" in request["scope"]

    [platform] = _platforms(keyed, client)
    assert platform["issuer"] == lms.issuer
    assert platform["client_id"] == "dynamic-client-1"
    assert platform["deployment_ids"] == ["dynamic-deployment-1"]
    assert platform["key_set_url"] == lms.jwks_url
    assert platform["auth_login_url"] == lms.auth_url
    assert platform["auth_token_url"] == lms.token_url

    # The platform now launches with the client id and deployment it gave the tool.
    seed_sample(keyed, QUIZ)
    lms.client_id, lms.deployment_id = "dynamic-client-1", "dynamic-deployment-1"
    assert launch_form(client, lms, TARGET).post(client).status_code == 303


def test_only_messages_the_platform_supports_are_registered(
    keyed: Flask, client: FlaskClient, lms: Lms
) -> None:
    lms.openid_changes = {
        PLATFORM_CONFIGURATION: {
            "product_family_code": "tiny",
            "messages_supported": [{"type": "LtiResourceLinkRequest"}],
        }
    }
    assert _initiate(client, lms).status_code == 200
    [request] = lms.registrations
    assert [m["type"] for m in request[TOOL_CONFIGURATION]["messages"]] == [
        "LtiResourceLinkRequest"
    ]


@pytest.mark.parametrize(
    ("changes", "status", "reason"),
    [
        ({"issuer": "https://evil.example"}, 400, "does not match the URL it came from"),
        ({"registration_endpoint": None}, 400, "lacks registration_endpoint"),
        ({"jwks_uri": "not a url"}, 400, "lacks jwks_uri"),
        ({"token_endpoint_auth_methods_supported": ["client_secret"]}, 400, "private_key_jwt"),
        ({"id_token_signing_alg_values_supported": ["HS256"]}, 400, "RS256"),
        ({PLATFORM_CONFIGURATION: None}, 400, "no LTI platform"),
        ({PLATFORM_CONFIGURATION: DEEP_LINKING_ONLY}, 400, "resource-link"),
    ],
)
def test_a_configuration_that_fails_a_check_registers_nothing(
    keyed: Flask, client: FlaskClient, lms: Lms, changes: dict[str, Any], status: int, reason: str
) -> None:
    lms.openid_changes = changes
    before = row_counts(keyed)
    response = _initiate(client, lms)
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    assert reason in response.json["detail"]
    assert lms.registrations == []
    assert _platforms(keyed, client) == []
    assert row_counts(keyed) == before


def test_a_wrong_registration_token_is_refused_by_the_platform(
    keyed: Flask, client: FlaskClient, lms: Lms
) -> None:
    response = _initiate(client, lms, registration_token="stolen")
    assert response.status_code == 502
    assert "refused the registration (401)" in response.json["detail"]
    assert _platforms(keyed, client) == []


def test_an_unlisted_issuer_is_refused_before_anything_is_fetched(
    keyed: Flask, client: FlaskClient, lms: Lms
) -> None:
    response = _initiate(client, lms, openid_configuration="https://lms.example/.well-known/x")
    assert response.status_code == 403
    assert "not listed in LTI_REGISTRATION_ISSUERS" in response.json["detail"]
    assert response.json["type"].endswith("lti-registration-not-allowed")


def test_registering_twice_is_a_conflict_and_keeps_the_first(
    keyed: Flask, client: FlaskClient, lms: Lms
) -> None:
    assert _initiate(client, lms).status_code == 200
    lms.registrations.clear()  # the platform hands out the same client id again
    assert _initiate(client, lms).status_code == 409
    assert len(_platforms(keyed, client)) == 1


def test_a_browser_sees_a_readable_refusal(keyed: Flask, client: FlaskClient, lms: Lms) -> None:
    lms.openid_changes = {"registration_endpoint": None}
    query = urlencode({"openid_configuration": f"{lms.issuer}/.well-known/openid-configuration"})
    response = client.get(f"/lti/register?{query}", headers={"Accept": "text/html"})
    assert response.status_code == 400
    assert "lacks registration_endpoint" in response.get_data(as_text=True)


def test_dynamic_registration_is_off_by_default(app: Flask, client: FlaskClient) -> None:
    assert Settings().lti_registration_issuers == ()
    assert Settings.from_env({}).lti_registration_issuers == ()
    listed = Settings.from_env({"LTI_REGISTRATION_ISSUERS": "https://a.example/, https://b"})
    assert listed.lti_registration_issuers == ("https://a.example", "https://b")
