"""Phone width, keyboard use, labels and contrast on every tab."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_playground import PASTED
from tests.e2e.test_quiz import answer_all_correctly
from tests.e2e.test_simulation import wait_for_chart

pytestmark = pytest.mark.e2e

TABS = ("simulation", "playground", "quiz")

# Elements sticking out to the right of the viewport, outside any scrolling container.
_OVERFLOW = """() => {
  const width = document.documentElement.clientWidth;
  const clipped = (el) => {
    for (let n = el.parentElement; n; n = n.parentElement) {
      if (['auto', 'scroll', 'hidden', 'clip'].includes(getComputedStyle(n).overflowX)) return true;
    }
    return false;
  };
  const wide = [...document.querySelectorAll('body *')].filter((el) => {
    const r = el.getBoundingClientRect();
    return r.width > 0 && r.right > width + 1 && !clipped(el) && !el.closest('.visually-hidden');
  }).map((el) => `${el.tagName.toLowerCase()}#${el.id}.${el.className?.baseVal ?? el.className}`);
  return {scrollWidth: document.documentElement.scrollWidth, width, wide: wide.slice(0, 10)};
}"""

# WCAG 2.2 contrast of every visible text against the background it sits on.
_CONTRAST = """() => {
  const parse = (c) => {
    const m = /rgba?\\(([^)]+)\\)/.exec(c || '');
    if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[\\s,/]+/).filter(Boolean).map(Number);
    return {r, g, b, a};
  };
  const channel = (v) => {
    v /= 255;
    return v <= 0.04045 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
  };
  const luminance = (c) => 0.2126 * channel(c.r) + 0.7152 * channel(c.g) + 0.0722 * channel(c.b);
  const background = (el) => {
    for (let n = el; n; n = n.parentElement) {
      const c = parse(getComputedStyle(n).backgroundColor);
      if (c && c.a > 0) return c;
    }
    return {r: 255, g: 255, b: 255, a: 1};
  };
  const failures = [];
  let checked = 0;
  const seen = new Set();
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const el = walker.currentNode.parentElement;
    if (!walker.currentNode.textContent.trim() || seen.has(el)) continue;
    seen.add(el);
    if (el.closest('option, title, desc, .visually-hidden, :disabled, [hidden]')) continue;
    const box = el.getBoundingClientRect();
    if (box.width < 2 || box.height < 2) continue;
    if (!el.checkVisibility({opacityProperty: true, visibilityProperty: true})) continue;
    const style = getComputedStyle(el);
    const fg = parse(el instanceof SVGElement ? style.fill : style.color);
    if (!fg) continue;
    const bg = background(el);
    const [hi, lo] = [luminance(fg), luminance(bg)].sort((x, y) => y - x);
    const ratio = (hi + 0.05) / (lo + 0.05);
    const size = parseFloat(style.fontSize);
    const large = size >= 24 || (size >= 18.66 && Number(style.fontWeight) >= 700);
    checked += 1;
    if (ratio < (large ? 3 : 4.5)) {
      failures.push(`${el.tagName.toLowerCase()}#${el.id}.${el.className?.baseVal ?? el.className} `
        + `"${el.textContent.trim().slice(0, 40)}": ${ratio.toFixed(2)}`);
    }
  }
  return {checked, failures};
}"""

# Form controls without an accessible name.
_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button')]
  .filter((el) => el.type !== 'hidden' && el.checkVisibility())
  .filter((el) => !(el.labels?.length || el.getAttribute('aria-label')
    || el.getAttribute('aria-labelledby') || (el.tagName === 'BUTTON' && el.textContent.trim())))
  .map((el) => el.id || el.name || el.outerHTML.slice(0, 60))"""


def fill_every_tab(page: Any) -> None:
    """Put real content on each tab: histograms, a normalized array, a graded quiz."""
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)
    page.select_option("#mode", "monte_carlo")
    page.wait_for_selector("#histograms figure.histogram >> nth=9")
    page.click("details.data-table summary")
    page.click("#tab-playground")
    page.fill("#norm-input", PASTED)
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats table.stats")


def show_tab(page: Any, name: str) -> None:
    page.click(f"#tab-{name}")
    assert page.is_visible(f"#panel-{name}")


def test_phone_width_has_no_horizontal_scrolling(phone_page: Any, screenshots: Path) -> None:
    page = phone_page
    fill_every_tab(page)
    fieldsets = start_quiz_here(page)
    answer_all_correctly(page, fieldsets)
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")
    for name in TABS:
        show_tab(page, name)
        page.evaluate("window.scrollTo(0, 0)")
        layout = page.evaluate(_OVERFLOW)
        assert layout["scrollWidth"] <= layout["width"] == 390, (name, layout)
        assert not layout["wide"], (name, layout)
        page.screenshot(path=screenshots / f"phone-{name}.png", full_page=True)
    # The progress table fits, so its status column needs no sideways scrolling.
    show_tab(page, "quiz")
    progress = page.locator("#progress .table-scroll")
    assert progress.evaluate("e => e.scrollWidth <= e.clientWidth")
    assert progress.locator(
        "tr[data-quiz='activation-distribution'] td:visible"
    ).all_inner_texts() == [
        "1",
        "3 / 3",
        "passed",
    ]
    # The chart redraws to the phone's width rather than being squeezed.
    show_tab(page, "simulation")
    # The redraw follows the tab switch asynchronously; a loaded machine may take a moment.
    # (Polled from Python: a wait_for_function predicate would be eval'd, which the CSP forbids.)
    chart_width = "document.getElementById('variance-chart').viewBox.baseVal.width"
    deadline = time.monotonic() + 10
    while page.evaluate(chart_width) > 390 and time.monotonic() < deadline:
        page.wait_for_timeout(100)
    assert page.evaluate(chart_width) <= 390


def start_quiz_here(page: Any) -> dict[str, Any]:
    """start_quiz() reloads the page; here the other tabs' content must stay, so start in place."""
    show_tab(page, "quiz")
    page.wait_for_selector("#quiz-select option[value='activation-distribution']", state="attached")
    page.select_option("#quiz-select", "activation-distribution")
    page.click("#quiz-start")
    page.wait_for_selector("#quiz-form:not([hidden]) fieldset.question")
    ids = page.eval_on_selector_all(
        "#quiz-questions fieldset.question", "els => els.map(e => e.dataset.questionId)"
    )
    return {qid: page.locator(f"fieldset[data-question-id='{qid}']") for qid in ids}


def test_tabs_work_by_keyboard(page: Any) -> None:
    page.goto("/")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.className") == "skip-link"
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "tab-simulation"

    def selected() -> tuple[str, str, list[str]]:
        return (
            page.evaluate("document.activeElement.id"),
            page.get_attribute("[role=tab][aria-selected=true]", "id"),
            [name for name in TABS if page.is_visible(f"#panel-{name}")],
        )

    page.keyboard.press("ArrowRight")
    assert selected() == ("tab-playground", "tab-playground", ["playground"])
    page.keyboard.press("End")
    assert selected() == ("tab-quiz", "tab-quiz", ["quiz"])
    page.keyboard.press("ArrowRight")  # wraps around
    assert selected() == ("tab-simulation", "tab-simulation", ["simulation"])
    page.keyboard.press("ArrowLeft")
    assert selected() == ("tab-quiz", "tab-quiz", ["quiz"])
    page.keyboard.press("Home")
    assert selected() == ("tab-simulation", "tab-simulation", ["simulation"])
    # Only the selected tab is in the tab order; Tab moves on into its panel.
    assert page.eval_on_selector_all("[role=tab]", "tabs => tabs.map(t => t.tabIndex)") == [
        0,
        -1,
        -1,
    ]
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "panel-simulation"


def test_range_inputs_work_by_keyboard(page: Any) -> None:
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)
    page.focus("#weight-variance")
    page.keyboard.press("ArrowRight")  # log10 Var(W): -2 -> -1.9
    assert page.input_value("#weight-variance") == "-1.9"
    assert page.input_value("#weight-variance-value") == "0.0125893"
    assert page.get_attribute("#weight-variance", "aria-valuetext") == "Var(W) = 0.01259"
    # The page sends the value it shows: each layer multiplies the variance by 100 · 0.0125893.
    per_layer = math.log10(100 * 0.0125893)
    wait_for_chart(page, [per_layer * k for k in range(1, 11)])
    assert page.text_content("#regime") == "exploding"

    page.focus("#depth")
    page.keyboard.press("ArrowUp")
    assert page.text_content("#depth-output") == "11"
    wait_for_chart(page, [per_layer * k for k in range(1, 12)])
    page.keyboard.press("PageDown")  # a tenth of 1..100
    assert page.text_content("#depth-output") == "1"
    wait_for_chart(page, [per_layer])

    page.focus("#weight-variance")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # -2.2
    assert page.input_value("#weight-variance-value") == "0.00630957"
    wait_for_chart(page, [math.log10(100 * 0.00630957)])
    page.focus("#depth")
    page.keyboard.press("End")
    assert page.text_content("#depth-output") == "100"
    wait_for_chart(page, [k * math.log10(100 * 0.00630957) for k in range(1, 101)])
    assert page.text_content("#regime") == "vanishing"
    assert page.text_content("#final-variance") == "1e-20"


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_labels_and_contrast_on_every_tab(request: pytest.FixtureRequest, viewport: str) -> None:
    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    fill_every_tab(page)
    fieldsets = start_quiz_here(page)
    answer_all_correctly(page, fieldsets)
    for name in TABS:
        show_tab(page, name)
        assert page.evaluate(_UNLABELLED) == [], name
        contrast = page.evaluate(_CONTRAST)
        assert contrast["checked"] > 10, name
        assert contrast["failures"] == [], name
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")
    contrast = page.evaluate(_CONTRAST)
    assert contrast["failures"] == []
