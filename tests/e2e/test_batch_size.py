"""The batch-size tab against the real API: the noise chart and table show the API's numbers, the
per-example variants show their exact zero, the sweep's chart and table equal the API's cells,
refusals land next to their control, and everything works by keyboard."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

NOISE_DEFAULT = {
    "variant": "batch",
    "batch_sizes": [2, 4, 8, 16, 32, 64],
    "z": 1,
    "samples": 5000,
    "features": 16,
    "seed": 1,
    "eps": 1e-5,
}
# A sweep cheap enough for a test: two batch sizes, one pass over the digits.
SWEEP_SIZES = "4, 32"
SWEEP_REQUEST = {"batch_sizes": [4, 32], "epochs": 1, "scale_learning_rate": True}


def open_tab(page: Any) -> None:
    page.goto("/")
    page.click("#tab-batch-size")
    page.wait_for_selector("#noise-chart circle[data-batch-size]")


def shown_noise(page: Any) -> list[dict[str, Any]]:
    return page.eval_on_selector_all(
        "#noise-table tbody tr",
        """rows => rows.map(r => ({
            m: Number(r.dataset.batchSize),
            values: [...r.querySelectorAll('td[data-value]')].map(td => Number(td.dataset.value)),
            texts: [...r.querySelectorAll('td')].map(td => td.textContent),
        }))""",
    )


def test_noise_chart_and_table_show_the_apis_numbers(page: Any, live_server: LiveServer) -> None:
    open_tab(page)
    status, expected = live_server.api("POST", "/v1/simulations/batch-statistics", NOISE_DEFAULT)
    assert status == 200
    rows = shown_noise(page)
    assert [row["m"] for row in rows] == [2, 4, 8, 16, 32, 64]
    for row, point in zip(rows, expected["points"], strict=True):
        assert row["values"] == [
            point["measured_variance"],
            point["exact_variance"],
            point["first_order_variance"],
        ]
        assert row["texts"][0] == f"{point['measured_variance']:.4g}".rstrip("0").rstrip(".")
    markers = page.eval_on_selector_all(
        "#noise-chart circle[data-batch-size]",
        "els => els.map(e => [Number(e.dataset.batchSize), Number(e.dataset.measured)])",
    )
    assert markers == [[p["batch_size"], p["measured_variance"]] for p in expected["points"]]
    assert page.locator("#noise-chart .series.exact path").count() == 1
    assert page.locator("#noise-chart .error-bar").count() == 6
    assert page.text_content("#noise-pair") == expected["batch_size_two"]
    assert "falls from" in page.text_content("#noise-chart-desc")


def test_group_norm_shows_exactly_zero_and_why(page: Any, live_server: LiveServer) -> None:
    open_tab(page)
    page.select_option("#noise-variant", "group")
    page.click("#noise-run")
    page.wait_for_selector("#noise-zero:not([hidden])")
    assert page.is_hidden("#noise-figure")
    status, expected = live_server.api(
        "POST", "/v1/simulations/batch-statistics", {**NOISE_DEFAULT, "variant": "group"}
    )
    assert status == 200
    assert page.text_content("#noise-zero") == expected["independent_of_batch"]
    assert [row["values"] for row in shown_noise(page)] == [[0.0, 0.0]] * 6


def test_refusals_land_next_to_their_control(page: Any) -> None:
    page.watch.allow("status of 422")
    open_tab(page)
    page.fill("#noise-batch-sizes", "1, 4")
    page.click("#noise-run")
    page.locator("#noise-batch-sizes-error").filter(has_text="must be >= 2").wait_for()
    assert page.get_attribute("#noise-batch-sizes", "aria-invalid") == "true"
    page.fill("#noise-batch-sizes", "2, x")
    page.click("#noise-run")
    page.locator("#noise-batch-sizes-error").filter(has_text="not a whole number").wait_for()


def run_sweep(page: Any) -> None:
    page.fill("#sweep-batch-sizes", SWEEP_SIZES)
    page.fill("#sweep-epochs", "1")
    page.click("#sweep-run")
    page.wait_for_selector("#sweep-table td[data-normalization]", timeout=60_000)


def test_sweep_chart_and_table_equal_the_api(page: Any, live_server: LiveServer) -> None:
    open_tab(page)
    run_sweep(page)
    status, expected = live_server.api("POST", "/v1/simulations/batch-size-sweep", SWEEP_REQUEST)
    assert status == 200
    cells = page.eval_on_selector_all(
        "#sweep-table td[data-normalization]",
        "els => els.map(e => [e.dataset.normalization, Number(e.dataset.batchSize), "
        "Number(e.dataset.value), e.textContent])",
    )
    wanted = {(c["normalization"], c["batch_size"]): c["test_error"] for c in expected["cells"]}
    assert len(cells) == len(wanted) == 8
    for name, size, value, text in cells:
        assert value == wanted[(name, size)]
        assert text == f"{100 * value:.1f}".rstrip("0").rstrip(".") + "%"
    points = page.eval_on_selector_all(
        "#sweep-chart [data-test-error]",
        "els => els.map(e => [e.dataset.normalization, Number(e.dataset.batchSize), "
        "Number(e.dataset.testError)])",
    )
    assert sorted(points) == sorted([n, b, e] for (n, b), e in wanted.items())
    assert page.is_visible("#sweep-explanation")


def test_the_tab_works_by_keyboard(page: Any) -> None:
    page.goto("/")
    page.focus("#tab-simulation")
    for _ in range(3):  # simulation, training, playground, batch size
        page.keyboard.press("ArrowRight")
    assert page.evaluate("document.activeElement.id") == "tab-batch-size"
    page.wait_for_selector("#noise-chart circle[data-batch-size]")  # measured on first focus
    page.focus("#noise-variant")
    page.keyboard.press("ArrowDown")  # group norm
    page.focus("#noise-run")
    page.keyboard.press("Enter")
    page.wait_for_selector("#noise-zero:not([hidden])")
    page.focus("#sweep-batch-sizes")
    page.keyboard.press("Control+A")
    page.keyboard.type(SWEEP_SIZES)
    page.keyboard.press("Tab")
    page.keyboard.press("Control+A")
    page.keyboard.type("1")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "sweep-scale"
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("#sweep-table td[data-normalization]", timeout=60_000)


def batch_size_states(page: Any) -> Iterator[str]:
    """The walk tests/e2e/test_axe.py checks (axe, contrast, phone reflow) at both widths."""
    page.watch.allow("status of 422")
    open_tab(page)
    yield "batch-size"

    page.select_option("#noise-variant", "layer")
    page.click("#noise-run")
    page.wait_for_selector("#noise-zero:not([hidden])")
    yield "batch-size-layer-norm"

    page.select_option("#noise-variant", "batch")
    page.fill("#noise-batch-sizes", "1, 4")
    page.click("#noise-run")
    page.locator("#noise-batch-sizes-error").filter(has_text="must be >= 2").wait_for()
    yield "batch-size-refused"

    page.fill("#noise-batch-sizes", "2, 4, 8")
    page.click("#noise-run")
    page.wait_for_selector("#noise-batch-sizes:not([aria-invalid])")
    run_sweep(page)
    yield "batch-size-sweep"

    run_modes(page)
    yield "batch-size-modes"


def run_modes(page: Any) -> None:
    page.fill("#modes-batch-sizes", "2, 32")
    page.click("#modes-run")
    page.wait_for_selector("#modes-table tbody tr", timeout=60_000)


def test_modes_table_equals_the_api(page: Any, live_server: LiveServer) -> None:
    open_tab(page)
    run_modes(page)
    status, expected = live_server.api(
        "POST",
        "/v1/simulations/batch-norm-modes",
        {"batch_sizes": [2, 32], "momenta": [0.1], "scale_learning_rate": True},
    )
    assert status == 200
    rows = page.eval_on_selector_all(
        "#modes-table tbody tr",
        """rows => rows.map(r => [Number(r.dataset.batchSize),
            [...r.querySelectorAll('td')].map(td => Number(td.dataset.value))])""",
    )
    wanted = [
        [
            c["batch_size"],
            [*(m["test_accuracy"] for m in c["modes"]), c["layers"][0]["normalized_difference"]],
        ]
        for c in expected["cells"]
    ]
    assert rows == wanted
    # At batch size 2 evaluation mode and batch statistics disagree more than at 32.
    assert rows[0][1][3] > rows[1][1][3]
