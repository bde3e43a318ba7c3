"""Learners and attempts.

Exactly-once rules live in the schema: one attempt number per (learner, quiz), at most one open
attempt per (learner, quiz) (a partial unique index), and submission is a conditional UPDATE on
`status = 'open'`.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from service.db import Base, JSONDocument, utcnow

OPEN = "open"
SUBMITTED = "submitted"


class Learner(Base):
    __tablename__ = "learners"
    __table_args__ = (UniqueConstraint("issuer", "subject"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    display_name: Mapped[str] = mapped_column(String(100))
    # Set for learners who arrive from an LMS (LTI issuer and subject); null for open sign-ups.
    issuer: Mapped[str | None] = mapped_column(String(255))
    subject: Mapped[str | None] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Attempt(Base):
    __tablename__ = "attempts"
    __table_args__ = (
        UniqueConstraint("learner_id", "quiz_id", "attempt_number"),
        CheckConstraint("status IN ('open', 'submitted')", name="status"),
        CheckConstraint(
            "(status = 'open') = (submitted_at IS NULL)", name="submitted_at_iff_submitted"
        ),
        Index(
            "uq_attempts_one_open_per_learner_quiz",
            "learner_id",
            "quiz_id",
            unique=True,
            postgresql_where=text("status = 'open'"),
            sqlite_where=text("status = 'open'"),
        ),
        Index("ix_attempts_quiz_submitted", "quiz_id", "submitted_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    learner_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("learners.id", ondelete="CASCADE"))
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    quiz_version_id: Mapped[int] = mapped_column(ForeignKey("quiz_versions.id", ondelete="CASCADE"))
    attempt_number: Mapped[int]
    seed: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16), default=OPEN)
    started_at: Mapped[datetime] = mapped_column(default=utcnow)
    submitted_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    score: Mapped[float | None]
    max_score: Mapped[float | None]
    passed: Mapped[bool | None]
    idempotency_key: Mapped[str | None] = mapped_column(String(255))
