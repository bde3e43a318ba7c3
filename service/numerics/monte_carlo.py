"""Variance propagation by Monte Carlo: sample the weights, push a batch through, measure.

With rng = np.random.Generator(np.random.PCG64(seed)) the draws are, in order: the input
x (batch, n_0) ~ N(0, input_variance); per layer W_l (n_l, n_{l-1}) and, when bias_variance > 0,
b_l (n_l,) ~ N(0, bias_variance); then, for backward, the output gradient (batch, n_L) ~ N(0, 1).
So the forward statistics do not depend on `backward`, and the same arguments always give
byte-identical results.

Layer l: z = h W_lᵀ + b_l (float64, (batch, n_l)), optional normalization over the batch
("batch": per feature), the features ("layer") or the root mean square ("rms"), with eps = 1e-5 and
no affine parameters, then h = φ(·) in place.

Exploding and vanishing signals: each array is held as stored · 2^k with an integer k (scaling by a
power of two is exact), so linear / relu / leaky_relu networks run to 1e±1000 and beyond; bounded
activations cannot overflow; gelu / selu outputs that truly leave the double range raise
NonFiniteResult (the analytic mode works in log space instead).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Final

import numpy as np
from numpy.typing import NDArray

from service.numerics.activations import (
    BOUNDED_ACTIVATIONS,
    HOMOGENEOUS_ACTIVATIONS,
    FloatArray,
    activation_derivative,
    apply_activation,
)
from service.numerics.budget import DEFAULT_BUDGET, NO_DEADLINE, Budget, Deadline
from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.initializers import sample_weights
from service.numerics.monte_carlo_cost import (
    check_monte_carlo_budget,
)
from service.numerics.network import (
    NORM_EPS,
    LayerStats,
    NetworkSpec,
    PropagationResult,
    SampleStats,
    summarize,
)
from service.numerics.validation import check_scalar

DEFAULT_HISTOGRAM_BINS: Final = 40
MAX_HISTOGRAM_BINS: Final = 1000
DEFAULT_HISTOGRAM_RANGE: Final = (-4.0, 4.0)
SATURATION_MARGIN: Final = 0.01
MAX_SEED: Final = 2**63 - 1

_LOG10_2: Final = math.log10(2.0)
_RESCALE_EXPONENT: Final = 200  # keep stored magnitudes within 2^±200 so squares stay finite


def _check_request(
    spec: NetworkSpec,
    batch_size: int,
    seed: int,
    histogram_bins: int,
    histogram_range: Sequence[float],
) -> tuple[float, float]:
    check_scalar(batch_size, "batch_size", int, min_val=1)
    if spec.normalization == "batch" and batch_size < 2:
        raise NumericsError("batch normalization needs batch_size >= 2", field="batch_size")
    check_scalar(seed, "seed", int, min_val=0, max_val=MAX_SEED)
    check_scalar(histogram_bins, "histogram_bins", int, min_val=1, max_val=MAX_HISTOGRAM_BINS)
    try:
        low, high = (float(v) for v in histogram_range)
    except (TypeError, ValueError):
        raise NumericsError(
            "histogram_range must be two numbers [low, high]", field="histogram_range"
        ) from None
    if not (math.isfinite(low) and math.isfinite(high) and low < high):
        raise NumericsError(
            "histogram_range must be finite with low < high", field="histogram_range"
        )
    return low, high


def _exponent(value: float) -> int:
    """e with value in [2^(e-1), 2^e); 0 for 0."""
    return math.frexp(value)[1] if value > 0.0 else 0


def _scaled(value: float, exponent: int) -> float | None:
    """value · 2^exponent as a Python float, None if it overflows."""
    with np.errstate(over="ignore", under="ignore"):
        result = float(np.ldexp(value, exponent))
    return result if math.isfinite(result) else None


def _log10_scaled(value: float, exponent: int) -> float | None:
    """log10(|value| · 2^exponent), None for 0."""
    return math.log10(value) + exponent * _LOG10_2 if value > 0.0 else None


def _sum_of_squares(flat: FloatArray) -> float:
    """Σ x² of a 1-D array, with numpy's own single-threaded SIMD loop.

    Not np.dot: OpenBLAS threads a long ddot, and on a busy machine the hand-off between its
    threads stalls for milliseconds (measured: median 10 ms against 0.07 ms for 262,144 values
    under load); einsum is also independent of the BLAS thread count, bit for bit.
    """
    return float(np.einsum("i,i->", flat, flat))


def _mean_and_variance(x: FloatArray) -> tuple[float, float]:
    """Pooled mean and variance (ddof 0) of all entries, one pass unless that would cancel."""
    flat = x.reshape(-1)
    with np.errstate(over="ignore", invalid="ignore"):  # the caller checks for non-finite
        mean = float(flat.sum()) / flat.size
        mean_square = _sum_of_squares(flat) / flat.size
        variance = mean_square - mean * mean
        # E[x²] - E[x]² loses log10(E[x²] / Var) digits: fine for relu (0.2), not for a
        # saturated sigmoid. Below 1e-3 · E[x²], subtract the mean first.
        if not variance <= 1e-3 * mean_square:
            return mean, variance
        centered = flat - mean
        return mean, _sum_of_squares(centered) / flat.size


class _Histogram:
    """Counts over fixed, equal-width bins [low, high), plus the values below and above them."""

    def __init__(self, low: float, high: float, bins: int) -> None:
        self.low, self.high, self.bins = low, high, bins
        self._indices: NDArray[np.intp] | None = None
        self._pairs: NDArray[np.intp] | None = None

    def counts(self, x: FloatArray, scratch: FloatArray) -> tuple[tuple[int, ...], int, int]:
        """(counts per bin, below, above); bin i holds floor((x - low) · bins / (high - low))."""
        slots = self.bins + 2  # slot 0: below, slots 1..bins: the bins, slot bins + 1: above
        if self._indices is None or self._indices.size != x.size:
            self._indices = np.empty(x.size, dtype=np.intp)
            self._pairs = np.empty(x.size // 2, dtype=np.intp)
        assert self._pairs is not None
        flat = scratch.reshape(-1)
        np.subtract(x.reshape(-1), self.low, out=flat)
        flat *= self.bins / (self.high - self.low)
        np.clip(flat, -1.0, float(self.bins), out=flat)
        np.floor(flat, out=flat)
        np.copyto(self._indices, flat, casting="unsafe")  # bin index, -1 below, bins above
        # Tally neighbours in pairs on a (slots × slots) table: half the increments, spread over
        # many counters, where one counter per bin would serialize on relu's zeros.
        indices, pairs = self._indices, self._pairs
        np.multiply(indices[0 : 2 * pairs.size : 2], slots, out=pairs)
        pairs += indices[1 : 2 * pairs.size : 2]
        pairs += slots + 1  # shift both indices by one: slot = bin + 1
        joint = np.bincount(pairs, minlength=slots * slots).reshape(slots, slots)
        tally = joint.sum(axis=0) + joint.sum(axis=1)
        if indices.size % 2:
            tally[indices[-1] + 1] += 1
        return tuple(int(c) for c in tally[1:-1]), int(tally[0]), int(tally[-1])


def _normalize(kind: str, z: FloatArray, exponent: int) -> tuple[FloatArray, int, FloatArray, int]:
    """Normalize z (true value z · 2^exponent) in place.

    Returns (x̂, x̂'s exponent, 1/σ as stored, the exponent to add to a gradient passing back).
    """
    eps_exponent = -2 * exponent
    with np.errstate(under="ignore"):
        stored_eps = float(np.ldexp(NORM_EPS, eps_exponent)) if eps_exponent < 1000 else math.inf
    if kind == "rms":
        mean_square = np.einsum("ij,ij->i", z, z) / z.shape[1]
        statistic = mean_square[:, None]
    else:
        axis = 0 if kind == "batch" else 1
        z -= z.mean(axis=axis, keepdims=True)
        subscripts = "ij,ij->j" if axis == 0 else "ij,ij->i"
        variance = np.einsum(subscripts, z, z) / z.shape[axis]
        statistic = variance[None, :] if axis == 0 else variance[:, None]
    if math.isinf(stored_eps):
        # The true variance is below eps · 2^-1000: eps alone sets the scale.
        inverse = np.full_like(statistic, 1.0 / math.sqrt(NORM_EPS))
        z *= inverse
        return z, exponent, inverse, 0
    inverse = 1.0 / np.sqrt(statistic + stored_eps)
    z *= inverse
    return z, 0, inverse, -exponent


def _normalize_backward(
    kind: str, grad: FloatArray, x_hat: FloatArray, inverse: FloatArray
) -> None:
    """∂loss/∂z from ∂loss/∂x̂, in place in `grad` (x̂ = (z - μ)/σ or z/rms, no affine)."""
    if kind == "rms":
        projection = np.einsum("ij,ij->i", grad, x_hat)[:, None] / grad.shape[1]
        grad -= x_hat * projection
    else:
        axis = 0 if kind == "batch" else 1
        grad -= grad.mean(axis=axis, keepdims=True)
        correlation = (grad * x_hat).mean(axis=axis, keepdims=True)
        grad -= x_hat * correlation
    grad *= inverse


def _draw_weights(spec: NetworkSpec, layer: int, rng: np.random.Generator, out: FloatArray) -> int:
    """W_l into `out`; returns e such that the true weights are out · 2^e (e = 0 unless extreme)."""
    fan_in, fan_out = spec.widths[layer], spec.widths[layer + 1]
    if spec.init is None:
        rng.standard_normal(out=out)
        std = math.sqrt(spec.weight_variances[layer])
        exponent = _exponent(std) if not 2.0**-100 < std < 2.0**100 else 0
        out *= math.ldexp(std, -exponent) if std > 0.0 else 0.0
        return exponent
    assert spec.gain is not None
    exponent = _exponent(spec.gain) if not 2.0**-100 < spec.gain < 2.0**100 else 0
    sample_weights(spec.init, fan_in, fan_out, math.ldexp(spec.gain, -exponent), rng, out=out)
    return exponent


def _overflow(layer: int) -> NonFiniteResult:
    return NonFiniteResult(
        f"Monte Carlo values overflow float64 at layer {layer}; use the analytic mode, which "
        "works in log space, or fewer layers",
        field="depth",
    )


def monte_carlo_propagation(
    spec: NetworkSpec,
    *,
    batch_size: int,
    seed: int,
    histogram_bins: int = DEFAULT_HISTOGRAM_BINS,
    histogram_range: Sequence[float] = DEFAULT_HISTOGRAM_RANGE,
    backward: bool = False,
    budget: Budget = DEFAULT_BUDGET,
    deadline: Deadline = NO_DEADLINE,
) -> PropagationResult:
    """Sample one network and a batch of inputs; measure every layer (see the module docstring).

    Refuses, before allocating anything, a request above MAX_MONTE_CARLO_DEPTH layers or above
    the budget's memory or work (monte_carlo_cost); checks `deadline` after every layer, forward
    and backward (DeadlineExceeded).
    """
    low, high = _check_request(spec, batch_size, seed, histogram_bins, histogram_range)
    check_monte_carlo_budget(spec, batch_size, backward, budget)
    histogram = _Histogram(low, high, histogram_bins)
    activation, slope, kind = spec.activation, spec.negative_slope, spec.normalization
    homogeneous = activation in HOMOGENEOUS_ACTIVATIONS
    rng = np.random.Generator(np.random.PCG64(seed))
    bias_std = math.sqrt(spec.bias_variance)

    input_std = math.sqrt(spec.input_variance)
    h_exponent = _exponent(input_std) if not 2.0**-100 < input_std < 2.0**100 else 0
    h = rng.standard_normal((batch_size, spec.widths[0]))
    h *= math.ldexp(input_std, -h_exponent)

    kept_weights: list[tuple[FloatArray, int]] = []
    kept_derivatives: list[FloatArray] = []
    kept_normalized: list[tuple[FloatArray, FloatArray, int]] = []
    layers: list[LayerStats] = []
    weights_buffer: FloatArray | None = None
    spare: FloatArray | None = None
    scratch: FloatArray | None = None

    for layer in range(spec.depth):
        fan_in, fan_out = spec.widths[layer], spec.widths[layer + 1]
        if backward or weights_buffer is None or weights_buffer.shape != (fan_out, fan_in):
            weights_buffer = np.empty((fan_out, fan_in))
        weights = weights_buffer
        w_exponent = _draw_weights(spec, layer, rng, weights)
        flat_weights = weights.reshape(-1)
        w_variance = _sum_of_squares(flat_weights) / flat_weights.size
        if spare is None or spare.shape != (batch_size, fan_out):
            spare = np.empty((batch_size, fan_out))
        z = np.matmul(h, weights.T, out=spare)
        spare = h if h.shape == (batch_size, fan_out) else None  # ping-pong the two buffers
        z_exponent = h_exponent + w_exponent
        if bias_std > 0.0:
            bias_exponent = _exponent(bias_std)
            if bias_exponent - z_exponent > _RESCALE_EXPONENT:
                # z is vanishingly small next to the bias: re-express it at the bias's scale so
                # that the bias in z's units, σ_b · 2^-k, cannot overflow.
                z *= math.ldexp(1.0, z_exponent - bias_exponent)
                z_exponent = bias_exponent
            bias = rng.standard_normal(fan_out)
            z += bias * math.ldexp(bias_std, -z_exponent)
        _, z_variance = _mean_and_variance(z)
        if not math.isfinite(z_variance):
            raise _overflow(layer + 1)

        x, x_exponent = z, z_exponent
        if kind is not None:
            x, x_exponent, inverse, grad_shift = _normalize(kind, z, z_exponent)
            if backward:
                with np.errstate(under="ignore"):
                    x_hat = np.ldexp(x, x_exponent) if x_exponent else x.copy()
                kept_normalized.append((x_hat, inverse, grad_shift))
        if not homogeneous and x_exponent != 0:
            with np.errstate(over="ignore", under="ignore"):
                np.ldexp(x, x_exponent, out=x)
            x_exponent = 0
        if backward:
            kept_derivatives.append(activation_derivative(activation, x, slope))
            kept_weights.append((weights, w_exponent))
        with np.errstate(over="ignore", invalid="ignore"):
            h = apply_activation(activation, x, slope, out=x)
        h_exponent = x_exponent

        mean, variance = _mean_and_variance(h)
        minimum, maximum = float(h.min()), float(h.max())
        if not (math.isfinite(variance) and math.isfinite(minimum) and math.isfinite(maximum)):
            raise _overflow(layer + 1)
        if scratch is None or scratch.shape != h.shape:
            scratch = np.empty_like(h)
        if h_exponent == 0:
            counts, below, above = histogram.counts(h, scratch)
        else:
            with np.errstate(over="ignore", under="ignore"):
                counts, below, above = histogram.counts(np.ldexp(h, h_exponent), scratch)
        zero_fraction = saturated_fraction = None
        if activation == "relu":
            zero_fraction = (h.size - int(np.count_nonzero(h))) / h.size
        elif activation in BOUNDED_ACTIVATIONS:
            center = 0.0 if activation == "tanh" else 0.5
            edge = (1.0 if activation == "tanh" else 0.5) - SATURATION_MARGIN
            saturated_fraction = int(np.count_nonzero(np.abs(h - center) >= edge)) / h.size
        variance_value = _scaled(variance, 2 * h_exponent)
        layers.append(
            LayerStats(
                index=layer + 1,
                width=fan_out,
                weight_variance=spec.weight_variances[layer],
                preactivation_variance=_scaled(z_variance, 2 * z_exponent),
                log10_preactivation_variance=_log10_scaled(z_variance, 2 * z_exponent),
                variance=variance_value,
                log10_variance=_log10_scaled(variance, 2 * h_exponent),
                mean=_scaled(mean, h_exponent),
                sample=SampleStats(
                    std=None if variance_value is None else math.sqrt(variance_value),
                    min=_scaled(minimum, h_exponent),
                    max=_scaled(maximum, h_exponent),
                    zero_fraction=zero_fraction,
                    saturated_fraction=saturated_fraction,
                    histogram_counts=counts,
                    below_range=below,
                    above_range=above,
                    sampled_weight_variance=_scaled(w_variance, 2 * w_exponent),
                ),
            )
        )
        deadline.check()
        if homogeneous:
            magnitude_exponent = _exponent(max(abs(minimum), abs(maximum)))
            if abs(magnitude_exponent) > _RESCALE_EXPONENT:
                h *= math.ldexp(1.0, -magnitude_exponent)
                h_exponent += magnitude_exponent

    if backward:
        grads = _backward_pass(
            spec, rng, batch_size, kept_weights, kept_derivatives, kept_normalized, deadline
        )
        layers = [
            replace(stats, grad_variance=grad, log10_grad_variance=log10_grad)
            for stats, (grad, log10_grad) in zip(layers, grads, strict=True)
        ]
    last = layers[-1]
    log10_final = last.log10_variance if last.log10_variance is not None else -math.inf
    final, final_log10, regime, gain, log10_gain = summarize(
        log10_final, spec.input_variance, spec.depth
    )
    return PropagationResult(
        mode="monte_carlo",
        spec=spec,
        layers=tuple(layers),
        final_variance=last.variance if last.variance is not None else final,
        log10_final_variance=final_log10,
        regime=regime,
        gain_per_layer=gain,
        log10_gain_per_layer=log10_gain,
        backward=backward,
        batch_size=batch_size,
        seed=seed,
        histogram_edges=tuple(np.linspace(low, high, histogram_bins + 1).tolist()),
    )


def _backward_pass(
    spec: NetworkSpec,
    rng: np.random.Generator,
    batch_size: int,
    weights: list[tuple[FloatArray, int]],
    derivatives: list[FloatArray],
    normalized: list[tuple[FloatArray, FloatArray, int]],
    deadline: Deadline,
) -> list[tuple[float | None, float | None]]:
    """Var(∂loss/∂h_{l-1}) per layer, from unit-variance N(0, 1) gradients at the output."""
    grad = rng.standard_normal((batch_size, spec.widths[-1]))
    grad_exponent = 0
    rows: list[tuple[float | None, float | None]] = [(None, None)] * spec.depth
    for layer in range(spec.depth - 1, -1, -1):
        deadline.check()
        grad *= derivatives[layer]
        if spec.normalization is not None:
            x_hat, inverse, exponent_shift = normalized[layer]
            _normalize_backward(spec.normalization, grad, x_hat, inverse)
            grad_exponent += exponent_shift
        layer_weights, weight_exponent = weights[layer]
        grad = grad @ layer_weights
        grad_exponent += weight_exponent
        _, variance = _mean_and_variance(grad)
        if not math.isfinite(variance):
            raise _overflow(layer + 1)
        rows[layer] = (
            _scaled(variance, 2 * grad_exponent),
            _log10_scaled(variance, 2 * grad_exponent),
        )
        magnitude_exponent = _exponent(math.sqrt(variance))
        if abs(magnitude_exponent) > _RESCALE_EXPONENT:
            grad *= math.ldexp(1.0, -magnitude_exponent)
            grad_exponent += magnitude_exponent
    return rows
