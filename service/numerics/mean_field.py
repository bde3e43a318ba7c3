"""Mean-field theory of deep networks at initialization (Poole et al. 2016, Schoenholz et al. 2017).

For an activation φ and (σ_w², σ_b²) = (n · Var(W), bias variance), the pre-activation variance
follows the map q -> M(q) = σ_w² · E[φ(√q z)²] + σ_b², z ~ N(0, 1). Its fixed point q* (the one the
iteration reaches from q0, default 1) sets the slope

    χ = σ_w² · E[φ'(√q* z)²],

the factor by which a small perturbation, or the gradient's variance, grows per layer: ordered
(χ < 1), chaotic (χ > 1) or critical (|χ - 1| <= 1e-6). The depth scale 1/|ln χ| counts the layers
over which that factor changes things by e (−1/ln χ in the ordered phase).

Fixed point kinds: "finite" (0 < q* < ∞), "zero" (the variance dies out: σ_b² = 0 and M(q) < q
below q0), "infinite" (it grows without bound: q_star is None, χ is its q -> ∞ limit) and
"neutral" (every q is fixed, as for relu at σ_w² = 2 with σ_b² = 0: q_star = q0).
A χ or q* beyond the largest float64 (σ_w² or σ_b² near 1e308) raises NonFiniteResult naming
sigma_w2 or sigma_b2.
"""

from __future__ import annotations

import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Final

from service.numerics.activations import check_activation
from service.numerics.budget import NO_DEADLINE, Budget, Deadline, SimulationCost
from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.gaussian import gaussian_moments, log10_second_moment
from service.numerics.validation import check_scalar

CRITICAL_TOLERANCE: Final = 1e-6
MAX_GRID_CELLS: Final = 2_500
MAX_GRID_AXIS: Final = 200
_LINEAR_FAMILY: Final = frozenset({"linear", "relu", "leaky_relu"})
_LOG10_Q_LIMIT: Final = 300.0  # beyond 1e±300 the variance is taken to be 0 or ∞
_SIGMA_W2_SEARCH: Final = (-3.0, 12.0)  # log10 σ_w² range searched for χ = 1


@dataclass(frozen=True)
class MeanFieldPoint:
    """The fixed point and its stability for one (σ_w², σ_b²); see the module docstring."""

    activation: str
    sigma_w2: float
    sigma_b2: float
    q_star: float | None
    fixed_point: str  # "finite", "zero", "infinite" or "neutral"
    chi: float
    phase: str  # "ordered", "critical" or "chaotic"
    depth_scale: float | None  # None when χ = 1 exactly
    critical_sigma_w2: float | None  # the σ_w² with χ = 1 at this σ_b²; None if there is none


@dataclass(frozen=True)
class MeanFieldGrid:
    """A phase diagram: entry [i][j] is for sigma_b2[i] and sigma_w2[j]."""

    activation: str
    sigma_w2: tuple[float, ...]
    sigma_b2: tuple[float, ...]
    q_star: tuple[tuple[float | None, ...], ...]
    fixed_point: tuple[tuple[str, ...], ...]
    chi: tuple[tuple[float, ...], ...]
    phase: tuple[tuple[str, ...], ...]
    depth_scale: tuple[tuple[float | None, ...], ...]
    critical_sigma_w2: tuple[float | None, ...]  # one per sigma_b2


def _check_number(value: object, field: str, *, positive: bool = False) -> float:
    return check_scalar(
        value, field, float, min_val=0.0, include_boundaries="neither" if positive else "left"
    )


def _log10(x: float) -> float:
    return math.log10(x) if x > 0.0 else -math.inf


def _log10_add(a: float, b: float) -> float:
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log10(1.0 + 10.0 ** (low - high))


def _brent(function: Callable[[float], float], low: float, high: float, tolerance: float) -> float:
    """A root of `function` in [low, high], given opposite signs at the ends (Brent's method)."""
    f_low, f_high = function(low), function(high)
    if f_low == 0.0:
        return low
    if f_high == 0.0:
        return high
    a, b, fa, fb = low, high, f_low, f_high
    c, fc = a, fa
    d = e = b - a
    for _ in range(200):
        if fb * fc > 0.0:
            c, fc = a, fa
            d = e = b - a
        if abs(fc) < abs(fb):
            a, b, c = b, c, b
            fa, fb, fc = fb, fc, fb
        tol = 2.0 * 2.2e-16 * abs(b) + 0.5 * tolerance
        middle = 0.5 * (c - b)
        if abs(middle) <= tol or fb == 0.0:
            return b
        if abs(e) >= tol and abs(fa) > abs(fb):
            s = fb / fa
            if a == c:
                p, q = 2.0 * middle * s, 1.0 - s
            else:
                q, r = fa / fc, fb / fc
                p = s * (2.0 * middle * q * (q - r) - (b - a) * (r - 1.0))
                q = (q - 1.0) * (r - 1.0) * (s - 1.0)
            if p > 0.0:
                q = -q
            p = abs(p)
            if 2.0 * p < min(3.0 * middle * q - abs(tol * q), abs(e * q)):
                e, d = d, p / q
            else:
                d = e = middle
        else:
            d = e = middle
        a, fa = b, fb
        b += d if abs(d) > tol else math.copysign(tol, middle)
        fb = function(b)
    return b


def _second_moment_coefficient(activation: str, negative_slope: float) -> float:
    slope = {"linear": 1.0, "relu": 0.0}.get(activation, negative_slope)
    return 0.5 * (1.0 + slope * slope)


def fixed_point(
    activation: str,
    sigma_w2: float,
    sigma_b2: float,
    *,
    negative_slope: float = 0.01,
    q0: float = 1.0,
) -> tuple[float | None, str]:
    """(q*, kind): the fixed point of q -> σ_w² E[φ(√q z)²] + σ_b² reached from q0."""
    if activation in _LINEAR_FAMILY:
        rate = sigma_w2 * _second_moment_coefficient(activation, negative_slope)
        if rate < 1.0:
            if sigma_b2 == 0.0:
                return 0.0, "zero"
            q_star = sigma_b2 / (1.0 - rate)
            if math.isinf(q_star):
                raise NonFiniteResult(
                    f"q* = sigma_b2 / (1 - sigma_w2 * E[phi(z)^2]) = {sigma_b2:g} / {1.0 - rate:g} "
                    f"is beyond the largest float64 for {activation}; use a sigma_b2 below "
                    f"{sys.float_info.max * (1.0 - rate):.6g}",
                    field="sigma_b2",
                )
            return q_star, "finite"
        if rate == 1.0 and sigma_b2 == 0.0:
            return q0, "neutral"
        return None, "infinite"
    if sigma_w2 == 0.0:
        return (sigma_b2, "finite") if sigma_b2 > 0.0 else (0.0, "zero")
    log10_w, log10_b = math.log10(sigma_w2), _log10(sigma_b2)

    def excess(log10_q: float) -> float:
        """log10(M(q) / q): positive where the iteration moves q up."""
        second = log10_second_moment(activation, log10_q, negative_slope)
        return _log10_add(log10_w + second, log10_b) - log10_q

    start = math.log10(q0)
    direction = excess(start)
    if direction == 0.0:
        return q0, "finite"
    step, previous = 1.0, start
    upward = direction > 0.0
    ceiling = max(_LOG10_Q_LIMIT, _log10_add(log10_w, log10_b) + 2.0)
    floor = log10_b - 1.0 if sigma_b2 > 0.0 else -_LOG10_Q_LIMIT
    while True:
        current = previous + step if upward else previous - step
        if upward and current > ceiling:
            return None, "infinite"
        if not upward and current < floor:
            return 0.0, "zero"
        value = excess(current)
        # A strict sign change only: near q = 0, M(q)/q - 1 can round to exactly 0 (tanh at
        # σ_w² = 1), which is the limit at the zero fixed point, not a root of its own.
        if (value < 0.0) if upward else (value > 0.0):
            break
        previous, step = current, 2.0 * step
    low, high = sorted((previous, current))
    root = _brent(excess, low, high, 1e-15 * max(1.0, abs(low)))
    return 10.0**root, "finite"


def _chi(activation: str, sigma_w2: float, q_star: float | None, negative_slope: float) -> float:
    log10_q = math.inf if q_star is None else _log10(q_star)
    moments = gaussian_moments(activation, log10_q, negative_slope)
    return sigma_w2 * 10.0 ** float(moments.log10_derivative_second_moment)


def _phase(chi: float) -> str:
    if abs(chi - 1.0) <= CRITICAL_TOLERANCE:
        return "critical"
    return "ordered" if chi < 1.0 else "chaotic"


def _depth_scale(chi: float) -> float | None:
    if chi == 0.0:
        return 0.0
    if chi == 1.0:
        return None
    return 1.0 / abs(math.log(chi))


def critical_sigma_w2(
    activation: str, sigma_b2: float = 0.0, *, negative_slope: float = 0.01, q0: float = 1.0
) -> float | None:
    """The σ_w² at which χ = 1 for this σ_b² (None if χ jumps over 1 or never reaches it)."""
    check_activation(activation, negative_slope)
    sigma_b2 = _check_number(sigma_b2, "sigma_b2")
    q0 = _check_number(q0, "q0", positive=True)
    if activation in _LINEAR_FAMILY:
        return 1.0 / _second_moment_coefficient(activation, negative_slope)

    def distance(log10_w: float) -> float:
        sigma_w2 = 10.0**log10_w
        q_star, _ = fixed_point(
            activation, sigma_w2, sigma_b2, negative_slope=negative_slope, q0=q0
        )
        return _chi(activation, sigma_w2, q_star, negative_slope) - 1.0

    low, top = _SIGMA_W2_SEARCH
    if distance(low) >= 0.0:
        return None
    high = low + 1.0
    while distance(high) < 0.0:
        low, high = high, high + 1.0
        if high > top:
            return None
    root = _brent(distance, low, high, 1e-13)
    if abs(distance(root)) > CRITICAL_TOLERANCE:
        return None  # χ is discontinuous here: q* jumps between 0 and ∞
    return 10.0**root


def _point(
    activation: str, sigma_w2: float, sigma_b2: float, negative_slope: float, q0: float
) -> tuple[float | None, str, float, str, float | None]:
    q_star, kind = fixed_point(activation, sigma_w2, sigma_b2, negative_slope=negative_slope, q0=q0)
    chi = _chi(activation, sigma_w2, q_star, negative_slope)
    if math.isinf(chi):
        slope = _chi(activation, 1.0, q_star, negative_slope)  # E[φ'(z)²]
        raise NonFiniteResult(
            f"chi = sigma_w2 * E[phi'(z)^2] = {sigma_w2:g} * {slope:g} is beyond the largest "
            f"float64 for {activation}; use a sigma_w2 below {sys.float_info.max / slope:.6g}",
            field="sigma_w2",
        )
    return q_star, kind, chi, _phase(chi), _depth_scale(chi)


def mean_field_point(
    activation: str,
    sigma_w2: float,
    sigma_b2: float = 0.0,
    *,
    negative_slope: float = 0.01,
    q0: float = 1.0,
    with_critical: bool = True,
) -> MeanFieldPoint:
    """q*, χ, phase, depth scale and (with_critical) the critical σ_w² at this σ_b²."""
    check_activation(activation, negative_slope)
    sigma_w2 = _check_number(sigma_w2, "sigma_w2")
    sigma_b2 = _check_number(sigma_b2, "sigma_b2")
    q0 = _check_number(q0, "q0", positive=True)
    q_star, kind, chi, phase, depth_scale = _point(
        activation, sigma_w2, sigma_b2, negative_slope, q0
    )
    critical = (
        critical_sigma_w2(activation, sigma_b2, negative_slope=negative_slope, q0=q0)
        if with_critical
        else None
    )
    return MeanFieldPoint(
        activation=activation,
        sigma_w2=sigma_w2,
        sigma_b2=sigma_b2,
        q_star=q_star,
        fixed_point=kind,
        chi=chi,
        phase=phase,
        depth_scale=depth_scale,
        critical_sigma_w2=critical,
    )


def _check_axis(values: Sequence[float], field: str) -> tuple[float, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise NumericsError(f"{field} must be a list of numbers", field=field)
    if not 1 <= len(values) <= MAX_GRID_AXIS:
        raise NumericsError(f"{field} must have 1 to {MAX_GRID_AXIS} values", field=field)
    return tuple(_check_number(v, field) for v in values)


# A cell's fixed point, slope and the row's critical σ_w² search: ~170 µs measured, in
# multiply-add equivalents of ~0.17 ns (monte_carlo's unit); its result's Python objects.
GRID_CELL_WORK: Final = 1_000_000
GRID_CELL_BYTES: Final = 1024


def mean_field_grid_cost(cells: int) -> SimulationCost:
    """Work and memory of a grid of `cells` points (bounded by MAX_GRID_CELLS as well)."""
    return SimulationCost(memory_bytes=GRID_CELL_BYTES * cells, work=GRID_CELL_WORK * cells)


def mean_field_grid(
    activation: str,
    sigma_w2: Sequence[float],
    sigma_b2: Sequence[float],
    *,
    negative_slope: float = 0.01,
    q0: float = 1.0,
    budget: Budget | None = None,
    deadline: Deadline = NO_DEADLINE,
) -> MeanFieldGrid:
    """mean_field_point over sigma_b2 × sigma_w2 (at most MAX_GRID_CELLS cells, and within
    `budget` when given); `deadline` is checked after every row."""
    check_activation(activation, negative_slope)
    w_axis = _check_axis(sigma_w2, "sigma_w2")
    b_axis = _check_axis(sigma_b2, "sigma_b2")
    q0 = _check_number(q0, "q0", positive=True)
    if len(w_axis) * len(b_axis) > MAX_GRID_CELLS:
        raise NumericsError(
            f"the grid has {len(w_axis) * len(b_axis)} cells, more than {MAX_GRID_CELLS}",
            field="sigma_w2",
        )
    if budget is not None:
        budget.check(
            mean_field_grid_cost(len(w_axis) * len(b_axis)),
            what="this phase diagram",
            advice="ask for fewer sigma_w2 or sigma_b2 values",
            work_field="sigma_w2",
            memory_field="sigma_w2",
        )
    rows = []
    for b in b_axis:
        rows.append([_point(activation, w, b, negative_slope, q0) for w in w_axis])
        deadline.check()
    return MeanFieldGrid(
        activation=activation,
        sigma_w2=w_axis,
        sigma_b2=b_axis,
        q_star=tuple(tuple(cell[0] for cell in row) for row in rows),
        fixed_point=tuple(tuple(cell[1] for cell in row) for row in rows),
        chi=tuple(tuple(cell[2] for cell in row) for row in rows),
        phase=tuple(tuple(cell[3] for cell in row) for row in rows),
        depth_scale=tuple(tuple(cell[4] for cell in row) for row in rows),
        critical_sigma_w2=tuple(
            critical_sigma_w2(activation, b, negative_slope=negative_slope, q0=q0) for b in b_axis
        ),
    )
