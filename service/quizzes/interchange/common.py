"""What the format modules share: the error type, flattening generated questions into examples,
numbers written for other tools, ids and the quiz dict an import builds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from service.quizzes import domain
from service.quizzes.bank_schema import dump_exact

MAX_IMPORT_CHARS = 1_000_000
CHOICE_LETTERS = "abcdefghij"


class InterchangeError(ValueError):
    """Text that cannot be imported; `location` says where (a question title or number)."""

    def __init__(self, message: str, location: str | None = None) -> None:
        super().__init__(f"{location}: {message}" if location else message)
        self.location = location


@dataclass(frozen=True)
class Exported:
    """A question flattened for GIFT/XML: a generated one becomes one example instance."""

    question: domain.Question
    instance: domain.InstantiatedQuestion
    generated: bool


def flatten(quiz: domain.Quiz, example_seed: int) -> list[Exported]:
    return [
        Exported(
            question,
            domain.instantiate_question(question, example_seed, shuffle_choices=False),
            question.generator is not None,
        )
        for question in quiz.questions
    ]


def plain_decimal(value: Fraction, significant: int = 17) -> str:
    """Positional decimal text (no exponent: GIFT readers accept only digits and '.').

    Exact when `value` is a terminating decimal of at most 60 digits, else rounded to
    `significant` digits (17 reproduce any float).
    """
    if value == 0:
        return "0"
    numerator, denominator = Decimal(value.numerator), Decimal(value.denominator)
    exact = Context(prec=60).divide(numerator, denominator)
    if Fraction(exact) == value:
        return format(exact.normalize(Context(prec=60)), "f")
    rounded = Context(prec=significant).divide(numerator, denominator)
    return format(rounded.normalize(Context(prec=significant)), "f")


def weights(count: int) -> str:
    """100/count as Moodle writes grade percentages (5 decimals, no trailing zeros)."""
    text = f"{100 / count:.5f}".rstrip("0").rstrip(".")
    return text


def numeric_parts(item: Exported) -> tuple[str, str]:
    answer = item.instance.answer
    tolerance = item.instance.tolerance
    assert isinstance(answer, Fraction)
    assert tolerance is not None
    return plain_decimal(answer), plain_decimal(tolerance.half_width(answer))


def tolerance_note(item: Exported) -> str:
    tolerance = item.question.tolerance
    if tolerance is None:
        return ""
    return f"tolerance {tolerance.kind} {dump_exact(tolerance.value)}"


def slugify(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def unique_id(candidate: str, number: int, seen: set[str]) -> str:
    identifier = slugify(candidate)[:64].strip("-") or f"q{number}"
    base, suffix = identifier, 2
    while identifier in seen:
        identifier = f"{base[:60]}-{suffix}"
        suffix += 1
    seen.add(identifier)
    return identifier


def check_size(text: str) -> None:
    if len(text) > MAX_IMPORT_CHARS:
        raise InterchangeError(f"the file is larger than {MAX_IMPORT_CHARS} characters")


def quiz_dict(
    slug: str,
    title: str,
    questions: list[dict[str, Any]],
    description: str = "",
    lesson: int | None = None,
    settings: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "slug": slug,
        "title": title,
        "lesson": lesson,
        "description": description,
        "settings": settings or {},
        "questions": questions,
    }


def choice_dicts(entries: list[tuple[str, bool]], location: str) -> list[dict[str, Any]]:
    if len(entries) > len(CHOICE_LETTERS):
        raise InterchangeError(f"at most {len(CHOICE_LETTERS)} choices", location)
    return [
        {"id": CHOICE_LETTERS[i], "text": text, "correct": correct}
        for i, (text, correct) in enumerate(entries)
    ]


def read_decimal(text: str, location: str) -> Fraction:
    """A decimal number of an imported file, exactly."""
    try:
        return Fraction(Decimal(text.strip()))
    except (ArithmeticError, ValueError) as error:
        raise InterchangeError(f"cannot read the number {text.strip()!r}", location) from error
