"""What a training run reports: one StepRecord per variant and logged step, then a summary.

Every float is finite or None; where it is None, `null_reasons` maps the field's name to why
(for example "no update yet at step 0", "defined for sigmoid and tanh only", "the run
diverged at step 41"). Counts are ints.

A record at logged step s describes the network after s updates (θ_s) and the update that led
to it (step s, which used batch s and the parameters θ_{s-1}); see trainer.py for the order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

PERCENTILES = (15.0, 50.0, 85.0)
# The input z of a sigmoid or tanh counts as saturated where the output is within 0.01 of the
# function's bounds: |z| >= atanh(0.99) = 2.647 for tanh, |z| >= logit(0.99) = ln 99 = 4.595 for
# sigmoid -- where φ' has dropped below 2% (tanh) and 4% (sigmoid) of its maximum.
SATURATION_MARGIN = 0.01
SATURATION_THRESHOLDS = {
    "tanh": math.atanh(1.0 - SATURATION_MARGIN),
    "sigmoid": math.log((1.0 - SATURATION_MARGIN) / SATURATION_MARGIN),
}


@dataclass(frozen=True)
class LayerRecord:
    """Hidden layer `layer` (1 … L) at one logged step.

    The distribution fields are over z, the input of the nonlinearity, on the fixed probe batch
    run through the network in training mode (batch statistics of the probe rows; noisy_batch
    with the noise in force at this step; running statistics untouched):

    mean, variance       over all probe rows and units (biased variance)
    unit_percentiles     15th/50th/85th percentiles of the tracked unit's values over the probe
                         rows (linear interpolation, as numpy.percentile and torch.quantile)
    layer_percentiles    the same over all probe rows and units
    saturated_fraction   share of values with |z| >= SATURATION_THRESHOLDS[activation]
                         (sigmoid and tanh only)
    histogram            counts in histogram_bins equal bins [e_k, e_k+1) over histogram_range
                         (spec; the last bin also holds high), edges = linspace(low, high,
                         bins + 1) as numpy.histogram; values outside are counted in
                         below_range / above_range
    distribution_shift   ICS (a): Σ_units W₁(z_unit now, z_unit at the previous logged step) / C,
                         the mean over units of the 1-D Wasserstein-1 distance between the two
                         empirical distributions of the unit over the probe rows
                         (= mean |sorted now - sorted before|)

    and over the update of step s (the minibatch's gradient, before weight decay):

    grad_norm            ‖G‖, G = ∂loss/∂W_l at θ_{s-1} (Frobenius norm)
    update_ratio         ‖W_l(θ_s) - W_l(θ_{s-1})‖ / ‖W_l(θ_{s-1})‖
    gradient_shift       ICS (b), Santurkar et al. 2018: ‖G - G′‖ with G′ = ∂loss/∂W_l on the
                         same batch after layers 1 … l-1 (all their parameters) took update s
    gradient_cosine      ⟨G, G′⟩ / (‖G‖·‖G′‖)
    """

    layer: int
    mean: float | None
    variance: float | None
    unit_percentiles: tuple[float | None, ...]
    layer_percentiles: tuple[float | None, ...]
    saturated_fraction: float | None
    histogram: tuple[int, ...]
    below_range: int
    above_range: int
    distribution_shift: float | None
    grad_norm: float | None
    update_ratio: float | None
    gradient_shift: float | None
    gradient_cosine: float | None
    null_reasons: Mapping[str, str]


@dataclass(frozen=True)
class StepRecord:
    """One variant at one logged step.

    batch_losses: the minibatch loss of every step since the previous record (steps
    first_step … step; at step 0 empty); None where the loss was not finite (the diverging
    step). train_*: mean cross-entropy and accuracy over the probe rows (a fixed sample of the
    training split), test_*: over the whole test split, both in evaluation mode (running
    statistics, no noise). diverged: this record closes a
    run whose loss stopped being finite at `step`.
    """

    variant: str
    step: int
    first_step: int
    batch_losses: tuple[float | None, ...]
    train_loss: float | None
    train_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None
    layers: tuple[LayerRecord, ...]
    diverged: bool
    null_reasons: Mapping[str, str]


@dataclass(frozen=True)
class VariantSummary:
    """How one variant ended: the last record's evaluation figures and where it stopped."""

    variant: str
    steps_completed: int
    diverged_at_step: int | None
    final_train_loss: float | None
    final_train_accuracy: float | None
    final_test_loss: float | None
    final_test_accuracy: float | None
    null_reasons: Mapping[str, str]


@dataclass(frozen=True)
class TrainingSummary:
    """The last event of a run: one summary per variant, in the spec's order."""

    variants: tuple[VariantSummary, ...]
    logged_steps: tuple[int, ...]
    histogram_edges: tuple[float, ...]
    train_rows: int
    test_rows: int
    probe_rows: int
