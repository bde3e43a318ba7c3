"""The attempts table as the use cases read and write it: prebuilt Core statements with named
(labelled) columns, run on the session's connection inside the caller's transaction.

The attempt endpoints read what they need in one statement each: building a select and running
it through the ORM costs several times what SQLite or PostgreSQL spend answering it. Rows come
back as mappings and are turned into dataclasses by column name, never by position.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, Select, and_, bindparam, case, func, insert, select, update
from sqlalchemy.orm import Session

from service.learners.models import OPEN, SUBMITTED, Attempt, Learner
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
    answers: dict[str, Any] | None = None  # as submitted (None while open)


@dataclass(frozen=True)
class AttemptContext:
    """What an attempt's views and events read besides its row: its quiz version, the quiz's and
    the learner's names, and the LMS account (issuer, subject) of a learner who came from one."""

    version: int
    content_hash: str
    slug: str
    title: str
    display_name: str
    issuer: str | None
    subject: str | None


@dataclass(frozen=True)
class StartState:
    """A quiz's current version and one learner's attempts on it."""

    quiz_id: int
    version_id: int
    version: int
    content_hash: str
    attempts: int
    last_number: int | None
    open_number: int | None  # at most one attempt is open


@dataclass(frozen=True)
class Submission:
    """What a winning submission writes (its result as stored: GradeResult.to_dict())."""

    submitted_at: datetime
    answers: dict[str, Any]
    result: dict[str, Any]
    idempotency_key: str | None


_ATTEMPT_FIELDS = tuple(f.name for f in fields(AttemptRow))
_CONTEXT_FIELDS = tuple(f.name for f in fields(AttemptContext))

_WITH_CONTEXT = (
    select(
        *(getattr(Attempt, name).label(name) for name in _ATTEMPT_FIELDS),
        QuizVersion.version.label("version"),
        QuizVersion.content_hash.label("content_hash"),
        QuizRecord.slug.label("slug"),
        QuizRecord.title.label("title"),
        Learner.display_name.label("display_name"),
        Learner.issuer.label("issuer"),
        Learner.subject.label("subject"),
    )
    .join(QuizVersion, QuizVersion.id == Attempt.quiz_version_id)
    .join(QuizRecord, QuizRecord.id == Attempt.quiz_id)
    .join(Learner, Learner.id == Attempt.learner_id)
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
            QuizRecord.id.label("quiz_id"),
            QuizVersion.id.label("version_id"),
            QuizVersion.version.label("version"),
            QuizVersion.content_hash.label("content_hash"),
            func.count(Attempt.id).label("attempts"),
            func.max(Attempt.attempt_number).label("last_number"),
            func.max(case((Attempt.status == OPEN, Attempt.attempt_number))).label("open_number"),
        ).select_from(QuizRecord)
    )
    .outerjoin(
        Attempt,
        and_(Attempt.quiz_id == QuizRecord.id, Attempt.learner_id == bindparam("learner_id")),
    )
    .group_by(QuizRecord.id, QuizVersion.id, QuizVersion.version, QuizVersion.content_hash)
)
_INSERT = insert(Attempt)
# Matches only while the attempt is open: its row count decides which submission wins. It SETs
# the columns its parameters name (`submit` names them all).
_SUBMIT = update(Attempt).where(Attempt.id == bindparam("attempt_id"), Attempt.status == OPEN)
_PASSED_ANOTHER = select(func.count()).where(
    Attempt.learner_id == bindparam("learner_id"),
    Attempt.quiz_id == bindparam("quiz_id"),
    Attempt.id != bindparam("attempt_id"),
    Attempt.passed.is_(True),
)
_SUBMITTED_SCORES = (
    select(Attempt.score.label("score"), Attempt.max_score.label("max_score"))
    .where(
        Attempt.learner_id == bindparam("learner_id"),
        Attempt.quiz_id == bindparam("quiz_id"),
        Attempt.status == SUBMITTED,
    )
    .order_by(Attempt.submitted_at, Attempt.attempt_number)
)


def _record(
    session: Session, statement: Select[Any], params: dict[str, Any]
) -> tuple[AttemptRow, AttemptContext] | None:
    row = session.connection().execute(statement, params).mappings().first()
    if row is None:
        return None
    attempt = AttemptRow(**{name: row[name] for name in _ATTEMPT_FIELDS})
    return attempt, AttemptContext(**{name: row[name] for name in _CONTEXT_FIELDS})


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
    row = (
        session.connection()
        .execute(_START, {"slug": slug, "learner_id": learner_id})
        .mappings()
        .first()
    )
    return None if row is None else StartState(**row)


def insert_attempt(session: Session, attempt: AttemptRow) -> None:
    """Write a new open attempt; IntegrityError when a concurrent start took its number or the
    learner's one open slot on the quiz."""
    session.connection().execute(
        _INSERT,
        {
            "id": attempt.id,
            "learner_id": attempt.learner_id,
            "quiz_id": attempt.quiz_id,
            "quiz_version_id": attempt.quiz_version_id,
            "attempt_number": attempt.attempt_number,
            "seed": attempt.seed,
            "status": attempt.status,
            "started_at": attempt.started_at,
        },
    )


def submit(session: Session, attempt_id: uuid.UUID, submission: Submission) -> bool:
    """Close the attempt with its graded submission if it is still open; whether this call
    did (False: another request submitted it first, or it is gone)."""
    result = submission.result
    won = (
        session.connection()
        .execute(
            _SUBMIT,
            {
                "attempt_id": attempt_id,
                "status": SUBMITTED,
                "submitted_at": submission.submitted_at,
                "answers": submission.answers,
                "result": result,
                "score": result["score"],
                "max_score": result["max_score"],
                "passed": result["passed"],
                "idempotency_key": submission.idempotency_key,
            },
        )
        .rowcount
    )
    return bool(won == 1)


def passed_another(session: Session, attempt: AttemptRow) -> bool:
    """Whether the learner passed the quiz in another attempt than this one."""
    params = {
        "learner_id": attempt.learner_id,
        "quiz_id": attempt.quiz_id,
        "attempt_id": attempt.id,
    }
    return bool(session.connection().scalar(_PASSED_ANOTHER, params))


def submitted_scores(session: Session, learner_id: uuid.UUID, quiz_id: int) -> list[RowMapping]:
    """(score, max_score) of the learner's submitted attempts on a quiz, oldest first."""
    params = {"learner_id": learner_id, "quiz_id": quiz_id}
    return list(session.connection().execute(_SUBMITTED_SCORES, params).mappings())


# --------------------------------------------------------------------------------------------
# Progress and results: submitted attempts by learner or by quiz


def learner_submissions(session: Session, learner_id: uuid.UUID) -> Sequence[RowMapping]:
    """(quiz_id, score, max_score, submitted_at) of a learner's submitted attempts, oldest
    first."""
    return (
        session.execute(
            select(
                Attempt.quiz_id.label("key"),
                Attempt.score.label("score"),
                Attempt.max_score.label("max_score"),
                Attempt.submitted_at.label("submitted_at"),
            )
            .where(Attempt.learner_id == learner_id, Attempt.status == SUBMITTED)
            .order_by(Attempt.submitted_at, Attempt.attempt_number)
        )
        .mappings()
        .all()
    )


def learners_with_results(quiz_id: int) -> Select[uuid.UUID, str]:
    """(learner_id, display_name) of the learners with a submitted attempt on the quiz, in the
    order of their first submission: a query to paginate."""
    return (
        select(Learner.id.label("learner_id"), Learner.display_name.label("display_name"))
        .join(Attempt, Attempt.learner_id == Learner.id)
        .where(Attempt.quiz_id == quiz_id, Attempt.status == SUBMITTED)
        .group_by(Learner.id, Learner.display_name)
        .order_by(func.min(Attempt.submitted_at), Learner.id)
    )


def quiz_submissions(
    session: Session, quiz_id: int, learner_ids: Sequence[uuid.UUID]
) -> Sequence[RowMapping]:
    """(learner_id, score, max_score, submitted_at) of these learners' submitted attempts on the
    quiz, oldest first."""
    return (
        session.execute(
            select(
                Attempt.learner_id.label("key"),
                Attempt.score.label("score"),
                Attempt.max_score.label("max_score"),
                Attempt.submitted_at.label("submitted_at"),
            )
            .where(
                Attempt.quiz_id == quiz_id,
                Attempt.status == SUBMITTED,
                Attempt.learner_id.in_(learner_ids),
            )
            .order_by(Attempt.submitted_at, Attempt.attempt_number)
        )
        .mappings()
        .all()
    )


def graded_attempts(
    session: Session, quiz_id: int, learner_ids: Collection[uuid.UUID] | None
) -> Sequence[RowMapping]:
    """(learner_id, attempt_number, answers, result, score, max_score) of the submitted attempts
    on the quiz, by learner then attempt number; only these learners' when `learner_ids` is
    given."""
    statement = select(
        Attempt.learner_id.label("learner_id"),
        Attempt.attempt_number.label("attempt_number"),
        Attempt.answers.label("answers"),
        Attempt.result.label("result"),
        Attempt.score.label("score"),
        Attempt.max_score.label("max_score"),
    ).where(Attempt.quiz_id == quiz_id, Attempt.status == SUBMITTED)
    if learner_ids is not None:
        statement = statement.where(Attempt.learner_id.in_(list(learner_ids)))
    order = statement.order_by(Attempt.learner_id, Attempt.attempt_number)
    return session.execute(order).mappings().all()
