"""Item analysis: Moodle's own worked example, a hand-computed fixture, edge cases, invariants."""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from datetime import datetime, timedelta
from fractions import Fraction

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from service.quizzes.analytics import (
    MIXED_MAXIMA,
    NEEDS_2,
    NEEDS_2_QUESTIONS,
    NEEDS_3,
    NEEDS_4,
    NEGATIVE_COVARIANCE,
    NO_ATTEMPT_INCLUDES,
    NO_ATTEMPTS,
    NO_GUESS_ESTIMATE,
    NOT_ALL_QUESTIONS,
    SAME_ON_QUESTION,
    SAME_ON_REST,
    SAME_SCORE,
    AttemptRecord,
    QuestionSpec,
    Response,
    analyze,
    first_attempts,
    random_guess_score,
)


def attempt(*marks: float | None, maxima: tuple[float, ...] = ()) -> AttemptRecord:
    """An attempt on questions q1, q2, … with these marks (None: question not in the attempt)."""
    maxima = maxima or (1.0,) * len(marks)
    responses = {
        f"q{n}": Response(mark, top)
        for n, (mark, top) in enumerate(zip(marks, maxima, strict=True), start=1)
        if mark is not None
    }
    return AttemptRecord(responses, sum(r.score for r in responses.values()), sum(maxima))


# --- Moodle's oracle --------------------------------------------------------------------------
# mod/quiz/report/statistics/tests/fixtures/results00.csv (25 attempts × 7 one-mark slots) and
# the figures Moodle's tests expect for it (qstats00.csv; check_quiz_stats_for_quiz_00 in
# stats_from_steps_walkthrough_test.php), computed independently in Jamie Pratt's spreadsheet.
MOODLE_MARKS = [
    (1, 1, 1, 1, 1, 0, 1),
    (1, 1, 1, 1, 0.5, 1, 0),
    (1, 1, 1, 1, 0.5, 0, 1),
    (0, 0, 1, 1, 1, 0, 0),
    (1, 0, 1, 0, 0, 1, 0.5),
    (1, 1, 1, 1, 0.5, 0, 0.5),
    (0, 1, 1, 1, 0.5, 1, 0.5),
    (1, 1, 1, 0, 0.5, 1, 0.5),
    (1, 0, 1, 1, 1, 1, 1),
    (0, 1, 1, 0, 0.5, 1, 0.5),
    (0.8, 0, 1, 1, 0.5, 1, 0.5),
    (1, 1, 1, 0, 0.5, 1, 1),
    (1, 0, 1, 1, 0.5, 1, 0.5),
    (1, 0, 1, 1, 1, 0, 0.5),
    (0, 0, 1, 1, 0, 1, 1),
    (1, 0, 1, 0, 0.5, 1, 1),
    (0.8, 0, 1, 1, 0.5, 0, 1),
    (1, 0, 1, 1, 0, 1, 0.5),
    (1, 0, 1, 1, 0.5, 0, 0.5),
    (0, 1, 1, 0, 0.5, 1, 0),
    (1, 1, 0.3333333, 1, 0.5, 0, 0.5),
    (1, 1, 1, 0, 0.5, 0, 0.5),
    (1, 1, 1, 1, 0, 1, 0.5),
    (0, 0, 1, 0, 0.5, 1, 1),
    (0, 0, 1, 1, 1, 1, 1),
]
# slot: (facility, sd, effective weight, discrimination index, discriminative efficiency)
MOODLE_QSTATS = {
    "q1": (0.704, 0.4513682901, 21.2922742344, -7.0650767526, -9.4550536967),
    "q2": (0.48, 0.5099019514, 18.8979800309, -28.8982125772, -36.7834118938),
    "q3": (0.973333332, 0.13333334, 4.443012573, -9.1230674268, -21.6545012165),
    "q4": (0.68, 0.4760952286, 18.9347251357, -22.6306444113, -31.4411395613),
    "q5": (0.52, 0.3055050463, 11.1450138688, -17.6997047674, -21.1794802584),
    "q6": (0.64, 0.4898979486, 9.8081339177, -45.3785178421, -56.9365974439),
    "q7": (0.62, 0.331662479, 15.4788602394, -5.6543166602, -6.5043742058),
}


def test_quiz_figures_match_moodles_worked_example() -> None:
    stats = analyze([attempt(*row) for row in MOODLE_MARKS], [f"q{n}" for n in range(1, 8)])
    expected = {
        "median_score": 4.5,
        "mean_score": 4.617333332,
        "score_sd": 0.8117265554,
        "skewness": -0.092502502,
        "kurtosis": -0.7073968557,
        "cronbach_alpha": -87.2230935542,
        "error_ratio": 136.8294900795,
        "standard_error": 1.1106813066,
    }
    assert stats.attempts == 25
    assert stats.max_score == 7
    for name, value in expected.items():
        assert getattr(stats, name) == pytest.approx(value, rel=1.5e-5), name
    assert stats.reasons == {}


def test_question_figures_match_moodles_worked_example() -> None:
    stats = analyze([attempt(*row) for row in MOODLE_MARKS], [f"q{n}" for n in range(1, 8)])
    for question in stats.questions:
        facility, sd, effective, discrimination, efficiency = MOODLE_QSTATS[question.id]
        assert question.attempts == 25
        assert question.facility_index == pytest.approx(100 * facility, rel=1e-6)
        assert question.sd == pytest.approx(100 * sd, rel=1e-6)  # max mark 1: % of max
        assert question.effective_weight == pytest.approx(effective, rel=1e-5)
        assert question.discrimination_index == pytest.approx(discrimination, rel=1e-5)
        assert question.discriminative_efficiency == pytest.approx(efficiency, rel=1e-5)
        assert question.intended_weight == pytest.approx(100 / 7)


# --- A hand-computed fixture ------------------------------------------------------------------
# q1 numeric (1 mark, misconceptions "added" and "linear"), q2 single choice a–d (1 mark, key a;
# b and c carry misconceptions), q3 multiple choice x, y right and z wrong (2 marks, partial
# credit: max(0, right − wrong) / 2 of 2 marks), q4 true/false (1 mark). Quiz maximum 5.
#   attempt      1  2  3  4  5  6  7  8
#   q1 mark      1  1  0  1  0  0  1  0   ("added" on attempts 3 and 5; attempt 8 blank)
#   q2 picked    a  a  b  c  a  b  a  –   (b "sd-for-var", c "no-half")
#   q3 picked   xy  x xy xz  y  z xy xyz
#   q3 mark      2  1  2  0  1  0  2  1
#   q4 mark      1  1  1  0  1  0  0  1
#   total        5  4  3  1  3  0  4  2
ROWS = [
    (1, "a", ("x", "y"), 1),
    (1, "a", ("x",), 1),
    (0, "b", ("x", "y"), 1),
    (1, "c", ("x", "z"), 0),
    (0, "a", ("y",), 1),
    (0, "b", ("z",), 0),
    (1, "a", ("x", "y"), 0),
    (0, None, ("x", "y", "z"), 1),
]
Q1_MISCONCEPTION = {2: "added", 4: "added"}  # by row index: attempts 3 and 5
Q2_MISCONCEPTION = {"b": "sd-for-var", "c": "no-half"}
SPECS = [
    QuestionSpec("q1", misconception_ids=("added", "linear"), random_guess_score=0.0),
    QuestionSpec(
        "q2",
        ("a", "b", "c", "d"),
        ("sd-for-var", "no-half"),
        random_guess_score("single_choice", 4),
    ),
    QuestionSpec("q3", ("x", "y", "z")),
    QuestionSpec("q4", random_guess_score=random_guess_score("true_false")),
]


def fixture_attempts() -> list[AttemptRecord]:
    records = []
    for i, (q1, q2, q3, q4) in enumerate(ROWS):
        right, wrong = len({"x", "y"} & set(q3)), len(set(q3) - {"x", "y"})
        responses = {
            "q1": Response(q1, 1, None, Q1_MISCONCEPTION.get(i)),
            "q2": Response(
                float(q2 == "a"), 1, None if q2 is None else (q2,), Q2_MISCONCEPTION.get(q2 or "")
            ),
            "q3": Response(max(0, right - wrong), 2, q3),
            "q4": Response(q4, 1),
        }
        records.append(AttemptRecord(responses, sum(r.score for r in responses.values()), 5))
    return records


MARKS = {  # read off the table above
    "q1": [1, 1, 0, 1, 0, 0, 1, 0],
    "q2": [1, 1, 0, 0, 1, 0, 1, 0],
    "q3": [2, 1, 2, 0, 1, 0, 2, 1],
    "q4": [1, 1, 1, 0, 1, 0, 0, 1],
}
TOTALS = [5, 4, 3, 1, 3, 0, 4, 2]


def test_fixture_quiz_figures_by_hand() -> None:
    stats = analyze(fixture_attempts(), SPECS)
    assert [a.score for a in fixture_attempts()] == TOTALS
    assert stats.attempts == 8
    assert stats.max_score == 5
    assert stats.mean_score == 22 / 8
    assert stats.median_score == 3  # sorted 0 1 2 3 3 4 4 5: (3 + 3) / 2
    # Σ(t − 2.75)² = 5.0625 + 1.5625 + 0.0625 + 3.0625 + 0.0625 + 7.5625 + 1.5625 + 0.5625 = 19.5
    assert stats.score_sd == pytest.approx(math.sqrt(19.5 / 7))
    assert stats.score_sd == pytest.approx(statistics.stdev(TOTALS))
    # Item variances × 7: q1 2, q2 2, q3 15 − 8·1.125² = 4.875, q4 5 − 8·0.625² = 1.875 → 10.75;
    # α = 4/3 · (1 − 10.75/19.5) = 70/117.
    assert stats.cronbach_alpha == pytest.approx(100 * float(Fraction(70, 117)))
    # The same from the covariance matrix C of the items: α = p/(p − 1)·(1 − tr C / ΣC).
    items = list(MARKS.values())
    c = [[statistics.covariance(a, b) for b in items] for a in items]
    trace, whole = sum(c[k][k] for k in range(4)), sum(map(sum, c))
    assert stats.cronbach_alpha == pytest.approx(100 * 4 / 3 * (1 - trace / whole))
    assert stats.error_ratio == pytest.approx(100 * math.sqrt(1 - 70 / 117))
    assert stats.standard_error == pytest.approx(math.sqrt(1 - 70 / 117) * math.sqrt(19.5 / 7))
    # Shape, from the biased moments g1 = m3/m2^1.5, g2 = m4/m2² − 3 and the usual corrections.
    n, mean = 8, 2.75
    m2, m3, m4 = (sum((t - mean) ** r for t in TOTALS) / n for r in (2, 3, 4))
    g1, g2 = m3 / m2**1.5, m4 / m2**2 - 3
    assert stats.skewness == pytest.approx(math.sqrt(n * (n - 1)) / (n - 2) * g1)
    assert stats.kurtosis == pytest.approx((n - 1) / ((n - 2) * (n - 3)) * ((n + 1) * g2 + 6))
    assert stats.reasons == {}


def test_fixture_question_figures_by_hand() -> None:
    by_id = {q.id: q for q in analyze(fixture_attempts(), SPECS).questions}
    assert [q.attempts for q in by_id.values()] == [8, 8, 8, 8]
    assert [q.max_score for q in by_id.values()] == [1, 1, 2, 1]
    assert [q.intended_weight for q in by_id.values()] == [20, 20, 40, 20]
    # Facility: 4/8, 4/8, 9 of 16 marks, 5/8.
    assert [q.facility_index for q in by_id.values()] == [50, 50, 56.25, 62.5]
    assert by_id["q1"].sd == pytest.approx(100 * math.sqrt(2 / 7))
    assert by_id["q3"].sd == pytest.approx(100 * statistics.stdev([m / 2 for m in MARKS["q3"]]))
    # q1 against the rest r = [4 3 3 0 3 0 3 2]: Σ(x − ½)r = ½·10 − ½·8 = 1, Σ(x − ½)² = 2,
    # Σ(r − 2.25)² = 56 − 40.5 = 15.5, so D = 100/√31; sorted, Σ = −½·5 + ½·13 = 4: E = 25%.
    assert by_id["q1"].discrimination_index == pytest.approx(100 / math.sqrt(31))
    assert by_id["q1"].discriminative_efficiency == pytest.approx(25)
    # q2 against r = [4 3 3 1 2 0 3 2]: Σ(x − ½)r = 6 − 3 = 3, Σ(r − 2.25)² = 11.5: D = 300/√23.
    assert by_id["q2"].discrimination_index == pytest.approx(300 / math.sqrt(23))
    for question_id, marks in MARKS.items():
        rest = [t - x for t, x in zip(TOTALS, marks, strict=True)]
        expected = 100 * statistics.correlation(marks, rest)
        assert by_id[question_id].discrimination_index == pytest.approx(expected)
    # Effective weight: 7·Cov(x, T) = 3, 5, 8.25, 3.25 (summing to 7·Var T = 19.5).
    roots = [math.sqrt(c) for c in (3, 5, 8.25, 3.25)]
    for question, root in zip(by_id.values(), roots, strict=True):
        assert question.effective_weight == pytest.approx(100 * root / sum(roots))
    assert [q.random_guess_score for q in by_id.values()] == [0, 25, None, 50]
    assert by_id["q3"].reasons == {"random_guess_score": NO_GUESS_ESTIMATE}


def test_fixture_choice_and_misconception_counts() -> None:
    by_id = {q.id: q for q in analyze(fixture_attempts(), SPECS).questions}
    assert by_id["q1"].choices == {}
    assert by_id["q1"].misconceptions == {"added": 2, "linear": 0}
    assert by_id["q2"].choices == {"a": 4, "b": 2, "c": 1, "d": 0}  # one left it blank
    assert by_id["q2"].misconceptions == {"sd-for-var": 2, "no-half": 1}
    assert by_id["q3"].choices == {"x": 6, "y": 5, "z": 3}
    assert by_id["q4"].choices == {}
    assert by_id["q4"].misconceptions == {}


def test_ids_nobody_listed_are_counted_after_the_listed_ones() -> None:
    records = [
        AttemptRecord({"q1": Response(0, 1, ("zeta",), "m2")}, 0, 1),
        AttemptRecord({"q1": Response(0, 1, ("alpha",), "m1")}, 0, 1),
    ]
    (question,) = analyze(records, [QuestionSpec("q1", ("b",), ("m9",))]).questions
    assert list(question.choices.items()) == [("b", 0), ("alpha", 1), ("zeta", 1)]
    assert list(question.misconceptions.items()) == [("m9", 0), ("m1", 1), ("m2", 1)]


# --- Too little data --------------------------------------------------------------------------


def test_no_attempts() -> None:
    stats = analyze([], [QuestionSpec("q1", ("a", "b"), ("m",))])
    assert stats.attempts == 0
    assert stats.mean_score is None
    assert stats.cronbach_alpha is None
    assert set(stats.reasons.values()) == {NO_ATTEMPTS}
    assert "max_score" in stats.reasons
    (question,) = stats.questions
    assert question.attempts == 0
    assert question.facility_index is None
    assert question.reasons["facility_index"] == NO_ATTEMPT_INCLUDES
    assert question.reasons["discrimination_index"] == NO_ATTEMPT_INCLUDES
    assert question.choices == {"a": 0, "b": 0}
    assert question.misconceptions == {"m": 0}


def test_one_attempt_gives_levels_but_no_spread() -> None:
    stats = analyze([attempt(1, 0.5)], ["q1", "q2"])
    assert (stats.mean_score, stats.median_score, stats.max_score) == (1.5, 1.5, 2)
    for name in ("score_sd", "skewness", "kurtosis", "cronbach_alpha", "standard_error"):
        assert getattr(stats, name) is None
        assert stats.reasons[name] == NEEDS_2
    first, second = stats.questions
    assert (first.facility_index, second.facility_index) == (100, 50)
    assert first.discrimination_index is None
    assert first.reasons["discrimination_index"] == NEEDS_2
    assert first.reasons["sd"] == NEEDS_2
    assert first.reasons["effective_weight"] == NEEDS_2


def test_identical_questions_give_alpha_100_and_no_error() -> None:
    # Every question scored alike on every attempt: each item's variance is v and the total's
    # is p²·v (p = 3), so α = p/(p − 1)·(1 − p·v/(p²·v)) = 1 exactly, by hand. In floating point
    # the formula gives 100 + 1e-14 here, whose error ratio √(1 − α/100) has no real value.
    stats = analyze(
        [attempt(0, 0, 0), attempt(0, 0, 0), attempt(0.25, 0.25, 0.25)], ["q1", "q2", "q3"]
    )
    assert stats.cronbach_alpha == pytest.approx(100)
    assert stats.cronbach_alpha <= 100
    assert stats.error_ratio == pytest.approx(0, abs=1e-6)
    assert stats.standard_error == pytest.approx(0, abs=1e-6)


def test_two_attempts_give_sd_but_not_alpha_and_three_not_kurtosis() -> None:
    two = analyze([attempt(1, 1), attempt(0, 1)], ["q1", "q2"])
    assert two.score_sd == pytest.approx(math.sqrt(0.5))
    assert two.cronbach_alpha is None
    assert two.reasons["cronbach_alpha"] == NEEDS_3
    assert two.reasons["skewness"] == NEEDS_3
    three = analyze([attempt(1, 1), attempt(0, 1), attempt(0, 0)], ["q1", "q2"])
    assert three.skewness is not None
    assert three.cronbach_alpha is not None
    assert three.kurtosis is None
    assert three.reasons == {"kurtosis": NEEDS_4}


def test_all_equal_scores() -> None:
    stats = analyze([attempt(1, 0)] * 4, ["q1", "q2"])
    assert stats.score_sd == 0
    for name in ("skewness", "kurtosis", "cronbach_alpha", "error_ratio", "standard_error"):
        assert stats.reasons[name] == SAME_SCORE
    for question in stats.questions:
        assert question.sd == 0
        assert question.discrimination_index is None
        assert question.reasons["discrimination_index"] == SAME_ON_QUESTION
        assert question.reasons["discriminative_efficiency"] == SAME_ON_QUESTION
        assert question.reasons["effective_weight"] == SAME_SCORE


def test_a_question_answered_by_nobody_scores_zero_for_everyone() -> None:
    # Shown in every attempt, left blank in every attempt: a mark of 0, as in Moodle.
    records = [attempt(1, 0, 1), attempt(0, 0, 1), attempt(1, 0, 0), attempt(0, 0, 0)]
    q1, blank, q3 = analyze(records, ["q1", "q2", "q3"]).questions
    assert (blank.attempts, blank.facility_index, blank.sd) == (4, 0, 0)
    assert blank.reasons["discrimination_index"] == SAME_ON_QUESTION
    assert q1.discrimination_index == 0  # q1 and q3 are independent here
    assert q3.discrimination_index == 0


def test_a_question_no_attempt_included() -> None:
    records = [attempt(1, None), attempt(0, None), attempt(1, None)]
    stats = analyze(records, ["q1", "q2"])
    _, unseen = stats.questions
    assert unseen.attempts == 0
    assert unseen.max_score is None
    assert unseen.facility_index is None
    assert unseen.reasons["facility_index"] == NO_ATTEMPT_INCLUDES
    assert stats.questions[0].reasons["intended_weight"] == NOT_ALL_QUESTIONS
    assert stats.reasons["cronbach_alpha"] == NOT_ALL_QUESTIONS


def test_a_question_missing_from_some_attempts_uses_the_others() -> None:
    records = [attempt(1, 1), attempt(0, 0), attempt(1, None), attempt(0, None)]
    q1, q2 = analyze(records, ["q1", "q2"]).questions
    assert (q1.attempts, q2.attempts) == (4, 2)
    assert q2.facility_index == 50
    assert q2.discrimination_index == pytest.approx(100)  # rest of quiz = q1 = [1, 0]


def test_same_score_on_the_rest_of_the_quiz() -> None:
    records = [attempt(1, 1), attempt(0, 1), attempt(1, 1)]
    q1, q2 = analyze(records, ["q1", "q2"]).questions
    assert q1.discrimination_index is None
    assert q1.reasons["discrimination_index"] == SAME_ON_REST
    assert q2.reasons["discrimination_index"] == SAME_ON_QUESTION


def test_rounding_does_not_count_as_spread() -> None:
    # 0.1 + 0.2 and 0.3 differ in the last bit: both rests are "the same" score.
    records = [
        AttemptRecord({"a": Response(1, 1), "b": Response(0.1, 1), "c": Response(0.2, 1)}, 1.3, 3),
        AttemptRecord({"a": Response(0, 1), "b": Response(0.3, 1), "c": Response(0, 1)}, 0.3, 3),
        AttemptRecord({"a": Response(1, 1), "b": Response(0, 1), "c": Response(0.3, 1)}, 1.3, 3),
    ]
    first, _, _ = analyze(records, ["a", "b", "c"]).questions
    assert first.reasons["discrimination_index"] == SAME_ON_REST


def test_one_question_has_no_alpha() -> None:
    stats = analyze([attempt(1), attempt(0), attempt(1)], ["q1"])
    assert stats.cronbach_alpha is None
    assert stats.reasons["cronbach_alpha"] == NEEDS_2_QUESTIONS
    assert stats.questions[0].reasons["discrimination_index"] == SAME_ON_REST


def test_negative_covariance_has_no_effective_weight() -> None:
    # q1 runs against the total that q2 and q3 dominate.
    records = [attempt(0, 1, 1), attempt(1, 0, 0), attempt(0, 1, 1), attempt(1, 0, 1)]
    q1, q2, q3 = analyze(records, ["q1", "q2", "q3"]).questions
    assert q1.effective_weight is None
    assert q1.reasons["effective_weight"] == NEGATIVE_COVARIANCE
    assert q2.effective_weight is not None
    assert q3.effective_weight is not None
    assert q2.effective_weight + q3.effective_weight == pytest.approx(100)


def test_different_maxima_have_no_common_maximum() -> None:
    records = [attempt(1, 1), attempt(1, 1, maxima=(1, 2))]
    stats = analyze(records, ["q1", "q2"])
    assert stats.max_score is None
    assert stats.reasons["max_score"] == MIXED_MAXIMA
    assert stats.questions[1].max_score is None
    assert stats.questions[1].facility_index == 75  # mean of 1/1 and 1/2


@pytest.mark.parametrize(
    ("make", "field"),
    [
        (lambda: Response(math.nan, 1), "responses"),
        (lambda: Response(1, 0), "responses"),
        (lambda: AttemptRecord({}, math.inf, 1), "attempts"),
        (lambda: analyze([], ["q1", "q1"]), "questions"),
        (lambda: random_guess_score("single_choice"), "choice_count"),
    ],
)
def test_bad_input_names_the_field(make: Callable[[], object], field: str) -> None:
    with pytest.raises(ValueError, match=f"^{field}: "):
        make()


def test_random_guess_scores_follow_moodle() -> None:
    assert random_guess_score("single_choice", 5) == 0.2
    assert random_guess_score("true_false") == 0.5
    assert random_guess_score("numeric") == 0
    assert random_guess_score("multiple_choice", 4) is None


def test_first_attempts_keeps_each_learners_earliest() -> None:
    t0 = datetime(2025, 1, 1)
    rows = [
        ("ann", t0 + timedelta(hours=2), "ann-2"),
        ("bob", t0, "bob-1"),
        ("ann", t0 + timedelta(hours=1), "ann-1"),
        ("bob", t0, "bob-tie"),
        ("cy", t0 + timedelta(days=3), "cy-1"),
    ]
    assert first_attempts(rows) == ["ann-1", "bob-1", "cy-1"]
    assert first_attempts([]) == []


# --- Invariants -------------------------------------------------------------------------------

marks_matrix = st.integers(2, 12).flatmap(
    lambda s: st.lists(
        st.lists(st.sampled_from([0.0, 0.25, 0.5, 1.0]), min_size=3, max_size=3),
        min_size=s,
        max_size=s,
    )
)


@settings(max_examples=60, deadline=None)
@given(marks_matrix)
# Perfectly correlated items: α is 100 exactly, and 100 + 1e-14 in floating point.
@example([[0.0, 0.0, 0.0], [0.0, 0.0, 0.0], [0.25, 0.25, 0.25]])
def test_invariants(rows: list[list[float]]) -> None:
    stats = analyze([attempt(*row) for row in rows], ["q1", "q2", "q3"])
    reversed_stats = analyze([attempt(*row) for row in reversed(rows)], ["q1", "q2", "q3"])
    assert reversed_stats.cronbach_alpha == pytest.approx(stats.cronbach_alpha)
    if stats.cronbach_alpha is not None:
        assert stats.cronbach_alpha <= 100
        assert stats.error_ratio is not None
        assert stats.error_ratio >= 0
    weights = [q.effective_weight for q in stats.questions if q.effective_weight is not None]
    assert not weights or sum(weights) == pytest.approx(100)
    for n, question in enumerate(stats.questions):
        assert question.facility_index is not None
        assert 0 <= question.facility_index <= 100
        d, e = question.discrimination_index, question.discriminative_efficiency
        assert (d is None) == (e is None)
        if d is None or e is None:
            continue
        marks = [row[n] for row in rows]
        rest = [sum(row) - row[n] for row in rows]
        assert d == pytest.approx(100 * statistics.correlation(marks, rest))
        # Cov ≤ Cov_max ≤ SD·SD (rearrangement, Cauchy–Schwarz): E has D's sign and |E| ≥ |D|.
        assert e <= 100 + 1e-9
        assert abs(e) >= abs(d) - 1e-9
        assert d * e >= 0
