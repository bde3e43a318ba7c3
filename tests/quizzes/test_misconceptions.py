"""Misconceptions: bank content, grading diagnoses, collision checks and the seed sweep."""

from __future__ import annotations

import math
from collections.abc import Mapping
from fractions import Fraction
from typing import Any

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from marshmallow import ValidationError

from service.quizzes import domain
from service.quizzes.bank_loader import load_bank
from service.quizzes.bank_schema import dump_quiz, load_quiz
from service.quizzes.domain import (
    Choice,
    Misconception,
    Question,
    Quiz,
    QuizSettings,
    Tolerance,
    grade,
    instantiate,
    instantiate_question,
    public_view,
)
from service.quizzes.generators import REGISTRY

BANK = {entry.quiz.slug: entry.quiz for entry in load_bank()}
QUESTIONS = {q.id: q for quiz in BANK.values() for q in quiz.questions}
GENERATED = [q for q in QUESTIONS.values() if q.generator is not None]
SWEEP_SEEDS = 1000
VECTOR = torch.tensor([2.0, 4, 6, 8], dtype=torch.float64)


def _quiz(*questions: Question) -> Quiz:
    return Quiz("t", "T", None, "", QuizSettings(shuffle_choices=False), questions)


def _result(quiz: Quiz, answers: Mapping[str, object], seed: int = 1) -> dict[str, Any]:
    return grade(quiz, seed, answers).to_dict()["results"][0]  # type: ignore[no-any-return]


# --- the bank ---------------------------------------------------------------------------


def test_every_numeric_and_choice_question_of_the_bank_names_misconceptions() -> None:
    kinds = (domain.NUMERIC, domain.SINGLE_CHOICE, domain.MULTIPLE_CHOICE)
    missing = [q.id for q in QUESTIONS.values() if q.type in kinds and not q.misconceptions]
    assert missing == []
    assert sum(len(q.misconceptions) for q in QUESTIONS.values()) == 64


def test_the_issue_examples_are_in_the_bank() -> None:
    doubling = QUESTIONS["q1-variance-20-layers"]
    assert [(m.id, m.value) for m in doubling.misconceptions] == [
        ("added-factors", 40),
        ("standard-deviation", 1024),
    ]
    xavier = QUESTIONS["q3-xavier-variance"]
    assert {m.id: m.value for m in xavier.misconceptions}["fan-out-for-fan-in"] == Fraction(1, 128)


@pytest.mark.parametrize(
    ("question_id", "values"),
    [
        ("q1-variance-20-layers", {"added-factors": 2 * 20, "standard-deviation": 2**10}),
        ("q4-bn-parameters", {"counted-buffers": 4 * 64, "one-per-channel": 64}),
        ("q1-gn-values-per-group", {"included-batch": 4 * 4 * 256, "one-channel": 256}),
        ("q2-in-count", {"per-example": 8, "per-channel": 3, "values-per-statistic": 1024}),
        ("q1-lecun-linear", {"std-for-variance": 1 / math.sqrt(100)}),
        (
            "q2-he-variance",
            {"std-for-variance": math.sqrt(2 / 512), "relu-half-forgotten": 1 / 512},
        ),
        (
            "q3-xavier-variance",
            {"fan-in-only": 1 / 256, "fan-out-for-fan-in": 1 / 128, "std-for-variance": None},
        ),
        ("q3-ln-vector", {"unbiased-variance": None, "divided-by-variance": 3 / 5}),
    ],
)
def test_static_values_are_the_mistakes_they_name(
    question_id: str, values: dict[str, float | None]
) -> None:
    """Recomputed by hand, or (None) by torch: the sd of Xavier's weights and the n − 1 norm."""
    oracle = {
        ("q3-xavier-variance", "std-for-variance"): math.sqrt(2 / 384),
        ("q3-ln-vector", "unbiased-variance"): float((3 / VECTOR.std()).item()),
    }
    question = QUESTIONS[question_id]
    assert [m.id for m in question.misconceptions] == list(values)
    for misconception in question.misconceptions:
        expected = values[misconception.id] or oracle[(question_id, misconception.id)]
        assert misconception.value is not None
        assert float(misconception.value) == pytest.approx(expected, rel=1e-12)


def test_choice_misconceptions_explain_wrong_choices() -> None:
    for question in QUESTIONS.values():
        wrong = {c.id for c in question.choices if not c.correct}
        for misconception in question.misconceptions:
            if question.type in domain.CHOICE_TYPES:
                assert misconception.choice in wrong


def test_misconceptions_never_leak_into_the_public_views() -> None:
    for quiz in BANK.values():
        for view in (public_view(quiz), public_view(quiz, 7)):
            text = repr(view)
            assert "misconception" not in text
            for question in quiz.questions:
                for misconception in question.misconceptions:
                    assert misconception.feedback not in text


def test_definitions_round_trip_with_misconceptions() -> None:
    for quiz in BANK.values():
        assert load_quiz(dump_quiz(quiz)) == quiz


# --- grading ----------------------------------------------------------------------------


def test_the_doubling_question_diagnoses_40() -> None:
    quiz = BANK["activation-distribution"]
    results = grade(quiz, 3, {"q1-variance-20-layers": 40}).to_dict()["results"]
    row = results[0]
    assert (row["correct"], row["feedback"]) == (False, "incorrect (read as 40)")
    assert row["misconception"]["id"] == "added-factors"
    assert row["misconception"]["feedback"].startswith("40 is what you get by adding")
    assert set(row["misconception"]) == {"id", "feedback"}
    assert grade(quiz, 3, {"q1-variance-20-layers": "2^20"}).results[0].misconception is None
    assert grade(quiz, 3, {"q1-variance-20-layers": 41}).results[0].misconception is None
    assert results[1]["misconception"] is None  # not answered


def test_numeric_match_uses_the_question_tolerance() -> None:
    question = Question(
        "q",
        domain.NUMERIC,
        "?",
        "e",
        answer=100,
        tolerance=Tolerance("absolute", 1),
        misconceptions=(Misconception("m", "f", value=Fraction(50)),),
    )
    quiz = _quiz(question)
    assert _result(quiz, {"q": 51})["misconception"] == {"id": "m", "feedback": "f"}
    assert _result(quiz, {"q": "48.99"})["misconception"] is None
    assert _result(quiz, {"q": 101})["misconception"] is None  # correct first


def test_the_first_matching_misconception_in_bank_order_wins() -> None:
    choices = (Choice("a", "A", True), Choice("b", "B"), Choice("c", "C"), Choice("d", "D"))
    question = Question(
        "q",
        domain.MULTIPLE_CHOICE,
        "?",
        "e",
        choices=choices,
        misconceptions=(
            Misconception("mc", "fc", choice="c"),
            Misconception("mb", "fb", choice="b"),
        ),
    )
    quiz = _quiz(question)
    assert _result(quiz, {"q": ["b", "c"]})["misconception"]["id"] == "mc"
    assert _result(quiz, {"q": ["a", "b"]})["misconception"]["id"] == "mb"
    assert _result(quiz, {"q": ["a"]})["misconception"] is None
    assert _result(quiz, {"q": ["d"]})["misconception"] is None


def test_single_choice_diagnosis() -> None:
    quiz = BANK["activation-distribution"]
    row = grade(quiz, 5, {"q3-internal-covariate-shift": "b"}).results[2]
    assert row.misconception is not None
    assert row.misconception["id"] == "dataset-shift"
    row = grade(quiz, 5, {"q3-internal-covariate-shift": "d"}).results[2]
    assert row.misconception is None
    assert row.feedback == "incorrect"


@pytest.mark.parametrize("question", GENERATED, ids=lambda q: q.id)
def test_generated_wrong_answers_are_diagnosed(question: Question) -> None:
    quiz = _quiz(question)
    for seed in range(20):
        instance = instantiate(quiz, seed)[0]
        assert [m.id for m in instance.misconceptions] == [m.id for m in question.misconceptions]
        for misconception in instance.misconceptions:
            assert misconception.value is not None
            row = _result(quiz, {question.id: str(misconception.value)}, seed)
            assert not row["correct"]
            assert row["misconception"]["id"] == misconception.id
        assert _result(quiz, {question.id: str(instance.answer)}, seed)["misconception"] is None


def test_the_review_policy_withholds_the_misconception_with_the_key() -> None:
    """Its feedback can work the answer out ("2 × 2 × ... × 2 = 2^20"), so it goes with the key."""
    graded = grade(BANK["activation-distribution"], 3, {"q1-variance-20-layers": 40})
    assert graded.results[0].misconception is not None
    for policy in ("never", "after_pass"):
        hidden = domain.apply_review_policy(graded, policy)
        assert hidden.results[0].misconception is None
        stored = domain.apply_review_policy(graded.to_dict(), policy)
        assert stored["results"][0]["misconception"] is None
    assert domain.apply_review_policy(graded, "after_submission") == graded
    old = {"score": 0, "max_score": 1, "passed": False, "results": [{"question_id": "q"}]}
    assert domain.apply_review_policy(old, "never")["results"][0]["misconception"] is None


@settings(max_examples=200, deadline=None)
@given(
    answer=st.integers(-1000, 1000),
    width=st.integers(0, 5),
    wrong=st.lists(st.integers(-1000, 1000), min_size=1, max_size=4, unique=True),
    given_answer=st.integers(-1100, 1100),
)
def test_grading_invariants(answer: int, width: int, wrong: list[int], given_answer: int) -> None:
    """Whatever the numbers: a correct answer has no misconception; a diagnosed one is the
    first in order that accepts the answer; a question whose values collide is refused."""
    misconceptions = tuple(
        Misconception(f"m{i}", f"f{i}", Fraction(v)) for i, v in enumerate(wrong)
    )
    values = [answer, *wrong]
    apart = all(abs(a - b) > 2 * width for i, a in enumerate(values) for b in values[:i])
    make = lambda: Question(  # noqa: E731
        "q",
        domain.NUMERIC,
        "?",
        "e",
        answer=answer,
        tolerance=Tolerance("absolute", width),
        misconceptions=misconceptions,
    )
    if not apart:
        with pytest.raises(ValueError, match="coincides"):
            make()
        return
    row = _result(_quiz(make()), {"q": given_answer})
    if row["correct"]:
        assert row["misconception"] is None
        return
    matching = [f"m{i}" for i, v in enumerate(wrong) if abs(given_answer - v) <= width]
    assert len(matching) <= 1  # apart: at most one accepts any answer
    expected = {"id": matching[0], "feedback": f"f{matching[0][1:]}"} if matching else None
    assert row["misconception"] == expected


# --- generated misconceptions against oracles -------------------------------------------


def _generated(name: str, seed: int) -> tuple[Mapping[str, Any], Mapping[str, float]]:
    generator = REGISTRY[name]
    params = generator.draw(domain.SeededDraws(seed, "x", "params"), {})
    return params, generator.misconception_answers(params)


@pytest.mark.parametrize("seed", range(10))
def test_propagation_misconceptions_closed_forms(seed: int) -> None:
    params, wrong = _generated("linear-variance-propagation", seed)
    depth, n, v, vx = (params[k] for k in ("depth", "fan_in", "weight_variance", "input_variance"))
    assert wrong["multiplied-by-depth"] == pytest.approx(vx * depth * n * v, rel=1e-12)
    assert wrong["forgot-fan-in"] == pytest.approx(vx * v**depth, rel=1e-12)
    assert wrong["standard-deviation"] == pytest.approx(math.sqrt(vx * (n * v) ** depth), rel=1e-12)
    params, wrong = _generated("relu-variance-propagation", seed)
    depth, c, vx = params["depth"], params["numerator"], params["input_variance"]
    assert wrong["relu-half-forgotten"] == pytest.approx(vx * c**depth, rel=1e-12)
    assert wrong["halved-every-layer"] == pytest.approx(vx * (c / 2) ** depth, rel=1e-12)
    expected = math.sqrt(vx * c * (c / 2) ** (depth - 1))
    assert wrong["standard-deviation"] == pytest.approx(expected, rel=1e-12)


_WRONG_AXIS = {  # torch on the axes the mistake uses
    "layer-norm-element": lambda x: torch.nn.functional.batch_norm(
        x, None, None, training=True, eps=1e-300
    ),
    "batch-norm-element": lambda x: torch.nn.functional.layer_norm(x, (x.shape[-1],), eps=0.0),
    "group-norm-element": lambda x: torch.nn.functional.group_norm(x, 1, eps=0.0),
    "instance-norm-element": lambda x: torch.nn.functional.group_norm(x, 1, eps=0.0),
}


_STATISTIC_VALUES = {  # the values that share the asked element's statistics
    "layer-norm-element": lambda x, i: x[i[0]],
    "batch-norm-element": lambda x, i: x[:, i[1]],
    "group-norm-element": lambda x, i: x[0, 2 * (i[1] // 2) : 2 * (i[1] // 2) + 2],
    "instance-norm-element": lambda x, i: x[0, i[1]],
}


@pytest.mark.parametrize("name", sorted(_WRONG_AXIS))
def test_normalization_misconceptions_against_torch(name: str) -> None:
    generator = REGISTRY[name]
    checked = 0
    for seed in range(40):
        params, wrong = _generated(name, seed)
        x = torch.tensor(params["x"], dtype=torch.float64)
        index = tuple(params["index"])
        answer = generator.answer(params)
        values = _STATISTIC_VALUES[name](x, index).flatten()
        centred = float(x[index] - values.mean())
        assert wrong["unbiased-variance"] == pytest.approx(centred / float(values.std()), abs=1e-12)
        biased = float(values.var(unbiased=False))
        assert wrong["divided-by-variance"] == pytest.approx(centred / biased, abs=1e-12)
        assert answer == pytest.approx(centred / math.sqrt(biased), abs=1e-12)
        expected = float(_WRONG_AXIS[name](x)[index])
        if math.isfinite(wrong["wrong-axis"]):  # NaN: a constant slice on the wrong axes
            assert wrong["wrong-axis"] == pytest.approx(expected, abs=1e-9)
            checked += 1
    assert checked >= 20


# --- collisions -------------------------------------------------------------------------


def _generators_with_all_their_misconceptions() -> list[Question]:
    """Every generator, naming every misconception it computes, under each tolerance the bank
    uses with it (so a generator the bank does not use yet is swept too)."""
    tolerances: dict[str, set[Tolerance]] = {name: set() for name in REGISTRY}
    for question in GENERATED:
        assert question.generator is not None
        assert question.tolerance is not None
        tolerances[question.generator.name].add(question.tolerance)
    swept = []
    for name, generator in sorted(REGISTRY.items()):
        for tolerance in tolerances[name] or {Tolerance("sig_figs", 3)}:
            misconceptions = tuple(Misconception(i, "f") for i in generator.misconception_ids)
            swept.append(
                Question(
                    f"sweep-{name}",
                    domain.NUMERIC,
                    "?",
                    "e",
                    tolerance=tolerance,
                    generator=generator,
                    misconceptions=misconceptions,
                )
            )
    return swept


SWEPT = GENERATED + _generators_with_all_their_misconceptions()


@pytest.mark.parametrize("question", SWEPT, ids=lambda q: f"{q.id}")
def test_no_served_draw_collides(question: Question) -> None:
    """The sweep: over many seeds every served draw keeps the answer and each misconception
    apart, checked here in floats independently of the domain's exact check."""
    assert question.tolerance is not None
    redrawn = 0
    first_draws = set()
    for seed in range(SWEEP_SEEDS):
        instance = instantiate_question(question, seed)
        # Every misconception served: no draw fell back to dropping one.
        assert [m.id for m in instance.misconceptions] == [m.id for m in question.misconceptions]
        assert instance.answer is not None
        assert not isinstance(instance.answer, bool)
        values = [float(instance.answer)] + [
            math.nan if m.value is None else float(m.value) for m in instance.misconceptions
        ]
        assert all(math.isfinite(v) for v in values)
        widths = [float(question.tolerance.half_width(Fraction(v))) for v in values]
        for i in range(len(values)):
            for j in range(i):
                assert abs(values[i] - values[j]) > widths[i] + widths[j], (seed, i, j, values)
        assert question.generator is not None
        first = question.generator.draw(
            domain.SeededDraws(seed, question.id, "params"), question.generator_options
        )
        redrawn += first != dict(instance.params)
        first_draws.add(repr(sorted(instance.params.items())))
    assert redrawn < SWEEP_SEEDS / 2  # redraws are the exception
    assert len(first_draws) > 20  # and the served draws still vary


def test_redraws_are_deterministic_and_collisions_happen_without_them() -> None:
    """Some first draws do collide (so the redraw is doing work), and a redrawn seed serves the
    same numbers every time."""
    question = QUESTIONS["q2-bn-element"]
    assert question.generator is not None
    assert question.tolerance is not None
    colliding = []
    for seed in range(200):
        params = question.generator.draw(domain.SeededDraws(seed, question.id, "params"), {})
        answer = Fraction(question.generator.answer(params))
        wrong = question.generator.misconception_answers(params)
        exact = [(k, None if not math.isfinite(v) else Fraction(v)) for k, v in wrong.items()]
        if domain.misconceptions.collision(answer, exact, question.tolerance.half_width):
            colliding.append(seed)
    assert colliding
    for seed in colliding[:5]:
        assert instantiate_question(question, seed) == instantiate_question(question, seed)


def test_options_that_always_collide_serve_the_misconceptions_that_stay_apart() -> None:
    """0/1 arrays leave few distinct numbers: where all redraws collide, the last draw is served
    with the misconceptions that do not collide, in bank order (never a wrong diagnosis)."""
    question = load_quiz(
        _definition(
            generator={"name": "batch-norm-element", "options": {"low": 0, "high": 1}},
            tolerance={"kind": "absolute", "value": 0.01},
            misconceptions=[
                {"id": i, "feedback": "f"}
                for i in ("unbiased-variance", "divided-by-variance", "wrong-axis")
            ],
        )
    ).questions[0]
    assert question.tolerance is not None
    fell_back = 0
    for seed in range(60):
        instance = instantiate_question(question, seed)
        served = [m.id for m in instance.misconceptions]
        assert served == [m.id for m in question.misconceptions if m.id in served]
        assert isinstance(instance.answer, Fraction)
        values = [(m.id, m.value) for m in instance.misconceptions]
        half_width = question.tolerance.half_width
        assert domain.misconceptions.collision(instance.answer, values, half_width) is None
        fell_back += len(served) < 3
    assert fell_back >= 1


def test_a_question_without_misconceptions_keeps_its_first_draw() -> None:
    plain = QUESTIONS["q2-bn-element"].__class__(
        **{**QUESTIONS["q2-bn-element"].__dict__, "misconceptions": ()}
    )
    assert plain.generator is not None
    for seed in range(50):
        first = plain.generator.draw(domain.SeededDraws(seed, plain.id, "params"), {})
        assert dict(instantiate_question(plain, seed).params) == first


def _definition(**question: Any) -> dict[str, Any]:
    base = {"id": "q", "type": "numeric", "prompt": "?", "explanation": "e"}
    return {"slug": "s", "title": "T", "questions": [{**base, **question}]}


@pytest.mark.parametrize(
    ("question", "message"),
    [
        (
            {
                "answer": 100,
                "tolerance": {"kind": "absolute", "value": 1},
                "misconceptions": [{"id": "near", "value": 101.5, "feedback": "f"}],
            },
            "misconception 'near' (101.5) coincides with the correct answer (100)",
        ),
        (
            {
                "answer": 100,
                "tolerance": {"kind": "relative", "value": 0.01},
                "misconceptions": [
                    {"id": "m1", "value": 50, "feedback": "f"},
                    {"id": "m2", "value": 51, "feedback": "f"},
                ],
            },
            "misconception 'm2' (51) coincides with 'm1' (50) within the tolerance",
        ),
        (
            {
                "answer": 1,
                "tolerance": {"kind": "absolute", "value": 0},
                "misconceptions": [{"id": "m", "feedback": "f"}],
            },
            "misconception 'm': needs the value the mistake gives",
        ),
        (
            {
                "generator": {"name": "linear-variance-propagation"},
                "tolerance": {"kind": "sig_figs", "value": 3},
                "misconceptions": [{"id": "made-up", "feedback": "f"}],
            },
            "computes only: multiplied-by-depth, forgot-fan-in, standard-deviation",
        ),
        (
            {
                "type": "single_choice",
                "choices": [{"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B"}],
                "misconceptions": [{"id": "m", "choice": "a", "feedback": "f"}],
            },
            "choice 'a' is not a wrong choice of this question",
        ),
        (
            {
                "type": "single_choice",
                "choices": [{"id": "a", "text": "A", "correct": True}, {"id": "b", "text": "B"}],
                "misconceptions": [
                    {"id": "m", "choice": "b", "feedback": "f"},
                    {"id": "n", "choice": "b", "feedback": "g"},
                ],
            },
            "misconceptions 'm' and 'n' both explain choice 'b'",
        ),
        (
            {
                "type": "true_false",
                "answer": True,
                "misconceptions": [{"id": "m", "value": 1, "feedback": "f"}],
            },
            "a true_false question has no misconceptions",
        ),
    ],
)
def test_definitions_with_bad_misconceptions_are_refused(
    question: dict[str, Any], message: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        load_quiz(_definition(**question))
    errors = caught.value.messages["questions"][0]["misconceptions"]  # type: ignore[index]
    assert any(message in error for error in errors), errors
