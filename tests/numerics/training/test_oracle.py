"""The oracle: every run replayed in PyTorch (float64, torch.nn modules, torch.optim) from its own
.npz arrays gives the same minibatch loss at every step (1e-9 relative over 300 steps) and the
same logged statistics (recomputed from torch's tensors at each logged step).

The configurations are ones whose trajectories are not chaotic: there, rounding differences of
1e-16 between two correct implementations (numpy's and torch's sums run in different orders)
stay near 1e-14 over 300 steps. Where training amplifies them exponentially (seen with group
norm over groups of 2-4 units at a high learning rate), two exact implementations part after a
few dozen steps whatever their quality, and no tolerance would be meaningful.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from service.numerics.training import (
    NORMALIZATIONS,
    StepRecord,
    TrainingSpec,
    build_training_spec,
    run_training,
)
from tests.numerics.training.torch_replay import Replay, replay

OPTIMIZERS = {
    "sgd": {"name": "sgd", "learning_rate": 0.1, "momentum": 0.9, "weight_decay": 1e-3},
    "adam": {"name": "adam", "learning_rate": 0.01, "weight_decay": 1e-3},
    "gentle": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.5},
}
LOSS_RTOL = 1e-9
STAT_RTOL, STAT_ATOL = 1e-9, 1e-12
EXACT = ("histogram", "below_range", "above_range")
UPDATE_FIELDS = ("grad_norm", "update_ratio", "gradient_shift", "gradient_cosine")


def _spec(variant: str, optimizer: str, **overrides: Any) -> TrainingSpec:
    options: dict[str, Any] = {
        "dataset": {"name": "blobs", "samples": 400, "classes": 3, "features": 6},
        "hidden_widths": [16, 16],
        "activation": "tanh",
        "init": "xavier_normal",
        "normalization": variant,
        "groups": 2,
        "optimizer": OPTIMIZERS[optimizer],
        "batch_size": 20,
        "steps": 300,
        "log_every": 50,
        "probe_size": 64,
        "histogram_range": [-3.0, 3.0],
        "seed": 5,
    }
    return build_training_spec(**{**options, **overrides})


def assert_records_equal(records: list[StepRecord], oracle: Replay) -> None:
    assert [r.step for r in records] == sorted(oracle.records)
    for record in records:
        expected = oracle.records[record.step]
        for name in ("train_loss", "train_accuracy", "test_loss", "test_accuracy"):
            assert getattr(record, name) == pytest.approx(expected[name], rel=STAT_RTOL), name
        for layer, want in zip(record.layers, expected["layers"], strict=True):  # type: ignore[call-overload]
            for name in sorted(set(want) | set(UPDATE_FIELDS)):
                got, value = getattr(layer, name), want.get(name)  # no update at step 0
                where = f"step {record.step} layer {layer.layer} {name}"
                if value is None:
                    assert got is None, where
                    assert name in layer.null_reasons, where
                elif name in EXACT:
                    assert (list(got) if isinstance(got, tuple) else got) == value, where
                else:
                    np.testing.assert_allclose(
                        got, value, rtol=STAT_RTOL, atol=STAT_ATOL, err_msg=where
                    )


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
@pytest.mark.parametrize("variant", [*NORMALIZATIONS, "noisy_batch"])
def test_minibatch_losses_and_logged_statistics_equal_a_torch_replay(
    variant: str, optimizer: str
) -> None:
    spec = _spec(variant, optimizer)
    result = run_training(spec)
    oracle = replay(spec, variant, result.arrays)
    losses = result.arrays["batch_loss"]
    assert losses.shape == (300,)
    np.testing.assert_allclose(losses, oracle.batch_loss, rtol=LOSS_RTOL, atol=0)
    assert losses[-1] < 0.7 * losses[0]  # it learned: the replay is not of a flat run
    assert_records_equal(list(result.records), oracle)


@pytest.mark.parametrize(
    ("activation", "init"),
    [("relu", "he_uniform"), ("leaky_relu", "orthogonal"), ("sigmoid", "lecun_uniform"),
     ("gelu", "he_normal"), ("selu", "lecun_normal"), ("linear", "xavier_uniform")],
)  # fmt: skip
@pytest.mark.parametrize("variant", ["none", "batch"])
def test_every_activation_and_init_replays_in_torch(
    variant: str, activation: str, init: str
) -> None:
    spec = _spec(variant, "gentle", activation=activation, init=init, steps=100, log_every=25)
    result = run_training(spec)
    oracle = replay(spec, variant, result.arrays)
    np.testing.assert_allclose(result.arrays["batch_loss"], oracle.batch_loss, rtol=LOSS_RTOL)
    assert_records_equal(list(result.records), oracle)
