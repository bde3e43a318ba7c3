"""The review policy: when a graded attempt shows the correct answers and explanations.

The one home of this rule; views and services apply it, they do not restate it.
"""

from __future__ import annotations

from dataclasses import replace

from service.quizzes.domain.grading import GradeResult
from service.quizzes.domain.questions import REVIEW_POLICIES


def apply_review_policy(
    result: GradeResult, policy: str, *, passed_before: bool = False
) -> GradeResult:
    """Withhold correct answers and explanations as the quiz's review policy says.

    after_submission: always shown; after_pass: shown once this attempt or an earlier one
    passed (`passed_before`); never: always withheld.
    """
    if policy not in REVIEW_POLICIES:
        raise ValueError(f"unknown review policy {policy!r}")
    if policy == "after_submission" or (
        policy == "after_pass" and (result.passed or passed_before)
    ):
        return result
    hidden = tuple(replace(r, correct_answer=None, explanation=None) for r in result.results)
    return replace(result, results=hidden)
