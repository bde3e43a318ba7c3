"""Every state of every lesson tab, at desktop and phone widths, through axe-core (WCAG 2.1 AA
and best practices), a text contrast check that also covers the SVG charts, and, on the phone,
reflow without sideways scrolling. Each state is also saved as a screenshot to look at.

A new tab or panel is checked by adding one entry to WALKS, e.g.
    "training": tab_states("training", ready="#training-chart"),
or, in any test, by one line where the page shows it:
    assert_no_axe_violations(page, state="training, after a run")
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.test_batch_size import batch_size_states
from tests.e2e.test_playground import PASTED
from tests.e2e.test_quiz import SLUG, answer_all_correctly, bank_questions
from tests.e2e.test_simulation import wait_for_chart
from tests.e2e.test_training import open_training, small_run, wait_for_state
from tests.e2e.wcag import axe_violations, contrast, describe_violations, overflow

pytestmark = pytest.mark.e2e

# A walk drives one page through the states a learner can reach and yields each one's name.
Walk = Callable[[Any], Iterator[str]]


def tab_states(name: str, ready: str | None = None) -> Walk:
    """The walk of a tab that needs nothing but opening (and, if given, `ready` to appear)."""

    def walk(page: Any) -> Iterator[str]:
        page.goto("/")
        page.click(f"#tab-{name}")
        if ready:
            page.wait_for_selector(ready)
        yield name

    return walk


def simulation_states(page: Any) -> Iterator[str]:
    page.watch.allow("status of 422")
    page.goto("/")
    wait_for_chart(page, [0.0] * 10)
    yield "simulation"

    # Every optional control shown: a named scheme's gain, leaky ReLU's slope, the gradient
    # series, Monte Carlo histograms, the folded settings and the data table.
    page.select_option("#init", "he_normal")
    page.select_option("#activation", "leaky_relu")
    page.check("#backward")
    page.select_option("#mode", "monte_carlo")
    page.click("details.advanced summary")
    page.click("details.data-table summary")
    page.wait_for_selector("#histograms figure.histogram >> nth=9")
    page.wait_for_selector("#variance-chart .series.grad")
    yield "simulation-every-option"

    # Refused by the page: the last result is kept and marked as such.
    page.fill("#width", "0")
    page.locator("#width-error").filter(has_text="1").wait_for()
    yield "simulation-invalid-setting"

    # Refused by the API (422): its problem details, next to the control they name.
    page.fill("#width", "4096")
    page.fill("#batch-size", "4096")
    page.locator("#batch-size-error").filter(has_text="MAX_SIMULATION_WORK").wait_for()
    yield "simulation-refused"


def playground_states(page: Any) -> Iterator[str]:
    page.watch.allow("status of 422")
    yield from tab_states("playground")(page)

    page.fill("#norm-input", PASTED)
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats table.stats")
    page.click("#norm-stats details summary")
    yield "playground-layer-norm"

    page.select_option("#norm-variant", "group")
    page.fill("#norm-groups", "3")
    page.click("#norm-run")
    page.locator("#norm-error li").wait_for()
    yield "playground-refused"

    page.fill("#norm-input", "1, 2\n3, x")
    page.click("#norm-run")
    page.locator("#norm-input-error").filter(has_text="is not a number").wait_for()
    yield "playground-unreadable-array"

    page.fill("#norm-shape", "0")
    page.click("#norm-generate")
    page.locator("#norm-error").filter(has_text="Cannot generate").wait_for()
    yield "playground-cannot-generate"

    page.fill("#norm-input", PASTED)
    page.select_option("#norm-variant", "compare")
    page.fill("#norm-groups", "2")
    page.click("#norm-run")
    page.wait_for_selector("#norm-stats .cell-error")  # instance norm needs three axes
    yield "playground-compare"


def training_states(page: Any) -> Iterator[str]:
    page.watch.allow("status of 422")
    open_training(page)
    yield "training"

    # Running, before the first event: the request is held, so the page stands still for axe.
    page.route("**/v1/simulations/training", lambda route: None)
    page.click("#train-start")
    wait_for_state(page, "running")
    yield "training-running"

    page.click("#train-stop")
    wait_for_state(page, "stopped")
    page.unroute("**/v1/simulations/training")
    small_run(page)
    page.click("#train-start")
    wait_for_state(page, "finished")
    page.click("#panel-training details.data-table summary")
    page.locator("#train-bands-table tbody tr").first.wait_for()
    yield "training-finished"

    page.check("#train-compare input[value='group']")
    page.click("#train-controls details.advanced summary")
    page.fill("#train-groups", "3")
    page.click("#train-start")
    page.locator("#train-groups-error").filter(has_text="must divide").wait_for()
    yield "training-refused"


def _problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {
        "status": status,
        "content_type": "application/problem+json",
        "body": json.dumps(
            {"type": "about:blank", "status": status, "title": title, "detail": detail}
        ),
    }


def quiz_states(page: Any) -> Iterator[str]:
    page.watch.allow("status of 422")
    page.watch.allow("status of 503")
    page.watch.allow("status of 401")
    # The quiz list cannot be loaded.
    page.route("**/v1/quizzes", lambda route: route.fulfill(**_problem(503, "Busy", "Try later.")))
    page.goto("/")
    page.click("#tab-quiz")
    page.locator("#quiz-error").filter(has_text="Try later").wait_for()
    yield "quiz-unavailable"

    page.unroute("**/v1/quizzes")
    page.reload()
    page.click("#tab-quiz")
    page.wait_for_selector(f"#quiz-select option[value='{SLUG}']", state="attached")
    yield "quiz"

    page.select_option("#quiz-select", SLUG)
    page.click("#quiz-start")
    page.wait_for_selector("#quiz-form:not([hidden]) fieldset.question")
    page.wait_for_selector("#progress table")
    yield "quiz-started"

    fieldsets = {
        qid: page.locator(f"fieldset[data-question-id='{qid}']") for qid in bank_questions()
    }
    numeric = fieldsets["q1-variance-20-layers"]
    numeric.get_by_label("Your answer").fill("two to the twenty")
    page.click("#quiz-submit")
    numeric.locator(".field-error:not(:empty)").wait_for()
    yield "quiz-unreadable-answer"

    # 40 and choice b are common mistakes: their targeted feedback shows beside the answers.
    numeric.get_by_label("Your answer").fill("40")
    fieldsets["q2-linear-stack-variance"].get_by_label("Your answer").fill("1")
    fieldsets["q3-internal-covariate-shift"].locator("input[value='b']").check()
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-results li.incorrect")
    assert page.locator("#quiz-form .misconception").count() == 2
    yield "quiz-graded-not-passed"

    page.click("#quiz-start")  # "Try again"
    page.wait_for_selector("#quiz-form fieldset.question input:enabled")
    answer_all_correctly(page, fieldsets)
    page.click("#quiz-submit")
    page.wait_for_selector("#quiz-score.passed")
    yield "quiz-passed"

    # Another attempt, while the learner's token expires.
    page.click("#quiz-start")
    page.wait_for_selector("#quiz-form fieldset.question input:enabled")
    submission = "**/v1/attempts/*/submission"
    page.route(submission, lambda route: route.fulfill(**_problem(401, "Unauthorized", "")))
    page.click("#quiz-submit")
    page.locator("#quiz-error").filter(has_text="session has ended").wait_for()
    yield "quiz-session-ended"


def instructor_states(page: Any) -> Iterator[str]:
    """The class page (/lti/instructor) with the API answering as it would for a course (the
    real launch and roster are driven in test_lti_pages.py)."""
    page.watch.allow("status of 401")
    page.goto("/lti/instructor")
    page.locator("#class-status").filter(has_text="Open this page from your LMS").wait_for()
    yield "instructor-without-launch"

    page.route("**/v1/lti/instructor/class", lambda route: route.fulfill(json=CLASS_VIEW))
    queued = {
        "user_id": "u-a",
        "attempt_id": "00000000-0000-4000-8000-000000000001",
        "score_given": 4.0,
        "score_maximum": 4.0,
        "queued_at": "2026-12-07T12:00:00Z",
    }
    page.route("**/v1/lti/instructor/grades", lambda route: route.fulfill(json=queued))
    page.goto("/lti/instructor#token=lti-instructor.sample")
    page.wait_for_selector("#class-view:not([hidden]) #roster-table tbody tr")
    yield "instructor-class"

    page.get_by_role("button", name="Send Alan Turing's grade again").click()
    page.locator("#class-status").filter(has_text="queued for your LMS").wait_for()
    yield "instructor-grade-queued"

    page.unroute("**/v1/lti/instructor/class")
    expired = _problem(401, "Unauthorized", "The instructor token has expired: launch again.")
    page.route("**/v1/lti/instructor/class", lambda route: route.fulfill(**expired))
    page.reload()
    page.locator("#class-error").filter(has_text="expired").wait_for()
    yield "instructor-token-expired"


def _member(user_id: str, name: str, state: str, best: float | None, role: str = "learner") -> Any:
    return {"user_id": user_id, "name": name, "role": role, "status": "Active",
            "learner_id": None, "state": state, "attempts": int(best is not None),
            "best_score": best, "last_submitted_at": None}  # fmt: skip


CLASS_VIEW = {
    "context_id": "course-1",
    "course_title": "Deep learning 101",
    "quiz": SLUG,
    "quiz_title": "Activations across depth",
    "max_score": 4.0,
    "roster_synced_at": "2026-12-07T12:00:00Z",
    "roster_error": None,
    "members": [
        _member("u-t", "Ada Lovelace", "not_started", None, role="staff"),
        _member("u-a", "Alan Turing", "submitted", 4.0),
        _member("u-b", "Barbara Liskov", "in_progress", None),
        _member("u-c", "Claude Shannon", "not_started", None),
    ],
    "not_started": [_member("u-c", "Claude Shannon", "not_started", None)],
    "analytics": {
        "attempts": 1,
        "max_score": 4.0,
        "mean_score": 4.0,
        "median_score": 4.0,
        "score_sd": None,
        "cronbach_alpha": None,
        "reasons": {},
        "questions": [
            {
                "id": "q1-variance-20-layers",
                "attempts": 1,
                "max_score": 1.0,
                "facility_index": 100.0,
                "sd": None,
                "discrimination_index": None,
                "discriminative_efficiency": None,
                "reasons": {"discrimination_index": "needs at least 2 attempts"},
                "choices": {},
                "misconceptions": {"added-factors": 0, "standard-deviation": 0},
            },
            {
                "id": "q3-internal-covariate-shift",
                "attempts": 1,
                "max_score": 1.0,
                "facility_index": 0.0,
                "sd": None,
                "discrimination_index": None,
                "discriminative_efficiency": None,
                "reasons": {"discrimination_index": "needs at least 2 attempts"},
                "choices": {"a": 0, "b": 1, "c": 0, "d": 0},
                "misconceptions": {"dataset-shift": 1, "exploding-gradients": 0},
            },
        ],
    },
}


WALKS: dict[str, Walk] = {
    "simulation": simulation_states,
    "training": training_states,
    "playground": playground_states,
    "quiz": quiz_states,
    "instructor": instructor_states,
    "batch-size": batch_size_states,
}


def problems_in(page: Any, state: str, viewport: str) -> list[str]:
    """Everything the automated checks find in what the page shows now."""
    found = []
    violations = axe_violations(page)
    if violations:
        found.append(describe_violations(violations, f"{state} at {viewport} width"))
    if failures := contrast(page)["failures"]:
        found.append(f"{state} at {viewport} width: text below the contrast minimum: {failures}")
    if viewport == "phone":
        page.evaluate("window.scrollTo(0, 0)")
        layout = overflow(page)
        if layout["scrollWidth"] > layout["width"] or layout["wide"]:
            found.append(f"{state} at phone width scrolls sideways: {layout}")
    return found


@pytest.mark.parametrize("viewport", ["desktop", "phone"])
@pytest.mark.parametrize("walk", WALKS)
def test_every_state_passes_the_automated_checks(
    request: pytest.FixtureRequest, walk: str, viewport: str, screenshots: Path
) -> None:
    page = request.getfixturevalue("page" if viewport == "desktop" else "phone_page")
    found: list[str] = []
    states = []
    for state in WALKS[walk](page):
        states.append(state)
        page.screenshot(path=screenshots / f"axe-{viewport}-{state}.png", full_page=True)
        found += problems_in(page, state, viewport)
    assert states, f"the {walk} walk reached no state"
    assert not found, "\n\n".join(found)
