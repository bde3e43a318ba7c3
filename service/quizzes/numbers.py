"""A strict reader for numeric quiz answers: exact rationals, never `eval`.

Grammar (whitespace between tokens is ignored)::

    expression := product
    product    := signed (("*" | "/") signed)*
    signed     := ["+" | "-"] power
    power      := primary [("^" | "**") ["+" | "-"] primary]
    primary    := NUMBER | "(" expression ")"
    NUMBER     := digits with optional thousands separators (1,048,576), optional decimals
                  (3.25, .5) and an optional decimal exponent (1.048576e6, 1E+20)

`×`, `·` and `⋅` are read as `*`, `÷` as `/` and the Unicode minus `−` as `-`.

Every value is a `fractions.Fraction`, so comparisons downstream are exact. Work is bounded
before it is done: the text length, the digits of a literal, decimal exponents, power
exponents (whole numbers only), parenthesis depth and the bit size of every intermediate
result. Power towers such as `9**9**9` are refused outright, so no input can hang or
exhaust memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from decimal import Context, Decimal
from fractions import Fraction

MAX_TEXT_LENGTH = 200
MAX_LITERAL_DIGITS = 100
MAX_DECIMAL_EXPONENT = 1000
MAX_POWER_EXPONENT = 1000
MAX_PAREN_DEPTH = 4
# 4096 bits is about 1233 decimal digits: far beyond any sensible answer, cheap to hold.
MAX_BITS = 4096

_TRANSLATE = str.maketrans({"×": "*", "·": "*", "⋅": "*", "÷": "/", "−": "-"})
_NUMBER = re.compile(
    r"(?P<mantissa>(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?|\.\d+)(?:[eE](?P<exponent>[+-]?\d+))?"
)
_SPACE = re.compile(r"\s+")


class NumberFormatError(ValueError):
    """The text is not a number this reader accepts; `position` is a 0-based index or None."""

    def __init__(self, message: str, position: int | None = None) -> None:
        super().__init__(message)
        self.position = position


@dataclass(frozen=True)
class _Token:
    kind: str  # "number" or the operator itself: + - * / ^ ( )
    text: str
    position: int
    value: Fraction | None = None


def _literal(match: re.Match[str]) -> Fraction:
    mantissa = match.group("mantissa").replace(",", "")
    digit_count = sum(ch.isdigit() for ch in mantissa)
    if digit_count > MAX_LITERAL_DIGITS:
        raise NumberFormatError(
            f"a number may have at most {MAX_LITERAL_DIGITS} digits", match.start()
        )
    exponent_text = match.group("exponent")
    exponent = 0
    if exponent_text is not None:
        digits = exponent_text.lstrip("+-").lstrip("0")
        # Compare lengths first: int() of a megabyte of digits is itself slow.
        if (
            len(digits) > 4
            or int(exponent_text) > MAX_DECIMAL_EXPONENT
            or (int(exponent_text) < -MAX_DECIMAL_EXPONENT)
        ):
            raise NumberFormatError(
                f"decimal exponents are limited to ±{MAX_DECIMAL_EXPONENT}", match.start()
            )
        exponent = int(exponent_text)
    whole, _, decimals = mantissa.partition(".")
    value = Fraction(int(whole or "0") * 10 ** len(decimals) + int(decimals or "0"))
    value /= 10 ** len(decimals)
    return value * Fraction(10) ** exponent


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    position = 0
    while position < len(text):
        space = _SPACE.match(text, position)
        if space:
            position = space.end()
            continue
        if text.startswith("**", position):
            tokens.append(_Token("^", "**", position))
            position += 2
            continue
        char = text[position]
        if char in "+-*/^()":
            tokens.append(_Token(char, char, position))
            position += 1
            continue
        match = _NUMBER.match(text, position)
        if match:
            end = match.end()
            if end < len(text) and text[end] == "." and not text[end + 1 : end + 2].isdigit():
                raise NumberFormatError("a decimal point must be followed by digits", end)
            if end < len(text) and (text[end].isdigit() or text[end] in ",."):
                raise NumberFormatError(
                    "',' is only a thousands separator (groups of three digits) and '.' the "
                    f"decimal point; cannot read {text[match.start() : end + 1]!r}",
                    end,
                )
            tokens.append(_Token("number", match.group(0), position, _literal(match)))
            position = end
            continue
        raise NumberFormatError(f"unexpected character {char!r}", position)
    return tokens


def _check_size(value: Fraction, position: int) -> Fraction:
    if max(value.numerator.bit_length(), value.denominator.bit_length()) > MAX_BITS:
        raise NumberFormatError("the number is too large or too small to grade", position)
    return value


class _Parser:
    def __init__(self, tokens: list[_Token], text_length: int) -> None:
        self.tokens = tokens
        self.index = 0
        self.depth = 0
        self.text_length = text_length

    def peek(self) -> _Token | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> _Token:
        token = self.peek()
        if token is None:
            raise NumberFormatError("the answer ends too early", self.text_length)
        self.index += 1
        return token

    def expression(self) -> Fraction:
        value = self.signed()
        while (token := self.peek()) is not None and token.kind in "*/":
            self.take()
            right = self.signed()
            if token.kind == "/":
                if right == 0:
                    raise NumberFormatError("division by zero", token.position)
                value = _check_size(value / right, token.position)
            else:
                value = _check_size(value * right, token.position)
        return value

    def signed(self) -> Fraction:
        token = self.peek()
        if token is not None and token.kind in "+-":
            self.take()
            value = self.power()
            return -value if token.kind == "-" else value
        return self.power()

    def power(self) -> Fraction:
        base = self.primary()
        token = self.peek()
        if token is None or token.kind != "^":
            return base
        self.take()
        sign = self.peek()
        negative = False
        if sign is not None and sign.kind in "+-":
            self.take()
            negative = sign.kind == "-"
        exponent = self.primary()
        following = self.peek()
        if following is not None and following.kind == "^":
            raise NumberFormatError(
                "power towers (such as 9**9**9) are not accepted; use parentheses",
                following.position,
            )
        if negative:
            exponent = -exponent
        return self._raise(base, exponent, token.position)

    def _raise(self, base: Fraction, exponent: Fraction, position: int) -> Fraction:
        if exponent.denominator != 1:
            raise NumberFormatError("an exponent must be a whole number", position)
        if abs(exponent) > MAX_POWER_EXPONENT:
            raise NumberFormatError(f"exponents are limited to ±{MAX_POWER_EXPONENT}", position)
        if base == 0 and exponent <= 0:
            raise NumberFormatError("0 to a power of zero or less is undefined", position)
        # Estimate the size before computing: the power itself is the expensive step.
        bits = max(base.numerator.bit_length(), base.denominator.bit_length())
        if bits > 1 and (bits - 1) * abs(int(exponent)) > MAX_BITS:
            raise NumberFormatError("the number is too large or too small to grade", position)
        return _check_size(base ** int(exponent), position)

    def primary(self) -> Fraction:
        token = self.take()
        if token.kind == "number":
            assert token.value is not None
            return token.value
        if token.kind == "(":
            if self.depth >= MAX_PAREN_DEPTH:
                raise NumberFormatError(
                    f"at most {MAX_PAREN_DEPTH} nested parentheses", token.position
                )
            self.depth += 1
            value = self.expression()
            closing = self.take()
            if closing.kind != ")":
                raise NumberFormatError("expected ')'", closing.position)
            self.depth -= 1
            return value
        raise NumberFormatError(f"expected a number, found {token.text!r}", token.position)


def parse_number(text: str) -> Fraction:
    """Read `text` as an exact rational; raise NumberFormatError with a readable reason."""
    if not isinstance(text, str):
        raise NumberFormatError("the answer must be text or a number")
    if len(text) > MAX_TEXT_LENGTH:
        raise NumberFormatError(f"the answer is longer than {MAX_TEXT_LENGTH} characters")
    normalized = text.translate(_TRANSLATE)
    tokens = _tokenize(normalized)
    if not tokens:
        raise NumberFormatError("the answer is empty")
    parser = _Parser(tokens, len(normalized))
    value = parser.expression()
    leftover = parser.peek()
    if leftover is not None and leftover.kind == "number":
        raise NumberFormatError(
            "two numbers with no operator between them (spaces do not separate thousands)",
            leftover.position,
        )
    if leftover is not None:
        raise NumberFormatError(f"unexpected {leftover.text!r}", leftover.position)
    return value


def number_from_float(value: float) -> Fraction:
    """The decimal a float was written as (0.1 -> 1/10), not its binary expansion."""
    if value != value or value in (float("inf"), float("-inf")):
        raise NumberFormatError("the number must be finite")
    return Fraction(repr(float(value)))


def floor_log10(value: Fraction) -> int:
    """Exact floor(log10(|value|)) for a non-zero rational (floats misround near powers of 10)."""
    magnitude = abs(value)
    if magnitude == 0:
        raise ValueError("floor_log10 of zero")
    guess = len(str(magnitude.numerator)) - len(str(magnitude.denominator))
    while Fraction(10) ** guess > magnitude:
        guess -= 1
    while Fraction(10) ** (guess + 1) <= magnitude:
        guess += 1
    return guess


def format_number(value: Fraction, significant: int = 12) -> str:
    """Short human text for a rational: integers in full, otherwise `significant` digits."""
    if value.denominator == 1 and abs(value.numerator) < 10**15:
        return str(value.numerator)
    context = Context(prec=significant)
    decimal = context.divide(Decimal(value.numerator), Decimal(value.denominator))
    return format(decimal.normalize(context), "g")


def exact_text(value: Fraction) -> str:
    """Text that `parse_number` reads back to exactly `value`: a decimal, `Me±K` or `p/q`."""
    denominator = value.denominator
    twos = fives = 0
    while denominator % 2 == 0:
        denominator //= 2
        twos += 1
    while denominator % 5 == 0:
        denominator //= 5
        fives += 1
    if denominator != 1:
        return f"{value.numerator}/{value.denominator}"
    exponent = -max(twos, fives)
    mantissa = value * Fraction(10) ** -exponent
    assert mantissa.denominator == 1
    digits = str(abs(mantissa.numerator))
    stripped = digits.rstrip("0") or "0"
    exponent += len(digits) - len(stripped)
    sign = "-" if value < 0 else ""
    if exponent >= 0 and len(stripped) + exponent <= 21:
        return f"{sign}{stripped}{'0' * exponent}"
    if -21 <= exponent < 0:
        padded = stripped.rjust(-exponent + 1, "0")
        return f"{sign}{padded[:exponent]}.{padded[exponent:]}"
    return f"{sign}{stripped}e{exponent}"
