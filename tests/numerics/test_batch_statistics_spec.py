"""Validating a batch-statistics request, and its cost against a limit."""

from __future__ import annotations

import math
from typing import Any

import pytest

from service.numerics.batch_statistics import (
    DEFAULT_MAX_COST,
    batch_statistics_cost,
    build_batch_statistics_spec,
    check_batch_statistics_cost,
)
from service.numerics.batch_statistics.spec import default_groups
from service.numerics.errors import CostLimitExceeded, NumericsError

ISSUE_EXAMPLE: dict[str, Any] = {
    "variant": "batch",
    "batch_sizes": [2, 4, 8, 16, 32],
    "z": 1.0,
    "features": 16,
    "samples": 20000,
    "seed": 1,
    "eps": 1e-5,
}


def test_the_issue_example_is_valid_and_within_the_default_cost() -> None:
    spec = build_batch_statistics_spec(**ISSUE_EXAMPLE)
    assert spec.batch_sizes == (2, 4, 8, 16, 32)
    assert (spec.groups, spec.spatial_size) == (None, 1)
    assert batch_statistics_cost(spec) == 20000 * 62 * 16
    assert check_batch_statistics_cost(spec) == 19_840_000 < DEFAULT_MAX_COST


def test_cost_above_the_limit_names_it() -> None:
    spec = build_batch_statistics_spec(**ISSUE_EXAMPLE)
    with pytest.raises(CostLimitExceeded) as caught:
        check_batch_statistics_cost(spec, max_cost=1e7)
    error = caught.value
    assert (error.limit_name, error.limit, error.cost) == ("max_cost", 1e7, 19_840_000)
    assert "max_cost" in str(error)


def test_instance_cost_counts_the_positions() -> None:
    spec = build_batch_statistics_spec("instance", [1, 3], features=2, samples=10, spatial_size=5)
    assert batch_statistics_cost(spec) == 10 * (1 + 3) * 2 * 5


@pytest.mark.parametrize(("features", "groups"), [(16, 8), (64, 32), (96, 32), (3, 1), (2, 1)])
def test_default_groups(features: int, groups: int) -> None:
    assert default_groups(features) == groups
    spec = build_batch_statistics_spec("group", [2], features=features)
    assert spec.groups == groups


def test_batch_size_one_is_refused_for_batch_norm_only() -> None:
    with pytest.raises(NumericsError) as caught:
        build_batch_statistics_spec("batch", [4, 1])
    assert caught.value.field == "batch_sizes[1]"
    assert "PyTorch raises for a batch of 1" in str(caught.value)
    assert build_batch_statistics_spec("layer", [1, 2]).batch_sizes == (1, 2)


@pytest.mark.parametrize(
    ("changes", "field", "message"),
    [
        ({"variant": "weight"}, "variant", "one of batch, group, layer, instance, rms"),
        ({"batch_sizes": []}, "batch_sizes", "between 1 and 32 entries"),
        ({"batch_sizes": list(range(2, 40))}, "batch_sizes", "between 1 and 32 entries"),
        ({"batch_sizes": "2,4"}, "batch_sizes", "a list of integers"),
        ({"batch_sizes": [2, 4, 2]}, "batch_sizes", "lists 2 more than once"),
        ({"batch_sizes": [2, True]}, "batch_sizes[1]", "must be an integer"),
        ({"batch_sizes": [2, 4.0]}, "batch_sizes[1]", "must be an integer"),
        ({"batch_sizes": [70000]}, "batch_sizes[0]", "[1, 65536]"),
        ({"z": math.inf}, "z", "finite"),
        ({"z": None}, "z", "must be a number"),
        ({"features": 0}, "features", "[1, 4096]"),
        ({"samples": 1}, "samples", "[2, 10000000]"),
        ({"seed": -1}, "seed", "[0, 9223372036854775807]"),
        ({"eps": -1.0}, "eps", "[0, 1000]"),
        ({"eps": 0.0}, "eps", "PyTorch raises for eps <= 0"),
        ({"groups": 4}, "groups", "only to group normalization"),
        ({"spatial_size": 4}, "spatial_size", "only to instance normalization"),
        ({"variant": "group", "groups": 3}, "groups", "must divide features = 16"),
        ({"variant": "group", "groups": 16}, "groups", "at least 2 channels per group"),
        ({"variant": "group", "groups": 0}, "groups", "[1, 16]"),
        ({"variant": "group", "features": 1}, "features", "features >= 2"),
        ({"variant": "layer", "features": 1}, "features", "features >= 2"),
        ({"variant": "instance", "spatial_size": 1}, "spatial_size", "[2, 1024]"),
        ({"batch_sizes": [2, 65536], "features": 128}, "batch_sizes[1]", "max_batch_values"),
    ],
)
def test_bad_requests_name_their_field(changes: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(NumericsError) as caught:
        build_batch_statistics_spec(**{**ISSUE_EXAMPLE, **changes})
    assert caught.value.field == field
    assert message in str(caught.value)


def test_rms_with_one_feature_and_eps_zero_for_per_example_variants_are_accepted() -> None:
    spec = build_batch_statistics_spec("rms", [2], features=1, eps=0.0)
    assert (spec.features, spec.eps) == (1, 0.0)
