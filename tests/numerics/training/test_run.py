"""Training runs as streams: determinism, laziness, interleaved variants, divergence, and the
every-float-finite-or-None-with-a-reason contract."""

from __future__ import annotations

import dataclasses
import hashlib
import math
import subprocess
import sys
from typing import Any

import numpy as np
import pytest

from service.numerics.training import (
    StepRecord,
    TrainingRun,
    TrainingSummary,
    build_training_spec,
    history_arrays,
    run_training,
)

BASE: dict[str, Any] = {
    "dataset": {"name": "spirals", "samples": 300, "classes": 3, "features": 4},
    "hidden_widths": [12, 10],
    "activation": "tanh",
    "init": "xavier_normal",
    "optimizer": {"name": "sgd", "learning_rate": 0.2, "momentum": 0.9},
    "batch_size": 16,
    "steps": 60,
    "log_every": 20,
    "probe_size": 40,
    "seed": 9,
}
DIGEST = """
import hashlib, sys
from service.numerics.training import build_training_spec, run_training
from tests.numerics.training.test_run import BASE, digest
print(digest(run_training(build_training_spec(**BASE, compare=["batch", "noisy_batch"]))))
"""


def digest(result: Any) -> str:
    """A hash of every record (repr keeps floats exact) and every array's bytes."""
    hasher = hashlib.sha256(repr(result.records).encode() + repr(result.summary).encode())
    for name in sorted(result.arrays):
        hasher.update(name.encode() + result.arrays[name].tobytes())
    return hasher.hexdigest()


def test_the_same_spec_gives_the_same_bytes_here_and_in_another_process() -> None:
    spec = build_training_spec(**BASE, compare=["batch", "noisy_batch"])
    first = digest(run_training(spec))
    assert digest(run_training(spec)) == first
    other = subprocess.run(
        [sys.executable, "-c", DIGEST], capture_output=True, text=True, check=True, timeout=120
    )
    assert other.stdout.strip() == first
    assert digest(run_training(build_training_spec(**{**BASE, "seed": 10}))) != first


def test_records_are_computed_only_as_they_are_pulled() -> None:
    run = TrainingRun(build_training_spec(**{**BASE, "steps": 5000, "log_every": 10}))
    first, second = next(run), next(run)
    assert (first.step, second.step) == (0, 10)
    variant = run.variants[0]
    assert variant.step == 10
    assert np.isfinite(variant.batch_loss[:10]).all()
    assert np.isnan(variant.batch_loss[10:]).all()
    with pytest.raises(RuntimeError):
        run.summary()


def test_compared_variants_interleave_and_do_not_change_each_other() -> None:
    alone = run_training(build_training_spec(**BASE))
    together = run_training(build_training_spec(**BASE, compare=["batch", "noisy_batch"]))
    order = [(r.variant, r.step) for r in together.records]
    assert order == [(v, s) for s in (0, 20, 40, 60) for v in ("none", "batch", "noisy_batch")]
    none = [r for r in together.records if r.variant == "none"]
    assert none == list(alone.records)
    np.testing.assert_array_equal(together.arrays["batch_loss_none"], alone.arrays["batch_loss"])
    for name in ("x_train", "y_test", "batch_indices", "initial_weight_1", "initial_weight_3"):
        assert together.arrays[name].tobytes() == alone.arrays[name].tobytes()
    losses = {v: together.arrays[f"batch_loss_{v}"] for v in ("none", "batch", "noisy_batch")}
    assert not np.array_equal(losses["batch"], losses["noisy_batch"])
    assert [s.variant for s in together.summary.variants] == ["none", "batch", "noisy_batch"]


def test_events_end_with_the_summary() -> None:
    run = TrainingRun(build_training_spec(**BASE))
    events = list(run.events())
    assert all(isinstance(e, StepRecord) for e in events[:-1])
    summary = events[-1]
    assert isinstance(summary, TrainingSummary)
    assert summary.logged_steps == (0, 20, 40, 60)
    assert len(summary.histogram_edges) == 41
    assert summary.variants[0].steps_completed == 60
    assert summary.variants[0].final_test_loss == events[-2].test_loss


def test_a_diverging_variant_stops_with_its_step_while_the_others_go_on() -> None:
    spec = build_training_spec(
        **{
            **BASE,
            "activation": "linear",
            "init": "he_normal",
            "log_every": 10,
            "optimizer": {"name": "sgd", "learning_rate": 5.0, "momentum": 0.9},
        },
        compare=["batch"],
    )
    result = run_training(spec)
    summary = {s.variant: s for s in result.summary.variants}
    step = summary["none"].diverged_at_step
    assert step is not None
    assert 1 <= step <= 60
    assert summary["none"].steps_completed == step - 1
    assert summary["none"].final_test_loss is None
    assert "diverged" in summary["none"].null_reasons["final_test_loss"]
    last = [r for r in result.records if r.variant == "none"][-1]
    assert last.diverged
    assert last.step == step
    assert last.batch_losses[-1] is None
    assert "batch_losses" in last.null_reasons
    losses = result.arrays["batch_loss_none"]
    assert np.isfinite(losses[: step - 1]).all()
    assert not np.isfinite(losses[step - 1 :]).any()
    assert summary["batch"].diverged_at_step is None  # batch norm keeps it in check
    assert [r.step for r in result.records if r.variant == "batch"][-1] == 60


def _walk(value: Any, path: str, reasons: dict[str, str], problems: list[str]) -> None:
    if path == "diverged_at_step":  # an int, None when the run did not diverge
        return
    if dataclasses.is_dataclass(value):
        own = getattr(value, "null_reasons", reasons)
        for field in dataclasses.fields(value):
            _walk(getattr(value, field.name), field.name, own, problems)
    elif isinstance(value, tuple):
        for item in value:
            _walk(item, path, reasons, problems)
    elif value is None and path not in reasons:
        problems.append(f"{path} is None without a reason")
    elif isinstance(value, float) and not math.isfinite(value):
        problems.append(f"{path} = {value}")


@pytest.mark.parametrize(
    "change",
    [
        {"activation": "relu", "compare": ["batch", "layer", "group", "rms", "noisy_batch"],
         "groups": 2},
        {"activation": "linear", "optimizer": {"name": "sgd", "learning_rate": 5.0},
         "compare": ["batch"]},
        {"init": "custom", "weight_variance": 0.0},
    ],
)  # fmt: skip
def test_every_float_is_finite_or_none_with_a_reason(change: dict[str, Any]) -> None:
    result = run_training(build_training_spec(**{**BASE, **change}))
    problems: list[str] = []
    for record in result.records:
        _walk(record, "record", record.null_reasons, problems)
    _walk(result.summary, "summary", {}, problems)
    assert problems == []


def test_step_zero_has_no_update_and_the_first_layer_has_no_gradient_shift() -> None:
    records = run_training(build_training_spec(**BASE)).records
    start = records[0].layers[0]
    assert start.grad_norm is None
    assert "no update" in start.null_reasons["grad_norm"]
    assert start.distribution_shift is None
    later = records[1]
    assert later.layers[0].gradient_shift == 0.0  # nothing precedes layer 1
    assert later.layers[0].gradient_cosine == pytest.approx(1.0)
    assert later.layers[1].gradient_shift > 0.0
    assert -1.0 <= later.layers[1].gradient_cosine < 1.0
    assert later.layers[1].distribution_shift > 0.0
    assert (
        sum(later.layers[1].histogram) + later.layers[1].below_range + later.layers[1].above_range
        == 40 * 10
    )
    assert later.first_step == 1
    assert len(later.batch_losses) == 20


def test_replay_arrays_follow_the_npz_contract() -> None:
    spec = build_training_spec(**BASE, compare=["rms"])
    arrays = run_training(spec).arrays
    assert arrays["batch_indices"].shape == (60, 16)
    assert arrays["batch_indices"].dtype == np.int64
    per_epoch = spec.dataset.train_rows // 16
    for epoch in range(60 // per_epoch):
        rows = arrays["batch_indices"][epoch * per_epoch : (epoch + 1) * per_epoch].ravel()
        assert len(set(rows.tolist())) == rows.size  # each epoch draws rows without replacement
    for layer, (fan_in, fan_out) in enumerate([(4, 12), (12, 10), (10, 3)], start=1):
        assert arrays[f"initial_weight_{layer}"].shape == (fan_in, fan_out)
        assert arrays[f"initial_bias_{layer}"].shape == (fan_out,)
    assert arrays["initial_scale_1"].tolist() == [1.0] * 12
    assert "initial_shift_1" not in arrays  # rms has a scale only
    assert "initial_scale_3" not in arrays  # the output layer is not normalized
    floats = [a for n, a in arrays.items() if n not in ("y_train", "y_test", "batch_indices",
                                                          "probe_indices")]  # fmt: skip
    assert all(a.dtype == np.float64 for a in floats)
    columns = history_arrays([r for r in run_training(spec).records if r.variant == "rms"])
    assert columns["unit_percentiles"].shape == (4, 2, 3)
    assert columns["histogram"].shape == (4, 2, 40)
    assert np.isnan(columns["grad_norm"][0]).all()
    assert np.isfinite(columns["grad_norm"][1:]).all()
