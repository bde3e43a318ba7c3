"""Generated numeric questions: numbers drawn per attempt, answers computed by service.numerics.

Each generator has a `template` (the preview prompt, without numbers), `draw(rng, options)`
(rng: `domain.SeededDraws`, stable across numpy versions), `render(params)`, `answer(params)` and
`explain(params)` (the worked numbers, shown after grading). `params` hold only ints, floats and
lists, so an attempt can store them. Bank questions name a generator in REGISTRY and may narrow
its draws with `options` (checked by `check_options`). Bump `version` whenever a change would
alter the numbers or answers drawn for an existing seed: it is part of the quiz content hash.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from service.numerics.errors import NonFiniteResult
from service.numerics.network import build_network_spec
from service.numerics.normalization import batch_norm, group_norm, instance_norm, layer_norm
from service.numerics.propagation import analytic_propagation
from service.quizzes.domain import QuestionGenerator, SeededDraws

Params = dict[str, Any]

# Drawn entries are small integers so that a learner can check the numbers by hand.
DEFAULT_LOW, DEFAULT_HIGH = -4, 9
MAX_REDRAWS = 50


def _int_option(options: Mapping[str, Any], key: str, default: int) -> int:
    value = options.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"option {key!r} must be an integer")
    return value


def _check_known(options: Mapping[str, Any], known: set[str]) -> None:
    unknown = sorted(set(options) - known)
    if unknown:
        raise ValueError(
            f"unknown option(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )


def _fmt(value: float) -> str:
    return f"{value:.4g}"


def _paren(value: float) -> str:
    return f"({_fmt(value)})" if value < 0 else _fmt(value)


def _nested(values: Any) -> str:
    if isinstance(values, list):
        return "[" + ", ".join(_nested(v) for v in values) + "]"
    return str(values)


# ---------------------------------------------------------------------------------------------
# Normalization: "normalize this small array, what is element [...]?"


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

    def check_options(self, options: Mapping[str, Any]) -> None:
        _check_known(options, {"low", "high"})
        low = _int_option(options, "low", DEFAULT_LOW)
        high = _int_option(options, "high", DEFAULT_HIGH)
        if not -100 <= low < high <= 100:
            raise ValueError("options need -100 <= low < high <= 100")

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        low = _int_option(options, "low", DEFAULT_LOW)
        high = _int_option(options, "high", DEFAULT_HIGH)
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

    def explain(self, params: Mapping[str, Any]) -> str:
        value, mean, var, out = self._computed(params)
        return (
            f"The element x = {_fmt(value)} shares its statistics with values of mean "
            f"μ = {_fmt(mean)} and variance σ² = {_fmt(var)}, so (x − μ)/σ = "
            f"({_fmt(value)} − {_paren(mean)})/√{_fmt(var)} ≈ {_fmt(out)}."
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


def _layer_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    return (
        f"Apply layer normalization to each row of the 2×4 array X = {_nested(x)} "
        f"({_NO_AFFINE}). What is the output at row {index[0]}, column {index[1]} "
        "(counting from 0)?"
    )


def _batch_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    return (
        f"A training batch holds 4 examples with 2 features each, one row per example: "
        f"X = {_nested(x)}. Batch normalization normalizes each feature over the batch "
        f"({_NO_AFFINE}). What is the output for example {index[0]}, feature {index[1]} "
        "(counting from 0)?"
    )


def _group_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    channels = ", ".join(f"channel {c} = {_nested(v)}" for c, v in enumerate(x[0]))
    return (
        f"One example has 4 channels of 2 values each: {channels}. Group normalization with "
        f"2 groups (channels 0–1 and channels 2–3) normalizes the 4 values of each group "
        f"together ({_NO_AFFINE}). What is the output for channel {index[1]}, value "
        f"{index[2]} (counting from 0)?"
    )


def _instance_prompt(x: list[Any], index: tuple[int, ...]) -> str:
    channels = ", ".join(f"channel {c} = {_nested(v)}" for c, v in enumerate(x[0]))
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
)


# ---------------------------------------------------------------------------------------------
# Propagation: "depth L, fan-in n, Var(W) = v: what is the variance after L layers?"

_INPUT_VARIANCES = (1, 2, 4)


def _check_depths(options: Mapping[str, Any], low: int, high: int) -> tuple[int, int]:
    _check_known(options, {"min_depth", "max_depth"})
    shallow = _int_option(options, "min_depth", low)
    deep = _int_option(options, "max_depth", high)
    if not 1 <= shallow <= deep <= 40:
        raise ValueError("options need 1 <= min_depth <= max_depth <= 40")
    return shallow, deep


@functools.lru_cache(maxsize=1024)
def _propagated_variances(
    depth: int, fan_in: int, weight_variance: float, input_variance: float, activation: str
) -> tuple[float | None, float | None]:
    """(final variance, last layer's preactivation variance) by analytic_propagation.

    The generators draw from a few hundred combinations, so every attempt after the first few
    finds its answer here instead of running the recursion (a start and its grading each ask)."""
    spec = build_network_spec(
        depth=depth,
        width=fan_in,
        weight_variance=weight_variance,
        input_variance=input_variance,
        activation=activation,
    )
    result = analytic_propagation(spec)
    last = result.layers[-1].preactivation_variance
    final = result.final_variance
    return (
        None if final is None else float(final),
        None if last is None else float(last),
    )


@dataclass(frozen=True)
class LinearVariancePropagation:
    """A stack of linear layers: Var(h_L) = Var(x)·(n·Var(W))^L, from analytic_propagation."""

    name: str = "linear-variance-propagation"
    version: int = 1
    template: str = (
        "A deep network has L linear layers (no activation function), each with fan-in n and "
        "independent zero-mean weights of variance Var(W); the input has variance Var(x). What "
        "is the variance of the output after L layers?"
    )
    # (n, Var(W)) pairs with a per-layer factor n·Var(W) away from 1 and easy to multiply.
    layers: tuple[tuple[int, str], ...] = (
        (100, "0.02"),
        (100, "0.005"),
        (200, "0.01"),
        (200, "0.004"),
        (250, "0.006"),
        (400, "0.005"),
        (500, "0.001"),
        (500, "0.003"),
        (1000, "0.0015"),
        (1000, "0.0008"),
    )

    def check_options(self, options: Mapping[str, Any]) -> None:
        _check_depths(options, 5, 25)

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        shallow, deep = _check_depths(options, 5, 25)
        fan_in, weight_variance = rng.choice(self.layers)
        return {
            "depth": rng.integer(shallow, deep),
            "fan_in": fan_in,
            "weight_variance": float(weight_variance),
            "input_variance": rng.choice(_INPUT_VARIANCES),
        }

    def render(self, params: Mapping[str, Any]) -> str:
        return (
            f"A deep network has {params['depth']} linear layers (no activation function), each "
            f"with fan-in n = {params['fan_in']} and independent zero-mean weights of variance "
            f"Var(W) = {params['weight_variance']:g}. The input has variance "
            f"{params['input_variance']}. What is the variance of the output after "
            f"{params['depth']} layers?"
        )

    def answer(self, params: Mapping[str, Any]) -> float:
        final, _ = _propagated_variances(
            int(params["depth"]),
            int(params["fan_in"]),
            float(params["weight_variance"]),
            float(params["input_variance"]),
            "linear",
        )
        assert final is not None  # drawn values stay far inside a double
        return final

    def explain(self, params: Mapping[str, Any]) -> str:
        factor = params["fan_in"] * params["weight_variance"]
        return (
            f"Here n·Var(W) = {params['fan_in']} × {params['weight_variance']:g} = {factor:g}, "
            f"so the output variance is {params['input_variance']} × {factor:g}^{params['depth']}"
            f" ≈ {_fmt(self.answer(params))}."
        )


@dataclass(frozen=True)
class ReluVariancePropagation:
    """ReLU layers: Var(z_L) = Var(x)·c·(c/2)^(L−1), c = n·Var(W), from analytic_propagation."""

    name: str = "relu-variance-propagation"
    version: int = 1
    template: str = (
        "A deep fully connected ReLU network has L layers of fan-in n, weights of variance "
        "Var(W) and no biases; the input has variance Var(x). What is the variance of the "
        "preactivation z_L of the last layer?"
    )
    fan_ins: tuple[int, ...] = (64, 128, 256, 512, 1024)
    # c = n·Var(W); Var(W) is shown as the fraction c/n. 2 is He initialization.
    numerators: tuple[int, ...] = (1, 2, 3, 4)

    def check_options(self, options: Mapping[str, Any]) -> None:
        _check_depths(options, 3, 15)

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> Params:
        shallow, deep = _check_depths(options, 3, 15)
        return {
            "depth": rng.integer(shallow, deep),
            "fan_in": rng.choice(self.fan_ins),
            "numerator": rng.choice(self.numerators),
            "input_variance": rng.choice(_INPUT_VARIANCES),
        }

    def render(self, params: Mapping[str, Any]) -> str:
        return (
            f"A deep fully connected network has {params['depth']} layers, each computing "
            f"z = W·h with fan-in n = {params['fan_in']} and no bias, followed by ReLU "
            f"(h = max(z, 0)); the last layer's z is the output. The weights are independent, "
            f"zero-mean, with Var(W) = {params['numerator']}/{params['fan_in']}, and the input "
            f"h_0 has zero mean and variance {params['input_variance']}. What is Var(z) of the "
            f"last layer (layer {params['depth']})?"
        )

    def answer(self, params: Mapping[str, Any]) -> float:
        _, variance = _propagated_variances(
            int(params["depth"]),
            int(params["fan_in"]),
            params["numerator"] / params["fan_in"],
            float(params["input_variance"]),
            "relu",
        )
        assert variance is not None
        return variance

    def explain(self, params: Mapping[str, Any]) -> str:
        c, depth = params["numerator"], params["depth"]
        return (
            f"Here n·Var(W) = {c}: the first layer gives Var(z_1) = {c} × "
            f"{params['input_variance']}, and each later layer multiplies by {c}/2 because ReLU "
            f"keeps half of the second moment, so Var(z_{depth}) = {params['input_variance']} × "
            f"{c} × ({c}/2)^{depth - 1} ≈ {_fmt(self.answer(params))}."
        )


LINEAR_VARIANCE_PROPAGATION = LinearVariancePropagation()
RELU_VARIANCE_PROPAGATION = ReluVariancePropagation()


def _registry(*generators: QuestionGenerator) -> dict[str, QuestionGenerator]:
    return {generator.name: generator for generator in generators}


REGISTRY: Mapping[str, QuestionGenerator] = _registry(
    LINEAR_VARIANCE_PROPAGATION,
    RELU_VARIANCE_PROPAGATION,
    LAYER_NORM_ELEMENT,
    BATCH_NORM_ELEMENT,
    GROUP_NORM_ELEMENT,
    INSTANCE_NORM_ELEMENT,
)
