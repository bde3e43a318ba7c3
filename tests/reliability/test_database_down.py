"""Database down: a gunicorn service reaches PostgreSQL through a TCP proxy that the test takes
away (connections refused, then a host that never answers) and brings back on the same port.

While it is away, readiness and every data endpoint answer 503 problem+json within a bound (no
hang, no 500), liveness, simulations and normalization answer as before; once it is back, the
service recovers by itself and the work interrupted by the outage can be finished.

SQLite is embedded: there is no server to lose (an open file stays readable even when its
directory is made unreachable), so that backend is skipped.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
import yaml
from hypothesis.errors import NonInteractiveExampleWarning
from sqlalchemy import create_engine, func, select
from sqlalchemy.engine import make_url

from service.learners.models import Attempt
from tests.reliability.conftest import ServerFactory
from tests.reliability.servers import (
    SeededDatabase,
    TcpProxy,
    answers_for,
    json_body,
    request,
)

pytestmark = pytest.mark.slow

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
CONNECT_TIMEOUT = 2  # DB_CONNECT_TIMEOUT for the service under test
#: No answer may take longer than this while the database is away.
ANSWER_BOUND = CONNECT_TIMEOUT + 4.0
#: Operations that do not need the database: they must not notice it is gone.
DATABASE_FREE_PREFIXES = ("/v1/normalize", "/v1/simulations", "/health/live")
EXAMPLES_PER_OPERATION = 3
NORMALIZE = {"input": [[1.0, 2.0, 3.0], [3.0, 1.0, 0.5]]}
#: Known-good requests whose answers must be identical with and without the database.
PURE_REQUESTS = [
    ("POST", "/v1/normalize/batch", NORMALIZE),
    ("POST", "/v1/normalize/layer", NORMALIZE),
    ("GET", "/v1/simulations/propagation?depth=5&width=16&init=he_normal", None),
    (
        "GET",
        "/v1/simulations/propagation?mode=monte_carlo&depth=5&width=16&init=he_normal&seed=1"
        "&batch_size=8",
        None,
    ),
]


@dataclass(frozen=True)
class Client:
    base_url: str


@pytest.fixture
def server_backend(backend: str) -> str:
    if backend == "sqlite":
        pytest.skip("SQLite is embedded: there is no database server to lose")
    return backend


@pytest.fixture
def proxied(
    server_backend: str, seeded_database: SeededDatabase, start_server: ServerFactory
) -> Iterator[tuple[TcpProxy, Any, SeededDatabase]]:
    """A service whose DATABASE_URL goes through a proxy the test controls."""
    target = make_url(seeded_database.url)
    proxy = TcpProxy(target.host or "127.0.0.1", target.port or 5432)
    proxy.up()
    through_proxy = target.set(host="127.0.0.1", port=proxy.port).render_as_string(
        hide_password=False
    )
    try:
        server = start_server(
            through_proxy, workers=2, DB_CONNECT_TIMEOUT=str(CONNECT_TIMEOUT), DB_POOL_SIZE="2"
        )
    except BaseException:
        proxy.down()
        raise
    yield proxy, server, seeded_database
    proxy.down()


def database_free_requests() -> list[tuple[str, schemathesis.Case]]:
    """(operation, case): a few generated requests to each operation that needs no database,
    read from openapi.yaml so that new simulation endpoints are included."""
    document = yaml.safe_load(OPENAPI.read_text())
    schema = schemathesis.openapi.from_dict(document)
    chosen = []
    for result in schema.get_all_operations():
        operation = result.ok()  # type: ignore[union-attr]  # the document is valid
        if not operation.path.startswith(DATABASE_FREE_PREFIXES):
            continue
        # The document's own examples (valid requests) first, then generated ones.
        strategies = operation.get_strategies_from_examples()[:1]
        strategies += [operation.as_strategy(generation_mode=schemathesis.GenerationMode.POSITIVE)]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", NonInteractiveExampleWarning)
            for strategy in strategies:
                for _ in range(EXAMPLES_PER_OPERATION):
                    case = strategy.example()
                    if case.media_type in (None, "application/json"):
                        chosen.append((operation.label, case))
    return chosen


def call(client: Client, method: str, path: str, **kwargs: Any) -> tuple[int, Any, float]:
    """One request on a new connection (gunicorn drops idle keep-alive connections after 5 s,
    and the pauses between phases here are longer): (status, (headers, body), seconds)."""
    started = time.monotonic()
    status, headers, data = request(client.base_url, method, path, timeout=30, **kwargs)
    elapsed = time.monotonic() - started
    return status, (headers, json_body(data) if data and b"{" in data[:1] else data), elapsed


def assert_unavailable(client: Client, method: str, path: str, **kwargs: Any) -> float:
    status, (headers, body), elapsed = call(client, method, path, **kwargs)
    assert status == 503, (method, path, status, body)
    assert headers["content-type"] == "application/problem+json", (path, headers)
    assert body["status"] == 503, body
    assert body["detail"], body
    assert headers.get("retry-after"), headers
    assert elapsed < ANSWER_BOUND, f"{method} {path} took {elapsed:.1f} s"
    return elapsed


def test_database_down_is_503_and_the_service_recovers(
    proxied: tuple[TcpProxy, Any, SeededDatabase],
) -> None:
    proxy, server, database = proxied
    client = Client(server.base_url)
    slug = database.quiz_slugs[0]
    status, (_, registered), _ = call(client, "POST", "/v1/learners", body={"display_name": "Ada"})
    assert status == 201
    learner = {"Authorization": f"Bearer {registered['token']}"}
    status, (_, attempt), _ = call(client, "POST", f"/v1/quizzes/{slug}/attempts", headers=learner)
    assert status == 201
    submission = {"answers": answers_for(attempt["questions"])}

    # What the database-free operations answer while the database is up.
    free = database_free_requests()
    assert any(label.startswith("POST /v1/normalize") for label, _ in free)
    baseline = [case.call(base_url=server.base_url, timeout=30) for _, case in free]
    pure = [call(client, method, path, body=body)[:2] for method, path, body in PURE_REQUESTS]
    assert all(status == 200 for status, _ in pure), pure

    data_requests: list[tuple[str, str, dict[str, Any]]] = [
        ("GET", "/health/ready", {}),
        ("GET", "/v1/quizzes", {}),
        ("GET", f"/v1/quizzes/{slug}", {}),
        ("POST", "/v1/learners", {"body": {"display_name": "Grace"}}),
        ("GET", "/v1/learners/me", {"headers": learner}),
        ("POST", f"/v1/quizzes/{slug}/attempts", {"headers": learner}),
        (
            "POST",
            f"/v1/attempts/{attempt['id']}/submission",
            {"headers": learner, "body": submission},
        ),
        ("GET", "/v1/learners", {"headers": {"X-API-Key": database.admin_key}}),
    ]
    outages = {"refused": proxy.down, "unanswered": proxy.black_hole}
    slowest: dict[str, float] = {}
    for outage, take_down in outages.items():
        take_down()
        # Twice round, so that each worker's pooled connections are found dead, not just one.
        for _ in range(2):
            for method, path, kwargs in data_requests:
                elapsed = assert_unavailable(client, method, path, **kwargs)
                slowest[outage] = max(slowest.get(outage, 0.0), elapsed)
            status, _, elapsed = call(client, "GET", "/health/live")
            assert status == 200
            assert elapsed < 1.0
            for (method, path, body), (status, (_, answer)) in zip(
                PURE_REQUESTS, pure, strict=True
            ):
                again, (_, answered), _ = call(client, method, path, body=body)
                assert (again, answered) == (status, answer), path
            for (label, case), before in zip(free, baseline, strict=True):
                during = case.call(base_url=server.base_url, timeout=30)
                assert during.status_code == before.status_code, (label, during.text[:300])
        proxy.up()
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and not server.ready():
            time.sleep(0.2)
        assert server.ready(), f"not ready again after the database came back ({outage})"

    # Everything works again, and the submission the outage refused is graded exactly once.
    status, _, _ = call(client, "GET", "/v1/learners/me", headers=learner)
    assert status == 200
    status, (_, graded), _ = call(
        client, "POST", f"/v1/attempts/{attempt['id']}/submission", headers=learner, body=submission
    )
    assert status == 200, graded
    engine = create_engine(database.url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                select(Attempt.status, func.count()).group_by(Attempt.status)
            ).all()
    finally:
        engine.dispose()
    assert dict(rows) == {"submitted": 1}
    print(
        f"\ndatabase down: {len(data_requests) * 2} data requests per outage answered 503, "
        f"slowest {slowest['refused']:.2f} s (refused) / {slowest['unanswered']:.2f} s "
        f"(unanswered); {(len(free) + len(PURE_REQUESTS) + 1) * 4} database-free requests "
        f"answered as before; "
        f"{proxy.connections_accepted} connections through the proxy"
    )
