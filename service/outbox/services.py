"""The outbox's admin use cases: list, read and retry messages, count the backlog, and deliver
one batch now."""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.errors import NotFound
from service.outbox.models import DELIVERED, FAILED, PENDING, OutboxMessage
from service.pagination import Page, PageRequest, paginate


def list_messages(
    session: Session, page: PageRequest, *, status: str | None = None, kind: str | None = None
) -> Page[OutboxMessage]:
    """Messages newest first, filtered by status and kind."""
    query = select(OutboxMessage)
    if status:
        query = query.where(OutboxMessage.status == status)
    if kind:
        query = query.where(OutboxMessage.kind == kind)
    with session.begin():
        return paginate(session, query.order_by(OutboxMessage.id.desc()), page)


def get_message(session: Session, message_id: int) -> OutboxMessage:
    with session.begin():
        message = session.get(OutboxMessage, message_id)
    if message is None:
        raise NotFound(f"There is no outbox message {message_id}.")
    return message


def retry_message(session: Session, message_id: int) -> OutboxMessage:
    """Make a pending or failed message due now, with a fresh attempt budget; a delivered one
    is left as it is."""
    with session.begin():
        message = session.get(OutboxMessage, message_id)
        if message is None:
            raise NotFound(f"There is no outbox message {message_id}.")
        if message.status != DELIVERED:
            message.status = PENDING
            message.attempts = 0
            message.next_attempt_at = utcnow()
            message.lease_token = None
    return message


def backlog(session: Session) -> dict[str, int]:
    """Messages per status ({"pending": n, "failed": m, ...}), for monitoring."""
    with session.begin():
        rows = session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)
        ).all()
    counts = {PENDING: 0, DELIVERED: 0, FAILED: 0}
    for status, count in rows:
        counts[status] = count
    return counts
