"""Propagation questions: "depth L, fan-in n, Var(W) = v: what is the variance after L layers?"

Answered by service.numerics.propagation.analytic_propagation, which also computes each
misconception's wrong answer (the network the mistake imagines). The draws come from a few
hundred (depth, fan-in, Var(W), Var(x)) combinations, so their answers are worth keeping per
drawn parameters (the quiz read model does, per app).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from service.numerics.network import build_network_spec
from service.numerics.propagation import analytic_propagation
from service.quizzes.domain import AnswerMemo, SeededDraws
from service.quizzes.generators.common import Params, check_known, fmt, int_option

_INPUT_VARIANCES = (1, 2, 4)


def _check_depths(options: Mapping[str, Any], low: int, high: int) -> tuple[int, int]:
    check_known(options, {"min_depth", "max_depth"})
    shallow = int_option(options, "min_depth", low)
    deep = int_option(options, "max_depth", high)
    if not 1 <= shallow <= deep <= 40:
        raise ValueError("options need 1 <= min_depth <= max_depth <= 40")
    return shallow, deep


def _variances(
    memo: AnswerMemo | None,
    depth: int,
    fan_in: int,
    weight_variance: float,
    input_variance: float,
    activation: str,
) -> tuple[float | None, float | None]:
    """`_propagated_variances`, kept in `memo` when there is one: the generators draw from a few
    hundred combinations, and an attempt's answer and explanation both ask."""
    if memo is None:
        return _propagated_variances(depth, fan_in, weight_variance, input_variance, activation)
    key = ("propagated-variances", depth, fan_in, weight_variance, input_variance, activation)
    variances: tuple[float | None, float | None] = memo.get_or_build(
        key,
        lambda: _propagated_variances(depth, fan_in, weight_variance, input_variance, activation),
    )
    return variances


def _propagated_variances(
    depth: int, fan_in: int, weight_variance: float, input_variance: float, activation: str
) -> tuple[float | None, float | None]:
    """(final variance, last layer's preactivation variance) by analytic_propagation."""
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
    # The app's memo of computed variances (see `remembering`); not part of the value.
    memo: AnswerMemo | None = field(default=None, compare=False, repr=False)
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

    def remembering(self, memo: AnswerMemo) -> LinearVariancePropagation:
        return replace(self, memo=memo)

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
        final, _ = _variances(
            self.memo,
            int(params["depth"]),
            int(params["fan_in"]),
            float(params["weight_variance"]),
            float(params["input_variance"]),
            "linear",
        )
        assert final is not None  # drawn values stay far inside a double
        return final

    misconception_ids: tuple[str, ...] = (
        "multiplied-by-depth",
        "forgot-fan-in",
        "standard-deviation",
    )

    def misconception_answers(self, params: Mapping[str, Any]) -> dict[str, float]:
        """multiplied-by-depth: Var(x)·L·n·Var(W) (one layer's factor times L, as if the
        factors added up); forgot-fan-in: Var(x)·Var(W)^L (a network of width 1);
        standard-deviation: √(Var(x)·(n·Var(W))^L)."""
        depth, fan_in = int(params["depth"]), int(params["fan_in"])
        weight, source = float(params["weight_variance"]), float(params["input_variance"])
        one_layer, _ = _variances(self.memo, 1, fan_in, weight, source, "linear")
        width_one, _ = _variances(self.memo, depth, 1, weight, source, "linear")
        assert one_layer is not None
        assert width_one is not None
        return {
            "multiplied-by-depth": depth * one_layer,
            "forgot-fan-in": width_one,
            "standard-deviation": math.sqrt(self.answer(params)),
        }

    def explain(self, params: Mapping[str, Any]) -> str:
        factor = params["fan_in"] * params["weight_variance"]
        return (
            f"Here n·Var(W) = {params['fan_in']} × {params['weight_variance']:g} = {factor:g}, "
            f"so the output variance is {params['input_variance']} × {factor:g}^{params['depth']}"
            f" ≈ {fmt(self.answer(params))}."
        )


@dataclass(frozen=True)
class ReluVariancePropagation:
    """ReLU layers: Var(z_L) = Var(x)·c·(c/2)^(L−1), c = n·Var(W), from analytic_propagation."""

    name: str = "relu-variance-propagation"
    version: int = 1
    # The app's memo of computed variances (see `remembering`); not part of the value.
    memo: AnswerMemo | None = field(default=None, compare=False, repr=False)
    template: str = (
        "A deep fully connected ReLU network has L layers of fan-in n, weights of variance "
        "Var(W) and no biases; the input has variance Var(x). What is the variance of the "
        "preactivation z_L of the last layer?"
    )
    fan_ins: tuple[int, ...] = (64, 128, 256, 512, 1024)
    # c = n·Var(W); Var(W) is shown as the fraction c/n. 2 is He initialization.
    numerators: tuple[int, ...] = (1, 2, 3, 4)

    def remembering(self, memo: AnswerMemo) -> ReluVariancePropagation:
        return replace(self, memo=memo)

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
        _, variance = _variances(
            self.memo,
            int(params["depth"]),
            int(params["fan_in"]),
            params["numerator"] / params["fan_in"],
            float(params["input_variance"]),
            "relu",
        )
        assert variance is not None
        return variance

    misconception_ids: tuple[str, ...] = (
        "relu-half-forgotten",
        "halved-every-layer",
        "standard-deviation",
    )

    def misconception_answers(self, params: Mapping[str, Any]) -> dict[str, float]:
        """relu-half-forgotten: Var(x)·c^L (the same stack without ReLU); halved-every-layer:
        Var(x)·(c/2)^L (the ½ applied to the first layer too, whose input is no ReLU output);
        standard-deviation: √Var(z_L)."""
        depth, fan_in = int(params["depth"]), int(params["fan_in"])
        weight, source = params["numerator"] / fan_in, float(params["input_variance"])
        linear, _ = _variances(self.memo, depth, fan_in, weight, source, "linear")
        assert linear is not None
        variance = self.answer(params)
        return {
            "relu-half-forgotten": linear,
            # E[h_L²] = Var(z_L)/2 = Var(x)·(c/2)^L: the ½ of the last ReLU counted too.
            "halved-every-layer": variance / 2,
            "standard-deviation": math.sqrt(variance),
        }

    def explain(self, params: Mapping[str, Any]) -> str:
        c, depth = params["numerator"], params["depth"]
        return (
            f"Here n·Var(W) = {c}: the first layer gives Var(z_1) = {c} × "
            f"{params['input_variance']}, and each later layer multiplies by {c}/2 because ReLU "
            f"keeps half of the second moment, so Var(z_{depth}) = {params['input_variance']} × "
            f"{c} × ({c}/2)^{depth - 1} ≈ {fmt(self.answer(params))}."
        )


LINEAR_VARIANCE_PROPAGATION = LinearVariancePropagation()
RELU_VARIANCE_PROPAGATION = ReluVariancePropagation()
