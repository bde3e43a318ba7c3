"""Stored xAPI statements (one row per statement; the full statement is kept as JSON)."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONDocument, utcnow


class XapiStatement(Base):
    __tablename__ = "xapi_statements"
    __table_args__ = (
        Index("ix_xapi_statements_learner_timestamp", "learner_id", "timestamp"),
        Index("ix_xapi_statements_timestamp", "timestamp"),
    )

    # Derived from the attempt, verb and question, so re-recording yields the same id.
    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    attempt_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("attempts.id", ondelete="CASCADE")
    )
    verb: Mapped[str] = mapped_column(String(255))
    timestamp: Mapped[datetime]
    stored_at: Mapped[datetime] = mapped_column(default=utcnow)
    sequence: Mapped[int] = mapped_column(default=0)  # order within the submission
    statement: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
