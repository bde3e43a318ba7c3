"""Every statement the service emits, checked by an independent xAPI implementation (Ralph's
pydantic models of xAPI 1.0.3, `ralph-malph`) and against the MUSTs of xAPI-Data.md, for every
verb: answered (per answered question), completed, passed, failed.

Ralph's `BaseXapiStatement` rejects empty values outside extensions (§2.2), a `scaled` outside
[-1, 1] and a raw outside [min, max] (§2.4.5.1), invalid IRIs, language tags, UUIDs and
interaction types, and `platform` on a non-Activity object (§2.4.6)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from fractions import Fraction
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from ralph.models.xapi.base.statements import BaseXapiStatement
from ralph.models.xapi.concepts.verbs.adl_vocabulary import AnsweredVerb
from ralph.models.xapi.concepts.verbs.scorm_profile import CompletedVerb

from service.xapi import statements as xs
from tests.backends import all_backends
from tests.factories import ALL_RIGHT, api_key, register, seed_sample

pytestmark = all_backends

#: Ralph's own models of the verbs it knows; the others are checked by the base model.
RALPH_VERBS = {xs.ANSWERED: AnsweredVerb, xs.COMPLETED: CompletedVerb}
JSON_NUMBER = re.compile(r"-?(?:0|[1-9]\d*)(?:\.\d+)?(?:e[+-]?\d+)?")
DURATION = re.compile(r"PT\d+(?:\.\d{1,2})?S")  # ISO 8601 §4.4.3.2, 0.01 s precision (§4.6)
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")

#: learner -> answers; blank questions are left out or sent as null / an empty selection
SUBMISSIONS: dict[str, dict[str, Any]] = {
    "Ada": ALL_RIGHT,  # numeric "1,048,576", passed
    "Bob": {"q-numeric": "2^20", "q-single": None, "q-multi": [], "q-tf": False},  # failed
    "Cy": {"q-numeric": "1/3", "q-single": "layer"},
    "Di": {"q-numeric": 2.5e-30, "q-multi": ["layer"]},
}
#: the number each numeric answer was read as
READ_AS = {"Ada": Fraction(1048576), "Bob": Fraction(1048576), "Cy": Fraction(1, 3)}
READ_AS["Di"] = Fraction("2.5e-30")


@pytest.fixture
def emitted(app: Flask, client: FlaskClient) -> dict[str, list[dict[str, Any]]]:
    """The statements of one submission per learner, as stored and served."""
    seed_sample(app)
    reader = api_key(app, "admin")
    by_learner = {}
    for name, answers in SUBMISSIONS.items():
        learner_id, auth = register(client, name)
        attempt = client.post("/v1/quizzes/sample-quiz/attempts", headers=auth).json
        submitted = client.post(
            f"/v1/attempts/{attempt['id']}/submission", json={"answers": answers}, headers=auth
        )
        assert submitted.status_code == 200, submitted.json
        page = client.get(
            f"/v1/xapi/statements?learner={learner_id}&per_page=100", headers=reader
        ).json
        by_learner[name] = page["items"]
    return by_learner


def test_every_statement_is_valid_for_ralph_and_every_verb_is_covered(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    verbs = set()
    for statements in emitted.values():
        for statement in statements:
            BaseXapiStatement.model_validate(statement)
            verb = statement["verb"]["id"]
            if verb in RALPH_VERBS:
                RALPH_VERBS[verb].model_validate(statement["verb"])
            verbs.add(verb)
    assert verbs == set(xs.VERBS) == {xs.ANSWERED, xs.COMPLETED, xs.PASSED, xs.FAILED}


def test_a_question_left_blank_has_no_answered_statement(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    def answered(name: str) -> list[str]:
        return [
            s["object"]["id"].rsplit("/", 1)[1]
            for s in emitted[name]
            if s["verb"]["id"] == xs.ANSWERED
        ]

    assert answered("Ada") == ["q-numeric", "q-single", "q-multi", "q-tf"]
    assert answered("Bob") == ["q-numeric", "q-tf"]  # q-single null, q-multi nothing picked
    assert answered("Cy") == ["q-numeric", "q-single"]
    assert [s["verb"]["id"] for s in emitted["Bob"][-2:]] == [xs.COMPLETED, xs.FAILED]
    for statements in emitted.values():
        assert all(s["result"].get("response") != "" for s in statements)


def test_a_numeric_response_is_the_number_the_answer_was_read_as(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    """§2.4.4.1 Response Patterns, numeric: a number (not the learner's text `2^20`)."""
    for name, value in READ_AS.items():
        [numeric] = [s for s in emitted[name] if s["object"]["id"].endswith("/questions/q-numeric")]
        response = numeric["result"]["response"]
        assert JSON_NUMBER.fullmatch(response), response
        if value.denominator % 3:
            assert Fraction(response) == value  # exact when the decimal is finite
        else:
            assert float(response) == float(value)  # 1/3: 17 significant digits
    assert emitted["Ada"][0]["result"]["response"] == "1048576"


def test_choice_and_true_false_responses_follow_their_patterns(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    """choice: item ids joined by [,], no delimiter for one item; true-false: true or false."""
    responses = {
        s["object"]["id"].rsplit("/", 1)[1]: s["result"]["response"]
        for s in emitted["Ada"]
        if s["verb"]["id"] == xs.ANSWERED
    }
    assert responses == {
        "q-numeric": "1048576",
        "q-single": "batch",
        "q-multi": "layer[,]instance",
        "q-tf": "true",
    }
    [single] = [s for s in emitted["Di"] if s["object"]["id"].endswith("/q-multi")]
    assert single["result"]["response"] == "layer"


def test_scores_are_raw_over_max_unrounded_within_their_bounds(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    """§2.4.5.1: min < max, min <= raw <= max, -1 <= scaled <= 1; the service's contract:
    scaled = raw / max exactly."""
    seen = set()
    for statements in emitted.values():
        for statement in statements:
            score = statement["result"]["score"]
            assert score["min"] < score["max"]
            assert score["min"] <= score["raw"] <= score["max"]
            assert -1 <= score["scaled"] <= 1
            assert score["scaled"] == score["raw"] / score["max"]
            seen.add(score["scaled"])
    assert {0.0, 0.25, 1.0} <= seen  # Bob's misses, Bob's attempt, Ada's


def test_ids_timestamps_durations_and_context_follow_the_data_types(
    emitted: dict[str, list[dict[str, Any]]],
) -> None:
    """§2.4.1 RFC 4122 ids in standard form; §4.5 timestamps in UTC, not in the future (§2.4.7);
    §4.6 durations; §2.4.6.1 registration a UUID; extension keys are IRIs (ralph)."""
    now = datetime.now(UTC)
    ids = []
    for statements in emitted.values():
        for statement in statements:
            parsed = uuid.UUID(statement["id"])
            assert parsed.variant == uuid.RFC_4122
            assert str(parsed) == statement["id"]
            ids.append(statement["id"])
            assert TIMESTAMP.fullmatch(statement["timestamp"])
            assert datetime.fromisoformat(statement["timestamp"]) <= now
            uuid.UUID(statement["context"]["registration"])
            if "duration" in statement["result"]:
                assert DURATION.fullmatch(statement["result"]["duration"])
            assert statement["actor"]["account"]["homePage"].startswith(("http://", "https://"))
    assert len(ids) == len(set(ids))
