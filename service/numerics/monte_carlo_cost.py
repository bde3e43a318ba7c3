"""What a Monte Carlo run costs, from its spec alone: peak memory and work (multiply-adds), the
numbers `MAX_SIMULATION_MEMORY` and `MAX_SIMULATION_WORK` are checked against before anything
is allocated (monte_carlo.py runs the simulation).
"""

from __future__ import annotations

from typing import Final

from service.numerics.budget import BYTES_PER_VALUE, Budget, SimulationCost
from service.numerics.errors import CostLimitExceeded
from service.numerics.network import NetworkSpec

MAX_MONTE_CARLO_DEPTH: Final = 10_000

# Measured costs of one value, in multiply-adds (bench/notes.md, "Simulation limits"): an
# elementwise pass over a layer's (batch, width) output (the activation, its statistics, the
# histogram, normalization) and one drawn weight (the generator and its statistics).
ELEMENTWISE_WORK: Final = 200
DRAW_WORK: Final = 200
# A layer's fixed cost, whatever its size: ~0.4 ms of CPU measured for width 1 (the numpy calls,
# the statistics and the rendered row), and ~4.5 KB of results and answer a layer.
LAYER_WORK: Final = 2_500_000
LAYER_BYTES: Final = 6144
# (batch, width) arrays alive at once in a forward layer: h, z, the histogram's scratch, indices
# and pairs, and the activation's and statistics' temporaries (gelu's are the most: 10.5 measured).
FORWARD_ARRAYS: Final = 12


def monte_carlo_cost(
    spec: NetworkSpec, batch_size: int, *, backward: bool = False
) -> SimulationCost:
    """Peak memory and work of a run, from the spec alone (B = batch, n_l = widths[l]):

    work   = k · Σ_l (B · n_{l-1} · n_l + ELEMENTWISE_WORK · B · n_l + LAYER_WORK)
             + DRAW_WORK · Σ_l n_{l-1} n_l
    memory = 8 · (max_l n_{l-1} n_l + FORWARD_ARRAYS · B · max_l n_l) + LAYER_BYTES · L
             [+ 8 · Σ_l (n_{l-1} n_l + m · B · n_l) kept for the backward pass]

    with k = 2 backward (the gradient costs a forward again) else 1, and m = 2 with
    normalization (φ'(z) and x̂) else 1.
    """
    widths = spec.widths
    products = sum(widths[i] * widths[i + 1] for i in range(spec.depth))
    units = sum(widths[1:])
    passes = 2 if backward else 1
    work = passes * (
        batch_size * products + ELEMENTWISE_WORK * batch_size * units + LAYER_WORK * spec.depth
    )
    work += DRAW_WORK * products
    largest_product = max(widths[i] * widths[i + 1] for i in range(spec.depth))
    values = largest_product + FORWARD_ARRAYS * batch_size * max(widths)
    if backward:
        values += products + (2 if spec.normalization else 1) * batch_size * units
    return SimulationCost(
        memory_bytes=BYTES_PER_VALUE * values + LAYER_BYTES * spec.depth, work=work
    )


def check_monte_carlo_budget(
    spec: NetworkSpec, batch_size: int, backward: bool, budget: Budget
) -> SimulationCost:
    """The run's cost, or CostLimitExceeded naming the limit (MAX_MONTE_CARLO_DEPTH first)."""
    if spec.depth > MAX_MONTE_CARLO_DEPTH:
        raise CostLimitExceeded(
            f"Monte Carlo depth {spec.depth} is above max_monte_carlo_depth "
            f"{MAX_MONTE_CARLO_DEPTH}; use the analytic mode",
            field="depth",
            limit_name="max_monte_carlo_depth",
            limit=MAX_MONTE_CARLO_DEPTH,
            cost=spec.depth,
        )
    cost = monte_carlo_cost(spec, batch_size, backward=backward)
    widths = spec.widths
    products = [widths[i] * widths[i + 1] for i in range(spec.depth)]
    weight_bytes = BYTES_PER_VALUE * (max(products) + (sum(products) if backward else 0))
    budget.check(
        cost,
        what="this Monte Carlo run",
        advice="reduce width, depth or batch_size",
        work_field="batch_size",
        # The weight matrices dominate a wide network, the activations a large batch.
        memory_field="width" if 2 * weight_bytes >= cost.memory_bytes else "batch_size",
    )
    return cost
