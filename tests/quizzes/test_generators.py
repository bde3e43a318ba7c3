"""Generated questions: seeded draws, answers checked against PyTorch and closed forms."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Callable, Mapping
from fractions import Fraction
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from service.quizzes.domain import (
    Question,
    Quiz,
    QuizSettings,
    SeededDraws,
    Tolerance,
    derive_seed,
    grade,
    instantiate,
    public_view,
)
from service.quizzes.generators import REGISTRY

F = torch.nn.functional


def _torch_layer(x: torch.Tensor) -> torch.Tensor:
    return F.layer_norm(x, (x.shape[-1],), eps=0.0)


def _torch_batch(x: torch.Tensor) -> torch.Tensor:
    # torch refuses eps = 0 in training; 1e-300 vanishes next to any non-zero variance.
    return F.batch_norm(x, None, None, training=True, eps=1e-300)


def _torch_group(x: torch.Tensor) -> torch.Tensor:
    return F.group_norm(x, 2, eps=0.0)


def _torch_instance(x: torch.Tensor) -> torch.Tensor:
    return F.instance_norm(x, eps=0.0)


TORCH_NORMALIZATION: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "layer-norm-element": _torch_layer,
    "batch-norm-element": _torch_batch,
    "group-norm-element": _torch_group,
    "instance-norm-element": _torch_instance,
}


def _linear_oracle(params: Mapping[str, Any]) -> float:
    """Each linear layer multiplies the variance by n·Var(W), exactly."""
    factor = Fraction(params["fan_in"]) * Fraction(str(params["weight_variance"]))
    return float(Fraction(params["input_variance"]) * factor ** params["depth"])


def _relu_oracle(params: Mapping[str, Any]) -> float:
    """Var(z_1) = c·Var(x) with c = n·Var(W); every later layer multiplies by c/2 (ReLU)."""
    c = Fraction(params["numerator"])
    return float(Fraction(params["input_variance"]) * c * (c / 2) ** (params["depth"] - 1))


def _noise_oracle(params: Mapping[str, Any]) -> float:
    """The delta method's (1 + z²/2)/m, in exact rationals."""
    z = Fraction(str(params["z"]))
    return float((1 + z * z / 2) / params["batch_size"])


def _pair_oracle(params: Mapping[str, Any]) -> float:
    x = torch.tensor(params["x"], dtype=torch.float64).reshape(2, 1)
    return float(F.batch_norm(x, None, None, training=True, eps=1e-5)[params["index"], 0])


def oracle(name: str, params: Mapping[str, Any]) -> float:
    if name == "batch-norm-noise-variance":
        return _noise_oracle(params)
    if name == "batch-norm-pair":
        return _pair_oracle(params)
    if name in TORCH_NORMALIZATION:
        x = torch.tensor(params["x"], dtype=torch.float64)
        return float(TORCH_NORMALIZATION[name](x)[tuple(params["index"])])
    if name == "linear-variance-propagation":
        return _linear_oracle(params)
    if name == "relu-variance-propagation":
        return _relu_oracle(params)
    raise AssertionError(f"no oracle for generator {name}")


def test_every_generator_has_an_oracle() -> None:
    for name in REGISTRY:
        params = REGISTRY[name].draw(SeededDraws(0, name), {})
        assert math.isfinite(oracle(name, params))


@pytest.mark.parametrize("name", sorted(REGISTRY))
@given(seed=st.integers(0, 2**63 - 1))
@settings(max_examples=25, deadline=None)
def test_answer_matches_the_oracle(name: str, seed: int) -> None:
    generator = REGISTRY[name]
    params = generator.draw(SeededDraws(seed, "q"), {})
    assert generator.answer(params) == pytest.approx(oracle(name, params), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_same_seed_same_question(name: str) -> None:
    generator = REGISTRY[name]
    first = generator.draw(SeededDraws(123, "q", "params"), {})
    again = generator.draw(SeededDraws(123, "q", "params"), {})
    assert first == again
    assert generator.render(first) == generator.render(again)
    assert generator.answer(first) == generator.answer(again)
    # Params are stored on attempts: plain JSON, unchanged by a round trip.
    assert json.loads(json.dumps(first)) == first


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_different_attempts_draw_different_numbers(name: str) -> None:
    generator = REGISTRY[name]
    seeds = [derive_seed("learner-7", "quiz", attempt) for attempt in range(1, 21)]
    prompts = {generator.render(generator.draw(SeededDraws(s, "q", "params"), {})) for s in seeds}
    assert len(prompts) >= 15


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_prompt_template_and_explanation(name: str) -> None:
    generator = REGISTRY[name]
    params = generator.draw(SeededDraws(5, "q"), {})
    prompt = generator.render(params)
    assert prompt != generator.template
    assert prompt.endswith("?")
    assert generator.template.endswith("?")
    explanation = generator.explain(params)
    answer = generator.answer(params)
    # The worked explanation ends with the answer to 4 significant figures.
    shown = re.findall(r"≈ (\S+?)\.?$", explanation)
    assert shown, explanation
    assert float(shown[0].replace("−", "-")) == pytest.approx(answer, rel=1e-3)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_options_are_checked(name: str) -> None:
    generator = REGISTRY[name]
    generator.check_options({})
    with pytest.raises(ValueError, match="unknown option"):
        generator.check_options({"bogus": 1})


@pytest.mark.parametrize(
    "name",
    ["layer-norm-element", "batch-norm-element", "group-norm-element", "instance-norm-element"],
)
def test_normalization_value_range_option(name: str) -> None:
    generator = REGISTRY[name]
    generator.check_options({"low": 0, "high": 3})
    with pytest.raises(ValueError, match="low < high"):
        generator.check_options({"low": 3, "high": 3})
    with pytest.raises(ValueError, match="integer"):
        generator.check_options({"low": 0.5})
    for seed in range(10):
        params = generator.draw(SeededDraws(seed, "q"), {"low": 0, "high": 3})
        values = torch.tensor(params["x"]).flatten().tolist()
        assert all(0 <= value <= 3 for value in values)


def test_graded_through_the_domain() -> None:
    """A learner who computes the drawn question correctly (to 3 decimals) gets the point."""
    question = Question(
        id="ln",
        type="numeric",
        prompt=REGISTRY["layer-norm-element"].template,
        explanation="Normalize each row.",
        tolerance=Tolerance("absolute", Fraction(1, 100)),
        generator=REGISTRY["layer-norm-element"],
    )
    quiz = Quiz("q", "Q", None, "", QuizSettings(), (question,))
    for attempt in range(1, 6):
        seed = derive_seed("learner", "q", attempt)
        instance = instantiate(quiz, seed)[0]
        expected = oracle("layer-norm-element", instance.params)
        assert grade(quiz, seed, {"ln": f"{expected:.3f}"}).results[0].correct
        assert not grade(quiz, seed, {"ln": f"{expected + 0.02:.3f}"}).results[0].correct
        assert public_view(quiz, seed)["questions"][0]["prompt"] == instance.prompt
    assert public_view(quiz)["questions"][0]["prompt"] == question.prompt
