"""The lesson quiz from a fresh browser: an anonymous learner, answers, grading and progress."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
import yaml

pytestmark = pytest.mark.e2e

SLUG = "activation-distribution"
BANK = Path(__file__).resolve().parents[2] / "service" / "quizzes" / "bank" / f"{SLUG}.yaml"


def bank_questions() -> dict[str, dict[str, Any]]:
    return {q["id"]: q for q in yaml.safe_load(BANK.read_text())["questions"]}


def start_quiz(page: Any) -> dict[str, Any]:
    """Open the quiz tab, start the lesson quiz; returns {question id: fieldset locator}."""
    page.goto("/")
    page.click("#tab-quiz")
    page.wait_for_selector(f"#quiz-select option[value='{SLUG}']", state="attached")
    page.select_option("#quiz-select", SLUG)
    page.click("#quiz-start")
    page.wait_for_selector("#quiz-form:not([hidden]) fieldset.question")
    ids = page.eval_on_selector_all(
        "#quiz-questions fieldset.question", "els => els.map(e => e.dataset.questionId)"
    )
    assert sorted(ids) == sorted(bank_questions())
    return {qid: page.locator(f"fieldset[data-question-id='{qid}']") for qid in ids}


def linear_stack_answer(prompt: str) -> float:
    """The generated question's answer from its own numbers: Var(x)·(n·Var(W))^L."""
    depth = int(re.search(r"has (\d+) linear layers", prompt)[1])
    fan_in = int(re.search(r"fan-in n = (\d+)", prompt)[1])
    weight_variance = float(re.search(r"Var\(W\) = ([0-9.e+-]+?)\. ", prompt)[1])
    input_variance = float(re.search(r"input has variance ([0-9.]+)\. ", prompt)[1])
    return input_variance * (fan_in * weight_variance) ** depth


def answer_all_correctly(page: Any, fieldsets: dict[str, Any]) -> None:
    for qid, question in bank_questions().items():
        fieldset = fieldsets[qid]
        if question["type"] == "numeric":
            if "generator" in question:
                text = f"{linear_stack_answer(fieldset.locator('legend').inner_text()):.6g}"
            else:
                text = "2^20"
                assert question["answer"] == text
            fieldset.get_by_label("Your answer").fill(text)
        else:
            (right,) = (c["id"] for c in question["choices"] if c.get("correct"))
            fieldset.locator(f"input[value='{right}']").check()


def test_take_the_lesson_quiz(page: Any, screenshots: Path) -> None:
    fieldsets = start_quiz(page)
    assert "Attempt 1 of “The activation distribution problem”" in page.inner_text("#quiz-status")
    # The page registered an anonymous learner and kept its token.
    learner = page.evaluate("JSON.parse(localStorage.getItem('activation-lab.learner'))")
    assert learner["token"]
    assert learner["id"]

    row = page.locator(f"#progress tr[data-quiz='{SLUG}']")
    row.locator("td").filter(has_text="in progress").wait_for()
    assert row.locator("td").all_inner_texts() == ["0", "—", "—", "in progress"]

    answer_all_correctly(page, fieldsets)
    page.screenshot(path=screenshots / "desktop-quiz-answered.png", full_page=True)
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")

    assert page.inner_text("#quiz-score") == "Score: 3 / 3 — passed."
    assert page.get_attribute("#quiz-score", "class") == "passed"
    for qid in bank_questions():
        result = page.locator(f"#quiz-results [data-result-for='{qid}']")
        assert result.get_attribute("class") == "correct", result.inner_text()
        assert result.inner_text().startswith("Correct (1 / 1)")
        assert fieldsets[qid].get_attribute("data-outcome") == "correct"
    assert page.inner_text("#quiz-status") == "Submitted."
    assert page.is_disabled("#quiz-questions input >> nth=0")
    assert page.inner_text("#quiz-start") == "Try again"

    row.locator("td >> nth=0").filter(has_text="1").wait_for()
    cells = row.locator("td").all_inner_texts()
    assert cells == ["1", "3 / 3", "3 / 3", "passed"]
    assert "Lessons completed: 1 of 6" in page.inner_text("#progress")
    page.screenshot(path=screenshots / "desktop-quiz-results.png", full_page=True)


def test_unreadable_numeric_answer_is_shown_next_to_its_question(
    page: Any, screenshots: Path
) -> None:
    page.watch.allow("status of 422")
    fieldsets = start_quiz(page)
    numeric = fieldsets["q1-variance-20-layers"]
    # Phones must offer a keyboard with ^, e and /, not a decimal keypad.
    assert numeric.get_by_label("Your answer").get_attribute("inputmode") is None
    numeric.get_by_label("Your answer").fill("two to the twenty")
    fieldsets["q3-internal-covariate-shift"].locator("input[value='a']").check()
    page.click("#quiz-submit")

    numeric.locator(".field-error:not(:empty)").wait_for()
    assert numeric.locator(".field-error").inner_text() == (
        "This answer could not be read: unexpected character 't'."
    )
    described = numeric.get_by_label("Your answer").get_attribute("aria-describedby").split()
    assert [page.inner_text(f"#{id_}") for id_ in described] == [
        "A number or a short calculation, e.g. 0.25, 3.2e-5, 10^6 or 3/4.",
        "This answer could not be read: unexpected character 't'.",
    ]
    assert numeric.get_attribute("aria-invalid") == "true"
    alert = page.inner_text("#quiz-error").split("\n")
    assert alert[0].startswith("Please check the values (422): The answer to question")
    assert "cannot be read" in alert[0]
    assert "Nothing was graded and the attempt is still open." in alert[0]
    assert alert[-1] == "Fix the answer to question 1 (marked below) and submit again."
    # Focus moves to the question to fix, and the other answers are kept.
    assert page.evaluate("document.activeElement.id") == "q-q1-variance-20-layers"
    assert numeric.get_by_label("Your answer").input_value() == "two to the twenty"
    assert fieldsets["q3-internal-covariate-shift"].locator("input[value='a']").is_checked()
    assert page.inner_text("#quiz-results") == ""
    page.screenshot(path=screenshots / "desktop-quiz-unreadable-answer.png", full_page=True)

    # The attempt stayed open: fixing the answer grades it.
    numeric.get_by_label("Your answer").fill("2^20")
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")
    assert page.inner_text("#quiz-score").startswith("Score: 2 / 3")
    assert numeric.locator(".field-error").inner_text() == ""
    assert numeric.get_attribute("aria-invalid") is None
    assert page.get_attribute("[data-result-for='q1-variance-20-layers']", "class") == "correct"
    assert page.get_attribute("[data-result-for='q2-linear-stack-variance']", "class") == (
        "incorrect"
    )


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
def test_a_wrong_answer_shows_the_mistake_behind_it(
    request: pytest.FixtureRequest, viewport: str, screenshots: Path
) -> None:
    """40 for twenty doublings: the 'added the factors' feedback beside the answer and in the
    results; a right answer elsewhere shows none."""
    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    fieldsets = start_quiz(page)
    numeric = fieldsets["q1-variance-20-layers"]
    numeric.get_by_label("Your answer").fill("40")
    fieldsets["q3-internal-covariate-shift"].locator("input[value='a']").check()
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")

    expected = " ".join(
        bank_questions()["q1-variance-20-layers"]["misconceptions"][0]["feedback"].split()
    )
    beside = numeric.locator(".misconception")
    assert beside.inner_text() == f"Likely mistake: {expected}"
    assert beside.get_attribute("data-misconception") == "added-factors"
    # Right after the answer's input and its hint, and read out with the answer.
    assert numeric.locator(".help + .misconception").count() == 1
    described = numeric.get_by_label("Your answer").get_attribute("aria-describedby").split()
    assert beside.get_attribute("id") in described
    result = page.locator("[data-result-for='q1-variance-20-layers']")
    assert result.get_attribute("class") == "incorrect"
    assert "incorrect (read as 40)" in result.inner_text()
    assert result.locator(".misconception").inner_text() == f"Likely mistake: {expected}"
    assert (
        page.locator("[data-result-for='q3-internal-covariate-shift'] .misconception").count() == 0
    )
    assert fieldsets["q3-internal-covariate-shift"].locator(".misconception").count() == 0
    page.screenshot(path=screenshots / f"{viewport}-quiz-misconception.png", full_page=True)
    numeric.scroll_into_view_if_needed()
    page.screenshot(path=screenshots / f"{viewport}-quiz-misconception-beside.png")


def test_a_picked_distractor_shows_its_misconception_beside_it(page: Any) -> None:
    fieldsets = start_quiz(page)
    choice = fieldsets["q3-internal-covariate-shift"]
    choice.locator("input[value='b']").check()
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li[data-result-for]")
    note = choice.locator("label.choice:has(input[value='b']) + .misconception")
    assert note.get_attribute("data-misconception") == "dataset-shift"
    assert note.inner_text().startswith("Likely mistake: A difference between training data")
