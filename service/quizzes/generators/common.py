"""What the generators share: option checks and how numbers are written in prompts."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

Params = dict[str, Any]

# Drawn entries are small integers so that a learner can check the numbers by hand.
DEFAULT_LOW, DEFAULT_HIGH = -4, 9
MAX_REDRAWS = 50


def int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"option {key!r} must be an integer")
    return value


def check_known(options: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def fmt(value: float) -> str:
    return f"{value:.4g}"


def paren(value: float) -> str:
    return f"({fmt(value)})" if value < 0 else fmt(value)


def nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(nested(v) for v in values) + "]"
    return str(values)
