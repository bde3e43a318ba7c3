"""How noisy batch norm's statistics are, and why group, layer, instance and RMS norm don't care.

`exact`: Var(x̂) of an example at standardized value z in a batch of m standard normal values,
exact by quadrature and to first order, and the pair at batch size 2. `spec`: a validated request,
its cost and the result types. `simulation`: the seeded Monte Carlo beside the analytic values.
"""

from service.numerics.batch_statistics.exact import (
    NormalizedMoments,
    exact_variance,
    first_order_variance,
    normalized_moments,
    normalized_pair,
)
from service.numerics.batch_statistics.simulation import (
    fixed_example,
    iter_batches,
    normalize_fixed_example,
    simulate_batch_statistics,
    simulate_point,
)
from service.numerics.batch_statistics.spec import (
    DEFAULT_MAX_COST,
    VARIANTS,
    BatchStatisticsPoint,
    BatchStatisticsResult,
    BatchStatisticsSpec,
    batch_statistics_cost,
    build_batch_statistics_spec,
    check_batch_statistics_cost,
)

__all__ = [
    "DEFAULT_MAX_COST",
    "VARIANTS",
    "BatchStatisticsPoint",
    "BatchStatisticsResult",
    "BatchStatisticsSpec",
    "NormalizedMoments",
    "batch_statistics_cost",
    "build_batch_statistics_spec",
    "check_batch_statistics_cost",
    "exact_variance",
    "first_order_variance",
    "fixed_example",
    "iter_batches",
    "normalize_fixed_example",
    "normalized_moments",
    "normalized_pair",
    "simulate_batch_statistics",
    "simulate_point",
]
