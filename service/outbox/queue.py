"""The outbox: messages written with the event they report, delivered later, retried with
exponential backoff until they are accepted.

A worker claims due messages (PostgreSQL: `FOR UPDATE SKIP LOCKED`, so several workers never
claim the same row; SQLite: its single writer serializes claims) and leases them by moving
`next_attempt_at` forward; it delivers outside any transaction and then records the outcome,
only if its lease token still matches. A worker that dies mid-delivery leaves the message due
again when the lease ends. After `max_attempts` failures a message is `failed`; an admin can
retry it.

Which function delivers which `kind` is not known here: the composition root registers a
handler per kind (`Outbox.register`).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from service.db import utcnow
from service.outbox.models import DELIVERED, FAILED, PENDING, OutboxMessage
from service.outbox.transport import RequestsTransport, Transport

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000


class DeliveryError(Exception):
    """A delivery was not accepted. `permanent` ones are not retried (e.g. the platform
    registration was removed)."""

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent


@dataclass(frozen=True)
class BackoffPolicy:
    """Delay after the n-th failure: min(cap, base · 2^(n-1)) seconds."""

    base_seconds: float = 30.0
    cap_seconds: float = 3600.0
    max_attempts: int = 12
    lease_seconds: float = 300.0

    def delay(self, failures: int) -> timedelta:
        seconds = min(self.cap_seconds, self.base_seconds * 2 ** max(failures - 1, 0))
        return timedelta(seconds=seconds)


SessionFactory = Callable[[], AbstractContextManager[Session]]


@dataclass(frozen=True)
class DeliveryContext:
    """What a handler may use: fresh sessions (never held across HTTP) and the transport.
    Handlers get their own configuration when they are registered."""

    sessions: SessionFactory
    transport: Transport


Handler = Callable[[DeliveryContext, dict[str, Any]], None]


class Outbox:
    """One app's handlers by message kind and its transport (held in app.extensions["outbox"]).

    The transport may be replaced (tests, a custom proxy) before deliveries run."""

    def __init__(self, transport: Transport | None = None) -> None:
        self.handlers: dict[str, Handler] = {}
        self.transport: Transport = transport or RequestsTransport()

    def register(self, kind: str, handler: Handler) -> None:
        if kind in self.handlers:
            raise ValueError(f"outbox message kind {kind!r} already has a handler")
        self.handlers[kind] = handler

    def context(self, sessions: SessionFactory) -> DeliveryContext:
        return DeliveryContext(sessions, self.transport)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, Any]
    attempts: int
    lease_token: str


@dataclass
class DeliveryReport:
    delivered: int = 0
    retrying: int = 0
    failed: int = 0
    ids: list[int] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.delivered + self.retrying + self.failed


def enqueue(session: Session, kind: str, dedupe_key: str, payload: dict[str, Any]) -> OutboxMessage:
    """Add a message inside the caller's transaction (so it commits with the event). The unique
    `dedupe_key` makes a second enqueue of the same event fail with IntegrityError."""
    message = OutboxMessage(
        kind=kind, dedupe_key=dedupe_key, payload=payload, status=PENDING, next_attempt_at=utcnow()
    )
    session.add(message)
    return message


def claim_due(
    session: Session, *, now: datetime, limit: int, policy: BackoffPolicy
) -> list[Claimed]:
    """Lease up to `limit` due messages to this worker (oldest due first)."""
    token = uuid.uuid4().hex
    with session.begin():
        rows = session.scalars(
            select(OutboxMessage)
            .where(OutboxMessage.status == PENDING, OutboxMessage.next_attempt_at <= now)
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        for row in rows:
            row.next_attempt_at = now + timedelta(seconds=policy.lease_seconds)
            row.lease_token = token
        return [Claimed(r.id, r.kind, dict(r.payload), r.attempts, token) for r in rows]


def _record(session: Session, claimed: Claimed, **values: Any) -> bool:
    with session.begin():
        result = session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id == claimed.id, OutboxMessage.lease_token == claimed.lease_token)
            .values(lease_token=None, **values)
            .execution_options(synchronize_session=False)
        )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def deliver_one(
    context: DeliveryContext,
    claimed: Claimed,
    handlers: Mapping[str, Handler],
    *,
    now: datetime,
    policy: BackoffPolicy,
) -> str:
    """Deliver a claimed message and record the outcome; its new status."""
    handler = handlers.get(claimed.kind)
    try:
        if handler is None:
            raise DeliveryError(f"no handler for message kind {claimed.kind!r}", permanent=True)
        handler(context, claimed.payload)
    except Exception as exc:  # any failure is recorded and retried; the worker goes on
        permanent = isinstance(exc, DeliveryError) and exc.permanent
        failures = claimed.attempts + 1
        status = FAILED if permanent or failures >= policy.max_attempts else PENDING
        error = str(exc) if isinstance(exc, DeliveryError) else f"{type(exc).__name__}: {exc}"
        log.warning("outbox message %s (%s) failed: %s", claimed.id, claimed.kind, error)
        with context.sessions() as session:
            _record(
                session,
                claimed,
                status=status,
                attempts=failures,
                last_error=error[:MAX_ERROR_LENGTH],
                next_attempt_at=now + policy.delay(failures),
            )
        return status
    with context.sessions() as session:
        _record(session, claimed, status=DELIVERED, delivered_at=now)
    return DELIVERED


def deliver_due(
    context: DeliveryContext,
    handlers: Mapping[str, Handler],
    *,
    now: datetime | None = None,
    limit: int = 20,
    policy: BackoffPolicy | None = None,
) -> DeliveryReport:
    """Claim and deliver one batch of due messages."""
    policy = policy or BackoffPolicy()
    moment = now or utcnow()
    with context.sessions() as session:
        batch = claim_due(session, now=moment, limit=limit, policy=policy)
    report = DeliveryReport()
    for claimed in batch:
        status = deliver_one(context, claimed, handlers, now=now or utcnow(), policy=policy)
        report.ids.append(claimed.id)
        if status == DELIVERED:
            report.delivered += 1
        elif status == FAILED:
            report.failed += 1
        else:
            report.retrying += 1
    return report


def run_worker(
    context: DeliveryContext,
    handlers: Mapping[str, Handler],
    *,
    interval_seconds: float,
    stop: Callable[[], bool],
    sleep: Callable[[float], None],
    limit: int = 20,
) -> Iterator[DeliveryReport]:
    """Deliver batches until `stop()`; a full batch is followed at once by the next."""
    while not stop():
        report = deliver_due(context, handlers, limit=limit)
        yield report
        if report.claimed < limit:
            sleep(interval_seconds)
