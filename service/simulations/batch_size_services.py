"""Batch-size simulations: build the numerics' spec from a validated request, refuse work above the
configured limits (CostLimitExceeded naming the setting), run it, and flatten the result."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from service.numerics.batch_statistics import (
    BatchStatisticsPoint,
    build_batch_statistics_spec,
    check_batch_statistics_cost,
    simulate_batch_statistics,
)

BATCH_STATISTICS_FIELDS = (
    "variant",
    "batch_sizes",
    "z",
    "features",
    "samples",
    "seed",
    "eps",
    "groups",
    "spatial_size",
)

BATCH_SIZE_TWO = (
    "Batch norm maps a batch of two to the pair ±1/sqrt(1 + 4·eps/(x₁ - x₂)²): +1 for the larger "
    "input and -1 for the smaller, up to eps, whatever the two inputs are. The normalized value "
    "keeps only which of the two examples is larger."
)


def _point(point: BatchStatisticsPoint) -> dict[str, Any]:
    row = dataclasses.asdict(point)
    exact = point.exact_variance
    row["deviation_in_standard_errors"] = (
        None
        if exact is None or point.standard_error == 0.0
        else (point.measured_variance - exact) / point.standard_error
    )
    row["notes"] = list(point.notes)
    return row


def batch_statistics(request: Mapping[str, Any], max_cost: float) -> dict[str, Any]:
    """The spread of one example's normalized value across random batch compositions, beside
    the first-order and exact values; refuses requests costing more than MAX_BATCH_STATISTICS_COST
    (samples · Σ batch_sizes · features · spatial_size values)."""
    options = {k: request[k] for k in BATCH_STATISTICS_FIELDS if request.get(k) is not None}
    spec = build_batch_statistics_spec(**options)
    cost = check_batch_statistics_cost(spec, max_cost, limit_name="MAX_BATCH_STATISTICS_COST")
    result = simulate_batch_statistics(spec)
    batch = spec.variant == "batch"
    return {
        "variant": spec.variant,
        "batch_sizes": list(spec.batch_sizes),
        "z": spec.z,
        "features": spec.features,
        "samples": spec.samples,
        "seed": spec.seed,
        "eps": spec.eps,
        "groups": spec.groups,
        "spatial_size": spec.spatial_size,
        "cost": cost,
        "points": [_point(point) for point in result.points],
        "methods": dict(result.methods),
        "batch_size_two": BATCH_SIZE_TWO if batch else None,
        "independent_of_batch": None if batch else result.notes[0],
        "notes": list(result.notes),
    }
