"""What the format modules share: the error type, flattening generated questions into examples,
numbers written for other tools, ids and the quiz dict an import builds."""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction
from typing import Any

from service.quizzes import domain
from service.quizzes.bank_schema import MAX_QUESTIONS, dump_exact
from service.quizzes.numbers import NumberFormatError, parse_number

MAX_IMPORT_CHARS = 1_000_000
HUNDRED = Fraction(100)  # the bound of a grade percentage (GIFT weights, Moodle fractions)
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


class UniqueIds:
    """Question ids made unique in the order they are claimed: the slug of a candidate, else
    `q<number>`; a repeat gets the smallest free suffix -2, -3, ... (as a scan from -2 would)
    in amortized constant time: each base remembers the suffix it reached, and ids are never
    released, so the suffixes below it stay taken. (A scan from -2 for every repeat made
    20,000 same-titled questions quadratic: 32 s.)"""

    def __init__(self, taken: set[str] | None = None) -> None:
        self._taken = set() if taken is None else taken
        self._next_suffix: dict[str, int] = {}

    def claim(self, candidate: str, number: int) -> str:
        identifier = slugify(candidate)[:64].strip("-") or f"q{number}"
        base, suffix = identifier, self._next_suffix.get(identifier, 2)
        while identifier in self._taken:
            identifier = f"{base[:60]}-{suffix}"
            suffix += 1
        self._next_suffix[base] = suffix
        self._taken.add(identifier)
        return identifier


def check_size(text: str) -> None:
    if len(text) > MAX_IMPORT_CHARS:
        raise InterchangeError(f"the file is larger than {MAX_IMPORT_CHARS} characters")


def check_question_count(count: int) -> None:
    """Refuse a file with more questions than a quiz may hold before reading any of them."""
    if count > MAX_QUESTIONS:
        raise InterchangeError(
            f"the file has {count} questions; a quiz holds at most {MAX_QUESTIONS}"
        )


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


# A plain decimal as GIFT and Moodle XML write numbers: sign, digits, point, exponent.
_DECIMAL = re.compile(r"[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?")


def read_decimal(
    text: str, location: str, *, what: str = "number", bound: Fraction | None = None
) -> Fraction:
    """A decimal number of an imported file, exactly, with its work bounded before it is done:
    at most MAX_TEXT_LENGTH characters, MAX_LITERAL_DIGITS digits and a decimal exponent within
    ±MAX_DECIMAL_EXPONENT (the answer reader's limits), and |value| <= `bound` when given.
    NaN, infinities, `1e999999999` and `%.%` are InterchangeError naming `what`."""
    stripped = text.strip()
    shown = stripped if len(stripped) <= 40 else stripped[:37] + "..."
    if not _DECIMAL.fullmatch(stripped):
        raise InterchangeError(f"{what} {shown!r} is not a decimal number", location)
    try:
        value = parse_number(stripped.rstrip(".") if stripped[-1:] == "." else stripped)
    except NumberFormatError as error:
        raise InterchangeError(f"{what} {shown!r} cannot be read: {error}", location) from None
    if bound is not None and abs(value) > bound:
        raise InterchangeError(f"{what} {shown!r} must be between -{bound} and {bound}", location)
    return value


# Misconceptions travel as 0% answers with feedback (Moodle grades the first matching answer,
# so the correct one comes first). Their ids and the question's tolerance kind, which neither
# format has a field for, ride in comments that other tools ignore; a file without them gets
# ids made from the feedback and an absolute tolerance.
MISCONCEPTIONS_NOTE = "misconceptions:"
TOLERANCE_NOTE = "tolerance"


def misconceptions_note(question: domain.Question) -> str:
    """'misconceptions: id1, id2' in answer order (empty when the question has none)."""
    if not question.misconceptions:
        return ""
    return f"{MISCONCEPTIONS_NOTE} {', '.join(m.id for m in question.misconceptions)}"


def read_misconceptions_note(notes: list[str]) -> list[str] | None:
    """The ids a 'misconceptions: ...' note lists, or None without such a note."""
    for note in notes:
        text = note.strip()
        if text.startswith(MISCONCEPTIONS_NOTE):
            listed = text.removeprefix(MISCONCEPTIONS_NOTE).split(",")
            return [item.strip() for item in listed if item.strip()]
    return None


def read_tolerance_note(notes: list[str], answer: Fraction, half_width: Fraction) -> dict[str, Any]:
    """The question's tolerance: the kind a 'tolerance KIND VALUE' note names when it gives the
    answer the written half-width (to the 17 digits written), else absolute ± half-width."""
    absolute = {"kind": "absolute", "value": dump_exact(abs(half_width))}
    for note in notes:
        match = re.search(r"\btolerance (absolute|relative|sig_figs) (\S+)", note)
        if match is None:
            continue
        try:
            tolerance = domain.Tolerance(match.group(1), read_decimal(match.group(2), "note"))
        except (InterchangeError, ValueError):
            return absolute
        restored = tolerance.half_width(answer)
        if abs(restored - abs(half_width)) <= abs(half_width) * Fraction(1, 10**15):
            return {"kind": tolerance.kind, "value": dump_exact(tolerance.value)}
    return absolute


def misconception_dicts(
    found: list[tuple[str, dict[str, Any]]], listed: list[str] | None
) -> list[dict[str, Any]]:
    """Misconception definitions from (feedback, answer part) pairs in answer order; ids from
    the file's note when it lists one per answer, else made from the feedback's words."""
    if listed is not None and len(listed) == len(found):
        ids = listed
    else:
        unique = UniqueIds()
        ids = [
            unique.claim(slugify(" ".join(feedback.split()[:5]))[:40] or f"m{n}", n)
            for n, (feedback, _) in enumerate(found, start=1)
        ]
    return [
        {"id": identifier, "feedback": feedback, **part}
        for identifier, (feedback, part) in zip(ids, found, strict=True)
    ]
