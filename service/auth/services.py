"""Issuing, checking and revoking credentials."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session

from service.auth import credentials
from service.auth.models import ROLES, ApiKey, LearnerToken
from service.db import utcnow
from service.errors import Unauthorized, Unprocessable


@dataclass(frozen=True)
class Principal:
    """Who is calling: a learner (by token) or an integration (by API key, with a role)."""

    kind: str  # "learner" or "api_key"
    credential_id: uuid.UUID
    learner_id: uuid.UUID | None = None
    role: str | None = None

    @property
    def is_learner(self) -> bool:
        return self.kind == "learner"


@dataclass(frozen=True)
class IssuedToken:
    token: str
    expires_at: datetime


_INSERT_TOKEN = insert(LearnerToken)


def issue_learner_token(
    session: Session, learner_id: uuid.UUID, secret_key: str, ttl: timedelta, purpose: str
) -> IssuedToken:
    """Store a new token for the learner (call inside the caller's transaction)."""
    issued = credentials.issue_token(secret_key)
    expires_at = utcnow() + ttl
    session.connection().execute(
        _INSERT_TOKEN,
        {
            "id": issued.id,
            "learner_id": learner_id,
            "secret_hash": issued.secret_hash,
            "purpose": purpose,
            "expires_at": expires_at,
        },
    )
    return IssuedToken(issued.plaintext, expires_at)


# Plain columns through Core, not an ORM object: a learner request checks its token first.
_TOKEN_STATEMENT = select(
    LearnerToken.secret_hash,
    LearnerToken.revoked_at,
    LearnerToken.expires_at,
    LearnerToken.learner_id,
).where(LearnerToken.id == bindparam("token_id"))


def authenticate(session: Session, credential: str, secret_key: str) -> Principal:
    """The principal behind a bearer token or API key; Unauthorized when it is not valid."""
    with session.begin():
        key_id = credentials.parse_api_key_id(credential)
        if key_id is not None:
            key = session.get(ApiKey, key_id)
            if (
                key is None
                or key.revoked_at is not None
                or not credentials.hashes_match(key.secret_hash, secret_key, credential)
            ):
                raise Unauthorized("The API key is not valid or has been revoked.")
            return Principal("api_key", key.id, role=key.role)
        token_id = credentials.parse_token_id(credential)
        token = (
            session.connection().execute(_TOKEN_STATEMENT, {"token_id": token_id}).first()
            if token_id
            else None
        )
        if (
            token_id is None
            or token is None
            or not credentials.hashes_match(token.secret_hash, secret_key, credential)
        ):
            raise Unauthorized("The bearer token is not valid.")
        if token.revoked_at is not None:
            raise Unauthorized("The bearer token has been revoked.")
        if token.expires_at <= utcnow():
            raise Unauthorized("The bearer token has expired.")
        return Principal("learner", token_id, learner_id=token.learner_id)


def revoke_token(session: Session, token_id: uuid.UUID) -> None:
    with session.begin():
        session.execute(
            update(LearnerToken)
            .where(LearnerToken.id == token_id, LearnerToken.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )


def create_api_key(session: Session, name: str, role: str, secret_key: str) -> tuple[ApiKey, str]:
    """A new API key; the plaintext is returned once and never stored."""
    if role not in ROLES:
        raise Unprocessable(f"role must be one of {', '.join(ROLES)}", errors={"role": ["unknown"]})
    issued = credentials.issue_api_key(secret_key)
    key = ApiKey(id=issued.id, name=name, role=role, secret_hash=issued.secret_hash)
    with session.begin():
        session.add(key)
    return key, issued.plaintext


def revoke_api_key(session: Session, key_id: uuid.UUID) -> bool:
    with session.begin():
        result = session.execute(
            update(ApiKey)
            .where(ApiKey.id == key_id, ApiKey.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]
