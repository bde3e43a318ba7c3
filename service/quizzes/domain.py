"""Quiz domain: question types, seeded instantiation, grading and answer-free views.

Pure: numpy, the standard library and the stdlib-only number reader `service.quizzes.numbers`.
Grading is a function of (quiz version, attempt seed, answers) only, so any attempt can be
replayed. Generated questions carry their generator object (resolved by the loader), which keeps
this module free of the numerics imports that generators need.

Numeric answers are compared as exact rationals (`fractions.Fraction`), so a tolerance edge such
as 0.4 vs 0.3 ± 0.1 is decided exactly rather than by float rounding. Tolerance kinds:

- absolute a:       |given − expected| ≤ a
- relative r:       |given − expected| ≤ r·|expected|
- sig_figs s:       |given − expected| ≤ ½·10^(⌊log10|expected|⌋ − s + 1), i.e. within half a unit
                    in the s-th significant digit of the expected value. Symmetric around the
                    exact answer, so the correctly rounded value is always accepted: for
                    1,048,576 at 3 significant figures the half unit is 5,000, so 1.05e6 (off by
                    1,424) is accepted and 1.04e6 (off by 8,576) and 1e6 are rejected. An expected
                    value of 0 accepts only 0.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from typing import Any, Protocol, TypeVar, overload

import numpy as np

from service.quizzes.numbers import (
    MAX_BITS,
    NumberFormatError,
    floor_log10,
    format_number,
    number_from_float,
    parse_number,
)

SINGLE_CHOICE = "single_choice"
MULTIPLE_CHOICE = "multiple_choice"
TRUE_FALSE = "true_false"
NUMERIC = "numeric"
QUESTION_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE, TRUE_FALSE, NUMERIC)
CHOICE_TYPES = (SINGLE_CHOICE, MULTIPLE_CHOICE)

TOLERANCE_KINDS = ("absolute", "relative", "sig_figs")
SCORING_POLICIES = ("highest", "last", "average")
REVIEW_POLICIES = ("after_submission", "after_pass", "never")

NOT_ANSWERED = "not answered"

T = TypeVar("T")


# ---------------------------------------------------------------------------------------------
# Errors


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


# ---------------------------------------------------------------------------------------------
# Seeds and stable random draws


def _key_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode("utf-8")).digest()[:8], "big")


def derive_seed(learner_key: str, quiz_slug: str, attempt_number: int) -> int:
    """Stable 63-bit seed from sha256(learner, quiz, attempt): fits a signed BIGINT column."""
    if isinstance(attempt_number, bool) or not isinstance(attempt_number, int):
        raise TypeError("attempt_number must be an int")
    if attempt_number < 1:
        raise ValueError("attempt_number starts at 1")
    payload = json.dumps([learner_key, quiz_slug, attempt_number], ensure_ascii=False)
    return int.from_bytes(hashlib.sha256(payload.encode("utf-8")).digest()[:8], "big") >> 1


class SeededDraws:
    """Random draws for one (seed, question, purpose), stable across numpy versions.

    Built on PCG64 seeded by a SeedSequence (both fixed algorithms) and reading raw 64-bit
    outputs; `np.random.Generator` methods may change their streams between numpy releases,
    which would silently change stored attempts on replay.
    """

    def __init__(self, seed: int, *keys: str) -> None:
        entropy = [seed & (2**64 - 1), *(_key_int(key) for key in keys)]
        self._bits = np.random.PCG64(np.random.SeedSequence(entropy))

    def _raw(self) -> int:
        return int(self._bits.random_raw())

    def integer(self, low: int, high: int) -> int:
        """Uniform integer in [low, high] (both inclusive), by rejection: no modulo bias."""
        if high < low:
            raise ValueError("high < low")
        span = high - low + 1
        limit = (2**64 // span) * span
        while True:
            raw = self._raw()
            if raw < limit:
                return low + raw % span

    def choice(self, options: Sequence[T]) -> T:
        """One element of `options`, uniformly."""
        if not options:
            raise ValueError("no options to choose from")
        return options[self.integer(0, len(options) - 1)]

    def permutation(self, n: int) -> list[int]:
        """A uniform permutation of range(n) (Fisher–Yates)."""
        order = list(range(n))
        for i in range(n - 1, 0, -1):
            j = self.integer(0, i)
            order[i], order[j] = order[j], order[i]
        return order


# ---------------------------------------------------------------------------------------------
# Content


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

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> dict[str, Any]: ...

    def render(self, params: Mapping[str, Any]) -> str: ...

    def answer(self, params: Mapping[str, Any]) -> float: ...

    def explain(self, params: Mapping[str, Any]) -> str:
        """The worked computation for these numbers, appended to the question's explanation."""
        ...


def _as_fraction(value: Fraction | int | float | str) -> Fraction:
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
        object.__setattr__(self, "value", _as_fraction(self.value))
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
        object.__setattr__(self, "pass_fraction", _as_fraction(self.pass_fraction))
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

    def __post_init__(self) -> None:
        if self.type not in QUESTION_TYPES:
            raise ValueError(f"unknown question type {self.type!r}")
        object.__setattr__(self, "points", _as_fraction(self.points))
        object.__setattr__(self, "choices", tuple(self.choices))
        if self.type == NUMERIC and self.answer is not None and not isinstance(self.answer, bool):
            object.__setattr__(self, "answer", _as_fraction(self.answer))
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
    return None


@dataclass(frozen=True)
class Quiz:
    slug: str
    title: str
    lesson: int | None
    description: str
    settings: QuizSettings
    questions: tuple[Question, ...]
    # Attempts instantiated so far (seed -> questions): a start and its submission draw the
    # same numbers, so the second is a lookup. Not part of the quiz's value.
    _instances: dict[int, tuple[InstantiatedQuestion, ...]] = field(
        default_factory=dict, init=False, repr=False, compare=False, hash=False
    )

    def __post_init__(self) -> None:
        object.__setattr__(self, "questions", tuple(self.questions))

    def question(self, question_id: str) -> Question:
        for question in self.questions:
            if question.id == question_id:
                return question
        raise KeyError(question_id)


# ---------------------------------------------------------------------------------------------
# Instantiation


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

    @property
    def correct_choice_ids(self) -> tuple[str, ...]:
        return tuple(choice.id for choice in self.choices if choice.correct)


def instantiate_question(
    question: Question, seed: int, shuffle_choices: bool = True
) -> InstantiatedQuestion:
    """Draw the numbers of a generated question and order choices for attempt `seed`."""
    choices = question.choices
    if shuffle_choices and len(choices) > 1:
        order = SeededDraws(seed, question.id, "shuffle").permutation(len(choices))
        choices = tuple(choices[i] for i in order)
    if question.generator is None:
        return InstantiatedQuestion(
            id=question.id,
            type=question.type,
            prompt=question.prompt,
            points=question.points,
            choices=choices,
            answer=question.answer,
            tolerance=question.tolerance,
            explanation=question.explanation,
        )
    generator = question.generator
    params = generator.draw(SeededDraws(seed, question.id, "params"), question.generator_options)
    worked = generator.explain(params)
    return InstantiatedQuestion(
        id=question.id,
        type=question.type,
        prompt=generator.render(params),
        points=question.points,
        choices=choices,
        # The shortest decimal of the float (what is shown), not its binary expansion.
        answer=number_from_float(float(generator.answer(params))),
        tolerance=question.tolerance,
        explanation=f"{question.explanation} {worked}".strip(),
        params=params,
    )


INSTANCES_KEPT = 1024


def instantiate(quiz: Quiz, seed: int) -> tuple[InstantiatedQuestion, ...]:
    """Every question of `quiz` as attempt `seed` sees it (quiz order; choices maybe shuffled).

    A pure function of (quiz, seed), so the last INSTANCES_KEPT seeds are kept on the quiz."""
    kept = quiz._instances
    instances = kept.get(seed)
    if instances is None:
        instances = tuple(
            instantiate_question(question, seed, quiz.settings.shuffle_choices)
            for question in quiz.questions
        )
        if len(kept) >= INSTANCES_KEPT:
            kept.clear()
        kept[seed] = instances
    return instances


# ---------------------------------------------------------------------------------------------
# Views without answers


def json_number(value: Fraction | int | float) -> int | float:
    """An int when whole (1 rather than 1.0), otherwise the nearest float."""
    fraction = Fraction(value)
    if fraction.denominator == 1:
        return int(fraction)
    return float(fraction)


def _public_question(question: Question | InstantiatedQuestion, prompt: str) -> dict[str, Any]:
    view: dict[str, Any] = {
        "id": question.id,
        "type": question.type,
        "prompt": prompt,
        "points": json_number(question.points),
    }
    if question.type in CHOICE_TYPES:
        view["choices"] = [{"id": choice.id, "text": choice.text} for choice in question.choices]
    return view


def public_view(quiz: Quiz, seed: int | None = None) -> dict[str, Any]:
    """Answer-free quiz dict: a preview (templates, authored order) when `seed` is None,
    otherwise what attempt `seed` shows (drawn numbers, shuffled choices)."""
    if seed is None:
        questions = [_public_question(q, q.prompt) for q in quiz.questions]
    else:
        questions = [_public_question(q, q.prompt) for q in instantiate(quiz, seed)]
    return {
        "slug": quiz.slug,
        "title": quiz.title,
        "lesson": quiz.lesson,
        "description": quiz.description,
        "questions": questions,
    }


# ---------------------------------------------------------------------------------------------
# Reading answers


def _read_numeric(raw: object) -> Fraction:
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


def _read_answer(
    question: InstantiatedQuestion, raw: object
) -> Fraction | bool | str | tuple[str, ...]:
    """The answer in canonical form; raises UnreadableAnswer (only ever for this question)."""
    known = {choice.id for choice in question.choices}
    if question.type == NUMERIC:
        try:
            return _read_numeric(raw)
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


def _read_all(
    instances: Sequence[InstantiatedQuestion], answers: Mapping[str, object]
) -> dict[str, Fraction | bool | str | tuple[str, ...] | None]:
    problems: dict[str, str] = {}
    read: dict[str, Fraction | bool | str | tuple[str, ...] | None] = {}
    for question in instances:
        raw = answers.get(question.id)
        if raw is None:
            read[question.id] = None
            continue
        try:
            read[question.id] = _read_answer(question, raw)
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
        _read_all(instantiate(quiz, seed), answers)
    except UnreadableAnswer as error:
        return error.problems
    return {}


# ---------------------------------------------------------------------------------------------
# Grading


@dataclass(frozen=True)
class QuestionResult:
    question_id: str
    correct: bool
    points: float
    max_points: float
    feedback: str
    correct_answer: float | bool | str | list[str] | None
    explanation: str | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "question_id": self.question_id,
            "correct": self.correct,
            "points": self.points,
            "max_points": self.max_points,
            "feedback": self.feedback,
            "correct_answer": self.correct_answer,
            "explanation": self.explanation,
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


def _credit(
    question: InstantiatedQuestion, answer: Fraction | bool | str | tuple[str, ...]
) -> tuple[Fraction, str]:
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


def grade_instances(
    instances: Sequence[InstantiatedQuestion],
    answers: Mapping[str, object],
    pass_fraction: Fraction,
) -> GradeResult:
    """Grade already instantiated questions (see `grade`)."""
    read = _read_all(instances, answers)
    results: list[QuestionResult] = []
    score = max_score = Fraction(0)
    for question in instances:
        answer = read[question.id]
        if answer is None:
            credit, feedback = Fraction(0), NOT_ANSWERED
        else:
            credit, feedback = _credit(question, answer)
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
            )
        )
    passed = max_score > 0 and score >= pass_fraction * max_score
    return GradeResult(json_number(score), json_number(max_score), passed, tuple(results))


def grade(quiz: Quiz, seed: int, answers: Mapping[str, object]) -> GradeResult:
    """Grade `answers` ({question_id: answer}) for attempt `seed` of this quiz version.

    Deterministic: the same arguments always give the same result. Missing answers score 0
    ("not answered"); unreadable ones raise UnreadableAnswer before anything is graded.
    Multiple choice earns max(0, right picks − wrong picks) / number of right choices.
    """
    return grade_instances(instantiate(quiz, seed), answers, quiz.settings.pass_fraction)


@overload
def apply_review_policy(
    result: GradeResult, policy: str, *, passed_before: bool = False
) -> GradeResult: ...
@overload
def apply_review_policy(
    result: dict[str, Any], policy: str, *, passed_before: bool = False
) -> dict[str, Any]: ...
def apply_review_policy(
    result: GradeResult | dict[str, Any], policy: str, *, passed_before: bool = False
) -> GradeResult | dict[str, Any]:
    """Withhold correct answers and explanations as the quiz's review policy says.

    after_submission: always shown; after_pass: shown once this attempt or an earlier one
    passed (`passed_before`); never: always withheld. `result` is a GradeResult or its stored
    form (`GradeResult.to_dict()`); the same form comes back, `result` itself when shown.
    """
    if policy not in REVIEW_POLICIES:
        raise ValueError(f"unknown review policy {policy!r}")
    passed = result["passed"] if isinstance(result, dict) else result.passed
    if policy == "after_submission" or (policy == "after_pass" and (passed or passed_before)):
        return result
    if isinstance(result, dict):
        rows = [{**r, "correct_answer": None, "explanation": None} for r in result["results"]]
        return {**result, "results": rows}
    hidden = tuple(replace(r, correct_answer=None, explanation=None) for r in result.results)
    return replace(result, results=hidden)


# ---------------------------------------------------------------------------------------------
# Settings helpers


def progress_fraction(attempt_fractions: Sequence[float | Fraction], policy: str) -> float:
    """Quiz progress from graded attempts' score fractions, oldest first (0 when none)."""
    if policy not in SCORING_POLICIES:
        raise ValueError(f"unknown scoring policy {policy!r}")
    if not attempt_fractions:
        return 0.0
    values = [Fraction(value) for value in attempt_fractions]
    if policy == "highest":
        return float(max(values))
    if policy == "last":
        return float(values[-1])
    return float(sum(values) / len(values))


def attempts_left(settings: QuizSettings, attempts_used: int) -> int | None:
    """Attempts the learner may still start; None when unlimited (practice quizzes)."""
    if settings.max_attempts is None:
        return None
    return max(0, settings.max_attempts - attempts_used)
