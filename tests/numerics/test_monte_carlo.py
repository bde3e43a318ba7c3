"""Monte Carlo propagation: replayed exactly in torch, against the analytic mode within a derived
sampling bound, byte-identical repeats, overflow handling, cost limits and bad arguments."""

from __future__ import annotations

import math
import pickle
import tracemalloc

import mpmath  # type: ignore[import-untyped]
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.budget import Budget, Deadline
from service.numerics.errors import (
    CostLimitExceeded,
    DeadlineExceeded,
    NonFiniteResult,
    NumericsError,
)
from service.numerics.monte_carlo import _Histogram, _normalize, _normalize_backward
from service.numerics.monte_carlo_cost import (
    DRAW_WORK,
    ELEMENTWISE_WORK,
    FORWARD_ARRAYS,
    LAYER_BYTES,
    LAYER_WORK,
    MAX_MONTE_CARLO_DEPTH,
    monte_carlo_cost,
)
from service.numerics.network import NORM_EPS, NetworkSpec, PropagationResult, build_network_spec
from service.numerics.propagation import analytic_propagation, monte_carlo_propagation

# ---- an exact replay in torch ------------------------------------------------------------------


def torch_replay(
    spec: NetworkSpec, batch: int, seed: int, bins: int, low: float, high: float
) -> list[dict[str, object]]:
    """Draw the documented random stream and run the network with torch autograd (float64)."""
    rng = np.random.Generator(np.random.PCG64(seed))
    x = rng.standard_normal((batch, spec.widths[0])) * math.sqrt(spec.input_variance)
    weights, biases = [], []
    for layer in range(spec.depth):
        fan_in, fan_out = spec.widths[layer], spec.widths[layer + 1]
        variance = spec.weight_variances[layer]
        if spec.init is None or spec.init.endswith("normal"):
            w = rng.standard_normal((fan_out, fan_in)) * math.sqrt(variance)
        else:
            bound = math.sqrt(3 * variance)
            w = rng.random((fan_out, fan_in)) * (2 * bound) - bound
        weights.append(torch.tensor(w))
        if spec.bias_variance > 0:
            biases.append(
                torch.tensor(rng.standard_normal(fan_out) * math.sqrt(spec.bias_variance))
            )
        else:
            biases.append(torch.zeros(fan_out, dtype=torch.float64))
    output_grad = torch.tensor(rng.standard_normal((batch, spec.widths[-1])))

    functional = torch.nn.functional
    activations = {
        "linear": lambda t: t,
        "relu": torch.relu,
        "leaky_relu": lambda t: functional.leaky_relu(t, spec.negative_slope),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": functional.gelu,
        "selu": torch.selu,
    }
    h = torch.tensor(x, requires_grad=True)
    inputs, rows = [h], []
    for layer in range(spec.depth):
        z = h @ weights[layer].T + biases[layer]
        width = z.shape[1]
        if spec.normalization == "batch":
            u = functional.batch_norm(z, None, None, training=True, eps=NORM_EPS)
        elif spec.normalization == "layer":
            u = functional.layer_norm(z, (width,), eps=NORM_EPS)
        elif spec.normalization == "rms":
            u = functional.rms_norm(z, (width,), eps=NORM_EPS)
        else:
            u = z
        h = activations[spec.activation](u)
        h.retain_grad()
        inputs.append(h)
        values = h.detach().numpy()
        edges = np.floor((values - low) * (bins / (high - low)))
        rows.append(
            {
                "preactivation_variance": float(z.detach().var(unbiased=False)),
                "variance": float(values.var()),
                "mean": float(values.mean()),
                "min": float(values.min()),
                "max": float(values.max()),
                "zero_fraction": float(np.mean(values == 0.0)),
                "saturated_tanh": float(np.mean(np.abs(values) >= 0.99)),
                "saturated_sigmoid": float(np.mean(np.abs(values - 0.5) >= 0.49)),
                "histogram": tuple(int(np.sum(edges == i)) for i in range(bins)),
                "below": int(np.sum(values < low)),
                "above": int(np.sum(edges >= bins)),
            }
        )
    (h * output_grad).sum().backward()
    for layer in range(spec.depth):
        grad = inputs[layer].grad
        assert grad is not None
        rows[layer]["grad_variance"] = float(grad.var(unbiased=False))
    return rows


REPLAY_CASES = [
    {"activation": "linear", "weight_variance": 0.05},
    {"activation": "relu", "init": "he_normal", "bias_variance": 0.1},
    {"activation": "leaky_relu", "init": "he_uniform", "negative_slope": 0.2},
    {"activation": "tanh", "init": "xavier_normal", "bias_variance": 0.05},
    {"activation": "sigmoid", "weight_variance": 0.5},
    {"activation": "gelu", "init": "xavier_uniform"},
    {"activation": "selu", "init": "lecun_normal", "bias_variance": 0.01},
    {"activation": "relu", "weight_variance": 0.3, "normalization": "batch"},
    {"activation": "tanh", "weight_variance": 2.0, "normalization": "layer", "bias_variance": 0.2},
    {"activation": "gelu", "weight_variance": 1.0, "normalization": "rms"},
    {"activation": "linear", "weight_variance": 1e-9, "normalization": "layer"},
]


@pytest.mark.parametrize("case", REPLAY_CASES, ids=lambda c: "-".join(str(v) for v in c.values()))
def test_matches_an_exact_torch_replay(case: dict[str, object]) -> None:
    spec = build_network_spec(5, widths=[12, 40, 25, 33, 18, 21], **case)  # type: ignore[arg-type]
    bins, low, high = 16, -2.0, 3.0
    result = monte_carlo_propagation(
        spec,
        batch_size=24,
        seed=11,
        histogram_bins=bins,
        histogram_range=(low, high),
        backward=True,
    )
    replay = torch_replay(spec, 24, 11, bins, low, high)
    assert result.histogram_edges == pytest.approx(np.linspace(low, high, bins + 1))
    for layer, expected in zip(result.layers, replay, strict=True):
        sample = layer.sample
        assert sample is not None
        assert layer.preactivation_variance == pytest.approx(
            expected["preactivation_variance"], rel=1e-11
        )
        assert layer.variance == pytest.approx(expected["variance"], rel=1e-11)
        assert layer.mean == pytest.approx(expected["mean"], rel=1e-10, abs=1e-13)
        assert layer.grad_variance == pytest.approx(expected["grad_variance"], rel=1e-10)
        assert (sample.min, sample.max) == pytest.approx(
            (expected["min"], expected["max"]), rel=1e-12
        )
        assert sample.std == pytest.approx(math.sqrt(expected["variance"]), rel=1e-11)  # type: ignore[arg-type]
        assert sample.histogram_counts == expected["histogram"]
        assert (sample.below_range, sample.above_range) == (expected["below"], expected["above"])
        assert (
            sum(sample.histogram_counts) + sample.below_range + sample.above_range
            == 24 * layer.width
        )
        if spec.activation == "relu":
            assert sample.zero_fraction == expected["zero_fraction"]
        else:
            assert sample.zero_fraction is None
        if spec.activation in ("tanh", "sigmoid"):
            assert sample.saturated_fraction == expected[f"saturated_{spec.activation}"]
        else:
            assert sample.saturated_fraction is None
        assert sample.sampled_weight_variance == pytest.approx(layer.weight_variance, rel=0.5)


@pytest.mark.parametrize("kind", ["batch", "layer", "rms"])
@pytest.mark.parametrize("exponent", [0, 300, -300])
def test_normalization_kernels_match_torch_at_any_scale(kind: str, exponent: int) -> None:
    """z is held as stored · 2^exponent; x̂ and the gradient must not depend on that split."""
    rng = np.random.default_rng(2)
    true_z = rng.standard_normal((9, 7)) * 3.0 + 1.0
    upstream = rng.standard_normal((9, 7))
    z = torch.tensor(true_z, requires_grad=True)
    functional = torch.nn.functional
    if kind == "batch":
        out = functional.batch_norm(z, None, None, training=True, eps=NORM_EPS)
    elif kind == "layer":
        out = functional.layer_norm(z, (7,), eps=NORM_EPS)
    else:
        out = functional.rms_norm(z, (7,), eps=NORM_EPS)
    (out * torch.tensor(upstream)).sum().backward()
    assert z.grad is not None
    stored = np.ldexp(true_z, -exponent)
    x_hat, x_exponent, inverse, grad_shift = _normalize(kind, stored, exponent)
    assert x_exponent == 0
    np.testing.assert_allclose(x_hat, out.detach().numpy(), rtol=1e-12, atol=1e-14)
    grad = upstream.copy()
    _normalize_backward(kind, grad, x_hat, inverse)
    np.testing.assert_allclose(np.ldexp(grad, grad_shift), z.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_normalization_of_a_scaled_signal_equals_normalization_of_the_true_one() -> None:
    rng = np.random.default_rng(4)
    z = rng.standard_normal((6, 5)) * 1e3
    for kind in ("batch", "layer", "rms"):
        direct = _normalize(kind, z.copy(), 0)[0]
        scaled, x_exponent, _, shift = _normalize(kind, np.ldexp(z, -150), 150)
        assert (x_exponent, shift) == (0, -150)
        np.testing.assert_allclose(scaled, direct, rtol=1e-14)


# ---- agreement with the analytic mode ----------------------------------------------------------

_Z = np.linspace(-12.0, 12.0, 24_001)
_SIMPSON = np.ones_like(_Z)
_SIMPSON[1:-1:2], _SIMPSON[2:-1:2] = 4.0, 2.0
_W = np.exp(-0.5 * _Z**2) / math.sqrt(2 * math.pi) * (_Z[1] - _Z[0]) / 3 * _SIMPSON


def _tanh_expectation(power: int, q: float, derivative: bool = False) -> float:
    u = math.sqrt(q) * _Z
    values = 1 / np.cosh(u) ** 2 if derivative else np.tanh(u)
    return float(np.dot(values**power, _W))


def tanh_finite_width_corrections(
    q: list[float], sigma_w2: float, n: int, depth: int
) -> tuple[np.ndarray, np.ndarray]:
    """First-order (1/n) corrections to E[MC Var z_l] / q_l and E[MC E h_l²] / E[h_l²].

    Given h_{l-1}, each sample's z is exactly N(0, Q) with Q = σ_w² mean_j h_j², a random
    variable with Var(Q) = O(1/n). So E[h_l²] = E[F(Q)] = F(q) + F'(q) δ + F''(q) Var(Q)/2
    + O(1/n²), F(q) = E[tanh(√q z)²], with δ = E[Q] - q propagated from the layers below and
    Var(Q_{l+1}) = σ_w⁴ [(E[tanh⁴] - F²)/n + F'² Var(Q_l)] (Var(Q_1) = 2σ_w⁴/n for x ~ N(0, 1)).
    """
    variance_q, delta = 2 * sigma_w2**2 / n, 0.0
    relative_q, relative_h = [], []
    for layer in range(depth):
        step = 1e-3 * q[layer]

        def second(x: float) -> float:
            return _tanh_expectation(2, x)

        f, f_plus, f_minus = second(q[layer]), second(q[layer] + step), second(q[layer] - step)
        f1, f2 = (f_plus - f_minus) / (2 * step), (f_plus - 2 * f + f_minus) / step**2
        bias = f1 * delta + 0.5 * f2 * variance_q
        relative_q.append(delta / q[layer])
        relative_h.append(bias / f)
        delta = sigma_w2 * bias
        fourth = _tanh_expectation(4, q[layer])
        variance_q = sigma_w2**2 * ((fourth - f * f) / n + f1 * f1 * variance_q)
    return np.array(relative_q), np.array(relative_h)


def student_t_quantile(probability: float, dof: int) -> float:
    def cdf(t: mpmath.mpf) -> mpmath.mpf:
        return 1 - mpmath.betainc(dof / 2, 0.5, 0, dof / (dof + t * t), regularized=True) / 2

    return float(mpmath.findroot(lambda t: cdf(t) - probability, 4.0))


@pytest.mark.parametrize(
    ("activation", "sigma_w2"), [("linear", 1.0), ("relu", 2.0), ("tanh", 1.5), ("tanh", 4.0)]
)
def test_agrees_with_analytic_within_a_derived_sampling_bound(
    activation: str, sigma_w2: float
) -> None:
    """R independent seeds give R ratios MC / analytic per layer and statistic; their mean must
    sit within t · SE of the derived expectation, SE estimated from the seeds themselves and t the
    Student quantile at a Bonferroni-corrected two-sided level of 1e-3 over all comparisons.

    Expectations (n = batch = 256, first order in 1/n; second-order terms ~1/n² = 2e-5 are far
    below the SE of ~1e-3):
    - E[mean of h_l²] is exactly the analytic second moment for linear and relu (given h_{l-1},
      z is exactly Gaussian and E[φ(z)²] is linear in Var(z)); tanh adds the Jensen term above.
    - the reported Var(z_l) subtracts the pooled mean, whose square has expectation
      σ_w² (m² + v/batch) / n_l for h_{l-1} of mean m and variance v (units share weights).
    - gradients (linear and relu): W_l is independent of the gradient arriving from above
      and E[relu'(z)²] = 1/2 for every variance, so the analytic recursion is their expectation.
    """
    n = batch = 256
    depth, seeds = 6, 24
    spec = build_network_spec(depth, width=n, weight_variance=sigma_w2 / n, activation=activation)
    analytic = analytic_propagation(spec, backward=True)
    q = np.array([layer.preactivation_variance for layer in analytic.layers], dtype=float)
    mean = np.array([layer.mean for layer in analytic.layers], dtype=float)
    variance = np.array([layer.variance for layer in analytic.layers], dtype=float)
    grads = np.array([layer.grad_variance for layer in analytic.layers], dtype=float)
    second = variance + mean**2
    previous_mean = np.concatenate([[0.0], mean[:-1]])
    previous_variance = np.concatenate([[1.0], variance[:-1]])
    expected = {
        "q": 1
        - (previous_mean**2 + previous_variance / batch)
        / ((previous_variance + previous_mean**2) * n),
        "h": np.ones(depth),
        "g": np.ones(depth),
    }
    if activation == "tanh":
        relative_q, relative_h = tanh_finite_width_corrections(list(q), sigma_w2, n, depth)
        expected["q"] += relative_q
        expected["h"] += relative_h
        del expected["g"]  # see the replay test: tanh's backward is checked exactly, not here
    ratios: dict[str, list[np.ndarray]] = {key: [] for key in expected}
    for seed in range(seeds):
        layers = monte_carlo_propagation(spec, batch_size=batch, seed=seed, backward=True).layers
        column = {
            name: np.array([getattr(lay, name) for lay in layers], dtype=float)
            for name in ("preactivation_variance", "variance", "mean", "grad_variance")
        }
        ratios["q"].append(column["preactivation_variance"] / q)
        ratios["h"].append((column["variance"] + column["mean"] ** 2) / second)
        if "g" in ratios:
            ratios["g"].append(column["grad_variance"] / grads)
    comparisons = depth * len(expected)
    t = student_t_quantile(1 - 1e-3 / (2 * comparisons), seeds - 1)
    for key, target in expected.items():
        values = np.array(ratios[key])
        standard_error = values.std(axis=0, ddof=1) / math.sqrt(seeds)
        deviation = np.abs(values.mean(axis=0) - target)
        assert (deviation <= t * standard_error).all(), (key, deviation / standard_error, t)
        # Not vacuous: any error of 20% or more (a lost factor 1/2 of relu, say) is caught.
        assert (t * standard_error < 0.2).all()


def test_normalization_holds_an_exploding_network_at_unit_variance() -> None:
    for normalization in ("batch", "layer"):
        spec = build_network_spec(30, width=100, weight_variance=1.0, normalization=normalization)
        result = monte_carlo_propagation(spec, batch_size=64, seed=3)
        # Each row (layer norm) or column (batch norm) is rescaled to variance s / (s + eps) with
        # mean 0, so the pooled variance is that, with s ~ 100: 1 - 1e-7.
        for layer in result.layers:
            assert layer.variance == pytest.approx(1.0, abs=2e-7)
            assert layer.preactivation_variance == pytest.approx(100.0, rel=0.5)
        assert result.regime == "stable"
    unnormalized = monte_carlo_propagation(
        build_network_spec(30, width=100, weight_variance=1.0), batch_size=64, seed=3
    )
    assert unnormalized.regime == "exploding"
    assert unnormalized.log10_final_variance == pytest.approx(60.0, abs=5.0)


# ---- range, reproducibility, limits ------------------------------------------------------------


def test_exploding_and_vanishing_signals_beyond_the_double_range() -> None:
    """log10 Var after 200 layers of x100 is 400 ± the sampling spread.

    Var(ln S_L) <= Σ_l 2/n_l = 4 (each layer multiplies S by a ratio of conditional relative
    variance 2 tr(A²)/(n tr(A)²) <= 2/n), so 6 standard deviations are 12 in ln, 5.3 in log10.
    """
    for weight_variance, target in ((1.0, 400.0), (1e-4, -400.0)):
        spec = build_network_spec(
            200, width=100, weight_variance=weight_variance, activation="relu"
        )
        relu_shift = 199 * math.log10(0.5)
        result = monte_carlo_propagation(spec, batch_size=16, seed=5, backward=True)
        assert result.log10_final_variance == pytest.approx(target + relu_shift, abs=5.3)
        assert result.final_variance is None or result.final_variance < 1e-300
        assert result.layers[0].log10_grad_variance is not None
        assert result.layers[-1].sample is not None


def test_gelu_overflow_raises_non_finite_result() -> None:
    spec = build_network_spec(400, width=64, weight_variance=50.0, activation="gelu")
    with pytest.raises(NonFiniteResult) as info:
        monte_carlo_propagation(spec, batch_size=8, seed=0)
    assert info.value.field == "depth"


def canonical(result: PropagationResult) -> bytes:
    return pickle.dumps(result)


def test_same_seed_gives_byte_identical_results() -> None:
    spec = build_network_spec(
        8, width=64, init="he_uniform", activation="relu", bias_variance=0.1, normalization="rms"
    )
    first = monte_carlo_propagation(spec, batch_size=32, seed=123, backward=True)
    second = monte_carlo_propagation(spec, batch_size=32, seed=123, backward=True)
    assert canonical(first) == canonical(second)
    other = monte_carlo_propagation(spec, batch_size=32, seed=124, backward=True)
    assert canonical(first) != canonical(other)
    forward_only = monte_carlo_propagation(spec, batch_size=32, seed=123)
    assert [lay.variance for lay in forward_only.layers] == [lay.variance for lay in first.layers]


def test_cost_is_refused_before_allocating() -> None:
    spec = build_network_spec(10, width=1_000_000, weight_variance=1e-6)
    tracemalloc.start()  # numpy reports its buffers to tracemalloc
    try:
        with pytest.raises(CostLimitExceeded) as info:
            monte_carlo_propagation(spec, batch_size=1_000_000, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20  # 8e12 bytes of weights were never requested
    error = info.value
    assert error.limit_name == "max_work"
    assert error.cost == monte_carlo_cost(spec, 1_000_000).work
    assert "max_work" in str(error)
    deep = build_network_spec(MAX_MONTE_CARLO_DEPTH + 1, width=2, weight_variance=0.5)
    with pytest.raises(CostLimitExceeded) as too_deep:
        monte_carlo_propagation(deep, batch_size=2, seed=0)
    assert (too_deep.value.limit_name, too_deep.value.field) == ("max_monte_carlo_depth", "depth")


@pytest.mark.parametrize(
    ("depth", "width", "batch", "limit_name", "field"),
    [
        # The reproductions, each within the former width² · depth · batch <= 2e10:
        # thin and deep with a huge batch ran 168 s (work), wide and shallow asked numpy for
        # 74.5 GiB of weights (memory).
        (10_000, 1, 2_000_000, "max_work", "batch_size"),
        (1, 100_000, 2, "max_memory_bytes", "width"),
        (10, 100, 200_000, "max_memory_bytes", "batch_size"),
    ],
)
def test_memory_and_work_are_bounded_separately(
    depth: int, width: int, batch: int, limit_name: str, field: str
) -> None:
    spec = build_network_spec(depth, width=width, weight_variance=1.0)
    assert batch * width**2 * depth <= 2e10
    tracemalloc.start()
    try:
        with pytest.raises(CostLimitExceeded) as info:
            monte_carlo_propagation(spec, batch_size=batch, seed=0)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    assert (info.value.limit_name, info.value.field) == (limit_name, field)
    cost = monte_carlo_cost(spec, batch)
    measure = cost.work if limit_name == "max_work" else cost.memory_bytes
    assert info.value.cost == measure
    assert info.value.limit == (2e10 if limit_name == "max_work" else 512 * 2**20)


def test_backward_memory_counts_what_it_keeps() -> None:
    spec = build_network_spec(4, width=100, weight_variance=0.01)
    forward = monte_carlo_cost(spec, 100)
    backward = monte_carlo_cost(spec, 100, backward=True)
    # Every W_l (100 · 100) and φ'(z_l) (100 · 100) is kept: 4 layers · 2e4 values · 8 bytes.
    assert backward.memory_bytes - forward.memory_bytes == 8 * 4 * 20_000
    with pytest.raises(CostLimitExceeded) as memory:
        monte_carlo_propagation(
            spec,
            batch_size=100,
            seed=0,
            backward=True,
            budget=Budget(max_memory_bytes=forward.memory_bytes),
        )
    assert memory.value.limit_name == "max_memory_bytes"
    monte_carlo_propagation(
        spec, batch_size=100, seed=0, budget=Budget(max_memory_bytes=forward.memory_bytes)
    )


def test_cost_formula() -> None:
    cost = monte_carlo_cost(build_network_spec(2, widths=[3, 5, 7], weight_variance=1.0), 4)
    madds, units, weights = 4 * (15 + 35), 4 * (5 + 7), 15 + 35
    per_pass = madds + ELEMENTWISE_WORK * units + 2 * LAYER_WORK
    assert cost.work == per_pass + DRAW_WORK * weights
    assert cost.memory_bytes == 8 * (35 + FORWARD_ARRAYS * 4 * 7) + 2 * LAYER_BYTES
    backward = monte_carlo_cost(
        build_network_spec(2, widths=[3, 5, 7], weight_variance=1.0, normalization="layer"),
        4,
        backward=True,
    )
    assert backward.work == 2 * per_pass + DRAW_WORK * weights
    assert backward.memory_bytes == (
        8 * (35 + FORWARD_ARRAYS * 28 + weights + 2 * units) + 2 * LAYER_BYTES
    )


def test_the_deadline_is_checked_between_layers() -> None:
    """A clock that advances one second a reading: the run stops at the first check after its
    budget, forward or backward, whatever the machine's speed."""
    spec = build_network_spec(50, width=8, weight_variance=0.125)
    for backward, readings in ((False, 5), (True, 55)):
        ticks = iter(range(10_000))
        deadline = Deadline(
            float(readings - 1), limit_name="budget", clock=lambda t=ticks: float(next(t))
        )
        with pytest.raises(DeadlineExceeded) as info:
            monte_carlo_propagation(
                spec, batch_size=4, seed=0, backward=backward, deadline=deadline
            )
        assert (info.value.limit_name, info.value.seconds) == ("budget", readings - 1)
        assert "budget" in str(info.value)
        assert next(ticks) == readings + 1  # stopped at that reading, not at the end


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"batch_size": 0}, "batch_size"),
        ({"batch_size": 2.0}, "batch_size"),
        ({"seed": -1}, "seed"),
        ({"seed": True}, "seed"),
        ({"seed": 2**63}, "seed"),
        ({"histogram_bins": 0}, "histogram_bins"),
        ({"histogram_bins": 10_000}, "histogram_bins"),
        ({"histogram_range": (1.0, 1.0)}, "histogram_range"),
        ({"histogram_range": (0.0, math.inf)}, "histogram_range"),
        ({"histogram_range": ("a", "b")}, "histogram_range"),
        ({"histogram_range": (1.0,)}, "histogram_range"),
    ],
)
def test_bad_arguments_name_their_field(overrides: dict[str, object], field: str) -> None:
    arguments: dict[str, object] = {"batch_size": 4, "seed": 0} | overrides
    with pytest.raises(NumericsError) as info:
        monte_carlo_propagation(build_network_spec(2, width=4, weight_variance=0.25), **arguments)  # type: ignore[arg-type]
    assert info.value.field == field


def test_batch_norm_needs_two_samples() -> None:
    spec = build_network_spec(2, width=4, weight_variance=0.25, normalization="batch")
    with pytest.raises(NumericsError) as info:
        monte_carlo_propagation(spec, batch_size=1, seed=0)
    assert info.value.field == "batch_size"


def test_results_hold_plain_python_numbers() -> None:
    for activation in ("relu", "tanh"):
        spec = build_network_spec(3, width=8, init="he_normal", activation=activation)
        result = monte_carlo_propagation(spec, batch_size=4, seed=0, backward=True)
        for layer in result.layers:
            assert layer.sample is not None
            for value in list(vars(layer).values()) + list(vars(layer.sample).values()):
                if isinstance(value, tuple):
                    assert all(type(v) is int for v in value)
                else:
                    assert value is None or type(value) in (int, float) or value is layer.sample
                    assert value is None or not isinstance(value, float) or math.isfinite(value)
        assert all(type(edge) is float for edge in result.histogram_edges or ())


@given(
    values=st.lists(st.floats(-1e6, 1e6), min_size=1, max_size=61),
    bins=st.integers(1, 30),
    low=st.floats(-10.0, 0.0),
    span=st.floats(0.1, 20.0),
)
@settings(max_examples=200, deadline=None)
def test_histogram_counts_every_value_once(
    values: list[float], bins: int, low: float, span: float
) -> None:
    x = np.array(values)
    high = low + span
    counts, below, above = _Histogram(low, high, bins).counts(x, np.empty_like(x))
    index = np.floor((x - low) * (bins / (high - low)))
    assert counts == tuple(int(np.sum(index == i)) for i in range(bins))
    assert below == int(np.sum(index < 0))
    assert above == int(np.sum(index >= bins))
    assert sum(counts) + below + above == x.size
