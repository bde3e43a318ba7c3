"""Train versus evaluation mode: one trained batch-norm network evaluated three ways.

    running      evaluation mode (torch's model.eval()): every hidden layer normalizes with its
                 running statistics, each example on its own
    batch        training mode: the split is shuffled (seeded) and cut into batches of the
                 training batch size B, each normalized with its own batch's statistics (a
                 remainder of one row joins the last batch); running statistics untouched
    population   the exact statistics of the whole training split ("precise BN"): layer l's
                 mean and biased variance of a_l over all training rows, lower layers already
                 normalized with theirs; what the running statistics estimate

Per hidden layer l, with a_l = h_{l-1} W_l its pre-normalization input, (μ_R, σ²_R) the running
statistics, (μ_P, σ²_P) the population's and (μ_B, σ²_B) a batch's (biased), over units u:

    running_mean_offset      sqrt(mean_u ((μ_R - μ_P) / sqrt(σ²_P + eps))²)
    running_variance_ratio   mean_u (σ²_R + eps) / (σ²_P + eps)
    batch_mean_offset        sqrt(mean over batches and u of ((μ_B - μ_R) / sqrt(σ²_R + eps))²)
    batch_variance_ratio     mean over batches and u of (σ²_B + eps) / (σ²_R + eps)
                             (E[σ²_B] = (B - 1)/B · σ² for a biased batch variance)
    normalized_difference    sqrt(mean over test rows and u of (x̂_batch - x̂_running)²): how far
                             the two modes' normalized values lie apart at that layer
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.training.network import (
    Architecture,
    LayerParams,
    Trace,
    accuracy,
    forward,
    mean_cross_entropy,
)
from service.numerics.training.norms import RunningStats

MODES = ("running", "batch", "population")


@dataclass(frozen=True)
class ModeFigures:
    """Loss and accuracy of one mode on both splits (None where the logits are not finite)."""

    mode: str
    train_loss: float | None
    train_accuracy: float | None
    test_loss: float | None
    test_accuracy: float | None


@dataclass(frozen=True)
class LayerMismatch:
    layer: int
    running_mean_offset: float
    running_variance_ratio: float
    batch_mean_offset: float
    batch_variance_ratio: float
    normalized_difference: float


@dataclass(frozen=True)
class ModesEvaluation:
    modes: tuple[ModeFigures, ...]  # in MODES order
    layers: tuple[LayerMismatch, ...]


def batch_rows(rows: int, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
    """A seeded permutation of range(rows) cut into batches of batch_size (a last batch of one
    row joins the batch before it; a shorter last batch of two or more stays on its own)."""
    order = rng.permutation(rows)
    batches = [order[start : start + batch_size] for start in range(0, rows, batch_size)]
    if len(batches) > 1 and len(batches[-1]) == 1:
        last = batches.pop()
        batches[-1] = np.concatenate([batches[-1], last])
    return batches


def _pre_norm(trace: Trace, params: list[LayerParams], layer: int) -> FloatArray:
    """a_l = h_{l-1} W_l: no bias before batch norm."""
    result: FloatArray = trace.layers[layer].inputs @ params[layer].weight
    return result


def population_statistics(
    architecture: Architecture, params: list[LayerParams], x: FloatArray
) -> list[RunningStats]:
    """Each hidden layer's mean and biased variance of a_l over the rows of x, the layers below
    normalized with their own population statistics."""
    stats: list[RunningStats] = []
    for layer in range(architecture.hidden_layers):
        # Layers above `layer` get placeholder statistics; only a_layer is read.
        placeholder = [RunningStats.fresh(w) for w in architecture.widths[1 + layer : -1]]
        trace = forward(architecture, params, x, training=False, running=stats + placeholder)
        a = _pre_norm(trace, params, layer)
        stats.append(RunningStats(a.mean(axis=0), a.var(axis=0)))
    return stats


def _figures(mode: str, logits: list[FloatArray], labels: list[np.ndarray]) -> ModeFigures:
    values: list[float | None] = []
    for split_logits, split_labels in zip(logits, labels, strict=True):
        finite = bool(np.isfinite(split_logits).all())
        loss = mean_cross_entropy(split_logits, split_labels) if finite else None
        values += [loss, accuracy(split_logits, split_labels) if finite else None]
    return ModeFigures(mode, *values)


def batch_mode_logits(
    architecture: Architecture,
    params: list[LayerParams],
    x: FloatArray,
    batches: list[np.ndarray],
) -> tuple[FloatArray, list[Trace]]:
    """Logits of x in training mode, each batch normalized with its own statistics (rows back
    in x's order), and the traces of the batches."""
    logits = np.empty((len(x), architecture.widths[-1]))
    traces = []
    for rows in batches:
        trace = forward(architecture, params, x[rows], training=True)
        logits[rows] = trace.logits
        traces.append(trace)
    return logits, traces


def evaluate_modes(
    architecture: Architecture,
    params: list[LayerParams],
    running: list[RunningStats],
    splits: tuple[tuple[FloatArray, np.ndarray], tuple[FloatArray, np.ndarray]],
    batch_size: int,
    rng: np.random.Generator,
) -> ModesEvaluation:
    """The three modes on (train, test) splits and the per-layer mismatch (module docstring).
    rng shuffles the training split's batches, then the test split's."""
    (x_train, y_train), (x_test, y_test) = splits
    eps = architecture.eps
    labels = [y_train, y_test]
    population = population_statistics(architecture, params, x_train)
    running_traces = [
        forward(architecture, params, x, training=False, running=running) for x in (x_train, x_test)
    ]
    train_batches = batch_rows(len(x_train), batch_size, rng)
    test_batches = batch_rows(len(x_test), batch_size, rng)
    train_logits, _ = batch_mode_logits(architecture, params, x_train, train_batches)
    test_logits, test_traces = batch_mode_logits(architecture, params, x_test, test_batches)
    test_order = np.concatenate(test_batches)
    population_logits = [
        forward(architecture, params, x, training=False, running=population).logits
        for x in (x_train, x_test)
    ]
    modes = (
        _figures("running", [t.logits for t in running_traces], labels),
        _figures("batch", [train_logits, test_logits], labels),
        _figures("population", population_logits, labels),
    )
    layers = []
    for layer in range(architecture.hidden_layers):
        r, p = running[layer], population[layer]
        batch_a = [_pre_norm(trace, params, layer) for trace in test_traces]
        means = np.stack([a.mean(axis=0) for a in batch_a])
        variances = np.stack([a.var(axis=0) for a in batch_a])
        running_x_hat = (_pre_norm(running_traces[1], params, layer) - r.mean) / np.sqrt(
            r.var + eps
        )
        batch_x_hat = np.concatenate(
            [(a - a.mean(axis=0)) / np.sqrt(a.var(axis=0) + eps) for a in batch_a]
        )
        difference = batch_x_hat - running_x_hat[test_order]
        layers.append(
            LayerMismatch(
                layer=layer + 1,
                running_mean_offset=_rms((r.mean - p.mean) / np.sqrt(p.var + eps)),
                running_variance_ratio=float(np.mean((r.var + eps) / (p.var + eps))),
                batch_mean_offset=_rms((means - r.mean) / np.sqrt(r.var + eps)),
                batch_variance_ratio=float(np.mean((variances + eps) / (r.var + eps))),
                normalized_difference=_rms(difference),
            )
        )
    return ModesEvaluation(modes, tuple(layers))


def _rms(values: FloatArray) -> float:
    return float(np.sqrt(np.mean(np.square(values))))
