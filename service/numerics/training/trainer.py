"""Training runs as iterators: one StepRecord per variant and logged step, computed when pulled.

    run = TrainingRun(spec)
    for record in run:            # logged steps in order; the variants interleaved at each
        ...                       # stop pulling to stop computing (a client went away)
    summary = run.summary()       # after the last record

Step s = 1 … steps of a variant: forward batch_indices[s-1] with θ_{s-1} (training mode,
batch norm updates its running statistics, noisy_batch applies noise row s-1), loss
batch_loss[s-1], backward, optimizer update → θ_s. A loss that is not finite stops the variant
(the step is reported, the update is not made). At a logged step s (spec.logged_steps: 0, every
log_every-th step, the last) the record is made after the update: evaluation over both splits,
the probe batch's distributions with θ_s and noise row s, and the update's gradient figures
(instruments.py); G′ for layer l is the gradient on batch s at θ_{s-1} with layers 1 … l-1 set
to θ_s, running statistics untouched.
"""

from __future__ import annotations

import math

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.training.draws import Draws
from service.numerics.training.instruments import (
    Distribution,
    UpdateFields,
    distribution,
    finite_or_none,
    update_fields,
)
from service.numerics.training.network import (
    Architecture,
    Noise,
    ParameterLayout,
    accuracy,
    backward,
    cross_entropy,
    forward,
    mean_cross_entropy,
)
from service.numerics.training.norms import RunningStats
from service.numerics.training.optimizers import Optimizer
from service.numerics.training.records import (
    LayerRecord,
    StepRecord,
    VariantSummary,
)
from service.numerics.training.spec import TrainingSpec

NO_UPDATE = "step 0 is the initial state: no update yet"


class VariantRun:
    """One variant's parameters, optimizer state, running statistics and history."""

    def __init__(self, spec: TrainingSpec, variant: str, draws: Draws) -> None:
        self.spec = spec
        self.variant = variant
        self.draws = draws
        self.architecture = Architecture(
            widths=spec.widths,
            activation=spec.activation,
            negative_slope=spec.negative_slope,
            variant=variant,
            eps=spec.eps,
            momentum=spec.momentum,
            groups=spec.groups,
        )
        self.layout = ParameterLayout(self.architecture)
        self.flat = np.zeros(self.layout.size)
        self.params = self.layout.views(self.flat)
        for layer, weight in zip(self.params, draws.weights, strict=True):
            layer.weight[...] = weight
            if layer.scale is not None:
                layer.scale.fill(1.0)
        self.grad_flat = np.zeros(self.layout.size)
        self.grads = self.layout.views(self.grad_flat)
        self.optimizer = Optimizer(spec.optimizer, self.layout.size)
        self.running = (
            [RunningStats.fresh(w) for w in spec.hidden_widths]
            if self.architecture.norm_kind == "batch"
            else None
        )
        self.probe_x = draws.dataset.x_train[draws.probe_indices]
        # Evaluation runs the probe rows (the train_* figures) and the test split in one
        # forward: with running statistics every row is normalized on its own.
        self.eval_x = np.vstack([self.probe_x, draws.dataset.x_test])
        self.eval_y = np.concatenate(
            [draws.dataset.y_train[draws.probe_indices], draws.dataset.y_test]
        )
        self.batch_loss = np.full(spec.steps, np.nan)
        self.step = 0
        self.diverged_at: int | None = None
        self.last_record: StepRecord | None = None
        self._previous_columns: list[FloatArray | None] = [None] * len(spec.hidden_widths)

    @property
    def finished(self) -> bool:
        return self.diverged_at is not None or self.step >= self.spec.steps

    def noise(self, row: int) -> list[Noise] | None:
        if self.variant != "noisy_batch":
            return None
        draws = self.draws
        return [(s[row], m[row]) for s, m in zip(draws.noise_scale, draws.noise_shift, strict=True)]

    def advance(self, target: int) -> StepRecord:
        """Train up to step `target` and return its record (or the diverged step's)."""
        first = self.step + 1
        dataset = self.draws.dataset
        before = gradient = None
        batch: tuple[FloatArray, np.ndarray] | None = None
        while self.step < target:
            s = self.step + 1
            rows = self.draws.batch_indices[s - 1]
            x, y = dataset.x_train[rows], dataset.y_train[rows]
            trace = forward(
                self.architecture,
                self.params,
                x,
                training=True,
                running=self.running,
                noise=self.noise(s - 1),
            )
            loss, grad_logits = cross_entropy(trace.logits, y)
            self.batch_loss[s - 1] = loss
            if not math.isfinite(loss):
                self.diverged_at = s
                return self._remember(self._diverged_record(first, s))
            backward(self.architecture, self.params, trace, grad_logits, self.grads)
            if s == target:
                before, gradient, batch = self.flat.copy(), self.grad_flat.copy(), (x, y)
            self.optimizer.step(self.flat, self.grad_flat)
            self.step = s
        return self._remember(self._record(first, target, before, gradient, batch))

    def _remember(self, record: StepRecord) -> StepRecord:
        self.last_record = record
        return record

    def _losses(self, first: int, last: int) -> tuple[float | None, ...]:
        values = self.batch_loss[first - 1 : last].tolist()
        return tuple(v if math.isfinite(v) else None for v in values)

    def _evaluate(self, reasons: dict[str, str]) -> tuple[list[float | None], list[FloatArray]]:
        """[train_loss, train_accuracy, test_loss, test_accuracy] in evaluation mode (train over
        the probe rows), and each hidden layer's z on the probe rows."""
        trace = forward(
            self.architecture, self.params, self.eval_x, training=False, running=self.running
        )
        probe = len(self.probe_x)
        figures: list[float | None] = []
        for split, rows in (("train", slice(0, probe)), ("test", slice(probe, None))):
            logits, labels = trace.logits[rows], self.eval_y[rows]
            loss = mean_cross_entropy(logits, labels)
            figures.append(finite_or_none(loss, f"{split}_loss", reasons))
            if np.isfinite(logits).all():
                figures.append(accuracy(logits, labels))
            else:
                figures.append(None)
                reasons[f"{split}_accuracy"] = "the logits are not finite"
        return figures, [layer.z[:probe] for layer in trace.layers]

    def _shifted_gradients(
        self, before: FloatArray, batch: tuple[FloatArray, np.ndarray], step: int
    ) -> list[FloatArray]:
        """G′ of every hidden layer's weight (layer 1: G itself, nothing precedes it)."""
        shifted = [self.grads[0].weight.copy()]
        mixed = np.empty_like(before)
        scratch_flat = np.zeros_like(before)
        mixed_params = self.layout.views(mixed)
        scratch = self.layout.views(scratch_flat)
        x, y = batch
        for index in range(1, self.architecture.hidden_layers):
            start = self.layout.starts[index]
            mixed[:start] = self.flat[:start]
            mixed[start:] = before[start:]
            trace = forward(
                self.architecture, mixed_params, x, training=True, noise=self.noise(step - 1)
            )
            _, grad_logits = cross_entropy(trace.logits, y)
            backward(
                self.architecture,
                mixed_params,
                trace,
                grad_logits,
                scratch,
                lowest_layer=index + 1,
                lowest_weight_only=True,
            )
            shifted.append(scratch[index].weight.copy())
        return shifted

    def _record(
        self,
        first: int,
        step: int,
        before: FloatArray | None,
        gradient: FloatArray | None,
        batch: tuple[FloatArray, np.ndarray] | None,
    ) -> StepRecord:
        spec = self.spec
        reasons: dict[str, str] = {}
        figures, probe_z = self._evaluate(reasons)
        train_loss, train_accuracy, test_loss, test_accuracy = figures
        if self.architecture.norm_kind == "batch":
            # Training mode differs from evaluation only where batch statistics (and noise) are.
            trace = forward(
                self.architecture, self.params, self.probe_x, training=True, noise=self.noise(step)
            )
            probe_z = [layer.z for layer in trace.layers]
        hidden = self.architecture.hidden_layers
        reasons_by_layer: list[dict[str, str]] = [{} for _ in range(hidden)]
        updates: list[UpdateFields | None] = [None] * hidden
        if before is not None and gradient is not None and batch is not None:
            shifted = self._shifted_gradients(before, batch, step)
            old, grads = self.layout.views(before), self.layout.views(gradient)
            updates = [
                update_fields(grads[i].weight, shifted[i], old[i].weight, self.params[i].weight,
                              reasons_by_layer[i])
                for i in range(hidden)
            ]  # fmt: skip
        layers = []
        for index, z in enumerate(probe_z):
            found = distribution(
                z,
                activation=spec.activation,
                tracked_unit=spec.tracked_unit,
                bins=spec.histogram_bins,
                value_range=spec.histogram_range,
                previous=self._previous_columns[index],
                reasons=reasons_by_layer[index],
            )
            self._previous_columns[index] = found.sorted_columns
            layers.append(_layer_record(index + 1, found, updates[index], reasons_by_layer[index]))
        return StepRecord(
            variant=self.variant,
            step=step,
            first_step=first,
            batch_losses=self._losses(first, step),
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            test_loss=test_loss,
            test_accuracy=test_accuracy,
            layers=tuple(layers),
            diverged=False,
            null_reasons=reasons,
        )

    def _diverged_record(self, first: int, step: int) -> StepRecord:
        why = f"the run diverged at step {step}: its minibatch loss is not finite"
        reasons = dict.fromkeys(_RECORD_FLOATS, why)
        reasons["batch_losses"] = f"the loss of step {step} is not finite"
        return StepRecord(
            variant=self.variant,
            step=step,
            first_step=first,
            batch_losses=self._losses(first, step),
            train_loss=None,
            train_accuracy=None,
            test_loss=None,
            test_accuracy=None,
            layers=(),
            diverged=True,
            null_reasons=reasons,
        )


_RECORD_FLOATS = ("train_loss", "train_accuracy", "test_loss", "test_accuracy", "layers")
_UPDATE_FIELDS = ("grad_norm", "update_ratio", "gradient_shift", "gradient_cosine")


def _layer_record(
    layer: int, found: Distribution, update: UpdateFields | None, reasons: dict[str, str]
) -> LayerRecord:
    if update is None:
        update = UpdateFields(None, None, None, None)
        reasons.update(dict.fromkeys(_UPDATE_FIELDS, NO_UPDATE))
    return LayerRecord(
        layer=layer,
        mean=found.mean,
        variance=found.variance,
        unit_percentiles=found.unit_percentiles,
        layer_percentiles=found.layer_percentiles,
        saturated_fraction=found.saturated_fraction,
        histogram=found.histogram,
        below_range=found.below_range,
        above_range=found.above_range,
        distribution_shift=found.distribution_shift,
        grad_norm=update.grad_norm,
        update_ratio=update.update_ratio,
        gradient_shift=update.gradient_shift,
        gradient_cosine=update.gradient_cosine,
        null_reasons=reasons,
    )


def variant_summary(run: VariantRun) -> VariantSummary:
    """How `run` ended (its last record's evaluation figures)."""
    record = run.last_record
    reasons: dict[str, str] = {}
    figures: list[float | None] = [None] * 4
    names = ("final_train_loss", "final_train_accuracy", "final_test_loss", "final_test_accuracy")
    if record is None:
        reasons.update(dict.fromkeys(names, "the run made no record"))
    elif record.diverged:
        why = f"the run diverged at step {record.step}"
        reasons.update(dict.fromkeys(names, why))
    else:
        figures = [record.train_loss, record.train_accuracy, record.test_loss, record.test_accuracy]
        for name, value, source in zip(names, figures, _RECORD_FLOATS, strict=False):
            if value is None:
                reasons[name] = record.null_reasons.get(source, "not available")
    return VariantSummary(
        variant=run.variant,
        steps_completed=run.step,
        diverged_at_step=run.diverged_at,
        final_train_loss=figures[0],
        final_train_accuracy=figures[1],
        final_test_loss=figures[2],
        final_test_accuracy=figures[3],
        null_reasons=reasons,
    )
