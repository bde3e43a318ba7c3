"""How gunicorn.conf.py listens: a SO_REUSEPORT socket per worker, so that the kernel spreads
new connections over the workers, and no silent sharing of a port another server holds."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.reliability.conftest import ServerFactory
from tests.reliability.servers import (
    GunicornServer,
    KeepAliveClient,
    base_environment,
    fresh_database,
    request,
)

WORKERS = 2
CONNECTIONS = 24  # all on one of 2 workers by chance: 2 · 2^-24 = 1 run in 2^23


@pytest.fixture
def database_url(tmp_path: Path) -> Iterator[str]:
    """A migrated SQLite database: what is tested here does not depend on the backend."""
    with fresh_database("sqlite", tmp_path) as url:
        yield url


def _wait_for_listeners(server: GunicornServer, count: int, timeout: float = 15.0) -> None:
    """Workers bind after they boot: wait until `count` listening sockets are up."""
    deadline = time.monotonic() + timeout
    while sum(map(len, server.listening_sockets().values())) < count:
        assert time.monotonic() < deadline, f"listening sockets: {server.listening_sockets()}"
        time.sleep(0.05)


def test_every_worker_listens_on_a_socket_of_its_own(
    database_url: str, start_server: ServerFactory
) -> None:
    server = start_server(database_url, workers=WORKERS)
    _wait_for_listeners(server, WORKERS)

    sockets = server.listening_sockets()
    assert len(sockets) == WORKERS
    assert all(len(inodes) == 1 for inodes in sockets.values()), sockets
    assert len(set.union(*sockets.values())) == WORKERS  # not one socket shared


def test_keep_alive_connections_are_spread_over_the_workers(
    database_url: str, start_server: ServerFactory
) -> None:
    server = start_server(database_url, workers=WORKERS)
    _wait_for_listeners(server, WORKERS)
    clients = [KeepAliveClient(server.base_url) for _ in range(CONNECTIONS)]
    try:
        statuses = [client.request("GET", "/health/live")[0] for client in clients]
        per_worker = server.client_connections()
    finally:
        for client in clients:
            client.close()

    assert statuses == [200] * CONNECTIONS
    assert sum(per_worker.values()) == CONNECTIONS
    assert min(per_worker.values()) >= 1, per_worker


def test_a_second_server_on_a_taken_port_refuses_to_start(
    database_url: str, start_server: ServerFactory, tmp_path: Path
) -> None:
    first = start_server(database_url, workers=WORKERS)
    _wait_for_listeners(first, WORKERS)
    second = GunicornServer(
        env=base_environment(database_url, PORT=str(first.port)),
        log_path=tmp_path / "second.log",
        workers=WORKERS,
    )

    with pytest.raises(RuntimeError, match="exited early"):
        second.start(timeout=30)

    assert f"Cannot listen on 127.0.0.1:{first.port}" in second.log()
    assert "Booting worker" not in second.log()
    # Every connection still reaches the first server's workers, and only theirs.
    assert sum(map(len, first.listening_sockets().values())) == WORKERS
    assert [request(first.base_url, "GET", "/health/live")[0] for _ in range(10)] == [200] * 10
