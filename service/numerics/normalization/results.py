"""What both implementations do with their statistics: refuse bad ones, update the running
statistics, and assemble the result."""

from __future__ import annotations

import numpy as np

from service.numerics.errors import NonFiniteResult
from service.numerics.normalization._core import (
    NormalizationResult,
    diagnose_nonfinite,
    refuse_zero_variance,
)
from service.numerics.normalization.calls import Call


def refuse_bad_statistics(call: Call, mean: np.ndarray, var: np.ndarray) -> None:
    """Refuse statistics that cannot normalize: NaN or infinity (bad input, or values beyond the
    dtype), and a zero variance (or mean square) with eps = 0.

    mean, var: float64, one per statistic in the kernels' order (call.groups' axis 1).
    """
    if not np.isfinite(mean).all():
        raise diagnose_nonfinite(call.x, "sum of the input")
    what = "variance" if call.center else "mean square"
    with np.errstate(over="ignore"):
        fits = np.isfinite(var.astype(call.x.dtype))
    if not fits.all():
        raise diagnose_nonfinite(call.x, what)
    if call.eps != 0 or var.all():
        return
    x3 = call.x.reshape(call.groups)
    if call.center:
        constant = x3.max(axis=(0, 2)) == x3.min(axis=(0, 2))
        if constant.any():
            refuse_zero_variance(int(np.argmax(constant)), call.label, constant=True)
        refuse_zero_variance(int(np.argmin(var)), call.label, constant=False)
    index = int(np.argmin(var))
    reason = "is all zeros" if not x3[:, index].any() else "has a mean square that underflows to 0"
    raise NonFiniteResult(
        f"{call.label(index)} {reason} and eps = 0, so normalizing it divides by 0; "
        "use eps > 0 (or eps = null for the dtype's machine epsilon)",
        field="eps",
    )


def _running(call: Call, mean: np.ndarray, var: np.ndarray) -> tuple[object, ...]:
    """(running_mean, running_var, num_batches_tracked) after a call with batch statistics.

    running ← (1 - m)·running + m·batch, with the unbiased variance var·n/(n - 1); instance norm
    averages its per-instance statistics over the batch first. Batch norm's m is momentum, or
    1/t for momentum None (a cumulative average, t = num_batches_tracked + 1).
    """
    tracked = call.tracked
    if call.running_mean is None or call.running_var is None:
        return None, None, tracked
    dt = call.x.dtype
    unbiased = var * dt.type(call.count / (call.count - 1))
    if call.variant == "instance":
        mean = mean.mean(axis=0)
        unbiased = unbiased.mean(axis=0)
    if tracked is not None:
        tracked += 1
    if call.momentum is None:
        assert tracked is not None  # batch_call checks it
        factor = 1.0 / tracked
    else:
        factor = call.momentum
    running_mean = call.running_mean * dt.type(1.0 - factor) + mean * dt.type(factor)
    running_var = call.running_var * dt.type(1.0 - factor) + unbiased * dt.type(factor)
    return running_mean, running_var, tracked


def assemble(
    call: Call, output: np.ndarray, mean: np.ndarray | None, var: np.ndarray
) -> NormalizationResult:
    """The result of a forward pass; mean and var one per statistic (any float dtype)."""
    dt = call.x.dtype
    if call.fixed:
        assert call.running_mean is not None
        assert call.running_var is not None
        running = (call.running_mean, call.running_var)
        if call.variant == "instance":
            batch = call.stats_shape[0]
            stats = (np.tile(call.running_mean, (batch, 1)), np.tile(call.running_var, (batch, 1)))
        else:
            stats = running
        return NormalizationResult(output, *stats, *running, call.tracked, call.axes, call.eps)
    mean_ = None if mean is None else mean.astype(dt).reshape(call.stats_shape)
    var_ = var.astype(dt).reshape(call.stats_shape)
    running_mean, running_var, tracked = _running(
        call, np.zeros_like(var_) if mean_ is None else mean_, var_
    )
    return NormalizationResult(
        output,
        mean_,
        var_,
        running_mean,  # type: ignore[arg-type]
        running_var,  # type: ignore[arg-type]
        tracked,  # type: ignore[arg-type]
        call.axes,
        call.eps,
    )
