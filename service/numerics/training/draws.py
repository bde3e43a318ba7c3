"""Everything a run draws at random, from its seed alone, shared by all compared variants.

np.random.SeedSequence(seed).spawn(5) gives five independent PCG64 streams, in this order:

    data     the data set and its split (datasets.make_dataset)
    init     W_l drawn as (fan_out, fan_in) like torch.nn.Linear.weight, layer by layer, and
             stored transposed as (fan_in, fan_out); "custom" draws N(0, weight_variance), every
             other init calls initializers.sample_weights. Biases 0, scales 1, shifts 0.
    batches  per epoch a permutation of the training rows cut into ⌊n_train / B⌋ batches of B
             rows (the remainder is dropped, as DataLoader(shuffle=True, drop_last=True))
    noise    noisy_batch only, per hidden layer in order: s (steps + 1, width) ~ U(1 - scale,
             1 + scale), then m (steps + 1, width) ~ U(-shift, shift). Row t is the noise in force
             with the parameters θ_t: training step t + 1 and the probe at logged step t use it.
    probe    probe_size training rows without replacement, sorted

So a variant added to `compare` changes none of the other variants' numbers.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from service.numerics.activations import FloatArray
from service.numerics.initializers import sample_weights
from service.numerics.training.datasets import Dataset, IntArray, make_dataset
from service.numerics.training.spec import TrainingSpec


@dataclass(frozen=True)
class Draws:
    dataset: Dataset
    weights: tuple[FloatArray, ...]  # (fan_in, fan_out) for l = 1 … L + 1
    batch_indices: IntArray  # (steps, batch_size)
    noise_scale: tuple[FloatArray, ...]  # (steps + 1, width) per hidden layer; () unless noisy
    noise_shift: tuple[FloatArray, ...]
    probe_indices: IntArray  # (probe_size,)


def _weights(spec: TrainingSpec, rng: np.random.Generator) -> tuple[FloatArray, ...]:
    widths = spec.widths
    weights = []
    for index in range(len(widths) - 1):
        fan_in, fan_out = widths[index], widths[index + 1]
        if spec.init == "custom":
            torch_layout = rng.standard_normal((fan_out, fan_in))
            torch_layout *= math.sqrt(spec.weight_variances[index])
        else:
            assert spec.gain is not None
            torch_layout = sample_weights(spec.init, fan_in, fan_out, spec.gain, rng)
        weights.append(np.ascontiguousarray(torch_layout.T))
    return tuple(weights)


def _batches(spec: TrainingSpec, rng: np.random.Generator) -> IntArray:
    rows, size = spec.dataset.train_rows, spec.batch_size
    per_epoch = rows // size
    epochs = -(-spec.steps // per_epoch)
    order = np.empty((epochs * per_epoch, size), dtype=np.int64)
    for epoch in range(epochs):
        permutation = rng.permutation(rows)[: per_epoch * size]
        order[epoch * per_epoch : (epoch + 1) * per_epoch] = permutation.reshape(per_epoch, size)
    return np.ascontiguousarray(order[: spec.steps])


def draw(spec: TrainingSpec) -> Draws:
    """Every random quantity of the run (see the module docstring for the streams' order)."""
    data_rng, init_rng, batch_rng, noise_rng, probe_rng = (
        np.random.Generator(np.random.PCG64(seed))
        for seed in np.random.SeedSequence(spec.seed).spawn(5)
    )
    dataset = make_dataset(spec.dataset, data_rng)
    scales: list[FloatArray] = []
    shifts: list[FloatArray] = []
    if "noisy_batch" in spec.variants:
        rows = spec.steps + 1
        for width in spec.hidden_widths:
            scales.append(
                noise_rng.uniform(1 - spec.noise.scale, 1 + spec.noise.scale, (rows, width))
            )
            shifts.append(noise_rng.uniform(-spec.noise.shift, spec.noise.shift, (rows, width)))
    probe = np.sort(probe_rng.choice(spec.dataset.train_rows, spec.probe_size, replace=False))
    return Draws(
        dataset=dataset,
        weights=_weights(spec, init_rng),
        batch_indices=_batches(spec, batch_rng),
        noise_scale=tuple(scales),
        noise_shift=tuple(shifts),
        probe_indices=probe.astype(np.int64),
    )
