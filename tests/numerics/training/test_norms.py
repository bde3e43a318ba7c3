"""The training network's normalization kernels against service.numerics.normalization (forward
and backward, themselves tested against torch), and batch norm's defining property."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.normalization import (
    batch_norm,
    batch_norm_backward,
    group_norm,
    group_norm_backward,
    layer_norm,
    layer_norm_backward,
    rms_norm,
    rms_norm_backward,
)
from service.numerics.training.norms import RunningStats, norm_backward, norm_forward

EPS = 1e-5
F64 = np.float64


def _inputs(seed: int, rows: int = 7, width: int = 6) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    a = rng.normal(0.3, 2.0, (rows, width))
    scale = rng.uniform(0.5, 1.5, width)
    shift = rng.normal(0.0, 0.5, width)
    grad_out = rng.standard_normal((rows, width))
    return a, scale, shift, grad_out


def _reference(kind: str, a: np.ndarray, scale: np.ndarray, shift: np.ndarray, g: np.ndarray):
    """(output, grad_input, grad_scale, grad_shift) from service.numerics.normalization."""
    width = a.shape[1]
    if kind == "batch":
        out = batch_norm(a, weight=scale, bias=shift, eps=EPS, dtype=F64).output
        grads = batch_norm_backward(a, g, weight=scale, bias=shift, eps=EPS, dtype=F64)
    elif kind == "layer":
        out = layer_norm(a, width, weight=scale, bias=shift, eps=EPS, dtype=F64).output
        grads = layer_norm_backward(a, g, width, weight=scale, bias=shift, eps=EPS, dtype=F64)
    elif kind == "group":
        out = group_norm(a, 3, weight=scale, bias=shift, eps=EPS, dtype=F64).output
        grads = group_norm_backward(a, g, 3, weight=scale, bias=shift, eps=EPS, dtype=F64)
    else:
        out = rms_norm(a, width, weight=scale, eps=EPS, dtype=F64).output
        grads = rms_norm_backward(a, g, width, weight=scale, eps=EPS, dtype=F64)
    return out, grads.grad_input, grads.grad_weight, grads.grad_bias


@pytest.mark.parametrize("kind", ["batch", "layer", "group", "rms"])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_forward_and_backward_equal_the_reference_implementation(kind: str, seed: int) -> None:
    a, scale, shift, g = _inputs(seed)
    shift_or_none = None if kind == "rms" else shift
    out, cache = norm_forward(kind, a, scale, shift_or_none, eps=EPS, groups=3)
    grad_scale = np.empty_like(scale)
    grad_shift = None if kind == "rms" else np.empty_like(shift)
    grad_in = norm_backward(kind, g, cache, scale, grad_scale, grad_shift, groups=3)
    expected = _reference(kind, a, scale, shift, g)
    np.testing.assert_allclose(out, expected[0], rtol=1e-13, atol=1e-14)
    np.testing.assert_allclose(grad_in, expected[1], rtol=1e-12, atol=1e-13)
    np.testing.assert_allclose(grad_scale, expected[2], rtol=1e-12, atol=1e-13)
    if grad_shift is not None:
        np.testing.assert_allclose(grad_shift, expected[3], rtol=1e-12, atol=1e-13)


def test_batch_norm_running_statistics_and_evaluation_equal_the_reference() -> None:
    a, scale, shift, g = _inputs(3)
    running = RunningStats.fresh(a.shape[1])
    norm_forward("batch", a, scale, shift, eps=EPS, running=running, momentum=0.3)
    expected = batch_norm(
        a, weight=scale, bias=shift, running_mean=np.zeros(6), running_var=np.ones(6),
        momentum=0.3, eps=EPS, dtype=F64,
    )  # fmt: skip
    np.testing.assert_allclose(running.mean, expected.running_mean, rtol=1e-14, atol=1e-16)
    np.testing.assert_allclose(running.var, expected.running_var, rtol=1e-14)
    x = a[:3] * 2.0
    out, cache = norm_forward("batch", x, scale, shift, eps=EPS, training=False, running=running)
    evaluated = batch_norm(
        x, weight=scale, bias=shift, running_mean=running.mean, running_var=running.var,
        training=False, eps=EPS, dtype=F64,
    )  # fmt: skip
    np.testing.assert_allclose(out, evaluated.output, rtol=1e-14, atol=1e-15)
    grad_scale, grad_shift = np.empty(6), np.empty(6)
    grad_in = norm_backward("batch", g[:3], cache, scale, grad_scale, grad_shift)
    reference = batch_norm_backward(
        x, g[:3], weight=scale, bias=shift, running_mean=running.mean, running_var=running.var,
        training=False, eps=EPS, dtype=F64,
    )  # fmt: skip
    np.testing.assert_allclose(grad_in, reference.grad_input, rtol=1e-13)
    np.testing.assert_allclose(grad_scale, reference.grad_weight, rtol=1e-13, atol=1e-15)


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(2, 64),
    width=st.integers(1, 8),
    seed=st.integers(0, 2**32 - 1),
    offset=st.floats(-1e3, 1e3),
    log_spread=st.floats(-1.0, 3.0),
)
def test_batch_norm_gives_each_unit_mean_0_and_variance_1_in_training(
    rows: int, width: int, seed: int, offset: float, log_spread: float
) -> None:
    """With γ = 1, β = 0 each unit's output over the batch has mean 0 and biased variance
    σ²/(σ² + eps) ≈ 1 (the units' spread here is at least 0.1, so that is within 1e-3 of 1)."""
    a = offset + 10.0**log_spread * np.random.default_rng(seed).standard_normal((rows, width))
    spread = a.var(axis=0)
    out, _ = norm_forward("batch", a, np.ones(width), np.zeros(width), eps=EPS)
    np.testing.assert_allclose(out.mean(axis=0), 0.0, atol=1e-9)
    np.testing.assert_allclose(out.var(axis=0), spread / (spread + EPS), rtol=1e-9)
