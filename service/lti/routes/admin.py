"""LMS platform registrations (admin API key): /v1/lti/platforms and their deployments."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api import Blueprint
from service.auth.guards import guard
from service.db import get_session
from service.lti import registry, schemas
from service.pagination import PageArgsSchema, page_request
from service.settings_access import settings

blp = Blueprint(
    "lti-admin",
    __name__,
    url_prefix="/v1/lti",
    description="LTI platform registrations (admin API key)",
)
ADMIN = ("admin",)


@blp.route("/platforms")
class Platforms(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, schemas.PlatformListSchema)
    def get(self, args: dict[str, int]) -> Any:
        """List the registered LMS platforms."""
        return registry.list_platforms(get_session(), page_request(args, settings().max_page_size))

    @guard(blp, roles=ADMIN)
    @blp.arguments(schemas.PlatformCreateSchema)
    @blp.response(201, schemas.PlatformSchema)
    @blp.problems(409, 422)
    def post(self, body: dict[str, Any]) -> registry.PlatformView:
        """Register an LMS platform (issuer, client id, its endpoints and keys, deployments)."""
        return registry.add_platform(get_session(), registry.PlatformSpec(**body))


@blp.route("/platforms/<int:platform_id>")
class PlatformResource(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.response(200, schemas.PlatformSchema)
    @blp.problems(404)
    def get(self, platform_id: int) -> registry.PlatformView:
        """One registered platform."""
        return registry.get_platform(get_session(), platform_id)

    @guard(blp, roles=ADMIN)
    @blp.response(204)
    @blp.problems(404)
    def delete(self, platform_id: int) -> None:
        """Remove a platform: its launches are refused from now on."""
        registry.remove_platform(get_session(), platform_id)


@blp.route("/platforms/<int:platform_id>/deployments")
class Deployments(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.arguments(schemas.DeploymentCreateSchema)
    @blp.response(201, schemas.PlatformSchema)
    @blp.problems(404, 409, 422)
    def post(self, body: dict[str, str], platform_id: int) -> registry.PlatformView:
        """Allow launches from another deployment of the platform."""
        return registry.add_deployment(get_session(), platform_id, body["deployment_id"])


@blp.route("/platforms/<int:platform_id>/deployments/<string:deployment_id>")
class DeploymentResource(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.response(204)
    @blp.problems(404)
    def delete(self, platform_id: int, deployment_id: str) -> None:
        """Refuse launches from this deployment from now on."""
        registry.remove_deployment(get_session(), platform_id, deployment_id)
