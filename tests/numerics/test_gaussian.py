"""Gaussian moments E[φ(u)²], E[φ(u)], Var φ(u), E[φ'(u)²], u ~ N(0, q), against mpmath.

The reference integrates at 25 digits with breakpoints at φ's own scale (1/√q in z) and every
integrand scaled to O(1), so that mpmath's absolute tolerance is a relative one for us.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import mpmath  # type: ignore[import-untyped]
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.activations import ACTIVATIONS, SELU_ALPHA, SELU_SCALE
from service.numerics.gaussian import gaussian_moments, log10_second_moment

LAMBDA, ALPHA = mpmath.mpf(SELU_SCALE), mpmath.mpf(SELU_ALPHA)
Function = Callable[[mpmath.mpf], mpmath.mpf]
FUNCTIONS: dict[str, tuple[Function, Function]] = {
    "tanh": (mpmath.tanh, lambda u: mpmath.sech(u) ** 2),
    "sigmoid": (
        lambda u: 1 / (1 + mpmath.exp(-u)),
        lambda u: mpmath.exp(-u) / (1 + mpmath.exp(-u)) ** 2,
    ),
    "gelu": (lambda u: u * mpmath.ncdf(u), lambda u: mpmath.ncdf(u) + u * mpmath.npdf(u)),
    "selu": (
        lambda u: LAMBDA * u if u > 0 else LAMBDA * ALPHA * mpmath.expm1(u),
        lambda u: LAMBDA if u > 0 else LAMBDA * ALPHA * mpmath.exp(u),
    ),
}
ACCURACY = 1e-10  # the issue asks for 1e-8 relative


def reference(name: str, log10_q: float) -> dict[str, float]:
    """m2, mean, var, d2 for u ~ N(0, q) by mpmath quadrature."""
    with mpmath.workdps(25):
        q = mpmath.mpf(10) ** log10_q
        s = mpmath.sqrt(q)
        f, d = FUNCTIONS[name]
        if s <= 1000:
            points = {-14, -8, -4, -2, -1, -0.5, 0, 0.5, 1, 2, 4, 8, 14}
            points |= {sign * k / s for sign in (-1, 1) for k in (1, 5, 20) if k / s < 14}
            scale: Callable[[mpmath.mpf], mpmath.mpf] = lambda z: s * z  # noqa: E731
            density: Callable[[mpmath.mpf], mpmath.mpf] = mpmath.npdf
        else:
            points = {0, 1, 3, 10, 40, s, 4 * s, 14 * s}
            points |= {-p for p in points}
            scale = lambda u: u  # noqa: E731
            density = lambda u: mpmath.npdf(u / s) / s  # noqa: E731
        nodes = sorted(points)

        def expect(g: Function, normalizer: mpmath.mpf) -> mpmath.mpf:
            return normalizer * mpmath.quad(lambda x: g(scale(x)) * density(x) / normalizer, nodes)

        bounded = name in ("tanh", "sigmoid")
        m2_norm = min(q, 1) if name == "tanh" else (1 if name == "sigmoid" else q)
        mean_norm = {"tanh": 1, "sigmoid": 1, "gelu": q / mpmath.sqrt(1 + q), "selu": s}[name]
        d2_norm = min(1, 1 / s) if bounded else 1
        m2 = expect(lambda u: f(u) ** 2, m2_norm)
        mean = 0 if name == "tanh" else expect(f, mean_norm)
        var = expect(lambda u: (f(u) - mean) ** 2, min(q, 1) if bounded else q)
        d2 = expect(lambda u: d(u) ** 2, d2_norm)
        return {"m2": float(m2), "mean": float(mean), "var": float(var), "d2": float(d2)}


def ours(name: str, log10_q: float) -> dict[str, float]:
    moments = gaussian_moments(name, np.array([log10_q]))
    return {
        "m2": 10 ** float(moments.log10_second_moment[0]),
        "mean": float(moments.mean()[0]),
        "var": 10 ** float(moments.log10_variance[0]),
        "d2": 10 ** float(moments.log10_derivative_second_moment[0]),
    }


def assert_matches_reference(name: str, log10_q: float) -> None:
    expected, actual = reference(name, log10_q), ours(name, log10_q)
    for key, value in expected.items():
        if key == "mean" and name == "tanh":
            assert actual[key] == 0.0
            continue
        assert actual[key] == pytest.approx(value, rel=ACCURACY), (key, actual[key], value)


# q from 1e-30 to 1e30, including both sides of the switch to the large-q expansions (2^40).
@pytest.mark.parametrize("log10_q", [-30.0, -3.0, 0.0, 0.7, 3.0, 12.2, 20.0])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "selu"])
def test_smooth_activations_match_mpmath(name: str, log10_q: float) -> None:
    assert_matches_reference(name, log10_q)


@pytest.mark.slow
@pytest.mark.parametrize("log10_q", [-12.0, -1.5, -0.3, 0.3, 1.5, 2.5, 5.0, 8.0, 11.9, 12.05, 30.0])
@pytest.mark.parametrize("name", ["tanh", "sigmoid", "gelu", "selu"])
def test_smooth_activations_match_mpmath_dense(name: str, log10_q: float) -> None:
    assert_matches_reference(name, log10_q)


@pytest.mark.parametrize("log10_q", [-300.0, -7.0, 0.0, 2.3, 300.0])
def test_piecewise_linear_closed_forms(log10_q: float) -> None:
    q = 10.0**log10_q
    p0 = 1.0 / math.sqrt(2.0 * math.pi)
    slope = 0.3
    expectations = {
        "linear": (q, 0.0, q, 1.0),
        "relu": (q / 2, p0 * math.sqrt(q), q * (0.5 - p0 * p0), 0.5),
        "leaky_relu": (
            q * (1 + slope**2) / 2,
            p0 * math.sqrt(q) * (1 - slope),
            q * ((1 + slope**2) / 2 - (p0 * (1 - slope)) ** 2),
            (1 + slope**2) / 2,
        ),
    }
    for name, (m2, mean, var, d2) in expectations.items():
        moments = gaussian_moments(name, np.array([log10_q]), slope)
        assert 10 ** moments.log10_second_moment[0] == pytest.approx(m2, rel=1e-13)
        assert moments.mean()[0] == pytest.approx(mean, rel=1e-13)
        assert 10 ** moments.log10_variance[0] == pytest.approx(var, rel=1e-13)
        assert 10 ** moments.log10_derivative_second_moment[0] == pytest.approx(d2, rel=1e-13)


def test_known_values() -> None:
    # tanh near 0: E[tanh²(u)] = q - 2q² + 17/3 q³ - ..., exact to 1e-13 at q = 1e-4.
    q = 1e-4
    assert ours("tanh", -4.0)["m2"] == pytest.approx(q - 2 * q**2 + 17 / 3 * q**3, rel=1e-13)
    # gelu at q = 1: E[gelu(z)²] = 1/3 + 1/(2π√3) and E[gelu(z)] = 1/(2√π).
    assert ours("gelu", 0.0)["m2"] == pytest.approx(
        1 / 3 + 1 / (2 * math.pi * math.sqrt(3)), rel=1e-15
    )
    assert ours("gelu", 0.0)["mean"] == pytest.approx(1 / (2 * math.sqrt(math.pi)), rel=1e-15)
    # selu is built so that E[selu(z)] = 0 and E[selu(z)²] = 1 for z ~ N(0, 1) (to ~1e-9).
    assert ours("selu", 0.0)["m2"] == pytest.approx(1.0, abs=1e-8)
    assert ours("selu", 0.0)["mean"] == pytest.approx(0.0, abs=1e-8)
    # sigmoid: E[σ(u)] = 1/2 for every q by σ(u) + σ(-u) = 1.
    for log10_q in (-50.0, 0.0, 50.0):
        assert ours("sigmoid", log10_q)["mean"] == 0.5


@pytest.mark.parametrize("name", ACTIVATIONS)
def test_extreme_and_infinite_variances_are_finite_or_signed_infinity(name: str) -> None:
    log10_q = np.array([-np.inf, -1e5, -400.0, -1.0, 400.0, 1e5, np.inf])
    moments = gaussian_moments(name, log10_q, 0.1)
    for field in (
        moments.log10_second_moment,
        moments.log10_variance,
        moments.log10_abs_mean,
        moments.log10_derivative_second_moment,
        moments.mean_sign,
    ):
        assert not np.isnan(field).any()
    # Bounded activations saturate: E[φ²] stays below 1.
    if name in ("tanh", "sigmoid"):
        assert (moments.log10_second_moment <= 0.0).all()
    else:
        assert moments.log10_second_moment[-2] > 1e4


def test_the_scalar_path_matches_the_vectorized_one() -> None:
    for name in ACTIVATIONS:
        for log10_q in (-math.inf, -200.0, -3.3, 0.0, 0.41, 7.0, 12.5, 250.0, 5e4):
            vector = gaussian_moments(name, np.array([log10_q]), 0.1).log10_second_moment[0]
            scalar = log10_second_moment(name, log10_q, 0.1)
            assert scalar == pytest.approx(vector, rel=1e-14, abs=1e-14)


@pytest.mark.parametrize("name", ACTIVATIONS)
@given(low=st.floats(-40.0, 40.0), step=st.floats(1e-3, 20.0))
@settings(max_examples=40, deadline=None)
def test_moment_inequalities(name: str, low: float, step: float) -> None:
    """E[φ²] grows with q; 0 < Var φ <= E[φ²]; E[φ]² <= E[φ²]; E[φ'²] > 0."""
    moments = gaussian_moments(name, np.array([low, low + step]), 0.1)
    m2 = moments.log10_second_moment
    assert m2[1] >= m2[0] - 1e-12
    assert (moments.log10_variance <= m2 + 1e-12).all()
    assert (2 * moments.log10_abs_mean <= m2 + 1e-12).all()
    assert np.isfinite(moments.log10_derivative_second_moment).all()
