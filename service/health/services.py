"""Readiness: the database answers and its schema is at the migrations' head."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from service.errors import ServiceUnavailable


@dataclass(frozen=True)
class Readiness:
    status: str
    database: str
    revision: str


def check_ready(session: Session, expected_heads: frozenset[str]) -> Readiness:
    """Ready when `SELECT 1` works and alembic_version holds exactly the expected heads."""
    try:
        with session.begin():
            session.execute(text("SELECT 1"))
            revisions = frozenset(
                session.execute(text("SELECT version_num FROM alembic_version")).scalars()
            )
    except SQLAlchemyError as exc:
        # A missing alembic_version table means "never migrated", not "down".
        missing_table = "alembic_version" in str(exc)
        raise ServiceUnavailable(
            "The database has not been migrated: run `flask --app service db upgrade`."
            if missing_table
            else "The database is not reachable right now.",
            headers={"Retry-After": "5"},
        ) from exc
    if revisions != expected_heads:
        raise ServiceUnavailable(
            f"The database schema is at {sorted(revisions) or 'no revision'}, "
            f"the code expects {sorted(expected_heads)}: run `flask --app service db upgrade`.",
            headers={"Retry-After": "5"},
        )
    bind = session.get_bind()
    return Readiness(status="ok", database=bind.dialect.name, revision=",".join(sorted(revisions)))
