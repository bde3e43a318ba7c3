"""The forward kernel: every group normalized, a tile of groups at a time (see the package's
docstring for the layout). Groups are normalized in the input's dtype (see `_centering`).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit, prange

from service.numerics.normalization.kernels.options import HELPER, KERNEL
from service.numerics.normalization.kernels.statistics import sum_of, tile_size, tile_statistics


@njit(**HELPER)
def _centering(values: np.ndarray, shift: float, offset: float) -> tuple[Any, Any]:
    """(s, c) in the input's dtype such that x - mean = (x - s) + c to within its rounding.

    s is the shift rounded to the dtype, so x - s is exact for x near s (and otherwise rounded
    relative to itself); c = s - shift - offset, computed in float64, is of the order of the
    spread. Normalizing in float32 runs twice as many lanes as float64 and converts nothing,
    and stays as accurate as the float64 statistics at a mean 10^6 times the spread.
    """
    s = values.dtype.type(shift)
    return s, values.dtype.type((s - shift) - offset)


@njit(**HELPER)
def _affine(
    view: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    bias: np.ndarray,
    out: np.ndarray,
) -> None:
    """out = (x - mean)·rstd·weight + bias, one parameter per element (weight and bias in the
    input's dtype), computed in the input's dtype."""
    s, c = _centering(view, shift, offset)
    r = view.dtype.type(rstd)
    for k in range(view.size):
        out[k] = ((view[k] - s) + c) * (r * weight[k]) + bias[k]


@njit(**HELPER)
def _scale(
    view: np.ndarray, shift: float, offset: float, scale: float, bias: float, out: np.ndarray
) -> None:
    """out = (x - mean)·scale + bias, computed in the input's dtype."""
    s, c = _centering(view, shift, offset)
    r = view.dtype.type(scale)
    b = view.dtype.type(bias)
    for k in range(view.size):
        out[k] = ((view[k] - s) + c) * r + b


@njit(**HELPER)
def _normalize_group(
    x: np.ndarray,
    b: int,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    bias: np.ndarray,
    segment: int,
    runs: int,
    base: int,
    out: np.ndarray,
) -> None:
    """out[:, b, :] = (x - mean)·rstd·weight_p + bias_p; runs = K / segment, base = the first
    parameter of group b."""
    for a in range(x.shape[0]):
        if segment == 1:
            params = slice(base, base + runs)
            _affine(x[a, b], shift, offset, rstd, weight[params], bias[params], out[a, b])
            continue
        for j in range(runs):
            run = slice(j * segment, (j + 1) * segment)
            p = base + j
            _scale(x[a, b, run], shift, offset, rstd * weight[p], bias[p], out[a, b, run])


@njit(**HELPER)
def _normalize_rows(
    x: np.ndarray,
    start: int,
    stop: int,
    tile: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    segment: int,
    period: int,
    out: np.ndarray,
) -> None:
    """`_normalize_group` for groups start..stop-1 of one row each (A = 1) with one parameter per
    group (segment K, parameter b mod period) or one per value (segment 1, period 1), the same
    arithmetic in one 2-D loop without views per group (rows of 64 values: 1.3x faster, see
    bench/notes.md). tile: (shift, offset, rstd) per group from row 0."""
    rows = x[0]
    outs = out[0]
    phase = start % period
    for i in range(stop - start):
        b = start + i
        s, c = _centering(x, tile[i, 0], tile[i, 1])
        if segment < rows.shape[1]:
            r = x.dtype.type(tile[i, 2])
            for k in range(rows.shape[1]):
                outs[b, k] = ((rows[b, k] - s) + c) * (r * weight[k]) + bias[k]
        else:
            scale = x.dtype.type(tile[i, 2] * weight[phase])
            shift = x.dtype.type(bias[phase])
            for k in range(rows.shape[1]):
                outs[b, k] = ((rows[b, k] - s) + c) * scale + shift
            phase = 0 if phase + 1 == period else phase + 1


@njit(**KERNEL)
def _forward_groups(
    x: np.ndarray,
    first: int,
    last: int,
    weight: np.ndarray,
    bias: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    out: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    checks: np.ndarray,
) -> int:
    """Groups first..last-1 of `forward`, a tile of groups at a time: their statistics, then
    their outputs (and each output's sum into checks, when not empty); returns the number of
    suspect statistics. b mod period is counted, not computed: an integer division per group
    costs as much as a short group's arithmetic."""
    runs = x.shape[2] // segment
    rows = x.shape[0] == 1 and (runs == 1 or (segment == 1 and period == 1))
    size = tile_size(x)
    tile = np.empty((size, 3))
    phase = first % period
    suspects = 0
    for start in range(first, last, size):
        stop = min(start + size, last)
        suspects += tile_statistics(
            x,
            start,
            stop,
            period,
            given_mean,
            given_var,
            center,
            eps,
            limit,
            tile,
            mean_out,
            var_out,
        )
        if rows:
            _normalize_rows(x, start, stop, tile, weight, bias, segment, period, out)
        else:
            for i in range(stop - start):
                shift, offset, rstd = tile[i, 0], tile[i, 1], tile[i, 2]
                base = phase * runs
                _normalize_group(
                    x, start + i, shift, offset, rstd, weight, bias, segment, runs, base, out
                )
                phase = 0 if phase + 1 == period else phase + 1
        if checks.size:
            for b in range(start, stop):
                total = 0.0
                for a in range(x.shape[0]):
                    total += sum_of(out[a, b])
                checks[b] = total
    return suspects


@njit(parallel=True, **KERNEL)
def forward(
    x: np.ndarray,
    weight: np.ndarray,
    bias: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    out: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    checks: np.ndarray,
    suspects: np.ndarray,
) -> None:
    """Normalize every group of x (A, B, K) into out; mean_out and var_out: (B,) float64.

    weight, bias: parameters in x's dtype (ones and zeros when absent). given_mean / given_var:
    statistics to use instead of the batch's (empty for batch statistics). center false: rms,
    var is the mean square and nothing is subtracted. limit: the largest value of the output's
    dtype, or less (`fused` divides it by max|weight| above 1): a var or a 1/sqrt(var + eps)
    above it is suspect. checks: (B,) float64 receives the sum of each group's output (a
    finite sum proves every value finite), or is empty to skip that. The B groups are split
    into T runs of consecutive groups, run in parallel; suspects: (T,) int64 receives per run
    the number of suspect statistics (see `statistics.tile_statistics`).
    """
    groups = x.shape[1]
    chunks = suspects.size
    per_chunk = (groups + chunks - 1) // chunks
    for t in prange(chunks):
        first = min(t * per_chunk, groups)
        last = min(first + per_chunk, groups)
        suspects[t] = _forward_groups(
            x,
            first,
            last,
            weight,
            bias,
            segment,
            period,
            given_mean,
            given_var,
            center,
            eps,
            limit,
            out,
            mean_out,
            var_out,
            checks,
        )
