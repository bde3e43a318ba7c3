"""A batch-statistics request (validated once), its cost, and the result types.

Layout. Every batch is an array (m, C, L): m examples, C = `features` channels, L = `spatial_size`
positions per channel (L = 1 except for instance normalization, whose statistics run over the
positions of one channel and need L >= 2). Example 0 is the fixed example, the other m - 1 are
i.i.d. N(0, 1) and drawn afresh for every composition.

The fixed example. batch: the value z in every channel, so that one composition gives C
independent draws of x̂ (batch norm normalizes each channel with its own statistics, and the
others' values are independent across channels). group, layer, instance, rms: z at channel 0,
position 0 (the tracked value) and fixed N(0, 1) draws elsewhere, the same for every batch size
and composition (an example holding z everywhere would normalize to 0 under layer norm).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np

from service.numerics.batch_statistics.exact import (
    MAX_ABS_Z,
    MAX_EPS,
    check_batch_size,
    check_number,
)
from service.numerics.errors import CostLimitExceeded, NumericsError

VARIANTS: Final = ("batch", "group", "layer", "instance", "rms")
MAX_POINTS: Final = 32
MAX_BATCH_SIZE: Final = 65_536
MAX_FEATURES: Final = 4096
MAX_SAMPLES: Final = 10_000_000
MAX_SPATIAL_SIZE: Final = 1024
MAX_BATCH_VALUES: Final = 1 << 22  # m · C · L of one batch: 32 MiB, the largest chunk drawn
DEFAULT_SPATIAL_SIZE: Final = 4
MAX_DEFAULT_GROUPS: Final = 32  # the group normalization paper's default G
MAX_SEED: Final = 2**63 - 1
# Values drawn and normalized in one request: 10^8 take 3 to 10 s on one busy core (drawing the
# normals is half of it); the example request costs 1.98e7.
DEFAULT_MAX_COST: Final = 100_000_000


@dataclass(frozen=True)
class BatchStatisticsSpec:
    """A validated request; build it with build_batch_statistics_spec.

    groups is the resolved group count for "group" (None otherwise); spatial_size is L (1 unless
    the variant is "instance").
    """

    variant: str
    batch_sizes: tuple[int, ...]
    z: float
    features: int
    samples: int
    seed: int
    eps: float
    groups: int | None
    spatial_size: int


@dataclass(frozen=True)
class BatchStatisticsPoint:
    """One batch size. Variances are of the fixed example's normalized value x̂.

    measured_variance: sample variance (divisor n - 1) over `draws` Monte Carlo draws;
    standard_error: its standard error, sqrt((m4 - (n-3)/(n-1) s⁴) / n) with the sample fourth
    central moment m4; measured_mean: the mean of the draws.
    first_order_variance: (1 + z²/2)/m for batch norm (delta method), 0 for the others.
    exact_variance / exact_mean: by quadrature for batch norm, 0 / the normalized value for the
    others; None when not available, exact_unavailable_reason then says why.
    smallest_abs_value / largest_abs_value: min and max of |x̂| over the draws.
    max_abs_change: the largest |x̂ - x̂ in the first composition| over every value of the fixed
    example and every composition (exactly 0.0 when its output never changes).
    """

    batch_size: int
    measured_variance: float
    standard_error: float
    first_order_variance: float
    exact_variance: float | None
    exact_unavailable_reason: str | None
    measured_mean: float
    exact_mean: float | None
    draws: int
    smallest_abs_value: float
    largest_abs_value: float
    max_abs_change: float
    notes: tuple[str, ...]


@dataclass(frozen=True)
class BatchStatisticsResult:
    """points in the order of spec.batch_sizes; methods maps each point field to how it was
    obtained; notes explain the variant's behaviour in plain words."""

    spec: BatchStatisticsSpec
    points: tuple[BatchStatisticsPoint, ...]
    methods: Mapping[str, str]
    notes: tuple[str, ...]


def _integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise NumericsError(f"{field} must be an integer, got {type(value).__name__}", field)
    if not low <= value <= high:
        raise NumericsError(f"{field} must be an integer in [{low}, {high}], got {value}", field)
    return int(value)


def _batch_sizes(values: object, variant: str) -> tuple[int, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise NumericsError("batch_sizes must be a list of integers", "batch_sizes")
    if not 1 <= len(values) <= MAX_POINTS:
        raise NumericsError(
            f"batch_sizes must hold between 1 and {MAX_POINTS} entries, got {len(values)}",
            "batch_sizes",
        )
    sizes = []
    for index, value in enumerate(values):
        field = f"batch_sizes[{index}]"
        size = _integer(value, field, 1, MAX_BATCH_SIZE)
        if variant == "batch":
            check_batch_size(size, field)  # refuses m = 1 as PyTorch does in training mode
        sizes.append(size)
    if len(set(sizes)) != len(sizes):
        duplicate = next(s for s in sizes if sizes.count(s) > 1)
        raise NumericsError(f"batch_sizes lists {duplicate} more than once", "batch_sizes")
    return tuple(sizes)


def default_groups(features: int) -> int:
    """The largest G <= 32 that divides `features` and leaves at least 2 channels per group."""
    return max(
        g for g in range(1, MAX_DEFAULT_GROUPS + 1) if features % g == 0 and features >= 2 * g
    )


def _layout(
    variant: str, features: int, groups: object, spatial_size: object
) -> tuple[int | None, int]:
    """(groups, spatial_size) resolved and checked for the variant."""
    if groups is not None and variant != "group":
        raise NumericsError("groups applies only to group normalization", "groups")
    if spatial_size is not None and variant != "instance":
        raise NumericsError(
            "spatial_size applies only to instance normalization (the others use L = 1)",
            "spatial_size",
        )
    if variant == "instance":
        size = DEFAULT_SPATIAL_SIZE if spatial_size is None else spatial_size
        size = _integer(size, "spatial_size", 2, MAX_SPATIAL_SIZE)
        return None, size
    if variant in ("layer", "group") and features < 2:
        raise NumericsError(
            f"{variant} normalization needs features >= 2 here (with one value per group the "
            "normalized value is 0 whatever the input)",
            "features",
        )
    if variant != "group":
        return None, 1
    resolved = (
        default_groups(features) if groups is None else _integer(groups, "groups", 1, features)
    )
    if features % resolved or features // resolved < 2:
        raise NumericsError(
            f"groups must divide features = {features} and leave at least 2 channels per "
            f"group, got {resolved}",
            "groups",
        )
    return resolved, 1


def build_batch_statistics_spec(
    variant: str,
    batch_sizes: Sequence[int],
    *,
    z: float = 1.0,
    features: int = 16,
    samples: int = 20_000,
    seed: int = 0,
    eps: float = 1e-5,
    groups: int | None = None,
    spatial_size: int | None = None,
) -> BatchStatisticsSpec:
    """Validate a request once; NumericsError's `field` names the offending input (an entry of
    batch_sizes as "batch_sizes[i]"). Batch size 1 is refused for batch norm only: the other
    variants normalize a lone example as well as any other. groups (group only) defaults to
    default_groups(features), spatial_size (instance only) to DEFAULT_SPATIAL_SIZE."""
    if variant not in VARIANTS:
        raise NumericsError(
            f"variant must be one of {', '.join(VARIANTS)}; got {variant!r}", "variant"
        )
    sizes = _batch_sizes(batch_sizes, variant)
    z = check_number(z, "z", low=-MAX_ABS_Z, high=MAX_ABS_Z)
    features = _integer(features, "features", 1, MAX_FEATURES)
    samples = _integer(samples, "samples", 2, MAX_SAMPLES)
    seed = _integer(seed, "seed", 0, MAX_SEED)
    eps = check_number(eps, "eps", low=0.0, high=MAX_EPS)
    if variant == "batch" and eps == 0.0:
        raise NumericsError(
            "eps must be > 0 for batch normalization in training mode (PyTorch raises for "
            "eps <= 0); the exact functions take eps = 0 as a limit",
            "eps",
        )
    resolved_groups, resolved_spatial = _layout(variant, features, groups, spatial_size)
    for index, size in enumerate(sizes):
        if size * features * resolved_spatial > MAX_BATCH_VALUES:
            raise NumericsError(
                f"batch_sizes[{index}] = {size} makes one batch of batch_size · features · "
                f"spatial_size = {size * features * resolved_spatial} values, above the limit "
                f"max_batch_values = {MAX_BATCH_VALUES}",
                f"batch_sizes[{index}]",
            )
    return BatchStatisticsSpec(
        variant, sizes, z, features, samples, seed, eps, resolved_groups, resolved_spatial
    )


def batch_statistics_cost(spec: BatchStatisticsSpec) -> int:
    """Values drawn and normalized: Σ_m samples · m · features · spatial_size."""
    return sum(spec.samples * m * spec.features * spec.spatial_size for m in spec.batch_sizes)


def check_batch_statistics_cost(
    spec: BatchStatisticsSpec, max_cost: float = DEFAULT_MAX_COST, limit_name: str = "max_cost"
) -> int:
    """The cost, or CostLimitExceeded (naming `limit_name`) when it is above max_cost."""
    cost = batch_statistics_cost(spec)
    if cost > max_cost:
        raise CostLimitExceeded(
            f"this request draws and normalizes samples · Σ batch_sizes · features · "
            f"spatial_size = {cost:.3g} values, above the limit of {max_cost:.3g} ({limit_name}); "
            "lower samples, features or the largest batch sizes",
            field="samples",
            limit_name=limit_name,
            limit=max_cost,
            cost=cost,
        )
    return cost
