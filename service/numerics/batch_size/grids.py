"""The two grids of trained networks: train versus evaluation mode over batch sizes × momenta, and
final accuracy over batch sizes × normalizations (the group normalization paper's experiment).

Cost: the sum of the trainer's cost (training.training_cost, multiply-adds) over the runs, plus
STEP_OVERHEAD per step and variant (the interpreter's share of a step, which dominates at small
batches: a 2 × 64 network trains a batch of 2 in about 0.3-0.7 ms, the time of ~1e6 multiply-adds,
against 1.2e5 counted), plus for the modes grid the evaluation forwards, 3·(train_rows +
test_rows)·S (S = Σ fan_in·fan_out); CostLimitExceeded naming `limit_name` above max_cost,
before anything runs.

Sweep: for each batch size and repeat r, one trainer run with seed + r trains every
normalization from the same data, initial weights and batch order; a cell's own request (one
normalization, compare empty) re-runs it alone with the same numbers. Test figures are the
trainer's evaluation mode (batch norm with its running statistics, as at inference).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

import numpy as np

from service.numerics.batch_size.cells import (
    MAX_REPEATS,
    GridOptions,
    batch_sizes,
    build_cell,
    cell_learning_rate,
    cell_request,
    integer,
)
from service.numerics.batch_size.modes import ModesEvaluation, evaluate_modes
from service.numerics.errors import CostLimitExceeded, NumericsError
from service.numerics.training import NORMALIZATIONS, TrainingRun, TrainingSpec, training_cost
from service.numerics.training.records import VariantSummary

MAX_MOMENTA: Final = 8
MODES_STREAM: Final = 7  # SeedSequence([seed, 7]): the batches of the batch-mode evaluation
STEP_OVERHEAD: Final = 1_000_000  # multiply-add equivalents per step and variant (see above)


@dataclass(frozen=True)
class ModesCell:
    batch_size: int
    momentum: float
    learning_rate: float
    steps: int
    request: dict[str, Any]
    summary: VariantSummary
    evaluation: ModesEvaluation | None  # None when training diverged


@dataclass(frozen=True)
class SweepRun:
    seed: int
    summary: VariantSummary
    request: dict[str, Any]


@dataclass(frozen=True)
class SweepCell:
    batch_size: int
    normalization: str
    learning_rate: float
    steps: int
    runs: tuple[SweepRun, ...]
    mean_test_accuracy: float | None  # over the runs that did not diverge
    mean_test_loss: float | None
    test_accuracy_std: float | None  # sample std over repeats (None for one run)


def grid_cost(specs: Sequence[TrainingSpec], extra: int = 0) -> int:
    """Σ (trainer's multiply-adds + STEP_OVERHEAD · steps · variants) + extra."""
    return extra + sum(
        training_cost(spec).multiply_adds + STEP_OVERHEAD * spec.steps * len(spec.variants)
        for spec in specs
    )


def _check_cost(specs: Sequence[TrainingSpec], extra: int, max_cost: float, limit: str) -> int:
    cost = grid_cost(specs, extra)
    if cost > max_cost:
        raise CostLimitExceeded(
            f"these {len(specs)} training runs cost {cost:,} multiply-adds together (with "
            f"{STEP_OVERHEAD:,} a step for the interpreter's work), above the "
            f"limit of {max_cost:,.0f} ({limit}); use fewer batch sizes, normalizations, "
            "momenta or repeats, fewer epochs, or smaller hidden widths",
            field="epochs",
            limit_name=limit,
            limit=max_cost,
            cost=cost,
        )
    return cost


def _momenta(values: object) -> tuple[float, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise NumericsError("momenta must be a list of numbers", "momenta")
    if not 1 <= len(values) <= MAX_MOMENTA:
        raise NumericsError(f"momenta must hold 1 to {MAX_MOMENTA} entries", "momenta")
    momenta = []
    for index, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise NumericsError(f"momenta[{index}] must be a number in (0, 1]", f"momenta[{index}]")
        momenta.append(float(value))
    if len(set(momenta)) != len(momenta):
        raise NumericsError("momenta must not repeat a value", "momenta")
    return tuple(momenta)


def _evaluation_cost(spec: TrainingSpec) -> int:
    widths = spec.widths
    products = sum(widths[i] * widths[i + 1] for i in range(len(widths) - 1))
    return 3 * spec.dataset.samples * products


def _train(spec: TrainingSpec) -> TrainingRun:
    run = TrainingRun(spec)
    for _ in run:
        pass
    return run


def batch_norm_modes(
    options: GridOptions,
    sizes: Sequence[int],
    momenta: Sequence[float],
    *,
    max_cost: float,
    limit_name: str,
) -> tuple[tuple[ModesCell, ...], int]:
    """Train a batch-norm network per (batch size, momentum), batch size major, and evaluate
    each in the three modes; returns the cells and the cost."""
    sizes = batch_sizes(sizes, options.train_rows, smallest=2)
    chosen = _momenta(momenta)
    requests = [
        cell_request(options, size, "batch", seed=options.seed, momentum=momentum)
        for size in sizes
        for momentum in chosen
    ]
    specs = [build_cell(request) for request in requests]
    if specs[0].dataset.test_rows < 2:
        raise NumericsError("the test split needs at least 2 rows", "dataset.samples")
    extra = sum(_evaluation_cost(spec) for spec in specs)
    cost = _check_cost(specs, extra, max_cost, limit_name)
    cells = []
    for request, spec in zip(requests, specs, strict=True):
        run = _train(spec)
        variant = run.variants[0]
        evaluation = None
        if variant.diverged_at is None:
            data = run.draws.dataset
            assert variant.running is not None
            stream = np.random.SeedSequence([spec.seed, MODES_STREAM])
            rng = np.random.Generator(np.random.PCG64(stream))
            with np.errstate(all="ignore"):
                evaluation = evaluate_modes(
                    variant.architecture,
                    variant.params,
                    variant.running,
                    ((data.x_train, data.y_train), (data.x_test, data.y_test)),
                    spec.batch_size,
                    rng,
                )
        cells.append(
            ModesCell(
                batch_size=spec.batch_size,
                momentum=spec.momentum,
                learning_rate=spec.optimizer.learning_rate,
                steps=spec.steps,
                request=request,
                summary=run.summary().variants[0],
                evaluation=evaluation,
            )
        )
    return tuple(cells), cost


def _normalizations(values: object) -> tuple[str, ...]:
    if isinstance(values, str | bytes) or not isinstance(values, Sequence) or not values:
        raise NumericsError("normalizations must be a non-empty list", "normalizations")
    for index, value in enumerate(values):
        if value not in NORMALIZATIONS:
            raise NumericsError(
                f"normalizations[{index}] must be one of {', '.join(NORMALIZATIONS)}",
                f"normalizations[{index}]",
            )
    if len(set(values)) != len(values):
        raise NumericsError("normalizations must not repeat a variant", "normalizations")
    return tuple(values)


def _cell(
    options: GridOptions, size: int, name: str, runs: list[tuple[int, VariantSummary]]
) -> SweepCell:
    kept = [s for _, s in runs if s.final_test_accuracy is not None]
    accuracies = [s.final_test_accuracy for s in kept if s.final_test_accuracy is not None]
    losses = [s.final_test_loss for s in kept if s.final_test_loss is not None]
    return SweepCell(
        batch_size=size,
        normalization=name,
        learning_rate=cell_learning_rate(options, size),
        steps=options.epochs * (options.train_rows // size),
        runs=tuple(
            SweepRun(seed, summary, cell_request(options, size, name, seed=seed))
            for seed, summary in runs
        ),
        mean_test_accuracy=float(np.mean(accuracies)) if accuracies else None,
        mean_test_loss=float(np.mean(losses)) if losses else None,
        test_accuracy_std=float(np.std(accuracies, ddof=1)) if len(accuracies) > 1 else None,
    )


def batch_size_sweep(
    options: GridOptions,
    sizes: Sequence[int],
    normalizations: Sequence[str],
    repeats: int,
    *,
    max_cost: float,
    limit_name: str,
) -> tuple[tuple[SweepCell, ...], int]:
    """Final test accuracy and loss per (batch size, normalization), batch size major, each the
    mean over `repeats` seeds seed, seed + 1, ...; returns the cells and the cost."""
    names = _normalizations(normalizations)
    smallest = 2 if "batch" in names else 1
    sizes = batch_sizes(sizes, options.train_rows, smallest=smallest)
    repeats = integer(repeats, "repeats", 1, MAX_REPEATS)
    if options.seed + repeats - 1 > 2**63 - 1:
        raise NumericsError("seed + repeats - 1 must stay below 2^63", "seed")
    plan = [
        (size, options.seed + r, cell_request(
            options, size, names[0], seed=options.seed + r, compare=names[1:]
        ))
        for size in sizes
        for r in range(repeats)
    ]  # fmt: skip
    specs = [build_cell(request) for _, _, request in plan]
    cost = _check_cost(specs, 0, max_cost, limit_name)
    results: dict[tuple[int, str], list[tuple[int, VariantSummary]]] = {}
    for (size, seed, _), spec in zip(plan, specs, strict=True):
        for summary in _train(spec).summary().variants:
            results.setdefault((size, summary.variant), []).append((seed, summary))
    cells = tuple(
        _cell(options, size, name, results[(size, name)]) for size in sizes for name in names
    )
    return cells, cost
