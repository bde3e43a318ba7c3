"""The training runs of a batch-size grid: one trainer request per cell, built from shared options.

A cell trains for a fixed number of epochs, so every batch size sees the same examples:
steps = epochs · ⌊train_rows / B⌋ (the trainer drops the remainder of each epoch, as
DataLoader(drop_last=True)). With scale_learning_rate the optimizer's learning rate is
lr · B / reference_batch_size (the linear scaling rule); otherwise lr for every B.

A cell's trainer request is the keyword arguments of training.build_training_spec (plain JSON
values), so a cell can be re-run alone through the trainer (or /v1/simulations/training) with
the same seed and gives the same numbers: the trainer draws data, weights and batch order from
the seed alone, and a variant's numbers do not depend on the variants compared with it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

from service.numerics.errors import NumericsError
from service.numerics.training import build_training_spec
from service.numerics.training.datasets import build_dataset_spec
from service.numerics.training.spec import MAX_STEPS, TrainingSpec

MAX_GRID_BATCH_SIZES: Final = 12
MAX_EPOCHS: Final = 200
MAX_REPEATS: Final = 10
MAX_REFERENCE_BATCH_SIZE: Final = 1 << 20
DEFAULT_HIDDEN_WIDTHS: Final = (64, 64)
# Trainer fields a grid request may set; the grid owns batch_size, steps, log_every,
# normalization, compare and momentum (modes) and the optimizer's learning_rate.
SHARED_FIELDS: Final = (
    "dataset",
    "hidden_widths",
    "activation",
    "negative_slope",
    "init",
    "weight_variance",
    "gain",
    "eps",
    "groups",
    "probe_size",
)


@dataclass(frozen=True)
class GridOptions:
    """What every cell shares: the trainer's options, the optimizer, epochs and seeds."""

    shared: Mapping[str, Any]
    optimizer: Mapping[str, Any]
    learning_rate: float
    scale_learning_rate: bool
    reference_batch_size: int
    epochs: int
    seed: int
    train_rows: int


def integer(value: object, field: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise NumericsError(f"{field} must be an integer in [{low}, {high}], got {value!r}", field)
    return value


def batch_sizes(values: object, train_rows: int, *, smallest: int = 1) -> tuple[int, ...]:
    """Distinct batch sizes in [smallest, train_rows], at most MAX_GRID_BATCH_SIZES."""
    if isinstance(values, str | bytes) or not isinstance(values, Sequence):
        raise NumericsError("batch_sizes must be a list of integers", "batch_sizes")
    if not 1 <= len(values) <= MAX_GRID_BATCH_SIZES:
        raise NumericsError(
            f"batch_sizes must hold 1 to {MAX_GRID_BATCH_SIZES} entries", "batch_sizes"
        )
    sizes = tuple(
        integer(v, f"batch_sizes[{i}]", smallest, train_rows) for i, v in enumerate(values)
    )
    if len(set(sizes)) != len(sizes):
        raise NumericsError("batch_sizes must not repeat a batch size", "batch_sizes")
    return sizes


def build_grid_options(
    options: Mapping[str, Any],
    *,
    epochs: int,
    seed: int,
    scale_learning_rate: bool,
    reference_batch_size: int,
) -> GridOptions:
    """Check the grid's own fields; the trainer's fields are checked when the cells are built
    (its errors name them: "dataset.samples", "optimizer.learning_rate", ...). Defaults: the
    digits, hidden widths DEFAULT_HIDDEN_WIDTHS, learning rate 0.1, the trainer's others."""
    unknown = sorted(set(options) - {*SHARED_FIELDS, "optimizer"})
    if unknown:
        raise NumericsError(f"unknown training option {unknown[0]!r}", unknown[0])
    dataset = build_dataset_spec(options.get("dataset", {"name": "digits"}))
    optimizer = dict(options.get("optimizer") or {})
    if "learning_rate" not in optimizer:
        optimizer["learning_rate"] = 0.1
    learning_rate = optimizer["learning_rate"]
    if isinstance(learning_rate, bool) or not isinstance(learning_rate, int | float):
        raise NumericsError("optimizer.learning_rate must be a number", "optimizer.learning_rate")
    if not isinstance(scale_learning_rate, bool):
        raise NumericsError("scale_learning_rate must be true or false", "scale_learning_rate")
    shared = {k: v for k, v in options.items() if k in SHARED_FIELDS}
    shared["dataset"] = dict(dataset.__dict__)
    shared.setdefault("hidden_widths", list(DEFAULT_HIDDEN_WIDTHS))
    return GridOptions(
        shared=shared,
        optimizer=optimizer,
        learning_rate=float(learning_rate),
        scale_learning_rate=scale_learning_rate,
        # Only a scale for the learning rate: it need not fit the data set.
        reference_batch_size=integer(
            reference_batch_size, "reference_batch_size", 1, MAX_REFERENCE_BATCH_SIZE
        ),
        epochs=integer(epochs, "epochs", 1, MAX_EPOCHS),
        seed=integer(seed, "seed", 0, 2**63 - 1),
        train_rows=dataset.train_rows,
    )


def cell_learning_rate(options: GridOptions, batch_size: int) -> float:
    """lr · B / reference_batch_size with scale_learning_rate, else lr."""
    if not options.scale_learning_rate:
        return options.learning_rate
    return options.learning_rate * batch_size / options.reference_batch_size


def cell_request(
    options: GridOptions,
    batch_size: int,
    normalization: str,
    *,
    seed: int,
    compare: Sequence[str] = (),
    momentum: float | None = None,
) -> dict[str, Any]:
    """The trainer request (build_training_spec's keyword arguments, JSON values) of one cell."""
    steps = options.epochs * (options.train_rows // batch_size)
    if steps > MAX_STEPS:
        raise NumericsError(
            f"{options.epochs} epochs at batch size {batch_size} take {steps} steps, above the "
            f"trainer's {MAX_STEPS}; lower epochs or raise the smallest batch size",
            "epochs",
        )
    request: dict[str, Any] = {
        **options.shared,
        "optimizer": {
            **options.optimizer,
            "learning_rate": cell_learning_rate(options, batch_size),
        },
        "normalization": normalization,
        "compare": list(compare),
        "batch_size": batch_size,
        "steps": steps,
        "log_every": steps,
        "seed": seed,
    }
    if momentum is not None:
        request["momentum"] = momentum
    return request


def build_cell(request: Mapping[str, Any]) -> TrainingSpec:
    """The trainer's spec of a cell request (its errors name the trainer's fields)."""
    return build_training_spec(**request)
