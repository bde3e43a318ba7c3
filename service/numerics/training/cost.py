"""What a training run costs, in work and in memory, before it runs.

Work counts multiply-adds, with S = Σ_l fan_in·fan_out over the L + 1 layers, H = Σ hidden
widths, P the parameter count, B the batch size, T the test rows, Q the probe rows:

    per step          3·B·S (forward, ∂W, ∂input) + 20·B·H (normalization, activation and their
                      derivatives) + 6·P (optimizer)
    per logged step   (2·Q + T)·S (the evaluation forward of the probe rows and the test split,
                      and batch norm's training-mode probe forward) + (L - 1)·3·B·S (G′)
    run               variants · (steps · per step + logged steps · per logged step)

The issue's simpler measure, steps × batch × S, is the first term over 3; this one also charges
the evaluation and instrumentation, which dominate when log_every is small.

Memory counts the float64 arrays the run keeps: per variant the parameters, gradients and
optimizer state (5·P), one forward's traces at the largest row count (evaluation: 4·(Q + T)·H), the
batch losses, the records (logged steps · L · (bins + 20)); shared: the data, the batch indices
(steps·B) and the noise (2·(steps + 1)·H, noisy_batch only).
"""

from __future__ import annotations

from dataclasses import dataclass

from service.numerics.errors import CostLimitExceeded
from service.numerics.training.spec import TrainingSpec

BYTES = 8


@dataclass(frozen=True)
class TrainingCost:
    multiply_adds: int
    memory_bytes: int
    variants: int
    logged_steps: int


def training_cost(spec: TrainingSpec) -> TrainingCost:
    """The work and memory of `spec` (module docstring)."""
    widths = spec.widths
    products = sum(widths[i] * widths[i + 1] for i in range(len(widths) - 1))
    hidden_units = sum(spec.hidden_widths)
    layers = len(spec.hidden_widths)
    params = products + sum(widths[1:]) + 2 * hidden_units
    rows = spec.dataset.samples
    batch = spec.batch_size
    logged = len(spec.logged_steps)
    variants = len(spec.variants)
    per_step = 3 * batch * products + 20 * batch * hidden_units + 6 * params
    evaluated = spec.probe_size + spec.dataset.test_rows
    per_log = (evaluated + spec.probe_size) * products + (layers - 1) * 3 * batch * products
    work = variants * (spec.steps * per_step + logged * per_log)
    per_variant = 5 * params + 4 * max(evaluated, batch) * hidden_units + spec.steps
    records = logged * layers * (spec.histogram_bins + 20)
    noise = 2 * (spec.steps + 1) * hidden_units if "noisy_batch" in spec.variants else 0
    shared = rows * (spec.dataset.features + 1) + spec.steps * batch + noise
    memory = BYTES * (variants * (per_variant + records) + shared)
    return TrainingCost(work, memory, variants, logged)


def check_training_cost(
    spec: TrainingSpec,
    max_cost: float,
    max_memory_bytes: float | None = None,
    *,
    cost_limit_name: str = "MAX_TRAINING_COST",
    memory_limit_name: str = "MAX_TRAINING_MEMORY",
) -> TrainingCost:
    """The cost, or CostLimitExceeded naming the limit it is above."""
    cost = training_cost(spec)
    if cost.multiply_adds > max_cost:
        raise CostLimitExceeded(
            f"this training run costs {cost.multiply_adds:,} multiply-adds, above the limit of "
            f"{max_cost:,.0f} ({cost_limit_name}); reduce steps, batch_size, the widths, the "
            "data set's samples, the compared variants, or log less often (raise log_every)",
            field=None,
            limit_name=cost_limit_name,
            limit=max_cost,
            cost=cost.multiply_adds,
        )
    if max_memory_bytes is not None and cost.memory_bytes > max_memory_bytes:
        raise CostLimitExceeded(
            f"this training run needs about {cost.memory_bytes / 2**20:,.0f} MiB, above the limit "
            f"of {max_memory_bytes / 2**20:,.0f} MiB ({memory_limit_name}); reduce steps, "
            "batch_size or the data set's samples",
            field=None,
            limit_name=memory_limit_name,
            limit=max_memory_bytes,
            cost=cost.memory_bytes,
        )
    return cost
