"""Instructor launches from the test platform: the class view with the roster from Names and
Role Provisioning Services (pages, differences), never an attempt or a score of their own, and
grades re-sent through the outbox."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import jwt
import pytest
from flask import Flask

from service.outbox import queue
from service.outbox.wiring import app_outbox, delivery_context
from tests.backends import all_backends
from tests.factories import ALL_RIGHT
from tests.lti.conftest import QUIZ, TARGET, Tool, launch_and_submit, row_counts
from tests.lti.platform import INSTRUCTOR_ROLES, LEARNER_ROLES, LaunchForm, Lms, launch_form

pytestmark = all_backends
CONTEXT = "http://purl.imsglobal.org/vocab/lis/v2/membership"
ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"


def instructor_token(tool: Tool, lms: Lms, roles: list[str] | None = None) -> str:
    form = launch_form(
        tool.client, lms, TARGET, user_id="teacher-1", name="Ada Lovelace",
        roles=roles or INSTRUCTOR_ROLES,
    )  # fmt: skip
    response = form.post(tool.client)
    assert response.status_code == 303, response.get_data(as_text=True)
    location = response.headers["Location"]
    assert location.startswith("/lti/instructor#")
    return dict(parse_qsl(urlsplit(location).fragment))["token"]


def _class(tool: Tool, token: str) -> dict[str, Any]:
    response = tool.client.get(
        "/v1/lti/instructor/class", headers={"Authorization": f"Bearer {token}"}
    )
    assert response.status_code == 200, response.get_data(as_text=True)
    return dict(response.json)


def _deliver(app: Flask) -> queue.DeliveryReport:
    return queue.deliver_due(delivery_context(app), app_outbox(app).handlers)


@pytest.mark.parametrize(
    "roles",
    [
        INSTRUCTOR_ROLES,
        ["Instructor"],
        [f"{CONTEXT}/Instructor#TeachingAssistant"],
        [f"{CONTEXT}#ContentDeveloper"],
        [f"{CONTEXT}#Administrator"],
        ["http://purl.imsglobal.org/vocab/lis/v2/institution/person#Administrator"],
    ],
)
def test_a_staff_launch_opens_the_instructor_view_and_writes_no_learner_row(
    tool: Tool, lms: Lms, roles: list[str]
) -> None:
    before = row_counts(tool.app)
    token = instructor_token(tool, lms, roles)
    assert token.startswith("lti-instructor.")
    after = row_counts(tool.app)
    for table in ("learners", "learner_tokens", "attempts", "lti_launch_contexts"):
        assert after[table] == before[table] == 0, table
    assert after["outbox_messages"] == 0
    # The token is no learner token: the learner API refuses it.
    bearer = {"Authorization": f"Bearer {token}"}
    assert tool.client.get("/v1/learners/me", headers=bearer).status_code == 401
    assert tool.client.post(f"/v1/quizzes/{QUIZ}/attempts", headers=bearer).status_code == 401


def _without_roles(lms: Lms, form: LaunchForm) -> LaunchForm:
    """The roles claim is required (LTI 1.3 §5.3.7) but may be empty: no role at all."""
    claims = lms.decode(form.id_token)
    claims[ROLES_CLAIM] = []
    token = jwt.encode(claims, lms.keys.private_pem, "RS256", headers={"kid": lms.kid()})
    return LaunchForm(form.url, token, form.state)


@pytest.mark.parametrize("roles", [["http://example.com/roles#Wizard"], None])
def test_unknown_or_missing_roles_open_the_quiz_as_a_learner(
    tool: Tool, lms: Lms, roles: list[str] | None
) -> None:
    form = launch_form(tool.client, lms, TARGET, roles=roles or LEARNER_ROLES)
    if roles is None:
        form = _without_roles(lms, form)
    response = form.post(tool.client)
    assert response.status_code == 303
    assert response.headers["Location"].startswith("/?quiz=")
    assert row_counts(tool.app)["attempts"] == 1


def _seed_class(lms: Lms) -> None:
    lms.set_member("teacher-1", "Ada Lovelace", INSTRUCTOR_ROLES)
    lms.set_member("learner-a", "Alan Turing", LEARNER_ROLES)
    lms.set_member("learner-b", "Barbara Liskov", LEARNER_ROLES)
    lms.set_member("learner-c", "Claude Shannon", LEARNER_ROLES)


def test_the_class_joins_the_nrps_roster_with_results_and_syncs_differences(
    tool: Tool, lms: Lms
) -> None:
    _seed_class(lms)
    launch_and_submit(tool, lms, user_id="learner-a")
    launch_and_submit(tool, lms, {**ALL_RIGHT, "q-tf": False}, user_id="learner-b")
    # A learner of another course on the same platform counts nowhere in this one.
    launch_and_submit(tool, lms, {}, user_id="learner-x", context_id="course-2")
    token = instructor_token(tool, lms)

    view = _class(tool, token)
    assert lms.nrps_requests == ["GET /memberships"]
    assert (view["context_id"], view["course_title"], view["quiz"]) == (
        "course-1",
        "Deep learning 101",
        QUIZ,
    )
    members = {m["user_id"]: m for m in view["members"]}
    assert {
        u: (m["role"], m["state"], m["attempts"], m["best_score"]) for u, m in members.items()
    } == {
        "teacher-1": ("staff", "not_started", 0, None),
        "learner-a": ("learner", "submitted", 1, 4.0),
        "learner-b": ("learner", "submitted", 1, 3.0),
        "learner-c": ("learner", "not_started", 0, None),
    }
    assert members["learner-a"]["name"] == "Alan Turing"
    assert [m["user_id"] for m in view["not_started"]] == ["learner-c"]
    assert view["analytics"]["attempts"] == 2
    assert view["analytics"]["mean_score"] == pytest.approx(3.5)
    assert view["analytics"]["quiz"] == QUIZ
    by_id = {q["id"]: q for q in view["analytics"]["questions"]}
    assert by_id["q-tf"]["facility_index"] == 50  # learner-b answered false
    assert by_id["q-single"]["choices"] == {"batch": 2, "layer": 0}
    assert view["roster_error"] is None

    # Later syncs read only the differences: one joins, one leaves.
    lms.set_member("learner-d", "Dana Scott", LEARNER_ROLES)
    lms.set_member("learner-c", "Claude Shannon", LEARNER_ROLES, status="Deleted")
    view = _class(tool, token)
    assert lms.nrps_requests[1] == "GET /memberships?since=4"
    assert sorted(m["user_id"] for m in view["members"]) == [
        "learner-a",
        "learner-b",
        "learner-d",
        "teacher-1",
    ]
    assert [m["user_id"] for m in view["not_started"]] == ["learner-d"]
    _class(tool, token)
    assert lms.nrps_requests[2] == "GET /memberships?since=6"
    # Viewing the class wrote no attempt, token or score for the instructor.
    counts = row_counts(tool.app)
    assert (counts["learners"], counts["attempts"], counts["outbox_messages"]) == (3, 3, 3)


def test_the_roster_is_read_across_pages(tool: Tool, lms: Lms) -> None:
    _seed_class(lms)
    lms.set_member("learner-d", "Dana Scott", LEARNER_ROLES)
    lms.nrps_page_size = 2
    view = _class(tool, instructor_token(tool, lms))
    assert lms.nrps_requests == [
        "GET /memberships",
        "GET /memberships?page=2",
        "GET /memberships?page=3",
    ]
    assert len(view["members"]) == 5


def test_a_refused_differences_link_reads_the_whole_roster_and_a_failure_shows_the_last(
    tool: Tool, lms: Lms
) -> None:
    _seed_class(lms)
    token = instructor_token(tool, lms)
    assert len(_class(tool, token)["members"]) == 4

    lms.set_member("learner-d", "Dana Scott", LEARNER_ROLES)
    lms.fail_next_memberships = 1  # the differences link is refused: the whole roster is read
    view = _class(tool, token)
    assert lms.nrps_requests[1:] == ["GET /memberships?since=4", "GET /memberships"]
    assert len(view["members"]) == 5
    assert view["roster_error"] is None

    lms.set_member("learner-e", "Edsger Dijkstra", LEARNER_ROLES)
    lms.fail_next_memberships = 2  # the LMS is down: the last roster, and why
    view = _class(tool, token)
    assert len(view["members"]) == 5
    assert "503" in view["roster_error"]
    assert "showing the last one" in view["roster_error"]


def test_an_instructor_resends_a_grade_through_the_outbox(tool: Tool, lms: Lms) -> None:
    _seed_class(lms)
    launch_and_submit(tool, lms, user_id="learner-a")
    assert _deliver(tool.app).delivered == 1
    token = instructor_token(tool, lms)
    bearer = {"Authorization": f"Bearer {token}"}

    resent = tool.client.post(
        "/v1/lti/instructor/grades", json={"user_id": "learner-a"}, headers=bearer
    )
    assert resent.status_code == 202, resent.json
    assert (resent.json["score_given"], resent.json["score_maximum"]) == (4.0, 4.0)
    assert _deliver(tool.app).delivered == 1
    assert [(s["userId"], s["scoreGiven"]) for _, s in lms.scores] == [
        ("learner-a", 4.0),
        ("learner-a", 4.0),
    ]
    missing = tool.client.post(
        "/v1/lti/instructor/grades", json={"user_id": "learner-c"}, headers=bearer
    )
    assert missing.status_code == 404
    assert "no submitted attempt" in missing.json["detail"]


@pytest.mark.parametrize(
    "header", [None, "Bearer nonsense", "Bearer lti-instructor.forged", "Bearer tok_learner"]
)
def test_the_class_needs_a_valid_instructor_token(tool: Tool, header: str | None) -> None:
    headers = {"Authorization": header} if header else {}
    response = tool.client.get("/v1/lti/instructor/class", headers=headers)
    assert response.status_code == 401
    assert response.mimetype == "application/problem+json"


def test_a_learner_token_cannot_read_the_class(tool: Tool, lms: Lms) -> None:
    response = launch_form(tool.client, lms, TARGET).post(tool.client)
    learner_token = dict(parse_qsl(urlsplit(response.headers["Location"]).fragment))["token"]
    refused = tool.client.get(
        "/v1/lti/instructor/class", headers={"Authorization": f"Bearer {learner_token}"}
    )
    assert refused.status_code == 401
    assert "instructor token" in refused.json["detail"]
