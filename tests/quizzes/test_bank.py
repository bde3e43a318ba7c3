"""The lesson quiz bank: loads, validates, and every number and claim is recomputed."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from marshmallow import ValidationError

from service.numerics.initializers import calculate_gain, sample_weights, weight_variance
from service.numerics.network import build_network_spec
from service.numerics.normalization import (
    batch_norm,
    group_norm,
    instance_norm,
    layer_norm,
    reduced_axes,
)
from service.numerics.propagation import analytic_propagation
from service.quizzes.bank_loader import (
    BANK_DIR,
    BankError,
    content_hash,
    load_bank,
    load_bank_file,
)
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.domain import Quiz, grade, instantiate, public_view

BANK = {entry.quiz.slug: entry for entry in load_bank()}
QUIZZES = {slug: entry.quiz for slug, entry in BANK.items()}
EXPECTED_SLUGS = [
    "activation-distribution",
    "batch-normalization",
    "layer-normalization",
    "group-normalization",
    "instance-normalization",
    "initialization",
]


def test_the_module_has_its_six_quizzes_in_lesson_order() -> None:
    assert list(BANK) == EXPECTED_SLUGS
    assert [quiz.lesson for quiz in QUIZZES.values()] == [1, 2, 3, 4, 5, 6]
    for quiz in QUIZZES.values():
        assert quiz.title
        assert quiz.description
        assert len(quiz.questions) >= (3 if quiz.slug == "activation-distribution" else 4)
        assert any(q.generator is not None for q in quiz.questions), quiz.slug
        assert quiz.settings.show_correct_answers == "after_submission"
        assert quiz.settings.max_attempts is None
        for question in quiz.questions:
            assert len(question.explanation) > 40, question.id


def test_lesson_quiz_first_question() -> None:
    quiz = QUIZZES["activation-distribution"]
    assert len(quiz.questions) == 3
    first = quiz.questions[0]
    assert (first.id, first.type, first.answer) == ("q1-variance-20-layers", "numeric", 2**20)
    assert "20 layers" in first.prompt
    assert public_view(quiz)["questions"][0] == {
        "id": "q1-variance-20-layers",
        "type": "numeric",
        "prompt": first.prompt,
        "points": 1,
    }


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("1048576", True),
        ("1,048,576", True),
        ("1.048576e6", True),
        ("1.048576E+6", True),
        ("2^20", True),
        ("2**20", True),
        (1048576, True),
        ("1e6", False),
        ("1.05e6", False),
        ("2^19", False),
        ("2^21", False),
        ("20*2", False),
    ],
)
def test_lesson_question_accepts_every_form_and_rejects_approximations(
    answer: Any, correct: bool
) -> None:
    quiz = QUIZZES["activation-distribution"]
    result = grade(quiz, 1, {"q1-variance-20-layers": answer}).results[0]
    assert result.correct is correct


# ---------------------------------------------------------------------------------------------
# Every fixed number, recomputed


def _final_variance(**spec: Any) -> float:
    result = analytic_propagation(build_network_spec(**spec))
    assert result.final_variance is not None
    return float(result.final_variance)


def _twenty_doublings() -> float:
    # A linear layer multiplies the variance by n·Var(W): n = 100, Var(W) = 0.02 doubles it.
    return _final_variance(depth=20, width=100, weight_variance=0.02, activation="linear")


def _batch_norm_learned_parameters() -> float:
    return float(sum(p.numel() for p in torch.nn.BatchNorm2d(64).parameters()))


def _layer_norm_last_element() -> float:
    x = np.array([2.0, 4.0, 6.0, 8.0])
    return float(layer_norm(x, 4, eps=0.0, dtype=np.float64).output[-1])


def _group_norm_values_per_statistic() -> float:
    x = np.random.default_rng(0).standard_normal((4, 32, 16, 16))
    result = group_norm(x, 8, dtype=np.float64)
    assert result.mean is not None
    return x.size / result.mean.size


def _instance_norm_statistic_pairs() -> float:
    x = np.random.default_rng(0).standard_normal((8, 3, 32, 32))
    result = instance_norm(x, dtype=np.float64)
    assert result.mean is not None
    return float(result.mean.size)


def _lecun_linear_variance() -> float:
    variance = weight_variance("lecun_normal", 100, 100, 1.0)
    # ... and it really keeps the variance: 30 linear layers end where they started.
    assert _final_variance(
        depth=30, width=100, weight_variance=variance, activation="linear"
    ) == pytest.approx(1.0)
    return variance


def _he_variance() -> float:
    return weight_variance("he_normal", 512, 512, calculate_gain("relu"))


def _xavier_variance() -> float:
    return weight_variance("xavier_normal", 256, 128, calculate_gain("linear"))


FIXED_NUMBERS: dict[str, Callable[[], float]] = {
    "q1-variance-20-layers": _twenty_doublings,
    "q4-bn-parameters": _batch_norm_learned_parameters,
    "q3-ln-vector": _layer_norm_last_element,
    "q1-gn-values-per-group": _group_norm_values_per_statistic,
    "q2-in-count": _instance_norm_statistic_pairs,
    "q1-lecun-linear": _lecun_linear_variance,
    "q2-he-variance": _he_variance,
    "q3-xavier-variance": _xavier_variance,
}


def _fixed_numeric_questions() -> list[tuple[str, Any]]:
    return [
        (question.id, question)
        for quiz in QUIZZES.values()
        for question in quiz.questions
        if question.type == "numeric" and question.generator is None
    ]


def test_every_fixed_number_has_a_recomputation() -> None:
    assert sorted(qid for qid, _ in _fixed_numeric_questions()) == sorted(FIXED_NUMBERS)


@pytest.mark.parametrize(("question_id", "question"), _fixed_numeric_questions())
def test_fixed_numbers_are_right(question_id: str, question: Any) -> None:
    recomputed = FIXED_NUMBERS[question_id]()
    assert float(question.answer) == pytest.approx(recomputed, rel=1e-12)
    # The recomputed float is accepted by the question's own tolerance.
    assert question.tolerance.accepts(question.answer, Fraction(recomputed))


# ---------------------------------------------------------------------------------------------
# Every checkable claim behind a choice or true/false key


def _rand(*shape: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def _close(a: np.ndarray, b: np.ndarray) -> bool:
    return bool(np.allclose(a, b, rtol=1e-10, atol=1e-10))


def _claim_bn_axes() -> bool:
    return reduced_axes("batch", 4) == (0, 2, 3)


def _claim_bn_inference_uses_running_stats() -> bool:
    x = _rand(6, 3)
    running_mean, running_var = np.array([0.5, -1.0, 2.0]), np.array([4.0, 0.25, 1.0])
    result = batch_norm(
        x,
        running_mean=running_mean,
        running_var=running_var,
        training=False,
        eps=0.0,
        dtype=np.float64,
    )
    return _close(result.output, (x - running_mean) / np.sqrt(running_var))


def _claim_bn_depends_on_batch() -> bool:
    x = _rand(8, 3)
    alone = batch_norm(x[:4], dtype=np.float64).output
    together = batch_norm(x, dtype=np.float64).output[:4]
    return not _close(alone, together)


def _claim_ln_axes() -> bool:
    return reduced_axes("layer", 3, 1) == (2,)


def _claim_ln_per_token() -> bool:
    x = _rand(2, 5, 8)
    full = layer_norm(x, 8, dtype=np.float64).output
    single = layer_norm(x[1:2, 3:4], 8, dtype=np.float64).output
    return _close(full[1:2, 3:4], single)


def _claim_gn_one_group_is_layer_norm() -> bool:
    x = _rand(2, 6, 3, 3)
    return _close(
        group_norm(x, 1, dtype=np.float64).output,
        layer_norm(x, x.shape[1:], dtype=np.float64).output,
    )


def _claim_gn_c_groups_is_instance_norm() -> bool:
    x = _rand(2, 6, 3, 3)
    return _close(
        group_norm(x, 6, dtype=np.float64).output, instance_norm(x, dtype=np.float64).output
    )


def _claim_gn_per_example() -> bool:
    x = _rand(5, 4, 3, 3)
    return _close(
        group_norm(x, 2, dtype=np.float64).output[:1], group_norm(x[:1], 2, dtype=np.float64).output
    )


def _claim_in_axes() -> bool:
    return reduced_axes("instance", 4) == (2, 3)


def _claim_in_shift_scale_invariance() -> bool:
    x = _rand(1, 2, 4, 4)
    moved = x.copy()
    moved[0, 1] = 3.5 * moved[0, 1] + 7.0
    return _close(
        instance_norm(x, eps=0.0, dtype=np.float64).output,
        instance_norm(moved, eps=0.0, dtype=np.float64).output,
    )


def _claim_in_is_batch_norm_of_one_image() -> bool:
    x = _rand(1, 3, 4, 4)
    return _close(instance_norm(x, dtype=np.float64).output, batch_norm(x, dtype=np.float64).output)


def _claim_relu_halves_second_moment() -> bool:
    z = np.random.default_rng(1).standard_normal(400_000)
    return abs(np.mean(np.maximum(z, 0.0) ** 2) - 0.5) < 0.005


def _claim_constant_init_stays_symmetric() -> bool:
    torch.manual_seed(0)
    hidden = torch.nn.Linear(4, 3)
    model = torch.nn.Sequential(hidden, torch.nn.Tanh(), torch.nn.Linear(3, 1))
    for parameter in model.parameters():
        torch.nn.init.constant_(parameter, 0.3)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    for _ in range(20):
        optimizer.zero_grad()
        loss = ((model(torch.randn(16, 4)) - torch.randn(16, 1)) ** 2).mean()
        loss.backward()
        optimizer.step()
    first_layer = hidden.weight.detach()
    # The hidden units never differ: every row of the first layer is the same.
    return bool(torch.allclose(first_layer, first_layer[:1].expand_as(first_layer)))


def _claim_he_uniform_matches_he_normal() -> bool:
    he = weight_variance("he_uniform", 512, 512, calculate_gain("relu"))
    weights = sample_weights(
        "he_uniform", 512, 512, calculate_gain("relu"), np.random.default_rng(0)
    )
    bound = math.sqrt(6 / 512)
    return (
        he == pytest.approx(2 / 512)
        and float(np.abs(weights).max()) <= bound
        and float(np.abs(weights).max()) > 0.99 * bound
    )


def _claim_relu_variance_factors() -> bool:
    """After the first layer (Var(z_1) = n·Var(W)): 2/n keeps a ReLU stack's variance, 1/n
    halves it per layer, and 1 multiplies it by n/2."""

    def last_preactivation(variance: float) -> float:
        result = analytic_propagation(
            build_network_spec(depth=10, width=512, weight_variance=variance, activation="relu")
        )
        value = result.layers[-1].preactivation_variance
        assert value is not None
        return float(value)

    return (
        last_preactivation(2 / 512) == pytest.approx(2.0)
        and last_preactivation(1 / 512) == pytest.approx(2.0**-9)
        and last_preactivation(1.0) == pytest.approx(512 * 256.0**9)
    )


CLAIMS: dict[str, list[Callable[[], bool]]] = {
    "q3-internal-covariate-shift": [],  # a definition, nothing to compute
    "q1-bn-axes": [_claim_bn_axes],
    "q3-bn-inference": [_claim_bn_inference_uses_running_stats],
    "q5-bn-statements": [_claim_bn_depends_on_batch, _claim_bn_inference_uses_running_stats],
    "q1-ln-axes": [_claim_ln_axes, _claim_ln_per_token],
    "q4-ln-train-eval": [_claim_ln_per_token],
    "q5-ln-why": [_claim_ln_per_token],
    "q2-gn-one-group": [_claim_gn_one_group_is_layer_norm],
    "q4-gn-instance": [_claim_gn_c_groups_is_instance_norm],
    "q5-gn-statements": [_claim_gn_per_example],
    "q1-in-axes": [_claim_in_axes],
    "q4-in-shift-scale": [_claim_in_shift_scale_invariance],
    "q5-in-statements": [_claim_in_is_batch_norm_of_one_image, _claim_in_shift_scale_invariance],
    "q4-relu-gain": [_claim_relu_halves_second_moment],
    "q5-constant-init": [_claim_constant_init_stays_symmetric],
    "q7-keeps-variance": [_claim_he_uniform_matches_he_normal, _claim_relu_variance_factors],
}


def _keyed_questions() -> list[tuple[str, Any]]:
    return [
        (question.id, question)
        for quiz in QUIZZES.values()
        for question in quiz.questions
        if question.type != "numeric"
    ]


def test_every_keyed_question_is_listed() -> None:
    assert sorted(qid for qid, _ in _keyed_questions()) == sorted(CLAIMS)


@pytest.mark.parametrize("question_id", sorted(CLAIMS))
def test_claims_behind_the_keys_hold(question_id: str) -> None:
    for claim in CLAIMS[question_id]:
        assert claim(), claim.__name__


def test_true_false_keys() -> None:
    keys = {qid: q.answer for qid, q in _keyed_questions() if q.type == "true_false"}
    assert keys == {
        "q3-bn-inference": True,
        "q4-ln-train-eval": True,
        "q4-gn-instance": True,
        "q4-in-shift-scale": True,
        "q5-constant-init": False,
    }


# ---------------------------------------------------------------------------------------------
# Generated questions in the bank


@pytest.mark.parametrize("slug", EXPECTED_SLUGS)
def test_bank_quizzes_grade_their_own_answers(slug: str) -> None:
    """Answering every instantiated key scores full marks, for several attempts."""
    quiz = QUIZZES[slug]
    for seed in range(5):
        answers: dict[str, Any] = {}
        for instance in instantiate(quiz, seed):
            if instance.type == "numeric":
                assert isinstance(instance.answer, Fraction)
                answers[instance.id] = str(float(instance.answer))
            elif instance.type == "true_false":
                answers[instance.id] = instance.answer
            elif instance.type == "single_choice":
                answers[instance.id] = instance.correct_choice_ids[0]
            else:
                answers[instance.id] = list(instance.correct_choice_ids)
        result = grade(quiz, seed, answers)
        assert result.score == result.max_score
        assert result.passed


# ---------------------------------------------------------------------------------------------
# Loader: hashes and errors


def test_content_hash_ignores_layout_and_tracks_content(tmp_path: Path) -> None:
    entry = BANK["layer-normalization"]
    as_json = tmp_path / "layer-normalization.json"
    as_json.write_text(json.dumps(dump_quiz(entry.quiz), indent=4))
    assert load_bank_file(as_json).content_hash == entry.content_hash
    changed = dump_quiz(entry.quiz)
    changed["questions"][0]["prompt"] += " (edited)"
    assert content_hash(load_quiz(changed)) != entry.content_hash
    rescored = dump_quiz(entry.quiz)
    rescored["questions"][1]["tolerance"]["value"] = 0.02
    assert content_hash(load_quiz(rescored)) != entry.content_hash
    assert len({e.content_hash for e in BANK.values()}) == len(BANK)


def test_every_bank_file_is_a_quiz() -> None:
    files = sorted(p.name for p in BANK_DIR.iterdir() if p.is_file())
    assert files == sorted(f"{slug}.yaml" for slug in EXPECTED_SLUGS)


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


MINIMAL = """\
slug: tiny
title: Tiny
questions:
  - id: q1
    type: true_false
    prompt: Is this tiny?
    answer: true
    explanation: It is.
"""


def test_loader_reports_file_and_fields(tmp_path: Path) -> None:
    assert load_bank_file(_write(tmp_path / "tiny.yaml", MINIMAL)).quiz.slug == "tiny"
    with pytest.raises(BankError, match="named after the slug"):
        load_bank_file(_write(tmp_path / "other.yaml", MINIMAL))
    with pytest.raises(BankError, match="duplicate key"):
        load_bank_file(_write(tmp_path / "tiny.yaml", MINIMAL + "title: Again\n"))
    with pytest.raises(BankError) as caught:
        load_bank_file(_write(tmp_path / "tiny.yaml", MINIMAL.replace("answer: true", "answer: 3")))
    assert caught.value.errors == {
        "questions": {0: {"answer": ["A true/false question needs true or false."]}}
    }
    assert "tiny.yaml" in str(caught.value)
    with pytest.raises(BankError, match="one quiz"):
        load_bank_file(_write(tmp_path / "tiny.yaml", "- just a list\n"))
    with pytest.raises(BankError, match="cannot read"):
        load_bank_file(_write(tmp_path / "tiny.yaml", "slug: [unclosed\n"))
    _write(tmp_path / "tiny.yaml", MINIMAL)
    (tmp_path / "other.yaml").unlink()
    _write(tmp_path / "tiny.json", json.dumps(dump_quiz(load_quiz_text(MINIMAL))))
    with pytest.raises(BankError, match="also used"):
        load_bank(tmp_path)


def load_quiz_text(text: str) -> Quiz:
    import yaml

    return load_quiz(yaml.safe_load(text))


# ---------------------------------------------------------------------------------------------
# Schema messages (the same schema validates author uploads)


def _messages(error: ValidationError) -> dict[Any, Any]:
    assert isinstance(error.messages, dict)
    return error.messages


def _definition(**question: Any) -> dict[str, Any]:
    base = {"id": "q1", "type": "numeric", "prompt": "?", "explanation": "Because."}
    base.update(question)
    return {"slug": "s", "title": "T", "questions": [base]}


@pytest.mark.parametrize(
    ("question", "field", "message"),
    [
        ({"answer": 1}, "tolerance", "needs a tolerance"),
        ({"tolerance": {"kind": "absolute", "value": 0}}, "answer", "answer or a generator"),
        (
            {"answer": "2^^2", "tolerance": {"kind": "absolute", "value": 0}},
            "answer",
            "Not a number",
        ),
        (
            {"answer": 1, "tolerance": {"kind": "relative", "value": 2}},
            "tolerance",
            "below 1",
        ),
        (
            {"answer": 1, "tolerance": {"kind": "sig_figs", "value": 2.5}},
            "tolerance",
            "whole number",
        ),
        (
            {
                "answer": 1,
                "tolerance": {"kind": "absolute", "value": 0},
                "generator": {"name": "layer-norm-element"},
            },
            "answer",
            "remove 'answer'",
        ),
        (
            {"tolerance": {"kind": "absolute", "value": 0}, "generator": {"name": "nope"}},
            "generator",
            "Unknown generator",
        ),
        (
            {
                "tolerance": {"kind": "absolute", "value": 0},
                "generator": {"name": "layer-norm-element", "options": {"low": 5, "high": 1}},
            },
            "generator",
            "low < high",
        ),
        ({"type": "single_choice", "choices": [{"id": "a", "text": "A"}]}, "choices", "2 to 10"),
        (
            {
                "type": "single_choice",
                "choices": [{"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B"}],
                "answer": 1,
            },
            "answer",
            "Not allowed",
        ),
        (
            {
                "type": "multiple_choice",
                "choices": [{"id": "a", "text": "A"}, {"id": "b", "text": "B"}],
            },
            "choices",
            "At least one",
        ),
        (
            {
                "type": "single_choice",
                "choices": [
                    {"id": "a", "text": "A", "correct": True},
                    {"id": "b", "text": "B", "correct": True},
                ],
            },
            "choices",
            "Exactly one",
        ),
        ({"type": "true_false", "answer": True, "points": 0}, "points", "above 0"),
        ({"type": "essay"}, "type", "Must be one of"),
        ({"type": "true_false", "answer": True, "hint": "x"}, "hint", "Unknown field"),
        ({"type": "true_false", "answer": True, "id": "Q 1"}, "id", "lowercase"),
    ],
)
def test_schema_errors_name_the_field(question: dict[str, Any], field: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        load_quiz(_definition(**question))
    errors = _messages(caught.value)["questions"][0]
    assert field in errors, errors
    assert message in json.dumps(errors[field]), errors


def test_schema_quiz_level_errors() -> None:
    definition = _definition(type="true_false", answer=True)
    definition["questions"].append(dict(definition["questions"][0]))
    definition["slug"] = "Not A Slug"
    definition["settings"] = {"pass_fraction": 1.5, "scoring_policy": "best"}
    with pytest.raises(ValidationError) as caught:
        load_quiz(definition)
    messages = _messages(caught.value)
    assert set(messages) == {"slug", "settings"}
    assert set(messages["settings"]) == {"scoring_policy"}
    definition["slug"] = "ok"
    definition["settings"] = {"pass_fraction": 1.5}
    with pytest.raises(ValidationError) as caught:
        load_quiz(definition)
    assert set(_messages(caught.value)) == {"settings"}
    definition["settings"] = {}
    with pytest.raises(ValidationError, match="used twice"):
        load_quiz(definition)


def test_generated_question_prompt_defaults_to_the_template() -> None:
    quiz = load_quiz(
        _definition(
            tolerance={"kind": "absolute", "value": 0.01},
            generator={"name": "layer-norm-element"},
            prompt=None,
        )
    )
    generator = quiz.questions[0].generator
    assert generator is not None
    assert quiz.questions[0].prompt == generator.template
