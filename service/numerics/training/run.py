"""The public face of a training run: an iterator of records, its summary, and its arrays.

    run = TrainingRun(spec)             # draws the data, the weights and the batch order
    for record in run: ...              # StepRecord per logged step, variants interleaved
    run.summary()                       # TrainingSummary, once the records are exhausted
    run.events()                        # the records, then the summary (one stream)
    run.replay_arrays()                 # what a script needs to replay the run (.npz names)
    history_arrays(records)             # one variant's records as column arrays (NaN = null)

Records are computed when pulled, so a consumer that stops pulling stops the computation.
Every run of the same spec gives the same records and arrays, bit for bit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from service.numerics.training.draws import draw
from service.numerics.training.records import PERCENTILES, StepRecord, TrainingSummary
from service.numerics.training.spec import TrainingSpec
from service.numerics.training.trainer import VariantRun, variant_summary


class TrainingRun(Iterator[StepRecord]):
    """All variants of one spec, trained in lockstep: at each logged step every variant that
    has not diverged advances to it and yields its record, in the spec's variant order."""

    def __init__(self, spec: TrainingSpec) -> None:
        self.spec = spec
        self.draws = draw(spec)
        self.variants = tuple(VariantRun(spec, name, self.draws) for name in spec.variants)
        self._records = self._generate()
        self._exhausted = False

    def _generate(self) -> Iterator[StepRecord]:
        for step in self.spec.logged_steps:
            for variant in self.variants:
                if not variant.finished:
                    # Overflow is part of what a run can show (a diverging variant); the
                    # records say where values stopped being finite, so no warnings.
                    with np.errstate(all="ignore"):
                        record = variant.advance(step)
                    yield record
        self._exhausted = True

    def __next__(self) -> StepRecord:
        return next(self._records)

    def summary(self) -> TrainingSummary:
        """The run's summary; raises RuntimeError while records are still to come."""
        if not self._exhausted:
            raise RuntimeError("the summary is ready once every record has been pulled")
        low, high = self.spec.histogram_range
        edges = np.linspace(low, high, self.spec.histogram_bins + 1)
        return TrainingSummary(
            variants=tuple(variant_summary(v) for v in self.variants),
            logged_steps=self.spec.logged_steps,
            histogram_edges=tuple(edges.tolist()),
            train_rows=self.spec.dataset.train_rows,
            test_rows=self.spec.dataset.test_rows,
            probe_rows=self.spec.probe_size,
        )

    def events(self) -> Iterator[StepRecord | TrainingSummary]:
        """The records as they are computed, then the summary."""
        yield from self
        yield self.summary()

    def replay_arrays(self) -> dict[str, np.ndarray]:
        """The .npz contract (float64 arrays, int64 labels and indices):

        x_train, y_train, x_test, y_test; batch_indices (steps, batch_size): the training rows
        of each step in order; batch_loss (steps,): each step's minibatch loss, NaN from a
        diverged step on (first variant; with compare also batch_loss_<variant> for every
        variant); initial_weight_<l> (fan_in, fan_out) and initial_bias_<l> for l = 1 … L + 1,
        output last; initial_scale_<l> and initial_shift_<l> for the hidden layers when a
        variant normalizes (shift when one has a shift: all but rms); probe_indices, the
        probe batch's training rows; noise_scale_<l>, noise_shift_<l> (steps + 1, width) for
        noisy_batch. Arrays of steps not yet run hold NaN.
        """
        draws = self.draws
        data = draws.dataset
        arrays: dict[str, np.ndarray] = {
            "x_train": data.x_train,
            "y_train": data.y_train,
            "x_test": data.x_test,
            "y_test": data.y_test,
            "batch_indices": draws.batch_indices,
            "batch_loss": self.variants[0].batch_loss.copy(),
        }
        if len(self.variants) > 1:
            for variant in self.variants:
                arrays[f"batch_loss_{variant.variant}"] = variant.batch_loss.copy()
        for index, weight in enumerate(draws.weights):
            arrays[f"initial_weight_{index + 1}"] = weight
            arrays[f"initial_bias_{index + 1}"] = np.zeros(weight.shape[1])
        kinds = {v.architecture.norm_kind for v in self.variants} - {None}
        for index, width in enumerate(self.spec.hidden_widths):
            if kinds:
                arrays[f"initial_scale_{index + 1}"] = np.ones(width)
            if kinds - {"rms"}:
                arrays[f"initial_shift_{index + 1}"] = np.zeros(width)
        arrays["probe_indices"] = draws.probe_indices
        for index, (scale, shift) in enumerate(
            zip(draws.noise_scale, draws.noise_shift, strict=True)
        ):
            arrays[f"noise_scale_{index + 1}"] = scale
            arrays[f"noise_shift_{index + 1}"] = shift
        return arrays


@dataclass(frozen=True)
class TrainingResult:
    records: tuple[StepRecord, ...]
    summary: TrainingSummary
    arrays: dict[str, np.ndarray]


def run_training(spec: TrainingSpec) -> TrainingResult:
    """Train to the end (or divergence) and keep everything."""
    run = TrainingRun(spec)
    records = tuple(run)
    return TrainingResult(records, run.summary(), run.replay_arrays())


def _floats(values: Sequence[object]) -> np.ndarray:
    return np.array([np.nan if v is None else v for v in values], dtype=np.float64)


def history_arrays(records: Sequence[StepRecord]) -> dict[str, np.ndarray]:
    """One variant's non-diverged records as columns, NaN where a record holds None:

    step (n,) int64; train_loss, train_accuracy, test_loss, test_accuracy (n,); per hidden
    layer: mean, variance, saturated_fraction, distribution_shift, grad_norm, update_ratio,
    gradient_shift, gradient_cosine (n, L); unit_percentiles, layer_percentiles (n, L, 3);
    histogram (n, L, bins), below_range, above_range (n, L) int64.
    """
    kept = [r for r in records if not r.diverged]
    columns: dict[str, np.ndarray] = {"step": np.array([r.step for r in kept], dtype=np.int64)}
    for name in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
        columns[name] = _floats([getattr(r, name) for r in kept])
    layer_count = len(kept[0].layers) if kept else 0
    for name in ("mean", "variance", "saturated_fraction", "distribution_shift", "grad_norm",
                 "update_ratio", "gradient_shift", "gradient_cosine"):  # fmt: skip
        columns[name] = _floats([getattr(layer, name) for r in kept for layer in r.layers]).reshape(
            len(kept), layer_count
        )
    for name in ("unit_percentiles", "layer_percentiles"):
        columns[name] = _floats(
            [v for r in kept for layer in r.layers for v in getattr(layer, name)]
        ).reshape(len(kept), layer_count, len(PERCENTILES))
    bins = len(kept[0].layers[0].histogram) if layer_count else 0
    columns["histogram"] = np.array(
        [layer.histogram for r in kept for layer in r.layers], dtype=np.int64
    ).reshape(len(kept), layer_count, bins)
    for name in ("below_range", "above_range"):
        columns[name] = np.array(
            [getattr(layer, name) for r in kept for layer in r.layers], dtype=np.int64
        ).reshape(len(kept), layer_count)
    return columns
