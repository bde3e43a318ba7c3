"""POST /v1/simulations/batch-norm-modes and /batch-size-sweep over HTTP: the documented shape,
cells that re-run alone through the trainer, determinism, and MAX_SWEEP_COST refusals.
(tests/numerics/training/test_batch_size_*.py check the numbers against torch.)"""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.numerics.training import build_training_spec, run_training
from service.simulations.batch_size_schemas import BatchNormModesSchema, BatchSizeSweepSchema

MODES = "/v1/simulations/batch-norm-modes"
SWEEP = "/v1/simulations/batch-size-sweep"
SMALL = {
    "dataset": {"name": "blobs", "samples": 240, "classes": 3, "features": 6},
    "hidden_widths": [16, 16],
    "groups": 4,
    "epochs": 2,
    "seed": 3,
}


def test_modes_evaluate_one_network_three_ways(client: FlaskClient) -> None:
    response = client.post(MODES, json={**SMALL, "batch_sizes": [2, 16], "momenta": [0.1, 0.5]})
    assert response.status_code == 200
    body = response.json
    assert BatchNormModesSchema().validate(body) == {}
    cells = body["cells"]
    assert [(c["batch_size"], c["momentum"]) for c in cells] == [
        (2, 0.1), (2, 0.5), (16, 0.1), (16, 0.5)
    ]  # fmt: skip
    for cell in cells:
        assert [m["mode"] for m in cell["modes"]] == ["running", "batch", "population"]
        running, batch, _ = cell["modes"]
        assert cell["accuracy_gap"] == pytest.approx(
            running["test_accuracy"] - batch["test_accuracy"]
        )
        assert [layer["layer"] for layer in cell["layers"]] == [1, 2]
        # The cell's request re-trains it: the running figures are the trainer's own.
        summary = run_training(build_training_spec(**cell["request"])).summary.variants[0]
        assert summary.final_test_accuracy == running["test_accuracy"]
    # Momentum changes the running averages only: training and batch figures are shared.
    assert cells[0]["modes"][1] == cells[1]["modes"][1]
    assert cells[0]["modes"][0] != cells[1]["modes"][0]
    # At batch size 2 batch norm's statistics are far from the running ones.
    assert (
        cells[0]["layers"][0]["normalized_difference"]
        > cells[2]["layers"][0]["normalized_difference"]
    )
    assert any("momentum" in note for note in body["notes"])


def test_sweep_cells_rerun_alone_and_repeat_exactly(client: FlaskClient) -> None:
    request = {
        **SMALL,
        "batch_sizes": [2, 8],
        "normalizations": ["batch", "group"],
        "scale_learning_rate": True,
        "reference_batch_size": 8,
        "optimizer": {"name": "sgd", "learning_rate": 0.2},
    }
    body = client.post(SWEEP, json=request).json
    assert BatchSizeSweepSchema().validate(body) == {}
    assert body == client.post(SWEEP, json=request).json
    cells = {(c["batch_size"], c["normalization"]): c for c in body["cells"]}
    assert set(cells) == {(2, "batch"), (2, "group"), (8, "batch"), (8, "group")}
    assert cells[(2, "group")]["learning_rate"] == pytest.approx(0.05)
    assert cells[(8, "group")]["learning_rate"] == pytest.approx(0.2)
    for cell in cells.values():
        (run,) = cell["runs"]
        assert run["seed"] == 3
        assert cell["test_error"] == pytest.approx(1 - cell["mean_test_accuracy"])
        summary = run_training(build_training_spec(**run["request"])).summary.variants[0]
        assert summary.final_test_accuracy == run["final_test_accuracy"]
        assert summary.final_test_loss == run["final_test_loss"]
    assert any("23.6%" in note for note in body["notes"])
    # ... and through the training endpoint, which takes the same request.
    run = cells[(8, "group")]["runs"][0]
    trained = client.post("/v1/simulations/training", json=run["request"])
    assert trained.status_code == 200
    (variant,) = trained.json["summary"]["variants"]
    assert variant["final_test_accuracy"] == run["final_test_accuracy"]
    assert variant["final_test_loss"] == run["final_test_loss"]


@pytest.mark.parametrize("url", [MODES, SWEEP])
def test_over_expensive_grids_are_422_naming_the_limit(settings: Settings, url: str) -> None:
    client = create_app(settings.with_overrides(max_sweep_cost=1e6)).test_client()
    response = client.post(url, json={**SMALL, "batch_sizes": [2, 8]})
    assert response.status_code == 422
    assert response.json["limit"] == {"name": "MAX_SWEEP_COST", "value": 1e6}
    assert response.json["cost"] > 1e6
    assert "MAX_SWEEP_COST" in response.json["detail"]


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        (SWEEP, {"batch_sizes": [1]}, "batch_sizes[0]"),
        (SWEEP, {"batch_sizes": [4], "normalizations": ["weight"]}, "normalizations[0]"),
        (SWEEP, {"batch_sizes": [4], "optimizer": {"learning_rate": -1}}, "learning_rate"),
        (SWEEP, {"batch_sizes": [4], "hidden_widths": [10]}, "groups"),
        (SWEEP, {"batch_sizes": [4], "epochs": "3"}, "epochs"),
        (MODES, {"batch_sizes": [4], "momenta": [2.0]}, "momenta[0]"),
        (MODES, {"momenta": [0.1]}, "batch_sizes"),
        (MODES, {"batch_sizes": [4], "dataset": {"name": "mnist"}}, "dataset"),
    ],
)
def test_bad_inputs_are_422_naming_the_field(
    client: FlaskClient, url: str, body: dict, field: str
) -> None:
    response = client.post(url, json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in str(response.json["errors"])
