"""The LMS browser's endpoints: GET|POST /lti/login, POST /lti/launch, POST /lti/deep-link,
GET /lti/register (LTI Dynamic Registration's initiation URL).

Plain Flask, outside the OpenAPI document: they speak OIDC and HTML forms. Their refusals are an
HTML page for browsers and problem+json otherwise.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import flask
from flask import redirect, request, url_for

from service.api import API_TITLE
from service.errors import ServiceError, handle_service_error
from service.lti import dynamic_registration, instructor, pages, policy, services, tool
from service.lti.routes.environment import platform_http, tool_environment
from service.settings_access import settings

blp = flask.Blueprint("lti", __name__, url_prefix="/lti")
AUTO_POST_SCRIPT = "document.getElementById('lti-return').submit();"


def _csp_hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


def _html(
    body: str,
    status: int = 200,
    *,
    form_targets: tuple[str, ...] = (),
    script: str = AUTO_POST_SCRIPT,
) -> flask.Response:
    """An LTI page: framable by the LMS, inline style and its one script allowed by hash."""
    origins = " ".join(f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, form_targets))
    response = flask.Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {_csp_hash(pages.STYLE)}; "
        f"script-src {_csp_hash(script)}; form-action 'self' {origins}; "
        f"frame-ancestors {settings().frame_ancestors}; base-uri 'none'"
    ).replace("  ", " ")
    response.headers["Cache-Control"] = "no-store"
    return response


@blp.errorhandler(ServiceError)
def _refused(error: ServiceError) -> flask.Response:
    """A browser in the LMS frame gets a readable page; API clients get problem+json."""
    accepted = request.accept_mimetypes
    if accepted.best_match(["application/problem+json", "application/json", "text/html"]) == (
        "text/html"
    ):
        return _html(pages.refusal(error.status, error.title, error.detail), int(error.status))
    return handle_service_error(error)


@blp.route("/login", methods=["GET", "POST"])
def login() -> flask.Response:
    """OIDC login initiation from the platform: redirect to its authorization endpoint with a
    fresh state (cookie) and nonce (shared store)."""
    return tool.login_redirect(tool_environment())


@blp.post("/launch")
def launch() -> Any:
    """The platform's form post of the id_token: a quiz launch hands the browser to the quiz
    page with a short-lived learner token; a deep-linking launch shows the quiz picker."""
    env = tool_environment()
    validated = tool.validate_launch(env)
    if validated.is_deep_link:
        policy.check_may_link(validated)
        launch_id = services.deep_link_launch(env.session, env.store, validated)
        choices = services.quiz_choices(env.session)
        action = url_for("lti.deep_link")
        return _html(pages.quiz_picker(choices, action=action, launch_id=launch_id))
    if not validated.is_resource_link:
        raise tool.LtiLaunchRefused(
            "LTI launch refused: only resource-link and deep-linking launches are supported."
        )
    if policy.role_of(validated) is policy.LaunchRole.STAFF:
        # Staff open the class view: no learner, attempt or score (policy.py).
        opened = instructor.instructor_launch(
            env.session,
            env.store,
            validated,
            secret_key=env.settings.secret_key,
            issuer=env.base_url,
            ttl_seconds=env.settings.lti_token_ttl_seconds,
        )
        return _no_store_redirect(opened.page_url(request.script_root))
    quiz_launch = services.resource_link_launch(
        env.session,
        env.store,
        validated,
        secret_key=env.settings.secret_key,
        token_ttl=timedelta(seconds=env.settings.lti_token_ttl_seconds),
    )
    return _no_store_redirect(quiz_launch.page_url(request.script_root))


def _no_store_redirect(location: str) -> Any:
    """303 to a page whose fragment carries a token: neither cached nor sent as a referrer."""
    response = redirect(location, code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@blp.post("/deep-link")
def deep_link() -> flask.Response:
    """The instructor's pick: answer the platform with a signed deep-linking response."""
    env = tool_environment()
    launch_id = request.form.get("launch_id", "")
    slug = request.form.get("quiz", "")
    if not launch_id.startswith("lti1p3-launch-") or not slug:
        raise tool.LtiLaunchRefused("Deep linking refused: choose a quiz from the list.")
    restored = tool.restore_deep_link_launch(env, launch_id)
    return_url, jwt_value = services.deep_link_response(
        env.session, env.store, restored, slug, base_url=env.base_url
    )
    page = pages.auto_post(return_url, {"JWT": jwt_value}, title="Adding the quiz")
    return _html(page, form_targets=(return_url,))


@blp.get("/register")
def register() -> flask.Response:
    """LTI Dynamic Registration's initiation URL: register with the platform whose OpenID
    configuration `openid_configuration` names (issuers in LTI_REGISTRATION_ISSUERS only)."""
    env = tool_environment()
    view = dynamic_registration.register(
        env.session,
        platform_http(env.settings),
        configuration_url=request.args.get("openid_configuration", "").strip(),
        registration_token=request.args.get("registration_token", "").strip(),
        base_url=env.base_url,
        tool_name=API_TITLE,
        allowed_issuers=env.settings.lti_registration_issuers,
    )
    page = pages.registered(
        issuer=view.issuer, client_id=view.client_id, deployment_ids=view.deployment_ids
    )
    return _html(page, script=pages.CLOSE_SCRIPT)
