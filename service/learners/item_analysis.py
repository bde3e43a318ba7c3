"""Item analysis of a quiz's graded attempts, for authors and instructors.

`quiz_analytics` reads the submitted attempts and hands them to `service.quizzes.analytics`
(Moodle's quiz statistics: facility, discrimination, Cronbach's alpha, ...). The questions are
those of the quiz's current version; an attempt on an older version that lacks a question is
left out of that question's figures.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import RowMapping
from sqlalchemy.orm import Session

from service.learners import repository
from service.quizzes import analytics, domain
from service.quizzes.services import CurrentQuiz, current_quiz

AttemptScope = Literal["first", "all"]
ATTEMPT_SCOPES: tuple[AttemptScope, ...] = ("first", "all")


@dataclass(frozen=True)
class ItemAnalysis:
    """The figures of `analytics.analyze`, with which quiz, version and attempts they cover."""

    quiz: str
    version: int
    attempts_included: AttemptScope
    figures: analytics.QuizAnalytics


def quiz_analytics(
    session: Session,
    slug: str,
    *,
    attempts: AttemptScope = "first",
    learner_ids: Collection[uuid.UUID] | None = None,
) -> ItemAnalysis:
    """Moodle's item analysis of the submitted attempts on quiz `slug` (its own transaction).

    attempts: "first" (default, as Moodle: each learner's first submitted attempt) or "all".
    learner_ids: when given, only these learners' attempts
    count (an instructor's view of one course's learners); None counts every learner.
    NotFound when there is no such quiz.
    """
    with session.begin():
        return analyse_quiz(session, slug, current_quiz(session, slug), attempts, learner_ids)


def analyse_quiz(
    session: Session,
    slug: str,
    current: CurrentQuiz,
    attempts: AttemptScope = "first",
    learner_ids: Collection[uuid.UUID] | None = None,
) -> ItemAnalysis:
    """`quiz_analytics` inside the caller's transaction, for quiz `slug` already read."""
    if attempts not in ATTEMPT_SCOPES:
        raise ValueError(f"attempts must be one of {ATTEMPT_SCOPES}")
    rows = repository.graded_attempts(session, current.quiz_id, learner_ids)
    records = [
        (row["learner_id"], row["attempt_number"], _record(row, current.quiz)) for row in rows
    ]
    chosen = (
        analytics.first_attempts(records)
        if attempts == "first"
        else [record for _, _, record in records]
    )
    specs = [_spec(question) for question in current.quiz.questions]
    return ItemAnalysis(slug, current.version, attempts, analytics.analyze(chosen, specs))


_TRUE_FALSE_CHOICES = ("true", "false")


def _spec(question: domain.Question) -> analytics.QuestionSpec:
    choice_ids = tuple(choice.id for choice in question.choices)
    if question.type == domain.TRUE_FALSE:
        choice_ids = _TRUE_FALSE_CHOICES
    return analytics.QuestionSpec(
        question.id,
        choice_ids=choice_ids,
        misconception_ids=tuple(m.id for m in question.misconceptions),
        random_guess_score=analytics.random_guess_score(question.type, len(question.choices)),
    )


def _record(row: RowMapping, quiz: domain.Quiz) -> analytics.AttemptRecord:
    """An attempt's stored result and answers as the analysis reads them."""
    answers: Mapping[str, Any] = row["answers"] or {}
    result: Mapping[str, Any] = row["result"] or {}
    with_choices = {q.id for q in quiz.questions if q.type != domain.NUMERIC}
    responses = {}
    for graded in result.get("results", ()):
        question_id = graded["question_id"]
        hit = graded.get("misconception")
        responses[question_id] = analytics.Response(
            score=graded["points"],
            max_score=graded["max_points"],
            choices=_picked(answers.get(question_id)) if question_id in with_choices else None,
            misconception=hit["id"] if hit else None,
        )
    return analytics.AttemptRecord(responses, row["score"], row["max_score"])


def _picked(answer: object) -> tuple[str, ...] | None:
    """The choice ids a choice or true/false question's answer picked ("true"/"false" for
    the latter); None when left blank."""
    if isinstance(answer, bool):
        return (_TRUE_FALSE_CHOICES[0] if answer else _TRUE_FALSE_CHOICES[1],)
    if isinstance(answer, str):
        if answer.strip().lower() in _TRUE_FALSE_CHOICES:
            return (answer.strip().lower(),)
        return (answer,)
    if isinstance(answer, list) and all(isinstance(item, str) for item in answer):
        return tuple(answer)
    return None
