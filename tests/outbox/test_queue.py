"""The outbox on its own: backoff, leases, concurrent claims, exactly-once enqueue."""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from sqlalchemy.exc import IntegrityError

from service.db import utcnow
from service.outbox import queue as outbox
from service.outbox.models import OutboxMessage
from service.outbox.transport import RequestsTransport
from tests.backends import all_backends


def _sessions(app: Flask) -> Any:
    return app.extensions["database"].sessionmaker


def _enqueue(app: Flask, count: int, kind: str = "test.kind") -> None:
    with _sessions(app)() as session, session.begin():
        for index in range(count):
            outbox.enqueue(session, kind, f"test:{index}", {"index": index})


def _context(app: Flask) -> outbox.DeliveryContext:
    return outbox.DeliveryContext(_sessions(app), RequestsTransport())


@pytest.mark.parametrize(
    ("failures", "seconds"), [(1, 30), (2, 60), (3, 120), (7, 1920), (8, 3600), (40, 3600)]
)
def test_backoff_doubles_up_to_the_cap(failures: int, seconds: int) -> None:
    policy = outbox.BackoffPolicy(base_seconds=30, cap_seconds=3600)
    assert policy.delay(failures) == timedelta(seconds=seconds)


@all_backends
def test_the_same_event_is_enqueued_once(app: Flask) -> None:
    _enqueue(app, 1)
    with pytest.raises(IntegrityError), _sessions(app)() as session, session.begin():
        outbox.enqueue(session, "test.kind", "test:0", {})


@all_backends
def test_concurrent_workers_never_claim_the_same_message(app: Flask) -> None:
    _enqueue(app, 40)
    now = utcnow()
    policy = outbox.BackoffPolicy()
    claimed: list[list[int]] = [[] for _ in range(4)]
    barrier = threading.Barrier(4)

    def worker(slot: int) -> None:
        barrier.wait()
        while True:
            with _sessions(app)() as session:
                batch = outbox.claim_due(session, now=now, limit=3, policy=policy)
            if not batch:
                return
            claimed[slot].extend(message.id for message in batch)

    threads = [threading.Thread(target=worker, args=(slot,)) for slot in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    every = [message_id for ids in claimed for message_id in ids]
    assert len(every) == len(set(every)) == 40


@all_backends
def test_a_lease_hides_a_claimed_message_until_it_ends(app: Flask) -> None:
    _enqueue(app, 1)
    now = utcnow()
    policy = outbox.BackoffPolicy(lease_seconds=60)
    with _sessions(app)() as session:
        [first] = outbox.claim_due(session, now=now, limit=5, policy=policy)
        assert (
            outbox.claim_due(session, now=now + timedelta(seconds=59), limit=5, policy=policy) == []
        )
        # The first worker died: after the lease another worker takes the message over...
        [second] = outbox.claim_due(
            session, now=now + timedelta(seconds=61), limit=5, policy=policy
        )
    assert second.id == first.id
    # ...and the dead worker's late report is ignored.
    delivered = outbox.deliver_one(
        _context(app), first, {"test.kind": lambda _c, _p: None}, now=now, policy=policy
    )
    assert delivered == "delivered"
    with _sessions(app)() as session, session.begin():
        message = session.get_one(OutboxMessage, first.id)
        assert message.status == "pending"
        assert message.lease_token == second.lease_token


@all_backends
def test_an_unknown_kind_fails_for_good(app: Flask) -> None:
    _enqueue(app, 1, kind="nobody.handles")
    report = outbox.deliver_due(_context(app), {})
    assert report.failed == 1
    with _sessions(app)() as session, session.begin():
        [message] = session.query(OutboxMessage).all()
        assert "no handler" in (message.last_error or "")


@all_backends
def test_a_handler_crash_is_recorded_and_retried(app: Flask) -> None:
    _enqueue(app, 1)

    def crash(_context: outbox.DeliveryContext, _payload: dict[str, Any]) -> None:
        raise RuntimeError("boom")

    report = outbox.deliver_due(_context(app), {"test.kind": crash})
    assert report.retrying == 1
    with _sessions(app)() as session, session.begin():
        [message] = session.query(OutboxMessage).all()
        assert message.last_error == "RuntimeError: boom"
        assert message.status == "pending"


@all_backends
def test_the_worker_loop_stops_when_asked(app: Flask) -> None:
    _enqueue(app, 3)
    delivered: list[dict[str, Any]] = []
    sleeps: list[float] = []
    context = _context(app)
    runs = 0

    def stop() -> bool:
        nonlocal runs
        runs += 1
        return runs > 2

    handlers = {"test.kind": lambda _c, payload: delivered.append(payload)}
    reports = list(
        outbox.run_worker(
            context, handlers, interval_seconds=7, stop=stop, sleep=sleeps.append, limit=2
        )
    )
    assert [report.delivered for report in reports] == [2, 1]
    assert sleeps == [7]  # no pause after a full batch
    assert sorted(p["index"] for p in delivered) == [0, 1, 2]
