"""The kernels behind the service: a validated `Call` in, the same results as the numpy
reference (`forward`, `backward`) out, computed by the fused numba kernels in `kernels`.

A forward pass reads each group once for its statistics and once more to write the output; a
backward pass reads x for the statistics, x and grad_output for the group's sums, and x and
grad_output again to write grad_input (from cache when the group fits there). No extra pass
over the arrays looks for bad values: the kernels count, per thread's run of groups, the
suspect statistics (`kernels.statistics.tile_statistics`), and NaN or infinity in x or
grad_output shows in the parameter-gradient sums. Only when a count is not 0 does
`refuse_bad_statistics` look for which; a forward pass whose suspects it does not refuse (an
rstd beyond the dtype) is answered by the numpy reference.
"""

from __future__ import annotations

import numba
import numpy as np
from numpy.typing import ArrayLike

from service.numerics.normalization import kernels
from service.numerics.normalization._core import (
    Gradients,
    NormalizationResult,
    check_output,
    output_may_overflow,
)
from service.numerics.normalization.backward import grad_output_of, refuse_nonfinite_gradient
from service.numerics.normalization.calls import Call
from service.numerics.normalization.forward import reference_forward
from service.numerics.normalization.results import assemble, refuse_bad_statistics

_NONE = np.empty(0)
# Runs of consecutive groups per thread (in the backward pass each sums its own parameter
# gradients): a few per thread balance the load when a thread is held up.
_CHUNKS_PER_THREAD = 4
# float64 values per cache line.
_LINE = 8


def _chunks(groups: int) -> int:
    return max(1, min(groups, _CHUNKS_PER_THREAD * numba.get_num_threads()))


def _parameters(call: Call) -> tuple[np.ndarray, np.ndarray, int, int]:
    """(weight, bias, segment, period) for the kernels: the parameters as flat float64 arrays.

    Without weight and bias (and with batch statistics, which the period would index) every
    group is one run with one scale, 1 / sqrt(var + eps): the kernels' per-run path, a scalar
    scale, instead of one parameter per value.
    """
    if call.weight is None and call.bias is None and not call.fixed:
        return np.ones(1), np.zeros(1), call.groups[2], 1
    size = int(np.prod(call.param_shape))
    weight = np.ones(size) if call.weight is None else call.weight.astype(np.float64).ravel()
    bias = np.zeros(size) if call.bias is None else call.bias.astype(np.float64).ravel()
    return weight, bias, call.segment, call.period


def _limit(call: Call) -> float:
    """The largest value of the input's dtype, as the kernels' `limit`."""
    return float(np.finfo(call.x.dtype).max)


def _scale_limit(call: Call) -> float:
    """The forward kernel's `limit`: the largest value of the dtype, divided by max|weight|
    when that is above 1, so that rstd·w, which the kernel forms in the dtype, fits in it."""
    if call.weight is None:
        return _limit(call)
    return _limit(call) / max(1.0, float(np.max(np.abs(call.weight))))


def _given(call: Call) -> tuple[np.ndarray, np.ndarray]:
    """The running statistics as float64 when the call normalizes with them, else empty."""
    if not call.fixed:
        return _NONE, _NONE
    assert call.running_mean is not None
    assert call.running_var is not None
    return call.running_mean.astype(np.float64), call.running_var.astype(np.float64)


def forward(call: Call) -> NormalizationResult:
    """The forward pass of a validated call (see `forward.reference_forward`)."""
    groups = call.groups[1]
    x3 = call.x.reshape(call.groups)
    weight, bias, segment, period = _parameters(call)
    given_mean, given_var = _given(call)
    dt = call.x.dtype
    output = np.empty_like(x3)
    mean = np.empty(groups)
    var = np.empty(groups)
    # With batch statistics and moderate parameters |y| <= sqrt(n)·max|w| + max|b| cannot
    # overflow, and NaN or infinity in x shows in the statistics: no output sums needed.
    check = call.fixed or output_may_overflow(call.count, call.weight, call.bias)
    checks = np.empty(groups) if check else _NONE
    suspects = np.empty(_chunks(groups), dtype=np.int64)
    kernels.forward(
        x3,
        weight.astype(dt),
        bias.astype(dt),
        segment,
        period,
        given_mean,
        given_var,
        call.center,
        call.eps,
        _scale_limit(call),
        output,
        mean,
        var,
        checks,
        suspects,
    )
    if not call.fixed and suspects.any():
        refuse_bad_statistics(call, mean, var)
        # An rstd (times max|w|) beyond the dtype: the reference forms x̂ in float64.
        return reference_forward(call)
    if check and not np.isfinite(checks).all():
        check_output(output, call.x)
    return assemble(call, output.reshape(call.x.shape), mean if call.center else None, var)


def backward(call: Call, grad_output: ArrayLike) -> Gradients:
    """The gradients of a validated call (see `backward.reference_backward`)."""
    grad = grad_output_of(call, grad_output)
    groups = call.groups[1]
    x3 = call.x.reshape(call.groups)
    weight, _, segment, period = _parameters(call)
    given_mean, given_var = _given(call)
    chunks = _chunks(groups)
    limit = _limit(call)
    grad_input = np.empty_like(x3)
    # A cache line (8 float64) of padding after each chunk's row: rows sharing a line would
    # move it between the cores at every group's update (false sharing; without weight, P = 1,
    # layer backward's kernel took 1.3x as long and rms's 1.6x).
    grad_weight = np.zeros((chunks, weight.size + _LINE))
    grad_bias = np.zeros((chunks, weight.size + _LINE))
    mean = np.empty(groups)
    var = np.empty(groups)
    summary = np.empty((chunks, 2))
    kernels.backward(
        x3,
        grad.reshape(call.groups),
        weight,
        segment,
        period,
        given_mean,
        given_var,
        call.center,
        call.eps,
        limit,
        grad_input,
        grad_weight,
        grad_bias,
        mean,
        var,
        summary,
    )
    if not call.fixed and summary[:, 0].any():
        refuse_bad_statistics(call, mean, var)
    dt = call.x.dtype
    with np.errstate(over="ignore"):  # checked below
        # Without weight and bias the sums are per group of runs, and not returned. NaN or
        # infinity in x or grad_output makes one of them NaN or infinite.
        weights = grad_weight[:, : weight.size].sum(axis=0).astype(dt)
        biases = grad_bias[:, : weight.size].sum(axis=0).astype(dt)
    # |grad_input| <= rstd·max|w|·(|g| + mean|g| + |x̂|·mean(|g|·|x̂|)) <= 3·rstd·max|w|·Σ|g|,
    # since |x̂| <= sqrt(n): only beyond that bound is grad_input scanned for overflow.
    bound = 3.0 * float(summary[:, 1].max()) * float(np.max(np.abs(weight)))
    overflow = bound >= limit / 2 and not np.isfinite(grad_input).all()
    if overflow or not (np.isfinite(weights).all() and np.isfinite(biases).all()):
        raise refuse_nonfinite_gradient(call, grad)
    return Gradients(
        grad_input.reshape(call.x.shape),
        weights.reshape(call.param_shape) if call.weight is not None else None,
        biases.reshape(call.param_shape) if call.bias is not None else None,
    )


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel signature, and start the thread pool."""
    for dtype in (np.float32, np.float64):
        x = np.arange(12, dtype=dtype).reshape(1, 3, 4)
        out = np.empty_like(x)
        stats = [np.empty(3) for _ in range(3)]
        ones, zeros = np.ones(4), np.zeros(4)
        limit = float(np.finfo(dtype).max)
        kernels.forward(
            x,
            ones.astype(dtype),
            zeros.astype(dtype),
            1,
            1,
            _NONE,
            _NONE,
            True,
            1e-5,
            limit,
            out,
            *stats,
            np.empty(1, dtype=np.int64),
        )
        partial = [np.zeros((1, 4)) for _ in range(2)]
        summary = np.empty((1, 2))
        kernels.backward(
            x, x, ones, 1, 1, _NONE, _NONE, True, 1e-5, limit, out, *partial, *stats[:2], summary
        )
