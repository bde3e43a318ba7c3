"""The HTTP session the tool fetches platforms' key sets (JWKS) with: an HTTP cache (RFC 9111,
through `cachecontrol`) that keeps a key set as long as the platform's `Cache-Control: max-age`
/ `Expires` allow and revalidates it with its `ETag` (`If-None-Match`, a 304 renews it).

Where it lives: Redis when REDIS_URL is set (shared by every worker and host), else one bounded
`service.caching.Cache` per app. Correctness never depends on it: a launch signed with a `kid`
the cached key set lacks refetches it once (`Cache-Control: no-cache`, still conditional), so
a platform's key rotation is seen at once by every process.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import requests
from cachecontrol import CacheControl
from cachecontrol.cache import BaseCache
from cachecontrol.caches import RedisCache

from service.caching import Cache

HTTP_TIMEOUT_SECONDS = 10
MAX_CACHED_BYTES = 2 * 1024 * 1024
REDIS_PREFIX = "activation-lab:lti-http:"
REFRESH = {"Cache-Control": "no-cache"}


class TimeoutSession(requests.Session):
    """A requests session whose calls time out (pylti1p3 passes no timeout)."""

    def __init__(self, timeout: float = HTTP_TIMEOUT_SECONDS) -> None:
        super().__init__()
        self._timeout = timeout
        self.headers["User-Agent"] = "activation-lab-lti"

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self._timeout)
        return super().request(*args, **kwargs)


class BoundedHttpCache(BaseCache):
    """cachecontrol's storage over the service's bounded cache (total bytes, LRU). The stored
    response carries its own freshness, which cachecontrol checks on every read."""

    def __init__(self, *, enabled: bool = True, max_bytes: int = MAX_CACHED_BYTES) -> None:
        self._entries: Cache[str, bytes] = Cache(max_bytes, sizeof=len, enabled=enabled)

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    def set(self, key: str, value: bytes, expires: int | datetime | None = None) -> None:
        self._entries.put(key, value)

    def delete(self, key: str) -> None:
        self._entries.forget(key)


class PrefixedRedisCache(RedisCache):
    """cachecontrol's Redis storage with the service's key prefix (it shares the database)."""

    def get(self, key: str) -> bytes | None:
        return super().get(REDIS_PREFIX + key)

    def set(self, key: str, value: bytes, expires: int | datetime | None = None) -> None:
        super().set(REDIS_PREFIX + key, value, expires)

    def delete(self, key: str) -> None:
        super().delete(REDIS_PREFIX + key)


def platform_session(redis: Any | None = None, *, enabled: bool = True) -> requests.Session:
    """A timeout session with the HTTP cache: in Redis when a client is given."""
    cache: BaseCache = (
        PrefixedRedisCache(redis) if redis is not None else BoundedHttpCache(enabled=enabled)
    )
    session: requests.Session = CacheControl(TimeoutSession(), cache=cache)
    return session
