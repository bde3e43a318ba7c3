"""The production topology on loopback: nginx (deploy/nginx) in front of gunicorn (the repo's
gunicorn.conf.py, 2 workers of 4 threads). Slow clients no longer starve the service, streamed
responses pass through unbuffered, and whatever nginx refuses is a problem+json document."""

from __future__ import annotations

import http.client
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import orjson
import pytest

from service.errors import TYPE_PREFIX
from tests.reliability.proxy import (
    TEMPLATE,
    NginxServer,
    close_all,
    is_open,
    probe,
    render_template,
    require_nginx,
    running_proxy,
    stall_connections,
)
from tests.reliability.raw_http import RawResponse, exchange
from tests.reliability.servers import (
    LOOPBACK,
    GunicornServer,
    free_port,
    fresh_database,
    running_server,
)

APP = "tests.reliability.streaming_app:create_app()"
MAX_BODY = 4096  # MAX_CONTENT_LENGTH of the app, client_max_body_size of nginx
CLIENT_TIMEOUT_SECONDS = 1
READ_TIMEOUT_SECONDS = 2
STALLED = 64  # slow clients of the attack
PROBES = 16  # /health/live requests sent during it
PROBE_TIMEOUT = 3.0


@pytest.fixture(scope="module")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    """gunicorn with the repo's configuration serving the service (and tests' endpoints)."""
    require_nginx()
    directory = tmp_path_factory.mktemp("proxy")
    with (
        fresh_database("sqlite", directory) as url,
        running_server(url, directory, app=APP, MAX_CONTENT_LENGTH=str(MAX_BODY)) as server,
    ):
        yield server


@pytest.fixture(scope="module")
def proxy(app_server: GunicornServer) -> Iterator[NginxServer]:
    """nginx in front of it, with short timeouts so that the tests of them are quick."""
    with running_proxy(
        app_server.port,
        client_timeout=f"{CLIENT_TIMEOUT_SECONDS}s",
        read_timeout=f"{READ_TIMEOUT_SECONDS}s",
        max_body_size=MAX_BODY,
    ) as proxy:
        yield proxy


def assert_problem(response: RawResponse, status: int, slug: str) -> dict[str, object]:
    problem = response.problem()
    assert response.status == status
    assert problem["status"] == status
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["type"] == TYPE_PREFIX + slug
    assert problem["request_id"] == response.headers["x-request-id"]
    assert problem["detail"]
    return problem


# --------------------------------------------------------------------------------------------
# The configuration file


def test_the_template_replaces_only_its_own_names() -> None:
    values = {name: f"<{name}>" for name in re.findall(r"\$\{(PROXY_\w+)\}", TEMPLATE.read_text())}
    rendered = render_template(TEMPLATE.read_text(), values)
    assert not re.search(r"\$\{PROXY_\w+\}", rendered)
    assert "server <PROXY_UPSTREAM>;" in rendered
    assert "client_max_body_size <PROXY_MAX_BODY_SIZE>;" in rendered
    # nginx's own variables are left for nginx.
    assert "$proxy_add_x_forwarded_for" in rendered
    assert "$activation_lab_request_id" in rendered
    with pytest.raises(KeyError, match="PROXY_LISTEN"):
        render_template(TEMPLATE.read_text(), {})


def test_every_refusal_of_nginx_has_a_problem_document() -> None:
    values = {
        "PROXY_LISTEN": "8080",
        "PROXY_UPSTREAM": "app:8000",
        "PROXY_MAX_BODY_SIZE": "16777216",
        "PROXY_CLIENT_TIMEOUT": "10s",
        "PROXY_READ_TIMEOUT": "75s",
    }
    config = render_template(TEMPLATE.read_text(), values)
    pages = dict(re.findall(r"error_page (\d+) (?:=\d+ )?/\.problem/(\d+);", config))
    documents = dict(re.findall(r"location = /\.problem/(\d+) \{\s*return \d+ '(.*)\\n';", config))
    assert set(pages) >= {"400", "408", "413", "414", "494", "502", "503", "504"}
    assert set(pages.values()) <= set(documents)
    for status, text in documents.items():
        sample = text.replace("$activation_lab_request_id", "0" * 32).replace(
            "$activation_lab_instance", ',"instance":"/v1/x"'
        )
        problem = orjson.loads(sample)
        assert problem["status"] == int(status), text
        assert problem["title"] == HTTPStatus(int(status)).phrase
        assert problem["type"].startswith(TYPE_PREFIX) or problem["type"] == "about:blank"
        assert problem["detail"].endswith(".")
        assert re.search(rf"return {status} '", config)
    assert pages["494"] == "431"  # nginx's code for overlong headers, answered as the standard one


# --------------------------------------------------------------------------------------------
# Slow clients


@pytest.mark.slow
def test_slow_clients_no_longer_starve_the_service(app_server: GunicornServer) -> None:
    """64 connections that never finish their request: through nginx every probe is answered;
    straight to gunicorn (the control, `make run` as it is) none is."""
    with running_proxy(app_server.port, client_timeout="60s") as proxy:
        stalled = stall_connections(proxy.port, STALLED)
        try:
            time.sleep(0.5)
            behind_nginx = probe(proxy.port, "/health/live", PROBES, PROBE_TIMEOUT)
            still_waiting = sum(map(is_open, stalled))
        finally:
            close_all(stalled)

    stalled = stall_connections(app_server.port, STALLED)
    try:
        time.sleep(0.5)
        alone = probe(app_server.port, "/health/live", PROBES, PROBE_TIMEOUT)
    finally:
        close_all(stalled)
    recovered = _wait_until_answering(app_server)

    answered = sum(p.status == 200 for p in behind_nginx)
    print(
        f"\n/health/live under {STALLED} stalled connections: behind nginx {answered}/{PROBES} "
        f"(slowest {max(p.seconds for p in behind_nginx):.3f} s), gunicorn alone "
        f"{sum(p.status == 200 for p in alone)}/{PROBES} within {PROBE_TIMEOUT} s"
    )
    assert answered == PROBES, behind_nginx
    assert still_waiting == STALLED  # nginx held them all open the while
    assert [p.status for p in alone] == [0] * PROBES  # the attack is real: gunicorn alone starves
    assert recovered


def _wait_until_answering(server: GunicornServer, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if probe(server.port, "/health/live", 1, 2.0)[0].status == 200:
            return True
    return False


@pytest.mark.parametrize("stop", ["headers", "body"])
def test_a_client_that_stalls_is_dropped_after_the_client_timeout(
    proxy: NginxServer, stop: str
) -> None:
    sockets = stall_connections(proxy.port, 2)  # one stops in its headers, one in its body
    stalled = sockets[0 if stop == "headers" else 1]
    started = time.monotonic()
    try:
        assert is_open(stalled)
        while is_open(stalled) and time.monotonic() - started < 10:
            time.sleep(0.05)
        elapsed = time.monotonic() - started
    finally:
        close_all(sockets)
    assert CLIENT_TIMEOUT_SECONDS * 0.8 <= elapsed < CLIENT_TIMEOUT_SECONDS + 5


# --------------------------------------------------------------------------------------------
# Streamed responses


def _next_event(response: http.client.HTTPResponse) -> list[str]:
    lines = []
    while line := response.readline().decode().rstrip("\n"):
        lines.append(line)
    return lines


@pytest.mark.parametrize(
    "buffering", ["off", "default"], ids=["x-accel-buffering-no", "event-stream-alone"]
)
def test_server_sent_events_pass_through_unbuffered(
    proxy: NginxServer, tmp_path: Path, buffering: str
) -> None:
    """The app sends one event, then waits until this test has read it (the release file)
    before it sends the next and ends: an event that waited in a buffer would never come."""
    release = tmp_path / "release"
    connection = http.client.HTTPConnection(LOOPBACK, proxy.port, timeout=10)
    try:
        connection.request(
            "GET",
            f"/_test/events?release={release}&buffering={buffering}",
            headers={"Accept": "text/event-stream", "Accept-Encoding": "gzip"},
        )
        response = connection.getresponse()
        assert response.status == 200
        assert response.getheader("Content-Type") == "text/event-stream"
        assert response.getheader("X-Accel-Buffering") is None  # for nginx, not the client
        assert _next_event(response) == ["event: first", "data: 1"]
        release.touch()
        assert _next_event(response) == ["event: second", "data: 2"]
        assert response.read() == b""
    finally:
        connection.close()


# --------------------------------------------------------------------------------------------
# nginx's own refusals


def _get(target: bytes = b"/health/live", headers: bytes = b"") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"


def _post(headers: bytes, body: bytes) -> bytes:
    return (
        b"POST /v1/simulations/propagation HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + headers + b"\r\n" + body
    )


@dataclass(frozen=True)
class Case:
    request: bytes
    status: int
    slug: str


OVER_THE_LIMIT = b"[" + b"1," * (MAX_BODY // 2) + b"1]"
REFUSALS = {
    "bad-request-line": Case(b"GARBAGE\r\n\r\n", 400, "malformed-request"),
    "no-host": Case(b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 400, "malformed-request"),
    "bad-header": Case(_get(headers=b"Bad Header: 1\r\n"), 400, "malformed-request"),
    "bad-chunk": Case(
        _post(b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"), 400, "malformed-request"
    ),
    "http-version": Case(b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 505, "http-version-not-supported"),
    "overlong-url": Case(_get(b"/" + b"a" * 9000), 414, "uri-too-long"),
    "overlong-header": Case(
        _get(headers=b"X-Big: " + b"a" * 9000 + b"\r\n"), 431, "header-fields-too-large"
    ),
    "overlong-header-section": Case(
        _get(headers=b"".join(b"X-Big-%d: %s\r\n" % (n, b"a" * 7000) for n in range(6))),
        431,
        "header-fields-too-large",
    ),
    "declared-body-over-the-limit": Case(
        _post(b"Content-Length: %d\r\n" % len(OVER_THE_LIMIT), OVER_THE_LIMIT),
        413,
        "payload-too-large",
    ),
    "chunked-body-over-the-limit": Case(
        _post(
            b"Transfer-Encoding: chunked\r\n",
            b"%x\r\n%s\r\n0\r\n\r\n" % (len(OVER_THE_LIMIT), OVER_THE_LIMIT),
        ),
        413,
        "payload-too-large",
    ),
    "unknown-transfer-coding": Case(
        _post(b"Transfer-Encoding: gzip\r\n", b""), 501, "not-implemented"
    ),
}


@pytest.mark.parametrize("case", REFUSALS.values(), ids=REFUSALS.keys())
def test_every_refusal_of_nginx_is_a_problem_document(proxy: NginxServer, case: Case) -> None:
    assert_problem(exchange(proxy.port, case.request), case.status, case.slug)


def test_a_413_names_the_limit_and_the_request(proxy: NginxServer) -> None:
    response = exchange(proxy.port, REFUSALS["chunked-body-over-the-limit"].request)
    problem = assert_problem(response, 413, "payload-too-large")
    assert problem["limit"] == {"name": "MAX_CONTENT_LENGTH", "value": MAX_BODY}
    assert problem["instance"] == "/v1/simulations/propagation"
    assert problem["detail"] == (
        f"The request body exceeds the limit of {MAX_BODY} bytes (MAX_CONTENT_LENGTH)."
    )


def test_a_chunked_body_within_the_limit_reaches_the_app_whole(proxy: NginxServer) -> None:
    document = b'{"depth": 3, "width": 100, "weight_variance": 1}'
    chunks = b"".join(b"1\r\n%c\r\n" % byte for byte in document) + b"0\r\n\r\n"
    response = exchange(proxy.port, _post(b"Transfer-Encoding: chunked\r\n", chunks))
    assert response.status == 200, response.body[:300]
    layers = orjson.loads(response.body)["layers"]
    assert [layer["variance"] for layer in layers] == [1e2, 1e4, 1e6]


def test_the_problem_pages_cannot_be_requested(proxy: NginxServer) -> None:
    problem = exchange(proxy.port, _get(b"/.problem/400")).problem()
    assert problem["status"] == 404


def test_what_gunicorn_refuses_behind_nginx_is_a_problem_document_too(
    proxy: NginxServer,
) -> None:
    """Requests within nginx's limits but over gunicorn's: gunicorn's refusal passes through."""
    many_headers = b"".join(b"X-Header-%d: 1\r\n" % n for n in range(101))
    problem = assert_problem(
        exchange(proxy.port, _get(headers=many_headers)), 431, "header-fields-too-large"
    )
    assert "at most 100 header fields" in str(problem["detail"])
    problem = assert_problem(exchange(proxy.port, _get(b"/" + b"a" * 5000)), 414, "uri-too-long")
    assert "4094 bytes" in str(problem["detail"])


def test_a_slow_upstream_is_a_504(proxy: NginxServer) -> None:
    response = exchange(proxy.port, _get(b"/_test/slow?seconds=%d" % (READ_TIMEOUT_SECONDS + 2)))
    problem = assert_problem(response, 504, "gateway-timeout")
    assert f"within {READ_TIMEOUT_SECONDS}s" in str(problem["detail"])
    assert problem["instance"] == "/_test/slow"


def test_an_unreachable_upstream_is_a_502() -> None:
    with running_proxy(free_port()) as proxy:  # nothing listens there
        response = exchange(proxy.port, _get())
    assert_problem(response, 502, "bad-gateway")


# --------------------------------------------------------------------------------------------
# What nginx tells gunicorn


def test_request_ids_pass_through_and_connections_are_kept_alive(
    proxy: NginxServer, app_server: GunicornServer
) -> None:
    ours = exchange(proxy.port, _get(headers=b"X-Request-ID: client-id-1\r\n"))
    assert ours.status == 200
    assert ours.headers["x-request-id"] == "client-id-1"
    made_up = exchange(proxy.port, _get(headers=b"X-Request-ID: not valid <x>\r\n"))
    assert re.fullmatch(r"[0-9a-f]{32}", made_up.headers["x-request-id"])
    assert made_up.headers["x-request-id"] in proxy.log()  # nginx's access log has it too
    # nginx reuses its connections to gunicorn instead of opening one per request.
    assert sum(app_server.client_connections().values()) >= 1


def test_a_client_cannot_claim_https_through_scheme_headers(proxy: NginxServer) -> None:
    # gunicorn trusts these from the proxy's address; beside nginx's X-Forwarded-Proto they
    # would contradict it (gunicorn refuses that) or turn the request into an https one.
    response = exchange(
        proxy.port, _get(headers=b"X-Forwarded-Ssl: on\r\nX-Forwarded-Protocol: ssl\r\n")
    )
    assert response.status == 200


# --------------------------------------------------------------------------------------------
# Who the client is, and what is not served to the outside

METRICS_TOKEN = "proxy-test-scraper-token"


@pytest.fixture(scope="module")
def limited(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GunicornServer, int]]:
    """One worker (its in-memory counts are exact) counting registrations per client address,
    trusting one proxy (TRUSTED_PROXY_COUNT=1, as compose sets), behind nginx."""
    require_nginx()
    directory = tmp_path_factory.mktemp("limited")
    with (
        fresh_database("sqlite", directory) as url,
        running_server(
            url,
            directory,
            workers=1,
            RATE_LIMITS_ENABLED="true",
            RATE_LIMIT_REGISTRATION="2 per minute",
            TRUSTED_PROXY_COUNT="1",
            METRICS_TOKEN=METRICS_TOKEN,
        ) as server,
        running_proxy(server.port) as proxy,
    ):
        yield server, proxy.port


def _request(
    port: int,
    method: str,
    path: str,
    *,
    source: str = LOOPBACK,
    headers: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=15, source_address=(source, 0))
    try:
        body = b"{}" if method == "POST" else None
        connection.request(
            method, path, body=body, headers={"Content-Type": "application/json", **(headers or {})}
        )
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def test_behind_nginx_each_client_address_is_its_own_bucket(
    limited: tuple[GunicornServer, int],
) -> None:
    """Every request reaches gunicorn from nginx's address; the client's comes from the
    X-Forwarded-For entry nginx adds, whatever the client put in front of it."""
    _, port = limited
    first = [
        _request(
            port,
            "POST",
            "/v1/learners",
            source="127.0.0.2",
            headers={"X-Forwarded-For": f"10.9.9.{n}"},
        )[0]
        for n in range(3)
    ]
    assert first == [201, 201, 429]
    assert _request(port, "POST", "/v1/learners", source="127.0.0.3")[0] == 201


def test_metrics_are_not_served_through_the_proxy(limited: tuple[GunicornServer, int]) -> None:
    server, port = limited
    scraper = {"Authorization": f"Bearer {METRICS_TOKEN}"}
    status, body = _request(port, "GET", "/metrics", headers=scraper)
    assert status == 404
    assert orjson.loads(body)["detail"] == "No resource at this path."
    status, body = _request(server.port, "GET", "/metrics", headers=scraper)  # the replica
    assert status == 200
    assert b"activation_lab_http_requests_total" in body
    assert _request(server.port, "GET", "/metrics")[0] == 401
