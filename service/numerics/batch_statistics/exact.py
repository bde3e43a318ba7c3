"""How much batch norm's statistics move one example's normalized value: exact and first order.

Setting. A fixed example with standardized value z is normalized in a batch of m values whose
other m - 1 values y_1 .. y_{m-1} are i.i.d. N(0, 1) (one feature; PyTorch training semantics):

    x̂ = (z - μ_B) / sqrt(σ²_B + eps),   μ_B = batch mean,   σ²_B = biased batch variance.

Reduction to two variables. Let ȳ be the mean of the others and Q = Σ (y_i - ȳ)² their sum of
squared deviations: ȳ ~ N(0, 1/(m-1)) and Q ~ χ²_{m-2} are independent. With d = z - ȳ,

    z - μ_B = (m-1) d / m,   σ²_B = (Q + (m-1) d² / m) / m,

so with a = sqrt((m-1)/m) · d ~ N(μ, σ²), μ = z · sqrt((m-1)/m), σ² = 1/m, and c = m · eps:

    x̂ = sqrt(m-1) · a / sqrt(a² + Q + c),   x̂² = (m-1) · a² / (a² + Q + c) ≤ m - 1.

One-dimensional integrals (exact, eps included). Write A = a² + Q + c and use
1/A = ∫_0^∞ e^{-tA} dt and A^{-1/2} = π^{-1/2} ∫_0^∞ t^{-1/2} e^{-tA} dt. The Gaussian and the
χ² expectations of e^{-tA} are closed forms: E[e^{-tQ}] = (1 + 2t)^{-(m-2)/2} and, with
r = 1 + 2tσ² and g(t) = r^{-1/2} exp(-t μ² / r), E[a e^{-t a²}] = g μ / r and
E[a² e^{-t a²}] = g (σ²/r + μ²/r²). Hence (Tonelli / Fubini, all terms integrable)

    E[x̂]  = sqrt((m-1)/π) ∫_0^∞ t^{-1/2} e^{-ct} (1+2t)^{-(m-2)/2} g(t) μ/r dt,
    E[x̂²] = (m-1) ∫_0^∞ e^{-ct} (1+2t)^{-(m-2)/2} g(t) (σ²/r + μ²/r²) dt,

and Var(x̂) = E[x̂²] - E[x̂]². With t = e^s both integrands are analytic in the strip |Im s| < π/2
and decay exponentially as s → ±∞, so the trapezoidal rule in s converges geometrically (error
about exp(-π²/h) for step h); it is evaluated on s ∈ [-90, 90] and checked against the rule with
twice the step. The tests compare it with mpmath (Q integrated through Kummer's U function, d by
tanh-sinh quadrature) and with a large Monte Carlo.

First order (delta method, m → ∞): μ_B ≈ N(0, 1/m) and σ²_B ≈ 1 + δ with δ ≈ N(0, 2/m), so
x̂ ≈ (z - μ_B)(1 - δ/2) ≈ z - μ_B - zδ/2 and Var(x̂) ≈ (1 + z²/2) / m.

eps = 0 is accepted here as the mathematical limit, although PyTorch's batch_norm refuses it in
training mode (the simulation's spec refuses it too).

Batch size 2. The two normalized values are ±(x₁ - x₂)/2 / sqrt((x₁ - x₂)²/4 + eps)
= ±1 / sqrt(1 + 4 eps / (x₁ - x₂)²): ±1 up to eps whatever the inputs (the larger one gets +).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.errors import NonFiniteResult, NumericsError

# Trapezoidal rule in s = log t: step, range and the agreement asked of the rule with step 2h
# (h = 0.25 already agrees with h = 0.125 to 5e-16 over m in [2, 1e7], |z| <= 10, eps <= 1e3).
QUADRATURE_STEP: Final = 0.125
QUADRATURE_RANGE: Final = (-90.0, 90.0)
QUADRATURE_TOLERANCE: Final = 1e-12
MAX_EXACT_BATCH_SIZE: Final = 10_000_000
MAX_ABS_Z: Final = 10.0
MAX_EPS: Final = 1e3


@dataclass(frozen=True)
class NormalizedMoments:
    """E[x̂], E[x̂²] and Var(x̂) of the fixed example's normalized value (exact, by quadrature).

    quadrature_error: |rule(h) - rule(2h)| for the second moment, a generous bound on the
    error of rule(h) (which shrinks like exp(-π²/h)).
    """

    batch_size: int
    z: float
    eps: float
    mean: float
    second_moment: float
    variance: float
    quadrature_error: float


def check_batch_size(batch_size: object, field: str = "batch_size") -> int:
    """A batch size batch norm can train with: an integer 2 <= m <= MAX_EXACT_BATCH_SIZE."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise NumericsError(f"{field} must be an integer, got {type(batch_size).__name__}", field)
    if batch_size < 2:
        raise NumericsError(
            f"{field} must be >= 2: batch normalization in training mode needs more than one "
            f"value per channel (PyTorch raises for a batch of 1), got {batch_size}",
            field,
        )
    if batch_size > MAX_EXACT_BATCH_SIZE:
        raise NumericsError(f"{field} must be <= {MAX_EXACT_BATCH_SIZE}, got {batch_size}", field)
    return int(batch_size)


def check_number(value: object, field: str, *, low: float, high: float) -> float:
    """A finite float in [low, high]; booleans and strings are refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise NumericsError(f"{field} must be a number, got {type(value).__name__}", field)
    number = float(value)
    if not math.isfinite(number) or not low <= number <= high:
        raise NumericsError(
            f"{field} must be a finite number in [{low:g}, {high:g}], got {number}", field
        )
    return number


def _integrands(m: int, z: float, eps: float) -> tuple[np.ndarray, np.ndarray]:
    """The integrands of E[x̂] and E[x̂²] in s = log t (dt = t ds) on the nodes s_j = low + j·h."""
    low, high = QUADRATURE_RANGE
    s = np.arange(low, high + QUADRATURE_STEP / 2, QUADRATURE_STEP)
    t = np.exp(s)
    mu = z * math.sqrt((m - 1) / m)
    sigma2 = 1.0 / m
    r = 1.0 + 2.0 * sigma2 * t
    log_common = -m * eps * t - 0.5 * (m - 2) * np.log1p(2.0 * t) - 0.5 * np.log(r) - t * mu**2 / r
    common = np.exp(log_common) * t
    first = math.sqrt((m - 1) / math.pi) * common * mu / (r * np.sqrt(t))
    second = (m - 1) * common * (sigma2 / r + mu**2 / r**2)
    return first, second


def normalized_moments(batch_size: int, z: float, eps: float = 1e-5) -> NormalizedMoments:
    """Exact E[x̂], E[x̂²], Var(x̂) for batch norm at batch size m, value z, eps (see module doc).

    Accuracy: the moments to about 1e-15 relative; the variance E[x̂²] - E[x̂]² to about
    1e-15 · (1 + z²) absolute (the subtraction cancels when z² >> Var(x̂)).
    """
    m = check_batch_size(batch_size)
    z = check_number(z, "z", low=-MAX_ABS_Z, high=MAX_ABS_Z)
    eps = check_number(eps, "eps", low=0.0, high=MAX_EPS)
    first, second = _integrands(m, z, eps)
    mean = QUADRATURE_STEP * float(np.sum(first))
    second_moment = QUADRATURE_STEP * float(np.sum(second))
    # The rule with twice the step uses every other node; its agreement bounds the error.
    coarse_mean = 2 * QUADRATURE_STEP * float(np.sum(first[::2]))
    coarse_second = 2 * QUADRATURE_STEP * float(np.sum(second[::2]))
    error = abs(second_moment - coarse_second)
    scale = math.sqrt(second_moment)
    if error > QUADRATURE_TOLERANCE * second_moment or (
        abs(mean - coarse_mean) > QUADRATURE_TOLERANCE * scale
    ):  # pragma: no cover - not reached on the tested grid of m, z and eps
        raise NumericsError(
            f"the quadrature for m = {m}, z = {z:g}, eps = {eps:g} did not converge", "batch_size"
        )
    # x̂² <= m - 1 always; rounding cannot be allowed to report a negative variance.
    variance = max(second_moment - mean * mean, 0.0)
    return NormalizedMoments(m, z, eps, mean, second_moment, variance, error)


def exact_variance(batch_size: int, z: float, eps: float = 1e-5) -> float:
    """Var(x̂) of an example at standardized value z in a batch of m (exact, by quadrature)."""
    return normalized_moments(batch_size, z, eps).variance


def first_order_variance(batch_size: int, z: float) -> float:
    """(1 + z²/2) / m: the delta-method variance of x̂, exact as m → ∞ (eps neglected)."""
    m = check_batch_size(batch_size)
    z = check_number(z, "z", low=-MAX_ABS_Z, high=MAX_ABS_Z)
    return (1.0 + 0.5 * z * z) / m


def normalized_pair(x1: float, x2: float, eps: float = 1e-5) -> tuple[float, float]:
    """The two batch-normalized values of a batch of two: ±1 / sqrt(1 + 4 eps / (x1 - x2)²).

    (0.0, 0.0) when x1 == x2 and eps > 0; equal inputs with eps = 0 divide 0 by 0 and raise
    NonFiniteResult naming eps.
    """
    x1 = check_number(x1, "x1", low=-math.inf, high=math.inf)
    x2 = check_number(x2, "x2", low=-math.inf, high=math.inf)
    eps = check_number(eps, "eps", low=0.0, high=MAX_EPS)
    difference = x1 - x2  # exact for subnormals, where half of it may round to 0
    if not math.isfinite(difference):
        raise NonFiniteResult("x1 - x2 overflows a double", "x1")
    if eps == 0.0:
        if difference == 0.0:
            raise NonFiniteResult(
                "the two values are equal and eps = 0: normalizing divides 0 by 0", "eps"
            )
        sign = math.copysign(1.0, difference)
        return sign, -sign
    half = 0.5 * difference  # x1 - mean; x2 - mean = -half
    scale = math.hypot(half, math.sqrt(eps))  # sqrt(half² + eps) without overflow
    return half / scale + 0.0, -half / scale + 0.0  # + 0.0: no -0.0 for equal inputs
