"""Batch-size questions: how noisy batch norm's statistics make one example's normalized value.

- `batch-norm-noise-variance`: Var(x̂) of an example at standardized value z in a batch of m
  standard normal values, to first order (1 + z²/2)/m (service.numerics.batch_statistics); the
  explanation sets the exact value (by quadrature) beside it.
- `batch-norm-pair`: the normalized value of one of the two examples of a batch of size 2:
  ±1/√(1 + 4ε/(x₁ − x₂)²), which is ±1 up to ε whatever the inputs.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from service.numerics.batch_statistics import exact_variance, first_order_variance, normalized_pair
from service.quizzes.domain import AnswerMemo, SeededDraws
from service.quizzes.generators.common import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    Params,
    check_known,
    fmt,
    int_option,
)

_BATCH_SIZES = (4, 5, 8, 10, 16, 20, 25, 32, 50, 64, 100, 128)
# z in halves from -3 to 3: (1 + z²/2) stays a short decimal a learner can work out by hand.
_HALF_Z = tuple(range(-6, 7))
PAIR_EPS = 1e-5


@dataclass(frozen=True)
class BatchNormNoiseVariance:
    """Var(x̂) ≈ (1 + z²/2)/m for an example at standardized value z, batch size m."""

    name: str = "batch-norm-noise-variance"
    version: int = 1
    template: str = (
        "An example whose feature is z standard deviations from the mean is batch-normalized "
        "in a training batch of m examples whose other values are independent standard "
        "normal draws. To first order in 1/m, what is the variance of its normalized value "
        "across random batches?"
    )

    misconception_ids: tuple[str, ...] = (
        "mean-noise-only",
        "z-squared-not-halved",
        "standard-deviation",
    )

    def remembering(self, memo: AnswerMemo) -> BatchNormNoiseVariance:
        """Itself: the answer is one line of arithmetic."""
        return self

    def check_options(self, options: Mapping[str, Any]) -> None:
        check_known(options, set())

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        return {"batch_size": rng.choice(_BATCH_SIZES), "z": rng.choice(_HALF_Z) / 2}

    def render(self, params: Mapping[str, Any]) -> str:
        return (
            f"Batch normalization (training mode) normalizes each feature with the mean and "
            f"variance of the current batch. An example's feature sits at z = {fmt(params['z'])} "
            f"standard deviations; the other {params['batch_size'] - 1} examples of its batch of "
            f"m = {params['batch_size']} are fresh standard normal draws each time. To first "
            "order in 1/m (the delta method, ignoring ε), what is the variance of the example's "
            "normalized value across random batches?"
        )

    def answer(self, params: Mapping[str, Any]) -> float:
        return first_order_variance(int(params["batch_size"]), float(params["z"]))

    def misconception_answers(self, params: Mapping[str, Any]) -> dict[str, float]:
        """1/m (the batch variance's noise left out), (1 + z²)/m, and the first-order sd."""
        m, z = int(params["batch_size"]), float(params["z"])
        return {
            "mean-noise-only": 1.0 / m,
            "z-squared-not-halved": (1.0 + z * z) / m,
            "standard-deviation": math.sqrt(self.answer(params)),
        }

    def explain(self, params: Mapping[str, Any]) -> str:
        m, z = int(params["batch_size"]), float(params["z"])
        exact = exact_variance(m, z, eps=1e-5)
        first = self.answer(params)
        return (
            f"The batch mean wobbles with variance 1/m and the batch variance with 2/m, and an "
            f"example at z feels the second z²/4 times as much: Var(x̂) ≈ (1 + z²/2)/m = "
            f"(1 + {fmt(z * z / 2)})/{m}. The exact variance at this m (by quadrature, ε = 1e-5) "
            f"is {fmt(exact)}; the first-order value is ≈ {fmt(first)}."
        )


@dataclass(frozen=True)
class BatchNormPair:
    """The normalized value of example 0 in a batch of two: ±1/√(1 + 4ε/(x₀ − x₁)²)."""

    name: str = "batch-norm-pair"
    version: int = 1
    template: str = (
        "A training batch holds only two examples. Batch normalization (ε = 1e-5, no learned "
        "scale or shift) normalizes a feature over the two. What is the normalized value of a "
        "given example?"
    )

    misconception_ids: tuple[str, ...] = ("unbiased-variance", "other-example")

    def remembering(self, memo: AnswerMemo) -> BatchNormPair:
        return self

    def check_options(self, options: Mapping[str, Any]) -> None:
        check_known(options, {"low", "high"})
        low = int_option(options, "low", DEFAULT_LOW)
        high = int_option(options, "high", DEFAULT_HIGH)
        if not -1000 <= low < high <= 1000:
            raise ValueError("options need -1000 <= low < high <= 1000")

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        low = int_option(options, "low", DEFAULT_LOW)
        high = int_option(options, "high", DEFAULT_HIGH)
        first = rng.integer(low, high)
        second = rng.integer(low, high - 1)
        second += second >= first  # distinct: the answer is ±1 up to ε
        return {"x": [first, second], "index": rng.integer(0, 1)}

    def render(self, params: Mapping[str, Any]) -> str:
        x0, x1 = params["x"]
        return (
            f"A training batch holds only two examples, whose feature values are x₀ = {x0} and "
            f"x₁ = {x1}. Batch normalization normalizes the feature over these two (ε = 1e-5, "
            "variance with 1/n, no learned scale or shift). What is the normalized value of "
            f"example {params['index']} (x{'₀₁'[params['index']]})?"
        )

    def answer(self, params: Mapping[str, Any]) -> float:
        x0, x1 = params["x"]
        pair = normalized_pair(float(x0), float(x1), eps=PAIR_EPS)
        return pair[int(params["index"])]

    def misconception_answers(self, params: Mapping[str, Any]) -> dict[str, float]:
        """±1/√2 (dividing by the 1/(n−1) standard deviation) and the other example's value."""
        answer = self.answer(params)
        return {"unbiased-variance": answer / math.sqrt(2.0), "other-example": -answer}

    def explain(self, params: Mapping[str, Any]) -> str:
        x0, x1 = params["x"]
        mean = (x0 + x1) / 2
        half = abs(x0 - x1) / 2
        return (
            f"The mean is {fmt(mean)} and each value lies {fmt(half)} from it, so the 1/n "
            f"variance is {fmt(half * half)} and each normalized value is ±{fmt(half)}/"
            f"√({fmt(half * half)} + ε): +1 for the larger and −1 for the smaller, whatever the "
            f"two inputs (up to ε). Example {params['index']} is the "
            f"{'larger' if params['x'][params['index']] == max(x0, x1) else 'smaller'}, "
            f"so ≈ {fmt(self.answer(params))}."
        )


BATCH_NORM_NOISE_VARIANCE = BatchNormNoiseVariance()
BATCH_NORM_PAIR = BatchNormPair()
