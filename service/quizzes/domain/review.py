"""The review policy: when a graded attempt shows the correct answers and explanations.

The one home of this rule; views and services apply it, they do not restate it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any, overload

from service.quizzes.domain.grading import GradeResult
from service.quizzes.domain.questions import REVIEW_POLICIES


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
    passed (`passed_before`); never: always withheld. A matched misconception is withheld with
    them: its feedback often works the right answer out (for 40 against 2^20, "the factors
    multiply, 2 × 2 × ... × 2"). `result` is a GradeResult or its stored
    form (`GradeResult.to_dict()`); the same form comes back, `result` itself when shown.
    """
    if policy not in REVIEW_POLICIES:
        raise ValueError(f"unknown review policy {policy!r}")
    passed = result["passed"] if isinstance(result, dict) else result.passed
    if policy == "after_submission" or (policy == "after_pass" and (passed or passed_before)):
        return result
    if isinstance(result, dict):
        withheld = {"correct_answer": None, "explanation": None, "misconception": None}
        rows = [{**r, **withheld} for r in result["results"]]
        return {**result, "results": rows}
    hidden = tuple(
        replace(r, correct_answer=None, explanation=None, misconception=None)
        for r in result.results
    )
    return replace(result, results=hidden)
