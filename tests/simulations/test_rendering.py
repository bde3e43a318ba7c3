"""The column-wise rendering of analytic answers equals a straightforward rendering: the bytes the
service wrote before (one dict per layer through orjson) and, parsed, a row-by-row reference."""

from __future__ import annotations

import itertools
import json
import math
from typing import Any

import numpy as np
import orjson
import pytest

from service.jsonio import dumps_bytes
from service.numerics.network import NetworkSpec, build_network_spec
from service.numerics.propagation import AnalyticColumns, analytic_columns, analytic_propagation
from service.simulations import services
from service.simulations.rendering import ROW_NUMBERS, analytic_body, json_rows


def _nullable(value: float) -> float | None:
    return value if math.isfinite(value) else None


def reference_document(columns: AnalyticColumns) -> dict[str, Any]:
    """The answer built row by row from the columns, the obvious way."""
    spec = columns.spec
    layers = []
    for i in range(spec.depth):
        grad = columns.grad_variance
        log10_grad = columns.log10_grad_variance
        layers.append(
            {
                "index": i + 1,
                "width": spec.widths[i + 1],
                "weight_variance": spec.weight_variances[i],
                "preactivation_variance": _nullable(float(columns.preactivation_variance[i])),
                "log10_preactivation_variance": _nullable(
                    float(columns.log10_preactivation_variance[i])
                ),
                "variance": _nullable(float(columns.variance[i])),
                "log10_variance": _nullable(float(columns.log10_variance[i])),
                "mean": _nullable(float(columns.mean[i])),
                "grad_variance": None if grad is None else _nullable(float(grad[i])),
                "log10_grad_variance": None
                if log10_grad is None
                else _nullable(float(log10_grad[i])),
            }
        )
    return {
        "mode": "analytic",
        "depth": spec.depth,
        "widths": list(spec.widths),
        "activation": spec.activation,
        "init": spec.init,
        "gain": spec.gain,
        "normalization": spec.normalization,
        "input_variance": spec.input_variance,
        "layers": layers,
        "final_variance": columns.final_variance,
        "log10_final_variance": columns.log10_final_variance,
        "regime": columns.regime,
        "gain_per_layer": columns.gain_per_layer,
        "log10_gain_per_layer": columns.log10_gain_per_layer,
        "batch_size": None,
        "seed": None,
    }


def _specs() -> list[tuple[str, dict[str, Any]]]:
    activations = ("linear", "relu", "leaky_relu", "tanh", "sigmoid", "gelu", "selu")
    cases: list[tuple[str, dict[str, Any]]] = [
        (
            f"{activation}-{depth}",
            {"depth": depth, "width": 64, "init": "he_normal", "activation": activation},
        )
        for activation, depth in itertools.product(activations, (1, 2, 37))
    ]
    cases += [
        ("lesson-exploding", {"depth": 10, "width": 100, "weight_variance": 1.0}),
        ("overflowing", {"depth": 400, "width": 100, "weight_variance": 1.0}),
        ("underflowing", {"depth": 400, "width": 100, "weight_variance": 1e-4}),
        ("huge-input", {"depth": 50, "width": 10, "weight_variance": 0.1, "input_variance": 1e300}),
        (
            "tiny-input",
            {"depth": 50, "width": 10, "weight_variance": 10.0, "input_variance": 1e-300},
        ),
        ("zero-weights", {"depth": 4, "width": 8, "weight_variance": 0.0, "activation": "relu"}),
        ("minus-zero-weights", {"depth": 4, "width": 8, "weight_variance": -0.0}),
        (
            "zero-weights-bias",
            {"depth": 3, "width": 8, "weight_variance": 0.0, "bias_variance": 2.0},
        ),
        ("one-layer", {"depth": 1, "width": 1, "weight_variance": 0.5}),
        (
            "widths-xavier-tanh",
            {
                "depth": 5,
                "widths": [3, 700, 2, 90, 90, 1],
                "init": "xavier_uniform",
                "activation": "tanh",
            },
        ),
        ("orthogonal-gain", {"depth": 30, "width": 16, "init": "orthogonal", "gain": 3.0}),
        ("lecun-selu", {"depth": 60, "width": 128, "init": "lecun_normal", "activation": "selu"}),
        (
            "leaky-bias",
            {
                "depth": 700,
                "width": 512,
                "weight_variance": 2.2 / 512,
                "activation": "leaky_relu",
                "negative_slope": 0.2,
                "bias_variance": 0.05,
            },
        ),
        (
            "relu-10000",
            {"depth": 10_000, "width": 512, "weight_variance": 2.0 / 512, "activation": "relu"},
        ),
        (
            "relu-bias-40000",
            {
                "depth": 40_000,
                "width": 3,
                "weight_variance": 1.0,
                "bias_variance": 1.0,
                "activation": "relu",
            },
        ),
    ]
    cases += [
        (
            f"{normalization}-norm",
            {
                "depth": 25,
                "width": 32,
                "weight_variance": 1.0,
                "activation": "tanh",
                "bias_variance": 0.1,
                "normalization": normalization,
            },
        )
        for normalization in ("batch", "layer", "rms")
    ]
    return cases


CASES = _specs()


@pytest.mark.parametrize("backward", [False, True], ids=["forward", "backward"])
@pytest.mark.parametrize(("name", "arguments"), CASES, ids=[name for name, _ in CASES])
def test_analytic_body_equals_the_per_layer_rendering(
    name: str, arguments: dict[str, Any], backward: bool
) -> None:
    spec = build_network_spec(**arguments)
    columns = analytic_columns(spec, backward=backward)
    body = analytic_body(columns)
    # Parsed: the same document as one built row by row (non-finite -> null, log10 fields).
    assert json.loads(body) == reference_document(columns)
    # Bytes: what the service wrote before, through LayerStats and one dict per layer.
    result = analytic_propagation(spec, backward=backward)
    assert body == dumps_bytes(services._response(result))


def test_non_finite_values_are_null_and_the_log10_stays() -> None:
    spec = build_network_spec(depth=400, width=100, weight_variance=1.0, activation="relu")
    columns = analytic_columns(spec, backward=True)
    document = json.loads(analytic_body(columns))
    last = document["layers"][-1]
    assert last["variance"] is None
    assert last["preactivation_variance"] is None
    assert last["mean"] is None
    # q_1 = 100, q_l = 50 q_{l-1}; Var(relu(z)) = q (1/2 - 1/(2π)).
    expected = 2 + 399 * math.log10(50) + math.log10(0.5 - 1 / (2 * math.pi))
    assert last["log10_variance"] == pytest.approx(expected, rel=1e-12)
    zero_spec = build_network_spec(2, width=4, weight_variance=0.0)
    zero = json.loads(analytic_body(analytic_columns(zero_spec)))
    assert [layer["variance"] for layer in zero["layers"]] == [0.0, 0.0]
    assert [layer["log10_variance"] for layer in zero["layers"]] == [None, None]


def reference_rows(columns: list[tuple[str, Any]], length: int) -> bytes:
    rows = []
    for i in range(length):
        row: dict[str, Any] = {}
        for name, column in columns:
            if isinstance(column, bytes):
                row[name] = orjson.loads(column)
            elif column is ROW_NUMBERS:
                row[name] = i + 1
            else:
                value = column[i].item()
                row[name] = value if not isinstance(value, float) or math.isfinite(value) else None
        rows.append(row)
    return dumps_bytes(rows)


@pytest.mark.parametrize("length", [0, 1, 2, 3, 1000])
def test_json_rows_equals_a_list_of_dicts(length: int) -> None:
    rng = np.random.default_rng(length)
    floats = rng.standard_normal(length) * 10.0 ** rng.integers(-320, 308, length)
    floats[::7] = np.inf
    floats[1::11] = -np.inf
    floats[2::13] = np.nan
    floats[3::5] = -0.0
    columns: list[tuple[str, Any]] = [
        ("n", ROW_NUMBERS),
        ("floats", floats),
        ("same", floats.copy()),
        ("ints", rng.integers(-(2**62), 2**62, length)),
        ("shared", b'"text"'),
        ("zeros", np.zeros(length)),
        ("signed zeros", np.where(np.arange(length) % 2 == 0, 0.0, -0.0)),
        ("nulls", np.full(length, np.nan)),
        ("ones", np.ones(length, dtype=np.int64)),
        ("float32", np.linspace(0, 1, length, dtype=np.float32)),  # written as float64
        ('quote"d', np.arange(length, dtype=np.float64)),
    ]
    assert json_rows(columns, length) == reference_rows(columns, length)
    wrapped = json_rows(columns, length, before=b'{"rows":', after=b"}")
    assert wrapped == b'{"rows":' + reference_rows(columns, length) + b"}"


def test_json_rows_only_constant_columns_and_long_row_numbers() -> None:
    columns: list[tuple[str, Any]] = [("a", np.full(5, 2.5)), ("b", b"null")]
    assert json_rows(columns, 5) == reference_rows(columns, 5)
    long = 40_000  # beyond the kept row-number texts
    numbered: list[tuple[str, Any]] = [("index", ROW_NUMBERS), ("x", np.arange(long) * 0.5)]
    assert json_rows(numbered, long) == reference_rows(numbered, long)


def test_json_rows_refuses_a_column_of_the_wrong_length() -> None:
    with pytest.raises(ValueError, match="column 'x'"):
        json_rows([("x", np.zeros(3))], 4)


def test_widths_and_zero_variances_are_written_per_layer() -> None:
    spec = NetworkSpec(
        depth=3,
        widths=(4, 5, 5, 6),
        weight_variances=(0.0, -0.0, 0.0),
        input_variance=1.0,
        activation="linear",
        negative_slope=0.01,
        bias_variance=0.0,
        normalization=None,
        init=None,
        gain=None,
    )
    layers = orjson.loads(analytic_body(analytic_columns(spec)))["layers"]
    assert [layer["width"] for layer in layers] == [5, 5, 6]
    body = analytic_body(analytic_columns(spec))
    assert b'"weight_variance":0.0,' in body
    assert b'"weight_variance":-0.0,' in body
