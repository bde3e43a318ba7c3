"""What gunicorn refuses before Flask sees a request, answered as application/problem+json.

gunicorn answers a request it cannot parse (a malformed request line, an overlong URL, too many
or too long headers, a bad transfer coding, ...) with a small HTML page of its own. The worker
classes in gunicorn.conf.py hand every such failure to `answer_refusal`, which writes the same
RFC 9457 document the app writes (service.errors.problem_document) and logs it as gunicorn did.
"""

from __future__ import annotations

import secrets
import socket
from dataclasses import dataclass
from datetime import datetime
from email.utils import formatdate
from http import HTTPStatus
from ssl import SSLError
from typing import Any

from gunicorn import util  # type: ignore[import-untyped]
from gunicorn.http import errors as http_errors  # type: ignore[import-untyped]
from gunicorn.http.wsgi import Response, default_environ  # type: ignore[import-untyped]

from service.errors import PROBLEM_MEDIA_TYPE, TYPE_PREFIX, problem_document

_ECHO_LIMIT = 200  # characters of the client's input quoted back in a detail
_FRAMING_HEADERS = ("CONTENT-LENGTH", "TRANSFER-ENCODING")


@dataclass(frozen=True)
class Refusal:
    """How a request is answered: status, problem type and a detail for the client."""

    status: int
    slug: str
    detail: str


def refusal_for(exc: BaseException, cfg: Any) -> Refusal:
    """The answer to the exception gunicorn raised while reading a request (`cfg`: its settings,
    for the limits the detail names). Statuses as gunicorn chose them: 414 for a request line
    over limit_request_line, 431 for headers over limit_request_fields /
    limit_request_field_size, 400 for anything malformed; 500 when the application is at fault
    (an invalid response header) or the failure is not the client's."""
    said = _quoted(exc)
    if isinstance(exc, http_errors.InvalidResponseHeader | http_errors.InvalidResponseHeaderName):
        return _internal_error()
    if isinstance(exc, http_errors.LimitRequestLine):
        return Refusal(
            HTTPStatus.REQUEST_URI_TOO_LONG,
            "uri-too-long",
            f"The request line (method, path and query) is longer than "
            f"{cfg.limit_request_line} bytes; send long parameters in a request body.",
        )
    if isinstance(exc, http_errors.LimitRequestHeaders):
        return Refusal(
            HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE,
            "header-fields-too-large",
            f"The request headers exceed the limits ({said}): at most "
            f"{cfg.limit_request_fields} header fields of at most "
            f"{cfg.limit_request_field_size} bytes each.",
        )
    if isinstance(
        exc,
        http_errors.InvalidRequestLine
        | http_errors.InvalidRequestMethod
        | http_errors.InvalidHTTPVersion,
    ):
        return Refusal(
            HTTPStatus.BAD_REQUEST,
            "malformed-request",
            f"The request line is not valid HTTP/1.1 ({said}); "
            "it should read like 'GET /path HTTP/1.1'.",
        )
    if isinstance(exc, http_errors.InvalidHeader) and exc.hdr in _FRAMING_HEADERS:
        return Refusal(
            HTTPStatus.BAD_REQUEST,
            "malformed-request",
            f"The request's body framing is not valid ({said}): send one Content-Length of "
            "digits, or Transfer-Encoding ending in chunked (HTTP/1.1) and no Content-Length.",
        )
    if isinstance(
        exc,
        http_errors.InvalidHeader
        | http_errors.InvalidHeaderName
        | http_errors.ObsoleteFolding
        | http_errors.InvalidSchemeHeaders,
    ):
        return Refusal(
            HTTPStatus.BAD_REQUEST, "malformed-request", f"A request header is not valid: {said}."
        )
    if isinstance(
        exc,
        http_errors.InvalidChunkSize
        | http_errors.ChunkMissingTerminator
        | http_errors.InvalidChunkExtension,
    ):
        return Refusal(
            HTTPStatus.BAD_REQUEST,
            "malformed-body",
            f"The chunked request body is malformed: {said}.",
        )
    if isinstance(exc, http_errors.UnsupportedTransferCoding):
        return Refusal(
            HTTPStatus.NOT_IMPLEMENTED,
            "not-implemented",
            f"{said}; the only transfer coding understood is 'chunked'.",
        )
    if isinstance(exc, http_errors.ExpectationFailed):
        return Refusal(
            HTTPStatus.EXPECTATION_FAILED,
            "expectation-failed",
            f"{said}; the only expectation understood is '100-continue'.",
        )
    if isinstance(exc, http_errors.ForbiddenProxyRequest):
        return Refusal(HTTPStatus.FORBIDDEN, "forbidden", f"{said}.")
    if isinstance(
        exc,
        http_errors.InvalidProxyLine
        | http_errors.InvalidProxyHeader
        | http_errors.InvalidH2CPreface
        | SSLError,
    ):
        return Refusal(
            HTTPStatus.BAD_REQUEST, "malformed-request", f"The connection is not valid: {said}."
        )
    return _internal_error()


def _internal_error() -> Refusal:
    return Refusal(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        "internal-error",
        "An unexpected error occurred. Quote the request_id when reporting it.",
    )


def _quoted(exc: BaseException) -> str:
    text = str(exc)
    return text if len(text) <= _ECHO_LIMIT else text[:_ECHO_LIMIT] + "..."


def http_response(refusal: Refusal, body: bytes, request_id: str) -> bytes:
    """The whole HTTP/1.1 response around a problem document. The connection closes after it:
    where the next request would start is unknown."""
    head = (
        f"HTTP/1.1 {refusal.status} {HTTPStatus(refusal.status).phrase}\r\n"
        f"Date: {formatdate(usegmt=True)}\r\n"
        "Connection: close\r\n"
        f"Content-Type: {PROBLEM_MEDIA_TYPE}\r\n"
        f"Content-Length: {len(body)}\r\n"
        f"X-Request-ID: {request_id}\r\n"
        "\r\n"
    )
    return head.encode("latin-1") + body


def answer_refusal(worker: Any, req: Any, client: socket.socket, addr: Any, exc: Exception) -> None:
    """Worker.handle_error's job, with a problem+json answer: log the failure (a warning for a
    client's mistake, the traceback for anything else), write the access log line, answer."""
    started = datetime.now()
    refusal = refusal_for(exc, worker.cfg)
    request_id = secrets.token_hex(16)
    addr = addr or ("", -1)  # a unix socket has no address
    if req is None and isinstance(exc, http_errors.InvalidHeader):
        req = exc.req  # parsed far enough to name the request in the access log
    if refusal.slug == "internal-error":
        worker.log.exception("Error handling request (request_id %s)", request_id)
    else:
        worker.log.warning(
            "Invalid request from ip=%s: %s (answered %s, request_id %s)",
            addr[0],
            exc,
            refusal.status,
            request_id,
        )
    body = problem_document(
        refusal.status,
        type_=TYPE_PREFIX + refusal.slug,
        detail=refusal.detail,
        instance=getattr(req, "path", None) or None,
        request_id=request_id,
    )
    if req is not None:
        environ = default_environ(req, client, worker.cfg)
        environ["REMOTE_ADDR"] = addr[0]
        environ["REMOTE_PORT"] = str(addr[1])
        response = Response(req, client, worker.cfg)
        response.status = f"{refusal.status} {HTTPStatus(refusal.status).phrase}"
        response.headers.append(("X-Request-ID", request_id))
        response.response_length = len(body)
        worker.log.access(response, req, environ, datetime.now() - started)
    try:
        util.write_nonblock(client, http_response(refusal, body, request_id))
    except Exception:
        worker.log.debug("Failed to send the problem response.")
