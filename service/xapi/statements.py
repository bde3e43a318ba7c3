"""xAPI 1.0.3 statements for a graded submission (pure: no database, no Flask).

A submission gives ADL `answered` per answered question (the question's points as its score;
a question left blank, null or with nothing picked, has none: the learner did not answer, and
xAPI allows no empty response), then `completed` and `passed` or `failed` for the attempt (the
attempt's score). Every score carries raw, min (0), max and scaled = raw / max, unrounded (a
zero maximum, which xAPI does not allow beside min 0, gives raw alone). A response follows its
interaction type's pattern (xAPI-Data §2.4.4.1): choice ids joined by `[,]`, `true`/`false`,
and for numeric questions the number the answer was read as (`2^20` -> `1048576`), exact when
its decimal expansion is finite, else to 17 significant digits. Statement ids are UUID5s of
(attempt, verb, question), so the same submission always gives the same ids.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from fractions import Fraction
from typing import Any

from service.quizzes.domain.answers import read_numeric
from service.quizzes.numbers import exact_text, format_number

XAPI_VERSION = "1.0.3"
ADL_VERBS = "http://adlnet.gov/expapi/verbs/"
ANSWERED = ADL_VERBS + "answered"
COMPLETED = ADL_VERBS + "completed"
PASSED = ADL_VERBS + "passed"
FAILED = ADL_VERBS + "failed"
#: every verb the service emits
VERBS = (ANSWERED, COMPLETED, PASSED, FAILED)
ASSESSMENT = "http://adlnet.gov/expapi/activities/assessment"
INTERACTION = "http://adlnet.gov/expapi/activities/cmi.interaction"
DEFAULT_HOME = "https://activation-lab.invalid"
STATEMENT_NAMESPACE = uuid.UUID("6f3c2a7e-1b0d-4c59-9a43-3f1f0e5d8b21")
INTERACTION_TYPES = {
    "numeric": "numeric",
    "single_choice": "choice",
    "multiple_choice": "choice",
    "true_false": "true-false",
}


@dataclass(frozen=True)
class Actor:
    """Who: an LMS account (issuer, subject) or a learner of this service (home, learner id)."""

    name: str
    home_page: str
    account_name: str

    def to_xapi(self) -> dict[str, Any]:
        agent: dict[str, Any] = {"objectType": "Agent"}
        if self.name.strip():  # optional; xAPI allows no empty value (an LMS may send "")
            agent["name"] = self.name
        agent["account"] = {"homePage": self.home_page, "name": self.account_name}
        return agent


@dataclass(frozen=True)
class QuestionOutcome:
    question_id: str
    question_type: str
    prompt: str
    points: float
    max_points: float
    correct: bool
    response: Any


@dataclass(frozen=True)
class Submission:
    attempt_id: uuid.UUID
    attempt_number: int
    quiz_slug: str
    quiz_title: str
    started_at: datetime
    submitted_at: datetime
    score: float
    max_score: float
    passed: bool
    questions: Sequence[QuestionOutcome]


def quiz_iri(base_url: str, slug: str) -> str:
    return f"{base_url.rstrip('/')}/v1/quizzes/{slug}"


def question_iri(base_url: str, slug: str, question_id: str) -> str:
    return f"{quiz_iri(base_url, slug)}/questions/{question_id}"


def statement_id(attempt_id: uuid.UUID, verb: str, question_id: str = "") -> uuid.UUID:
    return uuid.uuid5(STATEMENT_NAMESPACE, f"{attempt_id}|{verb}|{question_id}")


def _score(raw: float, maximum: float) -> dict[str, float]:
    if maximum <= 0:
        return {"raw": raw}
    return {"raw": raw, "min": 0.0, "max": maximum, "scaled": raw / maximum}


def _timestamp(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _duration(start: datetime, end: datetime) -> str:
    seconds = max((end - start).total_seconds(), 0.0)
    return f"PT{seconds:.2f}S"


def is_blank(answer: Any) -> bool:
    """No answer: missing, null or an empty selection."""
    return answer is None or (isinstance(answer, list | tuple | str) and not answer)


def number_text(value: Fraction) -> str:
    """A number as a decimal literal: exact when finite (1/8 -> 0.125), else 17 digits."""
    text = exact_text(value)
    return text if "/" not in text else format_number(value, significant=17)


def response_text(answer: Any) -> str:
    """An answer as xAPI's response string (choices joined by `[,]`, booleans lower-case,
    numbers read from the learner's text as decimals)."""
    if isinstance(answer, bool):
        return "true" if answer else "false"
    if isinstance(answer, Fraction):
        return number_text(answer)
    if isinstance(answer, list | tuple):
        return "[,]".join(response_text(item) for item in answer)
    return str(answer)


def _name(text: str) -> dict[str, Any]:
    """An activity's optional `name` language map; none for an empty text."""
    return {"name": {"en-US": text}} if text.strip() else {}


def _verb(verb_id: str) -> dict[str, Any]:
    return {"id": verb_id, "display": {"en-US": verb_id.rsplit("/", 1)[-1]}}


def build_statements(
    submission: Submission, actor: Actor, *, base_url: str | None
) -> list[dict[str, Any]]:
    """The statements of one submission, in order: answered..., completed, passed|failed."""
    base = base_url or DEFAULT_HOME
    quiz_activity = {
        "objectType": "Activity",
        "id": quiz_iri(base, submission.quiz_slug),
        "definition": {"type": ASSESSMENT, **_name(submission.quiz_title)},
    }
    context: dict[str, Any] = {
        "registration": str(submission.attempt_id),
        "platform": "Activation Lab",
        "extensions": {f"{base.rstrip('/')}/xapi/attempt-number": submission.attempt_number},
    }
    common = {"actor": actor.to_xapi(), "timestamp": _timestamp(submission.submitted_at)}
    statements: list[dict[str, Any]] = []
    for outcome in submission.questions:
        if is_blank(outcome.response):
            continue
        definition: dict[str, Any] = {"type": INTERACTION, **_name(outcome.prompt)}
        if outcome.question_type in INTERACTION_TYPES:
            definition["interactionType"] = INTERACTION_TYPES[outcome.question_type]
        statements.append(
            {
                "id": str(statement_id(submission.attempt_id, ANSWERED, outcome.question_id)),
                **common,
                "verb": _verb(ANSWERED),
                "object": {
                    "objectType": "Activity",
                    "id": question_iri(base, submission.quiz_slug, outcome.question_id),
                    "definition": definition,
                },
                "result": {
                    "score": _score(outcome.points, outcome.max_points),
                    "success": outcome.correct,
                    "response": response_text(outcome.response),
                },
                "context": {**context, "contextActivities": {"parent": [quiz_activity]}},
            }
        )
    attempt_score = _score(submission.score, submission.max_score)
    duration = _duration(submission.started_at, submission.submitted_at)
    for verb in (COMPLETED, PASSED if submission.passed else FAILED):
        statements.append(
            {
                "id": str(statement_id(submission.attempt_id, verb)),
                **common,
                "verb": _verb(verb),
                "object": quiz_activity,
                "result": {
                    "score": attempt_score,
                    "success": submission.passed,
                    "completion": True,
                    "duration": duration,
                },
                "context": context,
            }
        )
    return statements


def outcomes_from_result(
    result: Mapping[str, Any],
    answers: Mapping[str, Any],
    questions: Mapping[str, tuple[str, str]],
) -> list[QuestionOutcome]:
    """Question outcomes from a stored grading result; `questions` maps id -> (type, prompt).
    A numeric answer is the value it was graded as (the grading read it already)."""
    outcomes = []
    for row in result["results"]:
        question_type, prompt = questions.get(row["question_id"], ("", row["question_id"]))
        response = answers.get(row["question_id"])
        if question_type == "numeric" and not is_blank(response):
            response = read_numeric(response)
        outcomes.append(
            QuestionOutcome(
                question_id=row["question_id"],
                question_type=question_type,
                prompt=prompt,
                points=float(row["points"]),
                max_points=float(row["max_points"]),
                correct=bool(row["correct"]),
                response=response,
            )
        )
    return outcomes
