"""Analytic (mean-field) propagation: the issue's numbers, explicit-loop oracles, log space."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics import propagation
from service.numerics.activations import ACTIVATIONS, SELU_ALPHA, SELU_SCALE
from service.numerics.errors import NumericsError
from service.numerics.mean_field import mean_field_point
from service.numerics.network import NORM_EPS, PropagationResult, build_network_spec
from service.numerics.propagation import analytic_propagation

P0 = 1 / math.sqrt(2 * math.pi)

# An oracle independent of service.numerics.gaussian: composite Simpson in torch, float64, on a
# fine grid in z with a node at 0 (selu's and relu's kink), accurate to ~1e-13 for moderate q.
_Z = torch.linspace(-12.0, 12.0, 48_001, dtype=torch.float64)
_SIMPSON = torch.ones_like(_Z)
_SIMPSON[1:-1:2], _SIMPSON[2:-1:2] = 4.0, 2.0
_W = torch.exp(-0.5 * _Z * _Z) / math.sqrt(2 * math.pi) * (_Z[1] - _Z[0]) / 3.0 * _SIMPSON
TORCH_PHI: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": lambda u: torch.nn.functional.gelu(u),
    "selu": torch.selu,
    "relu": torch.relu,
    "linear": lambda u: u,
}


def expect(name: str, q: float, derivative: bool = False) -> tuple[float, float]:
    """(E[φ(u)²], E[φ(u)]) or, with derivative, (E[φ'(u)²], 0) for u ~ N(0, q), by torch."""
    u = (math.sqrt(q) * _Z).requires_grad_(derivative)
    values = TORCH_PHI[name](u)
    if derivative:
        (grad,) = torch.autograd.grad(values.sum(), u)
        square = grad * grad
        if name in ("relu", "selu"):
            # φ' jumps at 0: the node there must carry the mean of both one-sided limits.
            left, right = (0.0, 1.0) if name == "relu" else (SELU_SCALE * SELU_ALPHA, SELU_SCALE)
            square[_Z.numel() // 2] = 0.5 * (left * left + right * right)
        return float((square * _W).sum()), 0.0
    return float((values * values * _W).sum()), float((values * _W).sum())


def preactivations(result: PropagationResult) -> list[float | None]:
    return [layer.preactivation_variance for layer in result.layers]


# ---- the "must reproduce" numbers ------------------------------------------------------


def test_fan_in_100_unit_variance_explodes_to_1e20() -> None:
    result = analytic_propagation(build_network_spec(10, width=100, weight_variance=1.0))
    assert preactivations(result) == [100.0**k for k in range(1, 11)]
    assert result.final_variance == 1e20
    assert result.log10_final_variance == 20.0
    assert result.regime == "exploding"
    assert result.gain_per_layer == 100.0


def test_fan_in_100_variance_001_keeps_unit_variance() -> None:
    result = analytic_propagation(build_network_spec(10, width=100, weight_variance=0.01))
    assert preactivations(result) == [1.0] * 10
    assert result.final_variance == 1.0
    assert result.regime == "stable"
    assert result.gain_per_layer == 1.0


def test_fan_in_100_variance_0001_vanishes_to_1e_minus_10() -> None:
    result = analytic_propagation(build_network_spec(10, width=100, weight_variance=0.001))
    assert result.final_variance == pytest.approx(1e-10, rel=1e-14)
    assert result.log10_final_variance == pytest.approx(-10.0, abs=1e-14)
    assert result.regime == "vanishing"


@pytest.mark.parametrize(("width", "weight_variance"), [(2, 1.0), (100, 0.02), (4, 0.5)])
def test_twenty_doublings_give_exactly_2_to_the_20(width: int, weight_variance: float) -> None:
    result = analytic_propagation(
        build_network_spec(20, width=width, weight_variance=weight_variance)
    )
    assert result.final_variance == 1_048_576.0
    assert result.log10_final_variance == pytest.approx(20 * math.log10(2), abs=1e-14)


def test_he_with_relu_keeps_the_preactivation_variance_constant() -> None:
    result = analytic_propagation(
        build_network_spec(30, width=256, init="he_normal", activation="relu")
    )
    q = preactivations(result)
    assert q[0] == pytest.approx(2.0, rel=1e-15)  # n · (2/n) · Var(x), x not passed through relu
    assert q == pytest.approx([q[0]] * 30, rel=1e-13)


def test_lecun_with_relu_halves_it_each_layer() -> None:
    result = analytic_propagation(
        build_network_spec(30, width=256, init="lecun_normal", activation="relu")
    )
    assert preactivations(result) == pytest.approx([0.5**k for k in range(30)], rel=1e-13)


def test_tanh_with_sigma_w2_4_converges_to_the_mean_field_fixed_point() -> None:
    result = analytic_propagation(
        build_network_spec(60, width=100, weight_variance=0.04, activation="tanh")
    )
    # Independent oracle: iterate q <- 4 E[tanh(√q z)²] with torch's trapezoid to convergence.
    q = 1.0
    for _ in range(1000):
        q, previous = 4.0 * expect("tanh", q)[0], q
        if abs(q - previous) <= 1e-15 * q:
            break
    assert result.layers[-1].preactivation_variance == pytest.approx(q, rel=1e-11)
    assert mean_field_point("tanh", 4.0, 0.0).q_star == pytest.approx(q, rel=1e-11)
    # ... and it got there from q_1 = 4: the first layers still differ.
    assert abs(result.layers[0].preactivation_variance - q) > 1.0  # type: ignore[operator]


# ---- explicit-loop oracles ---------------------------------------------------------------------


@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "selu", "relu", "linear"])
@pytest.mark.parametrize("bias_variance", [0.0, 0.3])
def test_recursion_matches_a_loop_with_torch_quadrature(
    activation: str, bias_variance: float
) -> None:
    widths = [30, 50, 20, 40, 10]
    spec = build_network_spec(
        4, widths=widths, init="xavier_normal", gain=1.4, activation=activation,
        input_variance=0.7, bias_variance=bias_variance,
    )  # fmt: skip
    result = analytic_propagation(spec, backward=True)
    second_moment = 0.7
    expected_q, expected_var, expected_mean, derivative = [], [], [], []
    for layer in range(4):
        variance_w = 1.4**2 * 2 / (widths[layer] + widths[layer + 1])
        q = widths[layer] * variance_w * second_moment + bias_variance
        second_moment, mean = expect(activation, q)
        expected_q.append(q)
        expected_mean.append(mean)
        expected_var.append(second_moment - mean * mean)
        derivative.append(expect(activation, q, derivative=True)[0])
    grad, expected_grad = 1.0, list[float]()
    for layer in reversed(range(4)):
        variance_w = 1.4**2 * 2 / (widths[layer] + widths[layer + 1])
        grad *= widths[layer + 1] * variance_w * derivative[layer]
        expected_grad.insert(0, grad)
    assert preactivations(result) == pytest.approx(expected_q, rel=1e-11)
    assert [lay.variance for lay in result.layers] == pytest.approx(expected_var, rel=1e-10)
    assert [lay.mean for lay in result.layers] == pytest.approx(expected_mean, rel=1e-10, abs=1e-14)
    assert [lay.grad_variance for lay in result.layers] == pytest.approx(expected_grad, rel=1e-10)


@pytest.mark.parametrize("normalization", ["batch", "layer", "rms"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "linear"])
def test_normalization_resets_the_variance_entering_the_activation(
    normalization: str, activation: str
) -> None:
    n, weight_variance, bias_variance = 64, 3.0, 0.2  # σ_w² = 192: violently exploding
    spec = build_network_spec(
        6, width=n, weight_variance=weight_variance, activation=activation,
        bias_variance=bias_variance, normalization=normalization,
    )  # fmt: skip
    result = analytic_propagation(spec, backward=True)
    second_moment = variance = 1.0
    qs, outputs, derivatives, statistics = [], [], [], []
    for _ in range(6):
        q = n * weight_variance * second_moment + bias_variance
        statistic = n * weight_variance * variance if normalization == "batch" else q
        entering = statistic / (statistic + NORM_EPS)
        second_moment, mean = expect(activation, entering)
        variance = second_moment - mean * mean
        qs.append(q)
        outputs.append(variance)
        statistics.append(statistic)
        derivatives.append(expect(activation, entering, derivative=True)[0])
    grad, grads = 1.0, list[float]()
    for layer in reversed(range(6)):
        grad *= n * weight_variance * derivatives[layer] / (statistics[layer] + NORM_EPS)
        grads.insert(0, grad)
    assert preactivations(result) == pytest.approx(qs, rel=1e-11)
    assert [lay.variance for lay in result.layers] == pytest.approx(outputs, rel=1e-10)
    assert [lay.grad_variance for lay in result.layers] == pytest.approx(grads, rel=1e-10)
    if activation == "linear":
        assert result.final_variance == pytest.approx(1.0, abs=1e-6)


def test_vectorized_and_recursive_paths_agree() -> None:
    for activation in ("linear", "relu", "leaky_relu"):
        for bias_variance in (0.0, 0.5):
            spec = build_network_spec(
                300, widths=[int(w) for w in np.random.default_rng(1).integers(5, 500, 301)],
                weight_variance=0.013, activation=activation, negative_slope=-0.3,
                bias_variance=bias_variance, input_variance=2.5,
            )  # fmt: skip
            fan_scales = propagation._fan_scales(spec)
            vectorized, _ = propagation._vectorized_linear_family(spec, fan_scales)
            recursive, _ = propagation._recursion(spec, fan_scales)
            np.testing.assert_allclose(vectorized, recursive, rtol=1e-12)


def test_linear_family_without_normalization_has_no_per_layer_loop(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuse(*args: object) -> None:
        raise AssertionError("the per-layer recursion ran")

    monkeypatch.setattr(propagation, "_recursion", refuse)
    for activation in ("linear", "relu", "leaky_relu"):
        spec = build_network_spec(
            10_000, width=512, init="he_normal", activation=activation, bias_variance=0.1
        )
        result = analytic_propagation(spec, backward=True)
        assert result.layers[-1].log10_preactivation_variance is not None


# ---- log space ---------------------------------------------------------------------------------


def test_values_beyond_the_double_range_are_reported_in_log10() -> None:
    result = analytic_propagation(
        build_network_spec(200, width=100, weight_variance=1.0), backward=True
    )
    assert result.final_variance is None
    assert result.log10_final_variance == 400.0
    assert result.layers[153].preactivation_variance == pytest.approx(1e308)
    assert result.layers[154].preactivation_variance is None
    assert result.layers[154].log10_preactivation_variance == 310.0
    assert result.layers[0].grad_variance is None
    assert result.layers[0].log10_grad_variance == 400.0
    tiny = analytic_propagation(build_network_spec(200, width=100, weight_variance=1e-4))
    assert tiny.log10_final_variance == pytest.approx(-400.0)
    assert tiny.final_variance == 0.0
    assert tiny.regime == "vanishing"


def test_a_weight_variance_near_the_largest_float64_warns_nothing() -> None:
    # Linear layers: each multiplies the variance by fan-in · σ_w² = 512 · 1.7e308, which
    # overflows in the plain products; the log10 column carries it, and numpy must not print
    # an overflow warning into the service's log on the way.
    spec = build_network_spec(3, width=512, weight_variance=1.7e308)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = analytic_propagation(spec)
    assert result.final_variance is None
    expected = 3 * (math.log10(512) + math.log10(1.7e308))
    assert result.log10_final_variance == pytest.approx(expected, rel=1e-12)


def test_depth_100000() -> None:
    spec = build_network_spec(
        100_000, width=100, weight_variance=0.011, activation="relu", bias_variance=0.1
    )
    result = analytic_propagation(spec)
    assert len(result.layers) == 100_000
    # q_l = 0.55 q_{l-1} + 0.1 converges to 0.1 / 0.45.
    assert result.layers[-1].preactivation_variance == pytest.approx(0.1 / 0.45, rel=1e-12)


# A per-layer Python recursion with quadrature at this depth takes seconds; the timeout only
# guards against a hang (it is 100x the usual time), it is not a performance assertion.
@pytest.mark.timeout(60)
@pytest.mark.parametrize("activation", ["tanh", "sigmoid", "gelu", "selu"])
def test_smooth_activations_at_depth_10000_finish(activation: str) -> None:
    spec = build_network_spec(
        10_000, width=128, weight_variance=1.5 / 128, activation=activation, bias_variance=0.05
    )
    result = analytic_propagation(spec, backward=True)
    assert result.log10_final_variance is not None


def test_zero_weight_variance_gives_zero_variance() -> None:
    result = analytic_propagation(
        build_network_spec(5, width=10, weight_variance=0.0), backward=True
    )
    assert result.final_variance == 0.0
    assert result.log10_final_variance is None
    assert result.regime == "vanishing"
    assert result.gain_per_layer == 0.0
    assert result.layers[0].grad_variance == 0.0


def all_floats(result: PropagationResult) -> list[float]:
    values: list[float] = []
    for layer in result.layers:
        values += [v for v in vars(layer).values() if isinstance(v, float)]
    values += [v for v in vars(result).values() if isinstance(v, float)]
    return values


@given(
    activation=st.sampled_from(ACTIVATIONS),
    normalization=st.sampled_from([None, "batch", "layer", "rms"]),
    log10_weight_variance=st.floats(-300.0, 300.0),
    bias_variance=st.sampled_from([0.0, 1e-300, 0.5, 1e300]),
    log10_input=st.floats(-300.0, 300.0),
    depth=st.integers(1, 60),
    width=st.integers(1, 10**9),
)
@settings(max_examples=150, deadline=None)
def test_every_returned_number_is_finite(
    activation: str,
    normalization: str | None,
    log10_weight_variance: float,
    bias_variance: float,
    log10_input: float,
    depth: int,
    width: int,
) -> None:
    spec = build_network_spec(
        depth, width=width, weight_variance=10.0**log10_weight_variance, activation=activation,
        normalization=normalization, bias_variance=bias_variance, input_variance=10.0**log10_input,
    )  # fmt: skip
    result = analytic_propagation(spec, backward=True)
    assert all(math.isfinite(v) for v in all_floats(result))
    assert result.regime in ("exploding", "vanishing", "stable")


@given(
    depth=st.integers(1, 40),
    widths=st.lists(st.integers(1, 10_000), min_size=41, max_size=41),
    log10_variances=st.floats(-6.0, 2.0),
    log10_input=st.floats(-10.0, 10.0),
)
@settings(max_examples=100, deadline=None)
def test_linear_networks_multiply_n_times_variance(
    depth: int, widths: list[int], log10_variances: float, log10_input: float
) -> None:
    spec = build_network_spec(
        depth, widths=widths[: depth + 1], weight_variance=10.0**log10_variances,
        input_variance=10.0**log10_input,
    )  # fmt: skip
    result = analytic_propagation(spec)
    expected = log10_input + sum(math.log10(w) + log10_variances for w in widths[:depth])
    assert result.log10_final_variance == pytest.approx(expected, abs=1e-9)
    log10_ratio = expected - log10_input
    if abs(abs(log10_ratio) - 1.0) > 1e-9:
        regime = "exploding" if log10_ratio > 1 else "vanishing" if log10_ratio < -1 else "stable"
        assert result.regime == regime
    assert result.log10_gain_per_layer == pytest.approx(log10_ratio / depth, abs=1e-9)


# ---- validation --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arguments", "field"),
    [
        ({"depth": 0, "width": 3, "weight_variance": 1.0}, "depth"),
        ({"depth": 100_001, "width": 3, "weight_variance": 1.0}, "depth"),
        ({"depth": True, "width": 3, "weight_variance": 1.0}, "depth"),
        ({"depth": 2.0, "width": 3, "weight_variance": 1.0}, "depth"),
        ({"depth": 2, "weight_variance": 1.0}, "width"),
        ({"depth": 2, "width": 0, "weight_variance": 1.0}, "width"),
        ({"depth": 2, "width": 3, "widths": [3, 3, 3], "weight_variance": 1.0}, "widths"),
        ({"depth": 2, "widths": [3, 3], "weight_variance": 1.0}, "widths"),
        ({"depth": 2, "widths": [3, 0, 3], "weight_variance": 1.0}, "widths"),
        ({"depth": 2, "widths": "333", "weight_variance": 1.0}, "widths"),
        ({"depth": 2, "width": 3}, "weight_variance"),
        ({"depth": 2, "width": 3, "weight_variance": 1.0, "init": "he_normal"}, "weight_variance"),
        ({"depth": 2, "width": 3, "weight_variance": -1.0}, "weight_variance"),
        ({"depth": 2, "width": 3, "weight_variance": math.inf}, "weight_variance"),
        ({"depth": 2, "width": 3, "weight_variance": 1.0, "gain": 2.0}, "gain"),
        ({"depth": 2, "width": 3, "init": "he_normal", "gain": 0.0}, "gain"),
        ({"depth": 2, "width": 3, "init": "glorot"}, "init"),
        ({"depth": 2, "width": 3, "weight_variance": 1.0, "activation": "elu"}, "activation"),
        (
            {"depth": 2, "width": 3, "weight_variance": 1.0, "negative_slope": math.nan},
            "negative_slope",
        ),
        (
            {"depth": 2, "width": 3, "weight_variance": 1.0, "normalization": "group"},
            "normalization",
        ),
        ({"depth": 2, "width": 3, "weight_variance": 1.0, "input_variance": 0.0}, "input_variance"),
        (
            {"depth": 2, "width": 3, "weight_variance": 1.0, "input_variance": math.nan},
            "input_variance",
        ),
        ({"depth": 2, "width": 3, "weight_variance": 1.0, "bias_variance": -0.1}, "bias_variance"),
    ],
)
def test_bad_specs_name_their_field(arguments: dict[str, object], field: str) -> None:
    with pytest.raises(NumericsError) as info:
        build_network_spec(**arguments)  # type: ignore[arg-type]
    assert info.value.field == field


def test_spec_resolves_init_variances_per_layer() -> None:
    spec = build_network_spec(3, widths=[10, 20, 40, 5], init="xavier_uniform", activation="tanh")
    gain = 5 / 3
    assert spec.gain == pytest.approx(gain)
    assert spec.weight_variances == pytest.approx(
        [gain**2 * 2 / 30, gain**2 * 2 / 60, gain**2 * 2 / 45], rel=1e-15
    )
    assert spec.widths == (10, 20, 40, 5)


def test_results_hold_plain_python_numbers() -> None:
    """The HTTP layer serializes these directly: no numpy scalars, no NaN, no infinity."""
    spec = build_network_spec(
        4, width=8, init="he_normal", activation="gelu", normalization="layer"
    )
    result = analytic_propagation(spec, backward=True)
    for layer in result.layers:
        for value in vars(layer).values():
            assert value is None or type(value) in (int, float)
    for value in vars(result).values():
        assert not isinstance(value, np.generic)
