"""Train versus evaluation mode (service.numerics.batch_size.modes) against PyTorch: the trained
network loaded into torch.nn modules, model.eval() on the running statistics, model.train() per
batch on the same batches, and the population statistics recomputed by torch."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st

from service.numerics.batch_size import (
    batch_norm_modes,
    batch_rows,
    build_cell,
    build_grid_options,
    cell_request,
    evaluate_modes,
    population_statistics,
)
from service.numerics.errors import CostLimitExceeded, NumericsError
from service.numerics.training import TrainingRun
from tests.numerics.training.torch_replay import TorchNet

OPTIONS = {
    "dataset": {"name": "blobs", "samples": 300, "classes": 3, "features": 5},
    "hidden_widths": [12, 8],
    "activation": "tanh",
    "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9},
}


def _trained(batch_size: int, momentum: float) -> tuple[TrainingRun, TorchNet]:
    options = build_grid_options(
        OPTIONS, epochs=2, seed=4, scale_learning_rate=False, reference_batch_size=32
    )
    spec = build_cell(cell_request(options, batch_size, "batch", seed=4, momentum=momentum))
    run = TrainingRun(spec)
    for _ in run:
        pass
    variant = run.variants[0]
    model = TorchNet(spec, "batch", run.replay_arrays())
    with torch.no_grad():  # load the trained parameters and running statistics
        for index, linear in enumerate(model.linears):
            params = variant.params[index]
            linear.weight.copy_(torch.from_numpy(params.weight.T))
            if linear.bias is not None:
                linear.bias.copy_(torch.from_numpy(params.bias))
        for norm, params, running in zip(
            model.norms, variant.params, variant.running, strict=False
        ):
            norm.weight.copy_(torch.from_numpy(params.scale))
            norm.bias.copy_(torch.from_numpy(params.shift))
            norm.running_mean.copy_(torch.from_numpy(running.mean))
            norm.running_var.copy_(torch.from_numpy(running.var))
    return run, model


@pytest.mark.parametrize(("batch_size", "momentum"), [(2, 0.1), (5, 0.01), (32, 0.5)])
def test_three_modes_equal_pytorch(batch_size: int, momentum: float) -> None:
    run, model = _trained(batch_size, momentum)
    variant = run.variants[0]
    data = run.draws.dataset
    rng_seed = 11
    evaluation = evaluate_modes(
        variant.architecture,
        variant.params,
        variant.running,
        ((data.x_train, data.y_train), (data.x_test, data.y_test)),
        batch_size,
        np.random.default_rng(rng_seed),
    )
    running, batch, population = evaluation.modes
    x_test, y_test = torch.from_numpy(data.x_test), torch.from_numpy(data.y_test)
    model.eval()
    with torch.no_grad():
        logits = model(x_test)
    assert running.test_loss == pytest.approx(F.cross_entropy(logits, y_test).item(), rel=1e-12)
    low, high = _accuracy_range(logits, y_test)
    assert low <= running.test_accuracy <= high

    # Training mode, batch by batch on the same batches (running statistics restored after).
    rng = np.random.default_rng(rng_seed)
    batch_rows(len(data.x_train), batch_size, rng)  # the train split's batches come first
    saved = {name: b.clone() for name, b in model.named_buffers()}
    model.train()
    batch_logits = torch.empty_like(logits)
    with torch.no_grad():
        for rows in batch_rows(len(data.x_test), batch_size, rng):
            batch_logits[rows] = model(x_test[rows])
    assert batch.test_loss == pytest.approx(F.cross_entropy(batch_logits, y_test).item(), rel=1e-12)
    low, high = _accuracy_range(batch_logits, y_test)
    assert low <= batch.test_accuracy <= high

    # Population ("precise BN"): torch recomputes each layer's statistics over the train split.
    with torch.no_grad():
        for name, b in model.named_buffers():
            b.copy_(saved[name])
        h = torch.from_numpy(data.x_train)
        for norm, linear in zip(model.norms, model.linears, strict=False):
            a = linear(h)
            norm.running_mean.copy_(a.mean(0))
            norm.running_var.copy_(a.var(0, unbiased=False))
            norm.eval()
            h = model.activation(norm(a))
        model.eval()
        logits = model(x_test)
    assert population.test_loss == pytest.approx(F.cross_entropy(logits, y_test).item(), rel=1e-10)
    stats = population_statistics(variant.architecture, variant.params, data.x_train)
    for norm, mine in zip(model.norms, stats, strict=True):
        np.testing.assert_allclose(mine.mean, norm.running_mean.numpy(), rtol=1e-10, atol=1e-12)
        np.testing.assert_allclose(mine.var, norm.running_var.numpy(), rtol=1e-10)


@given(rows=st.integers(2, 300), size=st.integers(2, 64), seed=st.integers(0, 2**32))
def test_batches_cover_every_row_once(rows: int, size: int, seed: int) -> None:
    """Every row in exactly one batch; no batch of one (batch norm needs two values)."""
    batches = batch_rows(rows, size, np.random.default_rng(seed))
    assert sorted(np.concatenate(batches).tolist()) == list(range(rows))
    assert all(2 <= len(b) <= size + 1 for b in batches)
    assert all(len(b) == size for b in batches[:-1])


def _accuracy_range(logits: torch.Tensor, labels: torch.Tensor) -> tuple[float, float]:
    """Accuracy when rows whose two largest logits lie within rounding (1e-9) count as wrong,
    and as right: the two libraries may break such near-ties differently."""
    top = logits.topk(2, dim=1).values
    tie = (top[:, 0] - top[:, 1]) < 1e-9
    right = logits.argmax(1) == labels
    return (right & ~tie).double().mean().item(), (right | tie).double().mean().item()


def test_the_mismatch_shrinks_as_the_batch_grows() -> None:
    """Theory: a batch mean of B values lies sqrt(1/B) standard deviations from the mean, and
    E[σ²_B] = (B - 1)/B · σ² for the biased batch variance. Six epochs: at B = 32 that is 42
    steps, enough for running averages with momentum 0.1 to forget their start (0.9^42 < 1%)."""
    options = build_grid_options(
        OPTIONS, epochs=6, seed=1, scale_learning_rate=False, reference_batch_size=32
    )
    cells, _ = batch_norm_modes(
        options, [2, 8, 32], [0.1], max_cost=1e10, limit_name="MAX_SWEEP_COST"
    )
    first_layer = [cell.evaluation.layers[0] for cell in cells if cell.evaluation]
    offsets = [layer.batch_mean_offset for layer in first_layer]
    assert offsets[0] > offsets[1] > offsets[2]
    for layer, b in zip(first_layer, (2, 8, 32), strict=True):
        assert layer.batch_mean_offset == pytest.approx(np.sqrt(1 / b), rel=0.35)
        assert layer.batch_variance_ratio == pytest.approx((b - 1) / b, rel=0.35)
    assert [cell.request["batch_size"] for cell in cells] == [2, 8, 32]


def test_the_grid_is_deterministic_and_refuses_above_its_limit() -> None:
    options = build_grid_options(
        OPTIONS, epochs=1, seed=2, scale_learning_rate=True, reference_batch_size=8
    )
    first = batch_norm_modes(options, [4], [0.1, 0.9], max_cost=1e10, limit_name="L")
    second = batch_norm_modes(options, [4], [0.1, 0.9], max_cost=1e10, limit_name="L")
    assert first == second
    assert first[0][1].learning_rate == pytest.approx(0.05 * 4 / 8)
    with pytest.raises(CostLimitExceeded) as caught:
        batch_norm_modes(options, [4], [0.1], max_cost=1000, limit_name="MAX_SWEEP_COST")
    assert caught.value.limit_name == "MAX_SWEEP_COST"
    assert caught.value.cost == first[1] // 2


@pytest.mark.parametrize(
    ("sizes", "momenta", "field"),
    [([1], [0.1], "batch_sizes[0]"), ([4, 4], [0.1], "batch_sizes"), ([4], [0.0], "momenta[0]")],
)
def test_bad_grids_name_the_field(sizes: list, momenta: list, field: str) -> None:
    options = build_grid_options(
        OPTIONS, epochs=1, seed=2, scale_learning_rate=False, reference_batch_size=8
    )
    with pytest.raises(NumericsError) as caught:
        batch_norm_modes(options, sizes, momenta, max_cost=1e10, limit_name="L")
    assert caught.value.field == field
