"""The batch-size sweep (service.numerics.batch_size.grids.batch_size_sweep): cells re-run alone
from their own request give the same numbers, the learning rate scales linearly, same seed same
numbers, and the cost limit is checked before anything runs."""

from __future__ import annotations

import pytest

from service.numerics.batch_size import (
    batch_size_sweep,
    build_cell,
    build_grid_options,
)
from service.numerics.batch_size.grids import STEP_OVERHEAD
from service.numerics.errors import CostLimitExceeded, NumericsError
from service.numerics.training import run_training, training_cost

OPTIONS = {
    "dataset": {"name": "blobs", "samples": 200, "classes": 3, "features": 4},
    "hidden_widths": [8, 8],
    "optimizer": {"name": "sgd", "learning_rate": 0.2, "momentum": 0.5},
    "groups": 2,
}


def _options(**overrides: object) -> object:
    values = {"epochs": 2, "seed": 5, "scale_learning_rate": True, "reference_batch_size": 16}
    values.update(overrides)
    return build_grid_options(OPTIONS, **values)  # type: ignore[arg-type]


def test_every_cell_reruns_alone_from_its_request() -> None:
    options = _options()
    cells, cost = batch_size_sweep(
        options, [2, 16], ["batch", "group", "none"], 2, max_cost=1e10, limit_name="L"
    )
    assert [(c.batch_size, c.normalization) for c in cells] == [
        (b, n) for b in (2, 16) for n in ("batch", "group", "none")
    ]
    for cell in cells:
        assert [run.seed for run in cell.runs] == [5, 6]
        for run in cell.runs:
            assert run.request["normalization"] == cell.normalization
            assert run.request["compare"] == []
            alone = run_training(build_cell(run.request)).summary.variants[0]
            assert alone == run.summary
        accuracies = [run.summary.final_test_accuracy for run in cell.runs]
        assert cell.mean_test_accuracy == pytest.approx(sum(accuracies) / 2)
    # Linear scaling from the reference batch size 16; the same number of epochs for each.
    assert cells[0].learning_rate == pytest.approx(0.2 * 2 / 16)
    assert cells[3].learning_rate == pytest.approx(0.2)
    train_rows = 150
    assert cells[0].steps == 2 * (train_rows // 2)
    assert cells[3].steps == 2 * (train_rows // 16)
    combined = [
        build_cell({**cell.runs[0].request, "compare": ["group", "none"]})
        for cell in cells
        if cell.normalization == "batch"
    ]
    # Two repeats of the same runs: the trainer's multiply-adds and a charge per step.
    assert cost == 2 * sum(
        training_cost(spec).multiply_adds + STEP_OVERHEAD * spec.steps * 3 for spec in combined
    )


def test_same_seed_same_sweep_and_no_scaling_keeps_the_rate() -> None:
    options = _options(scale_learning_rate=False)
    first = batch_size_sweep(options, [4, 8], ["layer"], 1, max_cost=1e10, limit_name="L")
    second = batch_size_sweep(options, [4, 8], ["layer"], 1, max_cost=1e10, limit_name="L")
    assert first == second
    assert {cell.learning_rate for cell in first[0]} == {0.2}
    assert first[0][0].test_accuracy_std is None


def test_the_cost_limit_is_named_before_anything_runs() -> None:
    with pytest.raises(CostLimitExceeded) as caught:
        batch_size_sweep(
            _options(), [2, 4], ["batch"], 1, max_cost=1e5, limit_name="MAX_SWEEP_COST"
        )
    assert caught.value.limit_name == "MAX_SWEEP_COST"
    assert "MAX_SWEEP_COST" in str(caught.value)


@pytest.mark.parametrize(
    ("sizes", "names", "repeats", "field"),
    [
        ([1, 4], ["batch"], 1, "batch_sizes[0]"),
        ([4], ["batch", "instance"], 1, "normalizations[1]"),
        ([4], ["layer", "layer"], 1, "normalizations"),
        ([4], [], 1, "normalizations"),
        ([4], ["layer"], 0, "repeats"),
        ([151], ["layer"], 1, "batch_sizes[0]"),
    ],
)
def test_bad_sweeps_name_the_field(sizes: list, names: list, repeats: int, field: str) -> None:
    with pytest.raises(NumericsError) as caught:
        batch_size_sweep(_options(), sizes, names, repeats, max_cost=1e10, limit_name="L")
    assert caught.value.field == field


def test_too_many_epochs_for_the_trainer_name_epochs() -> None:
    with pytest.raises(NumericsError) as caught:
        batch_size_sweep(_options(epochs=200), [1], ["layer"], 1, max_cost=1e12, limit_name="L")
    assert caught.value.field == "epochs"


def test_the_reference_batch_size_is_only_a_scale_and_widths_have_a_default() -> None:
    options = build_grid_options(
        {"dataset": {"name": "blobs", "samples": 20}},
        epochs=1,
        seed=0,
        scale_learning_rate=True,
        reference_batch_size=256,  # larger than the 15 training rows
    )
    cells, _ = batch_size_sweep(options, [4], ["layer"], 1, max_cost=1e10, limit_name="L")
    assert cells[0].learning_rate == pytest.approx(0.1 * 4 / 256)
    assert cells[0].runs[0].request["hidden_widths"] == [64, 64]
