"""Fixtures of the reliability suites: a fresh seeded database per test on each backend, and
gunicorn servers that are always stopped (process group and all) when the test ends."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.backends import BACKENDS
from tests.reliability.servers import (
    GunicornServer,
    SeededDatabase,
    fresh_database,
    running_server,
    seed,
)

ServerFactory = Callable[..., GunicornServer]


@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request: pytest.FixtureRequest) -> str:
    """Each backend; PostgreSQL only when TEST_DATABASE_URL points at one."""
    if request.param not in BACKENDS:
        pytest.skip("TEST_DATABASE_URL is not set to a PostgreSQL database")
    return str(request.param)


@pytest.fixture
def postgres_only(backend: str) -> str:
    if backend != "postgresql":
        pytest.skip("needs PostgreSQL (several processes share one server)")
    return backend


@pytest.fixture
def seeded_database(backend: str, tmp_path: Path) -> Iterator[SeededDatabase]:
    """A new database, migrated and seeded with the lesson bank, plus an admin API key."""
    with fresh_database(backend, tmp_path) as url:
        yield seed(url)


@pytest.fixture
def start_server(tmp_path: Path) -> Iterator[ServerFactory]:
    """start_server(database_url, workers=..., **env) -> a ready gunicorn, stopped at teardown."""
    with contextlib.ExitStack() as stack:

        def start(database_url: str, **kwargs: object) -> GunicornServer:
            return stack.enter_context(running_server(database_url, tmp_path, **kwargs))  # type: ignore[arg-type]

        yield start
