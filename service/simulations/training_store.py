"""Where finished training runs are kept, and how processes agree on who computes a run.

A run is a pure function of its spec, so its events are kept under a digest of the normalized
spec (and of the numerics' source: a deploy that changes them changes every key). Two backends:

- LocalResults: the process's bounded LRU (service.caching.Cache); it has no other processes to
  agree with, so every claim succeeds and there is no shared progress.
- RedisResults (REDIS_URL): shared by every worker and host.
      <prefix>result:<key>     the finished events (a string, one "name data" line each), kept
                               RESULT_TTL seconds; runs larger than MAX_ENTRY_BYTES are not kept
      <prefix>lease:<key>      the owner computing it (SET NX PX, renewed while it computes)
      <prefix>progress:<key>   the events computed so far (a list), for the other processes
      <prefix>watchers:<key>   who follows the run from another process (sorted set, score =
                               the time its interest expires): the owner stops when no one is
                               left anywhere
  Redis's own maxmemory policy bounds the total. When Redis cannot be reached, a process
  computes its runs alone (GuardedResults) rather than failing them.
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Final, Protocol

import orjson

from service.caching import Cache
from service.simulations.training_events import Event

RESULT_TTL: Final = 24 * 3600
MAX_ENTRY_BYTES: Final = 32 << 20
LOCAL_BYTES: Final = 128 << 20
PREFIX: Final = "activation-lab:training:"

log = logging.getLogger(__name__)


def _numerics_fingerprint() -> bytes:
    """A digest of the training numerics' source files (RunKeys reads them once, at app start)."""
    from service.numerics import training

    digest = hashlib.sha256()
    for path in sorted(Path(training.__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    return digest.digest()


class RunKeys:
    """key(echo) = sha256(numerics source digest, the normalized spec as sorted JSON)."""

    def __init__(self) -> None:
        self._fingerprint = _numerics_fingerprint()

    def key(self, spec_echo: dict[str, Any]) -> str:
        text = orjson.dumps(spec_echo, option=orjson.OPT_SORT_KEYS)
        return hashlib.sha256(self._fingerprint + text).hexdigest()


def encode_events(events: Sequence[Event]) -> bytes:
    return b"\n".join(name.encode() + b" " + data for name, data in events)


def decode_events(blob: bytes) -> tuple[Event, ...]:
    events = []
    for line in blob.split(b"\n"):
        name, _, data = line.partition(b" ")
        events.append((name.decode(), data))
    return tuple(events)


class ResultBackend(Protocol):
    def result(self, key: str) -> tuple[Event, ...] | None: ...
    def save(self, key: str, events: Sequence[Event]) -> None: ...
    def claim(self, key: str, owner: str) -> bool: ...
    def renew(self, key: str, owner: str) -> None: ...
    def release(self, key: str, owner: str) -> None: ...
    def leased(self, key: str) -> bool: ...
    def publish(self, key: str, event: Event) -> None: ...
    def progress(self, key: str, start: int) -> list[Event]: ...
    def watch(self, key: str, watcher: str) -> None: ...
    def unwatch(self, key: str, watcher: str) -> None: ...
    def watched(self, key: str) -> bool: ...


class LocalResults:
    """Finished runs in this process only (the in-process flights share the running ones)."""

    def __init__(self, *, enabled: bool = True, maxsize: int = LOCAL_BYTES) -> None:
        self._cache: Cache[str, tuple[Event, ...]] = Cache(
            maxsize,
            sizeof=lambda events: sum(len(data) + 64 for _, data in events),
            max_entry_size=MAX_ENTRY_BYTES,
            enabled=enabled,
        )

    def result(self, key: str) -> tuple[Event, ...] | None:
        return self._cache.get(key)

    def save(self, key: str, events: Sequence[Event]) -> None:
        self._cache.put(key, tuple(events))

    def claim(self, key: str, owner: str) -> bool:
        return True

    def renew(self, key: str, owner: str) -> None:
        return None

    def release(self, key: str, owner: str) -> None:
        return None

    def leased(self, key: str) -> bool:
        return False

    def publish(self, key: str, event: Event) -> None:
        return None

    def progress(self, key: str, start: int) -> list[Event]:
        return []

    def watch(self, key: str, watcher: str) -> None:
        return None

    def unwatch(self, key: str, watcher: str) -> None:
        return None

    def watched(self, key: str) -> bool:
        return False


# Release and renew only the caller's own lease (compare and act in one step).
_RELEASE = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end"
_RENEW = (
    "if redis.call('get', KEYS[1]) == ARGV[1] then "
    "return redis.call('pexpire', KEYS[1], ARGV[2]) end"
)


class RedisResults:
    """Finished runs, leases and progress shared through Redis (module docstring)."""

    def __init__(self, client: Any, *, lease_seconds: float = 30.0, prefix: str = PREFIX) -> None:
        self._redis = client
        self._lease_ms = int(lease_seconds * 1000)
        self._watch_seconds = lease_seconds
        self._prefix = prefix
        self._release = client.register_script(_RELEASE)
        self._renew = client.register_script(_RENEW)

    def _name(self, kind: str, key: str) -> str:
        return f"{self._prefix}{kind}:{key}"

    def result(self, key: str) -> tuple[Event, ...] | None:
        blob = self._redis.get(self._name("result", key))
        return None if blob is None else decode_events(blob)

    def save(self, key: str, events: Sequence[Event]) -> None:
        blob = encode_events(events)
        if len(blob) <= MAX_ENTRY_BYTES:
            self._redis.set(self._name("result", key), blob, ex=RESULT_TTL)

    def claim(self, key: str, owner: str) -> bool:
        won = bool(self._redis.set(self._name("lease", key), owner, nx=True, px=self._lease_ms))
        if won:  # a previous owner's progress (it died) is computed again from the start
            self._redis.delete(self._name("progress", key))
        return won

    def renew(self, key: str, owner: str) -> None:
        self._renew(keys=[self._name("lease", key)], args=[owner, self._lease_ms])

    def release(self, key: str, owner: str) -> None:
        self._release(keys=[self._name("lease", key)], args=[owner])

    def leased(self, key: str) -> bool:
        return bool(self._redis.exists(self._name("lease", key)))

    def publish(self, key: str, event: Event) -> None:
        name = self._name("progress", key)
        pipe = self._redis.pipeline()
        pipe.rpush(name, encode_events([event]))
        pipe.pexpire(name, 4 * self._lease_ms)
        pipe.execute()

    def progress(self, key: str, start: int) -> list[Event]:
        items = self._redis.lrange(self._name("progress", key), start, -1)
        return [decode_events(item)[0] for item in items]

    def watch(self, key: str, watcher: str) -> None:
        name = self._name("watchers", key)
        pipe = self._redis.pipeline()
        pipe.zadd(name, {watcher: time.time() + self._watch_seconds})
        pipe.pexpire(name, 2 * self._lease_ms)
        pipe.execute()

    def unwatch(self, key: str, watcher: str) -> None:
        self._redis.zrem(self._name("watchers", key), watcher)

    def watched(self, key: str) -> bool:
        return bool(self._redis.zcount(self._name("watchers", key), time.time(), "+inf"))


class GuardedResults:
    """A shared backend that never fails a run: when it cannot be reached, this process
    computes alone (every claim granted, nothing shared or stored), as without REDIS_URL, and
    says so in the log once per outage."""

    _NEUTRAL: Final[dict[str, Any]] = {
        "result": None,
        "claim": True,
        "leased": False,
        "progress": [],
        "watched": False,
    }

    def __init__(self, inner: ResultBackend) -> None:
        self._inner = inner
        self._failing = False

    def _call(self, name: str, *args: Any) -> Any:
        try:
            value = getattr(self._inner, name)(*args)
        except Exception as exc:
            if not self._failing:
                log.warning("training result store unreachable (%s): runs are not shared", exc)
            self._failing = True
            return self._NEUTRAL.get(name)
        if self._failing:
            log.warning("training result store reachable again")
        self._failing = False
        return value

    def result(self, key: str) -> tuple[Event, ...] | None:
        found: tuple[Event, ...] | None = self._call("result", key)
        return found

    def save(self, key: str, events: Sequence[Event]) -> None:
        self._call("save", key, events)

    def claim(self, key: str, owner: str) -> bool:
        return bool(self._call("claim", key, owner))

    def renew(self, key: str, owner: str) -> None:
        self._call("renew", key, owner)

    def release(self, key: str, owner: str) -> None:
        self._call("release", key, owner)

    def leased(self, key: str) -> bool:
        return bool(self._call("leased", key))

    def publish(self, key: str, event: Event) -> None:
        self._call("publish", key, event)

    def progress(self, key: str, start: int) -> list[Event]:
        events: list[Event] = self._call("progress", key, start)
        return events

    def watch(self, key: str, watcher: str) -> None:
        self._call("watch", key, watcher)

    def unwatch(self, key: str, watcher: str) -> None:
        self._call("unwatch", key, watcher)

    def watched(self, key: str) -> bool:
        return bool(self._call("watched", key))


def redis_results(url: str, **options: Any) -> GuardedResults:
    """The Redis backend, guarded (GuardedResults)."""
    import redis

    client = redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=2)
    return GuardedResults(RedisResults(client, **options))
