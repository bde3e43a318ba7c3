"""Quizzes and their versions. A quiz's content is immutable per version, so an attempt always
grades against the version it was started on, even after the bank file changes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from service.db import Base, JSONDocument, utcnow


class QuizRecord(Base):
    __tablename__ = "quizzes"

    id: Mapped[int] = mapped_column(primary_key=True)
    slug: Mapped[str] = mapped_column(String(100), unique=True)
    title: Mapped[str] = mapped_column(String(200))
    lesson: Mapped[int | None]
    description: Mapped[str] = mapped_column(Text, default="")
    question_count: Mapped[int]
    max_score: Mapped[float]
    current_version: Mapped[int]
    source: Mapped[str] = mapped_column(String(16))  # "bank" or "author"
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    deleted_at: Mapped[datetime | None]

    versions: Mapped[list[QuizVersion]] = relationship(
        back_populates="quiz", order_by="QuizVersion.version"
    )


class QuizVersion(Base):
    __tablename__ = "quiz_versions"
    __table_args__ = (
        UniqueConstraint("quiz_id", "version"),
        UniqueConstraint("quiz_id", "content_hash"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    quiz_id: Mapped[int] = mapped_column(ForeignKey("quizzes.id", ondelete="CASCADE"))
    version: Mapped[int]
    content_hash: Mapped[str] = mapped_column(String(64))
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    quiz: Mapped[QuizRecord] = relationship(back_populates="versions")
