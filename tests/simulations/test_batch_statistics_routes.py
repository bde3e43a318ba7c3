"""POST /v1/simulations/batch-statistics over HTTP: the issue's example against exact theory and
against PyTorch on the same draws, the per-example variants' exact zero, and refusals.
(tests/numerics/test_batch_statistics_*.py cover the mathematics in depth.)"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from flask.testing import FlaskClient

from service import create_app
from service.config import Settings
from service.numerics.batch_statistics import build_batch_statistics_spec, iter_batches
from service.simulations.batch_size_schemas import BatchStatisticsSchema

URL = "/v1/simulations/batch-statistics"
ISSUE_EXAMPLE = {
    "variant": "batch",
    "batch_sizes": [2, 4, 8, 16, 32],
    "z": 1.0,
    "features": 16,
    "samples": 20000,
    "seed": 1,
    "eps": 1e-5,
}


def test_the_issue_example_measures_what_exact_theory_predicts(client: FlaskClient) -> None:
    response = client.post(URL, json=ISSUE_EXAMPLE)
    assert response.status_code == 200
    body = response.json
    assert BatchStatisticsSchema().validate(body) == {}
    assert [p["batch_size"] for p in body["points"]] == [2, 4, 8, 16, 32]
    for point in body["points"]:
        m = point["batch_size"]
        assert point["draws"] == 20000 * 16
        assert point["first_order_variance"] == pytest.approx(1.5 / m, rel=1e-15)
        # Sampling error stated by the response: 4 standard errors (a 6e-5 chance per point).
        assert (
            abs(point["measured_variance"] - point["exact_variance"]) < 4 * point["standard_error"]
        )
        assert point["deviation_in_standard_errors"] == pytest.approx(
            (point["measured_variance"] - point["exact_variance"]) / point["standard_error"]
        )
    two = body["points"][0]
    # At m = 2, x̂ = ±1 up to eps: Var = 1 - erf(z/√2)² = 0.5339 at eps = 0; eps shrinks x̂²
    # where |x₁ - x₂| is within a few √eps, which lowers E[x̂²] by about 2π·p(0)·√eps ≈ 0.004.
    sign_only = 1 - math.erf(1 / math.sqrt(2)) ** 2
    assert sign_only - 0.006 < two["exact_variance"] < sign_only
    assert two["largest_abs_value"] <= 1.0
    assert "±1" in body["batch_size_two"]
    assert "±1" in two["notes"][0]
    # First order overstates the small-batch noise: 0.75 against 0.529 at m = 2.
    assert two["first_order_variance"] == 0.75
    assert two["exact_variance"] < 0.55
    assert set(body["methods"]) >= {"measured_variance", "first_order_variance", "exact_variance"}
    assert "exact theory" in body["methods"]["exact_variance"]
    assert body["independent_of_batch"] is None
    assert body["cost"] == 20000 * 62 * 16


def test_measured_variance_equals_pytorch_batch_norm_on_the_same_draws(
    client: FlaskClient,
) -> None:
    request = {**ISSUE_EXAMPLE, "batch_sizes": [3, 8], "samples": 500, "z": -0.7, "eps": 1e-3}
    body = client.post(URL, json=request).json
    spec = build_batch_statistics_spec(**request)
    for point, m in zip(body["points"], (3, 8), strict=True):
        values = []
        for chunk in iter_batches(spec, m):
            for batch in chunk:  # (m, C, 1): one torch call per composition
                out = F.batch_norm(torch.from_numpy(batch), None, None, training=True, eps=1e-3)
                values.append(out[0, :, 0].numpy())
        theirs = np.concatenate(values)
        assert point["measured_variance"] == pytest.approx(np.var(theirs, ddof=1), rel=1e-10)
        assert point["measured_mean"] == pytest.approx(theirs.mean(), rel=1e-10)


@pytest.mark.parametrize("variant", ["group", "layer", "instance", "rms"])
def test_per_example_variants_have_exactly_zero_spread_and_say_why(
    client: FlaskClient, variant: str
) -> None:
    body = client.post(
        URL, json={"variant": variant, "batch_sizes": [1, 2, 32], "samples": 300, "seed": 3}
    ).json
    for point in body["points"]:
        assert point["measured_variance"] == 0.0
        assert point["max_abs_change"] == 0.0
        assert point["exact_variance"] == 0.0
        assert point["first_order_variance"] == 0.0
    assert "never from the other examples" in body["independent_of_batch"]
    assert body["batch_size_two"] is None


def test_same_seed_same_numbers(client: FlaskClient) -> None:
    request = {"batch_sizes": [2, 5], "samples": 200, "seed": 9}
    first, second = (client.post(URL, json=request).json for _ in range(2))
    assert first == second
    other = client.post(URL, json={**request, "seed": 10}).json
    assert other["points"][1]["measured_variance"] != first["points"][1]["measured_variance"]


def test_over_expensive_request_is_422_naming_the_limit(settings: Settings) -> None:
    client = create_app(settings.with_overrides(max_batch_statistics_cost=1e6)).test_client()
    response = client.post(URL, json=ISSUE_EXAMPLE)
    assert response.status_code == 422
    assert response.json["limit"] == {"name": "MAX_BATCH_STATISTICS_COST", "value": 1e6}
    assert response.json["cost"] == 19_840_000
    assert "MAX_BATCH_STATISTICS_COST" in response.json["detail"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"batch_sizes": [1, 4]}, "batch_sizes[0]"),
        ({"batch_sizes": [4], "eps": 0.0}, "eps"),
        ({"batch_sizes": [4], "z": 11.0}, "z"),
        ({"batch_sizes": [4, 4]}, "batch_sizes"),
        ({"batch_sizes": [4], "groups": 2}, "groups"),
        ({"batch_sizes": [4], "samples": "many"}, "samples"),
        ({"variant": "weight", "batch_sizes": [4]}, "variant"),
        ({}, "batch_sizes"),
    ],
)
def test_bad_inputs_are_422_naming_the_field(client: FlaskClient, body: dict, field: str) -> None:
    response = client.post(URL, json=body)
    assert response.status_code == 422
    assert response.content_type == "application/problem+json"
    assert field in response.json["errors"] or field in str(response.json["errors"])
