"""The batch-statistics Monte Carlo: PyTorch on the same draws, exact theory, zero spread, seeds."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from service.numerics.batch_statistics import (
    BatchStatisticsSpec,
    build_batch_statistics_spec,
    exact,
    fixed_example,
    iter_batches,
    normalize_fixed_example,
    simulate_batch_statistics,
    simulate_point,
    simulation,
)
from service.numerics.errors import NonFiniteResult

PER_EXAMPLE = ("group", "layer", "instance", "rms")
POINT_FIELDS = {f.name for f in dataclasses.fields(simulation.BatchStatisticsPoint)}


def spec_for(variant: str, batch_sizes: list[int], **params: Any) -> BatchStatisticsSpec:
    params = {"z": 0.7, "features": 6, "samples": 300, "seed": 3, **params}
    if variant == "instance":
        params.setdefault("spatial_size", 3)
    return build_batch_statistics_spec(variant, batch_sizes, **params)


def torch_normalized_example(spec: BatchStatisticsSpec, batches: np.ndarray) -> np.ndarray:
    """PyTorch's output for the fixed example (row 0) of each batch in (count, m, C, L)."""
    x = torch.from_numpy(batches)
    count, m, channels, positions = x.shape
    if spec.variant == "batch":  # per composition and channel: compositions become channels
        flat = x.permute(1, 0, 2, 3).reshape(m, count * channels, positions)
        out = F.batch_norm(flat, None, None, training=True, eps=spec.eps)
        return out[0].reshape(count, channels, positions).numpy()
    if spec.variant == "layer":
        out = F.layer_norm(x, (channels, positions), eps=spec.eps)
    elif spec.variant == "rms":
        out = F.rms_norm(x, (channels, positions), eps=spec.eps)
    else:
        flat = x.reshape(count * m, channels, positions)
        if spec.variant == "group":
            out = F.group_norm(flat, spec.groups, eps=spec.eps)
        else:
            out = F.instance_norm(flat, use_input_stats=True, eps=spec.eps)
        out = out.reshape(count, m, channels, positions)
    return out[:, 0].numpy()


def all_batches(spec: BatchStatisticsSpec, m: int) -> np.ndarray:
    return np.concatenate(list(iter_batches(spec, m)))


@pytest.mark.parametrize("variant", ["batch", *PER_EXAMPLE])
@pytest.mark.parametrize("m", [2, 5])
def test_pytorch_on_the_same_draws_gives_the_same_values(variant: str, m: int) -> None:
    spec = spec_for(variant, [m])
    batches = all_batches(spec, m)
    assert batches.shape == (300, m, 6, spec.spatial_size)
    theirs = torch_normalized_example(spec, batches)
    ours = normalize_fixed_example(spec, batches)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    # The measured statistics, recomputed from PyTorch's values.
    tracked = theirs.reshape(-1) if variant == "batch" else theirs[:, 0, 0]
    point = simulate_point(spec, m)
    assert point.draws == tracked.size == (300 * 6 if variant == "batch" else 300)
    assert abs(point.measured_variance - tracked.var(ddof=1)) < 1e-12
    assert abs(point.measured_mean - tracked.mean()) < 1e-12


def test_pytorch_batch_by_batch_agrees_for_batch_norm() -> None:
    """One F.batch_norm call per composition, as a network would make it."""
    spec = spec_for("batch", [4], samples=20)
    batches = all_batches(spec, 4)
    ours = normalize_fixed_example(spec, batches)
    for index, batch in enumerate(batches):
        out = F.batch_norm(torch.from_numpy(batch), None, None, training=True, eps=spec.eps)
        np.testing.assert_allclose(ours[index], out[0].numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("variant", PER_EXAMPLE)
def test_per_example_variants_have_exactly_zero_spread(variant: str) -> None:
    spec = spec_for(variant, [1, 2, 7, 32], samples=2000)
    result = simulate_batch_statistics(spec)
    alone = normalize_fixed_example(spec, fixed_example(spec)[None, None])[0, 0, 0]
    for point in result.points:
        assert point.measured_variance == 0.0
        assert point.standard_error == 0.0
        assert point.max_abs_change == 0.0  # every value of the example, bitwise
        assert point.exact_variance == 0.0
        assert point.first_order_variance == 0.0
        assert point.measured_mean == point.exact_mean == alone
        assert point.draws == 2000
    assert "bitwise identical in all 2000 random batches" in result.notes[0]
    assert "never from the other examples" in result.notes[0]


def test_the_same_machinery_sees_batch_norm_move() -> None:
    """The zero above is measured, not assumed: batch norm through the same code spreads."""
    spec = spec_for("batch", [2, 7, 32], samples=2000)
    for point in simulate_batch_statistics(spec).points:
        assert point.measured_variance > 0.01
        assert point.max_abs_change > 0.1
        assert point.exact_variance is not None
        assert abs(point.measured_variance - point.exact_variance) < 4 * point.standard_error


def test_the_issue_example_agrees_with_exact_theory_within_its_sampling_error() -> None:
    """|measured - exact| < 4 standard errors (a 6e-5 chance per point for a correct code)."""
    spec = build_batch_statistics_spec(
        "batch", [2, 4, 8, 16, 32], z=1.0, features=16, samples=20000, seed=1, eps=1e-5
    )
    result = simulate_batch_statistics(spec)
    for point in result.points:
        assert point.exact_variance is not None
        assert point.exact_mean is not None
        assert abs(point.measured_variance - point.exact_variance) < 4 * point.standard_error
        assert point.standard_error < 0.01 * point.exact_variance  # a sharp comparison
        assert abs(point.measured_mean - point.exact_mean) < 4 * math.sqrt(
            point.measured_variance / point.draws
        )
        assert point.largest_abs_value <= math.sqrt(point.batch_size - 1)
    at_two, at_32 = result.points[0], result.points[-1]
    # Small batches: first order is far off (0.75 against 0.529); large: within 3%.
    assert at_two.first_order_variance == 0.75
    assert at_two.exact_variance == pytest.approx(1 - math.erf(1 / math.sqrt(2)) ** 2, abs=0.01)
    assert at_32.first_order_variance == pytest.approx(at_32.exact_variance, rel=0.03)
    assert set(result.methods) <= POINT_FIELDS
    assert "quadrature" not in result.methods["first_order_variance"]
    assert "exact" in result.methods["exact_variance"]


def test_the_stated_standard_error_matches_the_spread_across_seeds() -> None:
    """40 independent runs: the standard deviation of measured_variance ≈ the mean stated SE."""
    for m in (3, 16):
        points = [
            simulate_point(spec_for("batch", [m], samples=500, features=4, seed=seed), m)
            for seed in range(40)
        ]
        spread = float(np.std([p.measured_variance for p in points], ddof=1))
        stated = float(np.mean([p.standard_error for p in points]))
        assert 0.7 < spread / stated < 1.4  # about 3 sigma for 40 replicates


def test_batch_size_two_is_a_sign_and_says_so() -> None:
    point = simulate_point(spec_for("batch", [2], samples=5000), 2)
    assert 0.0 < point.smallest_abs_value <= point.largest_abs_value <= 1.0
    assert point.largest_abs_value > 1 - 1e-4
    assert np.mean(np.abs(1 - np.abs(_draws(spec_for("batch", [2], samples=5000), 2)))) < 1e-2
    assert len(point.notes) == 1
    assert "±1" in point.notes[0]
    assert "erf(z/√2) = 0.5161" in point.notes[0]  # z = 0.7
    assert simulate_point(spec_for("batch", [3]), 3).notes == ()


def _draws(spec: BatchStatisticsSpec, m: int) -> np.ndarray:
    return normalize_fixed_example(spec, all_batches(spec, m)).reshape(-1)


def test_results_are_reproducible_from_the_seed() -> None:
    spec = spec_for("batch", [2, 4, 8])
    first, second = simulate_batch_statistics(spec), simulate_batch_statistics(spec)
    assert first == second
    other = simulate_batch_statistics(dataclasses.replace(spec, seed=4))
    assert other.points[0].measured_variance != first.points[0].measured_variance
    # A point depends on its own batch size and the seed, not on the other batch sizes asked.
    alone = simulate_batch_statistics(dataclasses.replace(spec, batch_sizes=(8,)))
    assert alone.points[0] == first.points[2]


def test_chunking_does_not_change_the_draws(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = spec_for("batch", [5], samples=1000)
    whole, point = all_batches(spec, 5), simulate_point(spec, 5)
    monkeypatch.setattr(simulation, "CHUNK_VALUES", 100)  # 3 batches of 5 × 6 per chunk
    assert len(list(iter_batches(spec, 5))) == 334
    np.testing.assert_array_equal(all_batches(spec, 5), whole)
    chunked = simulate_point(spec, 5)
    assert chunked.measured_variance == pytest.approx(point.measured_variance, rel=1e-13)
    assert chunked.standard_error == pytest.approx(point.standard_error, rel=1e-10)
    assert chunked.measured_mean == pytest.approx(point.measured_mean, rel=1e-13, abs=1e-15)
    assert chunked.max_abs_change == point.max_abs_change
    layer = spec_for("layer", [5], samples=1000)
    assert simulate_point(layer, 5).measured_variance == 0.0


@settings(max_examples=30, deadline=None)
@given(
    m=st.integers(2, 64),
    z=st.floats(-10, 10),
    eps=st.sampled_from([1e-8, 1e-5, 1e-2, 1.0]),
    seed=st.integers(0, 2**32),
)
def test_normalized_values_never_exceed_sqrt_m_minus_1(
    m: int, z: float, eps: float, seed: int
) -> None:
    """With the biased variance |x̂| <= sqrt(m - 1): (m-1)d/m over sqrt((m-1)d²/m² + ...)."""
    spec = build_batch_statistics_spec(
        "batch", [m], z=z, features=2, samples=50, seed=seed, eps=eps
    )
    point = simulate_point(spec, m)
    assert point.largest_abs_value <= math.sqrt(m - 1) * (1 + 1e-12)
    # The divisor n - 1 lets the sample variance exceed m - 1 by n / (n - 1); the mean square
    # about the mean cannot.
    n = point.draws
    assert point.measured_variance * (n - 1) / n <= (m - 1) * (1 + 1e-12)
    assert point.standard_error >= 0.0


def test_the_quadrature_failing_leaves_exact_empty_with_a_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(exact, "QUADRATURE_TOLERANCE", -1.0)
    point = simulate_point(spec_for("batch", [4]), 4)
    assert point.exact_variance is None
    assert point.exact_mean is None
    assert point.exact_unavailable_reason is not None
    assert "did not converge" in point.exact_unavailable_reason
    assert point.measured_variance > 0


def test_zero_variance_without_eps_is_refused() -> None:
    spec = build_batch_statistics_spec("rms", [3], z=0.0, features=1, eps=0.0)
    with pytest.raises(NonFiniteResult) as caught:
        simulate_point(spec, 3)
    assert caught.value.field == "eps"


def test_layouts_are_described() -> None:
    group = simulate_batch_statistics(spec_for("group", [2], features=8, samples=10))
    assert "features split into 4 groups" in group.notes[1]
    instance = simulate_batch_statistics(spec_for("instance", [2], samples=10))
    assert "(m, features, 3)" in instance.notes[1]
    batch = simulate_batch_statistics(spec_for("batch", [2], samples=10))
    assert "holds z in every feature" in batch.notes[1]
    assert "sqrt(m - 1)" in batch.notes[2]
