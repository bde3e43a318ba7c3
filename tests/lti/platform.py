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
from urllib.parse import parse_qsl, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from flask import Flask, jsonify, request
from flask.testing import FlaskClient
from lti1p3platform.exceptions import LtiException as PlatformLtiException
from lti1p3platform.lineitem import TLineItem
from lti1p3platform.ltiplatform import LTI1P3PlatformConfAbstract
from lti1p3platform.membership import Context
from lti1p3platform.message_launch import LTIAdvantageMessageLaunchAbstract
from lti1p3platform.oidc_login import OIDCLoginAbstract
from lti1p3platform.registration import Registration
from lti1p3platform.request import Request as PlatformRequest
from lti1p3platform.request import TRequest
from lti1p3platform.score import TScore, UpdateScoreStatus
from lti1p3platform.service_connector import (
    AssignmentsGradesService,
    NamesRoleProvisioningService,
    TPage,
)
from werkzeug.serving import make_server

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


class DictRequest(PlatformRequest):
    def build_metadata(self, request: Any) -> TRequest:
        result: TRequest = request
        return result


class PlatformLogin(OIDCLoginAbstract):
    def set_lti_message_hint(self, **kwargs: Any) -> None:
        self._lti_message_hint = kwargs["hint"]

    def get_redirect(self, url: str) -> str:
        return url


class PlatformLaunch(LTIAdvantageMessageLaunchAbstract):
    def render_launch_form(self, launch_data: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        return launch_data


class Gradebook(AssignmentsGradesService):
    """The platform's AGS endpoint: scores land in `Lms.scores`."""

    def __init__(self, lms: Lms, req: PlatformRequest) -> None:
        super().__init__(req, lms.conf(), lms.lineitems_url, None)
        self.lms = lms

    def update_score(self, line_item_id: str, score: TScore) -> UpdateScoreStatus:
        self.lms.scores.append((line_item_id, dict(score)))
        return UpdateScoreStatus.SUCCESS

    def find_lineitems(
        self,
        page: Any = 1,
        limit: Any = None,
        line_item_id: str | None = None,
        resource_link_id: str | None = None,
        resource_id: str | None = None,
        tag: str | None = None,
    ) -> TPage:
        """A page of the line items matching the filters (AGS 2.0 §3.2.5)."""
        wanted = {"resourceLinkId": resource_link_id, "resourceId": resource_id, "tag": tag}
        found = [
            item
            for item in self.lms.line_items
            if all(value is None or item.get(key) == value for key, value in wanted.items())
        ]
        size = int(limit or len(found) or 1)
        start = (int(page) - 1) * size
        return {"content": found[start : start + size], "has_next": start + size < len(found)}

    def find_lineitem(self, line_item_id: str) -> TLineItem:
        raise NotImplementedError

    def create_lineitem(self, creation_data: TLineItem) -> TLineItem:
        item: TLineItem = {**creation_data}  # type: ignore[typeddict-item]
        item["id"] = self.lms.lineitem_url(str(len(self.lms.line_items) + 100))
        self.lms.line_items.append(item)
        return item

    def update_lineitem(self, update_data: TLineItem) -> TLineItem:
        raise NotImplementedError

    def delete_lineitem(self, line_item_id: str) -> None:
        raise NotImplementedError

    def get_results(self, *args: Any, **kwargs: Any) -> TPage:
        raise NotImplementedError


class Roster(NamesRoleProvisioningService):
    """The platform's NRPS endpoint over `Lms.members`: pages of `Lms.nrps_page_size`, and
    `since=<version>` (a differences link) lists only the members changed after it."""

    def __init__(self, lms: Lms, req: PlatformRequest) -> None:
        super().__init__(req, lms.conf(), lms.memberships_url)
        self.lms = lms

    def get_member_data_page(
        self, page: Any = 1, limit: Any = None, role: Any = None, since: Any = None
    ) -> TPage:
        changed_after = int(since) if since is not None else -1
        listed = [
            member
            for version, member in self.lms.members.values()
            if version > changed_after and (since is not None or member["status"] != "Deleted")
        ]
        size = self.lms.nrps_page_size or len(listed) or 1
        start = (int(page) - 1) * size
        return {"content": listed[start : start + size], "has_next": start + size < len(listed)}

    def get_context_by_id(self) -> Context:
        return Context(id="course-1", label="DL101", title="Deep learning 101")


def _flask_request() -> PlatformRequest:
    return DictRequest(
        {
            "method": request.method,
            "form_data": request.form.to_dict(),
            "get_data": request.args.to_dict(),
            "headers": request.headers,
            "content_type": request.content_type,
            "path": request.path,
            "json": request.get_json(force=True, silent=True),
        }
    )


@dataclass
class Lms:
    """The platform: issuer = its 127.0.0.1 URL; one registration of the tool."""

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
        **conf: Any,
    ) -> dict[str, str]:
        """The platform's OIDC authorization step: {"launch_url", "id_token", "state"}."""
        launch = PlatformLaunch(
            DictRequest({"get_data": auth_request, "form_data": {}}), self.conf(**conf)
        )
        launch.set_user_data(user_id, roles or LEARNER_ROLES, full_name=name)
        launch.set_resource_link_claim("resource-link-1", title="Quiz link")
        launch.set_launch_context_claim("course-1", context_title="Deep learning 101")
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

    @app.post("/lineitems/<item>/scores")
    def scores(item: str) -> Any:
        if lms.fail_next_scores > 0:
            lms.fail_next_scores -= 1
            return jsonify({"error": "temporarily unavailable"}), 503
        gradebook = Gradebook(lms, _flask_request())
        response = gradebook.handle_resp(gradebook.handle_update_score, line_item_id=item)
        return jsonify({"status": response.message}), response.code

    @app.route("/lineitems", methods=["GET", "POST"])
    def lineitems() -> Any:
        """The container: a JSON array, further pages through `Link: <...>; rel="next"`."""
        lms.line_item_requests.append(f"{request.method} {request.full_path.rstrip('?')}")
        gradebook = Gradebook(lms, _flask_request())
        if request.method == "POST":
            created = gradebook.handle_resp(gradebook.handle_create_lineitem)
            return jsonify(created.result or {"error": created.message}), created.code
        args = request.args.to_dict()
        page = int(args.pop("page", 1))
        limit = lms.line_items_page_size
        filters = args if lms.line_items_filtered else {}
        found = gradebook.find_lineitems(page=page, limit=limit, **filters)
        headers = {}
        if found["has_next"]:
            query = urlencode({**args, "page": page + 1})
            headers["Link"] = f'<{lms.lineitems_url}?{query}>; rel="next"'
        if not gradebook.platform_config.validate_token(
            request.headers.get("Authorization", "").removeprefix("Bearer "),
            gradebook.allowed_scopes,
        ):
            return jsonify({"error": "invalid token"}), 401
        return jsonify(found["content"]), 200, headers

    @app.get("/memberships")
    def memberships() -> Any:
        """The membership container; `Link` gives the next page and the differences link."""
        lms.nrps_requests.append(f"GET {request.full_path.rstrip('?')}")
        args = request.args.to_dict()
        page = int(args.get("page", 1))
        roster = Roster(lms, _flask_request())
        answer = roster.handle_resp(roster.handle_get_members)
        if answer.code != 200:
            return jsonify({"error": answer.message}), answer.code
        links = [f'<{lms.memberships_url}?since={lms.roster_version}>; rel="differences"']
        if roster.get_member_data_page(page=page, since=args.get("since"))["has_next"]:
            links.append(
                f'<{lms.memberships_url}?{urlencode({**args, "page": page + 1})}>; rel="next"'
            )
        return jsonify(answer.result), 200, {"Link": ", ".join(links)}

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
