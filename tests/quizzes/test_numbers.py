"""The numeric-answer reader: accepted forms, refusals, bounded work, exact round trips."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.quizzes.numbers import (
    NumberFormatError,
    exact_text,
    floor_log10,
    format_number,
    number_from_float,
    parse_number,
)

MILLION_ISH = Fraction(1048576)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1048576", MILLION_ISH),
        ("1,048,576", MILLION_ISH),
        ("1.048576e6", MILLION_ISH),
        ("1.048576E+6", MILLION_ISH),
        ("2^20", MILLION_ISH),
        ("2**20", MILLION_ISH),
        ("  2 ^ 20 ", MILLION_ISH),
        ("1E+20", Fraction(10**20)),
        ("1e-3", Fraction(1, 1000)),
        ("10^-10", Fraction(1, 10**10)),
        ("10^(-10)", Fraction(1, 10**10)),
        ("100*0.01", Fraction(1)),
        ("100 × 0.01", Fraction(1)),
        ("2·3", Fraction(6)),
        ("1/3", Fraction(1, 3)),
        ("6 ÷ 4", Fraction(3, 2)),
        ("2/512", Fraction(1, 256)),
        ("(100*0.01)^10", Fraction(1)),
        ("0.1^10", Fraction(1, 10**10)),
        ("3*2^-2", Fraction(3, 4)),
        (".5", Fraction(1, 2)),
        ("-.5", Fraction(-1, 2)),
        ("-3", Fraction(-3)),
        ("−3", Fraction(-3)),
        ("+3", Fraction(3)),
        ("-2^2", Fraction(-4)),
        ("(-2)^2", Fraction(4)),
        ("2*-3", Fraction(-6)),
        ("1,000.25", Fraction(400100, 400)),
        ("0", Fraction(0)),
        ("007", Fraction(7)),
        ("1.5e-2", Fraction(3, 200)),
    ],
)
def test_accepted_forms(text: str, expected: Fraction) -> None:
    assert parse_number(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "abc",
        "1e6x",
        "e5",
        "1.",
        "1..2",
        "1.2.3",
        "1,5",
        "1,0485,76",
        "10,00",
        "1 048 576",
        "--5",
        "2^^3",
        "2^",
        "*3",
        "(1+2",
        "1+2",
        "()",
        "2^0.5",
        "0^0",
        "0^-1",
        "1/0",
        "1/(2-2)",
        "((((((1))))))",
        "__import__('os')",
        "1_000",
        "0x10",
        "inf",
        "nan",
        "1e",
        "2**",
        "9**9**9",
        "2^3^2",
        "1" * 101,
        "1" * 201,
    ],
)
def test_junk_is_refused(text: str) -> None:
    with pytest.raises(NumberFormatError) as caught:
        parse_number(text)
    assert str(caught.value)


def test_refusals_say_why() -> None:
    with pytest.raises(NumberFormatError, match="thousands separator"):
        parse_number("1,5")
    with pytest.raises(NumberFormatError, match="power towers"):
        parse_number("9**9**9")
    with pytest.raises(NumberFormatError, match="whole number"):
        parse_number("2^0.5")
    with pytest.raises(NumberFormatError, match="division by zero"):
        parse_number("1/0")
    with pytest.raises(NumberFormatError, match="no operator") as caught:
        parse_number("1 048 576")
    assert caught.value.position == 2


@pytest.mark.parametrize(
    "text",
    [
        "10^99999999",
        "10**99999999",
        "9**9**9",
        "9**(9**9)",
        "(9**9)**999",
        "1e99999999",
        "1e-99999999",
        "1e999999999999999999999999999999",
        "(10^999)^999",
        "10^1000*10^1000*10^1000",
        "(2^1000)^(2^10)",
        "7^1000/3^1000*11^1000",
        "99999999999999999999^1000",
        "0.1^1000^1",
    ],
)
@pytest.mark.timeout(30)  # computing any of these exactly would take hours: refused, not computed
def test_huge_exponents_are_refused_before_computing(text: str) -> None:
    with pytest.raises(NumberFormatError, match=r"limited|too large|power towers"):
        parse_number(text)


def test_large_but_bounded_values_are_exact() -> None:
    assert parse_number("10^300") == Fraction(10) ** 300
    assert parse_number("1e-300") == Fraction(1, 10**300)
    assert parse_number("2^1000") == Fraction(2) ** 1000


@given(st.floats(allow_nan=False, allow_infinity=False))
@settings(max_examples=300, deadline=None)
def test_float_text_reads_as_the_decimal_it_shows(value: float) -> None:
    # Oracle: Python's own decimal-string Fraction constructor.
    assert parse_number(repr(value)) == Fraction(repr(value))
    assert number_from_float(value) == Fraction(repr(value))


@given(st.integers(min_value=-(10**30), max_value=10**30))
@settings(max_examples=200, deadline=None)
def test_thousands_separators(value: int) -> None:
    assert parse_number(f"{value:,}") == value


@given(
    st.integers(min_value=1, max_value=999),
    st.lists(
        st.tuples(st.sampled_from(["*", "/"]), st.integers(1, 50), st.integers(-4, 4)),
        max_size=4,
    ),
)
@settings(max_examples=200, deadline=None)
def test_products_of_powers_match_fraction_arithmetic(
    first: int, rest: list[tuple[str, int, int]]
) -> None:
    text = str(first)
    expected = Fraction(first)
    for operator, base, exponent in rest:
        text += f" {operator} {base}^{exponent}"
        term = Fraction(base) ** exponent
        expected = expected * term if operator == "*" else expected / term
    assert parse_number(text) == expected


@given(
    st.fractions(max_denominator=10**6).filter(lambda f: f != 0)
    | st.integers(-(10**40), 10**40).filter(bool).map(Fraction)
)
@settings(max_examples=300, deadline=None)
def test_floor_log10_is_exact(value: Fraction) -> None:
    k = floor_log10(value)
    assert Fraction(10) ** k <= abs(value) < Fraction(10) ** (k + 1)


def test_floor_log10_at_powers_of_ten() -> None:
    # float log10 gets some of these wrong (e.g. log10(1e-3) rounding); ours must not.
    for k in range(-30, 31):
        assert floor_log10(Fraction(10) ** k) == k
        assert floor_log10(Fraction(10) ** k - Fraction(1, 10**40)) == k - 1


@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=None).filter(
        lambda d: abs(d.adjusted()) < 300
    )
    | st.fractions(max_denominator=1000)
)
@settings(max_examples=300, deadline=None)
def test_exact_text_round_trips(value: Decimal | Fraction) -> None:
    fraction = Fraction(value)
    assert parse_number(exact_text(fraction)) == fraction


def test_format_number() -> None:
    assert format_number(Fraction(1048576)) == "1048576"
    assert format_number(Fraction(1, 10**10)) == "1e-10"
    assert format_number(Fraction(1, 3)) == "0.333333333333"
    assert format_number(Fraction(10) ** 20) == "1e+20"


def test_non_text_is_refused() -> None:
    with pytest.raises(NumberFormatError):
        parse_number(12)  # type: ignore[arg-type]
    with pytest.raises(NumberFormatError):
        number_from_float(float("nan"))
