"""Recording the statements of a submission and reading them back."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from service.db import utcnow
from service.pagination import Page, PageRequest, paginate
from service.xapi.models import XapiStatement


@dataclass(frozen=True)
class StatementFilter:
    learner_id: uuid.UUID | None = None
    since: datetime | None = None  # timestamp > since
    until: datetime | None = None  # timestamp <= until
    verb: str | None = None


_INSERT_STATEMENT = insert(XapiStatement)


def record_statements(
    session: Session,
    learner_id: uuid.UUID,
    attempt_id: uuid.UUID | None,
    statements: list[dict[str, Any]],
) -> None:
    """Store statements inside the caller's transaction."""
    stored_at = utcnow()
    rows = [
        {
            "id": uuid.UUID(statement["id"]),
            "learner_id": learner_id,
            "attempt_id": attempt_id,
            "verb": statement["verb"]["id"],
            "timestamp": datetime.fromisoformat(statement["timestamp"]),
            "statement": statement,
            "stored_at": stored_at,
            "sequence": sequence,
        }
        for sequence, statement in enumerate(statements)
    ]
    if rows:  # one Core executemany: no ORM bookkeeping for rows nobody reads back here
        session.connection().execute(_INSERT_STATEMENT, rows)


def list_statements(
    session: Session, page: PageRequest, where: StatementFilter
) -> Page[dict[str, Any]]:
    """Statements matching `where`, oldest first (by timestamp, then the order they were made)."""
    query = select(XapiStatement)
    if where.learner_id is not None:
        query = query.where(XapiStatement.learner_id == where.learner_id)
    if where.since is not None:
        query = query.where(XapiStatement.timestamp > where.since)
    if where.until is not None:
        query = query.where(XapiStatement.timestamp <= where.until)
    if where.verb is not None:
        query = query.where(XapiStatement.verb == where.verb)
    query = query.order_by(XapiStatement.timestamp, XapiStatement.stored_at, XapiStatement.sequence)
    with session.begin():
        rows = paginate(session, query, page)
    return rows.map(lambda row: {**row.statement, "stored": _iso(row.stored_at)})


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
