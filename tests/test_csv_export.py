"""CSV cells that a spreadsheet cannot run (OWASP CSV injection): a text cell that starts with
`=`, `+`, `-`, `@`, a tab or a carriage return gets a leading `'`; numbers stay numbers."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.csv_export import FORMULA_TRIGGERS, csv_text, neutralize

DANGEROUS = ["=1+1", "+1", "-1+2", "@SUM(A1)", "\t=cmd", "\r=cmd", "-5", '=HYPERLINK("x")']


@pytest.mark.parametrize("text", DANGEROUS)
def test_a_cell_that_could_start_a_formula_is_quoted(text: str) -> None:
    assert neutralize(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "cell"),
    [
        (-1.5, "-1.5"),
        (3, "3"),
        (None, ""),
        (True, "True"),
        ("Ada", "Ada"),
        ("a=b", "a=b"),
        (datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC), "2026-01-02T03:04:05+00:00"),
    ],
)
def test_other_values_are_written_as_they_are(value: object, cell: str) -> None:
    assert neutralize(value) == cell


@given(st.text())
def test_no_text_cell_starts_with_a_trigger(text: str) -> None:
    cell = neutralize(text)
    assert cell[:1] not in FORMULA_TRIGGERS
    assert cell.removeprefix("'") == text or cell == text


@given(st.lists(st.lists(st.one_of(st.text(), st.integers(), st.floats()), min_size=2, max_size=2)))
def test_the_csv_reads_back_cell_for_cell(rows: list[list[object]]) -> None:
    text = csv_text(("a", "b"), rows)
    read = list(csv.reader(io.StringIO(text, newline="")))
    assert read[0] == ["a", "b"]
    assert read[1:] == [[neutralize(value) for value in row] for row in rows]
    for row in read[1:]:
        assert all(cell[:1] not in FORMULA_TRIGGERS for cell in row if not _number(cell))


def _number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True
