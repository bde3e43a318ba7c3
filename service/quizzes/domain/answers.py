"""Answer parsing: a learner's raw answers read into canonical values, or every reason why not.

An unreadable answer is not graded (the attempt stays open); a missing one is read as None.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from service.quizzes.domain.instances import instantiate
from service.quizzes.domain.questions import (
    NUMERIC,
    SINGLE_CHOICE,
    TRUE_FALSE,
    InstantiatedQuestion,
    Quiz,
)
from service.quizzes.numbers import MAX_BITS, NumberFormatError, number_from_float, parse_number

ReadAnswer = Fraction | bool | str | tuple[str, ...]


class UnreadableAnswer(ValueError):
    """An answer that cannot be read (not graded: the attempt stays open).

    `question_id` and `reason` name the first problem in quiz order; `problems` maps every
    offending question id to its reason, so a 422 can list them all.
    """

    def __init__(
        self, question_id: str, reason: str, problems: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(f"question {question_id!r}: {reason}")
        self.question_id = question_id
        self.reason = reason
        self.problems: dict[str, str] = dict(problems or {question_id: reason})


def read_numeric(raw: object) -> Fraction:
    """A numeric answer (a number or a text such as '2^20') as the exact value it is graded as."""
    if isinstance(raw, bool):
        raise NumberFormatError("expected a number, got true/false")
    if isinstance(raw, int):
        if raw.bit_length() > MAX_BITS:
            raise NumberFormatError("the number is too large to grade")
        return Fraction(raw)
    if isinstance(raw, float):
        return number_from_float(raw)
    if isinstance(raw, str):
        return parse_number(raw)
    raise NumberFormatError("expected a number or a text such as '2^20'")


def read_answer(question: InstantiatedQuestion, raw: object) -> ReadAnswer:
    """The answer in canonical form; raises UnreadableAnswer (only ever for this question)."""
    known = {choice.id for choice in question.choices}
    if question.type == NUMERIC:
        try:
            return read_numeric(raw)
        except NumberFormatError as error:
            raise UnreadableAnswer(question.id, str(error)) from error
    if question.type == TRUE_FALSE:
        if isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
            return raw.strip().lower() == "true"
        raise UnreadableAnswer(question.id, "expected true or false")
    if question.type == SINGLE_CHOICE:
        if not isinstance(raw, str):
            raise UnreadableAnswer(question.id, "expected one choice id")
        if raw not in known:
            raise UnreadableAnswer(question.id, f"no choice with id {raw!r}")
        return raw
    if not isinstance(raw, list | tuple) or not all(isinstance(item, str) for item in raw):
        raise UnreadableAnswer(question.id, "expected a list of choice ids")
    unknown = [item for item in raw if item not in known]
    if unknown:
        raise UnreadableAnswer(question.id, f"no choice with id {unknown[0]!r}")
    if len(set(raw)) != len(raw):
        raise UnreadableAnswer(question.id, "a choice id is listed twice")
    return tuple(raw)


def read_answers(
    instances: Sequence[InstantiatedQuestion], answers: Mapping[str, object]
) -> dict[str, ReadAnswer | None]:
    """Every answer read ({question_id: value or None when missing}); raises UnreadableAnswer
    listing every problem, including ids the quiz does not have."""
    problems: dict[str, str] = {}
    read: dict[str, ReadAnswer | None] = {}
    for question in instances:
        raw = answers.get(question.id)
        if raw is None:
            read[question.id] = None
            continue
        try:
            read[question.id] = read_answer(question, raw)
        except UnreadableAnswer as error:
            problems[question.id] = error.reason
    ids = {question.id for question in instances}
    for key in answers:
        if key not in ids:
            problems[str(key)] = "this quiz has no question with this id"
    if problems:
        first = next(iter(problems))
        raise UnreadableAnswer(first, problems[first], problems)
    return read


def check_answers(quiz: Quiz, seed: int, answers: Mapping[str, object]) -> dict[str, str]:
    """Every unreadable answer as {question_id: reason}; empty when all can be graded."""
    try:
        read_answers(instantiate(quiz, seed), answers)
    except UnreadableAnswer as error:
        return error.problems
    return {}
