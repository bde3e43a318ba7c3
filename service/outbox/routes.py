"""The outbox's admin API (admin API key): /v1/outbox, /v1/outbox/{id}, its retry, and
/v1/outbox/deliveries (deliver one batch now)."""

from __future__ import annotations

from typing import Any

from flask.views import MethodView

from service.api import Blueprint
from service.auth.guards import guard
from service.db import get_session
from service.outbox import queue, schemas, services
from service.outbox.wiring import app_outbox, delivery_context
from service.pagination import page_request
from service.settings_access import settings

blp = Blueprint(
    "outbox",
    __name__,
    url_prefix="/v1/outbox",
    description="The delivery outbox: LMS grades and xAPI statements (admin API key)",
)
ADMIN = ("admin",)


@blp.route("")
class Outbox(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.arguments(schemas.OutboxArgsSchema, location="query")
    @blp.response(200, schemas.OutboxListSchema)
    def get(self, args: dict[str, Any]) -> Any:
        """Messages waiting for, or done with, delivery (LMS grades, xAPI statements), newest
        first; filter by status and kind."""
        return services.list_messages(
            get_session(),
            page_request(args, settings().max_page_size),
            status=args.get("status"),
            kind=args.get("kind"),
        )


@blp.route("/<int:message_id>")
class OutboxMessage(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.response(200, schemas.OutboxMessageSchema)
    @blp.problems(404)
    def get(self, message_id: int) -> Any:
        """One outbox message with its attempts and last error."""
        return services.get_message(get_session(), message_id)


@blp.route("/<int:message_id>/retry")
class OutboxRetry(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.response(200, schemas.OutboxMessageSchema)
    @blp.problems(404)
    def post(self, message_id: int) -> Any:
        """Make a pending or failed message due now, with a fresh attempt budget."""
        return services.retry_message(get_session(), message_id)


@blp.route("/deliveries")
class OutboxDeliveries(MethodView):
    @guard(blp, roles=ADMIN)
    @blp.response(200, schemas.DeliveryReportSchema)
    def post(self) -> queue.DeliveryReport:
        """Deliver one batch of due messages now (the `flask outbox run` worker does this on
        its own)."""
        return queue.deliver_due(delivery_context(), app_outbox().handlers)
