"""Attempt use cases: start (or resume), read, submit.

Exactly-once guarantees come from the database: starting an attempt relies on the unique
indexes (a racing duplicate fails to insert and the next round returns the winner's attempt),
and submitting is a single `UPDATE ... WHERE status = 'open'` whose row count decides the winner.
Each request runs the repository's prebuilt statements, one transaction per use case.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from service.auth.services import Principal
from service.db import RaceLost, run_in_transaction, utcnow
from service.errors import Conflict, IdempotencyKeyReused, NotFound, Unprocessable
from service.learners import policy, repository
from service.learners.events import AttemptSubmitted, LearnerEvents
from service.learners.models import OPEN, SUBMITTED
from service.learners.repository import AttemptContext, AttemptRow, Submission
from service.quizzes import domain
from service.quizzes.services import quiz_of

START_ATTEMPTS = 3


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
class OpenedAttempt:
    """The attempt a start opened (`created`) or resumed, with its quiz version."""

    attempt: AttemptRow
    slug: str
    quiz: domain.Quiz
    version: int
    created: bool

    def view(self) -> AttemptView:
        return _view_of(self.attempt, self.slug, self.quiz, self.version)


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
        policy_name = quiz.settings.show_correct_answers
        result = domain.apply_review_policy(
            attempt.result, policy_name, passed_before=passed_before
        )
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


def open_or_resume(session: Session, learner_id: uuid.UUID, slug: str) -> OpenedAttempt:
    """Open an attempt on the current version of `slug`, or find the learner's open one, inside
    the caller's transaction: one read and at most one INSERT.

    NotFound without such a quiz, Conflict when no attempt is left. A concurrent start that wins
    the race makes the INSERT fail (IntegrityError), and an open attempt submitted since it was
    counted raises RaceLost: either way the caller's unit of work runs again."""
    state = repository.start_state(session, slug, learner_id)
    if state is None:
        raise NotFound(f"There is no quiz {slug!r}.")
    if state.open_number is not None:
        record = repository.open_attempt(session, learner_id, state.quiz_id)
        if record is None:
            raise RaceLost
        attempt, context = record
        quiz = quiz_of(session, context.content_hash, attempt.quiz_version_id)
        return OpenedAttempt(attempt, slug, quiz, context.version, created=False)
    quiz = quiz_of(session, state.content_hash, state.version_id)
    if domain.attempts_left(quiz.settings, state.attempts) == 0:
        raise Conflict(
            f"All {quiz.settings.max_attempts} attempts on quiz {slug!r} have been used."
        )
    number = (state.last_number or 0) + 1
    attempt = AttemptRow(
        id=uuid.uuid4(),
        learner_id=learner_id,
        quiz_id=state.quiz_id,
        quiz_version_id=state.version_id,
        attempt_number=number,
        seed=domain.derive_seed(str(learner_id), slug, number),
        status=OPEN,
        started_at=utcnow(),
    )
    repository.insert_attempt(session, attempt)
    return OpenedAttempt(attempt, slug, quiz, state.version, created=True)


def start_attempt(session: Session, learner_id: uuid.UUID, slug: str) -> tuple[AttemptView, bool]:
    """Open an attempt, or return the learner's open one; (view, created). The view is made
    after the transaction commits."""
    opened = run_in_transaction(
        session,
        lambda s: open_or_resume(s, learner_id, slug),
        attempts=START_ATTEMPTS,
        conflict="The attempt could not be started because of concurrent requests; retry.",
    )
    return opened.view(), opened.created


def _readable_attempt(
    session: Session, principal: Principal, attempt_id: uuid.UUID
) -> tuple[AttemptRow, AttemptContext]:
    record = repository.attempt_by_id(session, attempt_id)
    policy.check_may_read_attempt(principal, attempt_id, record[0].learner_id if record else None)
    assert record is not None
    return record


def get_attempt(session: Session, principal: Principal, attempt_id: uuid.UUID) -> AttemptView:
    with session.begin():
        attempt, context = _readable_attempt(session, principal, attempt_id)
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
    events: LearnerEvents,
    principal: Principal,
    attempt_id: uuid.UUID,
    answers: dict[str, Any],
    idempotency_key: str | None = None,
) -> SubmissionView:
    """Grade and close an open attempt exactly once, publishing AttemptSubmitted in the same
    transaction.

    A repeat with the same Idempotency-Key replays the stored result; any other repeat is a
    Conflict. An unreadable answer is Unprocessable and leaves the attempt open. The row count of
    the conditional UPDATE decides which of two racing submissions wins."""
    with session.begin():
        attempt, context = _readable_attempt(session, principal, attempt_id)
        policy.check_may_submit(principal)
        quiz = quiz_of(session, context.content_hash, attempt.quiz_version_id)
        if attempt.status == SUBMITTED:
            return _replay_or_conflict(session, attempt, quiz, idempotency_key, answers)
        try:
            graded = domain.grade(quiz, attempt.seed, answers)
        except domain.UnreadableAnswer as exc:
            raise Unprocessable(
                f"The answer to question {exc.question_id!r} cannot be read: {exc.reason}. "
                "Nothing was graded and the attempt is still open.",
                errors={"answers": {qid: [reason] for qid, reason in exc.problems.items()}},
            ) from exc
        result = graded.to_dict()
        now = utcnow()
        if not repository.submit(
            session, attempt.id, Submission(now, answers, result, idempotency_key)
        ):
            record = repository.attempt_by_id(session, attempt.id)  # submitted meanwhile
            if record is None:  # deleted with its learner meanwhile
                raise NotFound(f"There is no attempt {attempt_id}.")
            return _replay_or_conflict(session, record[0], quiz, idempotency_key, answers)
        events.publish(
            session, AttemptSubmitted(attempt, context, quiz, result, answers, submitted_at=now)
        )
        passed_before = _unlocked_by_another_pass(session, attempt, quiz, passed=graded.passed)
    reviewed = domain.apply_review_policy(
        graded, quiz.settings.show_correct_answers, passed_before=passed_before
    )
    shown = result if reviewed is graded else reviewed.to_dict()
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
        and repository.passed_another(session, attempt)
    )


def _replay_or_conflict(
    session: Session,
    attempt: AttemptRow,
    quiz: domain.Quiz,
    idempotency_key: str | None,
    answers: dict[str, Any],
) -> SubmissionView:
    """The stored result for a repeat with the same Idempotency-Key and answers; 422 for the
    same key with other answers (a client bug: replaying would hide that they were not graded);
    409 for any other repeat."""
    same_key = bool(idempotency_key) and attempt.idempotency_key == idempotency_key
    if same_key and attempt.answers != answers:
        raise IdempotencyKeyReused(
            f"The Idempotency-Key {idempotency_key!r} was used for attempt {attempt.id} with "
            "other answers; a retry must repeat its request exactly. Nothing was changed: "
            "send a new key to submit other answers (to a new attempt).",
            errors={"Idempotency-Key": ["was used with other answers"]},
        )
    if same_key and attempt.result:
        passed_before = _unlocked_by_another_pass(
            session, attempt, quiz, passed=bool(attempt.result["passed"])
        )
        shown = domain.apply_review_policy(
            attempt.result, quiz.settings.show_correct_answers, passed_before=passed_before
        )
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
