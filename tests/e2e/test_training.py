"""The training tab against the real API: a run streams in, the numbers shown are the API's, Stop
ends the request (and the server's computation), refusals land next to their control, and all of
it works from the keyboard. Runs are kept tiny: the e2e budget is tight."""

from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import LiveServer

pytestmark = pytest.mark.e2e

URL = "/v1/simulations/training"


def open_training(page: Any) -> None:
    page.goto("/")
    page.click("#tab-training")


def small_run(page: Any, *, steps: int = 20) -> None:
    """Two hidden layers of 16 units on the digits: three logged steps, in about a second."""
    page.fill("#train-depth", "2")
    page.fill("#train-width", "16")
    page.fill("#train-steps", str(steps))


def wait_for_state(page: Any, state: str) -> None:
    page.wait_for_selector(f"#train-controls[data-state='{state}']")


def js_percent(fraction: float) -> str:
    """format.js formatPercent: one decimal, trailing zeros dropped."""
    return f"{fraction * 100:.1f}".rstrip("0").rstrip(".") + "%"


def test_a_run_streams_in_and_shows_the_apis_numbers(
    page: Any, live_server: LiveServer, screenshots: Path
) -> None:
    open_training(page)
    assert page.get_attribute("#train-progress", "aria-valuetext") == "not started"
    small_run(page)
    with page.expect_request(f"**{URL}") as sent:
        page.click("#train-start")
    body = sent.value.post_data_json
    assert sent.value.headers["accept"] == "text/event-stream"
    assert body["hidden_widths"] == [16, 16]
    assert (body["activation"], body["init"]) == ("sigmoid", "custom")
    assert body["weight_variance"] == 0.01
    assert (body["normalization"], body["compare"]) == ("none", ["batch"])
    assert body["dataset"] == {"name": "digits"}
    wait_for_state(page, "finished")

    progress = page.locator("#train-progress")
    assert progress.get_attribute("aria-valuemax") == "20"
    assert progress.get_attribute("aria-valuenow") == "20"
    assert page.text_content("#train-status") == "finished"
    assert page.is_enabled("#train-start")
    assert page.is_disabled("#train-stop")
    assert page.text_content("#train-announcer").startswith("Training finished.")

    status, answer = live_server.api("POST", URL, body, {"Accept": "application/json"})
    assert status == 200, answer
    assert answer["logged_steps"] == [0, 10, 20]
    for summary in answer["summary"]["variants"]:
        item = page.locator(f"#train-results li[data-variant='{summary['variant']}']")
        shown = item.locator(".test-accuracy")
        assert float(shown.get_attribute("data-value")) == summary["final_test_accuracy"]
        assert shown.inner_text() == js_percent(summary["final_test_accuracy"])

    # The percentile table: one row per logged step, the chosen layer (the last) of each run.
    assert page.input_value("#train-layer") == "2"
    page.click("#panel-training details.data-table summary")
    rows = page.locator("#train-bands-table tbody tr")
    rows.nth(2).wait_for()  # built when the table opens
    assert rows.evaluate_all("rows => rows.map(r => Number(r.dataset.step))") == [0, 10, 20]
    for variant in ("none", "batch"):
        expected = answer["variants"][variant]["layers"][1]["unit_percentiles"][-1]
        cells = rows.nth(2).locator(f"td[data-variant='{variant}']")
        assert [float(v) for v in cells.evaluate_all("cs => cs.map(c => c.dataset.value)")] == (
            expected
        )
        median = expected[1]
        assert 1e-3 <= abs(median) < 1e4  # where formatNumber writes 4 significant digits
        assert cells.nth(1).inner_text() == f"{median:.4g}"

    # The histogram scrubs back to step 0 by keyboard.
    page.focus("#train-scrub")
    page.keyboard.press("Home")
    assert page.text_content("#train-scrub-output") == "0"
    assert page.get_attribute("#train-scrub", "aria-valuetext") == "step 0"
    titles = page.locator("#train-histograms figcaption strong").all_inner_texts()
    assert titles == ["no normalization, layer 2, step 0", "batch norm, layer 2, step 0"]
    counts = answer["variants"]["batch"]["layers"][1]["histogram"][0]
    bars = page.locator("#train-histograms figure[data-variant='batch'] rect.bar")
    assert bars.count() == len(counts) == len(answer["histogram_edges"]) - 1
    page.screenshot(path=screenshots / "desktop-training-finished.png", full_page=True)


def test_stop_ends_the_run_by_keyboard(page: Any, live_server: LiveServer) -> None:
    runs = live_server.app.extensions["trainer"].runs
    cancelled = runs.cancelled
    open_training(page)
    # Long enough never to finish here (a seed of its own: no stored result to replay).
    page.fill("#train-depth", "2")
    page.fill("#train-width", "32")
    page.fill("#train-steps", "5000")
    page.click("#train-controls details.advanced summary")
    page.fill("#train-seed", "4242")
    page.focus("#train-steps")
    page.keyboard.press("Enter")  # submits the form
    wait_for_state(page, "running")
    assert page.is_disabled("#train-start")
    assert page.evaluate("document.activeElement.id") == "train-stop"
    # Events arrive: the progress bar moves past the first logged step.
    page.wait_for_function(
        "() => Number(document.getElementById('train-progress').getAttribute('aria-valuenow'))"
        " >= 20"
    )
    page.keyboard.press("Enter")  # Stop, which has the focus
    wait_for_state(page, "stopped")
    assert page.is_enabled("#train-start")
    assert page.is_disabled("#train-stop")
    assert page.evaluate("document.activeElement.id") == "train-start"
    reached = page.get_attribute("#train-progress", "aria-valuenow")
    assert page.text_content("#train-status") == f"stopped at step {reached} of 5000"
    assert page.text_content("#train-announcer") == f"Training stopped at step {reached}."
    page.click("#panel-training details.data-table summary")
    page.locator("#train-bands-table tbody tr").first.wait_for()
    shown = page.locator("#train-bands-table tbody tr").count()
    assert 0 < shown < 501

    # The server saw the client leave and stopped computing; nothing more reaches the page.
    deadline = time.monotonic() + 30
    while runs.cancelled == cancelled and time.monotonic() < deadline:
        time.sleep(0.1)
    assert runs.cancelled == cancelled + 1
    assert page.get_attribute("#train-progress", "aria-valuenow") == reached
    assert page.locator("#train-bands-table tbody tr").count() == shown
    assert page.get_attribute("#train-controls", "data-state") == "stopped"


def test_a_refused_spec_is_shown_next_to_its_control(page: Any) -> None:
    page.watch.allow("status of 422")
    open_training(page)
    small_run(page)
    page.check("#train-compare input[value='group']")
    page.click("#train-controls details.advanced summary")
    page.fill("#train-groups", "3")  # 16 units do not split into 3 groups
    page.click("#train-start")
    wait_for_state(page, "failed")
    assert "must divide every hidden width" in page.inner_text("#train-groups-error")
    assert page.get_attribute("#train-groups", "aria-invalid") == "true"
    assert "Groups (group norm)" in page.inner_text("#train-error")

    # Checked in the page before anything is sent.
    page.fill("#train-learning-rate", "0")
    page.click("#train-start")
    page.locator("#train-learning-rate-error").filter(has_text="greater than").wait_for()
    assert page.is_enabled("#train-start")


def test_presets_set_the_initialization(page: Any) -> None:
    open_training(page)
    pressed = "[data-train-preset][aria-pressed=true]"
    assert page.get_attribute(pressed, "data-train-preset") == "small"
    page.click("[data-train-preset=he]")
    assert page.input_value("#train-init") == "he_normal"
    assert page.is_hidden("#train-weight-variance")
    page.click("[data-train-preset=exploding]")
    assert (page.input_value("#train-init"), page.input_value("#train-weight-variance")) == (
        "custom",
        "1",
    )
    assert page.get_attribute(pressed, "data-train-preset") == "exploding"
    # The first run's normalization cannot also be a comparison.
    page.select_option("#train-normalization", "batch")
    assert page.is_disabled("#train-compare input[value='batch']")
    assert not page.is_checked("#train-compare input[value='batch']")
    assert math.isclose(float(page.input_value("#train-learning-rate")), 0.5)


def test_a_diverged_run_is_said_in_words(page: Any, live_server: LiveServer) -> None:
    open_training(page)
    page.fill("#train-depth", "2")
    page.fill("#train-width", "12")
    page.fill("#train-steps", "60")
    page.select_option("#train-dataset", "spirals")
    page.select_option("#train-activation", "linear")
    page.click("[data-train-preset=he]")
    page.fill("#train-learning-rate", "5")
    with page.expect_request(f"**{URL}") as sent:
        page.click("#train-start")
    wait_for_state(page, "finished")
    status, answer = live_server.api("POST", URL, sent.value.post_data_json)
    assert status == 200, answer
    at = answer["variants"]["none"]["diverged_at_step"]
    assert at is not None
    assert answer["variants"]["batch"]["diverged_at_step"] is None
    diverged = page.locator("#train-results li.diverged")
    assert diverged.get_attribute("data-variant") == "none"
    assert f"Diverged at step {at}: the loss stopped being a finite number" in diverged.inner_text()
    assert diverged.locator(".test-accuracy").inner_text() == "—"
    assert page.locator("#train-results li[data-variant='batch']:not(.diverged)").count() == 1
    assert "Training finished." in page.text_content("#train-announcer")
    assert f"diverged at step {at}" in page.text_content("#train-announcer")


# The page's own SSE parser, fed the awkward cases: an event split across chunks and inside a
# CRLF, comment lines (the server's heartbeats), multi-line data, an unnamed event, and an event
# cut off by the end of the stream (dropped, as EventSource drops it).
_PARSE = """async (chunks) => {
  const { SseParser } = await import('/static/training-stream.js');
  const seen = [];
  const parser = new SseParser((type, data) => seen.push([type, data]));
  for (const chunk of chunks) parser.push(chunk);
  return seen;
}"""


def test_the_event_stream_parser(page: Any) -> None:
    open_training(page)
    chunks = [
        'event: start\ndata: {"a": 1}\n',
        "\n: heartbeat\n\nevent: st",
        'ep\r\ndata: {"b":\r',
        "\ndata: 2}\r\n\r\n",
        "data: plain\n\n",
        "event: summary\ndata: {}",
    ]
    assert page.evaluate(_PARSE, chunks) == [
        ["start", '{"a": 1}'],
        ["step", '{"b":\n2}'],
        ["message", "plain"],
    ]


def _sse(*events: tuple[str, dict[str, Any]]) -> str:
    return "".join(f"event: {name}\ndata: {json.dumps(data)}\n\n" for name, data in events)


def _record(step: int) -> dict[str, Any]:
    layer = {
        "layer": 1, "mean": 0.0, "variance": 1.0, "unit_percentiles": [-1.0, 0.0, 1.0],
        "layer_percentiles": [-1.0, 0.0, 1.0], "saturated_fraction": 0.0, "histogram": [1, 2],
        "below_range": 0, "above_range": 0, "distribution_shift": None, "grad_norm": None,
        "update_ratio": None, "gradient_shift": None, "gradient_cosine": None, "null_reasons": {},
    }  # fmt: skip
    return {
        "variant": "none", "step": step, "first_step": 1, "batch_losses": [], "train_loss": 2.0,
        "train_accuracy": 0.25, "test_loss": 2.0, "test_accuracy": 0.25, "layers": [layer],
        "diverged": False, "null_reasons": {},
    }  # fmt: skip


def test_an_error_event_mid_run_is_shown_and_the_steps_so_far_stay(page: Any) -> None:
    problem = {
        "type": "urn:activation-lab:problem:training-failed", "status": 500,
        "title": "Internal Server Error", "detail": "the training run failed unexpectedly",
    }  # fmt: skip
    start = {"variants": ["none"], "logged_steps": [0, 10, 20], "histogram_edges": [-1, 0, 1]}
    body = _sse(("start", start), ("step", _record(0)), ("step", _record(10)), ("error", problem))
    page.route(
        f"**{URL}",
        lambda route: route.fulfill(status=200, content_type="text/event-stream", body=body),
    )
    open_training(page)
    page.fill("#train-depth", "1")
    page.fill("#train-steps", "20")
    page.uncheck("#train-compare input[value='batch']")
    page.click("#train-start")
    wait_for_state(page, "failed")
    assert "the training run failed unexpectedly" in page.inner_text("#train-error")
    assert page.get_attribute("#train-progress", "aria-valuenow") == "10"
    assert page.inner_text("#train-results li[data-variant='none'] .test-accuracy") == "25%"
    assert page.is_enabled("#train-start")
    assert page.is_disabled("#train-stop")
