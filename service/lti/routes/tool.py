"""The tool's documents, for platforms and their administrators: GET /lti/jwks, GET /lti/config."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api import API_TITLE, Blueprint
from service.db import get_session
from service.lti import keys, schemas, services
from service.lti.routes.environment import base_url
from service.settings_access import settings

blp = Blueprint("lti-tool", __name__, description="LTI 1.3 tool: public keys, registration")


@blp.route("/lti/jwks")
class Jwks(MethodView):
    @blp.response(200, schemas.JwksSchema)
    def get(self) -> tuple[dict[str, Any], int, dict[str, str]]:
        """The tool's public keys (JWKS): platforms verify its deep links and grade requests."""
        return keys.public_jwks(get_session()), 200, {"Cache-Control": "public, max-age=300"}


@blp.route("/lti/config")
class ToolConfiguration(MethodView):
    @blp.response(200, schemas.ToolConfigurationSchema)
    @blp.problems(503)
    def get(self) -> dict[str, Any]:
        """The tool's registration for LMS administrators: URLs, scopes, messages, and the
        values to enter by hand. 503 in production when PUBLIC_BASE_URL is not set."""
        return services.tool_configuration(base_url(settings()), API_TITLE)
