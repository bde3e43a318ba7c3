"""The plain-words parts of a batch-statistics result: which number is which, and why."""

from __future__ import annotations

import math
from collections.abc import Sequence

from service.numerics.batch_statistics.spec import BatchStatisticsPoint, BatchStatisticsSpec

_SCOPE = {
    "group": "the values of its own group of channels",
    "layer": "all of its own values",
    "instance": "the positions of each of its own channels",
    "rms": "the mean square of all of its own values",
}


def methods(spec: BatchStatisticsSpec) -> dict[str, str]:
    """How each number of a point was obtained, keyed by the point's field names."""
    standard_error = (
        "standard error of measured_variance, sqrt((m4 - (n-3)/(n-1)·s⁴) / n) with m4 the "
        "sample fourth central moment and n = draws: the measurement should lie within 2 "
        "standard errors of the exact value about 95% of the time"
    )
    if spec.variant != "batch":
        return {
            "measured_variance": "Monte Carlo: sample variance (divisor n - 1) of the fixed "
            "example's value at channel 0, position 0 (which holds z) over `samples` batches "
            "whose other examples are drawn afresh",
            "standard_error": standard_error,
            "first_order_variance": "0: the statistics are the example's own",
            "exact_variance": "0 exactly: the normalized value depends only on the example",
        }
    return {
        "measured_variance": "Monte Carlo: sample variance (divisor n - 1) of the fixed "
        "example's normalized value over samples × features draws: every random composition of "
        "the other m - 1 examples (standard normal, seeded) gives one independent draw per "
        "feature, because each feature is normalized with its own statistics",
        "standard_error": standard_error,
        "first_order_variance": "theory to first order in 1/m: (1 + z²/2) / m (delta method, "
        "eps neglected); it misses the O(1/m²) terms that matter at small m",
        "exact_variance": "exact theory for this m, z and eps: E[x̂²] - E[x̂]² from "
        "one-dimensional integrals of the exact distribution of the batch mean and variance "
        "(trapezoidal rule in log t, about 15 digits); not fitted to the measurement",
    }


def point_notes(
    spec: BatchStatisticsSpec, batch_size: int, smallest_abs: float, largest_abs: float
) -> tuple[str, ...]:
    """Notes for one point: at batch size 2, what batch norm does to a pair."""
    if spec.variant != "batch" or batch_size != 2:
        return ()
    mean = math.erf(spec.z / math.sqrt(2.0))
    return (
        "At batch size 2 the two normalized values are ±1 / sqrt(1 + 4·eps / (x₁ - x₂)²): ±1 up "
        f"to eps whatever the inputs (here |x̂| ranged from {smallest_abs:.6g} to "
        f"{largest_abs:.6g}). x̂ only says whether the example is the larger or the smaller of "
        "the two, so its variance is 1 - E[x̂]² with E[x̂] = P(other < z) - P(other > z) = "
        f"erf(z/√2) = {mean:.4f}, up to eps (which pulls x̂ toward 0 when the two inputs lie "
        "within a few sqrt(eps) of each other).",
    )


def result_notes(
    spec: BatchStatisticsSpec, points: Sequence[BatchStatisticsPoint]
) -> tuple[str, ...]:
    """What the variant does with the rest of the batch, and the layout the numbers come from."""
    if spec.variant == "batch":
        return (
            "Batch normalization computes each feature's mean and variance over the whole "
            "batch, so the fixed example's normalized value moves with the other examples it "
            "happens to share a batch with: the smaller the batch, the larger the spread.",
            "Layout: each batch is (m, features); the fixed example holds z in every feature, "
            "the other m - 1 examples are standard normal.",
            "|x̂| can never exceed sqrt(m - 1) with the biased batch variance: even an outlier "
            "far from all the others normalizes to at most that.",
        )
    change = max(point.max_abs_change for point in points)
    name = "RMS" if spec.variant == "rms" else spec.variant.capitalize()
    outcome = (
        f"came out bitwise identical in all {spec.samples} random batches at every batch size, "
        "so its spread is exactly 0"
        if change == 0.0
        else f"changed by up to {change:.3g} between batches"
    )
    layout = {
        "group": f"(m, features) with features split into {spec.groups} groups",
        "layer": "(m, features), normalized over the features of each example",
        "instance": f"(m, features, {spec.spatial_size}): features channels of "
        f"{spec.spatial_size} positions, normalized over the positions",
        "rms": "(m, features), each example divided by its root mean square",
    }[spec.variant]
    return (
        f"{name} normalization computes its statistics from {_SCOPE[spec.variant]} of an "
        f"example, never from the other examples in the batch: the fixed example's normalized "
        f"values {outcome}. That is why it does not need large batches.",
        f"Layout: each batch is {layout}; the fixed example holds z at channel 0 (position 0) "
        "and fixed standard normal values elsewhere.",
    )
