"""The numerics' one scalar validator, in the manner of scikit-learn's `check_scalar`.

Every public function checks each scalar parameter once, at its entry, with `check_scalar`, so a
bad value fails the same way wherever it is passed: a NumericsError whose `field` is the
parameter and whose message names it and says what it must be, for example
"gain must be > 0, got 0" or "depth must be an integer, got float".
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal, overload

import numpy as np

from service.numerics.errors import NumericsError

Boundaries = Literal["both", "left", "right", "neither"]


@overload
def check_scalar(
    value: object,
    name: str,
    target_type: type[int],
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: Boundaries = "both",
) -> int: ...


@overload
def check_scalar(
    value: object,
    name: str,
    target_type: type[float],
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: Boundaries = "both",
) -> float: ...


def check_scalar(
    value: object,
    name: str,
    target_type: type[int] | type[float],
    *,
    min_val: float | None = None,
    max_val: float | None = None,
    include_boundaries: Boundaries = "both",
) -> int | float:
    """`value` as a Python int (target_type int: an int or numpy integer) or a finite float
    (target_type float: any real number), within [min_val, max_val]; `include_boundaries`
    says which ends are allowed ("left": min_val only, "neither": both excluded, ...).
    Booleans are not numbers here."""
    integer = target_type is int
    kinds = (int, np.integer) if integer else (int, float, np.integer, np.floating)
    if isinstance(value, bool | np.bool_) or not isinstance(value, kinds):
        wanted = "an integer" if integer else "a number"
        raise NumericsError(f"{name} must be {wanted}, got {type(value).__name__}", name)
    number: int | float = int(value) if integer else float(value)
    if not integer and not math.isfinite(number):
        raise NumericsError(f"{name} must be finite, got {number}", name)
    closed_low = include_boundaries in ("both", "left")
    closed_high = include_boundaries in ("both", "right")
    too_low = min_val is not None and (number < min_val if closed_low else number <= min_val)
    too_high = max_val is not None and (number > max_val if closed_high else number >= max_val)
    if too_low or too_high:
        text = _text(integer)
        low, high = text(min_val), text(max_val)
        if max_val is None:
            wanted = f"{'>=' if closed_low else '>'} {low}"
        elif min_val is None:
            wanted = f"{'<=' if closed_high else '<'} {high}"
        else:
            wanted = f"in {'[' if closed_low else '('}{low}, {high}{']' if closed_high else ')'}"
        raise NumericsError(f"{name} must be {wanted}, got {text(number)}", name)
    return number


def _text(integer: bool) -> Callable[[float | None], str]:
    """How bounds and values are written: integers in full, other numbers in %g."""

    def text(value: float | None) -> str:
        return "" if value is None else str(int(value)) if integer else f"{value:g}"

    return text
