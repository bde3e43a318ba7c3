"""A quiz's item analysis as CSV, safe to open in a spreadsheet (csv_export).

One row for the quiz (scope "quiz"), then one per question (scope "question"); a figure that
does not apply to the row's scope, or could not be computed, is empty, and `reasons` says why
("figure: reason; ..."). Choice and misconception counts read "id=count; ...".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from service.csv_export import csv_text
from service.learners.item_analysis import ItemAnalysis

QUIZ_FIGURES = (
    "mean_score",
    "median_score",
    "score_sd",
    "skewness",
    "kurtosis",
    "cronbach_alpha",
    "error_ratio",
    "standard_error",
)
QUESTION_FIGURES = (
    "facility_index",
    "sd",
    "random_guess_score",
    "intended_weight",
    "effective_weight",
    "discrimination_index",
    "discriminative_efficiency",
)
COLUMNS = (
    "scope",
    "question_id",
    "attempts",
    "max_score",
    *QUIZ_FIGURES,
    *QUESTION_FIGURES,
    "choices",
    "misconceptions",
    "reasons",
)


def analytics_csv(analysis: ItemAnalysis) -> str:
    figures = analysis.figures
    rows: list[dict[str, Any]] = [
        {
            "scope": "quiz",
            "attempts": figures.attempts,
            "max_score": figures.max_score,
            **{name: getattr(figures, name) for name in QUIZ_FIGURES},
            "reasons": _joined(figures.reasons, ": "),
        }
    ]
    for question in figures.questions:
        rows.append(
            {
                "scope": "question",
                "question_id": question.id,
                "attempts": question.attempts,
                "max_score": question.max_score,
                **{name: getattr(question, name) for name in QUESTION_FIGURES},
                "choices": _joined(question.choices, "="),
                "misconceptions": _joined(question.misconceptions, "="),
                "reasons": _joined(question.reasons, ": "),
            }
        )
    return csv_text(COLUMNS, ([row.get(column) for column in COLUMNS] for row in rows))


def _joined(mapping: Mapping[str, object], separator: str) -> str:
    return "; ".join(f"{key}{separator}{value}" for key, value in mapping.items())
