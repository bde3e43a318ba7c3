"""Initializers against torch.nn.init: gains, variances, bounds and the sampled weights."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.activations import ACTIVATIONS
from service.numerics.errors import NumericsError
from service.numerics.gaussian import gaussian_moments
from service.numerics.initializers import (
    GELU_GAIN,
    INIT_SCHEMES,
    MAX_GAIN,
    calculate_gain,
    default_gain,
    init_scheme_table,
    sample_weights,
    scheme_distribution,
    weight_variance,
)

TORCH_GAIN_NAMES = [name for name in ACTIVATIONS if name != "gelu"]


@pytest.mark.parametrize("name", TORCH_GAIN_NAMES)
@pytest.mark.parametrize("slope", [0.01, 0.2])
def test_gains_match_torch(name: str, slope: float) -> None:
    param = slope if name == "leaky_relu" else None
    assert calculate_gain(name, slope) == pytest.approx(
        torch.nn.init.calculate_gain(name, param),  # type: ignore[arg-type]
        rel=1e-15,
    )


def test_gelu_gain_keeps_the_second_moment() -> None:
    second_moment = 10 ** float(gaussian_moments("gelu", 0.0).log10_second_moment)
    assert math.isclose(GELU_GAIN, 1 / math.sqrt(second_moment), rel_tol=1e-15)
    # The same rule reproduces torch's relu gain: 1/√E[relu(z)²] = √2.
    relu_second = 10 ** float(gaussian_moments("relu", 0.0).log10_second_moment)
    assert 1 / math.sqrt(relu_second) == pytest.approx(torch.nn.init.calculate_gain("relu"))


def torch_weights(scheme: str, fan_in: int, fan_out: int, gain: float) -> torch.Tensor:
    """torch's initializer for our scheme, on a (fan_out, fan_in) float64 tensor."""
    w = torch.empty(fan_out, fan_in, dtype=torch.float64)
    if scheme.startswith(("lecun", "he")):
        # kaiming_* draws with std gain(nonlinearity, a) / √fan_in, and leaky_relu's gain is
        # √(2 / (1 + a²)): solve a from the gain we want.
        a = math.sqrt(max(2.0 / gain**2 - 1.0, 0.0))
        init = (
            torch.nn.init.kaiming_normal_
            if scheme.endswith("normal")
            else torch.nn.init.kaiming_uniform_
        )
        init(w, a=a, mode="fan_in", nonlinearity="leaky_relu")
    elif scheme == "xavier_normal":
        torch.nn.init.xavier_normal_(w, gain=gain)
    elif scheme == "xavier_uniform":
        torch.nn.init.xavier_uniform_(w, gain=gain)
    else:
        torch.nn.init.orthogonal_(w, gain=gain)
    return w


@pytest.mark.parametrize("scheme", INIT_SCHEMES)
@pytest.mark.parametrize(("fan_in", "fan_out"), [(300, 300), (400, 150), (120, 500)])
def test_sampled_variance_matches_formula_and_torch(scheme: str, fan_in: int, fan_out: int) -> None:
    """Both samples' variances lie within a derived bound of the formula.

    For N i.i.d. zero-mean draws the sample second moment has standard error σ²·√(κ/N) with
    κ = E[W⁴]/σ⁴ - 1 = 2 (normal) or 4/5 (uniform); we allow 6 standard errors (p < 2e-9).
    Orthogonal weights have an exact mean square, gain² / max(fan_in, fan_out).
    """
    gain = 1.3
    torch.manual_seed(0)
    expected = weight_variance(scheme, fan_in, fan_out, gain)
    ours = sample_weights(scheme, fan_in, fan_out, gain, np.random.default_rng(1))
    theirs = torch_weights(scheme, fan_in, fan_out, gain).numpy()
    assert ours.shape == theirs.shape == (fan_out, fan_in)
    n = ours.size
    distribution = scheme_distribution(scheme)
    for sample in (ours, theirs):
        mean_square = float(np.mean(sample * sample))
        if distribution == "orthogonal":
            assert mean_square == pytest.approx(expected, rel=1e-12)
        else:
            kurtosis_excess = 2.0 if distribution == "normal" else 0.8
            assert abs(mean_square - expected) <= 6 * expected * math.sqrt(kurtosis_excess / n)
    if distribution == "uniform":
        bound = math.sqrt(3 * expected)
        assert np.abs(ours).max() <= bound
        assert np.abs(theirs).max() <= bound * (1 + 1e-12)
        assert np.abs(ours).max() > 0.99 * bound


@pytest.mark.parametrize(("fan_in", "fan_out"), [(64, 64), (100, 30), (30, 100)])
def test_orthogonal_rows_or_columns_are_orthonormal(fan_in: int, fan_out: int) -> None:
    w = sample_weights("orthogonal", fan_in, fan_out, 2.0, np.random.default_rng(0)) / 2.0
    gram = w @ w.T if fan_out <= fan_in else w.T @ w
    np.testing.assert_allclose(gram, np.eye(min(fan_in, fan_out)), atol=1e-12)


def test_default_gains() -> None:
    assert default_gain("lecun_normal", "relu") == 1.0
    assert default_gain("he_normal", "relu") == pytest.approx(math.sqrt(2))
    assert default_gain("xavier_uniform", "tanh") == pytest.approx(5 / 3)
    # He with relu doubles LeCun: 2/fan_in against 1/fan_in.
    assert weight_variance(
        "he_normal", 100, 100, default_gain("he_normal", "relu")
    ) == pytest.approx(0.02)
    assert weight_variance("lecun_normal", 100, 100, 1.0) == pytest.approx(0.01)


def test_sampling_is_reproducible_and_fills_out() -> None:
    buffer = np.empty((20, 10))
    first = sample_weights("he_uniform", 10, 20, 1.0, np.random.default_rng(5), out=buffer)
    assert first is buffer
    second = sample_weights("he_uniform", 10, 20, 1.0, np.random.default_rng(5))
    np.testing.assert_array_equal(first, second)


def test_table_lists_every_scheme_and_gain() -> None:
    table = init_scheme_table(0.2)
    assert [s.name for s in table.schemes] == list(INIT_SCHEMES)
    assert {g.activation for g in table.gains} == set(ACTIVATIONS)
    leaky = next(g for g in table.gains if g.activation == "leaky_relu")
    assert leaky.gain == pytest.approx(torch.nn.init.calculate_gain("leaky_relu", 0.2))
    assert all(s.variance_formula and s.distribution for s in table.schemes)


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: weight_variance("kaiming", 3, 3, 1.0), "init"),
        (lambda: weight_variance("he_normal", 0, 3, 1.0), "fan_in"),
        (lambda: weight_variance("he_normal", 3, True, 1.0), "fan_out"),
        (lambda: weight_variance("he_normal", 3, 3, 0.0), "gain"),
        (lambda: weight_variance("he_normal", 3, 3, math.inf), "gain"),
        (lambda: calculate_gain("softplus"), "activation"),
    ],
)
def test_bad_arguments_name_their_field(call: object, field: str) -> None:
    with pytest.raises(NumericsError) as info:
        call()  # type: ignore[operator]
    assert info.value.field == field


@given(
    scheme=st.sampled_from(INIT_SCHEMES),
    fan_in=st.integers(1, 5000),
    fan_out=st.integers(1, 5000),
    gain=st.floats(1e-3, 1e3),
)
@settings(max_examples=100, deadline=None)
def test_variance_scales_with_gain_squared(
    scheme: str, fan_in: int, fan_out: int, gain: float
) -> None:
    base = weight_variance(scheme, fan_in, fan_out, 1.0)
    assert weight_variance(scheme, fan_in, fan_out, gain) == pytest.approx(
        gain**2 * base, rel=1e-14
    )
    assert 0.0 < base <= 1.0


def test_largest_gain_keeps_the_variance_finite() -> None:
    assert math.isfinite(weight_variance("xavier_normal", 1, 1, MAX_GAIN))
    with pytest.raises(NumericsError, match="gain must be in"):
        weight_variance("he_normal", 10, 10, 1.7e308)
