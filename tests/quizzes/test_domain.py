"""Quiz domain: question types, grading, partial credit, tolerances, seeds and views."""

from __future__ import annotations

import ast
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.quizzes import domain
from service.quizzes.domain import (
    Choice,
    Question,
    Quiz,
    QuizSettings,
    SeededDraws,
    Tolerance,
    UnreadableAnswer,
    apply_review_policy,
    attempts_left,
    check_answers,
    derive_seed,
    grade,
    instantiate,
    progress_fraction,
    public_view,
)

DOMAIN = Path(domain.__file__).resolve().parent
PURE = [*sorted(DOMAIN.glob("*.py")), DOMAIN.parent / "numbers.py"]


@pytest.mark.parametrize("path", PURE, ids=lambda path: path.name)
def test_pure_modules_import_only_numpy_stdlib_and_each_other(path: Path) -> None:
    tree = ast.parse(path.read_text())
    module = path.name
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""]
        for name in names:
            top = name.split(".")[0]
            assert (
                name == "service.quizzes.numbers"
                or name.startswith("service.quizzes.domain.")
                or top == "numpy"
                or top == "__future__"
                or top in sys.stdlib_module_names
            ), f"{module} imports {name}"


# ---------------------------------------------------------------------------------------------
# Fixtures


@dataclass(frozen=True)
class DoublingGenerator:
    """A stand-in generator: 'start at 1 and double n times'."""

    name: str = "doubling"
    version: int = 1
    template: str = "Start at 1 and double n times. What do you get?"

    def check_options(self, options: Mapping[str, Any]) -> None:
        if set(options) - {"max_n"}:
            raise ValueError("unknown option")

    def draw(self, rng: SeededDraws, options: Mapping[str, Any]) -> dict[str, Any]:
        return {"n": rng.integer(2, int(options.get("max_n", 40)))}

    def render(self, params: Mapping[str, Any]) -> str:
        return f"Start at 1 and double {params['n']} times. What do you get?"

    def answer(self, params: Mapping[str, Any]) -> float:
        return float(2 ** params["n"])

    def explain(self, params: Mapping[str, Any]) -> str:
        return f"2^{params['n']} = {2 ** params['n']}."


def numeric(qid: str = "num", answer: Any = "2^20", **tolerance: Any) -> Question:
    kind, value = next(iter(tolerance.items())) if tolerance else ("relative", "1e-4")
    return Question(
        id=qid,
        type="numeric",
        prompt="What is 2^20?",
        explanation="Powers of two.",
        answer=answer,
        tolerance=Tolerance(kind, Fraction(value)),
    )


SINGLE = Question(
    id="single",
    type="single_choice",
    prompt="Pick b.",
    explanation="b is right.",
    choices=(Choice("a", "A"), Choice("b", "B", True), Choice("c", "C"), Choice("d", "D")),
)
MULTI = Question(
    id="multi",
    type="multiple_choice",
    prompt="Pick a, b and c.",
    explanation="a, b and c.",
    points=Fraction(3),
    choices=(
        Choice("a", "A", True),
        Choice("b", "B", True),
        Choice("c", "C", True),
        Choice("d", "D"),
        Choice("e", "E"),
    ),
)
TRUE_FALSE = Question(
    id="tf", type="true_false", prompt="Is it?", explanation="It is not.", answer=False
)
GENERATED = Question(
    id="gen",
    type="numeric",
    prompt=DoublingGenerator.template,
    explanation="Doubling n times multiplies by 2^n.",
    tolerance=Tolerance("relative", Fraction(0)),
    generator=DoublingGenerator(),
)


def make_quiz(*questions: Question, **settings: Any) -> Quiz:
    return Quiz(
        slug="test-quiz",
        title="Test quiz",
        lesson=1,
        description="For tests.",
        settings=QuizSettings(**settings),
        questions=questions or (numeric(), SINGLE, MULTI, TRUE_FALSE, GENERATED),
    )


# ---------------------------------------------------------------------------------------------
# Seeds and draws


def test_derive_seed_is_pinned() -> None:
    # Stored attempts replay from this seed: its derivation must never change.
    assert derive_seed("learner-1", "activation-distribution", 1) == 5378220173163475408
    seeds = {derive_seed("learner-1", "activation-distribution", n) for n in range(1, 50)}
    assert len(seeds) == 49
    assert all(0 <= seed < 2**63 for seed in seeds)
    assert derive_seed("a", "bc", 1) != derive_seed("ab", "c", 1)


def test_derive_seed_rejects_bad_attempt_numbers() -> None:
    with pytest.raises(ValueError, match="starts at 1"):
        derive_seed("x", "y", 0)
    with pytest.raises(TypeError):
        derive_seed("x", "y", True)


def test_seeded_draws_are_pinned_and_repeatable() -> None:
    first = SeededDraws(7, "q", "params")
    again = SeededDraws(7, "q", "params")
    values = [first.integer(0, 9) for _ in range(12)]
    assert values == [again.integer(0, 9) for _ in range(12)]
    assert values == [7, 8, 8, 5, 8, 6, 8, 6, 2, 6, 2, 8]
    assert [SeededDraws(8, "q", "params").integer(0, 9) for _ in range(12)] != values


@given(st.integers(0, 2**63 - 1), st.integers(1, 12))
@settings(max_examples=100, deadline=None)
def test_permutation_is_a_permutation(seed: int, n: int) -> None:
    assert sorted(SeededDraws(seed, "k").permutation(n)) == list(range(n))


def test_integer_draws_are_roughly_uniform() -> None:
    draws = SeededDraws(1, "uniform")
    counts = [0] * 6
    for _ in range(6000):
        counts[draws.integer(10, 15) - 10] += 1
    # Chi-square with 5 degrees of freedom; 20.5 is the 0.999 quantile.
    chi2 = sum((c - 1000) ** 2 / 1000 for c in counts)
    assert chi2 < 20.5


# ---------------------------------------------------------------------------------------------
# Tolerances


def test_absolute_tolerance_edge_is_exact() -> None:
    # 0.4 - 0.3 is 0.10000000000000003 in floats: a float comparison would reject it.
    tolerance = Tolerance("absolute", Fraction(1, 10))
    expected = Fraction(3, 10)
    assert tolerance.accepts(expected, domain.number_from_float(0.4))
    assert tolerance.accepts(expected, domain.number_from_float(0.2))
    assert not tolerance.accepts(expected, Fraction("0.4000000001"))


def test_relative_tolerance_edges() -> None:
    tolerance = Tolerance("relative", Fraction(1, 100))
    assert tolerance.accepts(Fraction(200), Fraction(202))
    assert tolerance.accepts(Fraction(200), Fraction(198))
    assert not tolerance.accepts(Fraction(200), Fraction("202.0001"))
    assert tolerance.accepts(Fraction(-200), Fraction(-202))
    assert not tolerance.accepts(Fraction(-200), Fraction(202))
    assert tolerance.accepts(Fraction(0), Fraction(0))
    assert not tolerance.accepts(Fraction(0), Fraction(1, 10**30))


def test_significant_figures_decision() -> None:
    # Documented decision: within half a unit of the s-th significant digit of the answer.
    three = Tolerance("sig_figs", Fraction(3))
    answer = Fraction(1048576)
    assert three.half_width(answer) == 5000
    assert three.accepts(answer, Fraction("1.05e6"))
    assert three.accepts(answer, Fraction(1043576))  # exactly on the edge
    assert not three.accepts(answer, Fraction(1043575))
    assert not three.accepts(answer, Fraction("1.04e6"))
    assert not three.accepts(answer, Fraction("1e6"))
    assert Tolerance("sig_figs", Fraction(2)).accepts(answer, Fraction("1.0e6"))
    small = Fraction("0.0012345")
    assert three.half_width(small) == Fraction("0.000005")
    assert three.accepts(small, Fraction("0.00123"))
    assert not three.accepts(small, Fraction("0.00124"))
    assert Tolerance("sig_figs", Fraction(1)).accepts(Fraction(-95), Fraction(-100))
    assert three.accepts(Fraction(0), Fraction(0))
    assert not three.accepts(Fraction(0), Fraction(1, 10**9))


@given(
    st.fractions(min_value=Fraction(-(10**12)), max_value=Fraction(10**12)).filter(bool),
    st.integers(1, 8),
)
@settings(max_examples=200, deadline=None)
def test_correct_rounding_is_always_accepted_at_sig_figs(expected: Fraction, digits: int) -> None:
    rounded = Fraction(f"{float(expected):.{digits}g}")
    # float() may move the value by one ulp; only test clear cases away from a rounding tie.
    half = Tolerance("sig_figs", Fraction(digits)).half_width(expected)
    if abs(rounded - expected) < half * Fraction(999, 1000):
        assert Tolerance("sig_figs", Fraction(digits)).accepts(expected, rounded)


def test_tolerance_validation() -> None:
    with pytest.raises(ValueError, match="negative"):
        Tolerance("absolute", Fraction(-1))
    with pytest.raises(ValueError, match="whole number"):
        Tolerance("sig_figs", Fraction(5, 2))
    with pytest.raises(ValueError, match="unknown"):
        Tolerance("percent", Fraction(1))


# ---------------------------------------------------------------------------------------------
# Grading each type


def result_of(quiz: Quiz, answers: dict[str, Any], seed: int = 1) -> dict[str, Any]:
    return {r.question_id: r for r in grade(quiz, seed, answers).results}


@pytest.mark.parametrize(
    ("answer", "correct"),
    [
        ("1048576", True),
        ("1,048,576", True),
        ("1.048576e6", True),
        ("2^20", True),
        ("2**20", True),
        (1048576, True),
        (1048576.0, True),
        ("1.0486e6", True),
        ("1e6", False),
        (1e6, False),
        ("1.05e6", False),
        ("-1048576", False),
    ],
)
def test_numeric(answer: Any, correct: bool) -> None:
    quiz = make_quiz(numeric())
    result = result_of(quiz, {"num": answer})["num"]
    assert result.correct is correct
    assert result.points == (1 if correct else 0)
    assert result.feedback.startswith("correct" if correct else "incorrect")
    assert "read as" in result.feedback
    assert result.correct_answer == 1048576


@pytest.mark.parametrize(
    ("answer", "correct"),
    [("b", True), ("a", False), ("d", False)],
)
def test_single_choice(answer: str, correct: bool) -> None:
    result = result_of(make_quiz(SINGLE), {"single": answer})["single"]
    assert (result.correct, result.points, result.correct_answer) == (correct, int(correct), "b")


@pytest.mark.parametrize(
    ("picks", "points"),
    [
        (["a", "b", "c"], 3),
        (["c", "a", "b"], 3),
        (["a", "b"], 2),
        (["a"], 1),
        (["a", "b", "c", "d"], 2),  # 3 right − 1 wrong
        (["a", "b", "c", "d", "e"], 1),
        (["a", "d"], 0),
        (["a", "d", "e"], 0),  # floored at 0, not −1
        (["d", "e"], 0),
        ([], 0),
    ],
)
def test_multiple_choice_partial_credit(picks: list[str], points: int) -> None:
    result = result_of(make_quiz(MULTI), {"multi": picks})["multi"]
    assert result.points == points
    assert result.max_points == 3
    assert result.correct is (points == 3)
    assert sorted(result.correct_answer) == ["a", "b", "c"]  # in the order shown
    expected = "correct" if points == 3 else "partially correct" if points else "incorrect"
    assert result.feedback == expected


def test_partial_credit_with_fractional_points() -> None:
    two_right = Question(
        id="m2",
        type="multiple_choice",
        prompt="?",
        explanation=".",
        choices=(Choice("a", "A", True), Choice("b", "B", True), Choice("c", "C")),
    )
    graded = grade(make_quiz(two_right, SINGLE), 1, {"m2": ["a"], "single": "b"})
    assert graded.results[0].points == 0.5
    assert graded.score == 1.5
    assert graded.max_score == 2


@pytest.mark.parametrize(
    ("answer", "correct"),
    [(False, True), (True, False), ("false", True), ("FALSE ", True), ("true", False)],
)
def test_true_false(answer: Any, correct: bool) -> None:
    result = result_of(make_quiz(TRUE_FALSE), {"tf": answer})["tf"]
    assert result.correct is correct
    assert result.correct_answer is False


def test_missing_answers_score_zero() -> None:
    quiz = make_quiz()
    graded = grade(quiz, 3, {"single": "b", "tf": None})
    by_id = {r.question_id: r for r in graded.results}
    for qid in ("num", "multi", "tf", "gen"):
        assert by_id[qid].feedback == "not answered"
        assert by_id[qid].points == 0
        assert by_id[qid].correct is False
    assert graded.score == 1
    assert graded.max_score == 7
    assert [r.question_id for r in graded.results] == ["num", "single", "multi", "tf", "gen"]


@pytest.mark.parametrize(
    ("question_id", "answer", "reason"),
    [
        ("num", "about a million", "unexpected character"),
        ("num", True, "true/false"),
        ("num", [1], "expected a number"),
        ("num", "9**9**9", "power towers"),
        ("num", float("inf"), "finite"),
        ("single", "z", "no choice"),
        ("single", ["b"], "one choice id"),
        ("multi", "a", "list of choice ids"),
        ("multi", ["a", "a"], "twice"),
        ("multi", ["a", "x"], "no choice"),
        ("tf", "yes", "true or false"),
        ("tf", 1, "true or false"),
        ("nope", "1", "no question"),
    ],
)
def test_unreadable_answers_raise_with_the_question_id(
    question_id: str, answer: Any, reason: str
) -> None:
    quiz = make_quiz()
    with pytest.raises(UnreadableAnswer) as caught:
        grade(quiz, 1, {"single": "b", question_id: answer})
    assert caught.value.question_id == question_id
    assert reason in caught.value.reason
    assert question_id in str(caught.value)


def test_all_unreadable_answers_are_listed() -> None:
    quiz = make_quiz()
    answers = {"num": "junk", "tf": "maybe", "single": "b", "extra": 1}
    problems = check_answers(quiz, 1, answers)
    assert set(problems) == {"num", "tf", "extra"}
    with pytest.raises(UnreadableAnswer) as caught:
        grade(quiz, 1, answers)
    assert caught.value.question_id == "num"  # the first in quiz order
    assert caught.value.problems == problems
    assert check_answers(quiz, 1, {"num": "2^20"}) == {}


def test_pass_fraction_is_exact() -> None:
    # 4 of 5 points with pass_fraction 0.8: passes exactly at the edge.
    questions = [numeric(f"n{i}") for i in range(5)]
    quiz = make_quiz(*questions, pass_fraction=0.8)
    answers = {f"n{i}": "2^20" for i in range(4)}
    assert grade(quiz, 1, answers).passed
    assert not grade(quiz, 1, {f"n{i}": "2^20" for i in range(3)}).passed


# ---------------------------------------------------------------------------------------------
# Generated questions and shuffling


def test_generated_question_same_seed_same_question_and_answer() -> None:
    quiz = make_quiz(GENERATED)
    # A second quiz object: equal draws from a fresh start.
    first, again = instantiate(quiz, 42)[0], instantiate(make_quiz(GENERATED), 42)[0]
    assert first == again
    n = first.params["n"]
    assert first.prompt == f"Start at 1 and double {n} times. What do you get?"
    assert first.answer == 2**n
    assert first.explanation.endswith(f"2^{n} = {2**n}.")
    assert result_of(quiz, {"gen": str(2**n)}, 42)["gen"].correct
    assert result_of(quiz, {"gen": f"2^{n}"}, 42)["gen"].correct
    assert result_of(quiz, {"gen": 2**n}, 42)["gen"].correct_answer == 2**n


def test_generated_question_differs_between_attempts() -> None:
    quiz = make_quiz(GENERATED)
    seeds = [derive_seed("learner", quiz.slug, attempt) for attempt in range(1, 9)]
    drawn = [instantiate(quiz, seed)[0].params["n"] for seed in seeds]
    assert len(set(drawn)) >= 5
    assert drawn[0] != drawn[1]
    # An answer right for attempt 1 is graded against attempt 2's own numbers.
    right_for_first = str(2 ** drawn[0])
    assert not result_of(quiz, {"gen": right_for_first}, seeds[1])["gen"].correct


def test_generator_options_reach_the_draw() -> None:
    narrow = Question(
        id="gen",
        type="numeric",
        prompt=DoublingGenerator.template,
        explanation=".",
        tolerance=Tolerance("relative", Fraction(0)),
        generator=DoublingGenerator(),
        generator_options={"max_n": 2},
    )
    assert {instantiate(make_quiz(narrow), s)[0].params["n"] for s in range(20)} == {2}


def test_shuffling_is_seeded_per_attempt() -> None:
    quiz = make_quiz(MULTI)
    order = [c.id for c in instantiate(quiz, 11)[0].choices]
    assert order == [c.id for c in instantiate(quiz, 11)[0].choices]
    assert sorted(order) == ["a", "b", "c", "d", "e"]
    orders = {tuple(c.id for c in instantiate(quiz, seed)[0].choices) for seed in range(30)}
    assert len(orders) > 10
    unshuffled = make_quiz(MULTI, shuffle_choices=False)
    assert [c.id for c in instantiate(unshuffled, 11)[0].choices] == ["a", "b", "c", "d", "e"]


def test_shuffle_does_not_change_grading() -> None:
    quiz = make_quiz(MULTI)
    for seed in range(10):
        assert grade(quiz, seed, {"multi": ["a", "b", "d"]}).score == 1


def test_grading_is_deterministic() -> None:
    quiz = make_quiz()
    answers = {"num": "1e6", "single": "b", "multi": ["a", "e"], "tf": "false", "gen": "8"}
    assert grade(quiz, 99, answers) == grade(quiz, 99, answers)
    assert grade(quiz, 99, answers).to_dict() == grade(quiz, 99, dict(answers)).to_dict()


# ---------------------------------------------------------------------------------------------
# Views, review policy, settings


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value) | {k for v in value.values() for k in _keys(v)}
    if isinstance(value, list):
        return {k for v in value for k in _keys(v)}
    return set()


def test_preview_has_no_answer_key_and_shows_the_template() -> None:
    view = public_view(make_quiz())
    assert set(view) == {"slug", "title", "lesson", "description", "questions"}
    assert not _keys(view) & {"correct", "answer", "explanation", "tolerance", "correct_answer"}
    by_id = {q["id"]: q for q in view["questions"]}
    assert by_id["gen"]["prompt"] == DoublingGenerator.template
    assert [c["id"] for c in by_id["multi"]["choices"]] == ["a", "b", "c", "d", "e"]
    assert "choices" not in by_id["num"]
    assert "choices" not in by_id["tf"]
    assert by_id["multi"]["points"] == 3
    assert set(by_id["single"]) == {"id", "type", "prompt", "points", "choices"}


def test_attempt_view_shows_numbers_and_shuffled_choices() -> None:
    quiz = make_quiz()
    view = public_view(quiz, 5)
    assert not _keys(view) & {"correct", "answer", "explanation", "correct_answer"}
    instances = {q.id: q for q in instantiate(quiz, 5)}
    by_id = {q["id"]: q for q in view["questions"]}
    assert by_id["gen"]["prompt"] == instances["gen"].prompt != DoublingGenerator.template
    assert [c["id"] for c in by_id["multi"]["choices"]] == [
        c.id for c in instances["multi"].choices
    ]


def test_review_policies() -> None:
    quiz = make_quiz(SINGLE, TRUE_FALSE)
    failed = grade(quiz, 1, {"single": "a"})
    passed = grade(quiz, 1, {"single": "b", "tf": False})
    assert not failed.passed
    assert passed.passed

    def hidden(result: domain.GradeResult) -> bool:
        return all(r.correct_answer is None and r.explanation is None for r in result.results)

    assert apply_review_policy(failed, "after_submission") == failed
    assert hidden(apply_review_policy(passed, "never"))
    assert hidden(apply_review_policy(failed, "after_pass"))
    assert apply_review_policy(failed, "after_pass", passed_before=True) == failed
    assert apply_review_policy(passed, "after_pass") == passed
    withheld = apply_review_policy(failed, "never")
    assert [r.points for r in withheld.results] == [r.points for r in failed.results]
    assert [r.feedback for r in withheld.results] == [r.feedback for r in failed.results]
    assert set(withheld.to_dict()["results"][0]) == {
        "question_id",
        "correct",
        "points",
        "max_points",
        "feedback",
        "correct_answer",
        "explanation",
        "misconception",
    }


def test_feedback_never_reveals_the_key() -> None:
    quiz = make_quiz()
    graded = grade(quiz, 2, {"num": "3", "single": "a", "multi": ["a"], "tf": True, "gen": "1"})
    for result in apply_review_policy(graded, "never").results:
        assert "1048576" not in result.feedback
        assert result.feedback.split(" (")[0] in ("incorrect", "partially correct")


def test_progress_and_attempt_limits() -> None:
    fractions: list[float | Fraction] = [Fraction(1, 2), 1.0, Fraction(1, 4)]
    assert progress_fraction(fractions, "highest") == 1.0
    assert progress_fraction(fractions, "last") == 0.25
    assert progress_fraction(fractions, "average") == pytest.approx(7 / 12)
    assert progress_fraction([], "highest") == 0.0
    with pytest.raises(ValueError, match="scoring"):
        progress_fraction(fractions, "best")
    assert attempts_left(QuizSettings(), 50) is None
    assert attempts_left(QuizSettings(max_attempts=3), 1) == 2
    assert attempts_left(QuizSettings(max_attempts=3), 5) == 0


def test_settings_defaults() -> None:
    default = QuizSettings()
    assert default.max_attempts is None
    assert default.pass_fraction == Fraction(4, 5)
    assert default.scoring_policy == "highest"
    assert default.show_correct_answers == "after_submission"
    with pytest.raises(ValueError, match="review"):
        QuizSettings(show_correct_answers="sometimes")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"choices": (Choice("a", "A", True),)}, "two choices"),
        ({"choices": (Choice("a", "A", True), Choice("b", "B", True))}, "exactly one"),
        ({"choices": (Choice("a", "A", True), Choice("a", "B"))}, "unique"),
        ({"points": Fraction(0)}, "positive"),
    ],
)
def test_question_invariants(changes: dict[str, Any], message: str) -> None:
    fields: dict[str, Any] = {"id": "x", "type": "single_choice", "prompt": "?"}
    fields.update(explanation=".", choices=(Choice("a", "A", True), Choice("b", "B")))
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        Question(**fields)


def test_numeric_invariants() -> None:
    with pytest.raises(ValueError, match="tolerance"):
        Question(id="x", type="numeric", prompt="?", explanation=".", answer=Fraction(1))
    with pytest.raises(ValueError, match="either"):
        Question(
            id="x",
            type="numeric",
            prompt="?",
            explanation=".",
            tolerance=Tolerance("absolute", Fraction(0)),
        )
    with pytest.raises(ValueError, match="true/false"):
        Question(id="x", type="true_false", prompt="?", explanation=".")
