"""Batch-size simulations: build the numerics' spec from a validated request, refuse work above the
configured limits (CostLimitExceeded naming the setting), run it, and flatten the result.

batch_statistics: MAX_BATCH_STATISTICS_COST; batch_norm_modes and batch_size_sweep: MAX_SWEEP_COST
(the trainer's multiply-adds summed over the grid's runs)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from service.numerics.batch_size import GridOptions, ModesCell, SweepCell, build_grid_options
from service.numerics.batch_size import batch_norm_modes as numerics_modes
from service.numerics.batch_size import batch_size_sweep as numerics_sweep
from service.numerics.batch_size.cells import SHARED_FIELDS
from service.numerics.batch_statistics import (
    BatchStatisticsPoint,
    build_batch_statistics_spec,
    check_batch_statistics_cost,
    simulate_batch_statistics,
)
from service.simulations import batch_size_notes as notes

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


_GRID_FIELDS = ("epochs", "seed", "scale_learning_rate", "reference_batch_size")


def _grid_options(request: Mapping[str, Any]) -> GridOptions:
    shared = {k: request[k] for k in SHARED_FIELDS if request.get(k) is not None}
    shared["optimizer"] = request.get("optimizer") or {}
    return build_grid_options(shared, **{k: request[k] for k in _GRID_FIELDS})


def _echo(request: Mapping[str, Any], options: GridOptions, cost: int) -> dict[str, Any]:
    return {
        "batch_sizes": list(request["batch_sizes"]),
        "epochs": options.epochs,
        "seed": options.seed,
        "scale_learning_rate": options.scale_learning_rate,
        "reference_batch_size": options.reference_batch_size,
        "cost": cost,
    }


def _modes_cell(cell: ModesCell) -> dict[str, Any]:
    evaluation = cell.evaluation
    modes = [] if evaluation is None else [dataclasses.asdict(m) for m in evaluation.modes]
    gap = None
    if evaluation is not None:
        running, batch = evaluation.modes[0].test_accuracy, evaluation.modes[1].test_accuracy
        gap = None if running is None or batch is None else running - batch
    return {
        "batch_size": cell.batch_size,
        "momentum": cell.momentum,
        "learning_rate": cell.learning_rate,
        "steps": cell.steps,
        "diverged_at_step": cell.summary.diverged_at_step,
        "modes": modes,
        "accuracy_gap": gap,
        "layers": [] if evaluation is None else [dataclasses.asdict(x) for x in evaluation.layers],
        "request": cell.request,
    }


def batch_norm_modes(request: Mapping[str, Any], max_cost: float) -> dict[str, Any]:
    """Train a batch-norm network per (batch size, momentum) and evaluate it with running,
    batch and population statistics; refuses grids above MAX_SWEEP_COST."""
    options = _grid_options(request)
    cells, cost = numerics_modes(
        options,
        request["batch_sizes"],
        request["momenta"],
        max_cost=max_cost,
        limit_name="MAX_SWEEP_COST",
    )
    return {
        **_echo(request, options, cost),
        "momenta": list(request["momenta"]),
        "cells": [_modes_cell(cell) for cell in cells],
        "methods": notes.MODES_METHODS,
        "notes": notes.modes_notes(cells),
    }


def _sweep_cell(cell: SweepCell) -> dict[str, Any]:
    runs = [
        {
            "seed": run.seed,
            "final_train_loss": run.summary.final_train_loss,
            "final_train_accuracy": run.summary.final_train_accuracy,
            "final_test_loss": run.summary.final_test_loss,
            "final_test_accuracy": run.summary.final_test_accuracy,
            "diverged_at_step": run.summary.diverged_at_step,
            "request": run.request,
        }
        for run in cell.runs
    ]
    accuracy = cell.mean_test_accuracy
    return {
        "batch_size": cell.batch_size,
        "normalization": cell.normalization,
        "learning_rate": cell.learning_rate,
        "steps": cell.steps,
        "mean_test_accuracy": accuracy,
        "test_error": None if accuracy is None else 1.0 - accuracy,
        "mean_test_loss": cell.mean_test_loss,
        "test_accuracy_std": cell.test_accuracy_std,
        "runs": runs,
    }


def batch_size_sweep(request: Mapping[str, Any], max_cost: float) -> dict[str, Any]:
    """Final test accuracy and loss per (batch size, normalization); refuses sweeps whose runs
    cost more than MAX_SWEEP_COST multiply-adds together."""
    options = _grid_options(request)
    cells, cost = numerics_sweep(
        options,
        request["batch_sizes"],
        request["normalizations"],
        request["repeats"],
        max_cost=max_cost,
        limit_name="MAX_SWEEP_COST",
    )
    return {
        **_echo(request, options, cost),
        "normalizations": list(request["normalizations"]),
        "repeats": request["repeats"],
        "cells": [_sweep_cell(cell) for cell in cells],
        "methods": notes.SWEEP_METHODS,
        "notes": notes.sweep_notes(cells),
    }
