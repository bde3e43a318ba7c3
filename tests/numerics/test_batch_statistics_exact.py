"""The exact moments of a batch-normalized value against mpmath, closed forms and first order."""

from __future__ import annotations

import math

import mpmath as mp
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.batch_statistics import (
    exact_variance,
    first_order_variance,
    normalized_moments,
    normalized_pair,
)
from service.numerics.errors import NonFiniteResult, NumericsError


def mpmath_moments(m: int, z: float, eps: float) -> tuple[float, float]:
    """(E[x̂], E[x̂²]) with Q ~ χ²_{m-2} integrated in closed form and d by tanh-sinh.

    Independent of the module's Laplace-transform reduction: for a χ²_k variable,
    E[(Q + C)^-s] = C^{k/2-s} 2^{-k/2} U(k/2, k/2 + 1 - s, C/2) (Kummer's U), and
    x̂ = ((m-1) d / m) · sqrt(m) · (Q + C)^{-1/2} with C = (m-1) d² / m + m·eps,
    d = z - ȳ ~ N(z, 1/(m-1)). The d integral is split at 0, where E_Q[...] has a kink for m = 3.
    """
    with mp.workdps(15):
        mm, zz, ee = mp.mpf(m), mp.mpf(z), mp.mpf(eps)
        k = mm - 2
        sd = 1 / mp.sqrt(mm - 1)

        def q_expectation(c: mp.mpf, s: mp.mpf) -> mp.mpf:
            if k == 0:
                return c ** (-s)
            return c ** (k / 2 - s) * 2 ** (-k / 2) * mp.hyperu(k / 2, k / 2 + 1 - s, c / 2)

        def integrand(d: mp.mpf, power: int) -> mp.mpf:
            c = (mm - 1) * d * d / mm + mm * ee
            value = ((mm - 1) * d / mm) ** power * mm ** (mp.mpf(power) / 2)
            return mp.npdf(d, zz, sd) * value * q_expectation(c, mp.mpf(power) / 2)

        low, high = zz - 12 * sd, zz + 12 * sd
        points = [low, 0, high] if low < 0 < high else [low, high]
        first = mp.quad(lambda d: integrand(d, 1), points)
        second = mp.quad(lambda d: integrand(d, 2), points)
        return float(first), float(second)


def assert_matches_mpmath(m: int, z: float, eps: float) -> None:
    first, second = mpmath_moments(m, z, eps)
    moments = normalized_moments(m, z, eps)
    # mpmath's own error at m = 3 (the kink at d = 0) is about 3e-14.
    assert moments.mean == pytest.approx(first, rel=1e-12, abs=1e-13)
    assert moments.second_moment == pytest.approx(second, rel=1e-12)
    assert moments.variance == pytest.approx(second - first * first, rel=1e-11, abs=1e-13)


@pytest.mark.parametrize(("m", "z", "eps"), [(2, 1.0, 1e-5), (3, 1.0, 1e-5)])
def test_moments_match_mpmath(m: int, z: float, eps: float) -> None:
    assert_matches_mpmath(m, z, eps)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("m", "z", "eps"),
    [
        (3, 0.0, 1e-5),
        (4, 2.5, 0.0),
        (5, -1.5, 1e-2),
        (6, 0.5, 1e-5),
        (16, 2.0, 1e-5),
        (32, 1.0, 1.0),
        (64, 0.3, 0.0),
    ],
)
def test_moments_match_mpmath_on_a_wider_grid(m: int, z: float, eps: float) -> None:
    assert_matches_mpmath(m, z, eps)


@pytest.mark.parametrize("z", [0.0, 0.5, 1.0, -2.0, 10.0])
def test_batch_of_two_without_eps_is_a_sign(z: float) -> None:
    """m = 2, eps = 0: x̂ = sign(z - y), y ~ N(0, 1): E[x̂] = erf(z/√2), E[x̂²] = 1."""
    moments = normalized_moments(2, z, 0.0)
    assert moments.mean == pytest.approx(math.erf(z / math.sqrt(2)), abs=1e-15)
    assert moments.second_moment == pytest.approx(1.0, abs=1e-15)
    assert moments.variance == pytest.approx(1 - math.erf(z / math.sqrt(2)) ** 2, abs=1e-15)


def test_eps_pulls_the_pair_toward_zero() -> None:
    """m = 2, z = 0: E[x̂²] = E[d²/(d² + 4 eps)], d ~ N(0, 1): 1 - 0.0079 at eps = 1e-5."""
    eps = 1e-5
    with mp.workdps(20):
        expected = mp.quad(lambda d: mp.npdf(d) * d * d / (d * d + 4 * eps), [-mp.inf, 0, mp.inf])
    moments = normalized_moments(2, 0.0, eps)
    assert moments.second_moment == pytest.approx(float(expected), rel=1e-14)
    assert 1 - moments.second_moment == pytest.approx(0.00789, abs=1e-5)


def test_a_large_monte_carlo_agrees_within_its_sampling_error() -> None:
    """10^6 batches of 8 drawn directly (not through the simulation module): |Δ| < 4 SE."""
    m, z, eps, n = 8, 1.5, 1e-5, 1_000_000
    rng = np.random.default_rng(12345)
    batch = np.concatenate([np.full((n, 1), z), rng.standard_normal((n, m - 1))], axis=1)
    mean = batch.mean(axis=1)
    x_hat = (z - mean) / np.sqrt(batch.var(axis=1) + eps)
    variance = x_hat.var(ddof=1)
    fourth = np.mean((x_hat - x_hat.mean()) ** 4)
    standard_error = math.sqrt((fourth - (n - 3) / (n - 1) * variance**2) / n)
    exact = normalized_moments(m, z, eps)
    assert abs(variance - exact.variance) < 4 * standard_error
    assert abs(x_hat.mean() - exact.mean) < 4 * math.sqrt(variance / n)
    assert standard_error < 2e-4  # the comparison is sharp: 0.1% of the variance


@pytest.mark.parametrize("z", [0.0, 1.0, 3.0])
def test_first_order_is_the_large_batch_limit(z: float) -> None:
    """exact / first order - 1 = c(z)/m + O(1/m²): m times the gap settles (c(0) = 3)."""
    scaled = [
        m * (exact_variance(m, z, 0.0) / first_order_variance(m, z) - 1)
        for m in (1024, 4096, 16384)
    ]
    assert abs(scaled[2] / 16384) < 2e-3  # within 0.2% at m = 16384
    assert abs(scaled[1] - scaled[0]) < 0.05 * max(1.0, abs(scaled[0]))
    assert abs(scaled[2] - scaled[1]) < 0.3 * abs(scaled[1] - scaled[0])  # the next order: 1/m²
    if z == 0.0:
        assert scaled[2] == pytest.approx(3.0, abs=1e-3)


def test_first_order_formula() -> None:
    assert first_order_variance(32, 1.0) == 1.5 / 32
    assert first_order_variance(4, 0.0) == 0.25


@settings(max_examples=60, deadline=None)
@given(
    m=st.integers(2, 5000),
    z=st.floats(-10, 10),
    eps=st.sampled_from([0.0, 1e-8, 1e-5, 1e-2, 1.0, 100.0]),
)
def test_moment_bounds_and_symmetry(m: int, z: float, eps: float) -> None:
    """0 <= Var <= E[x̂²] <= m - 1 (|x̂| <= sqrt(m - 1)); E[x̂] has z's sign; x̂(-z) = -x̂(z)."""
    moments = normalized_moments(m, z, eps)
    assert 0.0 <= moments.variance <= moments.second_moment * (1 + 1e-14)
    assert moments.second_moment <= (m - 1) * (1 + 1e-14)
    assert abs(moments.mean) <= math.sqrt(m - 1) * (1 + 1e-14)
    assert moments.mean * z >= 0.0
    mirrored = normalized_moments(m, -z, eps)
    assert mirrored.mean == -moments.mean
    assert mirrored.second_moment == moments.second_moment
    assert moments.quadrature_error <= 1e-12 * moments.second_moment


@settings(max_examples=40, deadline=None)
@given(m=st.integers(2, 2000), z=st.floats(-5, 5))
def test_more_eps_means_smaller_normalized_values(m: int, z: float) -> None:
    seconds = [normalized_moments(m, z, eps).second_moment for eps in (0.0, 1e-3, 1e-1, 10.0)]
    assert seconds == sorted(seconds, reverse=True)


@settings(max_examples=60, deadline=None)
@given(
    x1=st.floats(-1e6, 1e6),
    x2=st.floats(-1e6, 1e6),
    eps=st.sampled_from([0.0, 1e-5, 1e-2, 1.0]),
)
def test_the_pair_matches_torch_batch_norm(x1: float, x2: float, eps: float) -> None:
    """PyTorch refuses eps = 0 in training; there the pair is (sign(x1 - x2), -sign(x1 - x2))."""
    if x1 == x2 and eps == 0.0:
        return
    first, second = normalized_pair(x1, x2, eps)
    if eps == 0.0:
        assert (first, second) == ((1.0, -1.0) if x1 > x2 else (-1.0, 1.0))
        return
    batch = torch.tensor([[x1], [x2]], dtype=torch.float64)
    expected = F.batch_norm(batch, None, None, training=True, eps=eps).reshape(-1).tolist()
    # Rounding of x - mean (PyTorch's mean of two equal values is not always exact) is scaled
    # up by 1 / sqrt(var + eps).
    scale = math.sqrt(((x1 - x2) / 2) ** 2 + eps)
    rounding = 4 * np.finfo(np.float64).eps * max(abs(x1), abs(x2)) / scale
    assert first == pytest.approx(expected[0], rel=1e-12, abs=rounding + 1e-15)
    assert second == -first
    assert abs(first) <= 1.0
    # "±1 up to eps": 1 - 1/sqrt(1 + u) <= u/2 with u = 4 eps / (x1 - x2)².
    gap = (x1 - x2) ** 2
    if gap > 0.0:  # (not underflowed)
        assert 1.0 - abs(first) <= 2 * eps / gap + 1e-15


def test_pair_signs_and_edge_cases() -> None:
    assert normalized_pair(3.0, 1.0, 0.0) == (1.0, -1.0)
    assert normalized_pair(-2.0, 5.0, 0.0) == (-1.0, 1.0)
    assert normalized_pair(1.0, 1.0, 1e-5) == (0.0, 0.0)
    assert normalized_pair(0.0, 5e-324, 0.0) == (-1.0, 1.0)  # half the gap underflows to 0
    first, _ = normalized_pair(1.0, 0.0, 1e-5)
    assert first == pytest.approx(1 / math.sqrt(1 + 4e-5), rel=1e-15)
    with pytest.raises(NonFiniteResult) as caught:
        normalized_pair(2.0, 2.0, 0.0)
    assert caught.value.field == "eps"


@pytest.mark.parametrize(
    ("args", "field", "message"),
    [
        ((1, 1.0, 1e-5), "batch_size", "more than one value per channel"),
        ((0, 1.0, 1e-5), "batch_size", ">= 2"),
        ((True, 1.0, 1e-5), "batch_size", "must be an integer"),
        ((2.0, 1.0, 1e-5), "batch_size", "must be an integer"),
        ((4, math.nan, 1e-5), "z", "finite number in [-10, 10]"),
        ((4, 11.0, 1e-5), "z", "finite number in [-10, 10]"),
        ((4, "1", 1e-5), "z", "must be a number"),
        ((4, 1.0, -1e-5), "eps", "in [0, 1000]"),
    ],
)
def test_bad_arguments_name_their_field(args: tuple, field: str, message: str) -> None:
    with pytest.raises(NumericsError) as caught:
        normalized_moments(*args)
    assert caught.value.field == field
    assert message in str(caught.value)
    assert str(caught.value).startswith(field)
