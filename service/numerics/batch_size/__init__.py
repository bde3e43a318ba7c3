"""Batch size and batch norm after training: train versus evaluation mode over batch sizes and
momenta, and final accuracy over batch sizes × normalizations, built on the trainer.

    options = build_grid_options({"hidden_widths": [64, 64]}, epochs=3, seed=0,
                                 scale_learning_rate=True, reference_batch_size=32)
    cells, cost = batch_size_sweep(options, [2, 8, 32], ["batch", "group"], 1,
                                   max_cost=1e10, limit_name="MAX_SWEEP_COST")
    cells, cost = batch_norm_modes(options, [2, 32], [0.1], max_cost=..., limit_name=...)
"""

from service.numerics.batch_size.cells import (
    GridOptions,
    build_cell,
    build_grid_options,
    cell_learning_rate,
    cell_request,
)
from service.numerics.batch_size.grids import (
    ModesCell,
    SweepCell,
    SweepRun,
    batch_norm_modes,
    batch_size_sweep,
)
from service.numerics.batch_size.modes import (
    MODES,
    LayerMismatch,
    ModeFigures,
    ModesEvaluation,
    batch_rows,
    evaluate_modes,
    population_statistics,
)

__all__ = [
    "MODES",
    "GridOptions",
    "LayerMismatch",
    "ModeFigures",
    "ModesCell",
    "ModesEvaluation",
    "SweepCell",
    "SweepRun",
    "batch_norm_modes",
    "batch_rows",
    "batch_size_sweep",
    "build_cell",
    "build_grid_options",
    "cell_learning_rate",
    "cell_request",
    "evaluate_modes",
    "population_statistics",
]
