"""Who may do what through an LTI launch: the role policy.

A launch's roles (LTI 1.3 §5.3.7, vocabularies in §A.2) decide what it opens:
- context roles decide when the launch has any: Instructor (and its sub-roles, TeachingAssistant
  among them), ContentDeveloper and Administrator (and their sub-roles) are staff; full URIs
  (`…/membership#Instructor`, `…/membership/Instructor#TeachingAssistant`) and the short names
  LTI 1.3 allows for context roles (`Instructor`) alike;
- without a context role, institution roles (`…/institution/person#Instructor`,
  `#Administrator`) and system administrators (`…/system/person#Administrator`, `#SysAdmin`)
  are staff. Context roles come first: platforms send institution roles for every course (a
  learner here may teach elsewhere);
- anything else, unknown or missing roles included, is a learner (the LTI certification guide
  allows treating an unrecognised role as a learner).
Staff open the instructor view and never get an attempt nor a score; learners open the quiz.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable
from typing import Any

from service.lti.instructor_token import InstructorScope, verify
from service.lti.tool import LtiLaunchRefused, ValidatedLaunch

ROLES_CLAIM = "https://purl.imsglobal.org/spec/lti/claim/roles"
CONTEXT_VOCABULARY = "http://purl.imsglobal.org/vocab/lis/v2/membership"
INSTITUTION_VOCABULARY = "http://purl.imsglobal.org/vocab/lis/v2/institution/person#"
SYSTEM_VOCABULARY = "http://purl.imsglobal.org/vocab/lis/v2/system/person#"
CONTEXT_STAFF = frozenset({"Instructor", "TeachingAssistant", "ContentDeveloper", "Administrator"})
INSTITUTION_STAFF = frozenset({"Instructor", "Administrator"})
SYSTEM_STAFF = frozenset({"Administrator", "SysAdmin"})


class LaunchRole(enum.Enum):
    LEARNER = "learner"
    STAFF = "staff"


def _context_role(role: str) -> str | None:
    """The principal context role a role names (`Instructor` for `…/Instructor#TeachingAssistant`
    and for the short `Instructor`), or None when it is not a context role."""
    if role.startswith(CONTEXT_VOCABULARY + "#"):
        return role.removeprefix(CONTEXT_VOCABULARY + "#")
    if role.startswith(CONTEXT_VOCABULARY + "/"):  # a sub-role: …/membership/<principal>#<sub>
        return role.removeprefix(CONTEXT_VOCABULARY + "/").partition("#")[0]
    if ":" not in role and "/" not in role:  # a short name (context roles only, LTI 1.3 §A.2.3)
        return role
    return None


def _in(names: list[str], vocabulary: str) -> set[str]:
    return {name.removeprefix(vocabulary) for name in names if name.startswith(vocabulary)}


def launch_role(roles: Iterable[Any]) -> LaunchRole:
    """STAFF or LEARNER for a launch's roles claim (see the module docstring)."""
    names = [role.strip() for role in roles if isinstance(role, str) and role.strip()]
    context = {name for name in map(_context_role, names) if name is not None}
    if context:
        return LaunchRole.STAFF if context & CONTEXT_STAFF else LaunchRole.LEARNER
    if _in(names, INSTITUTION_VOCABULARY) & INSTITUTION_STAFF or (
        _in(names, SYSTEM_VOCABULARY) & SYSTEM_STAFF
    ):
        return LaunchRole.STAFF
    return LaunchRole.LEARNER


def role_of(validated: ValidatedLaunch) -> LaunchRole:
    roles = validated.claims.get(ROLES_CLAIM)
    return launch_role(roles if isinstance(roles, list) else [])


def check_may_link(validated: ValidatedLaunch) -> None:
    """Only staff (instructors, teaching assistants, content developers, administrators) add
    quizzes to a course (deep linking)."""
    if role_of(validated) is not LaunchRole.STAFF:
        raise LtiLaunchRefused(
            "Only instructors, designers and administrators can add quizzes to a course."
        )


def instructor_scope(authorization: str, secret_key: str) -> InstructorScope:
    """What the bearer of an `Authorization` header may see as an instructor: the scope of a
    valid instructor token (instructor_token.py); Unauthorized for anything else, learner
    tokens and API keys included."""
    scheme, _, credential = authorization.partition(" ")
    return verify(credential.strip() if scheme.lower() == "bearer" else "", secret_key=secret_key)
