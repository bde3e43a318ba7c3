"""Concurrent identical training requests share one run (coalescing), and nobody's run outlives
its audience.

Every request for a spec follows the spec's *flight* in its process: a thread that appends the
run's events to a list that its followers read (each from its own position, waiting on a
condition, with a heartbeat when nothing arrives for a while). A flight gets its events from
the first of:

1. the result store (a finished run: replayed, the same events);
2. computing the run itself, once it holds the key's lease (the store's claim; always granted
   without Redis); events are published as they come so other processes can follow, and the
   finished run is saved;
3. following the process that holds the lease, through the store's progress list (polling);
   when that lease lapses without a result (its process died), the flight claims the run.

A flight whose followers have all left (clients disconnected) stops after the event in hand,
unless followers in other processes still watch it (the store's watchers); a stopped run saves
nothing. Runs compute with one BLAS thread (blas.py).
"""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable, Generator, Iterator
from typing import Final

from service.simulations.blas import one_blas_thread
from service.simulations.training_events import Event
from service.simulations.training_store import ResultBackend

log = logging.getLogger(__name__)

POLL_SECONDS: Final = 0.1
RunFactory = Callable[[], Generator[Event, None, None]]
ErrorEvent = Callable[[BaseException], Event]


class Flight:
    """One spec's events in this process, as they arrive."""

    def __init__(self, key: str) -> None:
        self.key = key
        self.owner = uuid.uuid4().hex
        self.events: list[Event] = []
        self.done = False
        self.followers = 0
        self.cancelled = False
        self._changed = threading.Condition()

    def append(self, event: Event) -> None:
        with self._changed:
            self.events.append(event)
            self._changed.notify_all()

    def finish(self) -> None:
        with self._changed:
            self.done = True
            self._changed.notify_all()

    def read(self, start: int, timeout: float) -> tuple[list[Event], bool]:
        """The events from `start` on (waiting up to `timeout` for one), and whether the flight
        is over (no event will follow the ones returned)."""
        with self._changed:
            if len(self.events) <= start and not self.done:
                self._changed.wait(timeout)
            return self.events[start:], self.done


class TrainingRuns:
    """The app's flights over a result backend (held by the app; see module docstring).

    computed / followed / replayed / cancelled count this process's flights by how they got
    their events (the bench and tests read them)."""

    def __init__(
        self, backend: ResultBackend, *, error_event: ErrorEvent, poll: float = POLL_SECONDS
    ) -> None:
        self.backend = backend
        self._error_event = error_event
        self._poll = poll
        self._flights: dict[str, Flight] = {}
        self._lock = threading.Lock()
        self.computed = self.followed = self.replayed = self.cancelled = 0

    def events(self, key: str, make_run: RunFactory, heartbeat: float) -> Iterator[Event | None]:
        """The run's events in order; None after `heartbeat` seconds without one. Closing the
        iterator (a client went away) leaves the flight."""
        stored = self.backend.result(key)
        if stored is not None:
            with self._lock:
                self.replayed += 1
            yield from stored
            return
        flight = self._join(key, make_run)
        try:
            position = 0
            while True:
                new, done = flight.read(position, heartbeat)
                if not new and not done:
                    yield None
                    continue
                yield from new
                position += len(new)
                if done and position >= len(flight.events):
                    return
        finally:
            with self._lock:
                flight.followers -= 1

    def _join(self, key: str, make_run: RunFactory) -> Flight:
        with self._lock:
            flight = self._flights.get(key)
            if flight is None:
                flight = self._flights[key] = Flight(key)
                threading.Thread(
                    target=self._fly, args=(flight, make_run), name=f"training-{key[:8]}",
                    daemon=True,
                ).start()  # fmt: skip
            flight.followers += 1
            return flight

    def _abandoned(self, flight: Flight, *, computing: bool) -> bool:
        """True (and the flight leaves the map) when no one follows it here, nor, for the run
        this process computes, from another process."""
        if flight.followers > 0 or (computing and self.backend.watched(flight.key)):
            return False
        with self._lock:
            if flight.followers > 0:
                return False
            flight.cancelled = True
            self.cancelled += 1
            if self._flights.get(flight.key) is flight:
                del self._flights[flight.key]
            return True

    def _fly(self, flight: Flight, make_run: RunFactory) -> None:
        key = flight.key
        try:
            while not flight.done and not flight.cancelled:
                stored = self.backend.result(key)
                if stored is not None:
                    for event in stored[len(flight.events) :]:
                        flight.append(event)
                    break
                if self.backend.claim(key, flight.owner):
                    self._compute(flight, make_run)
                    break
                self._follow(flight)
        except Exception as exc:
            log.exception("training run %s failed", key[:12])
            flight.append(self._error_event(exc))
        finally:
            with self._lock:
                if self._flights.get(key) is flight:
                    del self._flights[key]
            flight.finish()
            self.backend.unwatch(key, flight.owner)

    def _compute(self, flight: Flight, make_run: RunFactory) -> None:
        key = flight.key
        with self._lock:
            self.computed += 1
        log.info("training run %s started", key[:12])
        renewing = _Renewal(self.backend, key, flight.owner)
        try:
            produced = 0
            with one_blas_thread():
                run = make_run()
                try:
                    for event in run:
                        if produced >= len(flight.events):  # a takeover skips what was sent
                            flight.append(event)
                        self.backend.publish(key, event)
                        produced += 1
                        if self._abandoned(flight, computing=True):
                            log.info("training run %s cancelled: no one follows it", key[:12])
                            return
                finally:
                    run.close()
            self.backend.save(key, flight.events)
            log.info("training run %s finished", key[:12])
        except Exception as exc:
            self.backend.publish(key, self._error_event(exc))
            raise
        finally:
            renewing.stop()
            self.backend.release(key, flight.owner)

    def _follow(self, flight: Flight) -> None:
        """Follow another process's run until it ends or its lease lapses."""
        key = flight.key
        with self._lock:
            self.followed += 1
        while not self._abandoned(flight, computing=False):
            self.backend.watch(key, flight.owner)
            stored = self.backend.result(key)
            if stored is not None:
                for event in stored[len(flight.events) :]:
                    flight.append(event)
                flight.finish()
                return
            new = self.backend.progress(key, len(flight.events))
            for event in new:
                flight.append(event)
                if event[0] == "error":
                    flight.finish()
                    return
            if not new and not self.backend.leased(key):
                return  # its owner is gone: claim the run
            time.sleep(self._poll)


class _Renewal:
    """Renews a lease every third of its life while a record is being computed."""

    def __init__(self, backend: ResultBackend, key: str, owner: str, every: float = 5.0) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, args=(backend, key, owner, every), daemon=True
        )
        self._thread.start()

    def _run(self, backend: ResultBackend, key: str, owner: str, every: float) -> None:
        while not self._stop.wait(every):
            try:
                backend.renew(key, owner)
            except Exception:  # a lost lease only risks a second computation
                log.warning("could not renew the lease of training run %s", key[:12])

    def stop(self) -> None:
        self._stop.set()
