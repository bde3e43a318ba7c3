"""The network a propagation runs on (NetworkSpec, validated once) and the result types.

Layer l = 1..depth maps h_{l-1} (width widths[l-1]) to h_l (width widths[l]):
z_l = W_l h_{l-1} + b_l, optionally normalized, then h_l = φ(z_l). h_0 = x has zero mean and
variance input_variance and is not passed through φ.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.activations import check_activation
from service.numerics.errors import NumericsError
from service.numerics.initializers import check_scheme, default_gain
from service.numerics.initializers import weight_variance as scheme_weight_variance
from service.numerics.validation import check_scalar

MAX_DEPTH: Final = 100_000
MAX_WIDTH: Final = 1_000_000_000
NORMALIZATIONS: Final = ("batch", "layer", "rms")
NORM_EPS: Final = 1e-5  # as torch's BatchNorm1d / LayerNorm default; used for RMS too
REGIMES: Final = ("exploding", "vanishing", "stable")


@dataclass(frozen=True)
class NetworkSpec:
    """A validated fully connected network; build it with build_network_spec.

    widths has depth + 1 entries (widths[0] is the input dimension); weight_variances has depth
    entries, Var(W_l) for each layer, resolved from weight_variance or from init and gain.
    init is None when the weights are N(0, weight_variance); gain is the resolved gain otherwise.
    """

    depth: int
    widths: tuple[int, ...]
    weight_variances: tuple[float, ...]
    input_variance: float
    activation: str
    negative_slope: float
    bias_variance: float
    normalization: str | None
    init: str | None
    gain: float | None


@dataclass(frozen=True)
class SampleStats:
    """Monte Carlo extras of one layer's output h_l over the whole (batch, width) sample.

    zero_fraction is reported for relu only, saturated_fraction (|tanh| >= 0.99, or sigmoid
    within 0.01 of 0 or 1) for tanh and sigmoid only. histogram_counts has one count per bin of
    the result's histogram_edges; values outside the edges are counted in below_range/above_range.
    sampled_weight_variance is the mean square of the drawn W_l entries (their mean is 0).
    """

    std: float | None
    min: float | None
    max: float | None
    zero_fraction: float | None
    saturated_fraction: float | None
    histogram_counts: tuple[int, ...]
    below_range: int
    above_range: int
    sampled_weight_variance: float | None


@dataclass(frozen=True)
class LayerStats:
    """One layer (index 1..depth). A plain value is None where it would overflow a double;
    a log10 value is None where the quantity is exactly 0. grad_variance is Var(∂loss/∂h_{l-1}),
    the gradient at the layer's input, given unit-variance gradients at the network's output.
    """

    index: int
    width: int
    weight_variance: float
    preactivation_variance: float | None
    log10_preactivation_variance: float | None
    variance: float | None
    log10_variance: float | None
    mean: float | None
    grad_variance: float | None = None
    log10_grad_variance: float | None = None
    sample: SampleStats | None = None


@dataclass(frozen=True)
class PropagationResult:
    """Per-layer statistics plus the summary of the whole network.

    regime is "exploding" if log10(final_variance / input_variance) > 1, "vanishing" if < -1,
    else "stable"; gain_per_layer = (final_variance / input_variance)^(1/depth).
    batch_size, seed and histogram_edges are set for Monte Carlo results only.
    """

    mode: str  # "analytic" or "monte_carlo"
    spec: NetworkSpec
    layers: tuple[LayerStats, ...]
    final_variance: float | None
    log10_final_variance: float | None
    regime: str
    gain_per_layer: float | None
    log10_gain_per_layer: float | None
    backward: bool
    batch_size: int | None = None
    seed: int | None = None
    histogram_edges: tuple[float, ...] | None = None


def _is_int(value: object) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _nonnegative_finite(value: object, field: str, *, strictly_positive: bool = False) -> float:
    return check_scalar(
        value,
        field,
        float,
        min_val=0.0,
        include_boundaries="neither" if strictly_positive else "left",
    )


def _resolve_widths(depth: int, width: int | None, widths: Sequence[int] | None) -> tuple[int, ...]:
    if width is not None and widths is not None:
        raise NumericsError("give either width or widths, not both", field="widths")
    if widths is None:
        if width is None:
            raise NumericsError("width (or widths) is required", field="width")
        return (check_scalar(width, "width", int, min_val=1, max_val=MAX_WIDTH),) * (depth + 1)
    if isinstance(widths, str | bytes) or not isinstance(widths, Sequence):
        raise NumericsError("widths must be a list of integers", field="widths")
    if len(widths) != depth + 1:
        raise NumericsError(
            f"widths must have depth + 1 = {depth + 1} entries (the input dimension first), "
            f"got {len(widths)}",
            field="widths",
        )
    if not all(_is_int(w) and 1 <= w <= MAX_WIDTH for w in widths):
        raise NumericsError(f"every width must be an integer in [1, {MAX_WIDTH}]", field="widths")
    return tuple(int(w) for w in widths)


def build_network_spec(
    depth: int,
    width: int | None = None,
    widths: Sequence[int] | None = None,
    weight_variance: float | None = None,
    init: str | None = None,
    gain: float | None = None,
    input_variance: float = 1.0,
    activation: str = "linear",
    negative_slope: float = 0.01,
    bias_variance: float = 0.0,
    normalization: str | None = None,
) -> NetworkSpec:
    """Validate a request once and resolve per-layer weight variances.

    Raises NumericsError whose `field` names the offending argument. Exactly one of
    weight_variance / init; gain only with init (default: initializers.default_gain).
    """
    depth = check_scalar(depth, "depth", int, min_val=1, max_val=MAX_DEPTH)
    resolved_widths = _resolve_widths(depth, width, widths)
    check_activation(activation, negative_slope)
    if normalization is not None and normalization not in NORMALIZATIONS:
        raise NumericsError(
            f"unknown normalization {normalization!r}; expected one of {', '.join(NORMALIZATIONS)}"
            " or none",
            field="normalization",
        )
    input_variance = _nonnegative_finite(input_variance, "input_variance", strictly_positive=True)
    bias_variance = _nonnegative_finite(bias_variance, "bias_variance")
    if (weight_variance is None) == (init is None):
        raise NumericsError("give exactly one of weight_variance and init", field="weight_variance")
    resolved_gain: float | None = None
    if init is None:
        if gain is not None:
            raise NumericsError("gain applies only together with init", field="gain")
        variance = _nonnegative_finite(weight_variance, "weight_variance")
        variances = (variance,) * depth
    else:
        check_scheme(init)
        if gain is None:
            resolved_gain = default_gain(init, activation, negative_slope)
        else:
            resolved_gain = _nonnegative_finite(gain, "gain", strictly_positive=True)
        variances = tuple(
            scheme_weight_variance(init, resolved_widths[i], resolved_widths[i + 1], resolved_gain)
            for i in range(depth)
        )
    return NetworkSpec(
        depth=depth,
        widths=resolved_widths,
        weight_variances=variances,
        input_variance=input_variance,
        activation=activation,
        negative_slope=float(negative_slope),
        bias_variance=bias_variance,
        normalization=normalization,
        init=init,
        gain=resolved_gain,
    )


_LOG10_MAX: Final = math.log10(np.finfo(np.float64).max)


def plain_values(log10_values: np.ndarray) -> list[float | None]:
    """10**x elementwise as Python floats: None where it overflows a double, 0.0 for -inf."""
    with np.errstate(over="ignore", under="ignore"):
        plain = np.power(10.0, log10_values)
    return [None if not math.isfinite(v) else v for v in plain.tolist()]


def log10_values(log10_array: np.ndarray) -> list[float | None]:
    """Finite log10 values as Python floats, None for log10(0) = -inf."""
    return [v if math.isfinite(v) else None for v in np.asarray(log10_array, float).tolist()]


def summarize(
    log10_final_variance: float, input_variance: float, depth: int
) -> tuple[float | None, float | None, str, float | None, float | None]:
    """(final_variance, log10_final_variance, regime, gain_per_layer, log10_gain_per_layer).

    log10_final_variance may be -inf (the output variance is exactly 0): the regime is then
    "vanishing" and the gain per layer 0.
    """
    if not log10_final_variance < math.inf:
        raise ValueError("log10_final_variance must be finite or -inf")
    log10_ratio = log10_final_variance - math.log10(input_variance)
    if log10_ratio > 1.0:
        regime = "exploding"
    elif log10_ratio < -1.0:
        regime = "vanishing"
    else:
        regime = "stable"
    if log10_final_variance == -math.inf:
        return 0.0, None, regime, 0.0, None
    log10_gain = log10_ratio / depth
    final = plain_values(np.array([log10_final_variance]))[0]
    gain = plain_values(np.array([log10_gain]))[0]
    return final, log10_final_variance, regime, gain, log10_gain
