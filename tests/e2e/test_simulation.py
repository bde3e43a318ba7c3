"""The simulation tab against the real API: the lesson's three settings and Monte Carlo mode."""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

# Waits until the chart is idle and shows `expected` (log10 per layer); the assertion after it
# reports what the page really showed if that never happens.
_CHART_SHOWS = """(expected) => {
  if (document.getElementById('chart-figure').hasAttribute('aria-busy')) return false;
  const points = [...document.querySelectorAll('#variance-chart circle[data-layer]')];
  return points.length === expected.length
    && points.every((p, i) => Math.abs(Number(p.dataset.log10) - expected[i]) < 1e-6);
}"""


def chart_points(page: Any) -> list[tuple[int, float]]:
    return page.eval_on_selector_all(
        "#variance-chart circle[data-layer]",
        "els => els.map(e => [Number(e.dataset.layer), Number(e.dataset.log10)])",
    )


def wait_for_chart(page: Any, expected: list[float]) -> None:
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    with contextlib.suppress(PlaywrightTimeout):
        page.wait_for_function(_CHART_SHOWS, arg=expected)
    points = chart_points(page)
    assert [layer for layer, _ in points] == list(range(1, len(expected) + 1))
    assert [log10 for _, log10 in points] == pytest.approx(expected, abs=1e-6)


def set_away_from_the_lesson(page: Any) -> None:
    """Move every control the lesson settings use, so the test proves they are driven back."""
    page.focus("#depth")
    page.keyboard.press("ArrowRight")
    page.keyboard.press("ArrowRight")
    page.fill("#width", "50")
    page.fill("#weight-variance-value", "0.04")
    # 12 layers, each multiplying the variance by 50 · 0.04 = 2.
    wait_for_chart(page, [k * math.log10(2) for k in range(1, 13)])
    assert page.text_content("#depth-output") == "12"


def weight_variance_by_keys_to_1(page: Any) -> None:
    page.focus("#weight-variance")
    page.keyboard.press("End")  # log10 = 1
    page.keyboard.press("PageDown")  # a tenth of the range: 0.5
    page.keyboard.press("PageDown")


def weight_variance_typed_0_01(page: Any) -> None:
    page.fill("#weight-variance-value", "0.01")


def weight_variance_by_keys_to_0_001(page: Any) -> None:
    page.focus("#weight-variance")
    page.keyboard.press("Home")  # log10 = -4
    for _ in range(10):
        page.keyboard.press("ArrowRight")  # +0.1 each


LESSON_SETTINGS = [
    pytest.param(weight_variance_by_keys_to_1, "1", 2, "exploding", "1e+20", id="var-w-1"),
    pytest.param(weight_variance_typed_0_01, "0.01", 0, "stable", "1", id="var-w-0.01"),
    pytest.param(
        weight_variance_by_keys_to_0_001, "0.001", -1, "vanishing", "1e-10", id="var-w-0.001"
    ),
]


@pytest.mark.parametrize(
    ("set_weight_variance", "shown", "log10_per_layer", "regime", "final"), LESSON_SETTINGS
)
def test_lesson_settings(
    page: Any,
    screenshots: Path,
    request: pytest.FixtureRequest,
    set_weight_variance: Any,
    shown: str,
    log10_per_layer: int,
    regime: str,
    final: str,
) -> None:
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)  # the page opens on Var(W) = 0.01, fan-in 100, 10 layers
    set_away_from_the_lesson(page)

    page.focus("#depth")
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    page.fill("#width", "100")
    set_weight_variance(page)

    wait_for_chart(page, [float(log10_per_layer * k) for k in range(1, 11)])
    assert page.input_value("#weight-variance-value") == shown
    assert page.get_attribute("#weight-variance", "aria-valuetext") == f"Var(W) = {shown}"
    assert page.text_content("#depth-output") == "10"
    assert page.text_content("#regime") == regime
    assert page.get_attribute("#regime", "data-regime") == regime
    assert page.text_content("#final-variance") == final
    assert page.inner_text("#regime-explanation").strip()
    assert page.inner_text("#sim-error") == ""
    description = page.text_content("#chart-desc")
    assert description.startswith("10 layers.")
    assert f"{final} after the last layer: {regime}." in description
    page.screenshot(path=screenshots / f"desktop-simulation-{request.node.callspec.id}.png")


# What the page sends in Monte Carlo mode with its defaults: the seeded run is reproducible.
MONTE_CARLO_BODY = {
    "mode": "monte_carlo",
    "depth": 10,
    "width": 100,
    "activation": "linear",
    "normalization": None,
    "input_variance": 1,
    "backward": False,
    "weight_variance": 0.01,
    "batch_size": 256,
    "seed": 0,
    "histogram_bins": 30,
}


def test_monte_carlo_draws_the_sampled_network(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)
    page.click("button[data-preset='0.001']")
    wait_for_chart(page, [float(-k) for k in range(1, 11)])
    page.click("button[data-preset='0.01']")
    wait_for_chart(page, [0.0] * 10)
    page.select_option("#mode", "monte_carlo")
    page.wait_for_selector("#histograms figure.histogram >> nth=9")

    status, expected = live_server.api("POST", "/v1/simulations/propagation", MONTE_CARLO_BODY)
    assert status == 200
    wait_for_chart(page, [layer["log10_preactivation_variance"] for layer in expected["layers"]])
    # A sampled network is not the exact recursion, yet stays near Var = 1 at Var(W) = 1/n.
    assert all(abs(log10) < 0.5 for _, log10 in chart_points(page))

    figures = page.locator("#histograms figure.histogram")
    assert figures.count() == 10
    assert page.is_hidden("#histograms-note")
    for index, layer in enumerate(expected["layers"]):
        figure = figures.nth(index)
        assert figure.get_attribute("data-layer") == str(layer["index"])
        heights = figure.locator("rect.bar").evaluate_all(
            "bars => bars.map(b => Number(b.getAttribute('height')))"
        )
        counts = layer["histogram"]["counts"]
        assert len(heights) == len(counts) == 30
        # Bars are scaled to the tallest count: the same shape as the API's histogram.
        tallest = max(counts)
        assert [h / max(heights) for h in heights] == pytest.approx(
            [c / tallest for c in counts], abs=1e-6
        )
        assert f"Layer {layer['index']}" in figure.inner_text()
        hist = layer["histogram"]
        assert ("off the chart" in figure.inner_text()) == bool(
            hist["below_range"] or hist["above_range"]
        )
    page.screenshot(path=screenshots / "desktop-simulation-monte-carlo.png", full_page=True)

    # Exploding: the histograms keep their fixed edges, and say how much falls outside them.
    page.click("button[data-preset='1']")
    status, exploding = live_server.api(
        "POST",
        "/v1/simulations/propagation",
        {**MONTE_CARLO_BODY, "weight_variance": 1},
    )
    assert status == 200
    wait_for_chart(page, [layer["log10_preactivation_variance"] for layer in exploding["layers"]])
    last = exploding["layers"][-1]["histogram"]
    total = last["below_range"] + last["above_range"] + sum(last["counts"])
    assert last["below_range"] + last["above_range"] > 0.99 * total
    below, above = percent(last["below_range"] / total), percent(last["above_range"] / total)
    assert f"off the chart: {below} below -4, {above} above 4" in figures.nth(9).inner_text()
    assert page.get_attribute("button[data-preset='1']", "aria-pressed") == "true"
    assert page.get_attribute("button[data-preset='0.01']", "aria-pressed") == "false"
    page.screenshot(
        path=screenshots / "desktop-simulation-monte-carlo-exploding.png", full_page=True
    )


def percent(fraction: float) -> str:
    """The page's formatPercent: one decimal, trailing zeros dropped."""
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


def test_errors_are_shown_next_to_the_settings(page: Any, screenshots: Path) -> None:
    page.watch.allow("status of 422")
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)

    # Caught by the page itself: no request, the last chart kept and labelled as such.
    page.fill("#width", "0")
    page.locator("#width-error").filter(has_text="1").wait_for()
    assert page.get_attribute("#width", "aria-invalid") == "true"
    assert "width-error" in page.get_attribute("#width", "aria-describedby")
    alert = page.inner_text("#sim-error")
    assert alert.startswith("Check the settings: Nothing was computed")
    assert "Width (fan-in of each layer): " in alert
    assert page.inner_text("#sim-status") == "(showing the last valid result)"
    assert "stale" in page.get_attribute("#chart-figure", "class")
    page.fill("#width", "100")
    page.locator("#sim-error:empty").wait_for(state="attached")
    assert page.get_attribute("#width", "aria-invalid") is None

    # Refused by the API: its problem details, next to the control they name, even when that
    # control was folded away under "More settings".
    page.select_option("#mode", "monte_carlo")
    page.fill("#width", "4096")
    page.fill("#batch-size", "4096")
    # 4096² · 10 layers · 4096 multiply-adds, plus 200 per activation and per drawn weight and
    # 2.5e6 a layer
    # (the width alone already goes over, with 256).
    page.locator("#batch-size-error").filter(has_text="754,328,631,360").wait_for()
    alert = page.inner_text("#sim-error")
    assert alert.startswith("Please check the values (422)")
    assert "Batch size (Monte Carlo): this Monte Carlo run costs" in alert
    assert (
        "costs about 754,328,631,360 operations, above the limit of 20,000,000,000 "
        "(MAX_SIMULATION_WORK)" in alert
    )
    assert page.get_attribute("#batch-size", "aria-invalid") == "true"
    assert "reduce width, depth or batch_size" in page.inner_text("#batch-size-error")
    page.screenshot(path=screenshots / "desktop-simulation-error.png", full_page=True)

    page.fill("#width", "100")  # 100² · 10 · 4096 is well within the limit
    page.wait_for_selector("#histograms figure.histogram >> nth=9")
    page.locator("#sim-error:empty").wait_for(state="attached")
    assert page.get_attribute("#batch-size", "aria-invalid") is None
    assert page.inner_text("#sim-status") == ""


def test_a_named_scheme_shows_the_variance_it_chose(page: Any) -> None:
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)
    page.select_option("#activation", "relu")
    page.select_option("#init", "he_normal")
    # He: Var(W) = 2 / fan_in = 0.02, so ReLU's halving is undone and Var(z) stays at 2.
    wait_for_chart(page, [math.log10(2)] * 10)
    assert page.input_value("#weight-variance-value") == "0.02"
    assert page.is_disabled("#weight-variance-value")
    assert page.is_disabled("#weight-variance")
    assert page.is_visible("#gain")
    assert page.inner_text("#init-help") == "He (Kaiming) normal: gain² / fan_in"
    assert page.text_content("#regime") == "stable"

    page.select_option("#init", "custom")
    assert page.input_value("#weight-variance-value") == "0.01"
    assert page.is_enabled("#weight-variance-value")
    # ReLU halves the variance of Var(W)·n = 1 at every layer.
    wait_for_chart(page, [-k * math.log10(2) for k in range(0, 10)])
    assert page.text_content("#regime") == "vanishing"
