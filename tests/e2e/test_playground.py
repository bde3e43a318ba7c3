"""The normalization playground: a pasted array, layer norm, and the API's problem details."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

PASTED = "1, 2, 3, 4\n2 4 6 8\n10, 20, 30, 40"
ARRAY = [[1, 2, 3, 4], [2, 4, 6, 8], [10, 20, 30, 40]]
STATS = ("mean", "std", "min", "max")


def shown_stats(page: Any) -> dict[str, dict[str, float]]:
    """{row label: {stat: number}} from the before/after table in #norm-stats."""
    rows = page.eval_on_selector_all(
        "#norm-stats table.stats tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    return {label: dict(zip(STATS, map(float, cells), strict=True)) for label, *cells in rows}


def open_playground(page: Any) -> None:
    page.goto("/")
    page.click("#tab-playground")
    assert page.is_visible("#panel-playground")


def test_layer_norm_of_a_pasted_array(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    open_playground(page)
    page.fill("#norm-input", PASTED)
    page.select_option("#norm-variant", "layer")
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats table.stats")

    status, expected = live_server.api(
        "POST", "/v1/normalize/layer", {"input": ARRAY, "eps": 0.00001}
    )
    assert status == 200
    shown = shown_stats(page)
    assert set(shown) == {"before", "after"}
    for row, side in (("before", "input"), ("after", "output")):
        for stat in STATS:
            # The page shows four significant figures.
            assert shown[row][stat] == pytest.approx(
                expected["summary"][side][stat], rel=1e-3, abs=1e-6
            ), (row, stat)
    assert shown["before"]["mean"] == pytest.approx(130 / 12, rel=1e-3)
    assert shown["after"]["mean"] == pytest.approx(0.0, abs=1e-6)
    assert shown["after"]["std"] == pytest.approx(1.0, abs=1e-3)
    assert "shape [3,4] · dtype float32" in page.inner_text("#norm-stats")
    # Per-example means of each row: 2.5, 5 and 25.
    assert "Means subtracted: [2.5, 5, 25]" in page.inner_text("#norm-stats")
    assert page.locator("#norm-stats figure.histogram").count() == 2
    assert page.inner_text("#norm-error") == ""
    page.screenshot(path=screenshots / "desktop-playground-layer-norm.png", full_page=True)


def test_problem_details_are_shown(page: Any, screenshots: Path) -> None:
    page.watch.allow("status of 422")
    open_playground(page)
    page.fill("#norm-input", PASTED)
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats table.stats")

    page.select_option("#norm-variant", "group")
    page.fill("#norm-groups", "3")
    page.click("#norm-run")
    error = page.locator("#norm-error")
    error.locator("li").wait_for()
    # The API's problem: a plain title, its status, and the field's message under its label.
    assert error.inner_text().split("\n") == [
        "Please check the values (422)",
        "",
        "Groups: must divide the number of channels C = 4, got 3",
    ]
    assert page.get_attribute("#norm-groups", "aria-invalid") == "true"
    assert (
        page.inner_text("#norm-groups-error") == "must divide the number of channels C = 4, got 3"
    )
    assert "norm-groups-error" in page.get_attribute("#norm-groups", "aria-describedby")
    # The earlier results stay, marked as such, and the message is scrolled into view.
    assert "stale" in page.get_attribute("#norm-stats", "class")
    assert "the last run that worked" in page.inner_text("#norm-stats")
    assert error.evaluate(
        "e => e.getBoundingClientRect().top > -2 && e.getBoundingClientRect().bottom <= innerHeight"
    )
    page.screenshot(path=screenshots / "desktop-playground-error.png")

    # A local mistake is caught before any request and shown next to the input.
    page.fill("#norm-input", "1, 2\n3, x")
    page.click("#norm-run")
    page.wait_for_function(
        "() => document.getElementById('norm-error').textContent.includes('is not a number')"
    )
    message = "Row 2, column 2: “x” is not a number."
    assert message in error.inner_text()
    assert page.inner_text("#norm-input-error") == message
    assert page.get_attribute("#norm-input", "aria-invalid") == "true"
    assert page.get_attribute("#norm-groups", "aria-invalid") is None

    # Fixing both clears every mark.
    page.fill("#norm-input", PASTED)
    page.fill("#norm-groups", "2")
    page.click("#norm-run")
    # Functions, not expression strings: the page's CSP forbids eval, which strings would need.
    page.wait_for_function(
        "() => !document.getElementById('norm-stats').classList.contains('stale')"
    )
    assert error.inner_text() == ""
    assert page.get_attribute("#norm-input", "aria-invalid") is None
    assert page.locator("#panel-playground .field-error:visible").count() == 0


def test_compare_all_variants(page: Any, live_server: LiveServer) -> None:
    open_playground(page)
    page.fill("#norm-input", PASTED)
    page.select_option("#norm-variant", "compare")
    assert page.is_visible("#norm-groups")
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats table.stats")

    status, expected = live_server.api(
        "POST", "/v1/normalize/compare", {"input": ARRAY, "eps": 0.00001, "num_groups": 2}
    )
    assert status == 200
    rows = page.eval_on_selector_all(
        "#norm-stats table.stats tbody tr",
        "rows => rows.map(r => [...r.children].map(c => c.textContent.trim()))",
    )
    assert [row[0] for row in rows] == ["input"] + [r["variant"] for r in expected["results"]]
    for (_, *cells), result in zip(rows[1:], expected["results"], strict=True):
        if "error" in result:
            # A variant that does not apply to this input says why, in its own row.
            assert cells == [f"{result['error']['title']}: {result['error']['detail']}"]
            continue
        shown = [float(cell) for cell in cells]
        wanted = [result["summary"]["output"][stat] for stat in STATS]
        assert shown == pytest.approx(wanted, rel=1e-3, abs=1e-6), result["variant"]
    assert any("error" in r for r in expected["results"])  # instance norm needs 3 axes
