"""Fused kernels (numba) for the training's hot spots, each beside a numpy reference it must equal.

- `batch_norm_forward` / `batch_norm_backward`: batch norm in training mode over a (B, C)
  pre-activation, one call instead of about fifteen numpy passes each (a 60 × 100 layer: 32 µs
  and 36 µs in numpy, a few µs fused). References: `norms.norm_forward` / `norms.norm_backward`.
- `sigmoid` (with the layer's bias) and `sigmoid_backward`: one kernel instead of five and three
  numpy passes (a vectorized e^x of its own). Reference: `network.sigmoid_reference` and
  `network.activation_gradient`.
- `cross_entropy`: the loss and its gradient in one pass over the logits (22 µs in numpy for
  60 × 10, most of it the calls). Reference: `network.cross_entropy_reference`.
- `layer_counts` and `order_statistics`: a layer's histogram, saturated count and percentiles
  without sorting all its values (numpy's sort of 25,600 float64 takes 0.8 ms on an AVX-512
  AMD EPYC, whose compress-store instructions are slow). References: `instruments.histogram` and
  `instruments.percentiles_of_sorted` on the sorted values.

Statistics are accumulated in float64 in the order the references use (row by row for batch
norm), so results agree to rounding; tests in tests/numerics/training/test_kernels.py hold
each kernel to its reference. Kernels are single-threaded: a training run already owns one core
(one BLAS thread, gunicorn's workers give the parallelism). Compiled code is kept in numba's
on-disk cache (NUMBA_CACHE_DIR) and loaded by `warm_up` at worker start.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from numba import njit

_KERNEL: dict[str, Any] = {"cache": True, "nogil": True, "error_model": "numpy"}
# The sigmoid's polynomial as fused multiply-adds (where the CPU has them): half the operations.
_CONTRACT: dict[str, Any] = {**_KERNEL, "fastmath": {"contract"}}


@njit(**_KERNEL)
def batch_norm_forward(
    a: np.ndarray,
    scale: np.ndarray,
    shift: np.ndarray,
    eps: float,
    momentum: float,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    update_running: bool,
    z: np.ndarray,
    x_hat: np.ndarray,
    rstd: np.ndarray,
) -> None:
    """Per unit j over the B rows: mean, biased var = Σ(a - mean)²/B, rstd = 1/√(var + eps),
    x̂ = (a - mean)·rstd, z = x̂·γ + β; with update_running, running_mean ← (1 - m)·running_mean
    + m·mean and running_var ← (1 - m)·running_var + m·var·B/(B - 1). Writes z, x̂ (B, C) and
    rstd (C,)."""
    rows, units = a.shape
    mean = np.zeros(units)
    for i in range(rows):
        for j in range(units):
            mean[j] += a[i, j]
    for j in range(units):
        mean[j] /= rows
    squares = np.zeros(units)
    for i in range(rows):
        for j in range(units):
            d = a[i, j] - mean[j]
            squares[j] += d * d
    for j in range(units):
        rstd[j] = 1.0 / math.sqrt(squares[j] / rows + eps)
    for i in range(rows):
        for j in range(units):
            value = (a[i, j] - mean[j]) * rstd[j]
            x_hat[i, j] = value
            z[i, j] = value * scale[j] + shift[j]
    if update_running:
        for j in range(units):
            running_mean[j] = running_mean[j] * (1.0 - momentum) + momentum * mean[j]
            unbiased = squares[j] / (rows - 1)
            running_var[j] = running_var[j] * (1.0 - momentum) + momentum * unbiased


@njit(**_KERNEL)
def batch_norm_backward(
    grad_z: np.ndarray,
    x_hat: np.ndarray,
    rstd: np.ndarray,
    scale: np.ndarray,
    grad_scale: np.ndarray,
    grad_shift: np.ndarray,
    grad_a: np.ndarray,
) -> None:
    """With g = ∂L/∂z (B, C): ∂L/∂γ = Σ_rows g·x̂, ∂L/∂β = Σ_rows g, and with ĝ = g·γ
    ∂L/∂a = rstd·(ĝ - mean(ĝ) - x̂·mean(ĝ·x̂)), means over the rows. Writes grad_scale,
    grad_shift (C,) and grad_a (B, C)."""
    rows, units = grad_z.shape
    for j in range(units):
        grad_scale[j] = 0.0
        grad_shift[j] = 0.0
    for i in range(rows):
        for j in range(units):
            g = grad_z[i, j]
            grad_scale[j] += g * x_hat[i, j]
            grad_shift[j] += g
    projection = np.empty(units)
    centre = np.empty(units)
    for j in range(units):
        projection[j] = scale[j] * grad_scale[j] / rows
        centre[j] = scale[j] * grad_shift[j] / rows
    for i in range(rows):
        for j in range(units):
            g_hat = grad_z[i, j] * scale[j]
            grad_a[i, j] = (g_hat - x_hat[i, j] * projection[j] - centre[j]) * rstd[j]


# sigmoid: e^t = 2^n · e^r with n = round(t / ln 2) and |r| <= ln 2 / 2 (Cody and Waite's
# two-part ln 2, exact n·LN2_HI), e^r by its Taylor polynomial to degree 13 (truncation below
# 0.05 ulp), 2^n from its bits. Numbers above EXP_MAX overflow e^t; below -40, 1 + e^t rounds to 1.
LOG2E = 1.4426950408889634
LN2_HI = 6.93147180369123816490e-01
LN2_LO = 1.90821492927058770002e-10
EXP_MAX = 709.782712893384
EXP_MIN = -40.0
C0, C1, C2, C3, C4, C5, C6, C7, C8, C9, C10, C11, C12, C13 = (
    1.0 / math.factorial(k) for k in range(14)
)


@njit(inline="always", **_CONTRACT)
def _exp_reduced(t: float) -> tuple[float, int]:
    """(e^r, n) with e^t = e^r · 2^n for t in [EXP_MIN, EXP_MAX]."""
    n = math.floor(t * LOG2E + 0.5)
    r = (t - n * LN2_HI) - n * LN2_LO
    p = (((C13 * r + C12) * r + C11) * r + C10) * r + C9
    p = (((p * r + C8) * r + C7) * r + C6) * r + C5
    p = (((p * r + C4) * r + C3) * r + C2) * r + C1
    return p * r + C0, n


@njit(**_CONTRACT)
def sigmoid(z: np.ndarray, bias: np.ndarray, out: np.ndarray) -> None:
    """out = 1 / (1 + e^(-z)) for z and out (rows, units), as torch computes it (e^(-z) = inf
    gives 0, NaN stays NaN) to within 3 ulp; with a non-empty bias (units,), z ← z + bias first
    (in place). Per row one vectorized loop for e^r and the exponent bits of 2^(n-1) and one
    for the quotient: numpy needs four passes, and numba's own exp is not vectorized without
    Intel's SVML. Reference: `network.sigmoid_reference`."""
    rows, units = z.shape
    bits = np.empty(units, np.int64)
    half_scale = bits.view(np.float64)  # 2^(n-1): n reaches 1024 just below EXP_MAX
    for i in range(rows):
        row, written = z[i], out[i]
        if bias.size:
            for j in range(units):
                row[j] += bias[j]
        for j in range(units):
            p, n = _exp_reduced(min(max(-row[j], EXP_MIN), EXP_MAX))
            written[j] = p
            bits[j] = np.int64(n + 1022) << 52
        for j in range(units):
            t = -row[j]
            s = 1.0 / (1.0 + (written[j] * 2.0) * half_scale[j])
            s = 0.0 if t > EXP_MAX else s
            written[j] = t if t != t else s


@njit(**_KERNEL)
def sigmoid_backward(grad_h: np.ndarray, h: np.ndarray, grad_z: np.ndarray) -> None:
    """grad_z = grad_h·(h·(1 - h)), ∂L/∂z through h = σ(z) from the output as torch's autograd
    (the numpy expression of `network.activation_gradient`, operation for operation)."""
    rows, units = h.shape
    for i in range(rows):
        for j in range(units):
            value = h[i, j]
            grad_z[i, j] = grad_h[i, j] * (value * (1.0 - value))


@njit(**_KERNEL)
def cross_entropy(logits: np.ndarray, labels: np.ndarray, grad: np.ndarray) -> float:
    """mean over rows of logsumexp(logits_i) - logits_i[y_i] (torch's cross_entropy), with
    ∂loss/∂logits = (softmax - one_hot(y))/B written into grad; the logsumexp is taken as
    m + log Σ e^(l - m) with m the row's maximum. Non-finite logits give a non-finite loss."""
    rows, classes = logits.shape
    total = 0.0
    for i in range(rows):
        top = logits[i].max()
        norm = 0.0
        for c in range(classes):
            e = math.exp(logits[i, c] - top)
            grad[i, c] = e
            norm += e
        total += math.log(norm) - (logits[i, labels[i]] - top)
        for c in range(classes):
            grad[i, c] = grad[i, c] / norm / rows
        grad[i, labels[i]] -= 1.0 / rows
    return total / rows


@njit(**_KERNEL)
def layer_counts(
    values: np.ndarray, edges: np.ndarray, threshold: float
) -> tuple[np.ndarray, int, int, int, bool]:
    """(counts, below, above, saturated, finite) of a 1-D array: counts in the bins
    [edges[k], edges[k+1]), the last bin closed (numpy.histogram); below / above the values
    < edges[0] / > edges[-1] (NaN counts as above, as it sorts last); saturated the values with
    |v| >= threshold; finite whether every value is."""
    bins = edges.size - 1
    low, high = edges[0], edges[bins]
    per_unit = bins / (high - low)
    counts = np.zeros(bins, np.int64)
    below = above = saturated = 0
    finite = True
    for v in values:
        if not math.isfinite(v):
            finite = False
        if v < low:
            below += 1
        elif not v <= high:
            above += 1
        else:
            k = min(max(int((v - low) * per_unit), 0), bins - 1)
            while k > 0 and v < edges[k]:
                k -= 1
            while k < bins - 1 and v >= edges[k + 1]:
                k += 1
            counts[k] += 1
        if abs(v) >= threshold:
            saturated += 1
    return counts, below, above, saturated, finite


# order_statistics: buckets per round, and the pool size below which a plain sort is cheaper.
BUCKETS = 2048
SMALL = 64


@njit(**_KERNEL)
def _bucket(value: float, low: float, per_bucket: float) -> int:
    return min(int((value - low) * per_bucket), BUCKETS - 1)


@njit(**_KERNEL)
def order_statistics(values: np.ndarray, ranks: np.ndarray) -> np.ndarray:
    """np.sort(values)[ranks] for a finite 1-D array and ascending distinct 0-based ranks,
    without sorting: a bucket select. The pool's values go to BUCKETS equal buckets between its
    minimum and maximum (v ↦ ⌊(v - min)·BUCKETS/(max - min)⌋ is monotone, so the buckets are
    ordered); a wanted rank lies in the bucket where the running count passes it, and only
    that bucket's values are kept for the next round. A pool of at most SMALL values, or whose
    range cannot be scaled, is sorted. About three passes over the values in all."""
    out = np.empty(ranks.size)
    pending = [(values, ranks.copy(), np.arange(ranks.size))]
    while pending:
        pool, wanted, slots = pending.pop()
        low, high = pool.min(), pool.max()
        if low == high:
            out[slots] = low
            continue
        per_bucket = BUCKETS / (high - low)
        if pool.size <= SMALL or not (0.0 < per_bucket < math.inf):
            ordered = np.sort(pool)
            out[slots] = ordered[wanted]
            continue
        ends = np.zeros(BUCKETS, np.int64)
        for v in pool:
            ends[_bucket(v, low, per_bucket)] += 1
        ends = np.cumsum(ends)  # ends[b]: how many values lie in buckets 0 … b
        # The buckets that hold wanted ranks (a run of wanted ranks each), then one pass that
        # keeps their values.
        group_of = np.full(BUCKETS, -1, np.int64)
        groups = []  # type: ignore[var-annotated]  # numba infers (kept, first, last, start)
        first = 0
        while first < wanted.size:
            chosen = np.searchsorted(ends, wanted[first], side="right")
            last = first + 1
            while last < wanted.size and wanted[last] < ends[chosen]:
                last += 1
            group_of[chosen] = len(groups)
            start = ends[chosen - 1] if chosen > 0 else 0
            groups.append((np.empty(ends[chosen] - start), first, last, start))
            first = last
        filled = np.zeros(len(groups), np.int64)
        for v in pool:
            group = group_of[_bucket(v, low, per_bucket)]
            if group >= 0:
                groups[group][0][filled[group]] = v
                filled[group] += 1
        for kept, first, last, start in groups:
            pending.append((kept, wanted[first:last] - start, slots[first:last]))
    return out


def warm_up() -> None:
    """Compile (or load from numba's cache) every kernel's signature."""
    a = np.arange(6.0).reshape(3, 2)
    unit = np.ones(2)
    outputs = [np.empty((3, 2)), np.empty((3, 2)), np.empty(2)]
    batch_norm_forward(a, unit, unit, 1e-5, 0.1, unit.copy(), unit.copy(), True, *outputs)
    batch_norm_backward(a, a, unit, unit, np.empty(2), np.empty(2), np.empty((3, 2)))
    cross_entropy(a, np.array([0, 1, 0]), np.empty((3, 2)))
    sigmoid(a.copy(), unit, np.empty((3, 2)))
    sigmoid(a.copy(), np.empty(0), np.empty((3, 2)))
    sigmoid_backward(a, a, np.empty((3, 2)))
    layer_counts(a.ravel(), np.linspace(0.0, 1.0, 3), math.inf)
    order_statistics(a.ravel(), np.array([1, 2], dtype=np.intp))
