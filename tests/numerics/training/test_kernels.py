"""The training's numba kernels against their numpy references (norms.py, instruments.py)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from service.numerics.training import kernels
from service.numerics.training.instruments import (
    histogram,
    layer_percentiles,
    percentiles_of_sorted,
)
from service.numerics.training.network import (
    Architecture,
    LayerTrace,
    activation_backward,
    activation_gradient,
    cross_entropy,
    cross_entropy_reference,
    sigmoid_reference,
)
from service.numerics.training.norms import (
    RunningStats,
    norm_backward,
    norm_forward,
    normalize,
    normalize_backward,
)

EPS = 1e-5


@pytest.mark.parametrize(
    ("rows", "width", "offset", "spread"),
    [(2, 3, 0.0, 1.0), (60, 100, 0.3, 2.0), (7, 5, 1e6, 1e-3), (33, 4, -5.0, 1e-8)],
)
@pytest.mark.parametrize("update", [True, False])
def test_fused_batch_norm_equals_the_numpy_reference(
    rows: int, width: int, offset: float, spread: float, update: bool
) -> None:
    rng = np.random.default_rng(rows * width)
    a = rng.normal(offset, spread, (rows, width))
    scale, shift = rng.uniform(0.5, 1.5, width), rng.normal(0.0, 0.5, width)
    grad_z = rng.standard_normal((rows, width))
    running = RunningStats(rng.normal(size=width), rng.uniform(0.5, 2.0, width))
    fused_running = RunningStats(running.mean.copy(), running.var.copy())

    expected, cache = norm_forward(
        "batch", a, scale, shift, eps=EPS, running=running if update else None, momentum=0.3
    )
    got, fused_cache = normalize(
        "batch", a, scale, shift, eps=EPS, running=fused_running if update else None,
        momentum=0.3,
    )  # fmt: skip
    np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused_cache.x_hat, cache.x_hat, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(fused_cache.rstd, cache.rstd.ravel(), rtol=1e-12)
    np.testing.assert_allclose(fused_running.mean, running.mean, rtol=1e-13, atol=1e-13)
    np.testing.assert_allclose(fused_running.var, running.var, rtol=1e-13)
    if not update:  # the buffers are left alone
        assert np.array_equal(fused_running.mean, running.mean)

    grads = [np.empty(width) for _ in range(4)]
    expected_in = norm_backward("batch", grad_z, cache, scale, grads[0], grads[1])
    got_in = normalize_backward("batch", grad_z, fused_cache, scale, grads[2], grads[3])
    tiny = 1e-12 * np.abs(expected_in).max()
    np.testing.assert_allclose(got_in, expected_in, rtol=1e-9, atol=tiny)
    np.testing.assert_allclose(grads[2], grads[0], rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(grads[3], grads[1], rtol=1e-12, atol=1e-12)


def test_evaluation_mode_and_other_kinds_stay_on_the_numpy_path() -> None:
    rng = np.random.default_rng(1)
    a, scale, shift = rng.standard_normal((5, 4)), np.ones(4), np.zeros(4)
    running = RunningStats(rng.normal(size=4), rng.uniform(0.5, 2.0, 4))
    for kind, training in (("batch", False), ("layer", True), ("group", True)):
        expected, _ = norm_forward(kind, a, scale, shift, eps=EPS, groups=2, training=training,
                                   running=running)  # fmt: skip
        got, _ = normalize(kind, a, scale, shift, eps=EPS, groups=2, training=training,
                           running=running)  # fmt: skip
        assert np.array_equal(got, expected)


# Edges that are not exact binary fractions, so that v ↦ ⌊(v - low)·bins/(high - low)⌋ misses
# the bin of values at and next to an edge and the kernel's correction must move them.
EDGES = np.linspace(-0.7, 0.7, 8)
finite_or_not = st.floats(allow_nan=True, allow_infinity=True, width=64)
near = [np.nextafter(e, d) for e in EDGES for d in (-np.inf, np.inf)]
on_the_edges = st.sampled_from([*EDGES.tolist(), *near, -2.5, 2.5, 0.5, -0.5, 0.0])


@settings(max_examples=300, deadline=None)
@given(arrays(np.float64, st.integers(1, 200), elements=st.one_of(finite_or_not, on_the_edges)))
def test_layer_counts_equal_the_sorted_reference(values: np.ndarray) -> None:
    counts, below, above, saturated, finite = kernels.layer_counts(values, EDGES, 0.5)
    expected_counts, expected_below, expected_above = histogram(np.sort(values), 7, (-0.7, 0.7))
    assert tuple(counts.tolist()) == expected_counts
    assert (below, above) == (expected_below, expected_above)
    assert finite == bool(np.isfinite(values).all())
    if finite:
        assert saturated == int(np.count_nonzero(np.abs(values) >= 0.5))


def test_layer_counts_without_a_threshold_count_nothing_saturated() -> None:
    values = np.array([-3.0, 0.0, 1e300])
    assert kernels.layer_counts(values, EDGES, math.inf)[3] == 0


finite_values = st.one_of(
    st.floats(allow_nan=False, allow_infinity=False, width=64),
    st.sampled_from([0.0, -0.0, 1.0, 5e-324, -5e-324, 1e-300, 1.7976931348623157e308]),
)


@settings(max_examples=400, deadline=None)
@given(
    arrays(np.float64, st.integers(1, 400), elements=finite_values),
    st.lists(st.floats(0.0, 1.0), min_size=1, max_size=6),
)
def test_order_statistics_equal_the_sorted_values(values: np.ndarray, where: list[float]) -> None:
    ranks = np.unique([int(w * (values.size - 1)) for w in where]).astype(np.intp)
    got = kernels.order_statistics(values, ranks)
    assert np.array_equal(got, np.sort(values)[ranks])


@pytest.mark.parametrize(
    "values",
    [
        np.random.default_rng(0).standard_normal(25_600),  # a probe batch of 256 x 100
        np.repeat([1.0, 2.0, 3.0], 5_000),  # ties across bucket rounds
        np.concatenate([np.full(20_000, 0.5), np.random.default_rng(1).normal(size=100) * 1e-12]),
        np.concatenate([np.random.default_rng(2).standard_normal(10_000), [1e300, -1e300]]),
        np.exp(np.random.default_rng(3).standard_normal(5_000) * 100),  # about 1e-160 … 1e160
    ],
)
def test_layer_percentiles_equal_numpy_percentile(values: np.ndarray) -> None:
    expected = percentiles_of_sorted(np.sort(values))
    assert layer_percentiles(values) == expected
    np.testing.assert_allclose(expected, np.percentile(values, [15, 50, 85]), rtol=1e-15)


@pytest.mark.parametrize(("rows", "classes", "spread"), [(1, 2, 1.0), (60, 10, 5.0), (7, 3, 300.0)])
def test_fused_cross_entropy_equals_the_numpy_reference(
    rows: int, classes: int, spread: float
) -> None:
    rng = np.random.default_rng(rows)
    logits = rng.standard_normal((rows, classes)) * spread + 1e3
    labels = rng.integers(0, classes, rows)
    loss, grad = cross_entropy(logits, labels)
    expected_loss, expected_grad = cross_entropy_reference(logits, labels)
    assert loss == pytest.approx(expected_loss, rel=1e-13, abs=1e-15)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-13, atol=1e-16)


@pytest.mark.parametrize("bad", [np.inf, -np.inf, np.nan])
def test_fused_cross_entropy_of_non_finite_logits_is_not_finite(bad: float) -> None:
    logits = np.zeros((4, 3))
    logits[2, 2] = bad  # the labelled class of row 2
    labels = np.array([0, 1, 2, 0])
    loss, _ = cross_entropy(logits, labels)
    assert not math.isfinite(loss)
    assert not math.isfinite(cross_entropy_reference(logits, labels)[0])


NO_BIAS = np.empty(0)


def _ulps(got: np.ndarray, expected: np.ndarray) -> float:
    nonzero = expected != 0
    return float(np.max(np.abs(got - expected)[nonzero] / np.spacing(expected[nonzero])))


@pytest.mark.parametrize("shape", [(1, 1), (705, 100), (3, 1025)])  # blocks and their remainders
def test_fused_sigmoid_is_within_3_ulp_of_the_numpy_reference(shape: tuple[int, int]) -> None:
    z = np.random.default_rng(shape[1]).uniform(-750.0, 750.0, shape)
    z.flat[0] = 0.25
    got = np.empty_like(z)
    kernels.sigmoid(z, NO_BIAS, got)
    expected = sigmoid_reference(z)
    assert _ulps(got, expected) <= 3.0
    assert np.array_equal(got == 0.0, expected == 0.0)  # where e^(-z) overflows
    assert np.array_equal(got == 1.0, expected == 1.0)


def test_fused_sigmoid_at_its_limits_equals_the_reference_exactly() -> None:
    z = np.array([[-np.inf, -800.0, -709.79, -709.78, 0.0, 36.0, 40.0, 800.0, np.inf, np.nan,
                   5e-324, -5e-324]])  # fmt: skip
    got = np.empty_like(z)
    kernels.sigmoid(z, NO_BIAS, got)
    expected = sigmoid_reference(z)
    assert np.array_equal(got, expected, equal_nan=True), (got, expected)
    assert (got[0, 0], got[0, 8]) == (0.0, 1.0)
    assert math.isnan(got[0, 9])


@settings(max_examples=200, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(1, 40), st.integers(1, 40)),
              elements=st.floats(-800.0, 800.0)))  # fmt: skip
def test_fused_sigmoid_property(z: np.ndarray) -> None:
    got = np.empty_like(z)
    kernels.sigmoid(z, NO_BIAS, got)
    expected = sigmoid_reference(z)
    assert np.all((got >= 0.0) & (got <= 1.0))
    np.testing.assert_allclose(got, expected, rtol=4 * np.finfo(float).eps, atol=0)


def test_fused_sigmoid_adds_the_bias_into_z_first() -> None:
    rng = np.random.default_rng(5)
    z, bias = rng.standard_normal((4, 6)), rng.standard_normal(6)
    expected_z = z + bias
    got = np.empty_like(z)
    kernels.sigmoid(z, bias, got)
    assert np.array_equal(z, expected_z)
    assert _ulps(got, sigmoid_reference(expected_z)) <= 3.0


def test_fused_sigmoid_backward_equals_the_numpy_reference() -> None:
    rng = np.random.default_rng(6)
    grad_h, h = rng.standard_normal((60, 100)), rng.uniform(0.0, 1.0, (60, 100))
    architecture = Architecture((3, 100, 2), "sigmoid", 0.01, "none", 1e-5, 0.1, 1)
    trace = LayerTrace(inputs=np.empty(0), z=np.empty(0), out=h)
    got = activation_backward(architecture, trace, grad_h)  # through kernels.sigmoid_backward
    assert np.array_equal(got, grad_h * activation_gradient(architecture, trace))
