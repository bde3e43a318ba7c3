"""Grading: credit and feedback per question, and the attempt's score.

Grading is a function of (quiz version, attempt seed, answers) only, so any attempt can be
replayed. Feedback never reveals the key; whether the key is shown is the review policy's call.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from service.quizzes.domain.answers import ReadAnswer, read_answers
from service.quizzes.domain.instances import instantiate, json_number
from service.quizzes.domain.misconceptions import Misconception, choice_match, numeric_match
from service.quizzes.domain.questions import (
    MULTIPLE_CHOICE,
    NUMERIC,
    SINGLE_CHOICE,
    TRUE_FALSE,
    InstantiatedQuestion,
    Quiz,
)
from service.quizzes.numbers import format_number

NOT_ANSWERED = "not answered"


@dataclass(frozen=True)
class QuestionResult:
    question_id: str
    correct: bool
    points: float
    max_points: float
    feedback: str
    correct_answer: float | bool | str | list[str] | None
    explanation: str | None
    # {"id", "feedback"} of the misconception the wrong answer matched, else None.
    misconception: dict[str, str] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "correct": self.correct,
            "points": self.points,
            "max_points": self.max_points,
            "feedback": self.feedback,
            "correct_answer": self.correct_answer,
            "explanation": self.explanation,
            "misconception": self.misconception,
        }


@dataclass(frozen=True)
class GradeResult:
    score: float
    max_score: float
    passed: bool
    results: tuple[QuestionResult, ...]

    @property
    def fraction(self) -> float:
        return self.score / self.max_score if self.max_score else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "max_score": self.max_score,
            "passed": self.passed,
            "results": [result.to_dict() for result in self.results],
        }


def _correct_answer(question: InstantiatedQuestion) -> float | bool | str | list[str] | None:
    if question.type == SINGLE_CHOICE:
        return question.correct_choice_ids[0]
    if question.type == MULTIPLE_CHOICE:
        return list(question.correct_choice_ids)
    if question.type == TRUE_FALSE:
        return bool(question.answer)
    assert isinstance(question.answer, Fraction)
    return json_number(question.answer)


def _credit(question: InstantiatedQuestion, answer: ReadAnswer) -> tuple[Fraction, str]:
    """Fraction of the points earned, and the feedback (never revealing the key)."""
    if question.type == NUMERIC:
        assert isinstance(answer, Fraction)
        assert isinstance(question.answer, Fraction)
        assert question.tolerance is not None
        ok = question.tolerance.accepts(question.answer, answer)
        verdict = "correct" if ok else "incorrect"
        return Fraction(int(ok)), f"{verdict} (read as {format_number(answer)})"
    if question.type == TRUE_FALSE:
        ok = answer == question.answer
        return Fraction(int(ok)), "correct" if ok else "incorrect"
    correct_ids = set(question.correct_choice_ids)
    if question.type == SINGLE_CHOICE:
        ok = answer in correct_ids
        return Fraction(int(ok)), "correct" if ok else "incorrect"
    assert isinstance(answer, tuple)
    right = sum(1 for item in answer if item in correct_ids)
    wrong = len(answer) - right
    credit = max(Fraction(0), Fraction(right - wrong, len(correct_ids)))
    if credit == 1:
        return credit, "correct"
    if credit > 0:
        return credit, "partially correct"
    return credit, "incorrect"


def _diagnosis(question: InstantiatedQuestion, answer: ReadAnswer) -> Misconception | None:
    """The misconception behind a wrong answer: the first in bank order that it matches (under
    the question's own tolerance for numbers; the distractor picked for choices)."""
    if question.type == NUMERIC:
        assert isinstance(answer, Fraction)
        assert question.tolerance is not None
        return numeric_match(question.misconceptions, answer, question.tolerance.half_width)
    if question.type == SINGLE_CHOICE:
        assert isinstance(answer, str)
        return choice_match(question.misconceptions, (answer,))
    if question.type == MULTIPLE_CHOICE:
        assert isinstance(answer, tuple)
        return choice_match(question.misconceptions, answer)
    return None


def grade_instances(
    instances: Sequence[InstantiatedQuestion],
    answers: Mapping[str, object],
    pass_fraction: Fraction,
) -> GradeResult:
    """Grade already instantiated questions (see `grade`)."""
    read = read_answers(instances, answers)
    results: list[QuestionResult] = []
    score = max_score = Fraction(0)
    for question in instances:
        answer = read[question.id]
        diagnosis = None
        if answer is None:
            credit, feedback = Fraction(0), NOT_ANSWERED
        else:
            credit, feedback = _credit(question, answer)
            # The correct answer is checked first: a right answer has no misconception.
            if credit < 1:
                diagnosis = _diagnosis(question, answer)
        earned = credit * question.points
        score += earned
        max_score += question.points
        results.append(
            QuestionResult(
                question_id=question.id,
                correct=credit == 1,
                points=json_number(earned),
                max_points=json_number(question.points),
                feedback=feedback,
                correct_answer=_correct_answer(question),
                explanation=question.explanation,
                misconception=None if diagnosis is None else diagnosis.to_dict(),
            )
        )
    passed = max_score > 0 and score >= pass_fraction * max_score
    return GradeResult(json_number(score), json_number(max_score), passed, tuple(results))


def grade(quiz: Quiz, seed: int, answers: Mapping[str, object]) -> GradeResult:
    """Grade `answers` ({question_id: answer}) for attempt `seed` of this quiz version.

    Deterministic: the same arguments always give the same result. Missing answers score 0
    ("not answered"); unreadable ones raise UnreadableAnswer before anything is graded.
    Multiple choice earns max(0, right picks − wrong picks) / number of right choices. A wrong
    answer that matches a misconception carries its id and feedback (`QuestionResult`).
    """
    return grade_instances(instantiate(quiz, seed), answers, quiz.settings.pass_fraction)
