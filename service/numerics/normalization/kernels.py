"""Fused normalization kernels (numba), forward and backward, for every variant.

Every variant is seen as an array x of shape (A, B, K), C-contiguous, with one statistic per b
over the axes a and k (batch: (N, C, S); instance: (1, N·C, S); group: (1, N·G, C/G·S); layer and
rms: (1, rows, K)). An affine parameter is shared by a run of `segment` consecutive values of a
row, and run j of group b uses parameter p = (b mod period)·(K / segment) + j (batch: segment K,
period C; instance: segment S, period C; group: segment S, period G; layer and rms: segment 1,
period 1, so p = k).

Statistics are accumulated in float64 over blocks of at most BLOCK values, which stay in L1:
per block the corrected two-pass formula (m̃ = Σx/n, or the mean of the first 1/SAMPLE of a
one-row block; d = x - m̃, mean = m̃ + Σd/n, M2 = Σd² - (Σd)²/n); blocks are merged with
Chan et al.'s update (δ = m_b - m, m += δ·n_b/n, M2 += M2_b + δ²·n_a·n_b/n). A group is read
once for its statistics and once more to normalize it (from cache when the group fits there).
Groups are taken a tile at a time, as many as fit in BLOCK values: first the statistics of every
group in the tile, then their outputs, in separate loops (short groups run 1.5x faster so).
The forward pass normalizes in the input's dtype (see `_centering`), the backward pass in
float64; outputs are written in the input's dtype. Runs of consecutive groups go to the threads
(`prange`).

Inner loops run over 1-D C-contiguous views from index 0 (`for k in range(view.size)`): with
a loop starting at an unknown index, numba's negative-index wraparound stops vectorization (4x
slower). Helpers are inlined: a call passes array views (reference counts) and stops
vectorization at the call. Every jitted function lives in this one file because numba's cache
is invalidated per source file: a helper elsewhere could change without its callers being
recompiled.
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np
from numba import njit, prange

from service.numerics.normalization import _runtime

numba.config.THREADING_LAYER = _runtime.LAYER  # type: ignore[attr-defined]

# Values per statistics block: 2,048 float32 or float64 values (8-16 KB) stay in L1 between the
# block's two passes.
BLOCK = 2048
# A one-row block's shift is the mean of its first 1/SAMPLE values (see `_block_moments`).
SAMPLE = 8
# Reordering sums lets LLVM vectorize the reductions. No flag that assumes finite values (NaN
# and infinity must reach the checks), no approximate division, and no "nsz": with reassoc and
# nsz together LLVM rewrites (x - shift) - offset as x - (shift + offset), which loses the
# digits the offset keeps (8.96e-9 instead of 1e-15 at a float64 mean of 1e8).
_FAST = {"reassoc", "contract"}
_KERNEL: dict[str, Any] = {"cache": True, "nogil": True, "fastmath": _FAST, "error_model": "numpy"}
_HELPER: dict[str, Any] = {**_KERNEL, "inline": "always"}


@njit(**_HELPER)
def _sum(view: np.ndarray) -> float:
    total = 0.0
    for k in range(view.size):
        total += view[k]
    return total


@njit(**_HELPER)
def _centered_sums(view: np.ndarray, shift: float) -> tuple[float, float]:
    """(Σd, Σd²) with d = x - shift, in float64."""
    d1 = 0.0
    d2 = 0.0
    for k in range(view.size):
        d = view[k] - shift
        d1 += d
        d2 += d * d
    return d1, d2


@njit(**_HELPER)
def _block_moments(
    x: np.ndarray, b: int, a0: int, a1: int, k0: int, k1: int
) -> tuple[float, float, float, float]:
    """(n, m̃, Σd/n, M2) of x[a0:a1, b, k0:k1] by the corrected two-pass formula, in float64:
    the mean is m̃ + Σd/n.

    In a block of one row, m̃ is the mean of its first m = ceil(n/SAMPLE) values, not of all:
    |m̃ - mean| <= σ·sqrt(n/m - 1) (Cauchy-Schwarz), so Σd² - (Σd)²/n cancels at most a
    factor n/m <= SAMPLE of float64's digits, and the first pass reads 1/SAMPLE of the row.
    (Blocks of several strided rows read them all: there the first pass brings them into L1.)
    """
    n = float((a1 - a0) * (k1 - k0))
    total = 0.0
    sample = n
    if a1 - a0 == 1:
        sampled = -(-(k1 - k0) // SAMPLE)
        total = _sum(x[a0, b, k0 : k0 + sampled])
        sample = float(sampled)
    else:
        for a in range(a0, a1):
            total += _sum(x[a, b, k0:k1])
    inverse = 1.0 / n
    shift = total / sample
    d1 = 0.0
    d2 = 0.0
    for a in range(a0, a1):
        s1, s2 = _centered_sums(x[a, b, k0:k1], shift)
        d1 += s1
        d2 += s2
    return n, shift, d1 * inverse, max(d2 - d1 * d1 * inverse, 0.0)


@njit(**_HELPER)
def group_moments(x: np.ndarray, b: int) -> tuple[float, float, float]:
    """(shift, offset, biased variance) of x[:, b, :] in float64; the mean is shift + offset.

    Values are centered as (x - shift) - offset: shift is the first block's m̃, and the offset
    (of the order of the spread) keeps the digits that a rounded mean would lose when the mean
    is 10^8 times the spread. A block is a run of at most BLOCK values of one row, or whole
    rows adding up to at most BLOCK values; a group of at most BLOCK values is one block.
    """
    rows_total, _, width_total = x.shape
    if rows_total * width_total <= BLOCK:
        count, shift, offset, m2 = _block_moments(x, b, 0, rows_total, 0, width_total)
        return shift, offset, m2 / count
    width = min(width_total, BLOCK)
    rows = max(1, BLOCK // width_total)
    count = 0.0
    shift = 0.0
    offset = 0.0
    m2 = 0.0
    for a0 in range(0, rows_total, rows):
        for k0 in range(0, width_total, width):
            n, block_shift, block_offset, block_m2 = _block_moments(
                x, b, a0, min(a0 + rows, rows_total), k0, min(k0 + width, width_total)
            )
            if count == 0.0:
                shift = block_shift
            merged = count + n
            delta = (block_shift - shift) + block_offset - offset
            offset += delta * (n / merged)
            m2 += block_m2 + delta * delta * (count * n / merged)
            count = merged
    return shift, offset, m2 / count


@njit(**_HELPER)
def group_mean_square(x: np.ndarray, b: int) -> float:
    """Σx²/n over x[:, b, :] in float64 (one pass: a sum of squares needs no shift)."""
    total = 0.0
    for a in range(x.shape[0]):
        total += _centered_sums(x[a, b], 0.0)[1]
    return total / (x.shape[0] * x.shape[2])


@njit(**_HELPER)
def _tile_statistics(
    x: np.ndarray,
    first: int,
    last: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    tile: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
) -> int:
    """Statistics of groups first..last-1 into mean_out and var_out, and their (shift, offset,
    rstd) into tile[:, 0..2] from row 0 (mean = shift + offset, rstd = 1 / sqrt(var + eps)).
    Returns how many of the groups `results.refuse_bad_statistics` may refuse (a mean that is
    not finite, a var above `limit`, the dtype's largest value, or NaN, or a zero var with
    eps = 0): it finds which and why only when there are any.

    Given statistics (given_mean not empty) are the (b mod period)-th; rms (center false) has
    var = mean square and nothing subtracted. One loop per kind of statistics: with the choice
    made inside the loop, groups of 64 values took 1.5x as long (bench/notes.md).
    """
    count = last - first
    if given_mean.size:
        phase = first % period
        for i in range(count):
            tile[i, 0] = given_mean[phase]
            tile[i, 1] = 0.0
            var_out[first + i] = given_var[phase]
            phase = 0 if phase + 1 == period else phase + 1
    elif center:
        for i in range(count):
            tile[i, 0], tile[i, 1], var_out[first + i] = group_moments(x, first + i)
    else:
        for i in range(count):
            tile[i, 0] = 0.0
            tile[i, 1] = 0.0
            var_out[first + i] = group_mean_square(x, first + i)
    suspects = 0
    for i in range(count):
        mean = tile[i, 0] + tile[i, 1]
        var = var_out[first + i]
        mean_out[first + i] = mean
        tile[i, 2] = 1.0 / np.sqrt(var + eps)
        if not (np.isfinite(mean) and var <= limit and (var > 0.0 or eps != 0.0)):
            suspects += 1
    return suspects


@njit(**_HELPER)
def _tile_size(x: np.ndarray) -> int:
    """Groups per tile: as many as fit in BLOCK values (one when a group is longer)."""
    return max(1, BLOCK // (x.shape[0] * x.shape[2]))


# --- forward -------------------------------------------------------------------------------------


@njit(**_HELPER)
def _centering(values: np.ndarray, shift: float, offset: float) -> tuple[Any, Any]:
    """(s, c) in the input's dtype such that x - mean = (x - s) + c to within its rounding.

    s is the shift rounded to the dtype, so x - s is exact for x near s (and otherwise rounded
    relative to itself); c = s - shift - offset, computed in float64, is of the order of the
    spread. Normalizing in float32 runs twice as many lanes as float64 and converts nothing,
    and stays as accurate as the float64 statistics at a mean 10^6 times the spread.
    """
    s = values.dtype.type(shift)
    return s, values.dtype.type((s - shift) - offset)


@njit(**_HELPER)
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


@njit(**_HELPER)
def _scale(
    view: np.ndarray, shift: float, offset: float, scale: float, bias: float, out: np.ndarray
) -> None:
    """out = (x - mean)·scale + bias, computed in the input's dtype."""
    s, c = _centering(view, shift, offset)
    r = view.dtype.type(scale)
    b = view.dtype.type(bias)
    for k in range(view.size):
        out[k] = ((view[k] - s) + c) * r + b


@njit(**_HELPER)
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


@njit(**_HELPER)
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


@njit(**_KERNEL)
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
    size = _tile_size(x)
    tile = np.empty((size, 3))
    phase = first % period
    suspects = 0
    for start in range(first, last, size):
        stop = min(start + size, last)
        suspects += _tile_statistics(
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
                    total += _sum(out[a, b])
                checks[b] = total
    return suspects


@njit(parallel=True, **_KERNEL)
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
    dtype. checks: (B,) float64 receives the sum of each group's output (a finite sum proves
    every value finite), or is empty to skip that. The B groups are split into T runs of
    consecutive groups, run in parallel; suspects: (T,) int64 receives per run the number of
    statistics that `results.refuse_bad_statistics` may refuse.
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


# --- backward ------------------------------------------------------------------------------------


@njit(**_HELPER)
def _run_sums(
    view: np.ndarray, grad: np.ndarray, shift: float, offset: float, rstd: float
) -> tuple[float, float, float]:
    """(Σg, Σg·x̂, Σ|g|) over a run, x̂ = (x - mean)·rstd."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for k in range(view.size):
        g = float(grad[k])
        sum_g += g
        sum_gx += g * (((view[k] - shift) - offset) * rstd)
        sum_abs += abs(g)
    return sum_g, sum_gx, sum_abs


@njit(**_HELPER)
def _elementwise_sums(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
) -> tuple[float, float, float]:
    """(Σĝ, Σĝ·x̂, Σ|g|) over a row with one parameter per element, ĝ = g·weight; adds g·x̂
    and g into grad_weight and grad_bias."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for k in range(view.size):
        g = float(grad[k])
        x_hat = ((view[k] - shift) - offset) * rstd
        grad_weight[k] += g * x_hat
        grad_bias[k] += g
        sum_g += g * weight[k]
        sum_gx += g * weight[k] * x_hat
        sum_abs += abs(g)
    return sum_g, sum_gx, sum_abs


@njit(**_HELPER)
def _gradient_sums(
    x: np.ndarray,
    g: np.ndarray,
    b: int,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    segment: int,
    runs: int,
    base: int,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
) -> tuple[float, float, float]:
    """(Σĝ, Σĝ·x̂, Σ|g|) over group b, ĝ = g·weight_p, x̂ = (x - mean)·rstd; adds Σg·x̂ and Σg
    per parameter into grad_weight and grad_bias."""
    sum_g = 0.0
    sum_gx = 0.0
    sum_abs = 0.0
    for a in range(x.shape[0]):
        if segment == 1:
            params = slice(base, base + runs)
            s1, s2, s3 = _elementwise_sums(
                x[a, b],
                g[a, b],
                shift,
                offset,
                rstd,
                weight[params],
                grad_weight[params],
                grad_bias[params],
            )
            sum_g += s1
            sum_gx += s2
            sum_abs += s3
            continue
        for j in range(runs):
            run = slice(j * segment, (j + 1) * segment)
            p = base + j
            run_g, run_gx, run_abs = _run_sums(x[a, b, run], g[a, b, run], shift, offset, rstd)
            grad_weight[p] += run_gx
            grad_bias[p] += run_g
            sum_g += run_g * weight[p]
            sum_gx += run_gx * weight[p]
            sum_abs += run_abs
    return sum_g, sum_gx, sum_abs


@njit(**_HELPER)
def _elementwise_gradient(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out = rstd·(g·weight - mean_g - x̂·mean_gx), one weight per element."""
    for k in range(view.size):
        x_hat = ((view[k] - shift) - offset) * rstd
        out[k] = rstd * (grad[k] * weight[k] - mean_g - x_hat * mean_gx)


@njit(**_HELPER)
def _run_gradient(
    view: np.ndarray,
    grad: np.ndarray,
    shift: float,
    offset: float,
    rstd: float,
    weight: float,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out = rstd·(g·weight - mean_g - x̂·mean_gx), one weight for the run."""
    for k in range(view.size):
        x_hat = ((view[k] - shift) - offset) * rstd
        out[k] = rstd * (grad[k] * weight - mean_g - x_hat * mean_gx)


@njit(**_HELPER)
def _input_gradient(
    x: np.ndarray,
    g: np.ndarray,
    b: int,
    shift: float,
    offset: float,
    rstd: float,
    weight: np.ndarray,
    segment: int,
    runs: int,
    base: int,
    mean_g: float,
    mean_gx: float,
    out: np.ndarray,
) -> None:
    """out[:, b, :] = rstd·(ĝ - mean_g - x̂·mean_gx)."""
    for a in range(x.shape[0]):
        if segment == 1:
            w = weight[base : base + runs]
            _elementwise_gradient(
                x[a, b], g[a, b], shift, offset, rstd, w, mean_g, mean_gx, out[a, b]
            )
            continue
        for j in range(runs):
            run = slice(j * segment, (j + 1) * segment)
            w = weight[base + j]
            _run_gradient(
                x[a, b, run], g[a, b, run], shift, offset, rstd, w, mean_g, mean_gx, out[a, b, run]
            )


@njit(**_KERNEL)
def _backward_groups(
    x: np.ndarray,
    g: np.ndarray,
    first: int,
    last: int,
    weight: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    grad_input: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    summary: np.ndarray,
) -> None:
    """Groups first..last-1 of `backward`, a tile of groups at a time (see `_forward_groups`);
    grad_weight, grad_bias and summary: this chunk's own rows."""
    count = x.shape[0] * x.shape[2]
    fixed = given_mean.size > 0
    runs = x.shape[2] // segment
    size = _tile_size(x)
    tile = np.empty((size, 3))
    phase = first % period
    suspects = 0
    largest = 0.0
    for start in range(first, last, size):
        stop = min(start + size, last)
        suspects += _tile_statistics(
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
        for i in range(stop - start):
            b = start + i
            shift, offset, rstd = tile[i, 0], tile[i, 1], tile[i, 2]
            base = phase * runs
            sum_g, sum_gx, sum_abs = _gradient_sums(
                x, g, b, shift, offset, rstd, weight, segment, runs, base, grad_weight, grad_bias
            )
            largest = max(largest, rstd * sum_abs)
            mean_g = 0.0 if fixed or not center else sum_g / count
            mean_gx = 0.0 if fixed else sum_gx / count
            _input_gradient(
                x,
                g,
                b,
                shift,
                offset,
                rstd,
                weight,
                segment,
                runs,
                base,
                mean_g,
                mean_gx,
                grad_input,
            )
            phase = 0 if phase + 1 == period else phase + 1
    summary[0] = suspects
    summary[1] = largest


@njit(parallel=True, **_KERNEL)
def backward(
    x: np.ndarray,
    g: np.ndarray,
    weight: np.ndarray,
    segment: int,
    period: int,
    given_mean: np.ndarray,
    given_var: np.ndarray,
    center: bool,
    eps: float,
    limit: float,
    grad_input: np.ndarray,
    grad_weight: np.ndarray,
    grad_bias: np.ndarray,
    mean_out: np.ndarray,
    var_out: np.ndarray,
    summary: np.ndarray,
) -> None:
    """Gradients of Σ out·g for every group of x (A, B, K), g of the same shape.

    Batch statistics (given_mean empty): grad_input = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), without
    mean(ĝ) for rms; given statistics: grad_input = rstd·ĝ. grad_weight / grad_bias: (T, P)
    float64, zeroed; chunk t of the B groups adds Σg·x̂ and Σg per parameter into row t (the
    caller sums the rows), so that no two threads write one element; NaN or infinity in x or g
    shows in them. summary: (T, 2) receives per chunk the number of suspect statistics (see
    `forward`; limit as there) and the largest rstd·Σ|g| of a group.
    """
    groups = x.shape[1]
    chunks = grad_weight.shape[0]
    per_chunk = (groups + chunks - 1) // chunks
    for t in prange(chunks):
        first = min(t * per_chunk, groups)
        last = min(first + per_chunk, groups)
        _backward_groups(
            x,
            g,
            first,
            last,
            weight,
            segment,
            period,
            given_mean,
            given_var,
            center,
            eps,
            limit,
            grad_input,
            grad_weight[t],
            grad_bias[t],
            mean_out,
            var_out,
            summary[t],
        )
