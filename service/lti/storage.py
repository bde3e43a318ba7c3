"""Launch data shared by every worker: OIDC nonces and deep-linking launches.

pylti1p3 keeps nonces and launch data through a `LaunchDataStorage`; this module backs it with
the database (or Redis when REDIS_URL is set), never with per-process memory, so the login and
the launch may reach different gunicorn workers. pylti1p3 only checks that a nonce exists;
`LaunchStore.consume` removes it atomically, so exactly one launch can use it.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any, Protocol

from pylti1p3.launch_data_storage.base import LaunchDataStorage
from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.db import utcnow
from service.lti.models import LtiLaunchData

NONCE_TTL_SECONDS = 10 * 60
LAUNCH_DATA_TTL_SECONDS = 60 * 60
KEY_PREFIX = "lti1p3-"


def nonce_key(nonce: str) -> str:
    """The key pylti1p3's SessionService stores a nonce under."""
    return f"{KEY_PREFIX}nonce-{nonce}"


class LaunchStore(Protocol):
    """Expiring key-value storage shared by all workers."""

    #: Whether `consume` is part of the caller's transaction (undone by its rollback).
    transactional: bool

    def get(self, key: str) -> Any | None:
        """The unexpired value under `key`, or None."""

    def put(self, key: str, value: Any, ttl_seconds: int) -> None:
        """Store `value` under `key` for `ttl_seconds` (replacing any value)."""

    def consume(self, key: str, session: Session) -> bool:
        """Remove `key`; True only for the one caller that removed an unexpired value. The
        database store does it inside `session`'s open transaction (the caller's unit of work)."""

    def prune(self) -> int:
        """Remove expired values; how many were removed (0 where the backend expires them)."""


class DatabaseLaunchStore:
    """The `lti_launch_data` table. Each call outside `consume` is its own transaction."""

    transactional = True

    def __init__(self, session: Session) -> None:
        self._session = session

    def get(self, key: str) -> Any | None:
        with self._session.begin():
            return self._session.scalar(
                select(LtiLaunchData.value).where(
                    LtiLaunchData.key == key, LtiLaunchData.expires_at > utcnow()
                )
            )

    def put(self, key: str, value: Any, ttl_seconds: int) -> None:
        now = utcnow()
        row = {"key": key, "value": value, "expires_at": now + timedelta(seconds=ttl_seconds)}
        dialect = self._session.get_bind().dialect.name
        insert = pg_insert if dialect == "postgresql" else sqlite_insert
        statement = insert(LtiLaunchData).values(**row)
        statement = statement.on_conflict_do_update(
            index_elements=[LtiLaunchData.key],
            set_={"value": statement.excluded.value, "expires_at": statement.excluded.expires_at},
        )
        with self._session.begin():
            # Expired rows go as new ones arrive (an indexed range delete), so the table stays
            # as small as the launches in flight.
            self._session.execute(delete(LtiLaunchData).where(LtiLaunchData.expires_at <= now))
            self._session.execute(statement)

    def consume(self, key: str, session: Session) -> bool:
        result = session.execute(
            delete(LtiLaunchData).where(
                LtiLaunchData.key == key, LtiLaunchData.expires_at > utcnow()
            )
        )
        return int(result.rowcount) == 1  # type: ignore[attr-defined]

    def prune(self) -> int:
        with self._session.begin():
            result = self._session.execute(
                delete(LtiLaunchData).where(LtiLaunchData.expires_at <= utcnow())
            )
        return int(result.rowcount)  # type: ignore[attr-defined]


class RedisLaunchStore:
    """Redis keys with a TTL; `consume` is a single DEL, so only one caller gets 1."""

    transactional = False

    def __init__(self, client: Any, namespace: str = "activation-lab:lti:") -> None:
        self._client = client
        self._namespace = namespace

    def get(self, key: str) -> Any | None:
        raw = self._client.get(self._namespace + key)
        return None if raw is None else json.loads(raw)

    def put(self, key: str, value: Any, ttl_seconds: int) -> None:
        self._client.set(self._namespace + key, json.dumps(value), ex=max(ttl_seconds, 1))

    def consume(self, key: str, session: Session) -> bool:
        return int(self._client.delete(self._namespace + key)) == 1

    def prune(self) -> int:
        return 0


def redis_client(url: str) -> Any:
    """A Redis client for `url` (imported lazily: Redis is optional)."""
    import redis

    return redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5)


class PyLtiStorage(LaunchDataStorage[Any]):
    """pylti1p3's storage interface over a LaunchStore.

    No session-id cookie: keys are the random nonce and launch ids themselves, and the launch
    still has to present the state cookie set at login."""

    def __init__(self, store: LaunchStore) -> None:
        super().__init__()
        self._store = store

    def get_session_cookie_name(self) -> str | None:
        return None

    def can_set_keys_expiration(self) -> bool:
        return True

    def get_value(self, key: str) -> Any:
        return self._store.get(self._prepare_key(key))

    def set_value(self, key: str, value: Any, exp: int | None = None) -> None:
        self._store.put(self._prepare_key(key), value, exp or LAUNCH_DATA_TTL_SECONDS)

    def check_value(self, key: str) -> bool:
        return self._store.get(self._prepare_key(key)) is not None
