"""Forward passes of batch, layer, group, instance and RMS normalization, as torch.nn.functional.

Every variant computes x̂ = (x - mean) / sqrt(var + eps) (rms: x / sqrt(mean(x²) + eps)) over its
own axes, then y = x̂·weight + bias where given. Statistics come from `centered_moments`: two
passes (mean, then centered squares), accumulated in the computation dtype: float32 by default,
float64 on request (`dtype`). The input is used in place of a copy when it already has that
dtype and is C-contiguous; the output is the only full-size array returned.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, DTypeLike

from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.normalization._core import (
    NormalizationResult,
    apply_channels,
    apply_cols,
    apply_rows,
    as_count,
    as_eps,
    as_flag,
    as_input,
    as_number,
    as_param,
    as_shape,
    centered_moments,
    check_output,
    diagnose_nonfinite,
    group_sums_of_squares,
    input_size,
    output_may_overflow,
    resolve_dtype,
)


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
    running_mean: ArrayLike | None,
    running_var: ArrayLike | None,
    dtype: np.dtype[Any],
    channels: int,
) -> tuple[np.ndarray | None, np.ndarray | None]:
    mean = as_param(running_mean, dtype, "running_mean", (channels,))
    var = as_param(running_var, dtype, "running_var", (channels,))
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


def _with_running_stats(
    x3: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    weight: np.ndarray | None,
    bias: np.ndarray | None,
    eps: float,
    label: str,
    source: np.ndarray,
) -> np.ndarray:
    """y = (x - running_mean) / sqrt(running_var + eps)·weight + bias on (N, C, S), per channel."""
    denominator = running_var + x3.dtype.type(eps)
    if not denominator.all():
        channel = int(np.argmin(denominator))
        raise NonFiniteResult(
            f"{label}: channel {channel} has running_var = 0 and eps = 0, so normalizing "
            "divides by 0; use eps > 0",
            field="eps",
        )
    scale = np.reciprocal(np.sqrt(denominator))
    if weight is not None:
        with np.errstate(over="ignore"):
            scale *= weight
    output = np.empty_like(x3)
    with np.errstate(over="ignore", invalid="ignore"):
        apply_channels(np.subtract, x3, running_mean, output)
        apply_channels(np.multiply, output, scale, output)
        if bias is not None:
            apply_channels(np.add, output, bias, output)
    check_output(output, source)
    return output


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
    Accumulation in `dtype` (float32 or float64). As torch.nn.functional.batch_norm.
    """
    dt = resolve_dtype(dtype)
    x = as_input(x, dt)
    batch, channels, spatial = _channels_of(x, "batch")
    weight_ = as_param(weight, dt, "weight", (channels,))
    bias_ = as_param(bias, dt, "bias", (channels,))
    run_mean, run_var = _running_stats(running_mean, running_var, dt, channels)
    training = as_flag(training, "training")
    momentum_ = _momentum(momentum)
    eps = as_eps(eps)
    tracked = (
        None
        if num_batches_tracked is None
        else as_count(num_batches_tracked, "num_batches_tracked", minimum=0)
    )
    axes = (0, *range(2, x.ndim))
    x3 = x.reshape(batch, channels, spatial)
    if not training:
        if run_mean is None or run_var is None:
            raise NumericsError(
                "eval mode (training = false) normalizes with the running statistics; "
                "give running_mean and running_var",
                "running_mean",
            )
        output = _with_running_stats(x3, run_mean, run_var, weight_, bias_, eps, "batch norm", x)
        return NormalizationResult(
            output.reshape(x.shape), run_mean, run_var, run_mean, run_var, tracked, axes, eps
        )
    if batch * spatial == 1:
        raise NumericsError(
            "Expected more than 1 value per channel when training, got input size "
            f"{input_size(x.shape)}",
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
    moments = centered_moments(x3, eps, lambda c: f"channel {c}", x)
    output = moments.centered
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked for below
        scale = moments.rstd if weight_ is None else moments.rstd * weight_
        apply_channels(np.multiply, output, scale, output)
        if bias_ is not None:
            apply_channels(np.add, output, bias_, output)
    if output_may_overflow(batch * spatial, weight_, bias_):
        check_output(output, x)
    if run_mean is not None and run_var is not None:
        if tracked is not None:
            tracked += 1
        if momentum_ is None:
            assert tracked is not None  # checked above
            factor = 1.0 / tracked
        else:
            factor = momentum_
        count = batch * spatial
        unbiased = moments.var * dt.type(count / (count - 1))
        run_mean = run_mean * dt.type(1.0 - factor) + moments.mean * dt.type(factor)
        run_var = run_var * dt.type(1.0 - factor) + unbiased * dt.type(factor)
    return NormalizationResult(
        output.reshape(x.shape), moments.mean, moments.var, run_mean, run_var, tracked, axes, eps
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
    without, x is normalized with the running statistics. mean / var: (N, C). Accumulation in
    `dtype`. As torch.nn.functional.instance_norm.
    """
    dt = resolve_dtype(dtype)
    x = as_input(x, dt)
    batch, channels, spatial = _channels_of(x, "instance")
    weight_ = as_param(weight, dt, "weight", (channels,))
    bias_ = as_param(bias, dt, "bias", (channels,))
    run_mean, run_var = _running_stats(running_mean, running_var, dt, channels)
    use_input_stats = as_flag(use_input_stats, "use_input_stats")
    momentum_ = _momentum(momentum) or 0.0
    eps = as_eps(eps)
    axes = tuple(range(2, x.ndim))
    x3 = x.reshape(batch, channels, spatial)
    if not use_input_stats:
        if run_mean is None or run_var is None:
            raise NumericsError(
                "use_input_stats = false normalizes with the running statistics; "
                "give running_mean and running_var",
                "running_mean",
            )
        output = _with_running_stats(x3, run_mean, run_var, weight_, bias_, eps, "instance norm", x)
        mean = np.tile(run_mean, (batch, 1))
        var = np.tile(run_var, (batch, 1))
        return NormalizationResult(
            output.reshape(x.shape), mean, var, run_mean, run_var, None, axes, eps
        )
    if spatial == 1:
        raise NumericsError(
            "Expected more than 1 spatial element when training, got input size "
            f"{input_size(x.shape)}",
            "input",
        )
    moments = centered_moments(
        x3.reshape(1, batch * channels, spatial),
        eps,
        lambda i: f"sample {i // channels}, channel {i % channels}",
        x,
    )
    rows = moments.centered.reshape(batch * channels, spatial)
    output = moments.centered.reshape(batch, channels, spatial)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked for below
        scale = moments.rstd if weight_ is None else moments.rstd * np.tile(weight_, batch)
        apply_rows(np.multiply, rows, scale, rows)
        if bias_ is not None:
            apply_channels(np.add, output, bias_, output)
    if output_may_overflow(spatial, weight_, bias_):
        check_output(output, x)
    mean = moments.mean.reshape(batch, channels)
    var = moments.var.reshape(batch, channels)
    if run_mean is not None and run_var is not None:
        unbiased = var * dt.type(spatial / (spatial - 1))
        run_mean = run_mean * dt.type(1.0 - momentum_) + mean.mean(axis=0) * dt.type(momentum_)
        run_var = run_var * dt.type(1.0 - momentum_) + unbiased.mean(axis=0) * dt.type(momentum_)
    return NormalizationResult(
        output.reshape(x.shape), mean, var, run_mean, run_var, None, axes, eps
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
    and the spatial axes. mean / var: (N, G). Accumulation in `dtype`. As
    torch.nn.functional.group_norm.
    """
    dt = resolve_dtype(dtype)
    x = as_input(x, dt)
    batch, channels, spatial = _channels_of(x, "group")
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
        torch_size = [batch * per_group, groups, *x.shape[2:]]
        raise NumericsError(
            "Expected more than 1 value per channel when training, got input size "
            f"{input_size(torch_size)}",
            "input",
        )
    moments = centered_moments(
        x.reshape(1, batch * groups, per_group * spatial),
        eps,
        lambda i: f"sample {i // groups}, group {i % groups}",
        x,
    )
    output = moments.centered.reshape(batch, channels, spatial)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked for below
        if weight_ is None:
            rows = output.reshape(batch * groups, per_group * spatial)
            apply_rows(np.multiply, rows, moments.rstd, rows)
        else:
            # rstd per (n, g) times weight per c, as one factor per (n, c).
            scale = moments.rstd.reshape(batch, groups, 1) * weight_.reshape(1, groups, per_group)
            rows = output.reshape(batch * channels, spatial)
            apply_rows(np.multiply, rows, scale.reshape(-1), rows)
        if bias_ is not None:
            apply_channels(np.add, output, bias_, output)
    if output_may_overflow(per_group * spatial, weight_, bias_):
        check_output(output, x)
    axes = tuple(range(1, x.ndim))
    return NormalizationResult(
        output.reshape(x.shape),
        moments.mean.reshape(batch, groups),
        moments.var.reshape(batch, groups),
        None,
        None,
        None,
        axes,
        eps,
    )


def _row_label(index: int, lead: tuple[int, ...]) -> str:
    return f"row {[int(i) for i in np.unravel_index(index, lead)] if lead else []}"


def _trailing(x: np.ndarray, normalized_shape: object) -> tuple[tuple[int, ...], int, int]:
    shape = as_shape(normalized_shape)
    if len(shape) > x.ndim or x.shape[x.ndim - len(shape) :] != shape:
        raise NumericsError(
            f"Given normalized_shape={list(shape)}, expected input with shape "
            f"[*, {', '.join(map(str, shape))}], but got input of size {input_size(x.shape)}",
            "normalized_shape",
        )
    inner = math.prod(shape)
    return shape, x.size // inner, inner


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
    axes; weight and bias have shape normalized_shape. mean / var: x.shape[:-k]. Accumulation in
    `dtype`. As torch.nn.functional.layer_norm.
    """
    dt = resolve_dtype(dtype)
    x = as_input(x, dt)
    shape, rows, inner = _trailing(x, normalized_shape)
    weight_ = as_param(weight, dt, "weight", shape)
    bias_ = as_param(bias, dt, "bias", shape)
    eps = as_eps(eps)
    lead = x.shape[: x.ndim - len(shape)]
    moments = centered_moments(x.reshape(1, rows, inner), eps, lambda i: _row_label(i, lead), x)
    output = moments.centered.reshape(rows, inner)
    with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked for below
        apply_rows(np.multiply, output, moments.rstd, output)
        if weight_ is not None:
            apply_cols(np.multiply, output, weight_.reshape(inner), output)
        if bias_ is not None:
            apply_cols(np.add, output, bias_.reshape(inner), output)
    if output_may_overflow(inner, weight_, bias_):
        check_output(output, x)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return NormalizationResult(
        output.reshape(x.shape),
        moments.mean.reshape(lead),
        moments.var.reshape(lead),
        None,
        None,
        None,
        axes,
        eps,
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
    Accumulation in `dtype`.
    """
    dt = resolve_dtype(dtype)
    x = as_input(x, dt)
    shape, rows, inner = _trailing(x, normalized_shape)
    weight_ = as_param(weight, dt, "weight", shape)
    eps = float(np.finfo(dt).eps) if eps is None else as_eps(eps)
    x2 = x.reshape(rows, inner)
    with np.errstate(over="ignore", invalid="ignore"):  # checked for on the statistic below
        mean_square = group_sums_of_squares(x.reshape(1, rows, inner)) / dt.type(inner)
    if not np.isfinite(mean_square).all():
        raise diagnose_nonfinite(x, "mean square")
    lead = x.shape[: x.ndim - len(shape)]
    if eps == 0 and not mean_square.all():
        index = int(np.argmin(mean_square))
        reason = "is all zeros" if not x2[index].any() else "has a mean square that underflows to 0"
        raise NonFiniteResult(
            f"{_row_label(index, lead)} {reason} and eps = 0, so normalizing it divides by 0; "
            "use eps > 0 (or eps = null for the dtype's machine epsilon)",
            field="eps",
        )
    rstd = mean_square + dt.type(eps)
    np.sqrt(rstd, out=rstd)
    np.reciprocal(rstd, out=rstd)
    output = np.empty_like(x2)
    apply_rows(np.multiply, x2, rstd, output)
    if weight_ is not None:
        with np.errstate(over="ignore", invalid="ignore"):  # overflow is checked for below
            apply_cols(np.multiply, output, weight_.reshape(inner), output)
        if output_may_overflow(inner, weight_, None):
            check_output(output, x)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    return NormalizationResult(
        output.reshape(x.shape), None, mean_square.reshape(lead), None, None, None, axes, eps
    )
