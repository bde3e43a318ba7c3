"""Forward passes of batch, layer, group, instance and RMS normalization, as torch.nn.functional:
the readable numpy reference that the kernels (`fused`) are tested against.

Every variant computes x̂ = (x - mean) / sqrt(var + eps) (rms: x / sqrt(mean(x²) + eps)) over its
own axes, then y = x̂·weight + bias where given. Everything is computed in float64 (the kernels
accumulate in float64 too) and the output is returned in the computation dtype (`dtype`,
float32 by default). The statistics use the corrected two-pass formula (`centered`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from service.numerics.normalization._core import NormalizationResult, check_output
from service.numerics.normalization.calls import (
    Call,
    batch_call,
    group_call,
    instance_call,
    layer_call,
    rms_call,
)
from service.numerics.normalization.results import assemble, refuse_bad_statistics


def centered(x: np.ndarray, axes: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """(mean, x - mean) over `axes` (keepdims), by the corrected two-pass formula.

    Pass 1: m̃ = mean(x). Pass 2: d = x - m̃, whose mean r is the rounding error left in m̃;
    mean = m̃ + r and x - mean = d - r, computed without ever rounding m̃ + r, so the centered
    values keep their digits even when the mean is 10^8 times the spread.
    """
    shift = x.mean(axis=axes, keepdims=True)
    deviations = x - shift
    residual = deviations.mean(axis=axes, keepdims=True)
    deviations -= residual
    return shift + residual, deviations


def statistics(call: Call, x: np.ndarray) -> tuple[Any, np.ndarray, np.ndarray]:
    """(mean or None, the centered input, var) in float64 for the layout view of x.

    Batch statistics are checked (`refuse_bad_statistics`); fixed ones come from the running
    statistics; rms has no mean, and var is the mean square.
    """
    layout = call.layout
    if call.fixed:
        assert call.running_mean is not None
        assert call.running_var is not None
        running = call.running_mean.astype(np.float64).reshape(layout.param_view)
        return running, x - running, call.running_var.astype(np.float64).reshape(layout.param_view)
    mean: np.ndarray | None = None
    deviations = x
    if call.center:
        mean, deviations = centered(x, layout.stat_axes)
    var = np.mean(deviations * deviations, axis=layout.stat_axes, keepdims=True)
    refuse_bad_statistics(call, np.zeros(var.size) if mean is None else mean.ravel(), var.ravel())
    return mean, deviations, var


def reference_forward(call: Call) -> NormalizationResult:
    """y = (x - mean) / sqrt(var + eps)·weight + bias for a validated call."""
    layout = call.layout
    x = call.x.reshape(layout.view).astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        mean, deviations, var = statistics(call, x)
        y = deviations / np.sqrt(var + call.eps)
        if call.weight is not None:
            y *= call.weight.reshape(layout.param_view)
        if call.bias is not None:
            y += call.bias.reshape(layout.param_view)
        output = y.astype(call.x.dtype).reshape(call.x.shape)
    check_output(output, call.x)
    return assemble(call, output, None if mean is None else mean.ravel(), var.ravel())


def batch_norm(
    x: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    running_mean: ArrayLike | None = None,
    running_var: ArrayLike | None = None,
    training: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    num_batches_tracked: int | None = None,
    dtype: DTypeLike = np.float32,
) -> NormalizationResult:
    """Batch normalization of x (N, C, *spatial) per channel over N and the spatial axes.

    Training: y = (x - μ_c) / sqrt(σ²_c + eps)·weight_c + bias_c with the batch mean μ and biased
    variance σ²; the running statistics (C,), when given, become (1 - m)·running + m·batch with
    the unbiased variance σ²·n/(n - 1), n = N·prod(spatial). m = momentum, or 1/t for
    momentum None (a cumulative average; t = num_batches_tracked + 1, which is returned).
    Eval (training false): normalizes with running_mean and running_var instead.
    As torch.nn.functional.batch_norm.
    """
    return reference_forward(
        batch_call(
            x,
            weight=weight,
            bias=bias,
            running_mean=running_mean,
            running_var=running_var,
            training=training,
            momentum=momentum,
            eps=eps,
            num_batches_tracked=num_batches_tracked,
            dtype=dtype,
        )
    )


def instance_norm(
    x: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    running_mean: ArrayLike | None = None,
    running_var: ArrayLike | None = None,
    use_input_stats: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> NormalizationResult:
    """Instance normalization of x (N, C, *spatial) per (sample, channel) over the spatial axes.

    y = (x - μ_nc) / sqrt(σ²_nc + eps)·weight_c + bias_c. With use_input_stats the running
    statistics (C,), when given, become (1 - m)·running + m·(batch average of the per-instance
    mean and unbiased variance), m = momentum (None counts as 0, as InstanceNorm*d passes it);
    without, x is normalized with the running statistics. mean / var: (N, C).
    As torch.nn.functional.instance_norm.
    """
    return reference_forward(
        instance_call(
            x,
            weight=weight,
            bias=bias,
            running_mean=running_mean,
            running_var=running_var,
            use_input_stats=use_input_stats,
            momentum=momentum,
            eps=eps,
            dtype=dtype,
        )
    )


def group_norm(
    x: ArrayLike,
    num_groups: int,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> NormalizationResult:
    """Group normalization of x (N, C, *spatial): C splits into num_groups groups of C/G channels.

    y = (x - μ_ng) / sqrt(σ²_ng + eps)·weight_c + bias_c, the statistics over the group's channels
    and the spatial axes. mean / var: (N, G). As torch.nn.functional.group_norm.
    """
    return reference_forward(
        group_call(x, num_groups, weight=weight, bias=bias, eps=eps, dtype=dtype)
    )


def layer_norm(
    x: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> NormalizationResult:
    """Layer normalization over the trailing dimensions, which must equal normalized_shape.

    y = (x - μ) / sqrt(σ² + eps)·weight + bias, μ and σ² over the last k = len(normalized_shape)
    axes; weight and bias have shape normalized_shape. mean / var: x.shape[:-k].
    As torch.nn.functional.layer_norm.
    """
    return reference_forward(
        layer_call(x, normalized_shape, weight=weight, bias=bias, eps=eps, dtype=dtype)
    )


def rms_norm(
    x: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    eps: float | None = None,
    dtype: DTypeLike = np.float32,
) -> NormalizationResult:
    """RMS normalization over the trailing dimensions: y = x / sqrt(mean(x²) + eps)·weight.

    No mean is subtracted. eps None means the machine epsilon of `dtype` (1.19e-7 for float32),
    as torch.nn.functional.rms_norm. var is the mean square, shape x.shape[:-k]; mean is None.
    """
    return reference_forward(rms_call(x, normalized_shape, weight=weight, eps=eps, dtype=dtype))
