"""The plain-words parts of the modes and sweep answers: which number is which, and what the
measured cells show (written from the cells, so the words always match the numbers)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final

from service.numerics.batch_size import ModesCell, SweepCell

MODES_METHODS: Final = {
    "running": "evaluation mode (PyTorch's model.eval()): every layer normalizes with the "
    "running averages of the batch statistics seen in training; each example on its own",
    "batch": "training mode: the split shuffled (seeded) and cut into batches of the training "
    "batch size, each normalized with its own statistics; what the network saw while learning",
    "population": "the exact mean and variance of every layer's input over the whole training "
    'split ("precise BN"): what the running averages try to estimate',
    "running_mean_offset": "RMS over units of (running mean - population mean) / population "
    "std: how far the running averages lag or miss",
    "running_variance_ratio": "mean over units of running variance / population variance",
    "batch_mean_offset": "RMS over test batches and units of (batch mean - running mean) / "
    "running std; about sqrt(1/B) from sampling alone",
    "batch_variance_ratio": "mean over test batches and units of biased batch variance / "
    "running variance; about (B - 1)/B from sampling alone",
    "normalized_difference": "RMS over test rows and units of the normalized value in "
    "training mode minus in evaluation mode: the mismatch the next layer sees",
    "accuracy_gap": "test accuracy with running statistics minus with batch statistics",
    "request": "the body of POST /v1/simulations/training that re-trains this cell (same seed, "
    "same numbers)",
}

SWEEP_METHODS: Final = {
    "mean_test_accuracy": "final test accuracy in evaluation mode (batch norm with its running "
    "statistics, as at inference), averaged over the repeats that did not diverge",
    "test_error": "1 - mean_test_accuracy, the quantity the group normalization paper plots",
    "steps": "epochs · floor(train_rows / batch_size): every batch size sees the same examples",
    "learning_rate": "lr · batch_size / reference_batch_size with scale_learning_rate, else lr",
    "runs": "one entry per seed (seed, seed + 1, ...); its request, sent as the body of POST "
    "/v1/simulations/training, re-runs it alone with the same numbers, because every "
    "normalization of a batch size trains from the same data, initial weights and batch order",
}

PAPER: Final = (
    "The group normalization paper (Wu and He, 2018) reports ResNet-50 on ImageNet: batch norm's "
    "error rises from 23.6% at 32 images per GPU to 34.7% at 2, while group norm stays near 24%. "
    "There a batch of 2 still gives each channel's statistics 2 × height × width values; in "
    "these fully connected networks a batch of B gives each unit only B values, so B = 2 maps "
    "every unit to ±1 and the effect is much stronger."
)


def _percent(value: float | None) -> str:
    return "n/a" if value is None else f"{100 * value:.1f}%"


def modes_notes(cells: Sequence[ModesCell]) -> list[str]:
    notes = [
        "The same trained network is evaluated three ways. In training mode an example's "
        "normalized value depends on the other examples of its batch; in evaluation mode on "
        "the running averages. The smaller the batch, the further apart the two are.",
        "The momentum only sets how fast the running averages follow the batches: training "
        "itself never reads them, so the batch and population figures are the same for every "
        "momentum and only the running figures change.",
    ]
    for cell in cells:
        if cell.evaluation is None:
            notes.append(
                f"Batch size {cell.batch_size}, momentum {cell.momentum:g}: training diverged "
                f"at step {cell.summary.diverged_at_step}, nothing to evaluate."
            )
            continue
        running, batch, population = cell.evaluation.modes
        notes.append(
            f"Batch size {cell.batch_size}, momentum {cell.momentum:g}: test accuracy "
            f"{_percent(running.test_accuracy)} with running statistics, "
            f"{_percent(batch.test_accuracy)} with batch statistics, "
            f"{_percent(population.test_accuracy)} with the population's."
        )
    return notes


def sweep_notes(cells: Sequence[SweepCell]) -> list[str]:
    notes = []
    for name in dict.fromkeys(cell.normalization for cell in cells):
        row = [cell for cell in cells if cell.normalization == name]
        figures = ", ".join(
            f"{_percent(None if a is None else 1 - a)} at {c.batch_size}"
            for c in row
            for a in (c.mean_test_accuracy,)
        )
        notes.append(f"{name}: test error {figures}.")
    notes.append(PAPER)
    return notes
