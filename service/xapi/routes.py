"""GET /v1/xapi/statements: the stored xAPI statements, filtered by learner and time."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api import Blueprint
from service.auth.guards import guard, require_principal
from service.db import get_session
from service.learners.policy import READERS, statements_learner
from service.pagination import page_request
from service.settings_access import settings
from service.xapi import schemas, services

blp = Blueprint("xapi", __name__, url_prefix="/v1/xapi", description="xAPI statements")


@blp.route("/statements")
class Statements(MethodView):
    @guard(blp, learner=True, roles=READERS)
    @blp.arguments(schemas.StatementArgsSchema, location="query")
    @blp.response(200, schemas.StatementListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """xAPI statements of quiz submissions (answered, completed, passed/failed), oldest
        first. API keys read everyone's; a learner token reads the learner's own."""
        where = services.StatementFilter(
            learner_id=statements_learner(require_principal(), args.get("learner")),
            since=args.get("since"),
            until=args.get("until"),
            verb=args.get("verb"),
        )
        return services.list_statements(
            get_session(), page_request(args, settings().max_page_size), where
        )
