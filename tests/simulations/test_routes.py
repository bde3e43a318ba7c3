"""/v1/simulations over HTTP: the lesson's numbers, both modes, the GET form and refusals.
(tests/numerics covers the mathematics in depth.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
from flask import Flask
from flask.testing import FlaskClient

from service import create_app
from service.api import ProblemSchema
from service.config import Settings

LESSON = "/v1/simulations/propagation"


@pytest.mark.parametrize(
    ("weight_variance", "final", "regime"),
    [(1.0, 1e20, "exploding"), (0.01, 1.0, "stable"), (0.001, 1e-10, "vanishing")],
)
def test_the_lessons_three_settings(
    client: FlaskClient, weight_variance: float, final: float, regime: str
) -> None:
    body = client.post(
        LESSON, json={"depth": 10, "width": 100, "weight_variance": weight_variance}
    ).json
    assert body["final_variance"] == pytest.approx(final, rel=1e-12)
    assert body["log10_final_variance"] == pytest.approx(math.log10(final), abs=1e-12)
    assert body["regime"] == regime
    per_layer = [layer["variance"] for layer in body["layers"]]
    assert per_layer == pytest.approx(
        [(100 * weight_variance) ** k for k in range(1, 11)], rel=1e-12
    )
    assert body["gain_per_layer"] == pytest.approx(100 * weight_variance, rel=1e-12)


def test_twenty_doublings_give_two_to_the_twenty(client: FlaskClient) -> None:
    body = client.post(LESSON, json={"depth": 20, "width": 2, "weight_variance": 1.0}).json
    assert body["final_variance"] == 2**20
    assert body["final_variance"] == 1_048_576


def test_overflowing_variance_is_null_with_its_log(client: FlaskClient) -> None:
    response = client.post(LESSON, json={"depth": 400, "width": 100, "weight_variance": 1.0})
    body = response.json
    assert body["final_variance"] is None
    assert body["log10_final_variance"] == pytest.approx(800.0)
    assert b"Infinity" not in response.data
    assert b"NaN" not in response.data


def test_get_form_equals_post(client: FlaskClient) -> None:
    query = "depth=6&width=50&init=he_normal&activation=relu&backward=true"
    got = client.get(f"{LESSON}?{query}").json
    posted = client.post(
        LESSON,
        json={"depth": 6, "width": 50, "init": "he_normal", "activation": "relu", "backward": True},
    ).json
    assert got == posted
    assert got["layers"][0]["grad_variance"] is not None


def test_he_keeps_relu_preactivations_constant(client: FlaskClient) -> None:
    body = client.post(
        LESSON, json={"depth": 8, "width": 256, "init": "he_normal", "activation": "relu"}
    ).json
    # Var(z_1) = n · (2/n) · Var(x) = 2, and ReLU's halving is undone at every later layer.
    pre = [layer["preactivation_variance"] for layer in body["layers"]]
    assert pre == pytest.approx([2.0] * 8, rel=1e-12)


def test_monte_carlo_is_seeded_and_byte_identical(client: FlaskClient) -> None:
    body = {
        "mode": "monte_carlo",
        "depth": 4,
        "width": 32,
        "weight_variance": 1 / 32,
        "activation": "tanh",
        "batch_size": 64,
        "seed": 11,
        "backward": True,
    }
    first = client.post(LESSON, json=body)
    second = client.post(LESSON, json=body)
    assert first.data == second.data
    other = client.post(LESSON, json={**body, "seed": 12})
    assert other.data != first.data
    layer = first.json["layers"][0]
    assert {"std", "min", "max", "histogram", "saturated_fraction"} <= set(layer)
    histogram = layer["histogram"]
    assert len(histogram["edges"]) == len(histogram["counts"]) + 1
    assert sum(histogram["counts"]) + histogram["below_range"] + histogram["above_range"] == 64 * 32


def test_normalization_tames_an_exploding_network(client: FlaskClient) -> None:
    body = client.post(
        LESSON,
        json={
            "mode": "monte_carlo",
            "depth": 10,
            "width": 100,
            "weight_variance": 1.0,
            "normalization": "layer",
            "batch_size": 128,
            "seed": 0,
        },
    ).json
    assert body["final_variance"] == pytest.approx(1.0, abs=0.01)
    assert body["regime"] == "stable"


def test_over_expensive_monte_carlo_is_422_naming_the_limit(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_simulation_work=1e6)).test_client()
    response = client.post(
        LESSON,
        json={
            "mode": "monte_carlo",
            "depth": 10,
            "width": 100,
            "weight_variance": 1,
            "batch_size": 100,
        },
    )
    assert response.status_code == 422
    assert response.json["type"] == "urn:activation-lab:problem:limit-exceeded"
    assert response.json["limit"] == {"name": "MAX_SIMULATION_WORK", "value": 1e6}
    # 100 · 100² · 10 multiply-adds, 200 · 100 · 100 · 10 elementwise, 200 · 100² · 10 draws,
    # 2.5e6 a layer
    assert response.json["cost"] == 10**7 + 2 * 10**7 + 2 * 10**7 + 25 * 10**6
    assert "MAX_SIMULATION_WORK" in response.json["detail"]
    assert response.json["errors"].keys() == {"batch_size"}
    assert ProblemSchema().validate(response.json) == {}  # every member is documented


@pytest.mark.parametrize(
    ("body", "limit", "field"),
    [
        # The reproductions: 168 s of work, and numpy asked for 74.5 GiB (a 500).
        (
            {"depth": 10_000, "width": 1, "batch_size": 2_000_000, "weight_variance": 1},
            "MAX_SIMULATION_WORK",
            "batch_size",
        ),
        (
            {"depth": 1, "width": 100_000, "batch_size": 2, "init": "he_normal"},
            "MAX_SIMULATION_MEMORY",
            "width",
        ),
        (
            {"depth": 1, "width": 100_000, "batch_size": 2, "backward": True, "init": "he_normal"},
            "MAX_SIMULATION_MEMORY",
            "width",
        ),
    ],
)
def test_monte_carlo_memory_and_work_are_bounded_separately(
    client: FlaskClient, body: dict, limit: str, field: str
) -> None:
    response = client.post(LESSON, json={"mode": "monte_carlo", **body})
    assert response.status_code == 422
    problem = response.json
    assert problem["limit"]["name"] == limit
    assert problem["cost"] > problem["limit"]["value"]
    assert limit in problem["detail"]
    assert problem["errors"].keys() == {field}


def test_a_run_past_its_deadline_is_503_naming_the_limit(settings: Settings) -> None:
    # A zero-second budget would mean none: one a millionth of a second is spent by layer one.
    app = create_app(settings.with_overrides(simulation_deadline_seconds=1e-6))
    response = app.test_client().post(
        LESSON,
        json={"mode": "monte_carlo", "depth": 200, "width": 64, "weight_variance": 0.03},
    )
    assert response.status_code == 503
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["type"] == "urn:activation-lab:problem:deadline-exceeded"
    assert problem["limit"] == {"name": "SIMULATION_DEADLINE_SECONDS", "value": 1e-6}
    assert "SIMULATION_DEADLINE_SECONDS" in problem["detail"]
    assert response.headers["Retry-After"] == "10"
    grid = app.test_client().post(
        "/v1/simulations/mean-field/grid",
        json={"activation": "tanh", "sigma_w2": [1, 2, 3], "sigma_b2": [0, 0.1]},
    )
    assert grid.status_code == 503
    assert grid.json["limit"]["name"] == "SIMULATION_DEADLINE_SECONDS"


def test_analytic_and_grid_runs_are_within_the_budget_too(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_simulation_work=1e6)).test_client()
    analytic = client.post(LESSON, json={"depth": 1000, "width": 10, "weight_variance": 0.1})
    assert analytic.status_code == 422
    assert analytic.json["limit"] == {"name": "MAX_SIMULATION_WORK", "value": 1e6}
    assert analytic.json["cost"] == 1000 * 20_000
    grid = client.post(
        "/v1/simulations/mean-field/grid",
        json={"activation": "tanh", "sigma_w2": [1, 2], "sigma_b2": [0]},
    )
    assert grid.status_code == 422
    assert grid.json["limit"]["name"] == "MAX_SIMULATION_WORK"
    assert grid.json["cost"] == 2 * 1_000_000


def test_an_allocation_failure_is_a_503_not_a_500(
    client: FlaskClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """What numpy raises when the machine has less memory than the estimate allowed for."""
    from service.simulations import services

    def exhausted(*args: object, **kwargs: object) -> None:
        np.empty((1 << 62,), dtype=np.uint8)  # numpy's _ArrayMemoryError, a MemoryError

    monkeypatch.setattr(services, "monte_carlo_propagation", exhausted)
    response = client.post(
        LESSON, json={"mode": "monte_carlo", "depth": 2, "width": 4, "weight_variance": 0.5}
    )
    assert response.status_code == 503
    assert response.json["type"] == "urn:activation-lab:problem:insufficient-memory"
    assert "memory" in response.json["detail"]


def test_analytic_depth_limit(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_analytic_depth=50)).test_client()
    response = client.post(LESSON, json={"depth": 51, "width": 10, "weight_variance": 0.1})
    assert response.status_code == 422
    assert response.json["limit"]["name"] == "MAX_ANALYTIC_DEPTH"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"depth": 0, "width": 10, "weight_variance": 1}, "depth"),
        ({"depth": 3, "width": 10, "weight_variance": -1}, "weight_variance"),
        ({"depth": 3, "width": 10, "weight_variance": 1, "activation": "swish"}, "activation"),
        ({"depth": 3, "width": 10, "init": "kaiming"}, "init"),
        ({"depth": 3, "width": 10, "init": "he_normal", "gain": 1.7e308}, "gain"),
        ({"depth": "3", "width": 10, "weight_variance": 1}, "depth"),
        ({"depth": 3, "width": 10, "weight_variance": "1"}, "weight_variance"),
        ({"depth": 3, "width": 10}, "weight_variance"),
        ({"depth": 3, "width": 10, "weight_variance": 1, "init": "he_normal"}, "weight_variance"),
        ({"depth": 3, "widths": [10, 10], "weight_variance": 1}, "widths"),
        (
            {"depth": 3, "width": 10, "weight_variance": 1, "normalization": "group"},
            "normalization",
        ),
    ],
)
def test_bad_inputs_name_the_field(client: FlaskClient, body: dict, field: str) -> None:
    response = client.post(LESSON, json=body)
    assert response.status_code == 422, response.json
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"]


def test_nan_token_is_refused(client: FlaskClient) -> None:
    response = client.post(
        LESSON,
        data='{"depth": 3, "width": 10, "weight_variance": NaN}',
        content_type="application/json",
    )
    assert response.status_code == 400


def test_init_schemes_lists_formulas_and_gains(client: FlaskClient) -> None:
    body = client.get("/v1/simulations/init-schemes").json
    names = [item["name"] for item in body["items"]]
    assert names == [
        "lecun_normal",
        "lecun_uniform",
        "xavier_normal",
        "xavier_uniform",
        "he_normal",
        "he_uniform",
        "orthogonal",
    ]
    gains = {gain["activation"]: gain["gain"] for gain in body["gains"]}
    assert gains["relu"] == pytest.approx(math.sqrt(2))
    assert gains["tanh"] == pytest.approx(5 / 3)


def test_mean_field_point_and_grid(client: FlaskClient, app: Flask) -> None:
    point = client.post(
        "/v1/simulations/mean-field", json={"activation": "tanh", "sigma_w2": 4.0}
    ).json
    # q* solves q = 4·E[tanh(√q z)²]: check the fixed point equation independently.
    import numpy as np

    z, w = np.polynomial.hermite_e.hermegauss(200)
    expectation = float(np.sum(w * np.tanh(np.sqrt(point["q_star"]) * z) ** 2) / np.sqrt(2 * np.pi))
    assert point["q_star"] == pytest.approx(4.0 * expectation, rel=1e-8)
    assert point["phase"] == "chaotic"
    grid = client.post(
        "/v1/simulations/mean-field/grid",
        json={"activation": "relu", "sigma_w2": [1.0, 2.0, 3.0], "sigma_b2": [0.0]},
    ).json
    assert grid["phase"] == [["ordered", "critical", "chaotic"]]
    assert grid["critical_sigma_w2"] == [pytest.approx(2.0)]


@pytest.mark.parametrize(
    ("path", "sigma_w2"),
    [("/v1/simulations/mean-field", 3e307), ("/v1/simulations/mean-field/grid", [1.0, 3e307])],
)
def test_mean_field_chi_beyond_float64_is_a_problem_not_a_null(
    client: FlaskClient, path: str, sigma_w2: object
) -> None:
    """Found by Schemathesis: χ = 3e307·(1 + 354.9²)/2 overflowed to a 200 with chi: null,
    which the schema (chi: number) does not allow."""
    body = {"activation": "leaky_relu", "negative_slope": 354.9, "sigma_w2": sigma_w2}
    if isinstance(sigma_w2, list):
        body["sigma_b2"] = [0.0]
    response = client.post(path, json=body)
    assert response.status_code == 422
    assert response.mimetype == "application/problem+json"
    problem = response.json
    assert problem["type"] == "urn:activation-lab:problem:non-finite-result"
    assert "3e+307 * 62977.5" in problem["detail"]
    assert list(problem["errors"]) == ["sigma_w2"]


@pytest.mark.parametrize(
    "body",
    [
        {"depth": 30, "width": 64, "init": "xavier_normal", "activation": "tanh", "backward": True},
        {
            "mode": "monte_carlo",
            "depth": 3,
            "width": 16,
            "weight_variance": 0.1,
            "activation": "relu",
            "batch_size": 8,
            "backward": True,
        },
        {"depth": 400, "width": 100, "weight_variance": 1.0},
    ],
    ids=["analytic", "monte-carlo", "overflowing"],
)
def test_responses_conform_to_the_documented_schema(client: FlaskClient, body: dict) -> None:
    """The view serializes directly (no schema dump), so check the shape against the schema."""
    from service.simulations.schemas import PropagationResultSchema

    document = client.post(LESSON, json=body).json
    assert PropagationResultSchema().validate(document) == {}
    assert len(document["layers"]) == body["depth"]
