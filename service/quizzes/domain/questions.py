"""Question types: what a quiz is made of, and the invariants each type keeps.

Numeric answers are exact rationals (`fractions.Fraction`), so a tolerance edge such as 0.4 vs
0.3 ± 0.1 is decided exactly rather than by float rounding. Tolerance kinds:

- absolute a:       |given − expected| ≤ a
- relative r:       |given − expected| ≤ r·|expected|
- sig_figs s:       |given − expected| ≤ ½·10^(⌊log10|expected|⌋ − s + 1), i.e. within half a unit
                    in the s-th significant digit of the expected value. Symmetric around the
                    exact answer, so the correctly rounded value is always accepted: for
                    1,048,576 at 3 significant figures the half unit is 5,000, so 1.05e6 (off by
                    1,424) is accepted and 1.04e6 (off by 8,576) and 1e6 are rejected. An expected
                    value of 0 accepts only 0.

Generated questions carry their generator object (resolved by the loader), which keeps the
domain free of the numerics imports that generators need.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any, Protocol

from service.quizzes.domain.draws import SeededDraws
from service.quizzes.domain.misconceptions import Misconception, choice_collision, collision
from service.quizzes.numbers import floor_log10, number_from_float, parse_number

SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
TRUE_FALSE = "true_false"
NUMERIC = "numeric"
QUESTION_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE, TRUE_FALSE, NUMERIC)
CHOICE_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE)

TOLERANCE_KINDS = ("absolute", "relative", "sig_figs")
SCORING_POLICIES = ("highest", "last", "average")
REVIEW_POLICIES = ("after_submission", "after_pass", "never")


class AnswerMemo(Protocol):
    """Where a generator may keep what it computed, by key (the app's read model gives one)."""

    def get_or_build(self, key: Hashable, build: Callable[[], Any]) -> Any: ...


class QuestionGenerator(Protocol):
    """A numeric question whose numbers are drawn per attempt and answered by the numerics."""

    @property
    def name(self) -> str: ...

    @property
    def version(self) -> int: ...

    @property
    def template(self) -> str:
        """The prompt shown in a preview: describes the question without numbers."""
        ...

    def check_options(self, options: Mapping[str, Any]) -> None:
        """Raise ValueError naming a bad option (bank authors may narrow the draws)."""
        ...

    def remembering(self, memo: AnswerMemo) -> QuestionGenerator:
        """This generator keeping its computed answers in `memo`, when its draws come from few
        enough combinations for that to pay (itself otherwise). Equal to this generator."""
        ...

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> dict[str, Any]: ...

    def render(self, params: Mapping[str, Any]) -> str: ...

    def answer(self, params: Mapping[str, Any]) -> float: ...

    @property
    def misconception_ids(self) -> tuple[str, ...]:
        """The mistakes this generator can compute (a question names some of them)."""
        ...

    def misconception_answers(self, params: Mapping[str, Any]) -> Mapping[str, float]:
        """The wrong answer each mistake gives for these numbers, by id (NaN when undefined)."""
        ...

    def explain(self, params: Mapping[str, Any]) -> str:
        """The worked computation for these numbers, appended to the question's explanation."""
        ...


def as_fraction(value: Fraction | int | float | str) -> Fraction:
    """An exact rational from a Fraction, an int, a float (its shortest decimal) or a text."""
    if isinstance(value, Fraction):
        return value
    if isinstance(value, bool):
        raise TypeError("expected a number, got a bool")
    if isinstance(value, int):
        return Fraction(value)
    if isinstance(value, float):
        return number_from_float(value)
    return parse_number(value)


@dataclass(frozen=True)
class Choice:
    id: str
    text: str
    correct: bool = False


@dataclass(frozen=True)
class Tolerance:
    """How close a numeric answer must be; see the module docstring for the three kinds."""

    kind: str
    value: Fraction

    def __post_init__(self) -> None:
        if self.kind not in TOLERANCE_KINDS:
            raise ValueError(f"unknown tolerance kind {self.kind!r}")
        object.__setattr__(self, "value", as_fraction(self.value))
        if self.value < 0:
            raise ValueError("a tolerance cannot be negative")
        if self.kind == "sig_figs" and (self.value.denominator != 1 or self.value < 1):
            raise ValueError("significant figures must be a whole number ≥ 1")

    def half_width(self, expected: Fraction) -> Fraction:
        """The largest accepted |given − expected| for this expected value."""
        if self.kind == "absolute":
            return self.value
        if self.kind == "relative":
            return self.value * abs(expected)
        if expected == 0:
            return Fraction(0)
        return Fraction(1, 2) * Fraction(10) ** (floor_log10(expected) - int(self.value) + 1)

    def accepts(self, expected: Fraction, given: Fraction) -> bool:
        return abs(given - expected) <= self.half_width(expected)


@dataclass(frozen=True)
class QuizSettings:
    max_attempts: int | None = None
    pass_fraction: Fraction = Fraction(4, 5)
    scoring_policy: str = "highest"
    shuffle_choices: bool = True
    show_correct_answers: str = "after_submission"

    def __post_init__(self) -> None:
        object.__setattr__(self, "pass_fraction", as_fraction(self.pass_fraction))
        if not 0 <= self.pass_fraction <= 1:
            raise ValueError("pass_fraction must be within [0, 1]")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError("max_attempts must be at least 1 (None: unlimited)")
        if self.scoring_policy not in SCORING_POLICIES:
            raise ValueError(f"unknown scoring policy {self.scoring_policy!r}")
        if self.show_correct_answers not in REVIEW_POLICIES:
            raise ValueError(f"unknown review policy {self.show_correct_answers!r}")


@dataclass(frozen=True)
class Question:
    """One question. `answer` is a Fraction (numeric), a bool (true_false) or None (choice
    types, whose key is `Choice.correct`, and generated questions)."""

    id: str
    type: str
    prompt: str
    explanation: str
    points: Fraction = Fraction(1)
    choices: tuple[Choice, ...] = ()
    answer: Fraction | bool | None = None
    tolerance: Tolerance | None = None
    generator: QuestionGenerator | None = None
    generator_options: Mapping[str, Any] = field(default_factory=dict)
    misconceptions: tuple[Misconception, ...] = ()

    def __post_init__(self) -> None:
        if self.type not in QUESTION_TYPES:
            raise ValueError(f"unknown question type {self.type!r}")
        object.__setattr__(self, "points", as_fraction(self.points))
        object.__setattr__(self, "choices", tuple(self.choices))
        object.__setattr__(self, "misconceptions", tuple(self.misconceptions))
        if self.type == NUMERIC and self.answer is not None and not isinstance(self.answer, bool):
            object.__setattr__(self, "answer", as_fraction(self.answer))
        problem = _question_problem(self)
        if problem:
            raise ValueError(f"question {self.id!r}: {problem}")


def _question_problem(question: Question) -> str | None:
    """The first broken invariant (the bank schema reports these per field first)."""
    correct = sum(choice.correct for choice in question.choices)
    if question.type in CHOICE_TYPES:
        if len(question.choices) < 2:
            return "needs at least two choices"
        if len({choice.id for choice in question.choices}) != len(question.choices):
            return "choice ids must be unique"
        if question.type == SINGLE_CHOICE and correct != 1:
            return "needs exactly one correct choice"
        if question.type == MULTIPLE_CHOICE and correct < 1:
            return "needs at least one correct choice"
    elif question.choices:
        return "only choice questions have choices"
    if question.type == TRUE_FALSE and not isinstance(question.answer, bool):
        return "needs a true/false answer"
    if question.type == NUMERIC:
        if question.tolerance is None:
            return "needs a tolerance"
        if (question.answer is None) == (question.generator is None):
            return "needs either a fixed answer or a generator"
    elif question.generator is not None:
        return "only numeric questions can be generated"
    if question.points <= 0:
        return "points must be positive"
    return misconception_problem(question)


def misconception_problem(question: Question) -> str | None:
    """What is wrong with the question's misconceptions (None when nothing): unique ids, the
    answer form its type needs (see `misconceptions`), and no collision (static questions are
    checked here; generated ones per draw, when instantiated)."""
    items = question.misconceptions
    if not items:
        return None
    if len({item.id for item in items}) != len(items):
        return "misconception ids must be unique"
    for item in items:
        problem = _misconception_form(question, item)
        if problem:
            return f"misconception {item.id!r}: {problem}"
    if question.type in CHOICE_TYPES:
        return choice_collision(items)
    if question.generator is None and isinstance(question.answer, Fraction):
        assert question.tolerance is not None
        values = [(item.id, item.value) for item in items]
        return collision(question.answer, values, question.tolerance.half_width)
    return None


def _misconception_form(question: Question, item: Misconception) -> str | None:
    if question.type in CHOICE_TYPES:
        if item.choice is None or item.value is not None:
            return "a choice question's misconception names a choice (and no value)"
        wrong = {choice.id for choice in question.choices if not choice.correct}
        if item.choice not in wrong:
            return f"choice {item.choice!r} is not a wrong choice of this question"
        return None
    if question.type != NUMERIC:
        return f"a {question.type} question has no misconceptions"
    if item.choice is not None:
        return "a numeric question's misconception has no choice"
    if question.generator is None:
        return None if item.value is not None else "needs the value the mistake gives"
    if item.value is not None:
        return "a generated question computes the value: remove it"
    known = question.generator.misconception_ids
    if item.id not in known:
        return f"generator {question.generator.name!r} computes only: {', '.join(known)}"
    return None


@dataclass(frozen=True)
class InstantiatedQuestion:
    """A question as one attempt sees it: numbers drawn, choices in this attempt's order."""

    id: str
    type: str
    prompt: str
    points: Fraction
    choices: tuple[Choice, ...]
    answer: Fraction | bool | None
    tolerance: Tolerance | None
    explanation: str
    params: Mapping[str, Any] = field(default_factory=dict)
    # Values filled in for this attempt's numbers (generated questions).
    misconceptions: tuple[Misconception, ...] = ()

    @property
    def correct_choice_ids(self) -> tuple[str, ...]:
        return tuple(choice.id for choice in self.choices if choice.correct)


Instances = tuple[InstantiatedQuestion, ...]


@dataclass(frozen=True)
class Quiz:
    slug: str
    title: str
    lesson: int | None
    description: str
    settings: QuizSettings
    questions: tuple[Question, ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)
