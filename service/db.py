"""SQLAlchemy 2 plumbing: the declarative base, the engine, one session per request, and the
unit of work.

The unit of work: a use case (a public service function) runs as one transaction that it opens
itself, `with session.begin(): ...`, or `run_in_transaction` when a lost race should run it
again. Helpers that run inside a caller's transaction take the session and open none. Sessions
are made with `autobegin=False`, so any database access outside an explicit transaction fails
loudly instead of leaving a transaction open by accident.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import orjson
from flask import Flask, current_app, g
from sqlalchemy import JSON, Connection, DateTime, Engine, MetaData, create_engine, event
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.engine import make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker
from sqlalchemy.types import TypeDecorator

from service.errors import Conflict
from service.jsonio import dumps_bytes

T = TypeVar("T")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores no offset)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not stored: pass a timezone-aware UTC value")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


#: Execution option marking a read-only session's connections (SQLite begins them deferred).
READ_ONLY_OPTION = "activation_lab_read_only"

#: JSON on SQLite, JSONB on PostgreSQL.
JSONDocument = JSON().with_variant(JSONB(), "postgresql")


def utcnow() -> datetime:
    return datetime.now(UTC)


def _json_text(value: Any) -> str:
    return dumps_bytes(value).decode()


def _json_value(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:  # a row the stdlib wrote with NaN or Infinity in it
        return json.loads(text)


# JSON columns through orjson, as request and response bodies are: the stdlib's json is several
# times slower, and every submission writes its answers, its result and its xAPI statements.
_JSON_ARGS: dict[str, Any] = {"json_serializer": _json_text, "json_deserializer": _json_value}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UTCDateTime()}  # noqa: RUF012 (SQLAlchemy reads it)


def _prepare_sqlite(url: str) -> None:
    database = make_url(url).database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_db_engine(url: str, *, pool_size: int = 5, connect_timeout: int = 3) -> Engine:
    """Engine for `url`. SQLite: WAL, foreign keys and a busy timeout so several workers can share
    one file; PostgreSQL: pre-ping and a connect timeout so a dead server answers fast."""
    if url.startswith("sqlite"):
        _prepare_sqlite(url)
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, **_JSON_ARGS
        )

        @event.listens_for(engine, "connect")
        def _on_connect(dbapi_connection: Any, _record: Any) -> None:
            # Let SQLAlchemy, not pysqlite, decide when transactions begin (BEGIN IMMEDIATE below).
            dbapi_connection.isolation_level = None
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA busy_timeout=30000")
            cursor.close()

        @event.listens_for(engine, "begin")
        def _on_begin(connection: Any) -> None:
            # Writers take the lock up front (no SQLITE_BUSY upgrade deadlocks between workers);
            # read-only sessions begin deferred, so under WAL they never wait for a writer.
            if connection.get_execution_options().get(READ_ONLY_OPTION):
                connection.exec_driver_sql("BEGIN")
            else:
                connection.exec_driver_sql("BEGIN IMMEDIATE")

        return engine
    return create_engine(
        url,
        pool_pre_ping=True,
        pool_size=pool_size,
        max_overflow=pool_size * 2,
        pool_timeout=10,
        **_JSON_ARGS,
        connect_args={
            "connect_timeout": connect_timeout,
            # Notice a peer that vanished mid-connection instead of waiting on it forever.
            "keepalives": 1,
            "keepalives_idle": 10,
            "keepalives_interval": 5,
            "keepalives_count": 3,
            "tcp_user_timeout": 30_000,
            "options": "-c statement_timeout=30000",
        },
    )


class Database:
    """The engine and session factories of one app."""

    def __init__(self, url: str, *, pool_size: int = 5, connect_timeout: int = 3) -> None:
        self.url = url
        self.engine = create_db_engine(url, pool_size=pool_size, connect_timeout=connect_timeout)
        self.sessionmaker = sessionmaker(
            self.engine, autobegin=False, expire_on_commit=False, autoflush=True
        )
        # SQLite: reads skip the write lock. PostgreSQL needs no such split: reuse one factory.
        self.read_sessionmaker = (
            sessionmaker(
                self.engine.execution_options(**{READ_ONLY_OPTION: True}),
                autobegin=False,
                expire_on_commit=False,
            )
            if url.startswith("sqlite")
            else None
        )

    def request_session(self) -> Session:
        """A session bound to one pooled connection, which goes back to the pool when the
        request's app context ends.

        A request runs several short transactions (authentication, then its own); on one
        connection they skip the pool's checkout and return and, on PostgreSQL, its pre-ping
        round trip, which cost more than the statements themselves. One per request, so a
        request never waits for a second connection while holding one."""
        return self.sessionmaker(bind=self.engine.connect())

    def init_app(self, app: Flask) -> None:
        app.extensions["database"] = self
        app.teardown_appcontext(_close_request_session)

    def dispose(self) -> None:
        self.engine.dispose()


def get_database(app: Flask | None = None) -> Database:
    database: Database = (app or current_app).extensions["database"]
    return database


def get_session() -> Session:
    """The current request's session (created on first use, closed at teardown)."""
    if "db_session" not in g:
        g.db_session = get_database().request_session()
    session: Session = g.db_session
    return session


def get_read_session() -> Session:
    """The current request's session for transactions that only read (never write with it).

    On SQLite its transactions take a connection from the pool each (they begin deferred, on
    their own connection); elsewhere it is the request's session."""
    database = get_database()
    if database.read_sessionmaker is None:
        return get_session()
    if "db_read_session" not in g:
        g.db_read_session = database.read_sessionmaker()
    session: Session = g.db_read_session
    return session


def _close_request_session(_exc: BaseException | None) -> None:
    for name in ("db_session", "db_read_session"):
        session: Session | None = g.pop(name, None)
        if session is not None:
            connection = session.bind
            session.close()
            if isinstance(connection, Connection):
                connection.close()  # back to the pool


# --------------------------------------------------------------------------------------------
# The unit of work


class RaceLost(Exception):
    """Raised inside a unit of work when what it read was changed by a concurrent request before
    it could act on it: `run_in_transaction` runs the whole unit again."""


def run_in_transaction(
    session: Session, work: Callable[[Session], T], *, attempts: int, conflict: str
) -> T:
    """`work(session)` as one transaction: committed when it returns, rolled back when it raises.

    A lost race runs the whole unit again, up to `attempts` times in all: RaceLost, or an
    IntegrityError (a unique constraint refused what a concurrent request wrote first; the next
    round reads the winner's row). Conflict(`conflict`) when every round lost."""
    for _ in range(attempts):
        try:
            with session.begin():
                return work(session)
        except (IntegrityError, RaceLost):
            continue
    raise Conflict(conflict)
