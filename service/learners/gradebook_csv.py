"""A quiz's results as CSV for gradebook import, safe to open in a spreadsheet."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from typing import Any

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
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(COLUMNS)
    for row in rows:
        values = [getattr(row, column) for column in COLUMNS]
        writer.writerow(["" if value is None else _csv_safe(value) for value in values])
    return buffer.getvalue()


def _csv_safe(value: Any) -> str:
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    # Spreadsheets run cells that start with these as formulas.
    return "'" + text if text[:1] in ("=", "+", "-", "@") and not _is_number(text) else text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
