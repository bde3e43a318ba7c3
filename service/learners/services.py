"""Learners, attempts and progress. Every function owns its transaction.

Exactly-once guarantees come from the database: starting an attempt relies on the unique
indexes (a racing duplicate fails to insert and the winner's attempt is returned), and
submitting is a single `UPDATE ... WHERE status = 'open'` whose row count decides the winner.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.auth.services import IssuedToken, Principal, issue_learner_token
from service.db import utcnow
from service.errors import Conflict, Forbidden, NotFound, Unprocessable
from service.learners import events
from service.learners.models import OPEN, SUBMITTED, Attempt, Learner
from service.learners.records import (
    AttemptContext,
    AttemptRow,
    attempt_by_id,
    open_attempt,
    start_state,
)
from service.pagination import Page, PageRequest
from service.quizzes import domain
from service.quizzes.models import QuizRecord, QuizVersion
from service.quizzes.services import current_quiz, quiz_of, quiz_of_version

START_RETRIES = 3


@dataclass(frozen=True)
class RegisteredLearner:
    id: uuid.UUID
    display_name: str
    token: str
    token_expires_at: datetime


@dataclass(frozen=True)
class AttemptView:
    id: uuid.UUID
    quiz: str
    quiz_version: int
    attempt_number: int
    status: str
    started_at: datetime
    submitted_at: datetime | None
    questions: list[dict[str, Any]]
    result: dict[str, Any] | None = None


@dataclass(frozen=True)
class SubmissionView:
    attempt_id: uuid.UUID
    submitted_at: datetime
    score: float
    max_score: float
    passed: bool
    results: list[dict[str, Any]]
    replayed: bool = False


@dataclass(frozen=True)
class QuizProgress:
    slug: str
    title: str
    lesson: int | None
    attempts: int
    best_score: float | None
    last_score: float | None
    max_score: float
    score: float | None
    passed: bool
    last_submitted_at: datetime | None


@dataclass(frozen=True)
class Progress:
    learner_id: uuid.UUID
    quizzes: list[QuizProgress]
    lessons_completed: int
    lessons_total: int


@dataclass(frozen=True)
class ResultRow:
    learner_id: uuid.UUID
    display_name: str
    attempts: int
    best_score: float | None
    last_score: float | None
    score: float | None
    max_score: float
    passed: bool
    last_submitted_at: datetime | None


@dataclass
class _Tally:
    scores: list[float] = field(default_factory=list)
    fractions: list[float] = field(default_factory=list)
    last_submitted_at: datetime | None = None


# --------------------------------------------------------------------------------------------
# Learners

_INSERT_LEARNER = insert(Learner)


def register_learner(
    session: Session, display_name: str | None, *, secret_key: str, token_ttl: timedelta
) -> RegisteredLearner:
    learner_id, name = uuid.uuid4(), display_name or "Anonymous learner"
    with session.begin():
        session.connection().execute(_INSERT_LEARNER, {"id": learner_id, "display_name": name})
        issued = issue_learner_token(session, learner_id, secret_key, token_ttl, "session")
    return RegisteredLearner(learner_id, name, issued.token, issued.expires_at)


def learner_from_lms(
    session: Session,
    *,
    issuer: str,
    subject: str,
    display_name: str | None,
    secret_key: str,
    token_ttl: timedelta,
) -> tuple[Learner, IssuedToken]:
    """The learner for an LMS user (created on first launch) and a short-lived token."""
    for _ in range(START_RETRIES):
        try:
            with session.begin():
                learner = session.scalar(
                    select(Learner).where(Learner.issuer == issuer, Learner.subject == subject)
                )
                if learner is None:
                    learner = Learner(
                        display_name=display_name or "LMS learner", issuer=issuer, subject=subject
                    )
                    session.add(learner)
                    session.flush()
                elif display_name and learner.display_name != display_name:
                    learner.display_name = display_name
                issued = issue_learner_token(session, learner.id, secret_key, token_ttl, "lti")
            return learner, issued
        except IntegrityError:
            continue  # a concurrent launch created the learner: read it next time round
    raise Conflict("Could not register the LMS user; try the launch again.")


def get_learner(session: Session, learner_id: uuid.UUID) -> Learner:
    with session.begin():
        learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"There is no learner {learner_id}.")
    return learner


def list_learners(session: Session, page: PageRequest) -> Page[Learner]:
    with session.begin():
        total = session.scalar(select(func.count()).select_from(Learner)) or 0
        rows = session.scalars(
            select(Learner)
            .order_by(Learner.created_at, Learner.id)
            .offset(page.offset)
            .limit(page.per_page)
        ).all()
    return Page(rows, total, page.page, page.per_page)


def delete_learner(session: Session, learner_id: uuid.UUID) -> None:
    """Remove the learner, their tokens and attempts (cascading foreign keys)."""
    with session.begin():
        deleted = session.execute(delete(Learner).where(Learner.id == learner_id))
    if not deleted.rowcount:  # type: ignore[attr-defined]
        raise NotFound(f"There is no learner {learner_id}.")


def check_may_read_learner(principal: Principal, learner_id: uuid.UUID) -> None:
    """A learner reads only their own data; any API key reads everyone's."""
    if principal.is_learner and principal.learner_id != learner_id:
        raise Forbidden("A learner token gives access to that learner's own data only.")


# --------------------------------------------------------------------------------------------
# Attempts
#
# The request path runs prebuilt Core statements on the session's connection (see records.py).

_INSERT_ATTEMPT = insert(Attempt)
# SETs the columns named in the parameters it runs with; matches only while the attempt is open.
_SUBMIT_STATEMENT = update(Attempt).where(
    Attempt.id == bindparam("attempt_id"), Attempt.status == OPEN
)


def _view_of(
    attempt: AttemptRow,
    slug: str,
    quiz: domain.Quiz,
    version_number: int,
    *,
    passed_before: bool = False,
) -> AttemptView:
    view = domain.public_view(quiz, attempt.seed)
    result = None
    if attempt.status == SUBMITTED and attempt.result is not None:
        result = _reviewed(attempt.result, quiz, passed_before=passed_before)
    return AttemptView(
        id=attempt.id,
        quiz=slug,
        quiz_version=version_number,
        attempt_number=attempt.attempt_number,
        status=attempt.status,
        started_at=attempt.started_at,
        submitted_at=attempt.submitted_at,
        questions=view["questions"],
        result=result,
    )


def _reviewed(stored: dict[str, Any], quiz: domain.Quiz, *, passed_before: bool) -> dict[str, Any]:
    """The stored full result with answers withheld as the quiz's review policy says."""
    policy = quiz.settings.show_correct_answers
    shown = policy == "after_submission" or (
        policy == "after_pass" and (stored["passed"] or passed_before)
    )
    if shown:
        return stored
    hidden = [{**r, "correct_answer": None, "explanation": None} for r in stored["results"]]
    return {**stored, "results": hidden}


def start_attempt(session: Session, learner_id: uuid.UUID, slug: str) -> tuple[AttemptView, bool]:
    """Open an attempt, or return the learner's open one; (view, created).

    One transaction of one read and one INSERT; the view is made after it commits. A concurrent
    start that wins the race makes the INSERT fail on the unique indexes, and the next round
    finds its attempt."""
    for _ in range(START_RETRIES):
        try:
            with session.begin():
                state = start_state(session, slug, learner_id)
                if state is None:
                    raise NotFound(f"There is no quiz {slug!r}.")
                if state.open_number is not None:
                    record = open_attempt(session, learner_id, state.quiz_id)
                    if record is None:  # submitted since it was counted: count again
                        continue
                    attempt, context = record
                    quiz = quiz_of(session, context.content_hash, attempt.quiz_version_id)
                    resumed = _view_of(attempt, slug, quiz, context.version)
                    return resumed, False
                quiz = quiz_of(session, state.content_hash, state.version_id)
                if domain.attempts_left(quiz.settings, state.attempts) == 0:
                    raise Conflict(
                        f"All {quiz.settings.max_attempts} attempts on quiz {slug!r} "
                        "have been used."
                    )
                number = (state.last_number or 0) + 1
                row: dict[str, Any] = {
                    "id": uuid.uuid4(),
                    "learner_id": learner_id,
                    "quiz_id": state.quiz_id,
                    "quiz_version_id": state.version_id,
                    "attempt_number": number,
                    "seed": domain.derive_seed(str(learner_id), slug, number),
                    "status": OPEN,
                    "started_at": utcnow(),
                }
                session.connection().execute(_INSERT_ATTEMPT, row)
                attempt = AttemptRow(**row)
        except IntegrityError:
            continue  # a concurrent start won the race: the next round returns its attempt
        return _view_of(attempt, slug, quiz, state.version), True
    raise Conflict("The attempt could not be started because of concurrent requests; retry.")


def _owned_attempt(
    session: Session, principal: Principal, attempt_id: uuid.UUID
) -> tuple[AttemptRow, AttemptContext]:
    record = attempt_by_id(session, attempt_id)
    # Another learner's attempt is reported as missing: ids are not to be probed.
    if record is None or (principal.is_learner and record[0].learner_id != principal.learner_id):
        raise NotFound(f"There is no attempt {attempt_id}.")
    return record


def get_attempt(session: Session, principal: Principal, attempt_id: uuid.UUID) -> AttemptView:
    with session.begin():
        attempt, context = _owned_attempt(session, principal, attempt_id)
        quiz = quiz_of(session, context.content_hash, attempt.quiz_version_id)
        passed_before = attempt.status == SUBMITTED and _unlocked_by_another_pass(
            session,
            attempt,
            quiz,
            passed=bool(attempt.result and attempt.result["passed"]),
        )
    return _view_of(attempt, context.slug, quiz, context.version, passed_before=passed_before)


def submit_attempt(
    session: Session,
    principal: Principal,
    attempt_id: uuid.UUID,
    answers: dict[str, Any],
    idempotency_key: str | None = None,
) -> SubmissionView:
    """Grade and close an open attempt exactly once.

    A repeat with the same Idempotency-Key replays the stored result; any other repeat is a
    Conflict. An unreadable answer is Unprocessable and leaves the attempt open. The row count of
    the conditional UPDATE decides which of two racing submissions wins."""
    with session.begin():
        attempt, context = _owned_attempt(session, principal, attempt_id)
        if not principal.is_learner:
            raise Forbidden("Only the learner who started an attempt can submit it.")
        quiz = quiz_of(session, context.content_hash, attempt.quiz_version_id)
        if attempt.status == SUBMITTED:
            return _replay_or_conflict(session, attempt, quiz, idempotency_key)
        try:
            result = domain.grade(quiz, attempt.seed, answers).to_dict()
        except domain.UnreadableAnswer as exc:
            raise Unprocessable(
                f"The answer to question {exc.question_id!r} cannot be read: {exc.reason}. "
                "Nothing was graded and the attempt is still open.",
                errors={"answers": {qid: [reason] for qid, reason in exc.problems.items()}},
            ) from exc
        now = utcnow()
        won = (
            session.connection()
            .execute(
                _SUBMIT_STATEMENT,
                {
                    "attempt_id": attempt.id,
                    "status": SUBMITTED,
                    "submitted_at": now,
                    "answers": answers,
                    "result": result,
                    "score": result["score"],
                    "max_score": result["max_score"],
                    "passed": result["passed"],
                    "idempotency_key": idempotency_key,
                },
            )
            .rowcount
        )
        if won != 1:  # another request submitted it since it was read
            record = attempt_by_id(session, attempt.id)
            if record is None:  # deleted with its learner meanwhile
                raise NotFound(f"There is no attempt {attempt_id}.")
            return _replay_or_conflict(session, record[0], quiz, idempotency_key)
        events.attempt_submitted(
            session, attempt, context, result, quiz=quiz, submitted_at=now, answers=answers
        )
        passed_before = _unlocked_by_another_pass(session, attempt, quiz, passed=result["passed"])
    shown = _reviewed(result, quiz, passed_before=passed_before)
    return SubmissionView(
        attempt_id=attempt.id,
        submitted_at=now,
        score=shown["score"],
        max_score=shown["max_score"],
        passed=shown["passed"],
        results=shown["results"],
    )


def _unlocked_by_another_pass(
    session: Session, attempt: AttemptRow, quiz: domain.Quiz, *, passed: bool
) -> bool:
    """Whether another passed attempt shows this one's answers: only an unpassed attempt under
    the after_pass review policy asks the database."""
    return (
        not passed
        and quiz.settings.show_correct_answers == "after_pass"
        and _passed_before(session, attempt)
    )


def _passed_before(session: Session, attempt: AttemptRow) -> bool:
    return bool(
        session.connection().scalar(
            select(func.count()).where(
                Attempt.learner_id == attempt.learner_id,
                Attempt.quiz_id == attempt.quiz_id,
                Attempt.id != attempt.id,
                Attempt.passed.is_(True),
            )
        )
    )


def _replay_or_conflict(
    session: Session, attempt: AttemptRow, quiz: domain.Quiz, idempotency_key: str | None
) -> SubmissionView:
    if idempotency_key and attempt.idempotency_key == idempotency_key and attempt.result:
        passed_before = _unlocked_by_another_pass(
            session, attempt, quiz, passed=bool(attempt.result["passed"])
        )
        shown = _reviewed(attempt.result, quiz, passed_before=passed_before)
        assert attempt.submitted_at is not None
        return SubmissionView(
            attempt_id=attempt.id,
            submitted_at=attempt.submitted_at,
            score=shown["score"],
            max_score=shown["max_score"],
            passed=shown["passed"],
            results=shown["results"],
            replayed=True,
        )
    raise Conflict(
        f"Attempt {attempt.id} was already submitted at {attempt.submitted_at:%Y-%m-%dT%H:%M:%SZ};"
        " start a new attempt to answer again.",
        attempt_id=str(attempt.id),
    )


# --------------------------------------------------------------------------------------------
# Progress and results


def _tallies(rows: list[Any]) -> dict[Any, _Tally]:
    tallies: dict[Any, _Tally] = defaultdict(_Tally)
    for key, score, max_score, submitted_at in rows:
        tally = tallies[key]
        tally.scores.append(score)
        tally.fractions.append(score / max_score if max_score else 0.0)
        tally.last_submitted_at = submitted_at
    return tallies


def _policy_numbers(
    tally: _Tally | None, quiz: domain.Quiz, max_score: float
) -> tuple[float | None, bool]:
    if tally is None or not tally.fractions:
        return None, False
    fraction = domain.progress_fraction(tally.fractions, quiz.settings.scoring_policy)
    return fraction * max_score, fraction >= quiz.settings.pass_fraction


def progress(session: Session, learner_id: uuid.UUID) -> Progress:
    with session.begin():
        if session.get(Learner, learner_id) is None:
            raise NotFound(f"There is no learner {learner_id}.")
        quizzes = session.execute(
            select(QuizRecord, QuizVersion)
            .join(QuizVersion, QuizVersion.quiz_id == QuizRecord.id)
            .where(
                QuizRecord.deleted_at.is_(None),
                QuizVersion.version == QuizRecord.current_version,
            )
            .order_by(QuizRecord.lesson.asc().nulls_last(), QuizRecord.slug)
        ).all()
        rows = session.execute(
            select(Attempt.quiz_id, Attempt.score, Attempt.max_score, Attempt.submitted_at)
            .where(Attempt.learner_id == learner_id, Attempt.status == SUBMITTED)
            .order_by(Attempt.submitted_at, Attempt.attempt_number)
        ).all()
    tallies = _tallies(list(rows))
    items = []
    for record, version in quizzes:
        tally = tallies.get(record.id)
        score, passed = _policy_numbers(tally, quiz_of_version(version), record.max_score)
        items.append(
            QuizProgress(
                slug=record.slug,
                title=record.title,
                lesson=record.lesson,
                attempts=len(tally.scores) if tally else 0,
                best_score=max(tally.scores) if tally else None,
                last_score=tally.scores[-1] if tally else None,
                max_score=record.max_score,
                score=score,
                passed=passed,
                last_submitted_at=tally.last_submitted_at if tally else None,
            )
        )
    return Progress(learner_id, items, sum(item.passed for item in items), len(items))


def quiz_results(session: Session, slug: str, page: PageRequest | None) -> Page[ResultRow]:
    """Per-learner results on a quiz (learners with at least one submitted attempt)."""
    with session.begin():
        current = current_quiz(session, slug)
        learners_query = (
            select(Learner.id, Learner.display_name)
            .join(Attempt, Attempt.learner_id == Learner.id)
            .where(Attempt.quiz_id == current.quiz_id, Attempt.status == SUBMITTED)
            .group_by(Learner.id, Learner.display_name)
            .order_by(func.min(Attempt.submitted_at), Learner.id)
        )
        total = session.scalar(select(func.count()).select_from(learners_query.subquery())) or 0
        if page is not None:
            learners_query = learners_query.offset(page.offset).limit(page.per_page)
        learners = session.execute(learners_query).all()
        rows = session.execute(
            select(Attempt.learner_id, Attempt.score, Attempt.max_score, Attempt.submitted_at)
            .where(
                Attempt.quiz_id == current.quiz_id,
                Attempt.status == SUBMITTED,
                Attempt.learner_id.in_([learner_id for learner_id, _ in learners]),
            )
            .order_by(Attempt.submitted_at, Attempt.attempt_number)
        ).all()
        max_score = session.scalar(
            select(QuizRecord.max_score).where(QuizRecord.id == current.quiz_id)
        )
    assert max_score is not None
    tallies = _tallies(list(rows))
    items = []
    for learner_id, display_name in learners:
        tally = tallies[learner_id]
        score, passed = _policy_numbers(tally, current.quiz, max_score)
        items.append(
            ResultRow(
                learner_id=learner_id,
                display_name=display_name,
                attempts=len(tally.scores),
                best_score=max(tally.scores),
                last_score=tally.scores[-1],
                score=score,
                max_score=max_score,
                passed=passed,
                last_submitted_at=tally.last_submitted_at,
            )
        )
    if page is None:
        return Page(items, total, 1, max(total, 1))
    return Page(items, total, page.page, page.per_page)
