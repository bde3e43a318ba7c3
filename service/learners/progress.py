"""Progress use cases: a learner's scores and completion across the quizzes, a quiz's results
per learner, and the gradebook score an LMS is sent. Scores follow each quiz's scoring policy
(highest, last or average of the submitted attempts)."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import RowMapping, select
from sqlalchemy.orm import Session

from service.errors import NotFound
from service.learners import repository
from service.learners.models import Learner
from service.pagination import Page, PageRequest, paginate
from service.quizzes import domain
from service.quizzes.models import QuizRecord, QuizVersion
from service.quizzes.services import current_quiz, quiz_of_version


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


def _tallies(rows: Sequence[RowMapping]) -> dict[Any, _Tally]:
    """Submitted attempts (key, score, max_score, submitted_at), oldest first, by key."""
    tallies: dict[Any, _Tally] = defaultdict(_Tally)
    for row in rows:
        tally = tallies[row["key"]]
        tally.scores.append(row["score"])
        tally.fractions.append(row["score"] / row["max_score"] if row["max_score"] else 0.0)
        tally.last_submitted_at = row["submitted_at"]
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
        tallies = _tallies(repository.learner_submissions(session, learner_id))
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
    """Per-learner results on a quiz (learners with at least one submitted attempt); every
    learner's row when `page` is None."""
    with session.begin():
        current = current_quiz(session, slug)
        learners = paginate(
            session, repository.learners_with_results(current.quiz_id), page, rows=True
        )
        tallies = _tallies(
            repository.quiz_submissions(
                session, current.quiz_id, [row.learner_id for row in learners.items]
            )
        )
        max_score = session.scalar(
            select(QuizRecord.max_score).where(QuizRecord.id == current.quiz_id)
        )
    assert max_score is not None

    def result_row(learner: Any) -> ResultRow:
        tally = tallies[learner.learner_id]
        score, passed = _policy_numbers(tally, current.quiz, max_score)
        return ResultRow(
            learner_id=learner.learner_id,
            display_name=learner.display_name,
            attempts=len(tally.scores),
            best_score=max(tally.scores),
            last_score=tally.scores[-1],
            score=score,
            max_score=max_score,
            passed=passed,
            last_submitted_at=tally.last_submitted_at,
        )

    return learners.map(result_row)


def gradebook_score(
    session: Session, attempt: repository.AttemptRow, quiz: domain.Quiz, max_score: float
) -> float:
    """The learner's score on the quiz by its scoring policy (highest, last or average of the
    submitted attempts, `attempt` included), on `max_score`'s scale, inside the caller's
    transaction. An LMS keeps the last score it receives, so it is sent this one."""
    rows = repository.submitted_scores(session, attempt.learner_id, attempt.quiz_id)
    fractions = [
        (row["score"] or 0.0) / row["max_score"] if row["max_score"] else 0.0 for row in rows
    ]
    fraction = domain.progress_fraction(fractions, quiz.settings.scoring_policy)
    return round(fraction * max_score, 6)
