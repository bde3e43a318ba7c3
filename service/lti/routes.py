"""LTI endpoints.

Browser endpoints (plain Flask, outside the OpenAPI document: they speak OIDC and HTML forms):
GET|POST /lti/login, POST /lti/launch, POST /lti/deep-link. Their refusals are an HTML page for
browsers and problem+json otherwise.

JSON endpoints (in the OpenAPI document): GET /lti/jwks, GET /lti/config, and the admin API
under /v1/lti/platforms and /v1/outbox.
"""

from __future__ import annotations

import base64
import hashlib
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit

import flask
from flask import current_app, redirect, request, url_for
from flask.views import MethodView
from sqlalchemy.orm import Session

from service.api import API_TITLE, Blueprint
from service.auth.guards import guard
from service.config import Settings
from service.db import get_database, get_session
from service.errors import ServiceError, handle_service_error
from service.lti import keys, outbox, pages, registry, schemas, services, tool
from service.lti.http import RequestsTransport, Transport
from service.lti.storage import (
    DatabaseLaunchStore,
    LaunchStore,
    RedisLaunchStore,
    redis_client,
)
from service.pagination import PageArgsSchema, page_request
from service.settings_access import settings

browser_blp = flask.Blueprint("lti", __name__, url_prefix="/lti")
tool_blp = Blueprint("lti-tool", __name__, description="LTI 1.3 tool: public keys, registration")
admin_blp = Blueprint(
    "lti-admin",
    __name__,
    url_prefix="/v1",
    description="LTI platform registrations and the delivery outbox (admin API key)",
)
ADMIN = ("admin",)
AUTO_POST_SCRIPT = "document.getElementById('lti-return').submit();"


def _csp_hash(source: str) -> str:
    digest = base64.b64encode(hashlib.sha256(source.encode()).digest()).decode()
    return f"'sha256-{digest}'"


# --------------------------------------------------------------------------------------------
# Wiring


def base_url(config: Settings) -> str:
    """The tool's public URL: PUBLIC_BASE_URL, else the URL this request came to."""
    return (config.public_base_url or request.url_root).rstrip("/")


def launch_store(session: Session, config: Settings) -> LaunchStore:
    """Redis when REDIS_URL is set (one client per app), else the database."""
    if not config.redis_url:
        return DatabaseLaunchStore(session)
    client = current_app.extensions.get("lti_redis")
    if client is None:
        client = current_app.extensions["lti_redis"] = redis_client(config.redis_url)
    return RedisLaunchStore(client)


def _environment() -> tool.ToolEnvironment:
    config = settings()
    session = get_session()
    http = current_app.extensions.get("lti_http") or tool.TimeoutSession()
    return tool.ToolEnvironment(
        session, config, launch_store(session, config), base_url(config), http
    )


def outbox_transport() -> Transport:
    """The outbox's HTTP sender: app.extensions["outbox_transport"] when set (tests, custom
    proxies), else requests with timeouts."""
    transport: Transport | None = current_app.extensions.get("outbox_transport")
    return transport or RequestsTransport()


def delivery_context(config: Settings, transport: Transport) -> outbox.DeliveryContext:
    return outbox.DeliveryContext(get_database().sessionmaker, config, transport)


def _html(body: str, status: int = 200, *, form_targets: tuple[str, ...] = ()) -> flask.Response:
    """An LTI page: framable by the LMS, inline style and the auto-post script allowed by hash."""
    origins = " ".join(f"{parts.scheme}://{parts.netloc}" for parts in map(urlsplit, form_targets))
    response = flask.Response(body, status=status, mimetype="text/html")
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; style-src {_csp_hash(pages.STYLE)}; "
        f"script-src {_csp_hash(AUTO_POST_SCRIPT)}; form-action 'self' {origins}; "
        f"frame-ancestors {settings().frame_ancestors}; base-uri 'none'"
    ).replace("  ", " ")
    response.headers["Cache-Control"] = "no-store"
    return response


@browser_blp.errorhandler(ServiceError)
def _refused(error: ServiceError) -> flask.Response:
    """A browser in the LMS frame gets a readable page; API clients get problem+json."""
    accepted = request.accept_mimetypes
    if accepted.best_match(["application/problem+json", "application/json", "text/html"]) == (
        "text/html"
    ):
        return _html(pages.refusal(error.status, error.title, error.detail), int(error.status))
    return handle_service_error(error)


# --------------------------------------------------------------------------------------------
# Browser endpoints


@browser_blp.route("/login", methods=["GET", "POST"])
def login() -> flask.Response:
    """OIDC login initiation from the platform: redirect to its authorization endpoint with a
    fresh state (cookie) and nonce (shared store)."""
    return tool.login_redirect(_environment())


@browser_blp.post("/launch")
def launch() -> Any:
    """The platform's form post of the id_token: a quiz launch hands the browser to the quiz
    page with a short-lived learner token; a deep-linking launch shows the quiz picker."""
    env = _environment()
    validated = tool.validate_launch(env)
    if validated.is_deep_link:
        if not _may_link(validated):
            raise tool.LtiLaunchRefused(
                "Only instructors, designers and administrators can add quizzes to a course."
            )
        launch_id = services.deep_link_launch(env.session, env.store, validated)
        choices = services.quiz_choices(env.session)
        action = url_for("lti.deep_link")
        return _html(pages.quiz_picker(choices, action=action, launch_id=launch_id))
    if not validated.is_resource_link:
        raise tool.LtiLaunchRefused(
            "LTI launch refused: only resource-link and deep-linking launches are supported."
        )
    quiz_launch = services.resource_link_launch(
        env.session,
        env.store,
        validated,
        secret_key=env.settings.secret_key,
        token_ttl=timedelta(seconds=env.settings.lti_token_ttl_seconds),
    )
    response = redirect(quiz_launch.page_url(request.script_root), code=303)
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


def _may_link(validated: tool.ValidatedLaunch) -> bool:
    launch = validated.launch
    return bool(
        launch.check_teacher_access()
        or launch.check_staff_access()
        or launch.check_designer_access()
        or launch.check_teaching_assistant_access()
    )


@browser_blp.post("/deep-link")
def deep_link() -> flask.Response:
    """The instructor's pick: answer the platform with a signed deep-linking response."""
    env = _environment()
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


# --------------------------------------------------------------------------------------------
# Tool documents


@tool_blp.route("/lti/jwks")
class Jwks(MethodView):
    @tool_blp.response(200, schemas.JwksSchema)
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The tool's public keys (JWKS): platforms verify its deep links and grade requests."""
        return keys.public_jwks(get_session()), 200, {"Cache-Control": "public, max-age=300"}


@tool_blp.route("/lti/config")
class ToolConfiguration(MethodView):
    @tool_blp.response(200, schemas.ToolConfigurationSchema)
    def get(self) -> dict[str, Any]:
        """The tool's registration for LMS administrators: URLs, scopes, messages, and the
        values to enter by hand."""
        return services.tool_configuration(base_url(settings()), API_TITLE)


# --------------------------------------------------------------------------------------------
# Admin: platforms


@admin_blp.route("/lti/platforms")
class Platforms(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.arguments(PageArgsSchema, location="query")
    @admin_blp.response(200, schemas.PlatformListSchema)
    def get(self, args: dict[str, int]) -> Any:
        """List the registered LMS platforms."""
        return registry.list_platforms(get_session(), page_request(args, settings().max_page_size))

    @guard(admin_blp, roles=ADMIN)
    @admin_blp.arguments(schemas.PlatformCreateSchema)
    @admin_blp.response(201, schemas.PlatformSchema)
    @admin_blp.problems(409, 422)
    def post(self, body: dict[str, Any]) -> registry.PlatformView:
        """Register an LMS platform (issuer, client id, its endpoints and keys, deployments)."""
        return registry.add_platform(get_session(), registry.PlatformSpec(**body))


@admin_blp.route("/lti/platforms/<int:platform_id>")
class PlatformResource(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(200, schemas.PlatformSchema)
    @admin_blp.problems(404)
    def get(self, platform_id: int) -> registry.PlatformView:
        """One registered platform."""
        return registry.get_platform(get_session(), platform_id)

    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(204)
    @admin_blp.problems(404)
    def delete(self, platform_id: int) -> None:
        """Remove a platform: its launches are refused from now on."""
        registry.remove_platform(get_session(), platform_id)


@admin_blp.route("/lti/platforms/<int:platform_id>/deployments")
class Deployments(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.arguments(schemas.DeploymentCreateSchema)
    @admin_blp.response(201, schemas.PlatformSchema)
    @admin_blp.problems(404, 409, 422)
    def post(self, body: dict[str, str], platform_id: int) -> registry.PlatformView:
        """Allow launches from another deployment of the platform."""
        return registry.add_deployment(get_session(), platform_id, body["deployment_id"])


@admin_blp.route("/lti/platforms/<int:platform_id>/deployments/<string:deployment_id>")
class DeploymentResource(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(204)
    @admin_blp.problems(404)
    def delete(self, platform_id: int, deployment_id: str) -> None:
        """Refuse launches from this deployment from now on."""
        registry.remove_deployment(get_session(), platform_id, deployment_id)


# --------------------------------------------------------------------------------------------
# Admin: outbox


@admin_blp.route("/outbox")
class Outbox(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.arguments(schemas.OutboxArgsSchema, location="query")
    @admin_blp.response(200, schemas.OutboxListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Messages waiting for, or done with, delivery (LMS grades, xAPI statements), newest
        first; filter by status and kind."""
        return outbox.list_messages(
            get_session(),
            page_request(args, settings().max_page_size),
            status=args.get("status"),
            kind=args.get("kind"),
        )


@admin_blp.route("/outbox/<int:message_id>")
class OutboxMessage(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(200, schemas.OutboxMessageSchema)
    @admin_blp.problems(404)
    def get(self, message_id: int) -> Any:
        """One outbox message with its attempts and last error."""
        return outbox.get_message(get_session(), message_id)


@admin_blp.route("/outbox/<int:message_id>/retry")
class OutboxRetry(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(200, schemas.OutboxMessageSchema)
    @admin_blp.problems(404)
    def post(self, message_id: int) -> Any:
        """Make a pending or failed message due now, with a fresh attempt budget."""
        return outbox.retry_message(get_session(), message_id)


@admin_blp.route("/outbox/deliveries")
class OutboxDeliveries(MethodView):
    @guard(admin_blp, roles=ADMIN)
    @admin_blp.response(200, schemas.DeliveryReportSchema)
    def post(self) -> outbox.DeliveryReport:
        """Deliver one batch of due messages now (the `flask outbox run` worker does this on
        its own)."""
        return outbox.deliver_due(delivery_context(settings(), outbox_transport()))
