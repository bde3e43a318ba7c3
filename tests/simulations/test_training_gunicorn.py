"""The training stream through gunicorn (gthread, the project's gunicorn.conf.py): events arrive
as they are computed, identical requests give identical bytes, a client that goes away stops
the run (the worker logs the cancellation; the run never finishes), and with Redis identical
requests spread over two worker processes cost one run."""

from __future__ import annotations

import http.client
import random
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from service.numerics.training import build_training_spec
from service.simulations.training_events import spec_echo
from service.simulations.training_store import PREFIX, RunKeys
from tests.reliability.servers import GunicornServer, fresh_database, running_server
from tests.simulations.test_training_routes import SPEC, URL, parse_sse

# About 25 s of one core: long enough that finishing it would show.
LONG = {
    "dataset": {"name": "digits"},
    "hidden_widths": [100, 100, 100],
    "activation": "sigmoid",
    "init": "custom",
    "weight_variance": 0.01,
    "normalization": "none",
    "optimizer": {"name": "sgd", "learning_rate": 0.5},
    "batch_size": 60,
    "steps": 5000,
    "log_every": 10,
    "seed": 11,
}
WAIT_SECONDS = 90.0


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    directory: Path = tmp_path_factory.mktemp("training-gunicorn")
    with (
        fresh_database("sqlite", directory) as url,
        running_server(url, directory, workers=1, threads=4, LOG_LEVEL="INFO") as started,
    ):
        yield started


def _open_stream(server: GunicornServer, spec: dict[str, object]) -> http.client.HTTPResponse:
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=60)
    connection.request(
        "POST",
        URL,
        body=orjson.dumps(spec),
        headers={"Content-Type": "application/json", "Accept": "text/event-stream"},
    )
    return connection.getresponse()


def _read_event(response: http.client.HTTPResponse) -> str:
    lines = []
    while True:
        line = response.readline().decode()
        if line == "\n" and lines:
            return "".join(lines)
        if line and not line.startswith(":"):
            lines.append(line)


def test_identical_streams_give_identical_bytes(server: GunicornServer) -> None:
    bodies = []
    for _ in range(2):
        response = _open_stream(server, SPEC)
        assert response.status == 200
        assert response.getheader("Content-Type", "").startswith("text/event-stream")
        assert response.getheader("X-Accel-Buffering") == "no"
        bodies.append(response.read())
    assert bodies[0] == bodies[1]
    names = [name for name, _ in parse_sse(bodies[0])]
    assert names[0] == "start"
    assert names[-1] == "summary"


def test_a_client_that_disconnects_stops_the_run(server: GunicornServer) -> None:
    response = _open_stream(server, LONG)
    assert response.status == 200
    assert _read_event(response).startswith("event: start")
    first = _read_event(response)
    assert first.startswith("event: step")
    assert '"step":0' in first
    response.close()  # the browser's stop button, or a closed tab
    deadline = time.monotonic() + WAIT_SECONDS
    while "cancelled: no one follows it" not in server.log():
        assert time.monotonic() < deadline, server.log()[-3000:]
        time.sleep(0.2)
    log = server.log()
    started = [line for line in log.splitlines() if "started" in line and "training run" in line]
    key = started[-1].split("training run ")[1].split()[0]
    assert f"training run {key} cancelled" in log
    assert f"training run {key} finished" not in log


REDIS_URL = "redis://127.0.0.1:6379/0"


@pytest.fixture
def redis_client() -> Any:
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    return client


@pytest.mark.slow  # a second gunicorn (2 workers) and twelve streams: ~25 s
def test_with_redis_two_workers_share_one_run(tmp_path: Path, redis_client: Any) -> None:
    spec = {**LONG, "steps": 300, "seed": random.SystemRandom().randrange(2**32)}  # never stored
    key = RunKeys().key(spec_echo(build_training_spec(**spec)))
    bodies: list[bytes] = []
    with (
        fresh_database("sqlite", tmp_path) as url,
        running_server(
            url, tmp_path, workers=2, threads=4, LOG_LEVEL="INFO", REDIS_URL=REDIS_URL
        ) as server,
    ):

        def learner() -> None:
            response = _open_stream(server, spec)
            assert response.status == 200
            bodies.append(response.read())

        threads = [threading.Thread(target=learner) for _ in range(12)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(WAIT_SECONDS)
        log = server.log()
    try:
        events = [parse_sse(body) for body in bodies]
        assert len(events) == 12
        assert all(e == events[0] for e in events)
        assert events[0][-1][0] == "summary"
        assert log.count(f"training run {key[:12]} started") == 1
    finally:
        for name in redis_client.scan_iter(f"{PREFIX}*:{key}"):
            redis_client.delete(name)
