"""Gaussian moments of an activation: E[φ(u)²], E[φ(u)], Var φ(u) and E[φ'(u)²] for u ~ N(0, q).

q is passed as log10 q (any shape, ±inf allowed) so that q = 1e400 or 1e-400 is no obstacle;
results that can leave the double range come back as log10 values.

Method. Write u = √q·z with z ~ N(0, 1) and s = √q. linear / relu / leaky_relu and gelu have
closed forms; sigmoid reduces to tanh exactly (σ(u) = 1/2 + tanh(u/2)/2). For tanh and selu the
integrand is normalized by s (φ(s z)/s stays O(1) as s -> 0) and integrated by composite
Gauss–Legendre on fixed panels in z: geometric panels [2^-(k+1), 2^-k], k = 0..21, that resolve
φ's own scale z ~ 1/s, then unit panels up to |z| = 10 (the tail beyond carries < 1e-20 of any
moment). tanh has its complex poles on the imaginary axis, so each geometric panel sees them at a
distance of at least its own length: the error is ~ρ^(-2m), independent of q. selu is entire on
either side of its kink at z = 0, a panel edge. For s < 1e-150 the normalized integrand equals its
s -> 0 limit to double precision; for s > 2^20 the expansions in t = 1/s below are used (relative
error O(t²) <= 1e-12).
"""

from __future__ import annotations

import functools
import itertools
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.activations import (
    SELU_ALPHA,
    SELU_SCALE,
    FloatArray,
    check_activation,
)

_LN10: Final = math.log(10.0)
_P0: Final = 1.0 / math.sqrt(2.0 * math.pi)  # standard normal density at 0
_LOG10_4: Final = math.log10(4.0)
_S_MIN: Final = 1e-150
_S_MAX: Final = 2.0**20
_NODES_PER_PANEL: Final = 16
_GEOMETRIC_PANELS: Final = 22
_Z_MAX: Final = 10
_CHUNK_ROWS: Final = 256

# ∫ sech⁴(u) du = 4/3 (and ∫ sech²(u) du = 2): the large-q forms of tanh's moments.
_TANH_SECH4_INTEGRAL: Final = 4.0 / 3.0


@dataclass(frozen=True)
class GaussianMoments:
    """Moments of φ(u), u ~ N(0, q); every field has the shape of the log10 q passed in.

    log10 of zero is -inf (for example the mean of an odd φ); nothing here is NaN.
    """

    log10_second_moment: FloatArray  # log10 E[φ(u)²]
    log10_variance: FloatArray  # log10 (E[φ²] - E[φ]²)
    mean_sign: FloatArray  # sign of E[φ(u)]: -1, 0 or 1
    log10_abs_mean: FloatArray  # log10 |E[φ(u)]|
    log10_derivative_second_moment: FloatArray  # log10 E[φ'(u)²]

    def mean(self) -> FloatArray:
        """E[φ(u)] in plain units (±inf where it leaves the double range)."""
        with np.errstate(over="ignore"):
            return np.asarray(self.mean_sign * np.power(10.0, self.log10_abs_mean))


@functools.cache
def _half_line_nodes() -> tuple[FloatArray, FloatArray]:
    """Gauss–Legendre nodes on (0, 10] and weights times the N(0,1) density, shape (N,) each."""
    edges = [0.0] + [2.0**-k for k in range(_GEOMETRIC_PANELS, 0, -1)]
    edges += [float(k) for k in range(1, _Z_MAX + 1)]
    reference_nodes, reference_weights = np.polynomial.legendre.leggauss(_NODES_PER_PANEL)
    nodes, weights = [], []
    for left, right in itertools.pairwise(edges):
        half = 0.5 * (right - left)
        nodes.append(left + half * (reference_nodes + 1.0))
        weights.append(half * reference_weights)
    z = np.concatenate(nodes)
    w = np.concatenate(weights) * _P0 * np.exp(-0.5 * z * z)
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


@functools.cache
def _line_nodes() -> tuple[FloatArray, FloatArray]:
    """The half-line rule mirrored onto [-10, 10]: nodes and density-weights, shape (2N,)."""
    z_half, w_half = _half_line_nodes()
    z = np.concatenate([-z_half[::-1], z_half])
    w = np.concatenate([w_half[::-1], w_half])
    z.flags.writeable = False
    w.flags.writeable = False
    return z, w


def _tanh_kernel(s: FloatArray) -> tuple[FloatArray, FloatArray]:
    """A = E[(tanh(s z)/s)²] and C = E[sech⁴(s z)] for each s (even integrands: half line)."""
    z, w = _half_line_nodes()
    u = np.multiply.outer(s, z)
    normalized = np.tanh(u) / s[:, None]
    a = 2.0 * ((normalized * normalized) @ w)
    decay = np.exp(-2.0 * u)
    sech2 = 4.0 * decay / ((1.0 + decay) * (1.0 + decay))
    c = 2.0 * ((sech2 * sech2) @ w)
    return a, c


def _selu_kernel(s: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
    """A = E[(selu(s z)/s)²], B = E[selu(s z)/s] and C = E[selu'(s z)²]."""
    z, w = _line_nodes()
    u = np.multiply.outer(s, z)
    negative = np.minimum(u, 0.0)
    normalized = SELU_SCALE * np.where(u > 0.0, z, SELU_ALPHA * np.expm1(negative) / s[:, None])
    a = (normalized * normalized) @ w
    b = normalized @ w
    derivative = SELU_SCALE * np.where(u > 0.0, 1.0, SELU_ALPHA * np.exp(negative))
    c = (derivative * derivative) @ w
    return a, b, c


def _chunked(
    s: FloatArray, kernel: Callable[[FloatArray], tuple[FloatArray, ...]], outputs: int
) -> tuple[FloatArray, ...]:
    """Apply `kernel` to blocks of rows of s so that the (rows, nodes) temporaries stay small."""
    pieces = [kernel(s[i : i + _CHUNK_ROWS]) for i in range(0, s.size, _CHUNK_ROWS)]
    if not pieces:
        return tuple(np.empty(0) for _ in range(outputs))
    return tuple(np.concatenate(parts) for parts in zip(*pieces, strict=True))


def _log10(x: FloatArray) -> FloatArray:
    with np.errstate(divide="ignore"):
        return np.asarray(np.log10(x), dtype=np.float64)


def _linear_family(activation: str, log10_q: FloatArray, negative_slope: float) -> GaussianMoments:
    slope = {"linear": 1.0, "relu": 0.0}.get(activation, negative_slope)
    second = 0.5 * (1.0 + slope * slope)  # E[φ(z)²] = E[φ'(z)²] for z ~ N(0, 1)
    mean_coefficient = _P0 * (1.0 - slope)
    variance = second - mean_coefficient * mean_coefficient
    ones = np.ones_like(log10_q)
    return GaussianMoments(
        log10_second_moment=log10_q + math.log10(second),
        log10_variance=log10_q + math.log10(variance),
        mean_sign=np.sign(mean_coefficient) * ones,
        log10_abs_mean=(
            0.5 * log10_q + math.log10(abs(mean_coefficient))
            if mean_coefficient != 0.0
            else -np.inf * ones
        ),
        log10_derivative_second_moment=math.log10(second) * ones,
    )


def _tanh_moments(log10_q: FloatArray) -> GaussianMoments:
    s = np.power(10.0, 0.5 * np.clip(log10_q, -400.0, 400.0))
    large = s > _S_MAX
    s_mid = np.clip(s[~large], _S_MIN, _S_MAX)
    a, c = _chunked(s_mid, _tanh_kernel, 2)
    log10_m2 = np.empty_like(log10_q)
    log10_c = np.empty_like(log10_q)
    log10_m2[~large] = log10_q[~large] + _log10(a)
    log10_c[~large] = _log10(c)
    log10_t = -0.5 * log10_q[large]
    t = np.power(10.0, log10_t)
    log10_m2[large] = np.log1p(-2.0 * _P0 * t) / _LN10
    log10_c[large] = math.log10(_TANH_SECH4_INTEGRAL * _P0) + log10_t
    zeros = np.zeros_like(log10_q)
    return GaussianMoments(log10_m2, log10_m2.copy(), zeros, zeros - np.inf, log10_c)


def _sigmoid_moments(log10_q: FloatArray) -> GaussianMoments:
    # σ(u) = 1/2 + tanh(u/2)/2, so Var σ = E[tanh²(u/2)]/4, E[σ²] = 1/4 + Var σ and
    # σ'(u)² = sech⁴(u/2)/16; the mean is 1/2 by symmetry.
    tanh_half = _tanh_moments(log10_q - _LOG10_4)
    log10_variance = tanh_half.log10_second_moment - _LOG10_4
    variance = np.power(10.0, log10_variance)
    ones = np.ones_like(log10_q)
    return GaussianMoments(
        log10_second_moment=np.log10(0.25 + variance),
        log10_variance=log10_variance,
        mean_sign=ones,
        log10_abs_mean=math.log10(0.5) * ones,
        log10_derivative_second_moment=tanh_half.log10_derivative_second_moment - 2.0 * _LOG10_4,
    )


def _gelu_moments(log10_q: FloatArray) -> GaussianMoments:
    # Closed forms (a² = q, X ~ N(0, 1)), from Φ(aX)² = P(Y1 <= aX, Y2 <= aX) for independent
    # normals Y1, Y2 (an orthant probability) and Stein's identity E[X g(X)] = E[g'(X)]:
    #   E[Φ(aX)²]          = 1/4 + atan(q / √(1 + 2q)) / (2π)
    #   E[X² Φ(aX)²]       = E[Φ(aX)²] + q / (π (1 + q) √(1 + 2q))
    #   E[(Φ(aX) + aX p(aX))²] = E[X² Φ(aX)²] + q / (2π (1 + 2q)^(3/2))
    #   E[aX Φ(aX)]        = q / √(2π (1 + q))
    # Each is evaluated in q for q <= 1 and in t = 1/√q above, so nothing overflows or cancels.
    q_small = np.power(10.0, np.minimum(log10_q, 0.0))
    t = np.power(10.0, -0.5 * np.maximum(log10_q, 0.0))
    small = log10_q <= 0.0
    t2 = t * t
    angle = np.where(
        small,
        np.arctan(q_small / np.sqrt(1.0 + 2.0 * q_small)),
        np.arctan2(1.0, t * np.sqrt(2.0 + t2)),  # atan(1/x) without dividing: t = 0 is q = ∞
    )
    cross = np.where(
        small,
        q_small / ((1.0 + q_small) * np.sqrt(1.0 + 2.0 * q_small)),
        t / ((1.0 + t2) * np.sqrt(2.0 + t2)),
    )
    curvature = np.where(small, q_small / (1.0 + 2.0 * q_small) ** 1.5, t / (2.0 + t2) ** 1.5)
    cdf_square = 0.25 + angle / (2.0 * math.pi)
    normalized_second = cdf_square + cross / math.pi  # E[φ(u)²] / q
    derivative_second = normalized_second + curvature / (2.0 * math.pi)
    # E[φ(u)] / √q = p0 · √(q / (1 + q)), written so that q -> 0 and q -> ∞ stay exact.
    normalized_mean = _P0 * np.where(
        small, np.sqrt(q_small / (1.0 + q_small)), 1.0 / np.sqrt(1.0 + t2)
    )
    return GaussianMoments(
        log10_second_moment=log10_q + np.log10(normalized_second),
        log10_variance=log10_q + np.log10(normalized_second - normalized_mean * normalized_mean),
        mean_sign=np.where(np.isneginf(log10_q), 0.0, 1.0),
        log10_abs_mean=0.5 * log10_q + _log10(normalized_mean),
        log10_derivative_second_moment=np.log10(derivative_second),
    )


def _gelu_log10_second_moment(log10_q: float) -> float:
    """Scalar twin of _gelu_moments' second moment (math instead of numpy: ~1 µs a call)."""
    if log10_q == -math.inf:
        return -math.inf
    if log10_q <= 0.0:
        q = 10.0**log10_q
        root = math.sqrt(1.0 + 2.0 * q)
        angle, cross = math.atan(q / root), q / ((1.0 + q) * root)
    else:
        t = 10.0 ** (-0.5 * log10_q)
        root = math.sqrt(2.0 + t * t)
        angle, cross = math.atan2(1.0, t * root), t / ((1.0 + t * t) * root)
    return log10_q + math.log10(0.25 + angle / (2.0 * math.pi) + cross / math.pi)


def _selu_moments(log10_q: FloatArray) -> GaussianMoments:
    s = np.power(10.0, 0.5 * np.clip(log10_q, -400.0, 400.0))
    large = s > _S_MAX
    s_mid = np.clip(s[~large], _S_MIN, _S_MAX)
    a = np.empty_like(log10_q)
    b = np.empty_like(log10_q)
    c = np.empty_like(log10_q)
    a[~large], b[~large], c[~large] = _chunked(s_mid, _selu_kernel, 3)
    t = np.power(10.0, -0.5 * log10_q[large])
    scale2 = SELU_SCALE * SELU_SCALE
    a[large] = 0.5 * scale2 * (1.0 + SELU_ALPHA * SELU_ALPHA * t * t)
    b[large] = SELU_SCALE * (_P0 - 0.5 * SELU_ALPHA * t)
    c[large] = 0.5 * scale2 * (1.0 + SELU_ALPHA * SELU_ALPHA * _P0 * t)
    return GaussianMoments(
        log10_second_moment=log10_q + _log10(a),
        log10_variance=log10_q + _log10(a - b * b),
        mean_sign=np.where(np.isneginf(log10_q), 0.0, np.sign(b)),
        log10_abs_mean=0.5 * log10_q + _log10(np.abs(b)),
        log10_derivative_second_moment=_log10(c),
    )


def gaussian_moments(
    activation: str, log10_q: FloatArray | float, negative_slope: float = 0.01
) -> GaussianMoments:
    """Moments of φ(u) for u ~ N(0, q), vectorized over log10 q (any shape, ±inf allowed)."""
    check_activation(activation, negative_slope)
    values = np.asarray(log10_q, dtype=np.float64)
    if np.isnan(values).any():
        raise ValueError("log10_q must not be NaN")
    flat = values.reshape(-1)
    if activation in ("linear", "relu", "leaky_relu"):
        moments = _linear_family(activation, flat, negative_slope)
    elif activation == "tanh":
        moments = _tanh_moments(flat)
    elif activation == "sigmoid":
        moments = _sigmoid_moments(flat)
    elif activation == "gelu":
        moments = _gelu_moments(flat)
    else:
        moments = _selu_moments(flat)
    return GaussianMoments(
        *(np.asarray(getattr(moments, name)).reshape(values.shape) for name in _FIELDS)
    )


_FIELDS: Final = (
    "log10_second_moment",
    "log10_variance",
    "mean_sign",
    "log10_abs_mean",
    "log10_derivative_second_moment",
)


def log10_second_moment(activation: str, log10_q: float, negative_slope: float = 0.01) -> float:
    """log10 E[φ(u)²] for one q: the fast path of the layer-by-layer recursion (no validation)."""
    if activation in ("linear", "relu", "leaky_relu"):
        slope = {"linear": 1.0, "relu": 0.0}.get(activation, negative_slope)
        return log10_q + math.log10(0.5 * (1.0 + slope * slope))
    if activation == "sigmoid":
        tanh_half = log10_second_moment("tanh", log10_q - _LOG10_4)
        return math.log10(0.25 + 10.0**tanh_half / 4.0)
    if activation == "gelu":
        return _gelu_log10_second_moment(log10_q)
    if not -math.inf < log10_q <= 2.0 * math.log10(_S_MAX):
        return float(gaussian_moments(activation, np.array([log10_q])).log10_second_moment[0])
    s = max(10.0 ** (0.5 * log10_q), _S_MIN)
    if activation == "tanh":
        z_half, w_half = _half_line_nodes()
        normalized = np.tanh(s * z_half) / s
        return log10_q + math.log10(2.0 * float(np.dot(normalized * normalized, w_half)))
    z, w = _line_nodes()
    u = s * z
    normalized = SELU_SCALE * np.where(u > 0.0, z, SELU_ALPHA * np.expm1(np.minimum(u, 0.0)) / s)
    return log10_q + math.log10(float(np.dot(normalized * normalized, w)))
