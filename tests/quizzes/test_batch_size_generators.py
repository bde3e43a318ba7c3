"""The batch-size question generators over many seeds: answers against closed forms, PyTorch and a
Monte Carlo, and grading through the domain. (test_generators.py runs the shared contract.)"""

from __future__ import annotations

import math
import re
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from service.numerics.batch_statistics import exact_variance
from service.quizzes.domain import (
    Question,
    Quiz,
    QuizSettings,
    SeededDraws,
    Tolerance,
    derive_seed,
    grade,
    instantiate,
)
from service.quizzes.generators import BATCH_NORM_NOISE_VARIANCE, BATCH_NORM_PAIR

SEEDS = range(400)


def test_pair_answers_are_plus_or_minus_one_up_to_eps_for_every_seed() -> None:
    for seed in SEEDS:
        params = BATCH_NORM_PAIR.draw(SeededDraws(seed, "q"), {})
        x0, x1 = params["x"]
        assert x0 != x1
        answer = BATCH_NORM_PAIR.answer(params)
        larger = params["x"][params["index"]] == max(x0, x1)
        # |x̂| = 1/sqrt(1 + 4ε/d²) with |d| >= 1: within 2ε of 1.
        assert 1 - 2e-5 <= abs(answer) < 1
        assert (answer > 0) == larger
        tensor = torch.tensor([[x0], [x1]], dtype=torch.float64)
        theirs = F.batch_norm(tensor, None, None, training=True, eps=1e-5)[params["index"], 0]
        assert answer == pytest.approx(float(theirs), abs=1e-15)
        assert ("larger" if larger else "smaller") in BATCH_NORM_PAIR.explain(params)


def test_pair_value_range_option() -> None:
    BATCH_NORM_PAIR.check_options({"low": 0, "high": 1})
    with pytest.raises(ValueError, match="low < high"):
        BATCH_NORM_PAIR.check_options({"low": 2, "high": 2})
    for seed in range(50):
        params = BATCH_NORM_PAIR.draw(SeededDraws(seed, "q"), {"low": 0, "high": 1})
        assert sorted(params["x"]) == [0, 1]


def test_noise_answers_are_first_order_and_the_explanation_gives_the_exact_value() -> None:
    seen = set()
    for seed in SEEDS:
        params = BATCH_NORM_NOISE_VARIANCE.draw(SeededDraws(seed, "q"), {})
        m, z = params["batch_size"], params["z"]
        seen.add((m, z))
        answer = BATCH_NORM_NOISE_VARIANCE.answer(params)
        assert answer == float((1 + Fraction(str(z)) ** 2 / 2) / m)
        explanation = BATCH_NORM_NOISE_VARIANCE.explain(params)
        exact = float(re.findall(r"is ([0-9.e-]+); the first-order", explanation)[0])
        assert exact == pytest.approx(exact_variance(m, z, 1e-5), rel=1e-3)
        # First order is a large-m approximation whose next terms grow with z: for |z| <= 1
        # and m >= 32 it is within 10% of exact (at z = 2.5, m = 50 still 33% high).
        if abs(z) <= 1 and m >= 32:
            assert answer == pytest.approx(exact, rel=0.1)
    assert len(seen) > 100


def test_the_first_order_answer_agrees_with_a_monte_carlo_at_the_largest_batch() -> None:
    """At m = 128 the O(1/m²) terms are below 3%; 40,000 draws measure to about 1%."""
    rng = np.random.default_rng(0)
    m, z = 128, 1.5
    others = rng.standard_normal((40_000, m - 1))
    batch = np.concatenate([np.full((40_000, 1), z), others], axis=1)
    x_hat = (z - batch.mean(axis=1)) / np.sqrt(batch.var(axis=1) + 1e-5)
    answer = BATCH_NORM_NOISE_VARIANCE.answer({"batch_size": m, "z": z})
    assert np.var(x_hat, ddof=1) == pytest.approx(answer, rel=0.05)


@pytest.mark.parametrize(
    ("generator", "tolerance"),
    [
        (BATCH_NORM_NOISE_VARIANCE, Tolerance("relative", Fraction(2, 100))),
        (BATCH_NORM_PAIR, Tolerance("absolute", Fraction(1, 100))),
    ],
)
def test_graded_through_the_domain(generator: object, tolerance: Tolerance) -> None:
    question = Question(
        id="g",
        type="numeric",
        prompt=generator.template,  # type: ignore[attr-defined]
        explanation="Batch statistics are noisy at small batch sizes.",
        tolerance=tolerance,
        generator=generator,  # type: ignore[arg-type]
    )
    quiz = Quiz("q", "Q", None, "", QuizSettings(), (question,))
    for attempt in range(1, 30):
        seed = derive_seed("learner", "q", attempt)
        instance = instantiate(quiz, seed)[0]
        expected = generator.answer(instance.params)  # type: ignore[attr-defined]
        assert grade(quiz, seed, {"g": f"{expected:.4f}"}).results[0].correct
        wrong = -expected if generator is BATCH_NORM_PAIR else expected * 1.5
        assert not grade(quiz, seed, {"g": f"{wrong:.4f}"}).results[0].correct
        assert math.isfinite(expected)


def test_pair_misconceptions_are_the_unbiased_normalization_and_the_other_value() -> None:
    params = {"x": [3, -1], "index": 0}
    x = torch.tensor([3.0, -1.0], dtype=torch.float64)
    unbiased = ((x - x.mean()) / x.std(unbiased=True))[0].item()  # the 1/(n-1) mistake
    wrong = BATCH_NORM_PAIR.misconception_answers(params)
    assert wrong["unbiased-variance"] == pytest.approx(unbiased, abs=1e-5)
    assert wrong["other-example"] == pytest.approx(-1.0, abs=1e-5)


def test_noise_misconceptions_at_a_hand_worked_draw() -> None:
    params = {"batch_size": 8, "z": 2.0}  # answer (1 + 2)/8 = 0.375
    wrong = BATCH_NORM_NOISE_VARIANCE.misconception_answers(params)
    assert wrong == pytest.approx(
        {"mean-noise-only": 1 / 8, "z-squared-not-halved": 5 / 8, "standard-deviation": 0.375**0.5}
    )
