"""Backward passes: the gradients of L = Σ output·grad_output for input, weight and bias (the
numpy reference, as forward.py).

Each function takes the forward's arguments plus grad_output (the input's shape), recomputes the
forward statistics, and returns `Gradients`. With x̂ the normalized input, ĝ = grad_output·weight,
rstd = 1/sqrt(var + eps) and n the number of values per statistic:

    batch statistics:  grad_input = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂))   (rms: without mean(ĝ))
    fixed statistics:  grad_input = rstd·ĝ        (eval batch norm, instance without input stats)
    grad_weight = Σ grad_output·x̂,  grad_bias = Σ grad_output   (over all but the affine axes)

The means run over each statistic's group. Computed in float64, returned in the computation
dtype. Running statistics are buffers, not parameters: they get no gradient, and are not updated
here.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from service.numerics.arrays import check_finite
from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.normalization._core import Gradients, as_input
from service.numerics.normalization.calls import (
    Call,
    batch_call,
    group_call,
    instance_call,
    layer_call,
    rms_call,
)
from service.numerics.normalization.forward import statistics


def grad_output_of(call: Call, grad_output: ArrayLike) -> np.ndarray:
    """grad_output as a C-contiguous array of the input's dtype and shape."""
    grad = as_input(grad_output, call.x.dtype, "grad_output")
    if grad.shape != call.x.shape:
        raise NumericsError(
            f"must have the input's shape {list(call.x.shape)}, got {list(grad.shape)}",
            "grad_output",
        )
    return grad


def refuse_nonfinite_gradient(call: Call, grad: np.ndarray) -> NonFiniteResult:
    """The error for a non-finite gradient: bad input or grad_output, else an overflow."""
    check_finite(call.x, "input")
    check_finite(grad, "grad_output")
    wider = "" if call.x.dtype == np.float64 else "use float64, or "
    return NonFiniteResult(
        f"the gradient overflows {call.x.dtype.name}: grad_output, weight or a tiny variance "
        f"scale it beyond its range ({wider}a larger eps)",
        field="grad_output",
    )


def reference_backward(call: Call, grad_output: ArrayLike) -> Gradients:
    """The gradients for a validated call (formulas in the module docstring)."""
    layout = call.layout
    grad = grad_output_of(call, grad_output)
    check_finite(grad, "grad_output")
    x = call.x.reshape(layout.view).astype(np.float64)
    g = grad.reshape(layout.view).astype(np.float64)
    dt = call.x.dtype
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):  # checked below
        _, deviations, var = statistics(call, x)
        rstd = 1.0 / np.sqrt(var + call.eps)
        x_hat = deviations * rstd
        g_hat = g if call.weight is None else g * call.weight.reshape(layout.param_view)
        if call.fixed:
            grad_input = g_hat * rstd
        else:
            projection = np.mean(g_hat * x_hat, axis=layout.stat_axes, keepdims=True)
            grad_input = g_hat - x_hat * projection
            if call.center:
                grad_input -= np.mean(g_hat, axis=layout.stat_axes, keepdims=True)
            grad_input *= rstd
        grad_weight = (g * x_hat).sum(axis=layout.param_axes).reshape(call.param_shape)
        grad_bias = g.sum(axis=layout.param_axes).reshape(call.param_shape)
        results = [grad_input.reshape(call.x.shape), grad_weight, grad_bias]
        results = [array.astype(dt) for array in results]
    if not all(np.isfinite(array).all() for array in results):
        raise refuse_nonfinite_gradient(call, grad)
    return Gradients(
        results[0],
        results[1] if call.weight is not None else None,
        results[2] if call.bias is not None else None,
    )


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
    call = batch_call(
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
    return reference_backward(call, grad_output)


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
    call = instance_call(
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
    return reference_backward(call, grad_output)


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
    call = group_call(x, num_groups, weight=weight, bias=bias, eps=eps, dtype=dtype)
    return reference_backward(call, grad_output)


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
    call = layer_call(x, normalized_shape, weight=weight, bias=bias, eps=eps, dtype=dtype)
    return reference_backward(call, grad_output)


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
    call = rms_call(x, normalized_shape, weight=weight, eps=eps, dtype=dtype)
    return reference_backward(call, grad_output)
