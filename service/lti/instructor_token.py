"""The instructor session token: what a staff launch hands the instructor view (and any
LMS-side script the instructor gives it to).

A JWT (HS256) signed with a key derived from SECRET_KEY, so every worker and host checks it
without shared state: `iss` the tool, `aud` INSTRUCTOR_AUDIENCE, `sub` the LMS user id,
`exp` LTI_TOKEN_TTL_SECONDS after the launch, and its scope: `platform_id`, `course_id` (the
tool's row for the LMS context), `context_id`, `quiz` (the slug the link names) and
`resource_link_id`. It reads only that course's roster and results on that quiz and re-sends
grades of that course's members; it is never a learner token (the learner API refuses it).
It cannot be revoked one by one: it expires; rotating SECRET_KEY revokes every one.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import asdict, dataclass

import jwt

from service.errors import Unauthorized

INSTRUCTOR_AUDIENCE = "activation-lab:lti-instructor"
ALGORITHM = "HS256"
TOKEN_PREFIX = "lti-instructor."


@dataclass(frozen=True)
class InstructorScope:
    """What an instructor token lets its bearer see and do."""

    platform_id: int
    course_id: int
    context_id: str
    quiz: str
    resource_link_id: str | None
    user_id: str


def _key(secret_key: str) -> bytes:
    return hmac.new(secret_key.encode(), b"lti-instructor-token", hashlib.sha256).digest()


def issue(scope: InstructorScope, *, secret_key: str, issuer: str, ttl_seconds: int) -> str:
    """A token for `scope`, valid `ttl_seconds` from now; prefixed so it reads as what it is."""
    now = int(time.time())
    claims = {
        **asdict(scope),
        "sub": scope.user_id,
        "iss": issuer,
        "aud": INSTRUCTOR_AUDIENCE,
        "iat": now,
        "exp": now + ttl_seconds,
    }
    del claims["user_id"]
    return TOKEN_PREFIX + jwt.encode(claims, _key(secret_key), algorithm=ALGORITHM)


def is_instructor_token(credential: str) -> bool:
    return credential.startswith(TOKEN_PREFIX)


def verify(credential: str, *, secret_key: str) -> InstructorScope:
    """The scope of a valid, unexpired token; Unauthorized naming the problem otherwise."""
    if not is_instructor_token(credential):
        raise Unauthorized(
            "This endpoint needs the instructor token of an LTI launch "
            "(`Authorization: Bearer lti-instructor.…`)."
        )
    try:
        claims = jwt.decode(
            credential.removeprefix(TOKEN_PREFIX),
            _key(secret_key),
            algorithms=[ALGORITHM],
            audience=INSTRUCTOR_AUDIENCE,
            options={"require": ["exp", "sub", "aud"]},
        )
        return InstructorScope(
            platform_id=int(claims["platform_id"]),
            course_id=int(claims["course_id"]),
            context_id=str(claims["context_id"]),
            quiz=str(claims["quiz"]),
            resource_link_id=claims.get("resource_link_id"),
            user_id=str(claims["sub"]),
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("The instructor token has expired: launch again from the LMS.") from exc
    except (jwt.InvalidTokenError, KeyError, TypeError, ValueError) as exc:
        raise Unauthorized("The instructor token is not valid.") from exc
