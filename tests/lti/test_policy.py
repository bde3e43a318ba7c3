"""The launch role policy: which roles open the instructor view."""

from __future__ import annotations

import pytest

from service.lti.policy import LaunchRole, launch_role

CONTEXT = "http://purl.imsglobal.org/vocab/lis/v2/membership"
INSTITUTION = "http://purl.imsglobal.org/vocab/lis/v2/institution/person"
SYSTEM = "http://purl.imsglobal.org/vocab/lis/v2/system/person"


@pytest.mark.parametrize(
    "roles",
    [
        [f"{CONTEXT}#Instructor"],
        ["Instructor"],
        [f"{CONTEXT}/Instructor#TeachingAssistant"],
        ["TeachingAssistant"],
        [f"{CONTEXT}#ContentDeveloper"],
        ["ContentDeveloper"],
        [f"{CONTEXT}#Administrator"],
        [f"{CONTEXT}/Administrator#Administrator"],
        [f"{INSTITUTION}#Instructor"],
        [f"{INSTITUTION}#Administrator"],
        [f"{SYSTEM}#Administrator"],
        [f"{CONTEXT}#Learner", f"{CONTEXT}#Instructor"],
        [f"{INSTITUTION}#Student", f"{CONTEXT}#Instructor"],
    ],
)
def test_staff_roles_open_the_instructor_view(roles: list[str]) -> None:
    assert launch_role(roles) is LaunchRole.STAFF


@pytest.mark.parametrize(
    "roles",
    [
        [f"{CONTEXT}#Learner"],
        ["Learner"],
        [f"{CONTEXT}/Learner#NonCreditLearner"],
        [f"{CONTEXT}#Mentor"],
        # Context roles come first: a learner here who teaches elsewhere is a learner here.
        [f"{INSTITUTION}#Instructor", f"{CONTEXT}#Learner"],
        [f"{INSTITUTION}#Student"],
        ["http://example.com/roles#Wizard"],
        [],
        [None, 3, ""],
    ],
)
def test_learner_unknown_and_missing_roles_open_the_quiz(roles: list[object]) -> None:
    assert launch_role(roles) is LaunchRole.LEARNER
