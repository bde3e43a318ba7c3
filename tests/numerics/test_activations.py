"""Activations and their derivatives against torch (float64), and Φ against mpmath."""

from __future__ import annotations

import math

import mpmath  # type: ignore[import-untyped]
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.activations import (
    ACTIVATIONS,
    activation_derivative,
    apply_activation,
    check_activation,
    normal_cdf,
    normal_pdf,
)
from service.numerics.errors import NumericsError

SLOPE = 0.2
GRID = np.concatenate([np.linspace(-60.0, 60.0, 4001), [0.0, -0.0, 1e-300, -1e-300, 700.0, -700.0]])


def torch_activation(name: str, x: torch.Tensor) -> torch.Tensor:
    functions = {
        "linear": lambda t: t * 1.0,
        "relu": torch.relu,
        "leaky_relu": lambda t: torch.nn.functional.leaky_relu(t, SLOPE),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "gelu": lambda t: torch.nn.functional.gelu(t, approximate="none"),
        "selu": torch.selu,
    }
    return functions[name](x)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_forward_matches_torch(name: str) -> None:
    ours = apply_activation(name, GRID.copy(), SLOPE)
    expected = torch_activation(name, torch.tensor(GRID, dtype=torch.float64)).numpy()
    # torch flushes the far tails (gelu at -37, 1 - tanh²) to 0: compare absolutely there.
    np.testing.assert_allclose(ours, expected, rtol=1e-13, atol=1e-15)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_derivative_matches_torch_autograd(name: str) -> None:
    x = torch.tensor(GRID, dtype=torch.float64, requires_grad=True)
    torch_activation(name, x).sum().backward()
    assert x.grad is not None
    ours = activation_derivative(name, GRID.copy(), SLOPE)
    np.testing.assert_allclose(ours, x.grad.numpy(), rtol=1e-12, atol=1e-15)


MPMATH_FUNCTIONS = {
    "tanh": (mpmath.tanh, lambda u: mpmath.sech(u) ** 2),
    "sigmoid": (
        lambda u: 1 / (1 + mpmath.exp(-u)),
        lambda u: mpmath.exp(-u) / (1 + mpmath.exp(-u)) ** 2,
    ),
    "gelu": (lambda u: u * mpmath.ncdf(u), lambda u: mpmath.ncdf(u) + u * mpmath.npdf(u)),
}


@pytest.mark.parametrize("name", sorted(MPMATH_FUNCTIONS))
def test_tails_keep_relative_precision(name: str) -> None:
    """Where torch rounds to 0, ours keeps the digits (mpmath at 30 digits is the reference)."""
    x = np.array([-36.0, -20.0, -5.0, -0.5, 0.5, 5.0, 20.0, 300.0])
    if name == "gelu":
        x = x[x > -37.0]
    function, derivative = MPMATH_FUNCTIONS[name]
    with mpmath.workdps(30):
        expected = np.array([float(function(mpmath.mpf(v))) for v in x])
        expected_derivative = np.array([float(derivative(mpmath.mpf(v))) for v in x])
    np.testing.assert_allclose(apply_activation(name, x), expected, rtol=2e-13)
    np.testing.assert_allclose(activation_derivative(name, x), expected_derivative, rtol=2e-13)


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_in_place_equals_out_of_place(name: str) -> None:
    rng = np.random.default_rng(3)
    x = rng.standard_normal((7, 5)) * 4.0
    expected = apply_activation(name, x.copy(), SLOPE)
    buffer = x.copy()
    result = apply_activation(name, buffer, SLOPE, out=buffer)
    assert result is buffer
    np.testing.assert_array_equal(buffer, expected)


def test_normal_cdf_against_mpmath() -> None:
    x = np.linspace(-37.5, 9.0, 1201)  # Φ(-37.5) = 4.6e-308: still a normal double
    expected = np.array([float(mpmath.ncdf(v)) for v in x])
    # Φ's condition number is ~x², so the tail is as exact as the double x allows (2e-13).
    np.testing.assert_allclose(normal_cdf(x), expected, rtol=2e-13, atol=0)
    assert normal_cdf(np.array([-40.0]))[0] == 0.0
    assert normal_cdf(np.array([40.0]))[0] == 1.0
    np.testing.assert_allclose(normal_pdf(1.5), math.exp(-1.125) / math.sqrt(2 * math.pi))


def test_normal_cdf_against_torch_ndtr() -> None:
    x = np.random.default_rng(0).standard_normal(10_000) * 5.0
    expected = torch.special.ndtr(torch.tensor(x, dtype=torch.float64)).numpy()
    np.testing.assert_allclose(normal_cdf(x), expected, rtol=1e-13, atol=1e-16)


@given(st.floats(-50.0, 50.0, allow_nan=False))
@settings(max_examples=200, deadline=None)
def test_normal_cdf_symmetry(x: float) -> None:
    both = normal_cdf(np.array([x, -x]))
    assert both[0] + both[1] == pytest.approx(1.0, abs=2e-16)


@pytest.mark.parametrize(
    ("name", "slope", "field"),
    [
        ("swish", 0.01, "activation"),
        ("relu", math.nan, "negative_slope"),
        ("relu", 1e9, "negative_slope"),
    ],
)
def test_bad_names_and_slopes(name: str, slope: float, field: str) -> None:
    with pytest.raises(NumericsError) as info:
        check_activation(name, slope)
    assert info.value.field == field
