"""The training use case: validate the spec, refuse it above the limits, and answer with the run
in the representation asked for, from the app's shared runs (training_runs.py).

    application/json        the whole run, column-wise (training_events.json_body)
    text/event-stream       start, one step event per record as computed, summary; a comment
                            line (": heartbeat") when nothing was sent for HEARTBEAT_SECONDS;
                            an `error` event with a problem document if the run fails
    application/x-npz       the replay arrays and the history (training_events.npz_arrays)

The same spec gives the same bytes in each representation, whether computed, followed or
replayed from the store.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any, Final

from service.config import Settings
from service.errors import TYPE_PREFIX, NotAcceptable, ServiceError, problem_document
from service.numerics.arrays import dump_npz
from service.numerics.training import TrainingSpec, build_training_spec, check_training_cost
from service.simulations.training_events import (
    Event,
    json_body,
    npz_arrays,
    spec_echo,
    sse_frame,
    training_events,
)
from service.simulations.training_runs import TrainingRuns
from service.simulations.training_store import LocalResults, RunKeys, redis_results

JSON: Final = "application/json"
EVENT_STREAM: Final = "text/event-stream"
NPZ: Final = "application/x-npz"
REPRESENTATIONS: Final = (JSON, EVENT_STREAM, NPZ)
HEARTBEAT_SECONDS: Final = 10.0  # below the 15 s a proxy or browser may wait in silence
STREAM_HEADERS: Final = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
FAILED: Final = TYPE_PREFIX + "training-failed"


class TrainingFailed(ServiceError):
    status = HTTPStatus.INTERNAL_SERVER_ERROR
    slug = "training-failed"


@dataclass(frozen=True)
class TrainingLimits:
    max_cost: float  # MAX_TRAINING_COST, multiply-adds
    max_memory: float  # MAX_TRAINING_MEMORY, bytes


@dataclass(frozen=True)
class Trainer:
    """What the app holds for training runs: the shared runs and the key of a spec."""

    runs: TrainingRuns
    keys: RunKeys


@dataclass(frozen=True)
class TrainingAnswer:
    mimetype: str
    body: bytes | Iterator[bytes]
    headers: Mapping[str, str]


def _error_event(error: BaseException) -> Event:
    detail = f"the training run failed unexpectedly ({type(error).__name__}); try again"
    return "error", problem_document(500, detail=detail, type_=FAILED)


def trainer(settings: Settings) -> Trainer:
    """The app's trainer: results shared through Redis when REDIS_URL is set, else kept in
    this process (switched off with CACHES_ENABLED=false: concurrent requests still share)."""
    backend = (
        redis_results(settings.redis_url)
        if settings.redis_url
        else LocalResults(enabled=settings.caches_enabled)
    )
    return Trainer(TrainingRuns(backend, error_event=_error_event), RunKeys())


def representation(accept: Any) -> str:
    """The representation `accept` (werkzeug's MIMEAccept) prefers; JSON without one."""
    best = accept.best_match(REPRESENTATIONS) if accept else JSON
    if best is None:
        raise NotAcceptable(f"This resource is available as {', '.join(REPRESENTATIONS)}.")
    return str(best)


def build_spec(request: Mapping[str, Any], limits: TrainingLimits) -> TrainingSpec:
    """The validated spec (NumericsError naming the field, CostLimitExceeded naming the
    limit: both 422)."""
    spec = build_training_spec(**request)
    check_training_cost(spec, limits.max_cost, limits.max_memory)
    return spec


def _events(spec: TrainingSpec, engine: Trainer, heartbeat: float) -> Iterator[Event | None]:
    key = engine.keys.key(spec_echo(spec))
    return engine.runs.events(key, lambda: training_events(spec), heartbeat)


def _finished(spec: TrainingSpec, engine: Trainer) -> list[Event]:
    events = [e for e in _events(spec, engine, HEARTBEAT_SECONDS) if e is not None]
    if events and events[-1][0] == "error":
        raise TrainingFailed("The training run failed unexpectedly; try again.")
    return events


def _stream(events: Iterator[Event | None]) -> Iterator[bytes]:
    try:
        for event in events:
            yield b": heartbeat\n\n" if event is None else sse_frame(event)
    finally:
        close = getattr(events, "close", None)
        if close is not None:
            close()  # leave the flight now, not when the generator is collected


def train(
    request: Mapping[str, Any],
    mimetype: str,
    limits: TrainingLimits,
    engine: Trainer,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> TrainingAnswer:
    """Validate `request` (the schema's load) and answer as `mimetype` (representation())."""
    spec = build_spec(request, limits)
    if mimetype == EVENT_STREAM:
        return TrainingAnswer(
            EVENT_STREAM, _stream(_events(spec, engine, heartbeat)), STREAM_HEADERS
        )
    events = _finished(spec, engine)
    if mimetype == NPZ:
        return TrainingAnswer(NPZ, dump_npz(npz_arrays(spec, events)), {})
    return TrainingAnswer(JSON, json_body(events), {})
