"""Item analysis of quiz attempts, as Moodle's quiz statistics report defines it.

Sources: Moodle Docs, https://docs.moodle.org/dev/Quiz_statistics_calculations (formulas) and
https://docs.moodle.org/dev/Quiz_report_statistics (meanings, target ranges), and the code:
`question/classes/statistics/questions/calculator.php` (per question) and
`mod/quiz/report/statistics/classes/calculator.php` (per quiz). Moodle's own test data
(`mod/quiz/report/statistics/tests/fixtures/results00.csv`) is the oracle in the tests.

Notation: attempts i = 1..s, questions q = 1..p; x_iq is the mark of attempt i on question q
(out of m_q), T_i = Σ_q x_iq its total over the quiz's questions and X_iq = T_i − x_iq its mark
on the rest of the quiz. Var and Cov are sample statistics (divisor s − 1). A missing question
(the attempt never showed it) leaves the attempt out of that question's figures; an unanswered
question that was shown is a mark of 0, as in Moodle.

Per question, over the s_q attempts that include it (percentages as Moodle shows them):
  facility_index             F = 100 · mean(x_q / m_q)
  sd                         100 · SD(x_q / m_q)            (Moodle's SD column, % of m_q)
  random_guess_score         100 · the caller's estimate    (see `random_guess_score`)
  intended_weight            100 · m_q / Σ_r m_r
  effective_weight           100 · √Cov(x_q, T) / Σ_{r: Cov(x_r, T) ≥ 0} √Cov(x_r, T)
  discrimination_index       D = 100 · Cov(x_q, X_q) / √(Var x_q · Var X_q)
  discriminative_efficiency  E = 100 · Cov(x_q, X_q) / Cov_max(x_q, X_q), where Cov_max is
                             the covariance of the two lists each sorted ascending, the largest
                             covariance their values allow
Per quiz, over the attempts' total scores t_i (Moodle's `sumgrades`):
  mean_score, median_score, score_sd (SD, s − 1), max_score (the attempts' common maximum)
  skewness  k3 / k2^{3/2} and kurtosis  k4 / k2², from m_r = Σ(t − t̄)^r / s:
            k2 = s·m2 / (s − 1),  k3 = s²·m3 / ((s − 1)(s − 2)),
            k4 = s²·((s + 1)·m4 − 3(s − 1)·m2²) / ((s − 1)(s − 2)(s − 3))
  cronbach_alpha  (Moodle's coefficient of internal consistency)
                  α = 100 · p/(p − 1) · (1 − Σ_q Var x_q / k2)
  error_ratio     100 · √(1 − α/100),  standard_error  error_ratio · score_sd / 100
A figure that cannot be computed is None and `reasons[name]` says why. Moodle's thresholds:
2 attempts for any spread, 3 for skewness and alpha, 4 for kurtosis, 2 questions for alpha.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import numpy as np

NO_ATTEMPTS = "no attempts"
NO_ATTEMPT_INCLUDES = "no attempt includes this question"
NEEDS_2 = "needs at least 2 attempts"
NEEDS_3 = "needs at least 3 attempts"
NEEDS_4 = "needs at least 4 attempts"
NEEDS_2_QUESTIONS = "needs at least 2 questions"
SAME_SCORE = "every attempt had the same total score"
SAME_ON_QUESTION = "every attempt scored the same on this question"
SAME_ON_REST = "every attempt scored the same on the rest of the quiz"
NOT_ALL_QUESTIONS = "not every attempt includes every question"
MIXED_MAXIMA = "attempts have different maximum scores"
NEGATIVE_COVARIANCE = "negative covariance with the total score"
NO_GUESS_ESTIMATE = "no random guess estimate for this question type"

# Spreads below this fraction of the data's magnitude are rounding, not variation.
_RELATIVE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Response:
    """One attempt's result on one question: the mark out of `max_score`, the choice ids picked
    (None when the question has no choices or was left blank) and the misconception matched."""

    score: float
    max_score: float
    choices: tuple[str, ...] | None = None
    misconception: str | None = None

    def __post_init__(self) -> None:
        _check_mark(self.score, self.max_score, "responses")


@dataclass(frozen=True)
class AttemptRecord:
    """A graded attempt: `responses` by question id, and its total `score` out of `max_score`."""

    responses: Mapping[str, Response]
    score: float
    max_score: float

    def __post_init__(self) -> None:
        _check_mark(self.score, self.max_score, "attempts")


@dataclass(frozen=True)
class QuestionSpec:
    """A question of the quiz. `choice_ids` and `misconception_ids` are listed (with count 0)
    even when nobody picked them; `random_guess_score` is a fraction of the mark, or None."""

    id: str
    choice_ids: tuple[str, ...] = ()
    misconception_ids: tuple[str, ...] = ()
    random_guess_score: float | None = None


@dataclass(frozen=True)
class QuestionAnalytics:
    id: str
    attempts: int
    max_score: float | None
    facility_index: float | None
    sd: float | None
    random_guess_score: float | None
    intended_weight: float | None
    effective_weight: float | None
    discrimination_index: float | None
    discriminative_efficiency: float | None
    choices: dict[str, int]
    misconceptions: dict[str, int]
    reasons: dict[str, str]


@dataclass(frozen=True)
class QuizAnalytics:
    attempts: int
    max_score: float | None
    mean_score: float | None
    median_score: float | None
    score_sd: float | None
    skewness: float | None
    kurtosis: float | None
    cronbach_alpha: float | None
    error_ratio: float | None
    standard_error: float | None
    questions: tuple[QuestionAnalytics, ...]
    reasons: dict[str, str]


def analyze(
    attempts: Sequence[AttemptRecord], questions: Sequence[QuestionSpec | str]
) -> QuizAnalytics:
    """Moodle's quiz and question statistics of `attempts` (see the module docstring).

    `questions` are the quiz's questions in order (a plain id means no extra metadata). Which
    attempts to include (first attempts, all attempts) is the caller's choice: see
    `first_attempts`.
    """
    specs = [q if isinstance(q, QuestionSpec) else QuestionSpec(q) for q in questions]
    ids = [spec.id for spec in specs]
    if len(set(ids)) != len(ids):
        raise ValueError("questions: question ids must be unique")
    # marks[i, q] and maxima[i, q]: NaN where attempt i does not include question q.
    marks = np.full((len(attempts), len(ids)), np.nan)
    maxima = np.full_like(marks, np.nan)
    for i, attempt in enumerate(attempts):
        for q, question_id in enumerate(ids):
            response = attempt.responses.get(question_id)
            if response is not None:
                marks[i, q], maxima[i, q] = response.score, response.max_score
    sum_marks = np.nansum(marks, axis=1)
    question_maxima = [_common(maxima[~np.isnan(maxima[:, q]), q]) for q in range(len(ids))]
    with_total = [_covariance(marks[:, q], sum_marks) for q in range(len(ids))]
    roots = [math.sqrt(c) for c in with_total if c is not None and c >= 0]
    roots_sum = 0.0 if len(attempts) and _constant(sum_marks) else sum(roots)
    results = []
    for q, spec in enumerate(specs):
        included = ~np.isnan(marks[:, q])
        figures = _Figures()
        _question_figures(figures, marks[included, q], maxima[included, q], sum_marks[included])
        _weights(figures, question_maxima, q, with_total[q], roots_sum)
        if spec.random_guess_score is None:
            figures.missing(NO_GUESS_ESTIMATE, "random_guess_score")
        else:
            figures.set("random_guess_score", 100 * spec.random_guess_score)
        responses = [a.responses[spec.id] for a in attempts if spec.id in a.responses]
        results.append(
            QuestionAnalytics(
                id=spec.id,
                attempts=int(included.sum()),
                max_score=question_maxima[q],
                choices=_counts(spec.choice_ids, (c for r in responses for c in r.choices or ())),
                misconceptions=_counts(
                    spec.misconception_ids, (r.misconception for r in responses if r.misconception)
                ),
                reasons=figures.reasons,
                **figures.values,
            )
        )
    figures = _Figures()
    _quiz_figures(figures, np.array([a.score for a in attempts], dtype=float), marks)
    max_score = _common(np.array([a.max_score for a in attempts], dtype=float))
    if max_score is None:
        figures.reasons["max_score"] = MIXED_MAXIMA if attempts else NO_ATTEMPTS
    return QuizAnalytics(
        attempts=len(attempts),
        max_score=max_score,
        questions=tuple(results),
        reasons=figures.reasons,
        **figures.values,
    )


class _Figures:
    """Figures being computed: a value, or None and the reason why, for each name."""

    def __init__(self) -> None:
        self.values: dict[str, float | None] = {}
        self.reasons: dict[str, str] = {}

    def set(self, name: str, value: float) -> None:
        self.values[name] = value

    def missing(self, reason: str, *names: str) -> None:
        for name in names:
            self.values[name] = None
            self.reasons[name] = reason


def _question_figures(figures: _Figures, x: np.ndarray, m: np.ndarray, totals: np.ndarray) -> None:
    """Facility, SD, discrimination index and efficiency of one question's marks `x` (out of
    `m`) against the attempts' totals over the quiz's questions."""
    names = ("facility_index", "sd", "discrimination_index", "discriminative_efficiency")
    s = len(x)
    if s == 0:
        return figures.missing(NO_ATTEMPT_INCLUDES, *names)
    fractions = x / m
    figures.set("facility_index", 100 * float(fractions.mean()))
    if s < 2:
        return figures.missing(NEEDS_2, *names[1:])
    figures.set("sd", 100 * float(fractions.std(ddof=1)))
    rest = totals - x
    if _constant(x) or _constant(rest):
        reason = SAME_ON_QUESTION if _constant(x) else SAME_ON_REST
        return figures.missing(reason, *names[2:])
    dx, drest = x - x.mean(), rest - rest.mean()
    covariance = float(dx @ drest)
    covariance_max = float(np.sort(dx) @ np.sort(drest))  # same shift, so still centred
    index = covariance / math.sqrt(float(dx @ dx) * float(drest @ drest))
    figures.set("discrimination_index", 100 * index)
    figures.set("discriminative_efficiency", 100 * covariance / covariance_max)


def _weights(
    figures: _Figures,
    maxima: list[float | None],
    q: int,
    with_total: float | None,
    roots_sum: float,
) -> None:
    """Intended weight (share of the maximum mark) and Moodle's effective weight."""
    mine = maxima[q]
    if mine is None:
        figures.missing(NO_ATTEMPT_INCLUDES, "intended_weight")
    elif None in maxima:
        figures.missing(NOT_ALL_QUESTIONS, "intended_weight")
    else:
        figures.set("intended_weight", 100 * mine / sum(m for m in maxima if m is not None))
    if with_total is None:
        figures.missing(NEEDS_2, "effective_weight")
    elif roots_sum == 0:
        figures.missing(SAME_SCORE, "effective_weight")
    elif with_total < 0:
        figures.missing(NEGATIVE_COVARIANCE, "effective_weight")
    else:
        figures.set("effective_weight", 100 * math.sqrt(with_total) / roots_sum)


def _quiz_figures(figures: _Figures, totals: np.ndarray, marks: np.ndarray) -> None:
    """Mean, median, spread, shape and reliability of the attempts' totals (Moodle's formulas)."""
    names = (
        "mean_score",
        "median_score",
        "score_sd",
        "skewness",
        "kurtosis",
        "cronbach_alpha",
        "error_ratio",
        "standard_error",
    )
    s = len(totals)
    if s == 0:
        return figures.missing(NO_ATTEMPTS, *names)
    mean = float(totals.mean())
    figures.set("mean_score", mean)
    figures.set("median_score", float(np.median(totals)))
    if s < 2:
        return figures.missing(NEEDS_2, *names[2:])
    d = totals - mean
    m2, m3, m4 = (float(np.mean(d**r)) for r in (2, 3, 4))
    k2 = s * m2 / (s - 1)
    sd = math.sqrt(k2)
    figures.set("score_sd", sd)
    if s < 3:
        return figures.missing(NEEDS_3, *names[3:])
    if _constant(totals):
        return figures.missing(SAME_SCORE, *names[3:])
    k3 = s * s * m3 / ((s - 1) * (s - 2))
    figures.set("skewness", k3 / k2**1.5)
    if s < 4:
        figures.missing(NEEDS_4, "kurtosis")
    else:
        k4 = s * s * ((s + 1) * m4 - 3 * (s - 1) * m2 * m2) / ((s - 1) * (s - 2) * (s - 3))
        figures.set("kurtosis", k4 / (k2 * k2))
    p = marks.shape[1]
    if p < 2 or np.isnan(marks).any():
        return figures.missing(NEEDS_2_QUESTIONS if p < 2 else NOT_ALL_QUESTIONS, *names[5:])
    # α <= 100 (Cauchy-Schwarz: var(total) <= p·Σ var(item)); rounding can pass it, e.g. by
    # 1e-14 when every item is perfectly correlated, and the error ratio takes its square root.
    alpha = min(100.0, 100 * p / (p - 1) * (1 - float(marks.var(axis=0, ddof=1).sum()) / k2))
    error_ratio = 100 * math.sqrt(1 - alpha / 100)
    figures.set("cronbach_alpha", alpha)
    figures.set("error_ratio", error_ratio)
    figures.set("standard_error", error_ratio * sd / 100)


def _covariance(x: np.ndarray, y: np.ndarray) -> float | None:
    """Sample covariance of x and y where x is not NaN; None below 2 values."""
    x, y = x[~np.isnan(x)], y[~np.isnan(x)]
    if len(x) < 2:
        return None
    return float((x - x.mean()) @ (y - y.mean())) / (len(x) - 1)


def _constant(values: np.ndarray) -> bool:
    """Whether the values differ by no more than rounding."""
    spread = float(values.max() - values.min())
    return spread <= _RELATIVE_TOLERANCE * max(1.0, float(np.abs(values).max()))


def _common(values: np.ndarray) -> float | None:
    """The value every entry shares (None when empty or when they differ)."""
    if len(values) == 0 or not _constant(values):
        return None
    return float(values[0])


def _counts(listed: Sequence[str], seen: Iterable[str]) -> dict[str, int]:
    """How often each id was seen: `listed` first (zeros kept), then other ids sorted."""
    counts = dict.fromkeys(listed, 0)
    extra: dict[str, int] = {}
    for item in seen:
        target = counts if item in counts else extra
        target[item] = target.get(item, 0) + 1
    return counts | dict(sorted(extra.items()))


def _check_mark(score: float, max_score: float, name: str) -> None:
    if not (math.isfinite(score) and math.isfinite(max_score)):
        raise ValueError(f"{name}: scores must be finite numbers")
    if max_score <= 0:
        raise ValueError(f"{name}: max_score must be positive")


def random_guess_score(question_type: str, choice_count: int = 0) -> float | None:
    """Moodle's estimate of the mark fraction a random guess earns, by question type.

    single_choice: the mean of the choices' fractions, 1/n with one right choice among n
    (qtype_multichoice); true_false: ½ (qtype_truefalse); numeric: 0 (qtype_numerical without a
    catch-all answer); multiple_choice: None, as Moodle does not estimate it.
    """
    if question_type == "single_choice":
        if choice_count < 1:
            raise ValueError("choice_count: a single-choice question needs choices")
        return 1 / choice_count
    return {"true_false": 0.5, "numeric": 0.0}.get(question_type)


class _Ordered(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...


A = TypeVar("A")


def first_attempts(rows: Iterable[tuple[Hashable, _Ordered, A]]) -> list[A]:
    """Each learner's first attempt from (learner id, started_at, attempt) rows.

    Moodle's default ("first attempts only"): later attempts build on earlier ones and break the
    assumptions of item analysis. Ties on started_at keep the earlier row; the result follows
    the order in which learners first appear.
    """
    first: dict[Hashable, tuple[_Ordered, A]] = {}
    for learner, started_at, attempt in rows:
        if learner not in first or started_at < first[learner][0]:
            first[learner] = (started_at, attempt)
    return [attempt for _, attempt in first.values()]
