"""A quiz's results as CSV for gradebook import, safe to open in a spreadsheet (csv_export)."""

from __future__ import annotations

from collections.abc import Iterable

from service.csv_export import csv_text
from service.learners.progress import ResultRow

COLUMNS = (
    "learner_id",
    "display_name",
    "attempts",
    "best_score",
    "last_score",
    "score",
    "max_score",
    "passed",
    "last_submitted_at",
)


def results_csv(rows: Iterable[ResultRow]) -> str:
    return csv_text(COLUMNS, ([getattr(row, column) for column in COLUMNS] for row in rows))
