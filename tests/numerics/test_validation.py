"""The one scalar validator: types, finiteness and bounds, with messages naming the parameter;
and the numerics' entry points refusing bad scalars through it alike."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from service.numerics.errors import NumericsError
from service.numerics.initializers import weight_variance
from service.numerics.mean_field import mean_field_point
from service.numerics.network import build_network_spec
from service.numerics.normalization import layer_norm
from service.numerics.validation import check_scalar


def test_accepted_values_come_back_as_python_numbers() -> None:
    assert check_scalar(np.int64(3), "n", int, min_val=1) == 3
    assert type(check_scalar(np.int64(3), "n", int)) is int
    assert check_scalar(np.float32(0.5), "x", float, min_val=0, max_val=1) == 0.5
    assert type(check_scalar(2, "x", float)) is float
    assert check_scalar(0.0, "x", float, min_val=0.0, include_boundaries="left") == 0.0
    assert check_scalar(1.0, "x", float, max_val=1.0, include_boundaries="right") == 1.0


@pytest.mark.parametrize(
    ("value", "target", "bounds", "message"),
    [
        (True, int, {}, "n must be an integer, got bool"),
        (2.0, int, {}, "n must be an integer, got float"),
        ("2", float, {}, "n must be a number, got str"),
        (np.bool_(True), float, {}, "n must be a number, got bool"),
        (math.nan, float, {}, "n must be finite, got nan"),
        (-math.inf, float, {}, "n must be finite, got -inf"),
        (0, int, {"min_val": 1}, "n must be >= 1, got 0"),
        (0.0, float, {"min_val": 0, "include_boundaries": "neither"}, "n must be > 0, got 0"),
        (2, float, {"min_val": 0, "max_val": 1}, "n must be in [0, 1], got 2"),
        (
            1,
            float,
            {"min_val": 0, "max_val": 1, "include_boundaries": "left"},
            "n must be in [0, 1), got 1",
        ),
        (5, int, {"max_val": 4}, "n must be <= 4, got 5"),
    ],
)
def test_refusals_name_the_parameter(
    value: object, target: type, bounds: dict[str, Any], message: str
) -> None:
    with pytest.raises(NumericsError, match=re.escape(message)) as caught:
        check_scalar(value, "n", target, **bounds)
    assert caught.value.field == "n"


@pytest.mark.parametrize(
    ("call", "field", "message"),
    [
        (lambda: build_network_spec(depth=2.5, width=4, weight_variance=1), "depth", "integer"),
        (
            lambda: build_network_spec(depth=2, width=0, weight_variance=1),
            "width",
            "in [1, 1000000000], got 0",
        ),
        (
            lambda: build_network_spec(depth=2, width=4, weight_variance=-1),
            "weight_variance",
            ">= 0",
        ),
        (
            lambda: build_network_spec(depth=2, width=4, weight_variance=1, input_variance=0),
            "input_variance",
            "> 0",
        ),
        (lambda: mean_field_point("tanh", math.nan), "sigma_w2", "finite"),
        (lambda: mean_field_point("tanh", 1.0, -1.0), "sigma_b2", ">= 0"),
        (lambda: weight_variance("he_normal", 0, 4, 1.0), "fan_in", ">= 1"),
        (lambda: weight_variance("he_normal", 4, 4, 0.0), "gain", "in (0, 1e+150]"),
        (lambda: layer_norm(np.ones((2, 3)), 3, eps=-1.0), "eps", ">= 0"),
        (lambda: layer_norm(np.ones((2, 3)), 3, eps=True), "eps", "a number"),
    ],
)
def test_entry_points_refuse_alike(call: Callable[[], object], field: str, message: str) -> None:
    with pytest.raises(NumericsError) as caught:
        call()
    assert caught.value.field == field
    assert str(caught.value).startswith(f"{field} must be")
    assert message in str(caught.value)
