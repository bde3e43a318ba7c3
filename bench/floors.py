"""The quiz-flow floor: the service's own SQL for one flow, captured, and a bare Flask app that
replays it through the same driver and pool with nothing else around it.

`capture(database_url)` runs flows through the service in process (Flask test client) and records,
with SQLAlchemy's engine and pool events, what one warm flow sends to the database: per request,
the pool checkouts and checkins, every statement the driver executes (SQL text and driver-level
parameters, `executemany` kept), and every commit. It is written to a pickle (PostgreSQL's
parameters are UUID and datetime objects).

`create_app()` (served by the same gunicorn.conf.py, `BENCH_FLOOR_TRACE` and `DATABASE_URL` in the
environment) answers the same three URLs by replaying its endpoint's trace on an engine made by
`service.db.create_db_engine` (same driver, pool, pool size and SQLite pragmas): raw DBAPI
connections checked out of the pool, cursor.execute / executemany, commit, checkin. No schema,
validation, authentication check, grading, events or response serialization: identities are fresh
UUIDs substituted for the captured ones, the bearer token names its learner, the answer is the
service's captured response body with the identities replaced.
"""

from __future__ import annotations

import itertools
import os
import pickle
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask, Response, request

HEX32 = re.compile(r"[0-9a-f]{32}")
ENDPOINTS = ("register", "start", "submit")


@dataclass
class Step:
    """One event of a request: ("checkout", slot), ("checkin", slot), ("commit", slot) or
    ("execute", slot, sql, parameters, executemany)."""

    kind: str
    slot: int
    sql: str = ""
    parameters: Any = None
    many: bool = False


@dataclass
class Trace:
    """What one warm flow sent to the database, per endpoint, and what the service answered."""

    steps: dict[str, list[Step]] = field(default_factory=dict)
    bodies: dict[str, bytes] = field(default_factory=dict)
    identities: dict[str, uuid.UUID] = field(default_factory=dict)  # learner, token, attempt
    token: bytes = b""  # the bearer token in the register answer

    def statements(self, endpoint: str) -> int:
        return sum(step.kind == "execute" for step in self.steps[endpoint])


def capture(database_url: str, secret_key: str, slug: str, answers: Callable[..., Any]) -> Trace:
    """Run two warm-up flows and record a third through the service, in process."""
    from sqlalchemy import event

    from service import create_app
    from service.config import Settings
    from service.db import get_database

    environ = {
        **os.environ,
        "DATABASE_URL": database_url,
        "SECRET_KEY": secret_key,
        "RATE_LIMITS_ENABLED": "false",
    }
    app = create_app(Settings.from_env(environ))
    engine = get_database(app).engine
    recording: list[Step] = []
    slots: dict[int, int] = {}
    numbers = itertools.count()

    def slot_of(dbapi_connection: Any) -> int:
        return slots[id(dbapi_connection)]

    @event.listens_for(engine, "checkout")
    def _checkout(dbapi_connection: Any, _record: Any, _proxy: Any) -> None:
        slots[id(dbapi_connection)] = next(numbers)  # a new slot per checkout
        recording.append(Step("checkout", slot_of(dbapi_connection)))

    @event.listens_for(engine, "checkin")
    def _checkin(dbapi_connection: Any, _record: Any) -> None:
        recording.append(Step("checkin", slot_of(dbapi_connection)))

    @event.listens_for(engine, "before_cursor_execute")
    def _execute(conn: Any, _cursor: Any, sql: str, params: Any, _ctx: Any, many: bool) -> None:
        recording.append(
            Step("execute", slot_of(conn.connection.dbapi_connection), sql, params, many)
        )

    @event.listens_for(engine, "commit")
    def _commit(conn: Any) -> None:
        recording.append(Step("commit", slot_of(conn.connection.dbapi_connection)))

    client = app.test_client()
    trace = Trace()
    for _ in range(3):
        recording.clear()
        registered = client.post("/v1/learners", json={"display_name": "bench"})
        trace.steps["register"], recording[:] = list(recording), []
        auth = {"Authorization": "Bearer " + registered.json["token"]}  # type: ignore[index]
        started = client.post(f"/v1/quizzes/{slug}/attempts", headers=auth)
        trace.steps["start"], recording[:] = list(recording), []
        attempt = started.json
        assert attempt is not None, started.data
        submitted = client.post(
            f"/v1/attempts/{attempt['id']}/submission",
            json={"answers": answers(attempt["questions"])},
            headers=auth,
        )
        trace.steps["submit"] = list(recording)
        if (registered.status_code, started.status_code, submitted.status_code) != (201, 201, 200):
            raise RuntimeError(f"capture: flow failed: {submitted.data[:300]!r}")
    trace.bodies = {"register": registered.data, "start": started.data, "submit": submitted.data}
    trace.token = registered.json["token"].encode()  # type: ignore[index]
    trace.identities = {
        "learner": uuid.UUID(registered.json["id"]),  # type: ignore[index]
        "token": uuid.UUID(registered.json["token"].partition(".")[0]),  # type: ignore[index]
        "attempt": uuid.UUID(attempt["id"]),
    }
    get_database(app).dispose()
    return trace


def save(trace: Trace, path: Path) -> None:
    path.write_bytes(pickle.dumps(trace))


# --------------------------------------------------------------------------------------------
# The bare replay app


def _substitute(value: Any, mapping: dict[uuid.UUID, uuid.UUID]) -> Any:
    """A captured UUID parameter (a UUID on PostgreSQL, 32 hex digits on SQLite) replaced by the
    request's own identity, or a fresh one; any other value unchanged."""
    if isinstance(value, uuid.UUID):
        return mapping.setdefault(value, uuid.uuid4())
    if isinstance(value, str) and len(value) == 32 and HEX32.fullmatch(value):
        return mapping.setdefault(uuid.UUID(value), uuid.uuid4()).hex
    return value


def _parameters(parameters: Any, mapping: dict[uuid.UUID, uuid.UUID]) -> Any:
    if isinstance(parameters, dict):
        return {key: _substitute(value, mapping) for key, value in parameters.items()}
    if isinstance(parameters, list):
        return [_parameters(row, mapping) for row in parameters]
    return tuple(_substitute(value, mapping) for value in parameters)


def replay(engine: Any, steps: list[Step], mapping: dict[uuid.UUID, uuid.UUID]) -> None:
    """The steps on pooled DBAPI connections: checkout, execute (rows fetched), commit, checkin."""
    connections: dict[int, Any] = {}
    for step in steps:
        if step.kind == "checkout":
            connections[step.slot] = engine.raw_connection()
        elif step.kind == "checkin":
            connections.pop(step.slot).close()
        elif step.kind == "commit":
            connections[step.slot].commit()
        else:
            cursor = connections[step.slot].cursor()
            parameters = _parameters(step.parameters, mapping)
            if step.many:
                cursor.executemany(step.sql, parameters)
            else:
                cursor.execute(step.sql, parameters)
                if cursor.description is not None:
                    cursor.fetchall()
            cursor.close()
    for connection in connections.values():  # a trace always checks in; never leak on error
        connection.close()


def _dashed(value: uuid.UUID) -> bytes:
    return str(value).encode()


def create_app() -> Flask:
    from service.db import create_db_engine

    trace: Trace = pickle.loads(Path(os.environ["BENCH_FLOOR_TRACE"]).read_bytes())
    engine = create_db_engine(
        os.environ["DATABASE_URL"], pool_size=int(os.environ.get("DB_POOL_SIZE", "5"))
    )
    ids = trace.identities
    app = Flask(__name__)

    def answer(endpoint: str, status: int, mapping: dict[uuid.UUID, uuid.UUID]) -> Response:
        body = trace.bodies[endpoint]
        for name in ("learner", "attempt"):
            body = body.replace(_dashed(ids[name]), _dashed(mapping.get(ids[name], ids[name])))
        return Response(body, status=status, mimetype="application/json")

    def caller() -> dict[uuid.UUID, uuid.UUID]:
        """The bare token is '<token id>.<learner id>': no lookup decides who calls."""
        token, _, learner = request.headers["Authorization"][7:].partition(".")
        return {ids["token"]: uuid.UUID(token), ids["learner"]: uuid.UUID(learner)}

    @app.get("/hello")
    def hello() -> Response:
        return Response(b"hello", mimetype="text/plain")

    @app.post("/v1/learners")
    def register() -> Response:
        mapping = {ids["learner"]: uuid.uuid4(), ids["token"]: uuid.uuid4()}
        replay(engine, trace.steps["register"], mapping)
        response = answer("register", 201, mapping)
        token = f"{mapping[ids['token']].hex}.{mapping[ids['learner']].hex}".encode()
        response.data = response.data.replace(trace.token, token)
        return response

    @app.post("/v1/quizzes/<slug>/attempts")
    def start(slug: str) -> Response:
        mapping = {**caller(), ids["attempt"]: uuid.uuid4()}
        replay(engine, trace.steps["start"], mapping)
        return answer("start", 201, mapping)

    @app.post("/v1/attempts/<attempt_id>/submission")
    def submit(attempt_id: str) -> Response:
        request.get_data()
        mapping = {**caller(), ids["attempt"]: uuid.UUID(attempt_id)}
        replay(engine, trace.steps["submit"], mapping)
        return answer("submit", 200, mapping)

    return app
