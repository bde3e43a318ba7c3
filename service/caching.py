"""The service's one cache type: a bounded map held by its app, switchable off.

Every cache in the service is a `Cache`: an LRU (cachetools) bounded by entries or by a size
function, optionally with a time to live, behind a lock (gthread workers share it). The app
builds its caches in `create_app` from its settings, so two apps in one process share nothing,
and `CACHES_ENABLED=false` makes every cache keep nothing (each read does the work again). No
module keeps a cache of its own.

Only values that are pure functions of their key are cached, except the entries with a time to
live, which may be stale for at most that time.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

import cachetools

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Cache(Generic[K, V]):
    """At most `maxsize` entries (or total `sizeof`), the least recently used evicted first;
    with `ttl`, an entry also expires `ttl` seconds (of `timer`) after it was put. A value whose
    size exceeds `max_entry_size` is not kept. Disabled (`enabled=False`, a `maxsize` or `ttl`
    of 0), it keeps nothing and every lookup misses."""

    def __init__(
        self,
        maxsize: int,
        *,
        ttl: float | None = None,
        sizeof: Callable[[V], int] | None = None,
        max_entry_size: int | None = None,
        timer: Callable[[], float] = time.monotonic,
        enabled: bool = True,
    ) -> None:
        self._sizeof = sizeof
        self._max_entry_size = maxsize if max_entry_size is None else min(max_entry_size, maxsize)
        self._lock = threading.Lock()
        self._entries: cachetools.Cache[K, V] | None
        if not enabled or maxsize <= 0 or (ttl is not None and ttl <= 0):
            self._entries = None
        elif ttl is None:
            self._entries = cachetools.LRUCache(maxsize, getsizeof=sizeof)
        else:
            self._entries = cachetools.TTLCache(maxsize, ttl, timer=timer, getsizeof=sizeof)

    @property
    def enabled(self) -> bool:
        return self._entries is not None

    def get(self, key: K) -> V | None:
        if self._entries is None:
            return None
        with self._lock:
            try:
                return self._entries[key]  # one lookup (`get` would check expiry twice)
            except KeyError:
                return None

    def put(self, key: K, value: V) -> None:
        if self._entries is None:
            return
        size = 1 if self._sizeof is None else self._sizeof(value)
        if size > self._max_entry_size:
            return
        with self._lock:
            self._entries[key] = value

    def get_or_build(self, key: K, build: Callable[[], V]) -> V:
        """The kept value, or `build()` kept and returned. Built outside the lock: two threads
        that miss together both build, and the later one's value stays (values are pure)."""
        value = self.get(key)
        if value is None:
            value = build()
            self.put(key, value)
        return value

    def forget(self, key: K) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries.pop(key, None)

    def clear(self) -> None:
        if self._entries is None:
            return
        with self._lock:
            self._entries.clear()

    @property
    def size(self) -> int:
        """Total size of the entries (their count without `sizeof`)."""
        return 0 if self._entries is None else int(self._entries.currsize)

    def __len__(self) -> int:
        return 0 if self._entries is None else len(self._entries)
