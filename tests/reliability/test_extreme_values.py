"""Valid but extreme numbers through the numeric endpoints: 0, subnormals, values near the
largest float32 and float64, eps 0. Each answer must be a 200 that conforms to the committed
openapi.yaml (checked by Schemathesis's validator, so no number becomes a JSON null) or a 422
problem, and no numpy warning may fire on the way (warnings are errors here, so one shows as
a 500).

Every case below once failed one of those: chi and q* beyond float64 as null, NaN and infinity
from the kernels for a subnormal spread, a summary's mean and std as null, overflow warnings.
"""

from __future__ import annotations

import itertools
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import schemathesis
from flask.testing import FlaskClient

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
SCHEMA = schemathesis.openapi.from_path(OPENAPI)
HUGE = [0.0, 1e-308, 1.0, 1e300, 1.7e308]
ACTIVATIONS = ["linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "selu"]


def _answer(client: FlaskClient, template: str, path: str, body: dict[str, Any]) -> int:
    """POST body; assert the answer is a conforming 200 or a 422 problem; return the status."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        response = client.post(path, json=body)
    assert response.status_code in (200, 422), (body, response.get_data(as_text=True)[:300])
    if response.status_code == 422:
        assert response.mimetype == "application/problem+json"
        problem = response.get_json()
        assert problem is not None
        assert problem["detail"]
    SCHEMA[template]["POST"].validate_response(response)
    return response.status_code


def _mean_field() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for activation, sigma_w2, sigma_b2 in itertools.product(ACTIVATIONS, HUGE, HUGE):
        point = {"activation": activation, "sigma_w2": sigma_w2, "sigma_b2": sigma_b2}
        yield "/v1/simulations/mean-field", "/v1/simulations/mean-field", point
    for slope in (-1e6, 354.9, 1e6):
        yield (
            "/v1/simulations/mean-field/grid",
            "/v1/simulations/mean-field/grid",
            {
                "activation": "leaky_relu",
                "negative_slope": slope,
                "sigma_w2": HUGE,
                "sigma_b2": [0.0],
            },
        )


def _propagation() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for activation, weight, given in itertools.product(ACTIVATIONS, HUGE, [1e-308, 1.7e308]):
        common = {"activation": activation, "weight_variance": weight, "input_variance": given}
        analytic = {"mode": "analytic", "depth": 5, "width": 512, **common}
        yield "/v1/simulations/propagation", "/v1/simulations/propagation", analytic
        yield (
            "/v1/simulations/propagation",
            "/v1/simulations/propagation",
            {"mode": "monte_carlo", "depth": 3, "width": 8, "batch_size": 4, **common},
        )


def _normalization() -> Iterator[tuple[str, str, dict[str, Any]]]:
    values = [0.0, 1e-45, 3.4e38, 1e308]
    variants: dict[str, dict[str, Any]] = {
        "layer": {"normalized_shape": [4]},
        "rms": {"normalized_shape": [4]},
        "batch": {},
        "instance": {},
        "group": {"num_groups": 2},
    }
    for (variant, params), dtype, (a, b) in itertools.product(
        variants.items(), ["float32", "float64"], itertools.product(values, values)
    ):
        x = np.array([[[a, b, a, b], [b, a, a, b]], [[a, a, b, b], [b, b, a, a]]]).tolist()
        for eps in ([1e-300] if variant == "batch" else [0.0]) + [1e-5]:
            body = {"input": x, "dtype": dtype, "eps": eps, **params}
            yield "/v1/normalize/{variant}", f"/v1/normalize/{variant}", body
            yield (
                "/v1/normalize/{variant}/backward",
                f"/v1/normalize/{variant}/backward",
                body | {"grad_output": x},
            )


@pytest.mark.parametrize(
    "cases",
    [
        pytest.param(_mean_field, id="mean-field"),
        pytest.param(_propagation, id="propagation"),
        pytest.param(_normalization, id="normalization"),
    ],
)
def test_extreme_values_answer_a_conforming_200_or_a_422(client: FlaskClient, cases: Any) -> None:
    statuses = [_answer(client, template, path, body) for template, path, body in cases()]
    # Both kinds of answer occur: the sweep reaches the computations, not only the validation.
    assert 200 in statuses
    assert 422 in statuses
