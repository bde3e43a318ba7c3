"""Forward and backward of every normalization variant against PyTorch (CPU) as the oracle."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from service.numerics.normalization import (
    VARIANTS,
    batch_norm,
    normalize,
    normalize_backward,
    reduced_axes,
)

TOLERANCE = {np.float32: 1e-5, np.float64: 1e-12}
FULL_SHAPE = (4, 6, 5, 3, 2)
DTYPES = [np.float32, np.float64]
TORCH_DTYPE = {np.float32: torch.float32, np.float64: torch.float64}


def make_input(shape: tuple[int, ...], dtype: Any, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(shape) * 3.0 + 2.0).astype(dtype)


def make_params(
    variant: str, x: np.ndarray, *, affine: bool, running: bool, seed: int = 1
) -> dict[str, Any]:
    """Parameters for `normalize`, with random affine / running statistics of the right shape."""
    rng = np.random.default_rng(seed)
    params: dict[str, Any] = {}
    if variant in ("layer", "rms"):
        shape = x.shape[-1:] if x.ndim < 3 else x.shape[-2:]
        params["normalized_shape"] = list(shape)
    else:
        shape = x.shape[1:2]
    if variant == "group":
        params["num_groups"] = 3 if x.shape[1] % 3 == 0 else 1
    if affine:
        params["weight"] = rng.standard_normal(shape).astype(x.dtype)
        if variant != "rms":
            params["bias"] = rng.standard_normal(shape).astype(x.dtype)
    if running:
        params["running_mean"] = rng.standard_normal(shape).astype(x.dtype)
        params["running_var"] = (rng.random(shape) + 0.5).astype(x.dtype)
    return params


def _tensor(value: Any, dtype: torch.dtype, grad: bool = False) -> torch.Tensor | None:
    if value is None:
        return None
    return torch.tensor(np.asarray(value), dtype=dtype, requires_grad=grad)


def torch_forward(
    variant: str, x: np.ndarray, params: dict[str, Any], grad: bool = False
) -> tuple[torch.Tensor, dict[str, Any]]:
    """The torch output (and the tensors, so that autograd and running stats can be read)."""
    dtype = TORCH_DTYPE[x.dtype.type]
    xt = torch.tensor(x, dtype=dtype, requires_grad=grad)
    weight = _tensor(params.get("weight"), dtype, grad)
    bias = _tensor(params.get("bias"), dtype, grad)
    running_mean = _tensor(params.get("running_mean"), dtype)
    running_var = _tensor(params.get("running_var"), dtype)
    eps = params.get("eps", 1e-5)
    tensors: dict[str, Any] = {
        "x": xt,
        "weight": weight,
        "bias": bias,
        "running_mean": running_mean,
        "running_var": running_var,
    }
    if variant == "batch":
        training = params.get("training", True)
        momentum = params.get("momentum", 0.1)
        if momentum is None and running_mean is not None:
            module_class = {
                2: torch.nn.BatchNorm1d,
                3: torch.nn.BatchNorm1d,
                4: torch.nn.BatchNorm2d,
                5: torch.nn.BatchNorm3d,
            }[x.ndim]
            module = module_class(x.shape[1], eps=eps, momentum=None, affine=False, dtype=dtype)
            assert running_var is not None
            with torch.no_grad():
                module.running_mean.copy_(running_mean)  # type: ignore[union-attr]
                module.running_var.copy_(running_var)  # type: ignore[union-attr]
                module.num_batches_tracked.fill_(  # type: ignore[union-attr]
                    params["num_batches_tracked"]
                )
            module.train(training)
            out = module(xt)
            if weight is not None:
                out = out * weight.reshape(1, -1, *([1] * (x.ndim - 2)))
            if bias is not None:
                out = out + bias.reshape(1, -1, *([1] * (x.ndim - 2)))
            tensors["running_mean"] = module.running_mean
            tensors["running_var"] = module.running_var
            tensors["num_batches_tracked"] = int(module.num_batches_tracked)  # type: ignore[arg-type]
            return out, tensors
        out = F.batch_norm(
            xt,
            running_mean,
            running_var,
            weight,
            bias,
            training,
            0.1 if momentum is None else momentum,
            eps,
        )
    elif variant == "instance":
        out = F.instance_norm(
            xt,
            running_mean,
            running_var,
            weight,
            bias,
            params.get("use_input_stats", True),
            params.get("momentum", 0.1),
            eps,
        )
    elif variant == "group":
        out = F.group_norm(xt, params["num_groups"], weight, bias, eps)
    elif variant == "layer":
        out = F.layer_norm(xt, params["normalized_shape"], weight, bias, eps)
    else:
        out = F.rms_norm(xt, params["normalized_shape"], weight, params.get("eps"))
    return out, tensors


def assert_close(
    ours: np.ndarray | None, theirs: torch.Tensor | None, dtype: Any, scale: float = 1.0
) -> None:
    assert (ours is None) == (theirs is None)
    if ours is None or theirs is None:
        return
    expected = theirs.detach().numpy()
    assert ours.shape == expected.shape
    assert ours.dtype == np.dtype(dtype)
    np.testing.assert_allclose(ours, expected, rtol=0, atol=TOLERANCE[dtype] * scale)


def _cases() -> list[Any]:
    cases = []
    for variant in VARIANTS:
        low = {"batch": 2, "group": 2, "instance": 3, "layer": 1, "rms": 1}[variant]
        for rank in range(low, 6):
            for affine in (False, True):
                running = [False, True] if variant in ("batch", "instance") else [False]
                for with_running in running:
                    cases.append(
                        pytest.param(
                            variant,
                            rank,
                            affine,
                            with_running,
                            id=f"{variant}-r{rank}-aff{int(affine)}-run{int(with_running)}",
                        )
                    )
    return cases


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("variant", "rank", "affine", "running"), _cases())
def test_forward_matches_torch(
    variant: str, rank: int, affine: bool, running: bool, dtype: Any
) -> None:
    x = make_input(FULL_SHAPE[:rank] if rank > 1 else (7,), dtype)
    params = make_params(variant, x, affine=affine, running=running)
    original = x.copy()
    result = normalize(variant, x, dtype=dtype, **params)
    expected, tensors = torch_forward(variant, x, params)
    assert_close(result.output, expected, dtype)
    assert_close(result.running_mean, tensors["running_mean"], dtype)
    assert_close(result.running_var, tensors["running_var"], dtype)
    np.testing.assert_array_equal(x, original)  # the input is never modified
    assert not np.shares_memory(result.output, x)
    assert result.reduced_axes == reduced_axes(
        variant, x.ndim, len(params.get("normalized_shape", [])) or None
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize(("variant", "rank", "affine", "running"), _cases())
def test_backward_matches_autograd(
    variant: str, rank: int, affine: bool, running: bool, dtype: Any
) -> None:
    x = make_input(FULL_SHAPE[:rank] if rank > 1 else (7,), dtype)
    params = make_params(variant, x, affine=affine, running=running)
    grad_output = make_input(x.shape, dtype, seed=7)
    gradients = normalize_backward(variant, x, grad_output, dtype=dtype, **params)
    out, tensors = torch_forward(variant, x, params, grad=True)
    out.backward(torch.tensor(grad_output))
    grad_input, grad_weight, grad_bias = gradients
    # Weight and bias gradients sum over the batch: allow for the length of that sum.
    count = math.prod(x.shape) / max(1, np.size(params.get("weight", 1)))
    assert_close(grad_input, tensors["x"].grad, dtype, scale=10)
    assert_close(
        grad_weight,
        None if tensors["weight"] is None else tensors["weight"].grad,
        dtype,
        scale=max(1.0, math.sqrt(count)),
    )
    assert_close(
        grad_bias,
        None if tensors["bias"] is None else tensors["bias"].grad,
        dtype,
        scale=max(1.0, math.sqrt(count)),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("rank", [2, 3, 4, 5])
@pytest.mark.parametrize("affine", [False, True])
def test_batch_eval_mode_uses_running_stats(rank: int, affine: bool, dtype: Any) -> None:
    x = make_input(FULL_SHAPE[:rank], dtype)
    params = make_params("batch", x, affine=affine, running=True)
    params["training"] = False
    result = normalize("batch", x, dtype=dtype, **params)
    expected, _ = torch_forward("batch", x, params)
    assert_close(result.output, expected, dtype)
    np.testing.assert_array_equal(result.mean, params["running_mean"])
    np.testing.assert_array_equal(result.running_var, params["running_var"])
    assert not np.shares_memory(result.running_var, params["running_var"])  # a copy, not an alias
    g = make_input(x.shape, dtype, seed=3)
    out, tensors = torch_forward("batch", x, params, grad=True)
    out.backward(torch.tensor(g))
    grads = normalize_backward("batch", x, g, dtype=dtype, **params)
    assert_close(grads.grad_input, tensors["x"].grad, dtype, scale=10)
    if affine:
        assert_close(grads.grad_weight, tensors["weight"].grad, dtype, scale=30)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("tracked", [0, 1, 5])
def test_batch_momentum_none_is_a_cumulative_average(tracked: int, dtype: Any) -> None:
    x = make_input((8, 3, 4), dtype)
    params = make_params("batch", x, affine=True, running=True)
    params.update(momentum=None, num_batches_tracked=tracked)
    result = normalize("batch", x, dtype=dtype, **params)
    expected, tensors = torch_forward("batch", x, params)
    assert_close(result.output, expected, dtype)
    assert_close(result.running_mean, tensors["running_mean"], dtype)
    assert_close(result.running_var, tensors["running_var"], dtype)
    assert result.num_batches_tracked == tensors["num_batches_tracked"] == tracked + 1


def test_batch_momentum_updates_counter_and_running_stats_by_hand() -> None:
    x = make_input((10, 2, 3), np.float64)
    result = batch_norm(
        x,
        running_mean=[1.0, -1.0],
        running_var=[2.0, 0.5],
        momentum=0.25,
        num_batches_tracked=7,
        dtype=np.float64,
    )
    mean = x.mean(axis=(0, 2))
    unbiased = x.var(axis=(0, 2), ddof=1)
    assert result.running_mean is not None
    assert result.running_var is not None
    np.testing.assert_allclose(result.running_mean, 0.75 * np.array([1.0, -1.0]) + 0.25 * mean)
    np.testing.assert_allclose(result.running_var, 0.75 * np.array([2.0, 0.5]) + 0.25 * unbiased)
    np.testing.assert_allclose(result.var, x.var(axis=(0, 2)))
    assert result.num_batches_tracked == 8


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("rank", [2, 3, 4, 5])
def test_instance_without_input_stats_uses_running_stats(rank: int, dtype: Any) -> None:
    x = make_input(FULL_SHAPE[:rank], dtype)
    params = make_params("instance", x, affine=True, running=True)
    params["use_input_stats"] = False
    result = normalize("instance", x, dtype=dtype, **params)
    expected, _ = torch_forward("instance", x, params)
    assert_close(result.output, expected, dtype)
    assert result.mean is not None
    assert result.mean.shape == x.shape[:2]
    g = make_input(x.shape, dtype, seed=3)
    out, tensors = torch_forward("instance", x, params, grad=True)
    out.backward(torch.tensor(g))
    grads = normalize_backward("instance", x, g, dtype=dtype, **params)
    assert_close(grads.grad_input, tensors["x"].grad, dtype, scale=10)
    assert_close(grads.grad_bias, tensors["bias"].grad, dtype, scale=30)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("momentum", [0.0, 0.3, 1.0])
def test_instance_running_stats_average_over_the_batch(momentum: float, dtype: Any) -> None:
    x = make_input((5, 3, 4, 2), dtype)
    params = make_params("instance", x, affine=False, running=True)
    params["momentum"] = momentum
    result = normalize("instance", x, dtype=dtype, **params)
    _, tensors = torch_forward("instance", x, params)
    assert_close(result.running_mean, tensors["running_mean"], dtype)
    assert_close(result.running_var, tensors["running_var"], dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=["f32", "f64"])
@pytest.mark.parametrize("eps", [None, 0.0, 1e-6, 0.5])
def test_rms_eps(eps: float | None, dtype: Any) -> None:
    x = make_input((3, 4, 5), dtype) * 1e-4
    params = {"normalized_shape": [5], "eps": eps}
    result = normalize("rms", x, dtype=dtype, **params)
    expected, _ = torch_forward("rms", x, params)
    assert_close(result.output, expected, dtype)
    assert result.eps == (np.finfo(dtype).eps if eps is None else eps)
    assert result.mean is None
    np.testing.assert_allclose(
        result.var, np.mean(x.astype(np.float64) ** 2, axis=-1), rtol=TOLERANCE[dtype] * 10
    )


@pytest.mark.parametrize(
    ("variant", "shape", "params", "stat_shape"),
    [
        ("batch", (4, 6, 5), {}, (6,)),
        ("layer", (4, 6, 5), {"normalized_shape": [6, 5]}, (4,)),
        ("rms", (4, 6, 5), {"normalized_shape": 5}, (4, 6)),
        ("group", (4, 6, 5), {"num_groups": 2}, (4, 2)),
        ("instance", (4, 6, 5), {}, (4, 6)),
    ],
)
def test_statistics_have_their_natural_shape(
    variant: str, shape: tuple[int, ...], params: dict[str, Any], stat_shape: tuple[int, ...]
) -> None:
    x = make_input(shape, np.float64)
    result = normalize(variant, x, dtype=np.float64, **params)
    assert result.var.shape == stat_shape
    axes = result.reduced_axes
    if variant == "group":
        grouped = x.reshape(4, 2, 3, 5)
        np.testing.assert_allclose(result.var, grouped.var(axis=(2, 3)), rtol=1e-12)
    elif variant == "rms":
        np.testing.assert_allclose(result.var, (x**2).mean(axis=axes), rtol=1e-12)
    else:
        assert result.mean is not None
        np.testing.assert_allclose(result.mean, x.mean(axis=axes), rtol=1e-12)
        np.testing.assert_allclose(result.var, x.var(axis=axes), rtol=1e-12)


@pytest.mark.parametrize(
    ("variant", "ndim", "k", "axes"),
    [
        ("batch", 2, None, (0,)),
        ("batch", 5, None, (0, 2, 3, 4)),
        ("instance", 4, None, (2, 3)),
        ("group", 3, None, (1, 2)),
        ("layer", 4, 2, (2, 3)),
        ("rms", 1, 1, (0,)),
    ],
)
def test_reduced_axes_table(variant: str, ndim: int, k: int | None, axes: tuple[int, ...]) -> None:
    assert reduced_axes(variant, ndim, k) == axes
