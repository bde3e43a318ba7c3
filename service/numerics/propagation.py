"""Variance propagation through a deep fully connected network: the analytic (mean-field) mode.

Forward, per layer l = 1..L (n_{l-1} = fan-in, v_l = Var(W_l), σ_b² = bias_variance):

    q_l = Var(z_l) = n_{l-1} · v_l · E[h_{l-1}²] + σ_b²        (E[h_0²] = input_variance)
    h_l = φ(u_l),  u_l ~ N(0, q̃_l)

with q̃_l = q_l without normalization. With normalization the variance entering φ is reset:
q̃_l = s_l / (s_l + eps), where s_l is the statistic the normalization divides by: q_l for layer and
RMS norm, and for batch norm the per-feature variance over the batch, n_{l-1} · v_l · Var(h_{l-1})
(batch norm also removes the bias and each feature's offset from h_{l-1}'s mean).

Backward, given unit-variance gradients at the output (g_L = 1):

    Var(∂loss/∂h_{l-1}) = n_l · v_l · E[φ'(u_l)²] · Var(∂loss/∂h_l) [/ (s_l + eps) if normalized]

The normalization's Jacobian is taken as 1/σ times a projection that removes O(1/width) of the
gradient; that O(1/width) term is dropped, as everywhere in mean-field theory.

Everything is carried as log10 so that 1e400 or 1e-400 is reported rather than overflowed. linear /
relu / leaky_relu without normalization are fully vectorized (cumulative sums of logs, and a
cumulative log-sum-exp when there is a bias); the other cases run a scalar recursion whose steps
are cached, then evaluate the moments of all layers in one vectorized pass.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.budget import SimulationCost
from service.numerics.gaussian import GaussianMoments, gaussian_moments, log10_second_moment
from service.numerics.monte_carlo import monte_carlo_propagation
from service.numerics.monte_carlo_cost import monte_carlo_cost
from service.numerics.network import (
    NORM_EPS,
    LayerStats,
    NetworkSpec,
    PropagationResult,
    summarize,
)

__all__ = [
    "AnalyticColumns",
    "analytic_columns",
    "analytic_cost",
    "analytic_propagation",
    "monte_carlo_cost",
    "monte_carlo_propagation",
]

_LN10: Final = math.log(10.0)
_LOG10_EPS: Final = math.log10(NORM_EPS)
_LINEAR_FAMILY: Final = frozenset({"linear", "relu", "leaky_relu"})
_BLOCK: Final = 256  # layers per block of the vectorized recurrence with a bias


# Per layer: the recursion's and the columns' float64 values and the rendered answer (~280 JSON
# bytes a layer, built once more while rendering), rounded up; ~3.5 µs measured per layer (the
# slowest, non-vectorized activations), in multiply-add equivalents of ~0.17 ns.
ANALYTIC_LAYER_BYTES: Final = 1024
ANALYTIC_LAYER_WORK: Final = 20_000


def analytic_cost(spec: NetworkSpec, *, backward: bool = False) -> SimulationCost:
    """Memory and work of the analytic mode: linear in depth (ANALYTIC_LAYER_*; backward x2)."""
    passes = 2 if backward else 1
    return SimulationCost(
        memory_bytes=passes * ANALYTIC_LAYER_BYTES * spec.depth,
        work=passes * ANALYTIC_LAYER_WORK * spec.depth,
    )


def _log10(x: float) -> float:
    return math.log10(x) if x > 0.0 else -math.inf


def _log10_add(a: float, b: float) -> float:
    """log10(10^a + 10^b) for a, b in [-inf, inf)."""
    if a == -math.inf:
        return b
    if b == -math.inf:
        return a
    high, low = (a, b) if a >= b else (b, a)
    return high + math.log1p(10.0 ** (low - high)) / _LN10


def _normalized_input(log10_statistic: float) -> float:
    """log10 of s / (s + eps): the variance entering φ after normalization."""
    return log10_statistic - _log10_add(log10_statistic, _LOG10_EPS)


def _per_layer(values: tuple[float, ...]) -> FloatArray:
    """A spec's per-layer tuple as float64. A uniform tuple (one width, one weight variance:
    the usual request) is filled without converting 10^4 Python numbers one by one."""
    if values and values.count(values[0]) == len(values):
        return np.full(len(values), float(values[0]))
    return np.fromiter(values, dtype=np.float64, count=len(values))


def _fan_scales(spec: NetworkSpec) -> FloatArray:
    """log10(n_{l-1} · v_l) per layer, shape (L,); -inf where v_l = 0."""
    fan_in = np.log10(_per_layer(spec.widths[:-1]))
    variances = _per_layer(spec.weight_variances)
    with np.errstate(divide="ignore"):
        return np.asarray(fan_in + np.log10(variances), dtype=np.float64)


def _vectorized_linear_family(
    spec: NetworkSpec, fan_scales: FloatArray
) -> tuple[FloatArray, FloatArray | None]:
    """log10 q_l for linear / relu / leaky_relu without normalization, and plain q_l when the
    chain is a pure product (no bias), computed as a cumulative product so that exact factors
    (x100, x2) stay exact. Requires every v_l > 0.
    """
    slope = {"linear": 1.0, "relu": 0.0}.get(spec.activation, spec.negative_slope)
    log10_c2 = math.log10(0.5 * (1.0 + slope * slope))
    # f_1 = n_0 v_1 (the input is not passed through φ); f_l = n_{l-1} v_l E[φ(z)²]/Var(z) after.
    log10_factors = fan_scales.copy()
    log10_factors[1:] += log10_c2
    log10_input = math.log10(spec.input_variance)
    if spec.bias_variance == 0.0:
        log10_products = np.cumsum(log10_factors)
        with np.errstate(over="ignore", under="ignore"):
            factors = _per_layer(spec.widths[:-1]) * _per_layer(spec.weight_variances)
            factors[1:] *= 0.5 * (1.0 + slope * slope)
            plain = np.asarray(spec.input_variance * np.cumprod(factors), dtype=np.float64)
        return log10_input + log10_products, plain
    # q_l = P_l (q_{a-1} + σ_b² Σ_{a<=j<=l} 1/P_j) with P_l = Π_{a<=j<=l} f_j, in log space, one
    # block of 256 layers a..b at a time: within a block |ln P| <= 256 |ln f|, so the cancellation
    # between ln P_l and the log of the sum costs at most ~256 |ln f| · 1e-16 relative.
    ln_factors = log10_factors * _LN10
    ln_bias = math.log(spec.bias_variance)
    ln_q = np.empty_like(ln_factors)
    ln_previous = math.log(spec.input_variance)
    for start in range(0, ln_factors.size, _BLOCK):
        ln_products = np.cumsum(ln_factors[start : start + _BLOCK])
        ln_sum_inverse = np.logaddexp.accumulate(-ln_products)
        block = ln_products + np.logaddexp(ln_previous, ln_bias + ln_sum_inverse)
        ln_q[start : start + _BLOCK] = block
        ln_previous = float(block[-1])
    return ln_q / _LN10, None


def _recursion(spec: NetworkSpec, fan_scales: FloatArray) -> tuple[FloatArray, FloatArray]:
    """Layer-by-layer recursion: (log10 q_l, log10 q̃_l), each of shape (L,)."""
    depth = spec.depth
    log10_q = np.empty(depth)
    log10_input = np.empty(depth)
    log10_bias = _log10(spec.bias_variance)
    cache: dict[float, tuple[float, float]] = {}

    def moments_of(log10_u: float) -> tuple[float, float]:
        """(log10 E[φ²], log10 Var φ) at log10 Var(u), memoized: normalized nets revisit them."""
        if log10_u not in cache:
            if spec.normalization == "batch":
                m = gaussian_moments(spec.activation, log10_u, spec.negative_slope)
                cache[log10_u] = (float(m.log10_second_moment), float(m.log10_variance))
            else:
                second = log10_second_moment(spec.activation, log10_u, spec.negative_slope)
                cache[log10_u] = (second, math.nan)
        return cache[log10_u]

    log10_second_prev = log10_variance_prev = math.log10(spec.input_variance)
    layer = 0
    while layer < depth:
        fan_scale = float(fan_scales[layer])
        q = _log10_add(fan_scale + log10_second_prev, log10_bias)
        if spec.normalization is None:
            u = q
        elif spec.normalization == "batch":
            u = _normalized_input(fan_scale + log10_variance_prev)
        else:
            u = _normalized_input(q)
        log10_q[layer], log10_input[layer] = q, u
        if layer > 0 and fan_scale == fan_scales[layer - 1] and u == log10_input[layer - 1]:
            # A fixed point: every following layer with the same fan scale repeats this one.
            run_end = layer + 1
            while run_end < depth and fan_scales[run_end] == fan_scale:
                run_end += 1
            log10_q[layer:run_end], log10_input[layer:run_end] = q, u
            layer = run_end - 1
        log10_second_prev, log10_variance_prev = moments_of(u)
        layer += 1
    return log10_q, log10_input


def _unique_moments(spec: NetworkSpec, log10_input: FloatArray) -> GaussianMoments:
    """gaussian_moments over the layers, computed once per distinct input variance."""
    distinct, inverse = np.unique(log10_input, return_inverse=True)
    moments = gaussian_moments(spec.activation, distinct, spec.negative_slope)
    return GaussianMoments(
        log10_second_moment=moments.log10_second_moment[inverse],
        log10_variance=moments.log10_variance[inverse],
        mean_sign=moments.mean_sign[inverse],
        log10_abs_mean=moments.log10_abs_mean[inverse],
        log10_derivative_second_moment=moments.log10_derivative_second_moment[inverse],
    )


def _backward(
    spec: NetworkSpec, log10_q: FloatArray, moments: GaussianMoments, fan_scales: FloatArray
) -> FloatArray:
    """log10 Var(∂loss/∂h_{l-1}) for l = 1..L, shape (L,)."""
    with np.errstate(divide="ignore"):
        step = np.log10(_per_layer(spec.widths[1:])) + np.log10(_per_layer(spec.weight_variances))
    step = step + moments.log10_derivative_second_moment
    if spec.normalization is not None:
        if spec.normalization == "batch":
            previous = np.concatenate(
                [[math.log10(spec.input_variance)], moments.log10_variance[:-1]]
            )
            statistic = fan_scales + previous
        else:
            statistic = log10_q
        step = step - np.logaddexp(statistic * _LN10, _LOG10_EPS * _LN10) / _LN10
    # -inf + inf cannot occur: the steps are finite or -inf (a zero weight variance).
    return np.asarray(np.cumsum(step[::-1])[::-1], dtype=np.float64)


@dataclass(frozen=True)
class AnalyticColumns:
    """The analytic answer column-wise: one read-only float64 array of shape (depth,) per
    per-layer quantity, and the summary. A non-finite entry (inf or NaN) is what LayerStats
    reports as None: a plain value that overflows a double, or the log10 of an exact 0.
    grad_variance / log10_grad_variance are None unless backward.
    """

    spec: NetworkSpec
    backward: bool
    preactivation_variance: FloatArray
    log10_preactivation_variance: FloatArray
    variance: FloatArray
    log10_variance: FloatArray
    mean: FloatArray
    grad_variance: FloatArray | None
    log10_grad_variance: FloatArray | None
    final_variance: float | None
    log10_final_variance: float | None
    regime: str
    gain_per_layer: float | None
    log10_gain_per_layer: float | None


def _read_only(array: FloatArray) -> FloatArray:
    array = np.ascontiguousarray(array, dtype=np.float64)
    array.flags.writeable = False
    return array


def _power10(log10_array: FloatArray) -> FloatArray:
    with np.errstate(over="ignore", under="ignore"):
        return np.asarray(np.power(10.0, log10_array), dtype=np.float64)


def _nullable(array: FloatArray) -> list[float | None]:
    return [v if math.isfinite(v) else None for v in array.tolist()]


def analytic_columns(spec: NetworkSpec, *, backward: bool = False) -> AnalyticColumns:
    """Mean-field variances of every layer as arrays (see the module docstring for the
    recursion); analytic_propagation gives the same numbers as LayerStats objects."""
    fan_scales = _fan_scales(spec)
    plain_q: FloatArray | None = None
    vectorized = (
        spec.activation in _LINEAR_FAMILY
        and spec.normalization is None
        and bool(np.all(np.isfinite(fan_scales)))
    )
    if vectorized:
        log10_q, plain_q = _vectorized_linear_family(spec, fan_scales)
        log10_input = log10_q
    else:
        log10_q, log10_input = _recursion(spec, fan_scales)
    if spec.activation in _LINEAR_FAMILY:
        # Closed forms, elementwise: cheaper than finding the distinct inputs first.
        moments = gaussian_moments(spec.activation, log10_input, spec.negative_slope)
    else:
        moments = _unique_moments(spec, log10_input)

    if plain_q is not None:
        # Keep exact products exact: Var(h) / q is a constant for these activations.
        ratio = 10.0 ** float(moments.log10_variance[0] - log10_input[0])
        with np.errstate(over="ignore", under="ignore"):
            variance = plain_q * ratio if ratio != 1.0 else plain_q
        preactivation = plain_q
    else:
        preactivation = _power10(log10_q)
        variance = _power10(moments.log10_variance)
    with np.errstate(invalid="ignore"):  # 0 · inf: the mean overflows, reported as null
        mean = moments.mean_sign * _power10(moments.log10_abs_mean)
    grad: FloatArray | None = None
    log10_grad: FloatArray | None = None
    if backward:
        log10_grad = _backward(spec, log10_q, moments, fan_scales)
        grad = _read_only(_power10(log10_grad))
        log10_grad = _read_only(log10_grad)

    final_log10 = float(moments.log10_variance[-1])
    final, final_log10_value, regime, gain, log10_gain = summarize(
        final_log10, spec.input_variance, spec.depth
    )
    last = float(variance[-1])
    if math.isfinite(last) and final is not None:
        final = last
    return AnalyticColumns(
        spec=spec,
        backward=backward,
        preactivation_variance=_read_only(preactivation),
        log10_preactivation_variance=_read_only(log10_q),
        variance=_read_only(variance),
        log10_variance=_read_only(moments.log10_variance),
        mean=_read_only(mean),
        grad_variance=grad,
        log10_grad_variance=log10_grad,
        final_variance=final,
        log10_final_variance=final_log10_value,
        regime=regime,
        gain_per_layer=gain,
        log10_gain_per_layer=log10_gain,
    )


def analytic_propagation(spec: NetworkSpec, *, backward: bool = False) -> PropagationResult:
    """Mean-field variances of every layer (see the module docstring for the recursion), one
    LayerStats per layer; analytic_columns gives the same numbers without per-layer objects."""
    columns = analytic_columns(spec, backward=backward)
    depth = spec.depth
    nothing: list[float | None] = [None] * depth
    layers = tuple(
        LayerStats(
            index=i + 1,
            width=spec.widths[i + 1],
            weight_variance=spec.weight_variances[i],
            preactivation_variance=q,
            log10_preactivation_variance=log10_q_value,
            variance=variance,
            log10_variance=log10_variance,
            mean=mean,
            grad_variance=grad,
            log10_grad_variance=log10_grad_value,
        )
        for i, (q, log10_q_value, variance, log10_variance, mean, grad, log10_grad_value) in (
            enumerate(
                zip(
                    _nullable(columns.preactivation_variance),
                    _nullable(columns.log10_preactivation_variance),
                    _nullable(columns.variance),
                    _nullable(columns.log10_variance),
                    _nullable(columns.mean),
                    nothing if columns.grad_variance is None else _nullable(columns.grad_variance),
                    nothing
                    if columns.log10_grad_variance is None
                    else _nullable(columns.log10_grad_variance),
                    strict=True,
                )
            )
        )
    )
    return PropagationResult(
        mode="analytic",
        spec=spec,
        layers=layers,
        final_variance=columns.final_variance,
        log10_final_variance=columns.log10_final_variance,
        regime=columns.regime,
        gain_per_layer=columns.gain_per_layer,
        log10_gain_per_layer=columns.log10_gain_per_layer,
        backward=backward,
    )
