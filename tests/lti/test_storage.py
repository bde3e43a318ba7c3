"""The shared launch store: values expire, a nonce is consumed exactly once (database and
Redis), and a launch works with Redis as the store."""

from __future__ import annotations

import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask
from sqlalchemy import update

from service.db import utcnow
from service.lti.models import LtiLaunchData
from service.lti.storage import DatabaseLaunchStore, LaunchStore, RedisLaunchStore, redis_client
from tests.backends import all_backends
from tests.lti.conftest import TARGET, Tool
from tests.lti.platform import Lms, launch_form


def _consume_race(store_for_thread: Any, key: str, threads: int = 8) -> list[bool]:
    barrier = threading.Barrier(threads)
    results: list[bool] = []

    def contender() -> None:
        store, session = store_for_thread()
        barrier.wait()
        if session is None:
            results.append(store.consume(key, None))
            return
        with session, session.begin():
            results.append(store.consume(key, session))

    workers = [threading.Thread(target=contender) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    return results


@all_backends
def test_database_values_expire_and_are_consumed_once(app: Flask) -> None:
    sessions = app.extensions["database"].sessionmaker
    with sessions() as session:
        store = DatabaseLaunchStore(session)
        store.put("lti1p3-nonce-a", True, 60)
        store.put("lti1p3-nonce-old", True, 60)
        store.put("launch", {"sub": "u1"}, 60)
        assert store.get("launch") == {"sub": "u1"}
        store.put("launch", {"sub": "u2"}, 60)  # replaces
        assert store.get("launch") == {"sub": "u2"}
        with session.begin():
            session.execute(
                update(LtiLaunchData)
                .where(LtiLaunchData.key == "lti1p3-nonce-old")
                .values(expires_at=utcnow() - timedelta(seconds=1))
            )
        assert store.get("lti1p3-nonce-old") is None
        with session.begin():
            assert store.consume("lti1p3-nonce-old", session) is False  # expired
        assert store.prune() == 1

    results = _consume_race(lambda: (DatabaseLaunchStore(s := sessions()), s), "lti1p3-nonce-a")
    assert sorted(results) == [False] * 7 + [True]


def test_redis_values_expire_and_are_consumed_once(redis_url: str) -> None:
    store: LaunchStore = RedisLaunchStore(redis_client(redis_url), namespace="test:")
    store.put("nonce-1", True, 60)
    store.put("short", True, 1)
    assert store.get("nonce-1") is True
    time.sleep(1.1)
    assert store.get("short") is None
    results = _consume_race(
        lambda: (RedisLaunchStore(redis_client(redis_url), namespace="test:"), None), "nonce-1"
    )
    assert sorted(results) == [False] * 7 + [True]
    assert store.prune() == 0


def test_a_launch_with_redis_as_the_store(tool: Tool, lms: Lms, redis_url: str) -> None:
    from service import create_app

    app = create_app(tool.app.config["SETTINGS"].with_overrides(redis_url=redis_url))
    try:
        client = app.test_client()
        form = launch_form(client, lms, TARGET)
        with app.extensions["database"].sessionmaker() as session, session.begin():
            assert session.query(LtiLaunchData).count() == 0  # the nonce went to Redis
        assert form.post(client).status_code == 303
        replay = form.post(client)
        assert replay.status_code == 403
        assert "already used" in replay.json["detail"]
    finally:
        app.extensions["database"].dispose()
