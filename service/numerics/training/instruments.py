"""The measurements behind each LayerRecord (definitions in records.LayerRecord's docstring).

Each function returns plain Python values: floats that are finite, or None with the reason
written into the `reasons` dict it is given.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.training import kernels
from service.numerics.training.records import PERCENTILES, SATURATION_THRESHOLDS

NOT_FINITE = "not finite: the values overflowed"


def finite_or_none(
    value: float, name: str, reasons: dict[str, str], why: str = NOT_FINITE
) -> float | None:
    """value as a float if finite; otherwise None, with `why` recorded under `name`."""
    value = float(value)
    if math.isfinite(value):
        return value
    reasons[name] = why
    return None


def _lerp(low: float, high: float, weight: float) -> float:
    """low + w·(high - low), from the nearer end (as numpy.percentile and torch.lerp)."""
    return low + weight * (high - low) if weight < 0.5 else high - (high - low) * (1 - weight)


def _positions(count: int) -> list[tuple[int, int, float]]:
    """(lower, upper, weight) of each of PERCENTILES among `count` ascending values: the
    "linear" method's position q/100 · (count - 1), in numpy's float64 operations."""
    spots = []
    for q in PERCENTILES:
        position = q / 100.0 * (count - 1)
        lower = math.floor(position)
        spots.append((lower, min(lower + 1, count - 1), position - lower))
    return spots


def percentiles_of_sorted(values: FloatArray) -> tuple[float, ...]:
    """PERCENTILES of an ascending 1-D array."""
    return tuple(
        _lerp(float(values[lower]), float(values[upper]), weight)
        for lower, upper, weight in _positions(len(values))
    )


def layer_percentiles(values: FloatArray) -> tuple[float, ...]:
    """PERCENTILES of a finite 1-D array (= percentiles_of_sorted(np.sort(values)))."""
    spots = _positions(values.size)
    ranks = sorted({rank for lower, upper, _ in spots for rank in (lower, upper)})
    found = kernels.order_statistics(values, np.array(ranks, dtype=np.intp)).tolist()
    value = dict(zip(ranks, found, strict=True))
    return tuple(_lerp(value[lower], value[upper], weight) for lower, upper, weight in spots)


def histogram(
    ascending: FloatArray, bins: int, value_range: tuple[float, float]
) -> tuple[tuple[int, ...], int, int]:
    """(counts, below, above) of an ascending 1-D array (the reference for kernels.layer_counts):
    counts in the bins [e_k, e_k+1) with e = linspace(low, high, bins + 1), the last bin closed
    (as numpy.histogram with `range`); below / above count the values < low and > high."""
    low, high = value_range
    edges = np.linspace(low, high, bins + 1)
    positions = np.searchsorted(ascending, edges, side="left")
    positions[-1] = np.searchsorted(ascending, high, side="right")
    counts = np.diff(positions)
    return tuple(counts.tolist()), int(positions[0]), int(len(ascending) - positions[-1])


@dataclass(frozen=True)
class Distribution:
    """The distribution fields of one layer at one logged step, and the sorted columns that
    the next logged step's distribution_shift compares against."""

    mean: float | None
    variance: float | None
    unit_percentiles: tuple[float | None, ...]
    layer_percentiles: tuple[float | None, ...]
    saturated_fraction: float | None
    histogram: tuple[int, ...]
    below_range: int
    above_range: int
    distribution_shift: float | None
    sorted_columns: FloatArray | None


def distribution(
    z: FloatArray,
    *,
    activation: str,
    tracked_unit: int,
    bins: int,
    value_range: tuple[float, float],
    previous: FloatArray | None,
    reasons: dict[str, str],
) -> Distribution:
    """The statistics of z (probe rows, units), the input of the nonlinearity; `previous` holds
    z's sorted columns at the last logged step (None at step 0). The layer's histogram,
    saturation and percentiles come from the kernels (one counting pass and a bucket select,
    equal to `histogram` and `percentiles_of_sorted` on the sorted values); the columns are
    sorted (the tracked unit's percentiles, the Wasserstein distance)."""
    values = np.ascontiguousarray(z).reshape(-1)
    low, high = value_range
    threshold = SATURATION_THRESHOLDS.get(activation)
    found = kernels.layer_counts(
        values, np.linspace(low, high, bins + 1), math.inf if threshold is None else threshold
    )
    counts, below, above = tuple(found[0].tolist()), int(found[1]), int(found[2])
    if not found[4]:
        for name in ("mean", "variance", "unit_percentiles", "layer_percentiles",
                     "saturated_fraction", "distribution_shift"):  # fmt: skip
            reasons[name] = NOT_FINITE
        none = (None,) * len(PERCENTILES)
        return Distribution(None, None, none, none, None, counts, below, above, None, None)
    saturated: float | None = None
    if threshold is None:
        reasons["saturated_fraction"] = "defined for sigmoid and tanh only"
    else:
        saturated = found[3] / values.size
    sorted_columns = np.sort(z, axis=0)
    shift: float | None = None
    if previous is None:
        reasons["distribution_shift"] = "no earlier logged step to compare with"
    else:
        shift = finite_or_none(
            float(np.mean(np.abs(sorted_columns - previous))), "distribution_shift", reasons
        )
    return Distribution(
        mean=finite_or_none(float(np.mean(z)), "mean", reasons),
        variance=finite_or_none(float(np.var(z)), "variance", reasons),
        unit_percentiles=percentiles_of_sorted(sorted_columns[:, tracked_unit]),
        layer_percentiles=layer_percentiles(values),
        saturated_fraction=saturated,
        histogram=counts,
        below_range=below,
        above_range=above,
        distribution_shift=shift,
        sorted_columns=sorted_columns,
    )


@dataclass(frozen=True)
class UpdateFields:
    grad_norm: float | None
    update_ratio: float | None
    gradient_shift: float | None
    gradient_cosine: float | None


def update_fields(
    gradient: FloatArray,
    shifted_gradient: FloatArray,
    weight_before: FloatArray,
    weight_after: FloatArray,
    reasons: dict[str, str],
) -> UpdateFields:
    """‖G‖, ‖ΔW‖/‖W‖, ‖G - G′‖ and cos(G, G′) of one layer's weight (see LayerRecord)."""
    norm = float(np.linalg.norm(gradient))
    shifted_norm = float(np.linalg.norm(shifted_gradient))
    weight_norm = float(np.linalg.norm(weight_before))
    ratio: float | None = None
    if weight_norm == 0.0:
        reasons["update_ratio"] = "the weights were all zero before the update"
    else:
        ratio = finite_or_none(
            float(np.linalg.norm(weight_after - weight_before)) / weight_norm,
            "update_ratio",
            reasons,
        )
    cosine: float | None = None
    if norm == 0.0 or shifted_norm == 0.0:
        reasons["gradient_cosine"] = "a gradient is exactly zero, so it has no direction"
    elif math.isfinite(norm) and math.isfinite(shifted_norm):
        cosine = float(np.vdot(gradient, shifted_gradient)) / (norm * shifted_norm)
        cosine = finite_or_none(min(1.0, max(-1.0, cosine)), "gradient_cosine", reasons)
    else:
        reasons["gradient_cosine"] = NOT_FINITE
    return UpdateFields(
        grad_norm=finite_or_none(norm, "grad_norm", reasons),
        update_ratio=ratio,
        gradient_shift=finite_or_none(
            float(np.linalg.norm(gradient - shifted_gradient)), "gradient_shift", reasons
        ),
        gradient_cosine=cosine,
    )
