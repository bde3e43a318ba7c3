"""POST /v1/simulations/training over HTTP: the three representations carry the numerics' own
records (compared with a run made here), identical bytes for identical requests, and refusals
as problem documents."""

from __future__ import annotations

import dataclasses
import io
from collections.abc import Iterator
from typing import Any

import numpy as np
import orjson
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.numerics.training import build_training_spec, run_training

URL = "/v1/simulations/training"
SSE = {"Accept": "text/event-stream"}
NPZ = {"Accept": "application/x-npz"}
# Small and quick, but every feature: compare, a normalization with scale and shift, momentum.
SPEC: dict[str, Any] = {
    "dataset": {"name": "blobs", "samples": 200, "classes": 3, "features": 5},
    "hidden_widths": [8, 8],
    "activation": "sigmoid",
    "init": "custom",
    "weight_variance": 0.5,
    "normalization": "batch",
    "compare": ["none"],
    "optimizer": {"name": "sgd", "learning_rate": 0.5, "momentum": 0.9, "weight_decay": 0},
    "batch_size": 20,
    "steps": 30,
    "log_every": 10,
    "probe_size": 32,
    "seed": 3,
}
DIVERGING: dict[str, Any] = {
    "dataset": {"name": "spirals", "samples": 300, "classes": 3, "features": 4},
    "hidden_widths": [12, 10],
    "activation": "linear",
    "init": "he_normal",
    "normalization": "none",
    "compare": ["batch"],
    "optimizer": {"name": "sgd", "learning_rate": 5.0, "momentum": 0.9},
    "batch_size": 16,
    "steps": 60,
    "log_every": 10,
    "probe_size": 40,
    "seed": 9,
}


def parse_sse(data: bytes) -> list[tuple[str, Any]]:
    """(event, decoded data) for each event; comment lines are skipped."""
    events = []
    for block in data.decode().split("\n\n"):
        lines = [line for line in block.split("\n") if line and not line.startswith(":")]
        if not lines:
            continue
        fields = dict(line.split(": ", 1) for line in lines)
        events.append((fields["event"], orjson.loads(fields["data"])))
    return events


@pytest.fixture
def uncached(settings: Settings) -> Iterator[Flask]:
    """An app that keeps no finished run: every request computes."""
    application = create_app(settings.with_overrides(caches_enabled=False))
    yield application
    application.extensions["database"].dispose()


def test_the_stream_sends_start_every_record_by_its_fields_and_the_summary(
    client: FlaskClient,
) -> None:
    response = client.post(URL, json=SPEC, headers=SSE)
    assert response.status_code == 200
    assert response.mimetype == "text/event-stream"
    assert response.headers["Cache-Control"] == "no-cache"
    assert response.headers["X-Accel-Buffering"] == "no"
    events = parse_sse(response.data)
    expected = run_training(build_training_spec(**SPEC))
    names = [name for name, _ in events]
    assert names == ["start"] + ["step"] * len(expected.records) + ["summary"]
    start = events[0][1]
    assert start["variants"] == ["batch", "none"]
    assert start["logged_steps"] == [0, 10, 20, 30]
    assert start["histogram_edges"] == np.linspace(-8, 8, 41).tolist()
    assert (start["probe_rows"], start["train_rows"], start["test_rows"]) == (32, 150, 50)
    assert start["spec"]["optimizer"]["betas"] == [0.9, 0.999]  # the defaults, filled in
    records = [orjson.loads(orjson.dumps(dataclasses.asdict(r))) for r in expected.records]
    assert [data for _, data in events[1:-1]] == records
    assert set(events[1][1]) == {
        "variant", "step", "first_step", "batch_losses", "train_loss", "train_accuracy",
        "test_loss", "test_accuracy", "layers", "diverged", "null_reasons",
    }  # fmt: skip
    assert events[-1][1] == orjson.loads(orjson.dumps(dataclasses.asdict(expected.summary)))


def test_json_is_column_wise_with_the_records_values(client: FlaskClient) -> None:
    body = client.post(URL, json=SPEC).json
    expected = run_training(build_training_spec(**SPEC))
    assert body["logged_steps"] == [0, 10, 20, 30]
    assert body["spec"]["dataset"]["samples"] == 200
    batch = body["variants"]["batch"]
    records = [r for r in expected.records if r.variant == "batch"]
    assert batch["step"] == [0, 10, 20, 30]
    assert batch["batch_loss"] == expected.arrays["batch_loss_batch"].tolist()
    assert len(batch["batch_loss"]) == 30
    assert batch["test_accuracy"] == [r.test_accuracy for r in records]
    assert batch["diverged_at_step"] is None
    second = batch["layers"][1]
    assert second["layer"] == 2
    assert second["unit_percentiles"] == [list(r.layers[1].unit_percentiles) for r in records]
    assert second["histogram"] == [list(r.layers[1].histogram) for r in records]
    assert second["gradient_cosine"][0] is None
    assert second["gradient_cosine"][1:] == [r.layers[1].gradient_cosine for r in records[1:]]
    assert second["null_reasons"]["grad_norm"] == [
        {"reason": records[0].layers[1].null_reasons["grad_norm"], "steps": [0]}
    ]
    assert body["summary"]["variants"][1]["variant"] == "none"


def test_a_diverged_run_is_a_result_that_says_its_step(client: FlaskClient) -> None:
    response = client.post(URL, json=DIVERGING)
    assert response.status_code == 200
    assert b"NaN" not in response.data
    assert b"Infinity" not in response.data
    none = response.json["variants"]["none"]
    step = none["diverged_at_step"]
    assert 1 <= step <= 60
    assert len(none["batch_loss"]) == step
    assert none["batch_loss"][-1] is None
    assert none["null_reasons"]["batch_loss"][0]["steps"] == [step]
    assert none["step"][-1] < step
    assert response.json["variants"]["batch"]["diverged_at_step"] is None


def test_the_npz_holds_the_replay_arrays_and_the_history(client: FlaskClient) -> None:
    response = client.post(URL, json=SPEC, headers=NPZ)
    assert response.status_code == 200
    assert response.mimetype == "application/x-npz"
    arrays = dict(np.load(io.BytesIO(response.data), allow_pickle=False))
    expected = run_training(build_training_spec(**SPEC))
    for name, value in expected.arrays.items():
        assert arrays[name].dtype == value.dtype, name
        np.testing.assert_array_equal(arrays[name], value, err_msg=name)
    for name in ("x_train", "x_test", "initial_weight_3", "initial_scale_2", "initial_shift_1"):
        assert arrays[name].dtype == np.float64
    assert arrays["initial_weight_1"].shape == (5, 8)  # (fan_in, fan_out): x @ W + b
    assert arrays["batch_indices"].shape == (30, 20)
    assert arrays["y_train"].dtype == np.int64
    np.testing.assert_array_equal(arrays["batch_loss"], arrays["batch_loss_batch"])
    np.testing.assert_array_equal(arrays["step_none"], [0, 10, 20, 30])
    records = [r for r in expected.records if r.variant == "none"]
    np.testing.assert_array_equal(
        arrays["unit_percentiles_none"][:, 0], [r.layers[0].unit_percentiles for r in records]
    )
    np.testing.assert_array_equal(arrays["train_loss"], arrays["train_loss_batch"])


@pytest.mark.parametrize("accept", [None, "text/event-stream", "application/x-npz"])
def test_identical_requests_give_identical_bytes(uncached: Flask, accept: str | None) -> None:
    client = uncached.test_client()
    headers = {"Accept": accept} if accept else {}
    first = client.post(URL, json=SPEC, headers=headers)
    assert first.status_code == 200
    body = first.data  # read to the end (a stream still being read would be shared)
    assert client.post(URL, json=SPEC, headers=headers).data == body
    assert uncached.extensions["trainer"].runs.computed == 2  # computed twice, not replayed


@pytest.mark.parametrize("accept", [None, "text/event-stream", "application/x-npz"])
def test_a_stored_run_gives_the_bytes_of_a_computed_one(
    app: Flask, uncached: Flask, accept: str | None
) -> None:
    headers = {"Accept": accept} if accept else {}
    client = app.test_client()
    computed = client.post(URL, json=SPEC, headers=headers).data
    replayed = client.post(URL, json=SPEC, headers=headers).data
    fresh = uncached.test_client().post(URL, json=SPEC, headers=headers).data
    runs = app.extensions["trainer"].runs
    assert (runs.computed, runs.replayed) == (1, 1)
    assert computed == replayed == fresh


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"hidden_widths": [8, "x"]}, "hidden_widths"),
        ({"activation": "swish"}, "activation"),
        ({"normalization": "weight"}, "normalization"),
        ({"compare": ["batch"]}, "compare"),  # repeats the spec's own normalization
        ({"optimizer": {"name": "sgd", "learning_rate": 0}}, "optimizer.learning_rate"),
        ({"optimizer": {"name": "rmsprop"}}, "optimizer"),
        ({"dataset": {"name": "mnist"}}, "dataset"),
        ({"batch_size": 1000}, "batch_size"),
        ({"groups": 3, "normalization": "group"}, "groups"),
        ({"init": "he_normal"}, "weight_variance"),  # weight_variance is for init custom only
        ({"steps": 10.5}, "steps"),
        ({"surprise": 1}, "surprise"),
    ],
)
def test_bad_specs_are_422_naming_the_field(
    client: FlaskClient, change: dict[str, Any], field: str
) -> None:
    response = client.post(URL, json={**SPEC, **change})
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    assert field in response.json["errors"]
    assert response.json["detail"]


def test_a_run_above_max_training_cost_is_refused_naming_the_limit(settings: Settings) -> None:
    app = create_app(settings.with_overrides(max_training_cost=1e6))
    try:
        response = app.test_client().post(URL, json=SPEC, headers=SSE)
    finally:
        app.extensions["database"].dispose()
    assert response.status_code == 422
    problem = response.json
    assert problem["type"].endswith(":limit-exceeded")
    assert problem["limit"] == {"name": "MAX_TRAINING_COST", "value": 1e6}
    assert problem["cost"] > 1e6
    assert "MAX_TRAINING_COST" in problem["detail"]


def test_an_unsupported_accept_is_406(client: FlaskClient) -> None:
    response = client.post(URL, json=SPEC, headers={"Accept": "text/csv"})
    assert response.status_code == 406
    assert response.mimetype == "application/problem+json"


def test_a_missing_body_is_a_problem_not_a_500(client: FlaskClient) -> None:
    response = client.post(URL, data=b"{", headers={"Content-Type": "application/json"})
    assert response.status_code == 400
    assert client.post(URL, json={}).status_code == 422


def test_a_run_failing_midway_ends_the_stream_with_an_error_event(
    uncached: Flask, monkeypatch: pytest.MonkeyPatch
) -> None:
    from service.simulations import training

    def failing(spec: object) -> Iterator[tuple[str, bytes]]:
        yield "start", b"{}"
        raise RuntimeError("a bug")

    monkeypatch.setattr(training, "training_events", failing)
    client = uncached.test_client()
    events = parse_sse(client.post(URL, json=SPEC, headers=SSE).data)
    assert [name for name, _ in events] == ["start", "error"]
    problem = events[1][1]
    assert problem["status"] == 500
    assert problem["type"].endswith(":training-failed")
    assert problem["detail"]
    response = client.post(URL, json=SPEC)
    assert response.status_code == 500
    assert response.mimetype == "application/problem+json"
    assert response.json["type"].endswith(":training-failed")
