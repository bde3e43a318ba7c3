"""Forwarding stored statements to a Learning Record Store through the outbox."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import orjson
from sqlalchemy.orm import Session

from service.outbox.queue import DeliveryContext, DeliveryError, enqueue
from service.outbox.transport import TransportError
from service.xapi.statements import XAPI_VERSION

XAPI_STATEMENTS = "xapi.statements"


def enqueue_statements(
    session: Session, attempt_id: uuid.UUID, statements: list[dict[str, Any]]
) -> None:
    """Queue one attempt's statements for the LRS (inside the submission's transaction)."""
    enqueue(session, XAPI_STATEMENTS, f"xapi:{attempt_id}", {"statements": statements})


def statements_url(lrs_url: str) -> str:
    """The LRS's statements resource under the endpoint XAPI_LRS_URL names."""
    return lrs_url.rstrip("/") + "/statements"


@dataclass(frozen=True)
class StatementForwarder:
    """The outbox handler for XAPI_STATEMENTS messages: the LRS endpoint (XAPI_LRS_URL) and the
    Authorization header value it wants (XAPI_LRS_AUTH)."""

    lrs_url: str | None
    auth: str | None = field(default=None, repr=False)

    def __call__(self, context: DeliveryContext, payload: dict[str, Any]) -> None:
        deliver_statements(context, payload, lrs_url=self.lrs_url, auth=self.auth)


def deliver_statements(
    context: DeliveryContext, payload: dict[str, Any], *, lrs_url: str | None, auth: str | None
) -> None:
    """POST the statements as one batch; 2xx is delivered. A 409 counts as delivered too: the
    LRS already holds statements with these ids, and resending them cannot change that."""
    if not lrs_url:
        raise DeliveryError("XAPI_LRS_URL is not configured; nowhere to send the statements")
    headers = {"Content-Type": "application/json", "X-Experience-API-Version": XAPI_VERSION}
    if auth:
        headers["Authorization"] = auth
    try:
        response = context.transport.request(
            "POST",
            statements_url(lrs_url),
            headers=headers,
            body=orjson.dumps(payload["statements"]),
        )
    except TransportError as exc:
        raise DeliveryError(f"LRS request failed: {exc}") from exc
    if not (response.ok or response.status == 409):
        raise DeliveryError(f"LRS answered {response.status}: {response.snippet()}")
