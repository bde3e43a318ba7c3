"""What `make run`'s gunicorn refuses, over raw sockets: every refusal is an RFC 9457 problem
document (application/problem+json) with a clear detail, never gunicorn's HTML page, and a
chunked body is refused whole (413 over MAX_CONTENT_LENGTH, 400 when its chunks are malformed)."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path

import orjson
import pytest

from service.errors import TYPE_PREFIX
from tests.reliability.raw_http import RawResponse, exchange, parse_response
from tests.reliability.servers import LOOPBACK, GunicornServer, fresh_database, running_server

MAX_BODY = 4096  # MAX_CONTENT_LENGTH of the server under test
PROPAGATION = b"/v1/simulations/propagation"
# Three linear layers of width 100, Var(W) = 1: the variance grows 100-fold per layer.
ANALYTIC = orjson.dumps({"depth": 3, "width": 100, "weight_variance": 1})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GunicornServer]:
    """`make run`'s gunicorn (gunicorn.conf.py, 2 workers of 4 threads) on a fresh database."""
    directory = tmp_path_factory.mktemp("refusals")
    with (
        fresh_database("sqlite", directory) as url,
        running_server(url, directory, MAX_CONTENT_LENGTH=str(MAX_BODY)) as server,
    ):
        yield server


def chunked(body: bytes, size: int = 1000) -> bytes:
    """`body` in chunks of `size` bytes, with the last, empty chunk."""
    pieces = [body[start : start + size] for start in range(0, len(body), size)]
    return b"".join(b"%x\r\n%s\r\n" % (len(piece), piece) for piece in pieces) + b"0\r\n\r\n"


def post(head: bytes, body: bytes) -> bytes:
    return (
        b"POST " + PROPAGATION + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        b"Content-Type: application/json\r\n" + head + b"\r\n" + body
    )


def get(headers: bytes = b"", target: bytes = b"/health/live") -> bytes:
    return b"GET " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"


@dataclass(frozen=True)
class Case:
    request: bytes
    status: int
    slug: str
    detail: str  # a part of the detail


CASES = {
    "bad-request-line": Case(
        b"GARBAGE\r\n\r\n", 400, "malformed-request", "Invalid HTTP request line: 'GARBAGE'"
    ),
    "bad-method": Case(
        b"G<T / HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed-request", "Invalid HTTP method"
    ),
    "bad-http-version": Case(
        b"GET / HTTP/3.0\r\nHost: x\r\n\r\n", 400, "malformed-request", "Invalid HTTP Version"
    ),
    "overlong-url": Case(
        get(target=b"/" + b"a" * 5000), 414, "uri-too-long", "longer than 4094 bytes"
    ),
    "overlong-header": Case(
        get(b"X-Big: " + b"a" * 9000 + b"\r\n"),
        431,
        "header-fields-too-large",
        "at most 8190 bytes each",
    ),
    "too-many-headers": Case(
        get(b"".join(b"X-Header-%d: 1\r\n" % n for n in range(101))),
        431,
        "header-fields-too-large",
        "at most 100 header fields",
    ),
    "bad-header-name": Case(
        get(b"Bad\x01Name: 1\r\n"), 400, "malformed-request", "Invalid HTTP header name"
    ),
    "obsolete-line-folding": Case(
        get(b"X-Folded: 1\r\n  more\r\n"), 400, "malformed-request", "line folding"
    ),
    "content-length-not-a-number": Case(
        post(b"Content-Length: 1e3\r\n", b""), 400, "malformed-request", "Content-Length"
    ),
    "content-length-and-chunked": Case(
        post(b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n", chunked(b"{}")),
        400,
        "malformed-request",
        "body framing",
    ),
    "unsupported-transfer-coding": Case(
        post(b"Transfer-Encoding: br, chunked\r\n", b""), 501, "not-implemented", "'chunked'"
    ),
    "unknown-expectation": Case(
        post(b"Expect: 200-ok\r\nContent-Length: 0\r\n", b""),
        417,
        "expectation-failed",
        "'100-continue'",
    ),
    # The app reads these bodies: the refusals come from Flask, in the same shape.
    "bad-chunk-size": Case(
        post(b"Transfer-Encoding: chunked\r\n", b"zz\r\n{}\r\n0\r\n\r\n"),
        400,
        "malformed-body",
        "Invalid chunk size",
    ),
    "bad-chunk-terminator": Case(
        post(b"Transfer-Encoding: chunked\r\n", b"2\r\n{}XX0\r\n\r\n"),
        400,
        "malformed-body",
        "chunk terminator",
    ),
    "chunked-body-over-the-limit": Case(
        post(b"Transfer-Encoding: chunked\r\n", chunked(ANALYTIC.ljust(MAX_BODY + 1))),
        413,
        "payload-too-large",
        f"limit of {MAX_BODY} bytes (MAX_CONTENT_LENGTH)",
    ),
}


def assert_problem(response: RawResponse, status: int, slug: str) -> dict[str, object]:
    problem = response.problem()
    assert response.status == status
    assert problem["status"] == status
    assert problem["title"] == HTTPStatus(status).phrase
    assert problem["type"] == TYPE_PREFIX + slug
    assert problem["request_id"] == response.headers["x-request-id"]
    return problem


@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_every_refusal_is_a_problem_document(server: GunicornServer, case: Case) -> None:
    response = exchange(server.port, case.request)
    problem = assert_problem(response, case.status, case.slug)
    assert case.detail in str(problem["detail"])


def test_a_refusal_names_the_request_it_could_parse(server: GunicornServer) -> None:
    response = exchange(server.port, post(b"Content-Length: 1e3\r\n", b""))
    assert response.headers["connection"] == "close"
    assert assert_problem(response, 400, "malformed-request")["instance"] == PROPAGATION.decode()


def test_the_limit_is_named_in_a_413(server: GunicornServer) -> None:
    response = exchange(server.port, CASES["chunked-body-over-the-limit"].request)
    problem = assert_problem(response, 413, "payload-too-large")
    assert problem["limit"] == {"name": "MAX_CONTENT_LENGTH", "value": MAX_BODY}


def test_a_chunked_body_cut_short_is_a_400(server: GunicornServer) -> None:
    received = bytearray()
    with socket.create_connection((LOOPBACK, server.port), timeout=15) as sock:
        sock.sendall(post(b"Transfer-Encoding: chunked\r\n", b"40\r\n{}"))
        sock.shutdown(socket.SHUT_WR)  # the client goes before its last chunk
        while chunk := sock.recv(65536):
            received += chunk
    problem = assert_problem(parse_response(bytes(received)), 400, "malformed-body")
    assert problem["detail"] == "The chunked request body ended before its last chunk."


@pytest.mark.parametrize("size", [len(ANALYTIC), MAX_BODY], ids=["small", "at-the-limit"])
def test_a_chunked_body_within_the_limit_is_read_whole(server: GunicornServer, size: int) -> None:
    response = exchange(
        server.port, post(b"Transfer-Encoding: chunked\r\n", chunked(ANALYTIC.ljust(size), 7))
    )
    assert response.status == 200, response.body[:500]
    assert [layer["variance"] for layer in orjson.loads(response.body)["layers"]] == [1e2, 1e4, 1e6]


def test_the_worker_logs_each_refusal_with_its_request_id(server: GunicornServer) -> None:
    response = exchange(server.port, CASES["bad-request-line"].request)
    request_id = response.headers["x-request-id"]
    log = Path(server.log_path).read_text(errors="replace")
    assert f"answered 400, request_id {request_id}" in log
