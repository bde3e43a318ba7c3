"""Hypothesis properties: normalized statistics, shift and scale invariance, torch agreement."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.normalization import normalize, normalize_backward
from tests.numerics.test_normalization import TOLERANCE, assert_close, torch_forward

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def cases(
    draw: st.DrawFn, variants: tuple[str, ...] = ("batch", "layer", "group", "instance", "rms")
) -> tuple[str, np.ndarray, dict[str, Any]]:
    """A variant, a float64 input of a shape it accepts, and its parameters (no affine)."""
    variant = draw(st.sampled_from(variants))
    low = {"batch": 2, "group": 2, "instance": 3, "layer": 1, "rms": 1}[variant]
    shape = tuple(draw(st.lists(st.integers(1, 5), min_size=low, max_size=5)))
    params: dict[str, Any] = {}
    if variant == "batch" and shape[0] * int(np.prod(shape[2:])) == 1:
        shape = (2, *shape[1:])
    if variant == "instance" and int(np.prod(shape[2:])) == 1:
        shape = (*shape[:2], 2, *shape[3:])
    if variant in ("layer", "rms"):
        k = draw(st.integers(1, len(shape)))
        params["normalized_shape"] = list(shape[len(shape) - k :])
    if variant == "group":
        divisors = [g for g in range(1, shape[1] + 1) if shape[1] % g == 0]
        params["num_groups"] = draw(st.sampled_from(divisors))
        if shape[0] * shape[1] // params["num_groups"] * int(np.prod(shape[2:])) == 1:
            shape = (2, *shape[1:])
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    offset = draw(st.sampled_from([0.0, 1.0, -1e3]))
    if draw(st.booleans()):
        x = rng.standard_normal(shape) * scale + offset
    else:  # small integers: ties and constant groups
        x = rng.integers(-3, 4, size=shape).astype(np.float64) * scale + offset
    params["eps"] = draw(st.sampled_from([1e-5, 1e-2, 1.0]))
    return variant, x, params


def _stat_view(
    variant: str, x: np.ndarray, params: dict[str, Any]
) -> tuple[np.ndarray, tuple[int, ...]]:
    """x reshaped so that each statistic's values lie along the returned axes."""
    if variant == "group":
        n, c = x.shape[:2]
        g = params["num_groups"]
        return x.reshape(n, g, c // g, -1), (2, 3)
    if variant in ("layer", "rms"):
        k = len(params["normalized_shape"])
        return x.reshape(*x.shape[: x.ndim - k], -1), (x.ndim - k,)
    n, c = x.shape[:2]
    return x.reshape(n, c, -1), ((0, 2) if variant == "batch" else (2,))


@SETTINGS
@given(cases())
def test_output_has_zero_mean_and_the_variance_eps_allows(case: Any) -> None:
    variant, x, params = case
    result = normalize(variant, x, dtype=np.float64, **params)
    out, axes = _stat_view(variant, result.output, params)
    var = result.var.reshape(np.var(out, axis=axes).shape)
    eps = params["eps"]
    if variant == "rms":
        np.testing.assert_allclose(np.mean(out**2, axis=axes), var / (var + eps), rtol=1e-9)
        return
    np.testing.assert_allclose(np.mean(out, axis=axes), 0.0, atol=1e-12)
    np.testing.assert_allclose(np.var(out, axis=axes), var / (var + eps), rtol=1e-9, atol=1e-15)


@SETTINGS
@given(cases(), st.sampled_from([1e-3, 0.5, 7.0, -2.0]), st.sampled_from([0.0, -5.0, 1e4]))
def test_invariant_to_shifting_and_scaling_the_input(
    case: Any, factor: float, shift: float
) -> None:
    """normalize(a·x + c, eps·a²) = sign(a)·normalize(x, eps) (rms: without the shift)."""
    variant, x, params = case
    if variant == "rms":
        shift = 0.0
    base = normalize(variant, x, dtype=np.float64, **params).output
    moved = normalize(
        variant,
        factor * x + shift,
        dtype=np.float64,
        **{**params, "eps": params["eps"] * factor**2},
    ).output
    # The shifted input itself is rounded; allow for that relative to its spread.
    spread = max(float(np.std(x)), 1e-300)
    tolerance = 1e-9 + 1e-15 * (abs(shift) / abs(factor) + float(np.max(np.abs(x)))) / spread
    np.testing.assert_allclose(moved, np.sign(factor) * base, rtol=0, atol=max(tolerance, 1e-9))


@SETTINGS
@given(cases(), st.sampled_from([np.float32, np.float64]), st.booleans())
def test_forward_and_backward_equal_torch(case: Any, dtype: Any, affine: bool) -> None:
    variant, x, params = case
    x = (x - x.mean()).astype(dtype)  # torch's float32 statistics lose digits at offsets
    rng = np.random.default_rng(0)
    shape = x.shape[1:2] if variant not in ("layer", "rms") else tuple(params["normalized_shape"])
    if affine:
        params["weight"] = rng.standard_normal(shape).astype(dtype)
        if variant != "rms":
            params["bias"] = rng.standard_normal(shape).astype(dtype)
    result = normalize(variant, x, dtype=dtype, **params)
    out, tensors = torch_forward(variant, x, params, grad=True)
    # torch's rounding of its mean, amplified by rstd: large on a (near-)constant group, where
    # torch's float32 answer is off by ~1e-4 and ours is 0.
    rstd = float(np.max(1 / np.sqrt(result.var + params["eps"])))
    rounding = 4 * float(np.finfo(dtype).eps) * float(np.max(np.abs(x))) * rstd
    scale = 1 + rounding / TOLERANCE[dtype]
    assert_close(
        result.output,
        out,
        dtype,
        scale=scale * max(1.0, float(np.max(np.abs(params.get("weight", 1.0))))),
    )
    grad_output = rng.standard_normal(x.shape).astype(dtype)
    grads = normalize_backward(variant, x, grad_output, dtype=dtype, **params)
    out.backward(torch.tensor(grad_output))
    expected = tensors["x"].grad.numpy()
    # Gradients scale with rstd, up to 1/sqrt(eps) = 316 here.
    scale = max(1.0, float(np.max(np.abs(expected)))) * scale
    np.testing.assert_allclose(
        grads.grad_input, expected, rtol=0, atol=10 * TOLERANCE[dtype] * scale
    )


@SETTINGS
@given(cases(variants=("batch", "layer", "group", "instance")))
def test_input_gradient_is_orthogonal_to_shifts_and_to_the_output(case: Any) -> None:
    """Without affine, shifting x within a group or scaling it changes nothing (up to eps), so the
    gradient sums to zero over each group and is orthogonal to x̂ when eps is negligible."""
    variant, x, params = case
    rng = np.random.default_rng(1)
    grad_output = rng.standard_normal(x.shape)
    grads = normalize_backward(variant, x, grad_output, dtype=np.float64, **params)
    grad_view, axes = _stat_view(variant, grads.grad_input, params)
    # The size of the terms that cancel: rstd·|grad_output|, summed over a group.
    result = normalize(variant, x, dtype=np.float64, **params)
    terms = float(np.max(1 / np.sqrt(result.var + params["eps"]))) * grad_view[0].size
    np.testing.assert_allclose(np.sum(grad_view, axis=axes) / terms, 0.0, atol=1e-13)
    # Growing every group's spread around its mean changes nothing when eps is negligible.
    if float(np.min(result.var)) > 1e6 * params["eps"]:
        out_view, _ = _stat_view(variant, result.output, params)
        along = np.sum(grad_view * out_view, axis=axes) / terms
        np.testing.assert_allclose(along, 0.0, atol=1e-5)
