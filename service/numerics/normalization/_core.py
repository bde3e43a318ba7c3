"""Shared pieces of the normalization variants: results, argument checks, refusals."""

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


# torch keeps num_batches_tracked in an int64 and adds one a training call.
MAX_BATCHES_TRACKED = 2**63 - 2


def as_count(value: object, field: str, *, minimum: int, maximum: int | None = None) -> int:
    return check_scalar(value, field, int, min_val=minimum, max_val=maximum)


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


# --- statistics ------------------------------------------------------------------------------


def diagnose_nonfinite(x: np.ndarray, what: str) -> NumericsError:
    """The error for a non-finite statistic: bad input if the input holds NaN/inf, else overflow."""
    check_finite(x, "input")
    advice = "scale them down" if x.dtype == np.float64 else "scale them down, or use float64"
    return NonFiniteResult(
        f"the {what} overflows {x.dtype.name}: the input values are too large for this dtype "
        f"({advice})",
        field="input",
    )


def refuse_zero_variance(index: int, label: Callable[[int], str], constant: bool) -> None:
    reason = "all its values are equal" if constant else "its variance underflows to 0"
    raise NonFiniteResult(
        f"{label(index)} has zero variance ({reason}) and eps = 0, so normalizing it divides "
        "0 by 0; use eps > 0",
        field="eps",
    )


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
    """Refuse a non-finite output: the input's fault (NaN/inf) or an overflow."""
    if np.isfinite(output).all():
        return
    check_finite(x, "input")
    raise NonFiniteResult(
        f"the output overflows {output.dtype.name}: weight, bias or the running statistics "
        "scale the normalized values beyond its range",
        field="input",
    )
