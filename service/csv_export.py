"""CSV for spreadsheets, safe to open: the one writer every CSV export uses.

OWASP's CSV injection rule: a spreadsheet runs a cell that starts with `=`, `+`, `-` or `@` as a
formula, and skips a leading tab or carriage return before looking, so a text cell starting with
any of these six gets a leading `'` (shown by spreadsheets as text, and easy to strip). Numbers
(int, float, Decimal, not bool) are written as they are, a negative score stays a number;
text is neutralized even when it reads as a number. Delimiters, quotes and line breaks inside a
cell are quoted by the csv module, so no cell can spill into the next one.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from decimal import Decimal
from typing import Any

FORMULA_TRIGGERS = frozenset("=+-@\t\r")


def neutralize(value: Any) -> str:
    """One cell's text: "" for None, ISO 8601 for dates, `'`-prefixed when it could be a formula."""
    if value is None:
        return ""
    if isinstance(value, int | float | Decimal) and not isinstance(value, bool):
        return str(value)
    text = value.isoformat() if hasattr(value, "isoformat") else str(value)
    return "'" + text if text[:1] in FORMULA_TRIGGERS else text


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    """The header and the rows as CSV (RFC 4180 line ends), every cell through `neutralize`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows([neutralize(value) for value in row] for row in rows)
    return buffer.getvalue()
