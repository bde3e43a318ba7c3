"""Degenerate inputs, accuracy at large offsets, and refusals of bad arguments."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.normalization import (
    VARIANTS,
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    normalize,
    normalize_backward,
    parameters,
    reduced_axes,
    rms_norm,
)
from tests.numerics.test_normalization import make_input, make_params, torch_forward

# One valid call per variant on a (4, 6, 5) input.
BASIC: dict[str, dict[str, Any]] = {
    "batch": {},
    "layer": {"normalized_shape": [5]},
    "group": {"num_groups": 3},
    "instance": {},
    "rms": {"normalized_shape": [5]},
}


# --- degenerate inputs -------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("variant", [v for v in VARIANTS if v != "rms"])
@pytest.mark.parametrize("value", [0.1, -3.7, 1e4])
def test_constant_input_normalizes_to_zero(variant: str, value: float, dtype: Any) -> None:
    x = np.full((4, 6, 5), value, dtype=dtype)
    bias = np.arange(6 if variant != "layer" else 5, dtype=dtype)
    result = normalize(variant, x, bias=bias, dtype=dtype, **BASIC[variant])
    shape = (1, -1, 1) if variant != "layer" else (1, 1, -1)
    np.testing.assert_allclose(
        result.output, np.broadcast_to(bias.reshape(shape), x.shape), rtol=0, atol=1e-6
    )
    np.testing.assert_allclose(result.var, 0, atol=1e-12)
    expected, _ = torch_forward(variant, x, {**BASIC[variant], "bias": bias})
    # torch's float32 mean of a constant is off by an ulp, which 1/sqrt(eps) amplifies: to
    # 2.5e-5 at -3.7, and to 0.027 at 1e4 (batch norm), where we give 0.
    if abs(value) < 10:
        np.testing.assert_allclose(result.output, expected.numpy(), rtol=0, atol=5e-5)


def test_single_normalized_element_gives_exactly_zero() -> None:
    x = make_input((3, 4, 1), np.float32)
    np.testing.assert_array_equal(layer_norm(x, 1).output, 0)
    # Groups of one value each (G = C, no spatial axes) with a batch of 2.
    np.testing.assert_array_equal(group_norm(x[:2, :, 0], 4).output, 0)
    grads = normalize_backward("layer", x, np.ones_like(x), normalized_shape=1)
    np.testing.assert_array_equal(grads.grad_input, 0)


@pytest.mark.parametrize("variant", ["layer", "group", "instance"])
def test_eps_zero_on_a_constant_group_is_refused(variant: str) -> None:
    x = make_input((4, 6, 5), np.float64)
    x[1] = 2.5  # sample 1 constant: a constant group for each of these variants
    with pytest.raises(NonFiniteResult) as info:
        normalize(variant, x, eps=0.0, dtype=np.float64, **BASIC[variant])
    assert info.value.field == "eps"
    assert "eps = 0" in str(info.value)
    assert "equal" in str(info.value)
    # torch's layer and group norm give NaN here (its instance norm happens to give 0).
    if variant != "instance":
        expected, _ = torch_forward(variant, x, {**BASIC[variant], "eps": 0.0})
        assert torch.isnan(expected).any()


def test_batch_norm_training_refuses_eps_zero_as_pytorch_does() -> None:
    x = make_input((4, 6, 5), np.float64)
    message = "batch_norm eps must be positive during training, but got 0.0"
    _refused("eps", batch_norm, x, eps=0.0, match=message)
    with pytest.raises(ValueError, match=message):
        F.batch_norm(torch.tensor(x), None, None, training=True, eps=0.0)
    # Eval mode with positive running variances is fine with eps = 0, as in torch.
    result = batch_norm(
        x,
        running_mean=np.zeros(6),
        running_var=np.full(6, 4.0),
        eps=0.0,
        training=False,
        dtype=np.float64,
    )
    np.testing.assert_allclose(result.output, x / 2, rtol=1e-15)


def test_eps_zero_on_varied_data_is_fine() -> None:
    x = make_input((4, 6, 5), np.float64)
    result = layer_norm(x, 5, eps=0.0, dtype=np.float64)
    np.testing.assert_allclose(result.output.var(axis=-1), 1.0, rtol=1e-12)


def test_rms_eps_zero_on_a_zero_row_is_refused() -> None:
    x = make_input((3, 4), np.float32)
    x[2] = 0.0
    with pytest.raises(NonFiniteResult, match="all zeros") as info:
        rms_norm(x, 4, eps=0.0)
    assert info.value.field == "eps"
    np.testing.assert_array_equal(rms_norm(x, 4).output[2], 0)  # eps None: fine


def test_eval_with_zero_running_var_and_eps_zero_is_refused() -> None:
    x = make_input((4, 3), np.float32)
    with pytest.raises(NonFiniteResult, match="running_var = 0"):
        batch_norm(x, running_mean=[0, 0, 0], running_var=[1, 0, 1], training=False, eps=0.0)


def test_overflowing_variance_is_refused_in_float32_and_fine_in_float64() -> None:
    x = make_input((4, 8), np.float64) * 1e21
    with pytest.raises(NonFiniteResult, match="overflows float32"):
        layer_norm(x, 8)
    result = layer_norm(x, 8, dtype=np.float64)
    np.testing.assert_allclose(result.output.var(axis=-1), 1.0, rtol=1e-9)
    with pytest.raises(NonFiniteResult, match="overflows"):
        rms_norm(x, 8)


def test_overflowing_affine_output_is_refused() -> None:
    x = make_input((4, 8), np.float32)
    with pytest.raises(NonFiniteResult, match="output overflows"):
        layer_norm(x, 8, weight=np.full(8, 3e38, np.float32))
    with pytest.raises(NonFiniteResult, match="output overflows"):
        batch_norm(
            x,
            running_mean=np.zeros(8),
            running_var=np.full(8, 1e-30),
            training=False,
            weight=np.full(8, 1e30),
            eps=0.0,
        )


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_infinite_input_is_bad_input_not_overflow(variant: str, bad: float) -> None:
    x = make_input((4, 6, 5), np.float32)
    x[2, 3, 1] = bad
    with pytest.raises(NumericsError) as info:
        normalize(variant, x, **BASIC[variant])
    assert not isinstance(info.value, NonFiniteResult)
    assert info.value.field == "input"
    assert "[2][3][1]" in str(info.value)


def test_nan_input_in_eval_mode_is_bad_input() -> None:
    x = make_input((4, 3), np.float32)
    x[1, 1] = np.nan
    with pytest.raises(NumericsError, match=r"\[1\]\[1\] is NaN") as info:
        batch_norm(x, running_mean=[0, 0, 0], running_var=[1, 1, 1], training=False)
    assert info.value.field == "input"


# --- accuracy at large offsets -------------------------------------------------------------------


def _naive_one_pass(x: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    var = (x * x).mean(axis=-1, keepdims=True) - mean * mean
    return (x - mean) / np.sqrt(np.maximum(var, 0) + eps)


@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance"])
def test_float64_offset_1e8_keeps_its_digits(variant: str) -> None:
    rng = np.random.default_rng(5)
    x = 1e8 + rng.standard_normal((8, 6, 16))
    params = BASIC[variant] | ({"normalized_shape": [16]} if variant == "layer" else {})
    result = normalize(variant, x, dtype=np.float64, **params)
    # x - 1e8 is exact (Sterbenz), and normalization is shift invariant: an exact reference.
    reference = normalize(variant, x - 1e8, dtype=np.float64, **params)
    np.testing.assert_allclose(result.output, reference.output, rtol=0, atol=1e-12)
    assert result.mean is not None
    assert reference.mean is not None
    np.testing.assert_allclose(result.mean - 1e8, reference.mean, rtol=0, atol=1e-7)
    np.testing.assert_allclose(result.var, reference.var, rtol=1e-12)
    # The one-pass formula E[x²] - E[x]² loses every digit here, so this test can tell.
    assert np.max(np.abs(_naive_one_pass(x, 1e-5) - reference.output)) > 1e-2


@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance"])
def test_float32_offset_1e4_matches_a_float64_reference(variant: str) -> None:
    rng = np.random.default_rng(6)
    x = (1e4 + rng.standard_normal((8, 6, 64))).astype(np.float32)
    params = BASIC[variant] | ({"normalized_shape": [64]} if variant == "layer" else {})
    result = normalize(variant, x, **params)
    reference = normalize(variant, x.astype(np.float64), dtype=np.float64, **params)
    # The float32 first-pass mean is off by ~1e-3 here; the corrected second pass removes it.
    np.testing.assert_allclose(result.output, reference.output, rtol=0, atol=5e-6)
    np.testing.assert_allclose(result.var, reference.var, rtol=1e-5)


@pytest.mark.parametrize(
    ("dtype", "offset", "spread", "rtol"),
    [(np.float32, 1e4, 1e-2, 1e-5), (np.float64, 1e8, 1e-4, 1e-10)],
)
def test_variance_keeps_its_digits_when_the_offset_dwarfs_the_spread(
    dtype: Any, offset: float, spread: float, rtol: float
) -> None:
    rng = np.random.default_rng(9)
    x = (offset + spread * rng.standard_normal((3, 4096))).astype(dtype)
    result = layer_norm(x, 4096, eps=0.0, dtype=dtype)
    exact = x.astype(np.float64)
    # x - (rounded mean) is exact in float64; its own mean is what the rounding left over.
    centered = exact - np.array([[math.fsum(row) / row.size] for row in exact])
    reference = [
        math.fsum(row**2) / row.size - (math.fsum(row) / row.size) ** 2 for row in centered
    ]
    np.testing.assert_allclose(result.var, reference, rtol=rtol)
    # The mean is right to the last place: within one ulp of the exactly rounded mean.
    assert result.mean is not None
    exact_mean = np.array([math.fsum(row) / row.size for row in exact])
    assert np.all(np.abs(result.mean - exact_mean) <= np.spacing(result.mean))


def test_float32_offset_1e4_backward_matches_a_float64_reference() -> None:
    rng = np.random.default_rng(8)
    x = (1e4 + rng.standard_normal((8, 64))).astype(np.float32)
    g = rng.standard_normal(x.shape).astype(np.float32)
    ours = normalize_backward("layer", x, g, normalized_shape=64)
    reference = normalize_backward(
        "layer", x.astype(np.float64), g, normalized_shape=64, dtype=np.float64
    )
    np.testing.assert_allclose(ours.grad_input, reference.grad_input, rtol=0, atol=2e-5)


def test_float64_results_stay_float64_and_float32_stay_float32() -> None:
    x = make_input((4, 6, 5), np.float64)
    for variant in VARIANTS:
        result = normalize(variant, x, dtype=np.float64, **BASIC[variant])
        assert result.output.dtype == result.var.dtype == np.float64
        result32 = normalize(variant, x, **BASIC[variant])
        assert result32.output.dtype == result32.var.dtype == np.float32


# --- refusals ------------------------------------------------------------------------------------


def _refused(field: str, call: Any, *args: Any, match: str | None = None, **kwargs: Any) -> None:
    with pytest.raises(NumericsError, match=match) as info:
        call(*args, **kwargs)
    assert info.value.field == field, str(info.value)
    assert not isinstance(info.value, NonFiniteResult)


X = make_input((4, 6, 5), np.float32)


@pytest.mark.parametrize(
    ("field", "variant", "x", "params", "match"),
    [
        ("input", "layer", [[1.0, 2.0], [3.0]], {"normalized_shape": 2}, "rectangular"),
        ("input", "layer", [["a", "b"]], {"normalized_shape": 2}, "numbers"),
        ("input", "layer", np.array([[True, False]]), {"normalized_shape": 2}, "numbers"),
        ("input", "layer", np.array([[1 + 1j, 2]]), {"normalized_shape": 2}, "numbers"),
        ("input", "layer", np.zeros((0, 3)), {"normalized_shape": 3}, "empty"),
        ("input", "batch", np.ones(5), {}, r"shape \(N, C"),
        ("input", "group", np.ones(5), {"num_groups": 1}, r"shape \(N, C"),
        ("input", "instance", np.ones(5), {}, r"shape \(N, C"),
        ("normalized_shape", "layer", X, {"normalized_shape": [6]}, r"\[\*, 6\]"),
        ("normalized_shape", "layer", X, {"normalized_shape": [2, 4, 6, 5]}, "expected input"),
        ("normalized_shape", "rms", X, {"normalized_shape": []}, "positive integer"),
        ("normalized_shape", "rms", X, {"normalized_shape": [0]}, ">= 1"),
        ("normalized_shape", "rms", X, {"normalized_shape": 2.5}, "positive integer"),
        ("weight", "batch", X, {"weight": np.ones(5)}, r"shape \[6\]"),
        ("bias", "group", X, {"num_groups": 2, "bias": np.ones((6, 1))}, r"shape \[6\]"),
        ("weight", "layer", X, {"normalized_shape": [6, 5], "weight": np.ones(5)}, r"\[6, 5\]"),
        ("weight", "rms", X, {"normalized_shape": 5, "weight": [1, 1, np.nan, 1, 1]}, "NaN"),
        (
            "running_mean",
            "batch",
            X,
            {"running_mean": np.ones(4), "running_var": np.ones(6)},
            r"shape \[6\]",
        ),
        (
            "running_var",
            "instance",
            X,
            {"running_mean": np.ones(6), "running_var": np.ones(7)},
            r"shape \[6\]",
        ),
        ("running_var", "batch", X, {"running_mean": np.ones(6)}, "both or neither"),
        (
            "running_var",
            "batch",
            X,
            {"running_mean": np.ones(6), "running_var": -np.ones(6)},
            ">= 0",
        ),
        ("running_mean", "batch", X, {"training": False}, "running_mean and running_var"),
        ("running_mean", "instance", X, {"use_input_stats": False}, "running"),
        ("eps", "batch", X, {"eps": -1e-5}, ">= 0"),
        ("eps", "layer", X, {"normalized_shape": 5, "eps": float("nan")}, "finite"),
        ("eps", "group", X, {"num_groups": 2, "eps": True}, "number"),
        ("eps", "rms", X, {"normalized_shape": 5, "eps": "1e-5"}, "number"),
        ("num_groups", "group", X, {"num_groups": 4}, "divide"),
        ("num_groups", "group", X, {"num_groups": 0}, ">= 1"),
        ("num_groups", "group", X, {"num_groups": 2.0}, "integer"),
        ("momentum", "batch", X, {"momentum": 1.5}, r"\[0, 1\]"),
        (
            "num_batches_tracked",
            "batch",
            X,
            {"momentum": None, "running_mean": np.zeros(6), "running_var": np.ones(6)},
            "cumulative",
        ),
        ("num_batches_tracked", "batch", X, {"num_batches_tracked": -1}, r"in \[0, "),
        (
            "num_batches_tracked",
            "batch",
            X,
            {"num_batches_tracked": 2**63 - 1},  # torch's int64 counter would overflow
            r"in \[0, 9223372036854775806\]",
        ),
        ("training", "batch", X, {"training": "yes"}, "true or false"),
        ("dtype", "layer", X, {"normalized_shape": 5, "dtype": np.float16}, "float32 or float64"),
        ("dtype", "layer", X, {"normalized_shape": 5, "dtype": "quad"}, "unknown dtype"),
        ("variant", "spectral", X, {}, "one of"),
        ("momentum", "layer", X, {"normalized_shape": 5, "momentum": 0.1}, "not a parameter"),
        ("normalized_shape", "layer", X, {}, "required"),
        ("num_groups", "group", X, {}, "required"),
    ],
)
def test_bad_arguments_name_the_field(
    field: str, variant: str, x: Any, params: dict[str, Any], match: str
) -> None:
    _refused(field, normalize, variant, x, match=match, **params)


def test_training_with_one_value_per_channel_has_pytorchs_reason() -> None:
    message = "Expected more than 1 value per channel when training, got input size [1, 3]"
    with pytest.raises(NumericsError) as info:
        batch_norm(np.ones((1, 3)))
    assert info.value.field == "input"
    assert message in str(info.value)
    with pytest.raises(ValueError, match=r"Expected more than 1 value per channel when training"):
        F.batch_norm(torch.ones(1, 3), None, None, training=True)
    _refused("input", batch_norm, np.ones((1, 3, 1, 1)), match=r"input size \[1, 3, 1, 1\]")
    # Eval mode needs no batch statistics, so one value is fine.
    result = batch_norm(
        np.ones((1, 3)), running_mean=np.zeros(3), running_var=np.ones(3), training=False
    )
    np.testing.assert_allclose(result.output, 1 / np.sqrt(1 + 1e-5), rtol=1e-6)


def test_instance_and_group_refuse_what_pytorch_refuses() -> None:
    _refused(
        "input",
        instance_norm,
        np.ones((2, 3)),
        match=r"more than 1 spatial element when training, got input size \[2, 3\]",
    )
    _refused("input", instance_norm, np.ones((2, 3, 1)), match="spatial element")
    _refused("input", group_norm, np.ones((1, 6)), 6, match=r"got input size \[1, 6\]")
    with pytest.raises(ValueError, match=r"got input size \[1, 6\]"):
        F.group_norm(torch.ones(1, 6), 6)


@pytest.mark.parametrize("variant", VARIANTS)
def test_backward_checks_grad_output(variant: str) -> None:
    _refused(
        "grad_output",
        normalize_backward,
        variant,
        X,
        X[:2],
        match="input's shape",
        **BASIC[variant],
    )
    bad = X.copy()
    bad[0, 0, 0] = np.inf
    _refused("grad_output", normalize_backward, variant, X, bad, match="infinity", **BASIC[variant])


def test_parameters_lists_each_variants_keywords() -> None:
    assert parameters("layer") == ("normalized_shape", "weight", "bias", "eps", "dtype")
    assert "num_batches_tracked" in parameters("batch")
    assert "use_input_stats" in parameters("instance")


def test_reduced_axes_refuses_bad_ranks() -> None:
    _refused("ndim", reduced_axes, "batch", 1)
    _refused("normalized_shape", reduced_axes, "layer", 3, 4)
    _refused("normalized_shape", reduced_axes, "rms", 3)
    _refused("variant", reduced_axes, "weight", 3)


def test_lists_and_integers_are_accepted_as_input() -> None:
    ints = [[1, 2, 3], [4, 6, 9]]
    result = layer_norm(ints, 3)
    expected = F.layer_norm(torch.tensor(ints, dtype=torch.float32), (3,))
    np.testing.assert_allclose(result.output, expected.numpy(), atol=1e-6)


def test_fortran_ordered_input_gives_the_same_result() -> None:
    x = make_input((4, 6, 5), np.float64)
    params = make_params("group", x, affine=True, running=False)
    c_order = normalize("group", x, dtype=np.float64, **params).output
    f_order = normalize("group", np.asfortranarray(x), dtype=np.float64, **params).output
    np.testing.assert_array_equal(c_order, f_order)
