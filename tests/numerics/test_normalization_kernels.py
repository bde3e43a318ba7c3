"""The fused kernels (what `normalize` runs) against the numpy reference, and against torch where
the inputs are hard: large offsets, tiny and huge values, groups longer than a block, and calls
from several threads at once."""

from __future__ import annotations

import threading
from typing import Any

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.errors import NonFiniteResult
from service.numerics.normalization import fused
from service.numerics.normalization.backward import reference_backward
from service.numerics.normalization.dispatch import call
from service.numerics.normalization.forward import reference_forward
from tests.numerics.test_normalization import make_params, torch_forward
from tests.numerics.test_normalization_properties import cases

# Both implementations compute in float64; they differ in summation order only, so their float32
# outputs differ by at most an ulp or two, their float64 outputs by a few ulps.
KERNEL_TOLERANCE = {np.float32: (2e-6, 2e-6), np.float64: (1e-12, 1e-12)}


def _same(ours: np.ndarray | None, theirs: np.ndarray | None, dtype: Any) -> None:
    assert (ours is None) == (theirs is None)
    if ours is None or theirs is None:
        return
    assert ours.dtype == theirs.dtype == np.dtype(dtype)
    rtol, atol = KERNEL_TOLERANCE[dtype]
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=atol)


def _compare(variant: str, x: np.ndarray, dtype: Any, **params: Any) -> None:
    """Forward and backward of the kernels equal the numpy reference's, every field."""
    validated = call(variant, x, dtype=dtype, **params)
    ours, reference = fused.forward(validated), reference_forward(validated)
    for field in ("output", "mean", "var", "running_mean", "running_var"):
        _same(getattr(ours, field), getattr(reference, field), dtype)
    assert ours.num_batches_tracked == reference.num_batches_tracked
    grad_output = np.random.default_rng(3).standard_normal(x.shape)
    for mine, theirs in zip(
        fused.backward(validated, grad_output),
        reference_backward(validated, grad_output),
        strict=True,
    ):
        _same(mine, theirs, dtype)


@settings(max_examples=80, deadline=None)
@given(
    cases(),
    st.sampled_from([np.float32, np.float64]),
    st.booleans(),
    st.booleans(),
    st.booleans(),
)
def test_kernels_equal_the_numpy_reference(
    case: Any, dtype: Any, affine: bool, running: bool, fixed: bool
) -> None:
    variant, x, params = case
    x = x.astype(dtype)
    rng = np.random.default_rng(2)
    shape = tuple(params.get("normalized_shape", x.shape[1:2]))
    if affine:
        params["weight"] = rng.standard_normal(shape).astype(dtype)
        if variant != "rms":
            params["bias"] = rng.standard_normal(shape).astype(dtype)
    if running and variant in ("batch", "instance"):
        params["running_mean"] = rng.standard_normal(shape).astype(dtype)
        params["running_var"] = (rng.random(shape) + 0.5).astype(dtype)
        if fixed:
            params["training" if variant == "batch" else "use_input_stats"] = False
    _compare(variant, x, dtype, **params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("variant", "shape", "params"),
    [
        # Groups longer than one block (2,048 values): blocks merged with Chan's update.
        ("layer", (3, 5000), {"normalized_shape": [5000]}),
        ("rms", (2, 3, 3000), {"normalized_shape": [3, 3000]}),
        ("group", (2, 4, 3, 700), {"num_groups": 2}),
        ("instance", (2, 3, 4100), {}),
        # Batch norm over many short rows (blocks of whole rows), and rows of one value.
        ("batch", (300, 3, 17), {}),
        ("batch", (5000, 4), {}),
        ("batch", (3, 2, 2500), {}),
    ],
)
def test_long_groups_equal_the_reference(
    variant: str, shape: tuple[int, ...], params: dict[str, Any], dtype: Any
) -> None:
    rng = np.random.default_rng(11)
    x = (rng.standard_normal(shape) * 3 + np.linspace(-50, 50, shape[-1])).astype(dtype)
    _compare(variant, x, dtype, **params)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(
    ("variant", "shape", "params"),
    [
        # Short groups go through the kernels a tile at a time (2,048 values): these span several
        # tiles and threads, with parameter periods (7, 3) that divide neither the tile (256, 64
        # groups) nor the groups per thread.
        ("instance", (41, 7, 8), {"use_input_stats": False}),
        ("instance", (41, 7, 8), {}),
        ("group", (65, 6, 2, 8), {"num_groups": 3}),
        ("layer", (300, 16), {"normalized_shape": [16]}),
        ("rms", (300, 16), {"normalized_shape": [16]}),
    ],
)
def test_short_groups_over_several_tiles_equal_the_reference(
    variant: str, shape: tuple[int, ...], params: dict[str, Any], dtype: Any
) -> None:
    rng = np.random.default_rng(13)
    x = (rng.standard_normal(shape) * 2 + 5).astype(dtype)
    affine = shape[1:2] if variant in ("instance", "group") else tuple(params["normalized_shape"])
    params = {**params, "weight": rng.standard_normal(affine).astype(dtype)}
    if variant != "rms":
        params["bias"] = rng.standard_normal(affine).astype(dtype)
    if variant == "instance":
        params["running_mean"] = rng.standard_normal(affine).astype(dtype)
        params["running_var"] = (rng.random(affine) + 0.5).astype(dtype)
    _compare(variant, x, dtype, **params)
    # And against torch in float64 on the same values: the output and autograd's grad_input.
    validated = call(variant, x, dtype=dtype, **{**params, "eps": 1e-5})
    expected, tensors = torch_forward(variant, x.astype(np.float64), {**params, "eps": 1e-5}, True)
    atol = 2e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(
        fused.forward(validated).output, expected.detach().numpy(), rtol=0, atol=atol
    )
    grad_output = rng.standard_normal(shape)
    (grad_input,) = torch.autograd.grad(expected, tensors["x"], torch.tensor(grad_output))
    np.testing.assert_allclose(
        fused.backward(validated, grad_output).grad_input, grad_input.numpy(), rtol=0, atol=atol
    )


@pytest.mark.parametrize("width", [8, 64, 512, 3000])
def test_a_shift_sampled_far_from_the_mean_keeps_the_digits(width: int) -> None:
    # A one-row block's shift is the mean of its first eighth: here that eighth sits apart from
    # the rest (the worst case the bound allows is sqrt(7)·σ away), at a float64 offset of 1e8.
    rng = np.random.default_rng(12)
    x = 1e8 + rng.standard_normal((4, width))
    x[:, : -(-min(width, 2048) // 8)] += 5.0
    _compare("layer", x, np.float64, normalized_shape=[width])
    _compare("group", x.reshape(4, 1, width), np.float64, num_groups=1)


def _torch_case(variant: str, x: np.ndarray, dtype: Any) -> tuple[dict[str, Any], Any]:
    params = make_params(variant, x, affine=True, running=False)
    params["eps"] = 1e-5
    result = fused.forward(call(variant, x, dtype=dtype, **params))
    expected, _ = torch_forward(variant, x, params)
    return params, (result, expected)


@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance"])
def test_mean_1e6_with_spread_1e_3_matches_torch_in_float64(variant: str) -> None:
    rng = np.random.default_rng(21)
    x = 1e6 + 1e-3 * rng.standard_normal((4, 6, 32))
    params, (result, expected) = _torch_case(variant, x, np.float64)
    # x̂ = (x - mean)/std with std 1e-3: the input's own rounding (1e-10) is amplified 1e3-fold,
    # for torch as for us; the kernels' mean carries an offset that keeps its digits.
    np.testing.assert_allclose(result.output, expected.detach().numpy(), rtol=0, atol=1e-6)
    grad_output = rng.standard_normal(x.shape)
    gradients = fused.backward(call(variant, x, dtype=np.float64, **params), grad_output)
    out, tensors = torch_forward(variant, x, params, grad=True)
    (grad_input,) = torch.autograd.grad(out, tensors["x"], torch.tensor(grad_output))
    scale = float(np.max(np.abs(grad_input.numpy())))
    np.testing.assert_allclose(gradients.grad_input, grad_input.numpy(), rtol=0, atol=1e-6 * scale)


@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance", "rms"])
def test_float32_mean_1e6_with_spread_1_matches_torch(variant: str) -> None:
    rng = np.random.default_rng(22)
    x = (1e6 + rng.standard_normal((4, 6, 32))).astype(np.float32)
    params, (result, in_float32) = _torch_case(variant, x, np.float32)
    # torch in float64 on the same float32 values is the oracle. torch's own float32 answer is
    # off by up to 0.1 here (its float32 mean is off by up to an ulp of 1e6, 0.06); ours, from
    # float64 statistics, is off by float32 rounding only.
    exact, _ = torch_forward(variant, x.astype(np.float64), params)
    np.testing.assert_allclose(result.output, exact.detach().numpy(), rtol=0, atol=2e-6)
    if variant != "rms":  # rms subtracts no mean
        assert np.max(np.abs(in_float32.detach().numpy() - exact.detach().numpy())) > 1e-3


@pytest.mark.parametrize("scale", [1e-30, 1e-18, 1e15])
@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance", "rms"])
def test_tiny_and_huge_float32_values_match_torch(variant: str, scale: float) -> None:
    x = (np.random.default_rng(23).standard_normal((4, 6, 8)) * scale).astype(np.float32)
    _, (result, expected) = _torch_case(variant, x, np.float32)
    np.testing.assert_allclose(result.output, expected.detach().numpy(), rtol=1e-4, atol=1e-5)


def test_float32_values_whose_variance_overflows_float32_are_refused() -> None:
    x = (np.random.default_rng(24).standard_normal((4, 8)) * 1e25).astype(np.float32)
    with pytest.raises(NonFiniteResult, match="variance overflows float32") as info:
        fused.forward(call("layer", x, normalized_shape=[8]))
    assert str(info.value).endswith("(scale them down, or use float64)")
    result = fused.forward(call("layer", x, normalized_shape=[8], dtype=np.float64))
    np.testing.assert_allclose(result.output.var(axis=-1), 1.0, rtol=1e-9)


@pytest.mark.parametrize("weight", [None, 1e10])
@pytest.mark.parametrize("variant", ["batch", "layer", "group", "instance", "rms"])
def test_a_subnormal_spread_with_eps_near_0_normalizes_by_hand(
    variant: str, weight: float | None
) -> None:
    """Every group holds 0 and the smallest float32 subnormal t = 2^-149 equally often, so
    x̂ = ±1 (rms: x / sqrt(t²/2) = √2 or 0) with eps = 1e-300 (batch norm needs eps > 0),
    though rstd = 1/sqrt(var + eps) ~ 1e45 is beyond float32. Found by a sweep of extreme
    values: the kernels answered NaN and infinity."""
    sample, channel, position = np.indices((2, 2, 2))
    parity = (sample + channel + position) % 2
    x = np.where(parity, np.float32(2.0**-149), np.float32(0.0)).astype(np.float32)
    shapes = {"layer": {"normalized_shape": [2]}, "rms": {"normalized_shape": [2]}}
    params: dict[str, Any] = {**shapes.get(variant, {}), "eps": 1e-300}
    if variant == "group":
        params["num_groups"] = 1
    if weight is not None:
        params["weight"] = np.full(2, weight, np.float32)
    result = fused.forward(call(variant, x, **params))
    x_hat = np.where(x > 0, np.sqrt(2.0), 0.0) if variant == "rms" else np.where(x > 0, 1.0, -1.0)
    expected = x_hat * (1.0 if weight is None else weight)
    np.testing.assert_allclose(result.output, expected, rtol=1e-6)
    reference = reference_forward(call(variant, x, **params)).output
    np.testing.assert_array_equal(result.output, reference)


def test_float64_overflows_advise_no_float64() -> None:
    """The advice to use float64 only where the input is not float64 already."""
    x = np.array([[1.7e308, -1.7e308, 1.7e308, 1.7e308]])
    with pytest.raises(NonFiniteResult, match="sum of the input overflows float64") as info:
        fused.forward(call("layer", x, normalized_shape=[4], dtype=np.float64))
    assert str(info.value).endswith("(scale them down)")
    x = np.array([[1.0, -1.0, 2.0, 0.5]])
    g = np.array([[1e308, -1e308, 1e308, -1e308]])
    with pytest.raises(NonFiniteResult, match="gradient overflows float64") as info:
        fused.backward(call("layer", x, normalized_shape=[4], dtype=np.float64), g)
    assert str(info.value).endswith("(a larger eps)")


def test_kernels_run_on_the_pinned_threading_layer() -> None:
    fused.warm_up()
    assert numba.threading_layer() == "tbb"


def test_concurrent_calls_from_several_threads_give_each_its_own_answer() -> None:
    """gunicorn's gthread workers call the kernels from several threads at once."""
    rng = np.random.default_rng(25)
    inputs = [rng.standard_normal((16, 32, 64)).astype(np.float32) * (i + 1) for i in range(8)]
    variants = ["layer", "batch", "group", "instance", "rms", "layer", "batch", "group"]
    params = {
        "layer": {"normalized_shape": [64]},
        "rms": {"normalized_shape": [64]},
        "group": {"num_groups": 8},
        "batch": {},
        "instance": {},
    }
    expected = [
        reference_forward(call(v, x, **params[v])).output
        for v, x in zip(variants, inputs, strict=True)
    ]
    gradients = [
        reference_backward(call(v, x, **params[v]), x).grad_input
        for v, x in zip(variants, inputs, strict=True)
    ]
    failures: list[str] = []
    start = threading.Barrier(len(inputs))

    def work(index: int) -> None:
        variant, x = variants[index], inputs[index]
        start.wait()
        for _ in range(20):
            output = fused.forward(call(variant, x, **params[variant])).output
            grad = fused.backward(call(variant, x, **params[variant]), x).grad_input
            if not (
                np.allclose(output, expected[index], rtol=2e-6, atol=2e-6)
                and np.allclose(grad, gradients[index], rtol=2e-6, atol=2e-6)
            ):
                failures.append(f"thread {index} ({variant})")
                return

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(inputs))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in threads)
    assert failures == []
