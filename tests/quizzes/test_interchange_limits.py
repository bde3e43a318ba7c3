"""Bounded importing: numbers read with their work bounded, ids de-duplicated in linear time,
question counts refused before the questions are read."""

from __future__ import annotations

from fractions import Fraction

import pytest

from service.quizzes.interchange import InterchangeError, import_quiz
from service.quizzes.interchange.common import UniqueIds, read_decimal


class CountingSet(set[str]):
    """A set that counts its membership tests: the work of a de-duplication."""

    probes = 0

    def __contains__(self, item: object) -> bool:
        self.probes += 1
        return super().__contains__(item)


def test_ids_are_deduplicated_in_linear_time() -> None:
    taken = CountingSet()
    ids = UniqueIds(taken)
    claimed = [ids.claim("Same title", n) for n in range(1, 20_001)]
    assert claimed[:3] == ["same-title", "same-title-2", "same-title-3"]
    assert claimed[-1] == "same-title-20000"
    assert len(set(claimed)) == 20_000
    # Two membership tests a claim (the base, then its next suffix); the former scan from -2
    # made 20,000 · 20,001 / 2 = 2e8.
    assert taken.probes == 2 * 20_000 - 1


def test_suffixes_skip_ids_taken_by_other_titles() -> None:
    """The same ids a scan from -2 would give: the smallest free suffix."""
    ids = UniqueIds()
    claimed = [ids.claim(title, n) for n, title in enumerate(["a", "a-2", "a", "a", "", ""], 1)]
    assert claimed == ["a", "a-2", "a-3", "a-4", "q5", "q6"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("1e999999999", "decimal exponents are limited to ±1000"),
        ("1e5000", "decimal exponents are limited to ±1000"),
        ("9" * 5000, "longer than 200 characters"),
        ("9" * 150, "at most 100 digits"),
        ("NaN", "is not a decimal number"),
        ("Infinity", "is not a decimal number"),
        (".", "is not a decimal number"),
        ("1.2.3", "is not a decimal number"),
        ("0x10", "is not a decimal number"),
        ("", "is not a decimal number"),
    ],
)
def test_numbers_are_read_with_bounded_work(text: str, reason: str) -> None:
    with pytest.raises(InterchangeError, match=reason) as info:
        read_decimal(text, "question 1", what="the answer")
    assert str(info.value).startswith("question 1: the answer ")


def test_numbers_within_the_bounds_are_exact() -> None:
    assert read_decimal(" -2.5e3 ", "q") == -2500
    assert read_decimal("1.", "q") == 1
    assert read_decimal(".125", "q") == Fraction(1, 8)
    assert read_decimal("1e-1000", "q") == Fraction(1, 10**1000)
    assert read_decimal("100", "q", bound=Fraction(100)) == 100
    with pytest.raises(InterchangeError, match="between -100 and 100"):
        read_decimal("100.5", "q", bound=Fraction(100))


def test_twenty_thousand_same_titled_gift_questions_are_refused_before_they_are_read() -> None:
    text = "::Same:: What is it? {T}\n\n" * 20_000
    with pytest.raises(
        InterchangeError, match="the file has 20000 questions; a quiz holds at most 100"
    ):
        import_quiz(text, "gift")
    xml = "<quiz>" + '<question type="truefalse"/>' * 20_000 + "</quiz>"
    with pytest.raises(InterchangeError, match="the file has 20000 questions"):
        import_quiz(xml, "moodle-xml")
