"""Learner use cases: register, arrive from an LMS, read, list and delete."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from service.auth.services import IssuedToken, issue_learner_token
from service.errors import NotFound
from service.learners.events import LearnerDeleted, LearnerEvents
from service.learners.models import Learner
from service.pagination import Page, PageRequest, paginate


@dataclass(frozen=True)
class RegisteredLearner:
    id: uuid.UUID
    display_name: str
    token: str
    token_expires_at: datetime


_INSERT_LEARNER = insert(Learner)


def register_learner(
    session: Session, display_name: str | None, *, secret_key: str, token_ttl: timedelta
) -> RegisteredLearner:
    learner_id, name = uuid.uuid4(), display_name or "Anonymous learner"
    with session.begin():
        session.connection().execute(_INSERT_LEARNER, {"id": learner_id, "display_name": name})
        issued = issue_learner_token(session, learner_id, secret_key, token_ttl, "session")
    return RegisteredLearner(learner_id, name, issued.token, issued.expires_at)


def lms_learner(
    session: Session,
    *,
    issuer: str,
    subject: str,
    display_name: str | None,
    secret_key: str,
    token_ttl: timedelta,
) -> tuple[Learner, IssuedToken]:
    """The learner for an LMS user (created on their first launch, renamed when the LMS sends a
    new name) and a short-lived token, inside the caller's transaction. A concurrent first launch
    makes the insert fail with IntegrityError: the caller's unit of work runs again."""
    learner = session.scalar(
        select(Learner).where(Learner.issuer == issuer, Learner.subject == subject)
    )
    if learner is None:
        learner = Learner(
            display_name=display_name or "LMS learner", issuer=issuer, subject=subject
        )
        session.add(learner)
        session.flush()
    elif display_name and learner.display_name != display_name:
        learner.display_name = display_name
    return learner, issue_learner_token(session, learner.id, secret_key, token_ttl, "lti")


def get_learner(session: Session, learner_id: uuid.UUID) -> Learner:
    with session.begin():
        learner = session.get(Learner, learner_id)
    if learner is None:
        raise NotFound(f"There is no learner {learner_id}.")
    return learner


def list_learners(session: Session, page: PageRequest) -> Page[Learner]:
    with session.begin():
        return paginate(session, select(Learner).order_by(Learner.created_at, Learner.id), page)


def delete_learner(session: Session, events: LearnerEvents, learner_id: uuid.UUID) -> None:
    """Remove the learner, their tokens and attempts (cascading foreign keys); LearnerDeleted is
    published first, in the same transaction."""
    with session.begin():
        if session.scalar(select(Learner.id).where(Learner.id == learner_id)) is None:
            raise NotFound(f"There is no learner {learner_id}.")
        events.publish(session, LearnerDeleted(learner_id))
        session.execute(delete(Learner).where(Learner.id == learner_id))
