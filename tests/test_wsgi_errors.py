"""service.wsgi_errors: each exception gunicorn raises while reading a request maps to a status
and a clear detail, and the answer is a complete problem+json response (the same refusals over
a real gunicorn: tests/reliability/test_gunicorn_refusals.py)."""

from __future__ import annotations

import socket
from types import SimpleNamespace

import orjson
import pytest
from gunicorn.http import errors as http_errors

from service.wsgi_errors import answer_refusal, refusal_for
from tests.reliability.raw_http import parse_response

LIMITS = SimpleNamespace(
    limit_request_line=4094, limit_request_fields=100, limit_request_field_size=8190
)

CASES = [
    (http_errors.InvalidRequestLine("GARBAGE"), 400, "malformed-request"),
    (http_errors.InvalidRequestMethod("G<T"), 400, "malformed-request"),
    (http_errors.InvalidHTTPVersion("HTTP/3.0"), 400, "malformed-request"),
    (http_errors.LimitRequestLine(5000, 4094), 414, "uri-too-long"),
    (
        http_errors.LimitRequestHeaders("limit request headers fields"),
        431,
        "header-fields-too-large",
    ),
    (http_errors.InvalidHeader("X-Bad"), 400, "malformed-request"),
    (http_errors.InvalidHeader("CONTENT-LENGTH"), 400, "malformed-request"),
    (http_errors.InvalidHeaderName("Bad\x01"), 400, "malformed-request"),
    (http_errors.ObsoleteFolding("X-Folded"), 400, "malformed-request"),
    (http_errors.InvalidSchemeHeaders(), 400, "malformed-request"),
    (http_errors.InvalidChunkSize(b"zz"), 400, "malformed-body"),
    (http_errors.ChunkMissingTerminator(b"XX"), 400, "malformed-body"),
    (http_errors.InvalidChunkExtension("bare CR not allowed"), 400, "malformed-body"),
    (http_errors.UnsupportedTransferCoding("br"), 501, "not-implemented"),
    (http_errors.ExpectationFailed("200-ok"), 417, "expectation-failed"),
    (http_errors.ForbiddenProxyRequest("10.0.0.1"), 403, "forbidden"),
    (http_errors.InvalidProxyLine("PROXY nonsense"), 400, "malformed-request"),
    # The application's fault, or nobody's in particular: 500.
    (http_errors.InvalidResponseHeader("X-Out"), 500, "internal-error"),
    (http_errors.InvalidResponseHeaderName("X Out"), 500, "internal-error"),
    (http_errors.ConfigurationProblem("bad setting"), 500, "internal-error"),
    (RuntimeError("boom"), 500, "internal-error"),
]


@pytest.mark.parametrize(
    ("exc", "status", "slug"), CASES, ids=[type(case[0]).__name__ for case in CASES]
)
def test_each_exception_maps_to_its_status(exc: Exception, status: int, slug: str) -> None:
    refusal = refusal_for(exc, LIMITS)
    assert (refusal.status, refusal.slug) == (status, slug)
    assert refusal.detail.endswith(".")


def test_a_limit_refusal_names_the_limit() -> None:
    assert "4094 bytes" in refusal_for(http_errors.LimitRequestLine(5000, 4094), LIMITS).detail
    detail = refusal_for(
        http_errors.LimitRequestHeaders("limit request headers fields"), LIMITS
    ).detail
    assert "at most 100 header fields of at most 8190 bytes each" in detail


def test_the_client_input_quoted_back_is_bounded() -> None:
    detail = refusal_for(http_errors.InvalidRequestLine("x" * 10_000), LIMITS).detail
    assert len(detail) < 400


class _Log:
    def __init__(self) -> None:
        self.records: list[tuple[str, str]] = []

    def warning(self, message: str, *args: object) -> None:
        self.records.append(("warning", message % args))

    def exception(self, message: str, *args: object) -> None:
        self.records.append(("exception", message % args))

    def access(self, *args: object) -> None:
        self.records.append(("access", ""))

    def debug(self, *args: object) -> None:
        pass


def _answer(exc: Exception) -> tuple[bytes, _Log]:
    worker = SimpleNamespace(cfg=LIMITS, log=_Log())
    server, client = socket.socketpair()
    with server, client:
        answer_refusal(worker, None, server, ("203.0.113.9", 4242), exc)
        server.close()
        received = b""
        while chunk := client.recv(65536):
            received += chunk
    return received, worker.log


def test_the_answer_is_a_complete_problem_response() -> None:
    received, log = _answer(http_errors.InvalidRequestLine("GARBAGE"))
    response = parse_response(received)
    assert received.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert response.headers["connection"] == "close"
    assert response.headers["content-length"] == str(len(response.body))
    problem = orjson.loads(response.body)
    assert response.headers["content-type"] == "application/problem+json"
    assert problem == {
        "type": "urn:activation-lab:problem:malformed-request",
        "title": "Bad Request",
        "status": 400,
        "detail": "The request line is not valid HTTP/1.1 (Invalid HTTP request line: "
        "'GARBAGE'); it should read like 'GET /path HTTP/1.1'.",
        "request_id": response.headers["x-request-id"],
    }
    assert log.records == [
        (
            "warning",
            "Invalid request from ip=203.0.113.9: Invalid HTTP request line: 'GARBAGE' "
            f"(answered 400, request_id {problem['request_id']})",
        )
    ]


def test_an_unexpected_failure_is_logged_with_its_traceback() -> None:
    try:
        raise RuntimeError("secret internals")
    except RuntimeError as exc:
        received, log = _answer(exc)
    assert b"secret internals" not in received
    assert parse_response(received).status == 500
    assert [level for level, _ in log.records] == ["exception"]
