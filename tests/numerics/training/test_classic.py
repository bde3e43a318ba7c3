"""The batch normalization paper's Figure 1, reproduced: the input of a sigmoid in the last hidden
layer of a 3 × 100 sigmoid network on real data drifts while the network trains, and stays put
with batch normalization.

Set-up (Ioffe & Szegedy 2015, §4.1, scaled to the shipped data): the UCI 8 × 8 digits (1,348
training rows, 449 test rows), hidden_widths [100, 100, 100], sigmoid, weights N(0, 0.01) ("small
random Gaussian values"), biases 0, SGD with learning rate 0.5, batches of 60, 1,000 steps,
logged every 50 steps (21 records), seed 0, tracked unit 0.

The measure, sweep: over the logged steps 0 … 1,000, how far each of the tracked unit's 15th, 50th
and 85th percentiles (on the 256 probe rows) moves, max - min, and the largest of the three; in
units of z, the sigmoid's input. The same over all 100 units' values ("layer sweep") as a check
that the tracked unit is typical.

Measured (seeds 0-3 × tracked units 0-2, twelve runs):
    without batch norm   unit sweep 1.39 … 3.79 (seed 0, unit 0: 1.98)   layer sweep 2.11 … 2.16
    with batch norm      unit sweep 0.53 … 0.90 (seed 0, unit 0: 0.60)   layer sweep 0.57 … 0.59
    test accuracy        0.83 … 0.86 without, 0.97 … 0.99 with

Thresholds, between the two ranges: the unit sweep is above 1.2 without batch norm and below
1.0 with it, and the layer sweep above 1.8 without and below 0.8 with. (With batch norm the
band still widens a little as γ grows: it is the learned scale, not a drift of the statistics.)
"""

from __future__ import annotations

import numpy as np

from service.numerics.training import StepRecord, build_training_spec, run_training

UNIT_DRIFTS, UNIT_STAYS = 1.2, 1.0
LAYER_DRIFTS, LAYER_STAYS = 1.8, 0.8


def sweep(records: list[StepRecord], field: str) -> float:
    """max over the 15/50/85th percentiles of (max - min over the logged steps), last layer."""
    bands = np.array([getattr(r.layers[-1], field) for r in records])
    return float(np.ptp(bands, axis=0).max())


def test_without_batch_norm_the_sigmoid_inputs_drift_and_with_it_they_stay_put() -> None:
    spec = build_training_spec(
        dataset={"name": "digits"},
        hidden_widths=[100, 100, 100],
        activation="sigmoid",
        init="custom",
        weight_variance=0.01,
        normalization="none",
        compare=["batch"],
        optimizer={"name": "sgd", "learning_rate": 0.5},
        batch_size=60,
        steps=1000,
        log_every=50,
        seed=0,
        tracked_unit=0,
    )
    result = run_training(spec)
    plain = [r for r in result.records if r.variant == "none"]
    normalized = [r for r in result.records if r.variant == "batch"]
    assert len(plain) == len(normalized) == 21

    assert sweep(plain, "unit_percentiles") > UNIT_DRIFTS
    assert sweep(normalized, "unit_percentiles") < UNIT_STAYS
    assert sweep(plain, "layer_percentiles") > LAYER_DRIFTS
    assert sweep(normalized, "layer_percentiles") < LAYER_STAYS
    # Both learned; batch norm learned more in the same steps.
    summary = {s.variant: s for s in result.summary.variants}
    assert summary["none"].final_test_accuracy > 0.8
    assert summary["batch"].final_test_accuracy > summary["none"].final_test_accuracy
