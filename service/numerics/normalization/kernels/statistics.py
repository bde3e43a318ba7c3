"""The groups' statistics, in float64: mean and biased variance (or mean square), a tile of
groups at a time, for the forward and the backward kernels.

Statistics are accumulated over blocks of at most BLOCK values, which stay in L1: per block the
corrected two-pass formula (m̃ = Σx/n, or the mean of the first 1/SAMPLE of a one-row block;
d = x - m̃, mean = m̃ + Σd/n, M2 = Σd² - (Σd)²/n); blocks are merged with Chan et al.'s update
(δ = m_b - m, m += δ·n_b/n, M2 += M2_b + δ²·n_a·n_b/n).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from service.numerics.normalization.kernels.options import HELPER

# Values per statistics block: 2,048 float32 or float64 values (8-16 KB) stay in L1 between the
# block's two passes.
BLOCK = 2048
# A one-row block's shift is the mean of its first 1/SAMPLE values (see `_block_moments`).
SAMPLE = 8


@njit(**HELPER)
def sum_of(view: np.ndarray) -> float:
    total = 0.0
    for k in range(view.size):
        total += view[k]
    return total


@njit(**HELPER)
def _centered_sums(view: np.ndarray, shift: float) -> tuple[float, float]:
    """(Σd, Σd²) with d = x - shift, in float64."""
    d1 = 0.0
    d2 = 0.0
    for k in range(view.size):
        d = view[k] - shift
        d1 += d
        d2 += d * d
    return d1, d2


@njit(**HELPER)
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
        total = sum_of(x[a0, b, k0 : k0 + sampled])
        sample = float(sampled)
    else:
        for a in range(a0, a1):
            total += sum_of(x[a, b, k0:k1])
    inverse = 1.0 / n
    shift = total / sample
    d1 = 0.0
    d2 = 0.0
    for a in range(a0, a1):
        s1, s2 = _centered_sums(x[a, b, k0:k1], shift)
        d1 += s1
        d2 += s2
    return n, shift, d1 * inverse, max(d2 - d1 * d1 * inverse, 0.0)


@njit(**HELPER)
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


@njit(**HELPER)
def group_mean_square(x: np.ndarray, b: int) -> float:
    """Σx²/n over x[:, b, :] in float64 (one pass: a sum of squares needs no shift)."""
    total = 0.0
    for a in range(x.shape[0]):
        total += _centered_sums(x[a, b], 0.0)[1]
    return total / (x.shape[0] * x.shape[2])


@njit(**HELPER)
def tile_statistics(
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
    Returns how many of the groups are suspect: a mean that is not finite, a var or an rstd
    above `limit` (at most the dtype's largest value) or NaN, or a zero var with eps = 0.
    `results.refuse_bad_statistics` finds which and why only when there are any; an rstd
    beyond the dtype (a spread of subnormal size with eps near 0) is not refused there.

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
        if not (np.isfinite(mean) and var <= limit and tile[i, 2] <= limit):
            suspects += 1
    return suspects


@njit(**HELPER)
def tile_size(x: np.ndarray) -> int:
    """Groups per tile: as many as fit in BLOCK values (one when a group is longer)."""
    return max(1, BLOCK // (x.shape[0] * x.shape[2]))
