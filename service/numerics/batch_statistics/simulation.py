"""Monte Carlo: normalize the fixed example inside `samples` random batches, measure its spread.

Draws. Batch size m uses its own stream, Generator(PCG64(SeedSequence([seed, m]))), so a point
does not depend on the other batch sizes requested; the compositions are drawn in order as
standard normals of shape (samples, m - 1, C, L), in chunks that do not change the values. The
fixed example's non-tracked values (group, layer, instance, rms) come from SeedSequence([seed, 0]).

Normalization (float64, PyTorch training semantics, no affine): x̂ = (x - mean) / sqrt(var + eps)
with the biased variance (rms: x̂ = x / sqrt(mean(x²) + eps)); the statistics reduce over
batch: the m examples and L positions of each channel; group: the C/G channels and L positions
of each example's group; layer and rms: all C·L values of each example; instance: the L positions
of each example's channel. The whole batch is normalized and the fixed example's row read back.

Statistics of the draws are accumulated chunk by chunk (count, mean, central moments 2 to 4,
merged with Pébay's pairwise formulas) about the first draw, so equal draws give exactly 0.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

import numpy as np

from service.numerics.batch_statistics.exact import NormalizedMoments, normalized_moments
from service.numerics.batch_statistics.notes import methods, point_notes, result_notes
from service.numerics.batch_statistics.spec import (
    BatchStatisticsPoint,
    BatchStatisticsResult,
    BatchStatisticsSpec,
)
from service.numerics.errors import NonFiniteResult, NumericsError

# Values per chunk of compositions (8 MiB of float64); results do not depend on it.
CHUNK_VALUES: Final = 1 << 20
_SHORT_AXIS: Final = 8


def fixed_example(spec: BatchStatisticsSpec) -> np.ndarray:
    """The fixed example (C, L): z everywhere for batch norm, else z at [0, 0] and N(0, 1) draws."""
    shape = (spec.features, spec.spatial_size)
    if spec.variant == "batch":
        return np.full(shape, spec.z)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, 0])))
    example = rng.standard_normal(shape)
    example[0, 0] = spec.z
    return example


def iter_batches(spec: BatchStatisticsSpec, batch_size: int) -> Iterator[np.ndarray]:
    """The `samples` batches of size m in chunks (count, m, C, L); row 0 is the fixed example."""
    example = fixed_example(spec)
    rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence([spec.seed, batch_size])))
    per_batch = batch_size * example.size
    chunk = max(1, CHUNK_VALUES // per_batch)
    for start in range(0, spec.samples, chunk):
        count = min(chunk, spec.samples - start)
        batches = np.empty((count, batch_size, *example.shape))
        batches[:, 0] = example
        batches[:, 1:] = rng.standard_normal((count, batch_size - 1, *example.shape))
        yield batches


def _mean_over_last(a: np.ndarray) -> np.ndarray:
    """a.mean(axis=-1, keepdims=True); short axes as a sum of slices (numpy's reduction pays per
    row, and per-example groups are often 2 to 8 values long)."""
    length = a.shape[-1]
    if length > _SHORT_AXIS:
        return a.mean(axis=-1, keepdims=True)
    total = a[..., :1].copy()
    for index in range(1, length):
        total += a[..., index : index + 1]
    return total / length


def normalize_fixed_example(spec: BatchStatisticsSpec, batches: np.ndarray) -> np.ndarray:
    """Normalize every batch of (count, m, C, L) with spec.variant; return row 0: (count, C, L)."""
    count, m, channels, positions = batches.shape
    if spec.variant == "batch":  # per channel, over the m examples and the L positions
        view = batches
        centered = view - view.mean(axis=(1, 3), keepdims=True)
        power = np.square(centered).mean(axis=(1, 3), keepdims=True)
    else:  # per example: over each group of K values
        groups = {"instance": channels, "group": spec.groups}.get(spec.variant) or 1
        view = batches.reshape(count, m, groups, channels // groups * positions)
        centered = view if spec.variant == "rms" else view - _mean_over_last(view)
        power = _mean_over_last(np.square(centered))
    # power has length 1 (batch) or m (the others) along axis 1: index 0 is the fixed example's.
    normalized = centered[:, 0] / np.sqrt(power[:, 0] + spec.eps)
    return normalized.reshape(count, channels, positions)


def tracked_values(spec: BatchStatisticsSpec, normalized: np.ndarray) -> np.ndarray:
    """The draws: every channel's value for batch norm (all hold z), else channel 0, position 0."""
    if spec.variant == "batch":
        return normalized.reshape(-1)
    return normalized[:, 0, 0]


@dataclass
class _Accumulator:
    """Count, mean and central moment sums M2..M4 of values - shift, and the |value| range."""

    shift: float
    count: int = 0
    mean: float = 0.0
    moments: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    smallest_abs: float = math.inf
    largest_abs: float = 0.0

    def add(self, values: np.ndarray) -> None:
        magnitudes = np.abs(values)
        self.smallest_abs = min(self.smallest_abs, float(magnitudes.min()))
        self.largest_abs = max(self.largest_abs, float(magnitudes.max()))
        shifted = values - self.shift
        n_b = shifted.size
        mean_b = float(shifted.mean())
        deviations = shifted - mean_b
        squares = deviations * deviations
        m2_b = float(np.einsum("i->", squares))
        m3_b = float(np.einsum("i,i->", squares, deviations))
        m4_b = float(np.einsum("i,i->", squares, squares))
        n_a, m2_a, m3_a, m4_a = self.count, *self.moments
        n = n_a + n_b
        delta = mean_b - self.mean
        m2 = m2_a + m2_b + delta**2 * n_a * n_b / n
        m3 = (
            m3_a
            + m3_b
            + delta**3 * n_a * n_b * (n_a - n_b) / n**2
            + 3 * delta * (n_a * m2_b - n_b * m2_a) / n
        )
        m4 = (
            m4_a
            + m4_b
            + delta**4 * n_a * n_b * (n_a * n_a - n_a * n_b + n_b * n_b) / n**3
            + 6 * delta**2 * (n_a * n_a * m2_b + n_b * n_b * m2_a) / n**2
            + 4 * delta * (n_a * m3_b - n_b * m3_a) / n
        )
        self.count, self.mean, self.moments = n, self.mean + delta * n_b / n, [m2, m3, m4]

    def variance_and_error(self) -> tuple[float, float]:
        """(s², its standard error): Var(s²) = (μ4 - (n-3)/(n-1) σ⁴) / n with plug-in moments."""
        n = self.count
        variance = self.moments[0] / (n - 1)
        fourth = self.moments[2] / n
        error_variance = (fourth - (n - 3) / (n - 1) * variance**2) / n
        return variance, math.sqrt(max(error_variance, 0.0))


def _measure(spec: BatchStatisticsSpec, batch_size: int) -> tuple[_Accumulator, float]:
    """The accumulated draws and the largest change of the fixed example's output."""
    accumulator: _Accumulator | None = None
    first: np.ndarray | None = None
    largest_change = 0.0
    for batches in iter_batches(spec, batch_size):
        with np.errstate(invalid="ignore", divide="ignore"):
            normalized = normalize_fixed_example(spec, batches)
        if not np.isfinite(normalized).all():
            raise NonFiniteResult(
                f"a batch of size {batch_size} has zero variance and eps = 0, so normalizing "
                "divides 0 by 0; use eps > 0",
                "eps",
            )
        if first is None:
            first = normalized[0].copy()
        largest_change = max(largest_change, float(np.max(np.abs(normalized - first))))
        values = tracked_values(spec, normalized)
        if accumulator is None:
            accumulator = _Accumulator(shift=float(values[0]))
        accumulator.add(values)
    assert accumulator is not None  # samples >= 2
    return accumulator, largest_change


def _exact(spec: BatchStatisticsSpec, m: int) -> tuple[NormalizedMoments | None, str | None]:
    try:
        return normalized_moments(m, spec.z, spec.eps), None
    except NumericsError as error:
        return None, f"the quadrature failed: {error}"


def simulate_point(spec: BatchStatisticsSpec, batch_size: int) -> BatchStatisticsPoint:
    """Measure one batch size and put the analytic values beside the measurement."""
    accumulator, largest_change = _measure(spec, batch_size)
    variance, error = accumulator.variance_and_error()
    exact_mean: float | None
    if spec.variant == "batch":
        moments, reason = _exact(spec, batch_size)
        first_order = (1.0 + 0.5 * spec.z**2) / batch_size
        exact_variance = None if moments is None else moments.variance
        exact_mean = None if moments is None else moments.mean
    else:  # the statistics are the example's own: x̂ is a constant
        first_order, exact_variance, reason = 0.0, 0.0, None
        exact_mean = float(normalize_fixed_example(spec, fixed_example(spec)[None, None])[0, 0, 0])
    return BatchStatisticsPoint(
        batch_size=batch_size,
        measured_variance=variance,
        standard_error=error,
        first_order_variance=first_order,
        exact_variance=exact_variance,
        exact_unavailable_reason=reason,
        measured_mean=accumulator.shift + accumulator.mean,
        exact_mean=exact_mean,
        draws=accumulator.count,
        smallest_abs_value=accumulator.smallest_abs,
        largest_abs_value=accumulator.largest_abs,
        max_abs_change=largest_change,
        notes=point_notes(spec, batch_size, accumulator.smallest_abs, accumulator.largest_abs),
    )


def simulate_batch_statistics(spec: BatchStatisticsSpec) -> BatchStatisticsResult:
    """Every point of the spec, in its order (the caller checks the cost first)."""
    points = tuple(simulate_point(spec, m) for m in spec.batch_sizes)
    return BatchStatisticsResult(spec, points, methods(spec), result_notes(spec, points))
