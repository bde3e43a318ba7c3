"""A real LTI 1.3 platform for the tests, built on `lti1p3platform`.

It signs id_tokens with its own RSA key, serves its JWKS, issues access tokens for client
assertions signed by the tool (checked against the tool's JWKS) and accepts AGS scores, all on a
server bound to 127.0.0.1. The test plays the browser: it follows the tool's redirect to the
platform's authorization step (run in-process) and posts the id_token back to the tool.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from lti1p3platform.exceptions import LtiException as PlatformLtiException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from werkzeug.serving import make_server

from tests.lti.platform_services import DictRequest, add_service_routes
from tests.lti.registration_platform import add_registration_routes

TOOL = "http://localhost"  # the Flask test client's origin
LEARNER_ROLES = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Learner"]
INSTRUCTOR_ROLES = ["http://purl.imsglobal.org/vocab/lis/v2/membership#Instructor"]


@dataclass(frozen=True)
class KeyPair:
    private_pem: str
    public_pem: str


def make_key_pair() -> KeyPair:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    return KeyPair(private_pem, public_pem)


class PlatformConf(LTI1P3PlatformConfAbstract):
    def init_platform_config(self, **kwargs: Any) -> None:
        self._registration = kwargs["registration"]

    def get_registration_by_params(self, **kwargs: Any) -> Registration:
        assert self._registration is not None
        return self._registration


class PlatformLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class PlatformLaunch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


@dataclass
class Lms:
    """The platform: issuer = its 127.0.0.1 URL; one registration of the tool. Its AGS and NRPS
    endpoints are in platform_services.py, dynamic registration in registration_platform.py."""

    keys: KeyPair
    client_id: str = "activation-lab-client"
    deployment_id: str = "deployment-1"
    base_url: str = ""
    tool_jwks: dict[str, Any] | None = None
    scores: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    line_items: list[TLineItem] = field(default_factory=list)
    line_items_page_size: int | None = None  # the container's page size (None: one page)
    line_items_filtered: bool = True  # whether the container applies the query's filters
    line_item_requests: list[str] = field(default_factory=list)
    # NRPS: user id -> (version of its last change, member); requests as "GET <path?query>"
    members: dict[str, tuple[int, dict[str, Any]]] = field(default_factory=dict)
    roster_version: int = 0
    nrps_page_size: int | None = None
    nrps_requests: list[str] = field(default_factory=list)
    fail_next_memberships: int = 0
    # Dynamic registration (registration_platform.py)
    registration_token: str = "registration-token-1"
    registrations: list[dict[str, Any]] = field(default_factory=list)
    openid_changes: dict[str, Any] = field(default_factory=dict)
    statements: list[list[dict[str, Any]]] = field(default_factory=list)
    tokens_issued: int = 0
    jwks_cache_control: str = "public, max-age=300"
    jwks_requests: list[tuple[str | None, int]] = field(default_factory=list)  # If-None-Match
    fail_next_scores: int = 0
    fail_next_statements: int = 0

    @property
    def issuer(self) -> str:
        return self.base_url

    @property
    def jwks_url(self) -> str:
        return f"{self.base_url}/jwks"

    @property
    def auth_url(self) -> str:
        return f"{self.base_url}/auth"

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/token"

    @property
    def lineitems_url(self) -> str:
        return f"{self.base_url}/lineitems"

    def lineitem_url(self, item: str = "1") -> str:
        return f"{self.base_url}/lineitems/{item}"

    @property
    def memberships_url(self) -> str:
        return f"{self.base_url}/memberships"

    def set_member(self, user_id: str, name: str, roles: list[str], status: str = "Active") -> None:
        """Add, change or (status Deleted) remove a member of the course."""
        self.roster_version += 1
        member = {"user_id": user_id, "name": name, "roles": roles, "status": status}
        self.members[user_id] = (self.roster_version, member)

    @property
    def lrs_url(self) -> str:
        return f"{self.base_url}/xapi"

    def registration(
        self,
        *,
        client_id: str | None = None,
        deployment_id: str | None = None,
        keys: KeyPair | None = None,
    ) -> Registration:
        keys = keys or self.keys
        registration = (
            Registration()
            .set_iss(self.issuer)
            .set_client_id(client_id or self.client_id)
            .set_deployment_id(deployment_id or self.deployment_id)
            .set_oidc_login_url(f"{TOOL}/lti/login")
            .set_launch_url(f"{TOOL}/lti/launch")
            .set_deeplink_launch_url(f"{TOOL}/lti/launch")
            .set_platform_public_key(keys.public_pem)
            .set_platform_private_key(keys.private_pem)
        )
        if self.tool_jwks is not None:
            registration.set_tool_key_set(self.tool_jwks)  # type: ignore[arg-type]
        return registration

    def conf(self, **overrides: Any) -> PlatformConf:
        return PlatformConf(registration=self.registration(**overrides))

    def admin_registration(self) -> dict[str, Any]:
        """What an LMS admin gives the tool's admin API."""
        return {
            "name": "Test LMS",
            "issuer": self.issuer,
            "client_id": self.client_id,
            "auth_login_url": self.auth_url,
            "auth_token_url": self.token_url,
            "key_set_url": self.jwks_url,
            "deployment_ids": [self.deployment_id],
        }

    # ----------------------------------------------------------------------------------------
    # The browser's round trip

    def login_url(self, target_link_uri: str, *, user_id: str = "student-1", **conf: Any) -> str:
        """The platform's third-party login initiation URL at the tool."""
        oidc = PlatformLogin(None, self.conf(**conf))
        oidc.set_lti_message_hint(hint="resource-link-1")
        oidc.set_launch_url(target_link_uri)
        url: str = oidc.initiate_login(user_id)
        return url

    def authorize(
        self,
        auth_request: dict[str, str],
        *,
        target_link_uri: str,
        user_id: str = "student-1",
        name: str = "Grace Hopper",
        roles: list[str] | None = None,
        custom: dict[str, str] | None = None,
        deep_link_return_url: str | None = None,
        expires_in: int = 300,
        with_ags: bool = True,
        with_lineitem: bool = True,
        with_nrps: bool = True,
        context_id: str = "course-1",
        **conf: Any,
    ) -> dict[str, str]:
        """The platform's OIDC authorization step: {"launch_url", "id_token", "state"}."""
        launch = PlatformLaunch(
            DictRequest({"get_data": auth_request, "form_data": {}}), self.conf(**conf)
        )
        launch.set_user_data(user_id, roles or LEARNER_ROLES, full_name=name)
        launch.set_resource_link_claim("resource-link-1", title="Quiz link")
        launch.set_launch_context_claim(context_id, context_title="Deep learning 101")
        launch.set_launch_url(target_link_uri)
        launch.set_id_token_expiration(expires_in)
        if custom:
            launch.set_custom_parameters_claim(custom)
        if with_nrps:
            launch.set_nrps(self.memberships_url)
        if with_ags:
            lineitem = self.lineitem_url("1") if with_lineitem else None
            launch.set_ags(self.lineitems_url, lineitem)
        if deep_link_return_url:
            launch.set_dl(
                deep_link_return_url, title="Add content", accept_types={"ltiResourceLink"}
            )
        result: dict[str, str] = launch.lti_launch()
        return result

    def kid(self) -> str:
        return str(self.registration().get_kid())

    def validate_deep_link_response(self, jwt_value: str) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.conf().validate_deeplinking_resp({"JWT": jwt_value})
        return items

    def decode(self, token: str) -> dict[str, Any]:
        claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
        return claims


def query_of(url: str) -> dict[str, str]:
    return dict(parse_qsl(urlsplit(url).query))


def path_of(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def platform_app(lms: Lms) -> Flask:
    app = Flask("test-lms")
    add_registration_routes(app, lms)
    add_service_routes(app, lms)

    @app.get("/jwks")
    def jwks() -> Any:
        """The platform's keys, cacheable for `jwks_cache_control`, with an ETag."""
        response = jsonify(lms.conf().get_jwks())
        response.headers["Cache-Control"] = lms.jwks_cache_control
        response.add_etag()
        response.make_conditional(request)
        lms.jwks_requests.append((request.headers.get("If-None-Match"), response.status_code))
        return response

    @app.post("/token")
    def token() -> Any:
        try:
            issued = lms.conf().get_access_token(request.form.to_dict())
        except (PlatformLtiException, jwt.InvalidTokenError, AssertionError) as exc:
            return jsonify({"error": "invalid_client", "error_description": str(exc)}), 400
        lms.tokens_issued += 1
        return jsonify(issued)

    @app.post("/xapi/statements")
    def statements() -> Any:
        if lms.fail_next_statements > 0:
            lms.fail_next_statements -= 1
            return jsonify({"error": "busy"}), 500
        assert request.headers.get("X-Experience-API-Version") == "1.0.3"
        batch = request.get_json(force=True)
        lms.statements.append(batch)
        return jsonify([s["id"] for s in batch]), 200

    return app


def serve(lms: Lms) -> Iterator[Lms]:
    """Run the platform on 127.0.0.1 (an ephemeral port) for the duration of a test."""
    server = make_server("127.0.0.1", 0, platform_app(lms), threaded=True)
    lms.base_url = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True
    )
    thread.start()
    try:
        yield lms
    finally:
        server.shutdown()
        thread.join(timeout=5)


# --------------------------------------------------------------------------------------------
# Flows


@dataclass(frozen=True)
class LaunchForm:
    """The id_token form the platform posts to the tool (state from the tool's login)."""

    url: str
    id_token: str
    state: str

    def post(self, client: FlaskClient, **headers: str) -> Any:
        return client.post(
            path_of(self.url),
            data={"id_token": self.id_token, "state": self.state},
            headers=headers,
        )


def login(client: FlaskClient, lms: Lms, target_link_uri: str, **conf: Any) -> dict[str, str]:
    """Start at the platform, go through the tool's login: the tool's authorization request."""
    response = client.get(path_of(lms.login_url(target_link_uri, **conf)))
    assert response.status_code == 302, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith(lms.auth_url + "?")
    return query_of(location)


def launch_form(
    client: FlaskClient,
    lms: Lms,
    target_link_uri: str,
    *,
    login_conf: dict[str, Any] | None = None,
    **kwargs: Any,
) -> LaunchForm:
    auth_request = login(client, lms, target_link_uri, **(login_conf or {}))
    form = lms.authorize(auth_request, target_link_uri=target_link_uri, **kwargs)
    return LaunchForm(form["launch_url"], form["id_token"], form["state"])
