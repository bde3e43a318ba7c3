"""What the attempt endpoints read, as prebuilt Core statements on the session's connection.

Each request reads what it needs in one statement: building a select and running it through the
ORM costs several times what SQLite or PostgreSQL spend answering it. Call these inside the
caller's transaction.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

from sqlalchemy import Select, and_, bindparam, case, func, select
from sqlalchemy.orm import Session

from service.learners.models import OPEN, Attempt, Learner
from service.lti.models import LtiLaunchContext
from service.quizzes.models import QuizRecord, QuizVersion
from service.quizzes.services import with_current_version


@dataclass(frozen=True)
class AttemptRow:
    """The columns of an attempt that its views, grading and events read."""

    id: uuid.UUID
    learner_id: uuid.UUID
    quiz_id: int
    quiz_version_id: int
    attempt_number: int
    seed: int
    status: str
    started_at: datetime
    submitted_at: datetime | None = None
    result: dict[str, Any] | None = None
    idempotency_key: str | None = None


@dataclass(frozen=True)
class AttemptContext:
    """What an attempt's views and events read besides its row: its quiz version, the quiz's and
    the learner's names, and whether it came from an LTI launch."""

    version: int
    content_hash: str
    slug: str
    title: str
    display_name: str
    issuer: str | None
    subject: str | None
    launched: bool


class StartState(NamedTuple):
    """A quiz's current version and one learner's attempts on it."""

    quiz_id: int
    version_id: int
    version: int
    content_hash: str
    attempts: int
    last_number: int | None
    open_number: int | None  # at most one attempt is open


_ATTEMPT_COLUMNS = (
    Attempt.id,
    Attempt.learner_id,
    Attempt.quiz_id,
    Attempt.quiz_version_id,
    Attempt.attempt_number,
    Attempt.seed,
    Attempt.status,
    Attempt.started_at,
    Attempt.submitted_at,
    Attempt.result,
    Attempt.idempotency_key,
)
_WITH_CONTEXT = (
    select(
        *_ATTEMPT_COLUMNS,
        QuizVersion.version,
        QuizVersion.content_hash,
        QuizRecord.slug,
        QuizRecord.title,
        Learner.display_name,
        Learner.issuer,
        Learner.subject,
        LtiLaunchContext.attempt_id.is_not(None),
    )
    .join(QuizVersion, QuizVersion.id == Attempt.quiz_version_id)
    .join(QuizRecord, QuizRecord.id == Attempt.quiz_id)
    .join(Learner, Learner.id == Attempt.learner_id)
    .outerjoin(LtiLaunchContext, LtiLaunchContext.attempt_id == Attempt.id)
)
_BY_ID = _WITH_CONTEXT.where(Attempt.id == bindparam("attempt_id"))
_OPEN = _WITH_CONTEXT.where(
    Attempt.learner_id == bindparam("learner_id"),
    Attempt.quiz_id == bindparam("quiz_id"),
    Attempt.status == OPEN,
)
_START = (
    with_current_version(
        select(
            QuizRecord.id,
            QuizVersion.id,
            QuizVersion.version,
            QuizVersion.content_hash,
            func.count(Attempt.id),
            func.max(Attempt.attempt_number),
            func.max(case((Attempt.status == OPEN, Attempt.attempt_number))),
        ).select_from(QuizRecord)
    )
    .outerjoin(
        Attempt,
        and_(Attempt.quiz_id == QuizRecord.id, Attempt.learner_id == bindparam("learner_id")),
    )
    .group_by(QuizRecord.id, QuizVersion.id, QuizVersion.version, QuizVersion.content_hash)
)


def _record(
    session: Session, statement: Select[Any], params: dict[str, Any]
) -> tuple[AttemptRow, AttemptContext] | None:
    row = session.connection().execute(statement, params).first()
    if row is None:
        return None
    split = len(_ATTEMPT_COLUMNS)
    version, digest, slug, title, display_name, issuer, subject, launched = row[split:]
    context = AttemptContext(
        version, digest, slug, title, display_name, issuer, subject, launched=bool(launched)
    )
    return AttemptRow(*row[:split]), context


def attempt_by_id(
    session: Session, attempt_id: uuid.UUID
) -> tuple[AttemptRow, AttemptContext] | None:
    return _record(session, _BY_ID, {"attempt_id": attempt_id})


def open_attempt(
    session: Session, learner_id: uuid.UUID, quiz_id: int
) -> tuple[AttemptRow, AttemptContext] | None:
    return _record(session, _OPEN, {"learner_id": learner_id, "quiz_id": quiz_id})


def start_state(session: Session, slug: str, learner_id: uuid.UUID) -> StartState | None:
    """The current version of the active quiz `slug` and the learner's attempts on it; None
    when there is no such quiz."""
    row = session.connection().execute(_START, {"slug": slug, "learner_id": learner_id}).first()
    return None if row is None else StartState(*row)
