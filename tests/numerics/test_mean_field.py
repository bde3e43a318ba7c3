"""Mean-field fixed points, χ, phases and the critical line, against an independent torch oracle."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.activations import ACTIVATIONS
from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.mean_field import (
    MAX_GRID_CELLS,
    critical_sigma_w2,
    mean_field_grid,
    mean_field_point,
)

# Composite Simpson in z on [-12, 12] with a node at 0, in torch float64 (independent of
# service.numerics.gaussian); accurate to ~1e-13 for the moderate q* met below.
_Z = torch.linspace(-12.0, 12.0, 48_001, dtype=torch.float64)
_SIMPSON = torch.ones_like(_Z)
_SIMPSON[1:-1:2], _SIMPSON[2:-1:2] = 4.0, 2.0
_W = torch.exp(-0.5 * _Z * _Z) / math.sqrt(2 * math.pi) * (_Z[1] - _Z[0]) / 3.0 * _SIMPSON
PHI: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "tanh": torch.tanh,
    "sigmoid": torch.sigmoid,
    "gelu": torch.nn.functional.gelu,
}


def oracle_second_moment(name: str, q: float) -> float:
    return float((PHI[name](math.sqrt(q) * _Z) ** 2 * _W).sum())


def oracle_chi(name: str, sigma_w2: float, q: float) -> float:
    u = (math.sqrt(q) * _Z).requires_grad_(True)
    (grad,) = torch.autograd.grad(PHI[name](u).sum(), u)
    return sigma_w2 * float((grad * grad * _W).sum())


def oracle_fixed_point(name: str, sigma_w2: float, sigma_b2: float) -> float:
    """Iterate q <- σ_w² E[φ(√q z)²] + σ_b² from q = 1 until it stops moving."""
    q = 1.0
    for _ in range(10_000):
        new = sigma_w2 * oracle_second_moment(name, q) + sigma_b2
        if abs(new - q) <= 1e-15 * q:
            return new
        q = new
    raise AssertionError("no convergence")


@pytest.mark.parametrize(
    ("name", "sigma_w2", "sigma_b2"),
    [
        ("tanh", 4.0, 0.0),
        ("tanh", 1.5, 0.05),
        ("tanh", 0.8, 0.3),
        ("sigmoid", 4.0, 0.0),
        ("gelu", 1.0, 1.0),
    ],
)
def test_fixed_point_and_chi_match_the_oracle(name: str, sigma_w2: float, sigma_b2: float) -> None:
    point = mean_field_point(name, sigma_w2, sigma_b2)
    q_star = oracle_fixed_point(name, sigma_w2, sigma_b2)
    assert point.fixed_point == "finite"
    assert point.q_star == pytest.approx(q_star, rel=1e-11)
    chi = oracle_chi(name, sigma_w2, q_star)
    assert point.chi == pytest.approx(chi, rel=1e-10)
    assert point.phase == ("chaotic" if chi > 1 else "ordered")
    assert point.depth_scale == pytest.approx(1 / abs(math.log(chi)), rel=1e-8)


@pytest.mark.parametrize(
    ("name", "sigma_b2"), [("tanh", 0.05), ("tanh", 0.5), ("tanh", 2.0), ("sigmoid", 0.1)]
)
def test_critical_line_has_chi_equal_to_one(name: str, sigma_b2: float) -> None:
    sigma_w2 = critical_sigma_w2(name, sigma_b2)
    assert sigma_w2 is not None
    q_star = oracle_fixed_point(name, sigma_w2, sigma_b2)
    assert oracle_chi(name, sigma_w2, q_star) == pytest.approx(1.0, abs=1e-9)
    point = mean_field_point(name, sigma_w2, sigma_b2)
    assert point.phase == "critical"
    assert point.critical_sigma_w2 == pytest.approx(sigma_w2, rel=1e-12)
    # Just off the line the phase flips.
    assert mean_field_point(name, sigma_w2 * 0.99, sigma_b2).phase == "ordered"
    assert mean_field_point(name, sigma_w2 * 1.01, sigma_b2).phase == "chaotic"


def test_tanh_without_bias_is_critical_at_one() -> None:
    assert critical_sigma_w2("tanh", 0.0) == pytest.approx(1.0, rel=1e-9)
    ordered = mean_field_point("tanh", 0.5, 0.0)
    assert (ordered.q_star, ordered.fixed_point, ordered.chi) == (0.0, "zero", 0.5)
    assert ordered.depth_scale == pytest.approx(1 / math.log(2))
    edge = mean_field_point("tanh", 1.0, 0.0)
    assert (edge.q_star, edge.chi, edge.phase, edge.depth_scale) == (0.0, 1.0, "critical", None)


@pytest.mark.parametrize(
    ("name", "slope", "critical"),
    [("linear", 0.01, 1.0), ("relu", 0.01, 2.0), ("leaky_relu", 0.5, 1.6)],
)
def test_piecewise_linear_closed_forms(name: str, slope: float, critical: float) -> None:
    assert critical_sigma_w2(name, 0.3, negative_slope=slope) == pytest.approx(critical)
    neutral = mean_field_point(name, critical, 0.0, negative_slope=slope, q0=2.5)
    assert (neutral.q_star, neutral.fixed_point, neutral.phase) == (2.5, "neutral", "critical")
    assert neutral.depth_scale is None
    biased = mean_field_point(name, critical / 2, 0.4, negative_slope=slope)
    assert biased.q_star == pytest.approx(0.8)  # σ_b² / (1 - σ_w² E[φ(z)²]) with the rate 1/2
    assert biased.chi == pytest.approx(0.5)
    exploding = mean_field_point(name, 2 * critical, 0.4, negative_slope=slope)
    assert (exploding.q_star, exploding.fixed_point, exploding.phase) == (
        None,
        "infinite",
        "chaotic",
    )
    assert exploding.chi == pytest.approx(2.0)
    vanishing = mean_field_point(name, critical / 4, 0.0, negative_slope=slope)
    assert (vanishing.q_star, vanishing.fixed_point, vanishing.phase) == (0.0, "zero", "ordered")


def test_gelu_without_bias_goes_to_zero_or_infinity_depending_on_the_start() -> None:
    # E[gelu(√q z)²]/q rises from 1/4 to 1/2, so at σ_w² = 3 the non-zero fixed point repels.
    low = mean_field_point("gelu", 3.0, 0.0, q0=1e-3)
    high = mean_field_point("gelu", 3.0, 0.0, q0=1e3)
    assert (low.fixed_point, low.q_star, low.chi) == ("zero", 0.0, pytest.approx(0.75))
    assert (high.fixed_point, high.q_star, high.chi) == ("infinite", None, pytest.approx(1.5))
    # χ jumps over 1 along σ_w² there is no critical point at σ_b² = 0.
    assert low.critical_sigma_w2 is None


def test_selu_self_normalizes_at_unit_variance() -> None:
    point = mean_field_point("selu", 1.0, 0.0)
    assert point.q_star == pytest.approx(1.0, abs=1e-8)
    lam, alpha = 1.0507009873554804934193349852946, 1.6732632423543772848170429916717
    # χ = E[selu'(z)²] = λ² (1/2 + α² e² Φ(-2)) in closed form at q = 1.
    expected = lam**2 * (0.5 + alpha**2 * math.exp(2.0) * 0.5 * math.erfc(2.0 / math.sqrt(2.0)))
    assert point.chi == pytest.approx(expected, rel=1e-8)


def finite_or_none(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isfinite(value))


# E[φ'(z)²] is largest for selu near q = 0, λ²(1 + α²)/2 ≈ 2.1 (leaky_relu with slope 0.1:
# 0.505), so below this σ_w² no χ overflows (above it, see the test after this one).
SIGMA_W2_WITH_FINITE_CHI = 1.7976931348623157e308 / 2.2


@given(
    name=st.sampled_from(ACTIVATIONS),
    sigma_w2=st.one_of(
        st.just(0.0), st.floats(1e-6, 1e3), st.floats(1e3, SIGMA_W2_WITH_FINITE_CHI)
    ),
    sigma_b2=st.one_of(st.just(0.0), st.floats(1e-8, 1e2)),
    q0=st.floats(1e-6, 1e6),
)
@settings(max_examples=80, deadline=None)
def test_never_nan(name: str, sigma_w2: float, sigma_b2: float, q0: float) -> None:
    point = mean_field_point(name, sigma_w2, sigma_b2, q0=q0, negative_slope=0.1)
    for value in (point.q_star, point.chi, point.depth_scale, point.critical_sigma_w2):
        assert finite_or_none(value)
    assert (point.q_star is None) == (point.fixed_point == "infinite")
    assert point.chi >= 0.0
    expected = (
        "critical" if abs(point.chi - 1) <= 1e-6 else ("ordered" if point.chi < 1 else "chaotic")
    )
    assert point.phase == expected


@pytest.mark.parametrize("slope", [354.9, -2.0, 1e6])
def test_chi_beyond_float64_is_refused_naming_sigma_w2(slope: float) -> None:
    # leaky_relu: E[φ'(z)²] = (1 + a²)/2 whatever q*, so χ = σ_w²·(1 + a²)/2 in closed form.
    moment = (1.0 + slope * slope) / 2.0
    largest = 1.7976931348623157e308
    below, above = largest / moment * 0.999, largest / moment * 1.001
    point = mean_field_point("leaky_relu", below, negative_slope=slope)
    assert point.chi == pytest.approx(below * moment, rel=1e-12)
    assert point.phase == "chaotic"
    for call in (
        lambda: mean_field_point("leaky_relu", above, negative_slope=slope),
        lambda: mean_field_grid("leaky_relu", [1.0, above], [0.0], negative_slope=slope),
    ):
        with pytest.raises(NonFiniteResult) as info:
            call()
        assert info.value.field == "sigma_w2"
        assert f"{above:g}" in str(info.value)
        limit = float(str(info.value).rsplit("below ", 1)[1])
        assert limit == pytest.approx(largest / moment, rel=1e-5)


@pytest.mark.parametrize(("name", "rate"), [("relu", 0.5), ("linear", 0.25), ("leaky_relu", 0.5)])
def test_q_star_beyond_float64_is_refused_naming_sigma_b2(name: str, rate: float) -> None:
    # The linear family's map is q -> rate·q + σ_b² (rate = σ_w²·(1 + a²)/2, a = 0 for relu,
    # 1 for linear), so q* = σ_b² / (1 - rate) in closed form.
    sigma_w2 = rate / (0.5 * (1.0 + {"relu": 0.0, "linear": 1.0}.get(name, 0.0) ** 2))
    largest = 1.7976931348623157e308
    below, above = largest * (1.0 - rate) * 0.999, largest * (1.0 - rate) * 1.001
    point = mean_field_point(name, sigma_w2, below, negative_slope=0.0)
    assert point.fixed_point == "finite"
    assert point.q_star == pytest.approx(below / (1.0 - rate), rel=1e-12)
    with pytest.raises(NonFiniteResult) as info:
        mean_field_point(name, sigma_w2, above, negative_slope=0.0)
    assert info.value.field == "sigma_b2"
    limit = float(str(info.value).rsplit("below ", 1)[1])
    assert limit == pytest.approx(largest * (1.0 - rate), rel=1e-5)


def test_grid_matches_points() -> None:
    sigma_w2 = [0.5, 1.0, 2.0, 4.0]
    sigma_b2 = [0.0, 0.1, 1.0]
    grid = mean_field_grid("tanh", sigma_w2, sigma_b2)
    assert np.shape(grid.chi) == (3, 4)
    for i, b in enumerate(sigma_b2):
        assert grid.critical_sigma_w2[i] == pytest.approx(critical_sigma_w2("tanh", b))
        for j, w in enumerate(sigma_w2):
            point = mean_field_point("tanh", w, b, with_critical=False)
            assert (grid.q_star[i][j], grid.chi[i][j], grid.phase[i][j]) == (
                point.q_star,
                point.chi,
                point.phase,
            )
    # The phase diagram has both phases: ordered at small σ_w², chaotic at large.
    assert grid.phase[1][0] == "ordered"
    assert grid.phase[1][3] == "chaotic"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda: mean_field_point("tanh", -1.0), "sigma_w2"),
        (lambda: mean_field_point("tanh", math.nan), "sigma_w2"),
        (lambda: mean_field_point("tanh", 1.0, -0.1), "sigma_b2"),
        (lambda: mean_field_point("tanh", 1.0, q0=0.0), "q0"),
        (lambda: mean_field_point("swish", 1.0), "activation"),
        (lambda: mean_field_grid("tanh", [], [0.0]), "sigma_w2"),
        (lambda: mean_field_grid("tanh", [1.0], "0.1"), "sigma_b2"),  # type: ignore[arg-type]
        (
            lambda: mean_field_grid("tanh", [1.0] * 100, [0.0] * (MAX_GRID_CELLS // 100 + 1)),
            "sigma_w2",
        ),
    ],
)
def test_bad_arguments_name_their_field(call: Callable[[], object], field: str) -> None:
    with pytest.raises(NumericsError) as info:
        call()
    assert info.value.field == field
