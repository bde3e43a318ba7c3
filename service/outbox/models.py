"""The outbox table: one row per message to deliver to another system.

Exactly-once rules live in the schema: one message per `dedupe_key`.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import CheckConstraint, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONDocument, utcnow

PENDING = "pending"
DELIVERED = "delivered"
FAILED = "failed"
OUTBOX_STATUSES = (PENDING, DELIVERED, FAILED)


class OutboxMessage(Base):
    """A message to deliver to another system (an LMS grade, xAPI statements for an LRS).

    Written in the same transaction as the event it reports, so it exists exactly when the event
    does. Delivery retries with exponential backoff: `next_attempt_at` is when it is due (also the
    end of a worker's lease while it is being delivered), `attempts` counts failures."""

    __tablename__ = "outbox_messages"
    __table_args__ = (
        UniqueConstraint("dedupe_key"),
        CheckConstraint("status IN ('pending', 'delivered', 'failed')", name="status"),
        Index("ix_outbox_messages_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(32))
    dedupe_key: Mapped[str] = mapped_column(String(200))
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(String(16), default=PENDING)
    attempts: Mapped[int] = mapped_column(default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow)
    lease_token: Mapped[str | None] = mapped_column(String(32))
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    delivered_at: Mapped[datetime | None]
