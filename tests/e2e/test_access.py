"""Phone width and keyboard use. axe-core, contrast and reflow of every state: test_axe.py."""

from __future__ import annotations

import math
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_playground import PASTED
from tests.e2e.test_quiz import SLUG, answer_all_correctly, bank_questions, linear_stack_answer
from tests.e2e.test_simulation import wait_for_chart
from tests.e2e.wcag import overflow

pytestmark = pytest.mark.e2e

TABS = ("simulation", "training", "playground", "batch-size", "quiz")


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
    page.click("#tab-batch-size")
    page.wait_for_selector("#noise-table tbody tr")


def show_tab(page: Any, name: str) -> None:
    page.click(f"#tab-{name}")
    assert page.is_visible(f"#panel-{name}")
    # A shown panel's wide tables become scroll regions (tab stops) in a ResizeObserver
    # callback, which runs before the next frame is painted: wait for two frames.
    page.evaluate("() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)))")


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
        layout = overflow(page)
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
    assert selected() == ("tab-training", "tab-training", ["training"])
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
        *[-1] * (len(TABS) - 1),
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


# How the keyboard tests name an element: one stop per radio group (arrows move within it).
_KEY = """const key = (el) => el.type === 'radio' ? `radios ${el.name}`
  : el.id ? `#${el.id}` : `${el.tagName.toLowerCase()} "${el.textContent.trim().slice(0, 30)}"`;"""

# Every control a keyboard must reach in the open panel, in document order.
_REACHABLE = f"""(panel) => {{
  {_KEY}
  const controls = [...panel.querySelectorAll(
    'a[href], button, input, select, textarea, summary, [tabindex]')]
    .filter((el) => !el.disabled && el.tabIndex >= 0 && el.type !== 'hidden')
    .filter((el) => el.checkVisibility());
  return [...new Set([panel, ...controls].map(key))];
}}"""

# The focused element: its name, whether it is in the open panel, whether it shows a focus ring
# (an outline of 2px or more, or a box shadow) and whether it is scrolled into the viewport.
_FOCUSED = f"""() => {{
  {_KEY}
  const el = document.activeElement;
  const style = getComputedStyle(el);
  const box = el.getBoundingClientRect();
  return {{
    key: key(el),
    inPanel: Boolean(el.closest('[role=tabpanel]:not([hidden])')),
    ring: el.matches(':focus-visible') && ((style.outlineStyle !== 'none'
      && parseFloat(style.outlineWidth) >= 2) || style.boxShadow !== 'none'),
    inView: box.bottom > 0 && box.top < innerHeight && box.right > 0 && box.left < innerWidth,
  }};
}}"""


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_tab_reaches_every_control_in_order_with_a_visible_focus(
    request: pytest.FixtureRequest, viewport: str
) -> None:
    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    fill_every_tab(page)
    show_tab(page, "simulation")
    page.click("details.advanced summary")
    page.select_option("#activation", "leaky_relu")
    show_tab(page, "playground")
    page.click("#norm-stats details summary")
    start_quiz_here(page)
    for name in TABS:
        show_tab(page, name)
        expected = page.eval_on_selector(f"#panel-{name}", _REACHABLE)
        reached, unseen = [], []
        page.focus(f"#tab-{name}")
        for _ in range(len(expected) + 5):
            page.keyboard.press("Tab")
            focused = page.evaluate(_FOCUSED)
            if not focused["inPanel"]:
                break
            if focused["key"] not in reached:
                reached.append(focused["key"])
            if not (focused["ring"] and focused["inView"]):
                unseen.append(focused)
        assert reached == expected, name
        assert len(expected) > 5, (name, expected)
        assert unseen == [], name


def test_the_quiz_can_be_taken_by_keyboard_alone(page: Any) -> None:
    page.goto("/")
    page.wait_for_selector(f"#quiz-select option[value='{SLUG}']", state="attached")
    for key in ("Tab", "Tab", "End", "Tab", "Tab"):  # skip link, tabs, the quiz tab's panel
        page.keyboard.press(key)
    assert page.evaluate("document.activeElement.id") == "quiz-select"
    assert page.input_value("#quiz-select") == SLUG
    page.keyboard.press("Tab")
    page.keyboard.press("Enter")  # "Start quiz"
    page.wait_for_selector("#quiz-form:not([hidden]) fieldset.question")
    questions = bank_questions()
    for fieldset in page.locator("#quiz-questions fieldset.question").all():
        question = questions[fieldset.get_attribute("data-question-id")]
        # Focus is in this question: the page put it on the first one, Tab brought it here.
        page.wait_for_function(
            "(el) => el.contains(document.activeElement)", arg=fieldset.element_handle()
        )
        if question["type"] == "numeric":
            prompt = fieldset.locator("legend").inner_text()
            answer = f"{linear_stack_answer(prompt):.6g}" if "generator" in question else "2^20"
            page.keyboard.type(answer)
        else:
            (right,) = (c["id"] for c in question["choices"] if c.get("correct"))
            for _ in question["choices"]:
                if page.evaluate("document.activeElement.value") == right:
                    break
                page.keyboard.press("ArrowDown")
            page.keyboard.press("Space")
            assert fieldset.locator(f"input[value='{right}']").is_checked()
        page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "quiz-submit"
    page.keyboard.press("Enter")
    page.wait_for_selector("#quiz-results li[data-result-for]")
    assert page.inner_text("#quiz-score") == "Score: 3 / 3 — passed."
    # The score takes the focus, so a screen reader reads it first.
    assert page.evaluate("document.activeElement.id") == "quiz-score"
