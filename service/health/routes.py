"""GET /health/live and /health/ready."""

from __future__ import annotations

from flask import current_app
from flask.views import MethodView

from service.api import Blueprint
from service.db import get_read_session
from service.health import schemas, services

blp = Blueprint("health", __name__, url_prefix="/health", description="Liveness and readiness")


@blp.route("/live")
class Live(MethodView):
    @blp.response(200, schemas.LiveSchema)
    def get(self) -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}


@blp.route("/ready")
class Ready(MethodView):
    @blp.response(200, schemas.ReadySchema)
    @blp.problems(503)
    def get(self) -> services.Readiness:
        """The database is reachable and migrated to head."""
        return services.check_ready(get_read_session(), current_app.extensions["migration_heads"])
