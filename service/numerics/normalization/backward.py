"""Backward passes: the gradients of L = Σ output·grad_output for input, weight and bias.

Each function takes the forward's arguments plus grad_output (the input's shape), recomputes the
forward statistics, and returns `Gradients`. With x̂ the normalized input, ĝ = grad_output·weight,
rstd = 1/sqrt(var + eps) and n the number of values per statistic:

    batch statistics:  grad_input = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))   (rms: without mean(ĝ))
    fixed statistics:  grad_input = rstd·ĝ        (eval batch norm, instance without input stats)
    grad_weight = Σ grad_output·x̂,  grad_bias = Σ grad_output   (over all but the affine axes)

The means run over each statistic's group. Accumulation in the computation dtype. Running
statistics are buffers, not parameters: they get no gradient, and are not updated here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from service.numerics.arrays import check_finite
from service.numerics.errors import NumericsError
from service.numerics.normalization._core import (
    Gradients,
    NormalizationResult,
    as_input,
    resolve_dtype,
)
from service.numerics.normalization.forward import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    rms_norm,
)


@dataclass(frozen=True)
class _Layout:
    """How a variant sees the input: `view` shape, statistics per `stats_shape` (keepdims) over
    `stat_axes`, affine parameters broadcast as `param_shape`, their gradients summed over
    `param_axes`."""

    view: tuple[int, ...]
    stat_axes: tuple[int, ...]
    stats_shape: tuple[int, ...]
    param_shape: tuple[int, ...]
    param_axes: tuple[int, ...]


def _grad_output(grad_output: ArrayLike, x: np.ndarray) -> np.ndarray:
    grad = as_input(grad_output, x.dtype, "grad_output")
    if grad.shape != x.shape:
        raise NumericsError(
            f"must have the input's shape {list(x.shape)}, got {list(grad.shape)}", "grad_output"
        )
    check_finite(grad, "grad_output")
    return grad


def _gradients(
    x: np.ndarray,
    grad_output: ArrayLike,
    result: NormalizationResult,
    layout: _Layout,
    affine_shape: tuple[int, ...],
    weight: np.ndarray | None,
    has_bias: bool,
    batch_statistics: bool,
) -> Gradients:
    grad = _grad_output(grad_output, x)
    dt = x.dtype
    xv = x.reshape(layout.view)
    gv = grad.reshape(layout.view)
    rstd = np.reciprocal(np.sqrt(result.var.reshape(layout.stats_shape) + dt.type(result.eps)))
    centered = xv if result.mean is None else xv - result.mean.reshape(layout.stats_shape)
    if batch_statistics and result.mean is not None:
        # The mean was rounded to the dtype; the mean of the centered values restores the
        # digits (as in the forward's corrected second pass) at large offsets.
        centered -= centered.mean(axis=layout.stat_axes, keepdims=True)
    x_hat = centered * rstd
    weight_v = None if weight is None else weight.reshape(layout.param_shape)
    g_hat = gv if weight_v is None else gv * weight_v
    grad_weight = grad_bias = None
    if weight is not None:
        grad_weight = (gv * x_hat).sum(axis=layout.param_axes).reshape(affine_shape)
    if has_bias:
        grad_bias = gv.sum(axis=layout.param_axes).reshape(affine_shape)
    if batch_statistics:
        count = math.prod(layout.view[axis] for axis in layout.stat_axes)
        projection = (g_hat * x_hat).sum(axis=layout.stat_axes, keepdims=True) / dt.type(count)
        grad_input = g_hat - x_hat * projection
        if result.mean is not None:
            grad_input -= g_hat.sum(axis=layout.stat_axes, keepdims=True) / dt.type(count)
        grad_input *= rstd
    else:
        grad_input = g_hat * rstd
    return Gradients(grad_input.reshape(x.shape), grad_weight, grad_bias)


def _weight(value: ArrayLike | None, dt: np.dtype[Any]) -> np.ndarray | None:
    # Already validated by the forward call; only converted here.
    return None if value is None else np.asarray(value, dtype=dt)


def batch_norm_backward(
    x: ArrayLike,
    grad_output: ArrayLike,
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
) -> Gradients:
    """Gradients of batch_norm (same arguments); grad_weight, grad_bias: (C,)."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    result = batch_norm(
        x_,
        weight=weight,
        bias=bias,
        running_mean=running_mean,
        running_var=running_var,
        training=training,
        momentum=momentum,
        eps=eps,
        num_batches_tracked=num_batches_tracked,
        dtype=dt,
    )
    batch, channels = x_.shape[:2]
    layout = _Layout(
        (batch, channels, x_.size // (batch * channels)),
        (0, 2),
        (1, channels, 1),
        (1, channels, 1),
        (0, 2),
    )
    return _gradients(
        x_,
        grad_output,
        result,
        layout,
        (channels,),
        _weight(weight, dt),
        bias is not None,
        batch_statistics=bool(training),
    )


def instance_norm_backward(
    x: ArrayLike,
    grad_output: ArrayLike,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    running_mean: ArrayLike | None = None,
    running_var: ArrayLike | None = None,
    use_input_stats: bool = True,
    momentum: float | None = 0.1,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> Gradients:
    """Gradients of instance_norm (same arguments); grad_weight, grad_bias: (C,)."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    result = instance_norm(
        x_,
        weight=weight,
        bias=bias,
        running_mean=running_mean,
        running_var=running_var,
        use_input_stats=use_input_stats,
        momentum=momentum,
        eps=eps,
        dtype=dt,
    )
    batch, channels = x_.shape[:2]
    layout = _Layout(
        (batch, channels, x_.size // (batch * channels)),
        (2,),
        (batch, channels, 1),
        (1, channels, 1),
        (0, 2),
    )
    return _gradients(
        x_,
        grad_output,
        result,
        layout,
        (channels,),
        _weight(weight, dt),
        bias is not None,
        batch_statistics=bool(use_input_stats),
    )


def group_norm_backward(
    x: ArrayLike,
    grad_output: ArrayLike,
    num_groups: int,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> Gradients:
    """Gradients of group_norm (same arguments); grad_weight, grad_bias: (C,)."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    result = group_norm(x_, num_groups, weight=weight, bias=bias, eps=eps, dtype=dt)
    batch, channels = x_.shape[:2]
    groups = int(num_groups)
    per_group = channels // groups
    layout = _Layout(
        (batch, groups, per_group, x_.size // (batch * channels)),
        (2, 3),
        (batch, groups, 1, 1),
        (1, groups, per_group, 1),
        (0, 3),
    )
    return _gradients(
        x_,
        grad_output,
        result,
        layout,
        (channels,),
        _weight(weight, dt),
        bias is not None,
        batch_statistics=True,
    )


def _trailing_layout(x: np.ndarray, result: NormalizationResult) -> _Layout:
    inner = math.prod(x.shape[axis] for axis in result.reduced_axes)
    rows = x.size // inner
    return _Layout((rows, inner), (1,), (rows, 1), (1, inner), (0,))


def layer_norm_backward(
    x: ArrayLike,
    grad_output: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> Gradients:
    """Gradients of layer_norm (same arguments); grad_weight, grad_bias: normalized_shape."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    result = layer_norm(x_, normalized_shape, weight=weight, bias=bias, eps=eps, dtype=dt)
    shape = tuple(x_.shape[axis] for axis in result.reduced_axes)
    return _gradients(
        x_,
        grad_output,
        result,
        _trailing_layout(x_, result),
        shape,
        _weight(weight, dt),
        bias is not None,
        batch_statistics=True,
    )


def rms_norm_backward(
    x: ArrayLike,
    grad_output: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    eps: float | None = None,
    dtype: DTypeLike = np.float32,
) -> Gradients:
    """Gradients of rms_norm (same arguments); grad_weight: normalized_shape; grad_bias None."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    result = rms_norm(x_, normalized_shape, weight=weight, eps=eps, dtype=dt)
    shape = tuple(x_.shape[axis] for axis in result.reduced_axes)
    return _gradients(
        x_,
        grad_output,
        result,
        _trailing_layout(x_, result),
        shape,
        _weight(weight, dt),
        has_bias=False,
        batch_statistics=True,
    )
