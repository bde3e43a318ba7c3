"""Shared pieces of the normalization variants: results, argument checks, reductions, broadcasting.

Sums go through einsum and vecdot (numpy's own SIMD loops, single-threaded): numpy's
`sum(axis=-1)` over short rows is five times slower, and a BLAS product with a vector of ones,
though twice as fast on an idle machine, is multi-threaded in OpenBLAS and stalls for
milliseconds whenever another process holds one of the cores. Sums are accumulated in the
computation dtype (float32 for float32 input, float64 for float64).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
from numpy.typing import DTypeLike

from service.numerics.arrays import check_finite, float_dtype
from service.numerics.errors import NonFiniteResult, NumericsError
from service.numerics.validation import check_scalar

Ufunc = Callable[..., Any]

# Inner loops shorter than this are dominated by per-row call overhead in numpy's broadcasting
# machinery; below it a row vector is expanded to the full array instead.
_SHORT_ROW = 16
# Row sums of squares switch from square-then-sum to one dot product per row at this length.
_DOT_ROW = 64
# The residual mean correction costs a pass; it is skipped below this many machine epsilons.
_REFINE_ABOVE = 8
# Rows at most this long are summed column by column (einsum is slow on very short rows).
_STRIDED_SUM = 8
# Column vectors are tiled so that each broadcast inner loop covers about this many elements.
_TILE_TARGET = 4096


@dataclass(frozen=True)
class NormalizationResult:
    """The normalized output and the statistics it used.

    output: same shape as the input. mean / var: the statistics used for normalizing, in their
    natural shape (batch: (C,); layer, rms: input.shape[:-k]; group: (N, G); instance: (N, C));
    var is the biased (population) variance; for rms, mean is None and var is the mean square.
    running_mean / running_var: the running statistics after this call (None if not tracked).
    num_batches_tracked: the batch counter after this call (None if not tracked).
    reduced_axes: the input axes the statistics reduce over. eps: the eps actually used.
    """

    output: np.ndarray
    mean: np.ndarray | None
    var: np.ndarray
    running_mean: np.ndarray | None
    running_var: np.ndarray | None
    num_batches_tracked: int | None
    reduced_axes: tuple[int, ...]
    eps: float


class Gradients(NamedTuple):
    """Gradients of sum(output * grad_output): input's shape, and weight's / bias's (or None)."""

    grad_input: np.ndarray
    grad_weight: np.ndarray | None
    grad_bias: np.ndarray | None


# --- argument checks -------------------------------------------------------------------------


def resolve_dtype(dtype: DTypeLike) -> np.dtype[Any]:
    return float_dtype(dtype, field="dtype")


def as_input(x: object, dtype: np.dtype[Any], field: str = "input") -> np.ndarray:
    """A non-empty C-contiguous array of `dtype`; no copy when `x` already is one.

    Finiteness is not checked here: the first reduction of each variant sees NaN or infinity at
    no extra cost, and `diagnose_nonfinite` names the culprit then.
    """
    try:
        array = np.asarray(x)
    except (ValueError, TypeError) as exc:
        raise NumericsError(f"is not a rectangular array of numbers: {exc}", field) from exc
    if array.dtype.kind not in "iuf":
        raise NumericsError(
            f"must hold integers or floating-point numbers, not {array.dtype}", field
        )
    if array.size == 0:
        raise NumericsError(f"is empty (shape {array.shape}); at least one number needed", field)
    with np.errstate(over="ignore"):
        return np.ascontiguousarray(array, dtype=dtype)


def as_param(
    value: object, dtype: np.dtype[Any], field: str, shape: tuple[int, ...]
) -> np.ndarray | None:
    """An optional finite per-channel / per-element parameter of exactly `shape`, as a copy (so
    that results never alias the caller's arrays)."""
    if value is None:
        return None
    array = as_input(value, dtype, field).copy()
    if array.shape != shape:
        raise NumericsError(f"must have shape {list(shape)}, got {list(array.shape)}", field)
    check_finite(array, field)
    return array


def as_number(value: object, field: str, *, minimum: float, maximum: float = math.inf) -> float:
    return check_scalar(
        value, field, float, min_val=minimum, max_val=None if maximum == math.inf else maximum
    )


def as_eps(value: object, field: str = "eps") -> float:
    return as_number(value, field, minimum=0.0)


def as_count(value: object, field: str, *, minimum: int) -> int:
    return check_scalar(value, field, int, min_val=minimum)


def as_flag(value: object, field: str) -> bool:
    if not isinstance(value, (bool, np.bool_)):
        raise NumericsError(f"must be true or false, got {type(value).__name__}", field)
    return bool(value)


def as_shape(value: object, field: str = "normalized_shape") -> tuple[int, ...]:
    items: Sequence[object]
    items = [value] if isinstance(value, (int, np.integer)) else value  # type: ignore[assignment]
    if isinstance(value, bool) or not isinstance(items, (list, tuple)) or not items:
        raise NumericsError("must be a positive integer or a non-empty list of them", field)
    return tuple(as_count(item, field, minimum=1) for item in items)


def input_size(shape: Sequence[int]) -> str:
    return str(list(shape))


# --- reductions --------------------------------------------------------------------------------


def row_sums(a2: np.ndarray) -> np.ndarray:
    """Σ over axis 1 of a C-contiguous (R, K) array -> (R,)."""
    inner = a2.shape[1]
    if inner <= _STRIDED_SUM:
        total = a2[:, 0].copy()
        for column in range(1, inner):
            total += a2[:, column]
        return total
    return np.einsum("ij->i", a2)


def col_sums(a2: np.ndarray) -> np.ndarray:
    """Σ over axis 0 of a C-contiguous (R, K) array -> (K,)."""
    rows, inner = a2.shape
    if rows == 1:
        return a2[0].copy()
    if inner <= _STRIDED_SUM:
        return np.array([a2[:, column].sum() for column in range(inner)], dtype=a2.dtype)
    return np.einsum("ij->j", a2)


def group_sums(a3: np.ndarray) -> np.ndarray:
    """Σ over axes 0 and 2 of a C-contiguous (A, B, K) array -> (B,)."""
    outer, groups, inner = a3.shape
    if inner == 1:
        return col_sums(a3.reshape(outer, groups))
    per_row = row_sums(a3.reshape(outer * groups, inner))
    return per_row if outer == 1 else col_sums(per_row.reshape(outer, groups))


def group_sums_of_squares(a3: np.ndarray) -> np.ndarray:
    """Σ a² over axes 0 and 2 of a C-contiguous (A, B, K) array -> (B,).

    Rows of at least _DOT_ROW values go through one dot product each (vecdot, no temporary);
    shorter rows are squared into a temporary and summed.
    """
    outer, groups, inner = a3.shape
    if inner < _DOT_ROW:
        return group_sums(np.square(a3))
    rows = a3.reshape(outer * groups, inner)
    per_row = np.vecdot(rows, rows)
    return per_row if outer == 1 else col_sums(per_row.reshape(outer, groups))


# --- broadcasting ops (in place or into `out`) ---------------------------------------------------


def apply_rows(ufunc: Ufunc, a2: np.ndarray, per_row: np.ndarray, out: np.ndarray) -> None:
    """out = ufunc(a2, per_row[:, None]) for (R, K) arrays and per_row (R,)."""
    rows, inner = a2.shape
    if inner == 1:
        ufunc(a2[:, 0], per_row, out=out[:, 0])
    elif inner < _SHORT_ROW:
        ufunc(a2, np.repeat(per_row, inner).reshape(rows, inner), out=out)
    else:
        ufunc(a2, per_row[:, None], out=out)


def apply_cols(ufunc: Ufunc, a2: np.ndarray, per_col: np.ndarray, out: np.ndarray) -> None:
    """out = ufunc(a2, per_col[None, :]) for (R, K) arrays and per_col (K,)."""
    rows, inner = a2.shape
    # Tiling the vector t times lets one inner loop cover t rows.
    tiles = math.gcd(rows, max(1, _TILE_TARGET // inner))
    if tiles > 1:
        shape = (rows // tiles, tiles * inner)
        ufunc(a2.reshape(shape), np.tile(per_col, tiles), out=out.reshape(shape))
    else:
        ufunc(a2, per_col, out=out)


def apply_channels(ufunc: Ufunc, a3: np.ndarray, per_channel: np.ndarray, out: np.ndarray) -> None:
    """out = ufunc(a3, per_channel[None, :, None]) for (N, C, S) arrays and per_channel (C,)."""
    batch, channels, spatial = a3.shape
    if spatial == 1:
        apply_cols(ufunc, a3.reshape(batch, channels), per_channel, out.reshape(batch, channels))
    elif batch == 1:
        apply_rows(
            ufunc, a3.reshape(channels, spatial), per_channel, out.reshape(channels, spatial)
        )
    else:
        # One (C*S,) vector broadcast over N rows beats N*C inner loops of length S.
        apply_cols(
            ufunc,
            a3.reshape(batch, channels * spatial),
            np.repeat(per_channel, spatial),
            out.reshape(batch, channels * spatial),
        )


# --- statistics ------------------------------------------------------------------------------


def diagnose_nonfinite(x: np.ndarray, what: str) -> NumericsError:
    """The error for a non-finite statistic: bad input if the input holds NaN/inf, else overflow."""
    check_finite(x, "input")
    return NonFiniteResult(
        f"the {what} overflows {x.dtype.name}: the input values are too large for this dtype "
        "(scale them down, or use float64)",
        field="input",
    )


def refuse_zero_variance(index: int, label: Callable[[int], str], constant: bool) -> None:
    reason = "all its values are equal" if constant else "its variance underflows to 0"
    raise NonFiniteResult(
        f"{label(index)} has zero variance ({reason}) and eps = 0, so normalizing it divides "
        "0 by 0; use eps > 0",
        field="eps",
    )


@dataclass(frozen=True)
class Moments:
    """centered: x - mean, (A, B, K), a new array; mean, var (biased), rstd: (B,)."""

    centered: np.ndarray
    mean: np.ndarray
    var: np.ndarray
    rstd: np.ndarray


def centered_moments(
    x3: np.ndarray, eps: float, label: Callable[[int], str], source: np.ndarray
) -> Moments:
    """Mean and biased variance over axes 0 and 2 of a C-contiguous (A, B, K) array, two-pass.

    Pass 1: mean = Σx / n. Pass 2: d = x - mean, var = Σd²/n - (Σd/n)²: the corrected two-pass
    formula, exact up to rounding of d even when the mean is 10^8 times the spread (never
    E[x²] - E[x]²). Σd/n, the rounding error left in the first mean, is added back to the mean,
    and subtracted from d when it would move a normalized value by more than 8 machine epsilons
    (so a skipped correction costs at most 1e-6 in float32, 2e-15 in float64).
    Accumulation dtype: the dtype of x. rstd = 1 / sqrt(var + eps). `source` is the input in its
    own shape, for naming a bad element; `label(b)` names group b in messages.
    """
    outer, _, inner = x3.shape
    count = outer * inner
    # Overflow and NaN are detected on the (small) statistics below and reported there.
    with np.errstate(over="ignore", invalid="ignore"):
        sums = group_sums(x3)
        if not np.isfinite(sums).all():
            raise diagnose_nonfinite(source, "sum of the input")
        mean = sums / count
        centered = np.empty_like(x3)
        apply_channels(np.subtract, x3, mean, centered)
        sum_squares = group_sums_of_squares(centered)
        residual = group_sums(centered) / count
        var = sum_squares / count
        var -= residual * residual
    np.maximum(var, 0, out=var)
    if not np.isfinite(var).all():
        raise diagnose_nonfinite(source, "variance")
    if eps == 0:
        constant = group_constant(x3)
        if constant.any():
            refuse_zero_variance(int(np.argmax(constant)), label, constant=True)
        if not var.all():
            refuse_zero_variance(int(np.argmin(var)), label, constant=False)
    rstd = var + x3.dtype.type(eps)
    np.sqrt(rstd, out=rstd)
    np.reciprocal(rstd, out=rstd)
    mean += residual
    if np.max(np.abs(residual) * rstd) > _REFINE_ABOVE * np.finfo(x3.dtype).eps:
        apply_channels(np.subtract, centered, residual, centered)
    return Moments(centered, mean, var, rstd)


def group_constant(x3: np.ndarray) -> np.ndarray:
    """True for each B whose values over axes 0 and 2 are all equal (exactly)."""
    return np.asarray(x3.max(axis=(0, 2)) == x3.min(axis=(0, 2)))


def output_may_overflow(count: int, weight: np.ndarray | None, bias: np.ndarray | None) -> bool:
    """Whether y = x̂·w + b can overflow, given |x̂| <= sqrt(count) for normalized values."""
    if weight is None and bias is None:
        return False
    bound = math.sqrt(count) * (1.0 + 1e-3)
    if weight is not None:
        bound *= float(np.max(np.abs(weight)))
    if bias is not None:
        bound += float(np.max(np.abs(bias)))
    dtype = (weight if weight is not None else bias).dtype  # type: ignore[union-attr]
    return bound >= float(np.finfo(dtype).max) / 2


def check_output(output: np.ndarray, x: np.ndarray) -> None:
    """Refuse a non-finite output: the input's fault (NaN/inf) or an overflow.

    A finite sum proves every term finite, at memory speed; only a non-finite sum (an overflow of
    the sum alone, or a real NaN / infinity) pays for the elementwise check.
    """
    flat = output.reshape(1, -1) if output.ndim < 2 else output.reshape(output.shape[0], -1)
    with np.errstate(over="ignore", invalid="ignore"):
        total = row_sums(flat)
    if np.isfinite(total).all() or np.isfinite(output).all():
        return
    check_finite(x, "input")
    raise NonFiniteResult(
        f"the output overflows {output.dtype.name}: weight, bias or the running statistics "
        "scale the normalized values beyond its range",
        field="input",
    )
