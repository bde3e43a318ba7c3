"""Scoring policy and attempt limits: a learner's standing on a quiz across attempts."""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

from service.quizzes.domain.questions import SCORING_POLICIES, QuizSettings


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
