"""Normalization questions: "normalize this small array; what is the output at [...]?"

Each draws a small integer array (a learner can check it by hand) and asks one element of its
normalization by one variant (ε = 0, no affine), computed by service.numerics.normalization.

Misconceptions, from the same computation: `unbiased-variance` divides by the n − 1 variance,
(x − μ)/√(σ²·n/(n − 1)); `divided-by-variance` divides by σ² instead of σ; `wrong-axis`
normalizes over the axes another variant uses (`misnormalize`, also service.numerics).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.numerics.errors import NonFiniteResult
from service.numerics.normalization import batch_norm, group_norm, instance_norm, layer_norm
from service.quizzes.domain import AnswerMemo, SeededDraws
from service.quizzes.generators.common import (
    DEFAULT_HIGH,
    DEFAULT_LOW,
    MAX_REDRAWS,
    Params,
    check_known,
    fmt,
    int_option,
    nested,
    paren,
)


@dataclass(frozen=True)
class NormalizationElement:
    """Normalize a small integer array with one variant (ε = 0, no affine) and ask one element.

    `normalize(x)` returns (output, mean, var) from service.numerics; `group_of(index, mean)`
    picks the statistic that the asked element uses; `prompt` formats the question.
    """

    name: str
    version: int
    template: str
    shape: tuple[int, ...]
    normalize: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]
    statistic_index: Callable[[tuple[int, ...]], tuple[int, ...]]
    prompt: Callable[[list[Any], tuple[int, ...]], str]
    misnormalize: Callable[[np.ndarray], np.ndarray]
    misconception_ids: tuple[str, ...] = ("unbiased-variance", "divided-by-variance", "wrong-axis")

    def remembering(self, memo: AnswerMemo) -> NormalizationElement:
        """Itself: 14^8 arrays, an answer is rarely asked twice."""
        return self

    def check_options(self, options: Mapping[str, Any]) -> None:
        check_known(options, {"low", "high"})
        low = int_option(options, "low", DEFAULT_LOW)
        high = int_option(options, "high", DEFAULT_HIGH)
        if not -100 <= low < high <= 100:
            raise ValueError("options need -100 <= low < high <= 100")

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        low = int_option(options, "low", DEFAULT_LOW)
        high = int_option(options, "high", DEFAULT_HIGH)
        size = math.prod(self.shape)
        for _ in range(MAX_REDRAWS):
            values = [rng.integer(low, high) for _ in range(size)]
            x = np.array(values, dtype=np.float64).reshape(self.shape)
            try:
                _, _, var = self.normalize(x)
            except NonFiniteResult:
                continue  # a constant group has no defined normalized value: draw again
            if not var.all():
                continue
            index = [rng.integer(0, extent - 1) for extent in self.shape]
            return {"x": x.astype(int).tolist(), "index": index}
        raise RuntimeError(f"{self.name}: no usable draw in {MAX_REDRAWS} tries")

    def _computed(self, params: Mapping[str, Any]) -> tuple[float, float, float, float]:
        x = np.asarray(params["x"], dtype=np.float64)
        index = tuple(int(i) for i in params["index"])
        output, mean, var = self.normalize(x)
        where = self.statistic_index(index)
        return float(x[index]), float(mean[where]), float(var[where]), float(output[index])

    def render(self, params: Mapping[str, Any]) -> str:
        return self.prompt(params["x"], tuple(params["index"]))

    def answer(self, params: Mapping[str, Any]) -> float:
        return self._computed(params)[3]

    def misconception_answers(self, params: Mapping[str, Any]) -> dict[str, float]:
        x = np.asarray(params["x"], dtype=np.float64)
        index = tuple(int(i) for i in params["index"])
        output, mean, var = self.normalize(x)
        count = x.size // mean.size  # values per statistic
        where = self.statistic_index(index)
        try:
            wrong_axis = float(self.misnormalize(x)[index])
        except NonFiniteResult:
            wrong_axis = math.nan  # a constant slice along the wrong axes: undefined
        return {
            "unbiased-variance": float(output[index]) * math.sqrt((count - 1) / count),
            "divided-by-variance": float(output[index]) / math.sqrt(float(var[where])),
            "wrong-axis": wrong_axis,
        }

    def explain(self, params: Mapping[str, Any]) -> str:
        value, mean, var, out = self._computed(params)
        return (
            f"The element x = {fmt(value)} shares its statistics with values of mean "
            f"μ = {fmt(mean)} and variance σ² = {fmt(var)}, so (x − μ)/σ = "
            f"({fmt(value)} − {paren(mean)})/√{fmt(var)} ≈ {fmt(out)}."
        )


_NO_AFFINE = "ε = 0, no learned scale or shift, variance with 1/n"


def _layer(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = layer_norm(x, x.shape[-1], eps=0.0, dtype=np.float64)
    assert result.mean is not None
    return result.output, result.mean, result.var


# Training-mode batch norm refuses eps = 0 (as torch does); next to the variances of small
# integers (at least 1/16 here) 1e-300 does not change a single bit of the result.
_BATCH_EPS = 1e-300


def _batch(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = batch_norm(x, training=True, eps=_BATCH_EPS, dtype=np.float64)
    assert result.mean is not None
    return result.output, result.mean, result.var


def _group(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = group_norm(x, 2, eps=0.0, dtype=np.float64)
    assert result.mean is not None
    return result.output, result.mean, result.var


def _instance(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    result = instance_norm(x, eps=0.0, dtype=np.float64)
    assert result.mean is not None
    return result.output, result.mean, result.var


def _over_features(x: np.ndarray) -> np.ndarray:
    """Each row over its own last axis (layer normalization of the rows)."""
    return _layer(x)[0]


def _over_batch(x: np.ndarray) -> np.ndarray:
    """Each column over the rows (batch normalization's axis); NaN in a constant column, whose
    normalized value is undefined (ε = 0)."""
    output, _, var = _batch(x)
    return np.where(var == 0, np.nan, output)


def _one_group(x: np.ndarray) -> np.ndarray:
    """All channels of an example together (one group: layer normalization over C, H, W)."""
    result = group_norm(x, 1, eps=0.0, dtype=np.float64)
    return result.output


def _layer_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    return (
        f"Apply layer normalization to each row of the 2×4 array X = {nested(x)} "
        f"({_NO_AFFINE}). What is the output at row {index[0]}, column {index[1]} "
        "(counting from 0)?"
    )


def _batch_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    return (
        f"A training batch holds 4 examples with 2 features each, one row per example: "
        f"X = {nested(x)}. Batch normalization normalizes each feature over the batch "
        f"({_NO_AFFINE}). What is the output for example {index[0]}, feature {index[1]} "
        "(counting from 0)?"
    )


def _group_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    channels = ", ".join(f"channel {c} = {nested(v)}" for c, v in enumerate(x[0]))
    return (
        f"One example has 4 channels of 2 values each: {channels}. Group normalization with "
        f"2 groups (channels 0–1 and channels 2–3) normalizes the 4 values of each group "
        f"together ({_NO_AFFINE}). What is the output for channel {index[1]}, value "
        f"{index[2]} (counting from 0)?"
    )


def _instance_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    channels = ", ".join(f"channel {c} = {nested(v)}" for c, v in enumerate(x[0]))
    return (
        f"One image has 2 channels, each a 2×2 grid: {channels}. Instance normalization "
        f"normalizes each channel of each image over its own pixels ({_NO_AFFINE}). What is "
        f"the output for channel {index[1]} at row {index[2]}, column {index[3]} "
        "(counting from 0)?"
    )


LAYER_NORM_ELEMENT = NormalizationElement(
    name="layer-norm-element",
    version=1,
    template=(
        "Apply layer normalization to each row of a given 2×4 array (ε = 0, no learned scale "
        "or shift). What is the output at a given row and column?"
    ),
    shape=(2, 4),
    normalize=_layer,
    statistic_index=lambda index: (index[0],),
    prompt=_layer_prompt,
    misnormalize=_over_batch,
)
BATCH_NORM_ELEMENT = NormalizationElement(
    name="batch-norm-element",
    version=1,
    template=(
        "Batch-normalize a given batch of 4 examples with 2 features (training mode, ε = 0, "
        "no learned scale or shift). What is the output for a given example and feature?"
    ),
    shape=(4, 2),
    normalize=_batch,
    statistic_index=lambda index: (index[1],),
    prompt=_batch_prompt,
    misnormalize=_over_features,
)
GROUP_NORM_ELEMENT = NormalizationElement(
    name="group-norm-element",
    version=1,
    template=(
        "Group-normalize a given example with 4 channels of 2 values into 2 groups (ε = 0, no "
        "learned scale or shift). What is the output for a given channel and value?"
    ),
    shape=(1, 4, 2),
    normalize=_group,
    statistic_index=lambda index: (index[0], index[1] // 2),
    prompt=_group_prompt,
    misnormalize=_one_group,
)
INSTANCE_NORM_ELEMENT = NormalizationElement(
    name="instance-norm-element",
    version=1,
    template=(
        "Instance-normalize a given image with 2 channels of 2×2 pixels (ε = 0, no learned "
        "scale or shift). What is the output for a given channel and pixel?"
    ),
    shape=(1, 2, 2, 2),
    normalize=_instance,
    statistic_index=lambda index: (index[0], index[1]),
    prompt=_instance_prompt,
    misnormalize=_one_group,
)
