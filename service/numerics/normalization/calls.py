"""Validated calls: one function per variant turns its arguments into a `Call` (or refuses them).

The numpy reference and the numba kernels both start from a Call, so the two share every
argument rule and every message, and differ only in how they compute.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.normalization._core import (
    MAX_BATCHES_TRACKED,
    as_count,
    as_eps,
    as_flag,
    as_input,
    as_number,
    as_param,
    as_shape,
    input_size,
    resolve_dtype,
)


@dataclass(frozen=True)
class Layout:
    """How a variant sees its input (shapes for numpy broadcasting).

    view: the input reshaped; statistics over `stat_axes` of it (keepdims shape `stats_view`);
    affine parameters broadcast as `param_view`, their gradients summed over `param_axes`.
    """

    view: tuple[int, ...]
    stat_axes: tuple[int, ...]
    stats_view: tuple[int, ...]
    param_view: tuple[int, ...]
    param_axes: tuple[int, ...]


@dataclass(frozen=True)
class Call:
    """One variant's validated arguments.

    x: the input, C-contiguous, in the computation dtype, in its own shape. layout: see Layout.
    groups (A, B, K), segment, period: the same input as the kernels see it (see
    `kernels`). stats_shape: the shape of the result's mean and var. fixed: normalize with the
    given running statistics (eval batch norm, instance norm without input statistics).
    center: subtract the mean (false for rms). count: values per statistic. label(b) names
    statistic b in messages. axes: the reduced input axes.
    """

    variant: str
    x: np.ndarray
    layout: Layout
    groups: tuple[int, int, int]
    segment: int
    period: int
    stats_shape: tuple[int, ...]
    param_shape: tuple[int, ...]
    weight: np.ndarray | None
    bias: np.ndarray | None
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    fixed: bool
    center: bool
    momentum: float | None
    tracked: int | None
    eps: float
    axes: tuple[int, ...]
    label: Callable[[int], str]

    @property
    def count(self) -> int:
        return self.groups[0] * self.groups[2]


def _channels_of(x: np.ndarray, variant: str) -> tuple[int, int, int]:
    """(N, C, prod(spatial)) of an input shaped (N, C, *spatial)."""
    if x.ndim < 2:
        raise NumericsError(
            f"{variant} normalization needs input of shape (N, C, *spatial), "
            f"got shape {input_size(x.shape)}",
            "input",
        )
    return x.shape[0], x.shape[1], math.prod(x.shape[2:])


def _running_stats(
    running_mean: ArrayLike | None, running_var: ArrayLike | None, dt: np.dtype[Any], channels: int
) -> tuple[np.ndarray | None, np.ndarray | None]:
    mean = as_param(running_mean, dt, "running_mean", (channels,))
    var = as_param(running_var, dt, "running_var", (channels,))
    if (mean is None) != (var is None):
        missing = "running_var" if var is None else "running_mean"
        raise NumericsError(
            "running_mean and running_var go together; give both or neither", missing
        )
    if var is not None and (var < 0).any():
        raise NumericsError(f"must be >= 0, got {float(var.min()):g}", "running_var")
    return mean, var


def _momentum(value: object) -> float | None:
    return None if value is None else as_number(value, "momentum", minimum=0.0, maximum=1.0)


def _fixed_statistics(
    running_mean: np.ndarray | None, running_var: np.ndarray | None, eps: float, why: str
) -> None:
    """Normalizing with the running statistics needs both, and running_var + eps > 0."""
    if running_mean is None or running_var is None:
        raise NumericsError(
            f"{why} normalizes with the running statistics; give running_mean and running_var",
            "running_mean",
        )
    denominator = running_var + running_var.dtype.type(eps)
    if not denominator.all():
        channel = int(np.argmin(denominator))
        raise NonFiniteResult(
            f"channel {channel} has running_var = 0 and eps = 0, so normalizing divides by 0; "
            "use eps > 0",
            field="eps",
        )


def _channel_layout(batch: int, channels: int, spatial: int, per_instance: bool) -> Layout:
    stats = (batch, channels, 1) if per_instance else (1, channels, 1)
    axes = (2,) if per_instance else (0, 2)
    return Layout((batch, channels, spatial), axes, stats, (1, channels, 1), (0, 2))


def batch_call(
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
) -> Call:
    """Batch norm's arguments (see `forward.batch_norm`)."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    batch, channels, spatial = _channels_of(x_, "batch")
    weight_ = as_param(weight, dt, "weight", (channels,))
    bias_ = as_param(bias, dt, "bias", (channels,))
    run_mean, run_var = _running_stats(running_mean, running_var, dt, channels)
    training = as_flag(training, "training")
    momentum_ = _momentum(momentum)
    eps = as_eps(eps)
    tracked = (
        None
        if num_batches_tracked is None
        else as_count(
            num_batches_tracked, "num_batches_tracked", minimum=0, maximum=MAX_BATCHES_TRACKED
        )
    )
    if not training:
        _fixed_statistics(run_mean, run_var, eps, "eval mode (training = false)")
    else:
        if batch * spatial == 1:
            raise NumericsError(
                "Expected more than 1 value per channel when training, got input size "
                f"{input_size(x_.shape)}",
                "input",
            )
        if eps == 0:
            raise NumericsError(
                f"batch_norm eps must be positive during training, but got {eps}", "eps"
            )
        if momentum_ is None and run_mean is not None and tracked is None:
            raise NumericsError(
                "momentum = null means a cumulative average of the batches, which needs "
                "num_batches_tracked (the number of batches seen before this one)",
                "num_batches_tracked",
            )
    return Call(
        "batch",
        x_,
        _channel_layout(batch, channels, spatial, per_instance=False),
        (batch, channels, spatial),
        spatial,
        channels,
        (channels,),
        (channels,),
        weight_,
        bias_,
        run_mean,
        run_var,
        not training,
        True,
        momentum_,
        tracked,
        eps,
        (0, *range(2, x_.ndim)),
        lambda c: f"channel {c}",
    )


def instance_call(
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
) -> Call:
    """Instance norm's arguments (see `forward.instance_norm`); momentum None counts as 0."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    batch, channels, spatial = _channels_of(x_, "instance")
    weight_ = as_param(weight, dt, "weight", (channels,))
    bias_ = as_param(bias, dt, "bias", (channels,))
    run_mean, run_var = _running_stats(running_mean, running_var, dt, channels)
    use_input_stats = as_flag(use_input_stats, "use_input_stats")
    momentum_ = _momentum(momentum) or 0.0
    eps = as_eps(eps)
    if not use_input_stats:
        _fixed_statistics(run_mean, run_var, eps, "use_input_stats = false")
    elif spatial == 1:
        raise NumericsError(
            "Expected more than 1 spatial element when training, got input size "
            f"{input_size(x_.shape)}",
            "input",
        )
    return Call(
        "instance",
        x_,
        _channel_layout(batch, channels, spatial, per_instance=True),
        (1, batch * channels, spatial),
        spatial,
        channels,
        (batch, channels),
        (channels,),
        weight_,
        bias_,
        run_mean,
        run_var,
        not use_input_stats,
        True,
        momentum_,
        None,
        eps,
        tuple(range(2, x_.ndim)),
        lambda i: f"sample {i // channels}, channel {i % channels}",
    )


def group_call(
    x: ArrayLike,
    num_groups: int,
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> Call:
    """Group norm's arguments (see `forward.group_norm`)."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    batch, channels, spatial = _channels_of(x_, "group")
    groups = as_count(num_groups, "num_groups", minimum=1)
    if channels % groups:
        raise NumericsError(
            f"must divide the number of channels C = {channels}, got {groups}", "num_groups"
        )
    weight_ = as_param(weight, dt, "weight", (channels,))
    bias_ = as_param(bias, dt, "bias", (channels,))
    eps = as_eps(eps)
    per_group = channels // groups
    if batch * per_group * spatial == 1:
        # PyTorch checks the batch it would hand to batch norm: [N*C/G, G, *spatial].
        torch_size = [batch * per_group, groups, *x_.shape[2:]]
        raise NumericsError(
            "Expected more than 1 value per channel when training, got input size "
            f"{input_size(torch_size)}",
            "input",
        )
    layout = Layout(
        (batch, groups, per_group, spatial),
        (2, 3),
        (batch, groups, 1, 1),
        (1, groups, per_group, 1),
        (0, 3),
    )
    return Call(
        "group",
        x_,
        layout,
        (1, batch * groups, per_group * spatial),
        spatial,
        groups,
        (batch, groups),
        (channels,),
        weight_,
        bias_,
        None,
        None,
        False,
        True,
        None,
        None,
        eps,
        tuple(range(1, x_.ndim)),
        lambda i: f"sample {i // groups}, group {i % groups}",
    )


def _row_label(index: int, lead: tuple[int, ...]) -> str:
    return f"row {[int(i) for i in np.unravel_index(index, lead)] if lead else []}"


def _trailing_call(
    variant: str,
    x_: np.ndarray,
    normalized_shape: object,
    weight_: object,
    bias_: object,
    eps: float,
) -> Call:
    """Layer and rms norm: statistics over the trailing axes, which must equal normalized_shape."""
    dt = x_.dtype
    shape = as_shape(normalized_shape)
    if len(shape) > x_.ndim or x_.shape[x_.ndim - len(shape) :] != shape:
        raise NumericsError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {input_size(x_.shape)}",
            "normalized_shape",
        )
    inner = math.prod(shape)
    rows = x_.size // inner
    lead = x_.shape[: x_.ndim - len(shape)]
    return Call(
        variant,
        x_,
        Layout((rows, inner), (1,), (rows, 1), (1, inner), (0,)),
        (1, rows, inner),
        1,
        1,
        lead,
        shape,
        as_param(weight_, dt, "weight", shape),
        as_param(bias_, dt, "bias", shape),
        None,
        None,
        False,
        variant == "layer",
        None,
        None,
        eps,
        tuple(range(x_.ndim - len(shape), x_.ndim)),
        lambda i: _row_label(i, lead),
    )


def layer_call(
    x: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    bias: ArrayLike | None = None,
    eps: float = 1e-5,
    dtype: DTypeLike = np.float32,
) -> Call:
    """Layer norm's arguments (see `forward.layer_norm`)."""
    x_ = as_input(x, resolve_dtype(dtype))
    return _trailing_call("layer", x_, normalized_shape, weight, bias, as_eps(eps))


def rms_call(
    x: ArrayLike,
    normalized_shape: int | tuple[int, ...] | list[int],
    *,
    weight: ArrayLike | None = None,
    eps: float | None = None,
    dtype: DTypeLike = np.float32,
) -> Call:
    """RMS norm's arguments (see `forward.rms_norm`); eps None is the dtype's machine epsilon."""
    dt = resolve_dtype(dtype)
    x_ = as_input(x, dt)
    eps_ = float(np.finfo(dt).eps) if eps is None else as_eps(eps)
    return _trailing_call("rms", x_, normalized_shape, weight, None, eps_)


CALLS: dict[str, Callable[..., Call]] = {
    "batch": batch_call,
    "layer": layer_call,
    "group": group_call,
    "instance": instance_call,
    "rms": rms_call,
}
