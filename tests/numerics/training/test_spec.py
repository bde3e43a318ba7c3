"""The spec's one validation entry point, and the cost it puts on a run."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.errors import CostLimitExceeded, NumericsError
from service.numerics.initializers import weight_variance
from service.numerics.training import build_training_spec, check_training_cost, training_cost

# The issue's example, field for field.
EXAMPLE: dict[str, Any] = {
    "dataset": {"name": "blobs", "samples": 600, "classes": 3, "features": 8},
    "hidden_widths": [100, 100, 100],
    "activation": "sigmoid",
    "init": "custom",
    "weight_variance": 0.01,
    "normalization": "batch",
    "eps": 1e-5,
    "momentum": 0.1,
    "groups": 4,
    "optimizer": {"name": "sgd", "learning_rate": 0.5, "momentum": 0.9, "weight_decay": 0},
    "batch_size": 60,
    "steps": 300,
    "log_every": 10,
    "seed": 1,
}


def test_the_issue_example_builds_with_every_field_kept() -> None:
    spec = build_training_spec(**EXAMPLE)
    assert spec.widths == (8, 100, 100, 100, 3)
    assert spec.weight_variances == (0.01,) * 4
    assert spec.variants == ("batch",)
    assert spec.optimizer.learning_rate == 0.5
    assert spec.optimizer.momentum == 0.9
    assert spec.dataset.train_rows == 450
    assert spec.dataset.test_rows == 150
    assert spec.logged_steps[:3] == (0, 10, 20)
    assert spec.logged_steps[-1] == 300
    assert len(spec.logged_steps) == 31


def test_defaults_resolve_the_init_gain_and_the_data_set() -> None:
    spec = build_training_spec(dataset={"name": "digits"}, hidden_widths=[32], activation="tanh")
    assert spec.init == "he_normal"
    assert spec.gain == pytest.approx(5.0 / 3.0)
    assert spec.weight_variances == (
        weight_variance("he_normal", 64, 32, 5.0 / 3.0),
        weight_variance("he_normal", 32, 10, 5.0 / 3.0),
    )
    assert (spec.dataset.samples, spec.dataset.classes, spec.dataset.features) == (1797, 10, 64)
    assert spec.variants == ("none",)
    assert build_training_spec(**{**EXAMPLE, "steps": 25, "log_every": 10}).logged_steps == (
        0, 10, 20, 25,
    )  # fmt: skip


def test_compare_runs_after_the_spec_own_normalization() -> None:
    spec = build_training_spec(**{**EXAMPLE, "normalization": "none", "compare": ["batch", "rms"]})
    assert spec.variants == ("none", "batch", "rms")
    assert spec.compare == ("batch", "rms")


BAD: list[tuple[dict[str, Any], str]] = [
    ({"dataset": {"samples": 100}}, "dataset.name"),
    ({"dataset": {"name": "mnist"}}, "dataset.name"),
    ({"dataset": {"name": "blobs", "samples": 5}}, "dataset.samples"),
    ({"dataset": {"name": "blobs", "colour": "red"}}, "dataset.colour"),
    ({"dataset": {"name": "digits", "features": 10}}, "dataset.features"),
    ({"dataset": {"name": "digits", "classes": 11}}, "dataset.classes"),
    ({"dataset": {"name": "digits", "samples": 1798}}, "dataset.samples"),
    ({"dataset": {"name": "xor", "classes": 3}}, "dataset.classes"),
    ({"dataset": {"name": "circles", "features": 1}}, "dataset.features"),
    ({"dataset": {"name": "blobs", "test_fraction": 0}}, "dataset.test_fraction"),
    ({"dataset": {"name": "blobs", "noise": -1}}, "dataset.noise"),
    ({"dataset": "blobs"}, "dataset"),
    ({"hidden_widths": []}, "hidden_widths"),
    ({"hidden_widths": [100, 0]}, "hidden_widths"),
    ({"hidden_widths": "100"}, "hidden_widths"),
    ({"hidden_widths": [100] * 33}, "hidden_widths"),
    ({"activation": "swish"}, "activation"),
    ({"init": "kaiming"}, "init"),
    ({"weight_variance": None}, "weight_variance"),
    ({"init": "he_normal"}, "weight_variance"),
    ({"gain": 2.0}, "gain"),
    ({"init": "he_normal", "weight_variance": None, "gain": 0}, "gain"),
    ({"normalization": "instance"}, "normalization"),
    ({"compare": ["batch"]}, "compare"),
    ({"compare": "none"}, "compare"),
    ({"compare": ["weight"]}, "compare"),
    ({"normalization": "group", "groups": 3}, "groups"),
    ({"eps": 0}, "eps"),
    ({"momentum": 1.5}, "momentum"),
    ({"optimizer": {"name": "rmsprop"}}, "optimizer.name"),
    ({"optimizer": {"learning_rate": 0}}, "optimizer.learning_rate"),
    ({"optimizer": {"momentum": -0.1}}, "optimizer.momentum"),
    ({"optimizer": {"betas": [1.0, 0.9]}}, "optimizer.betas"),
    ({"optimizer": {"betas": [0.9]}}, "optimizer.betas"),
    ({"optimizer": {"nesterov": True}}, "optimizer.nesterov"),
    ({"optimizer": {"eps": 0}}, "optimizer.eps"),
    ({"batch_size": 0}, "batch_size"),
    ({"batch_size": 451}, "batch_size"),
    ({"batch_size": 1}, "batch_size"),
    ({"steps": 0}, "steps"),
    ({"steps": 10**6}, "steps"),
    ({"log_every": 0}, "log_every"),
    ({"steps": 20000, "log_every": 1}, "log_every"),
    ({"seed": -1}, "seed"),
    ({"seed": True}, "seed"),
    ({"tracked_unit": 100}, "tracked_unit"),
    ({"probe_size": 1}, "probe_size"),
    ({"histogram_bins": 0}, "histogram_bins"),
    ({"histogram_range": [1.0, 1.0]}, "histogram_range"),
    ({"histogram_range": [0.0, float("inf")]}, "histogram_range"),
    ({"normalization": "noisy_batch", "noise": {"scale": 1.0}}, "noise.scale"),
    ({"noise": {"shift": -1}}, "noise.shift"),
]


@pytest.mark.parametrize(("change", "field"), BAD, ids=[f for _, f in BAD])
def test_a_bad_field_is_refused_by_name(change: dict[str, Any], field: str) -> None:
    options = {**EXAMPLE, **change}
    if isinstance(change.get("dataset"), dict) and "name" in change["dataset"]:
        options["batch_size"] = 2
    with pytest.raises(NumericsError) as caught:
        build_training_spec(**options)
    assert caught.value.field == field, str(caught.value)
    assert str(caught.value)


def _cost(**change: Any) -> int:
    return training_cost(build_training_spec(**{**EXAMPLE, **change})).multiply_adds


@settings(max_examples=40, deadline=None)
@given(
    steps=st.integers(1, 400),
    batch=st.integers(2, 100),
    width=st.integers(1, 60),
    samples=st.integers(40, 2000),
    log_every=st.integers(1, 50),
)
def test_cost_grows_with_every_size(
    steps: int, batch: int, width: int, samples: int, log_every: int
) -> None:
    base = {
        "dataset": {"name": "blobs", "samples": samples, "features": 4},
        "hidden_widths": [width, width],
        "steps": steps,
        "batch_size": min(batch, samples // 2),
        "log_every": min(log_every, steps),
        "normalization": "none",
    }
    cost = _cost(**base)
    s = (4 * width + width * width + width * 2) * base["batch_size"]
    assert cost >= steps * s  # the issue's measure, steps × batch × Σ fan_in·fan_out
    assert _cost(**{**base, "steps": steps + 1}) > cost
    assert _cost(**{**base, "hidden_widths": [width + 1, width]}) > cost
    assert _cost(**{**base, "dataset": {**base["dataset"], "samples": samples + 8}}) > cost
    assert _cost(**{**base, "compare": ["batch"]}) > cost
    if base["batch_size"] < samples // 2:
        assert _cost(**{**base, "batch_size": base["batch_size"] + 1}) > cost
    if base["log_every"] > 1:
        assert _cost(**{**base, "log_every": base["log_every"] - 1}) >= cost


def test_check_training_cost_names_the_limit_it_is_above() -> None:
    spec = build_training_spec(**EXAMPLE)
    cost = training_cost(spec)
    assert check_training_cost(spec, cost.multiply_adds) == cost
    with pytest.raises(CostLimitExceeded) as caught:
        check_training_cost(spec, cost.multiply_adds - 1)
    assert caught.value.limit_name == "MAX_TRAINING_COST"
    assert caught.value.cost == cost.multiply_adds
    assert "MAX_TRAINING_COST" in str(caught.value)
    with pytest.raises(CostLimitExceeded) as caught:
        check_training_cost(spec, 1e18, cost.memory_bytes - 1)
    assert caught.value.limit_name == "MAX_TRAINING_MEMORY"
    assert 2**20 < cost.memory_bytes < 2**30
