"""Shared training runs: concurrent identical requests cost one run, in a process and across
processes through Redis (two TrainingRuns over one Redis play two processes), a stored run is
replayed, a run nobody follows stops, a dead owner's run is taken over, heartbeats fill silence.

The runs here are stand-ins (generators of numbered events, gated by the test) so that every
interleaving is set up by the test, not by timing."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from service.simulations.training_events import Event
from service.simulations.training_runs import TrainingRuns
from service.simulations.training_store import LocalResults, RedisResults, ResultBackend

REDIS_URL = "redis://127.0.0.1:6379/0"
KEY = "k" * 64
WAIT = 30.0


def error_event(exc: BaseException) -> Event:
    return "error", b'{"detail":"failed"}'


class Gated:
    """A run of `count` events (start first) that waits at `hold_at` until released, and
    records how far it was pulled and whether it was closed."""

    def __init__(self, count: int = 5, hold_at: int = 1) -> None:
        self.count = count
        self.hold_at = hold_at
        self.gate = threading.Event()
        self.pulled = 0
        self.closed = False
        self.started = 0

    def __call__(self) -> Generator[Event, None, None]:
        self.started += 1
        try:
            for index in range(self.count):
                if index == self.hold_at:
                    assert self.gate.wait(WAIT)
                self.pulled = index + 1
                yield ("start" if index == 0 else "step"), f'{{"i":{index}}}'.encode()
        finally:
            self.closed = True

    def expected(self) -> list[Event]:
        return [
            (("start" if i == 0 else "step"), f'{{"i":{i}}}'.encode()) for i in range(self.count)
        ]


def wait_until(condition: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        time.sleep(0.005)


def collect(runs: TrainingRuns, run: Gated, results: list[list[Event]]) -> threading.Thread:
    def follow() -> None:
        results.append([e for e in runs.events(KEY, run, 5.0) if e is not None])

    thread = threading.Thread(target=follow)
    thread.start()
    return thread


def local_runs(**options: Any) -> TrainingRuns:
    return TrainingRuns(LocalResults(), error_event=error_event, **options)


def test_heartbeats_fill_the_silence_while_a_record_is_computed() -> None:
    runs, run = local_runs(), Gated()
    events = runs.events(KEY, run, 0.01)
    assert next(events) == ("start", b'{"i":0}')
    assert next(events) is None  # the run is held: a heartbeat
    run.gate.set()
    assert [e for e in events if e is not None] == run.expected()[1:]


def test_concurrent_identical_requests_share_one_run_and_then_replay_it() -> None:
    runs, run = local_runs(), Gated()
    results: list[list[Event]] = []
    threads = [collect(runs, run, results) for _ in range(8)]
    wait_until(lambda: sum(f.followers for f in runs._flights.values()) == 8)
    run.gate.set()
    for thread in threads:
        thread.join(WAIT)
    assert results == [run.expected()] * 8
    assert run.started == 1
    assert list(runs.events(KEY, run, 5.0)) == run.expected()
    assert (runs.computed, runs.replayed, run.started) == (1, 1, 1)


def test_a_run_nobody_follows_stops_and_keeps_nothing() -> None:
    runs, run = local_runs(), Gated(count=1000, hold_at=2)
    events = runs.events(KEY, run, 5.0)
    assert next(events)[0] == "start"
    events.close()  # the only client went away
    run.gate.set()
    wait_until(lambda: run.closed)
    assert runs.cancelled == 1
    assert run.pulled < 10
    assert runs.backend.result(KEY) is None


def test_a_failing_run_sends_an_error_event_and_stores_nothing() -> None:
    def failing() -> Generator[Event, None, None]:
        yield "start", b"{}"
        raise RuntimeError("boom")

    runs = local_runs()
    assert list(runs.events(KEY, failing, 5.0)) == [("start", b"{}"), error_event(RuntimeError())]
    assert runs.backend.result(KEY) is None


# ---------------------------------------------------------------------------------------------
# Across processes, through Redis


@pytest.fixture
def redis_backend() -> Iterator[Callable[..., RedisResults]]:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    prefix = f"test:{uuid.uuid4().hex}:"

    def backend(**options: Any) -> RedisResults:
        return RedisResults(client, prefix=prefix, **options)

    yield backend
    for name in client.scan_iter(f"{prefix}*"):
        client.delete(name)


def test_two_processes_share_one_run_through_redis(
    redis_backend: Callable[..., ResultBackend],
) -> None:
    first = TrainingRuns(redis_backend(), error_event=error_event, poll=0.01)
    second = TrainingRuns(redis_backend(), error_event=error_event, poll=0.01)
    run = Gated()
    results: list[list[Event]] = []
    owner = collect(first, run, results)
    wait_until(lambda: run.pulled == 1)  # the first process holds the lease
    follower = collect(second, run, results)
    wait_until(lambda: second.followed == 1)
    run.gate.set()
    owner.join(WAIT)
    follower.join(WAIT)
    assert results == [run.expected()] * 2
    assert (first.computed, second.computed, second.followed, run.started) == (1, 0, 1, 1)
    third = TrainingRuns(redis_backend(), error_event=error_event)
    assert list(third.events(KEY, run, 5.0)) == run.expected()
    assert (third.replayed, run.started) == (1, 1)


def test_a_dead_owners_run_is_taken_over(redis_backend: Callable[..., ResultBackend]) -> None:
    backend = redis_backend(lease_seconds=0.3)
    run = Gated()
    run.gate.set()
    assert backend.claim(KEY, "a process that dies")
    backend.publish(KEY, run.expected()[0])
    runs = TrainingRuns(backend, error_event=error_event, poll=0.01)
    assert list(runs.events(KEY, run, 5.0)) == run.expected()
    assert (runs.followed, runs.computed, run.started) == (1, 1, 1)


def test_the_owner_goes_on_while_another_process_follows(
    redis_backend: Callable[..., ResultBackend],
) -> None:
    first = TrainingRuns(redis_backend(), error_event=error_event, poll=0.01)
    second = TrainingRuns(redis_backend(), error_event=error_event, poll=0.01)
    run = Gated()
    mine = first.events(KEY, run, 5.0)
    assert next(mine)[0] == "start"
    results: list[list[Event]] = []
    follower = collect(second, run, results)
    wait_until(lambda: first.backend.watched(KEY))
    mine.close()  # the owner's own client leaves; the other process's still watches
    run.gate.set()
    follower.join(WAIT)
    assert results == [run.expected()]
    assert (first.cancelled, first.computed, run.started) == (0, 1, 1)


def test_an_unreachable_store_leaves_each_process_computing_alone() -> None:
    redis = pytest.importorskip("redis")
    from service.simulations.training_store import redis_results

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    backend = redis_results(f"redis://127.0.0.1:{port}/0")
    assert isinstance(backend._inner._redis, redis.Redis)  # type: ignore[attr-defined]
    runs, run = TrainingRuns(backend, error_event=error_event), Gated()
    run.gate.set()
    assert list(runs.events(KEY, run, 5.0)) == run.expected()
    assert (runs.computed, run.started) == (1, 1)
