"""The one home for errors: the ServiceError family and every handler.

Every failure leaves the service as `application/problem+json` (RFC 9457) with `type`, `title`,
`status`, `detail` and `instance`, plus `request_id`; validation problems add `errors`, a map from
each offending field to its messages. Handlers return responses and never abort.

Longer than the house's ~400 lines on purpose: the plan gives errors one owner, and the
problem types, their handlers and the body-limit refusals read best side by side.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from http import HTTPStatus
from typing import Any

import flask_smorest.exceptions
import marshmallow as ma
import orjson
from flask import Flask, Response, current_app, g, has_request_context, request
from sqlalchemy.exc import DataError, DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from werkzeug.exceptions import ClientDisconnected, HTTPException

from service.numerics.errors import (
    CostLimitExceeded,
    DeadlineExceeded,
    NonFiniteResult,
    NumericsError,
)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TYPE_PREFIX = "urn:activation-lab:problem:"

log = logging.getLogger(__name__)

FieldErrors = Mapping[str, Any]


class ServiceError(Exception):
    """An expected failure: its class gives the status and title, the instance the detail."""

    status: int = HTTPStatus.INTERNAL_SERVER_ERROR
    slug: str = "internal-error"

    def __init__(
        self,
        detail: str,
        *,
        errors: FieldErrors | None = None,
        headers: Mapping[str, str] | None = None,
        **extensions: Any,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})
        self.extensions = extensions

    @property
    def title(self) -> str:
        return HTTPStatus(self.status).phrase


class BadRequest(ServiceError):
    status = HTTPStatus.BAD_REQUEST
    slug = "bad-request"


class MalformedJSON(BadRequest):
    """A request body that is not JSON (every JSON body is read by jsonio.parse_json_body)."""

    slug = "malformed-json"


class Unauthorized(ServiceError):
    status = HTTPStatus.UNAUTHORIZED
    slug = "unauthorized"

    def __init__(self, detail: str, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="activation-lab"'})
        super().__init__(detail, **kwargs)


class Forbidden(ServiceError):
    status = HTTPStatus.FORBIDDEN
    slug = "forbidden"


class NotFound(ServiceError):
    status = HTTPStatus.NOT_FOUND
    slug = "not-found"


class Conflict(ServiceError):
    status = HTTPStatus.CONFLICT
    slug = "conflict"


class MalformedBody(BadRequest):
    slug = "malformed-body"


class PayloadTooLarge(ServiceError):
    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE
    slug = "payload-too-large"


class UnsupportedMediaType(ServiceError):
    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE
    slug = "unsupported-media-type"


class NotAcceptable(ServiceError):
    status = HTTPStatus.NOT_ACCEPTABLE
    slug = "not-acceptable"


class Unprocessable(ServiceError):
    status = HTTPStatus.UNPROCESSABLE_ENTITY
    slug = "validation-error"


class LimitExceeded(Unprocessable):
    slug = "limit-exceeded"


class IdempotencyKeyReused(Unprocessable):
    """An Idempotency-Key sent again with another body: neither a replay nor a new request."""

    slug = "idempotency-key-reused"


class TooManyRequests(ServiceError):
    status = HTTPStatus.TOO_MANY_REQUESTS
    slug = "rate-limited"


class ServiceUnavailable(ServiceError):
    status = HTTPStatus.SERVICE_UNAVAILABLE
    slug = "service-unavailable"


def problem_document(
    status: int,
    *,
    detail: str,
    title: str | None = None,
    type_: str | None = None,
    instance: str | None = None,
    request_id: str | None = None,
    errors: FieldErrors | None = None,
    **extensions: Any,
) -> bytes:
    """An RFC 9457 problem document, serialized: the body of every refusal, whether Flask or
    gunicorn (service/wsgi_errors.py) answers. nginx's pages (deploy/nginx) follow its shape."""
    body: dict[str, Any] = {
        "type": type_ or "about:blank",
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
    }
    if instance is not None:
        body["instance"] = instance
    if request_id:
        body["request_id"] = request_id
    if errors:
        body["errors"] = errors
    body.update(extensions)
    return _dump_problem(body)


class NotModified(flask_smorest.exceptions.NotModified):
    """If-None-Match matched `etag`: a 304 without a body, carrying the ETag."""

    def __init__(self, etag: str) -> None:
        super().__init__()
        self.etag = etag


def problem_response(
    status: int,
    *,
    detail: str,
    title: str | None = None,
    type_: str | None = None,
    errors: FieldErrors | None = None,
    headers: Mapping[str, str] | None = None,
    **extensions: Any,
) -> Response:
    """Build an RFC 9457 problem response for the current request."""
    instance = request_id = None
    if has_request_context():
        instance = request.path
        request_id = g.get("request_id")
    document = problem_document(
        status,
        detail=detail,
        title=title,
        type_=type_,
        instance=instance,
        request_id=request_id,
        errors=errors,
        **extensions,
    )
    response = current_app.response_class(document, status=status, mimetype=PROBLEM_MEDIA_TYPE)
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def _dump_problem(body: dict[str, Any]) -> bytes:
    options = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS
    try:
        return orjson.dumps(body, option=options)
    except TypeError:
        # A message echoing the client's input (a field name holding a lone surrogate, an
        # integer beyond 64 bits) must not turn a 4xx into a crash of the error handler.
        return orjson.dumps(_printable(body), option=options)


def _printable(value: Any) -> Any:
    if isinstance(value, str):
        return value.encode("utf-8", "replace").decode("utf-8")
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 2**63:
        return str(value)
    if isinstance(value, Mapping):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


def flatten_webargs_messages(messages: Mapping[str, Any]) -> dict[str, Any]:
    """webargs nests messages by location ({"json": {"depth": [...]}}); clients want fields."""
    merged: dict[str, Any] = {}
    for location, location_messages in messages.items():
        if isinstance(location_messages, Mapping):
            merged.update(location_messages)
        else:
            merged[location] = location_messages
    return merged


def _field_detail(prefix: str, errors: Mapping[str, Any]) -> str:
    names = ", ".join(sorted(str(name) for name in errors)) or "the request"
    return f"{prefix}: {names}"


def handle_service_error(error: ServiceError) -> Response:
    return problem_response(
        error.status,
        title=error.title,
        type_=TYPE_PREFIX + error.slug,
        detail=error.detail,
        errors=error.errors,
        headers=error.headers,
        **error.extensions,
    )


def handle_not_modified(error: NotModified) -> Response:
    response = current_app.response_class(status=HTTPStatus.NOT_MODIFIED)
    response.set_etag(error.etag)
    return response


PRECONDITION_DETAILS = {
    HTTPStatus.PRECONDITION_FAILED: (
        "precondition-failed",
        "If-Match does not name the current ETag of {path}: it changed since you read it. "
        "GET it again, reapply your change and send the new ETag.",
    ),
    HTTPStatus.PRECONDITION_REQUIRED: (
        "precondition-required",
        "This request must be conditional: send If-Match with the ETag of {path} from your "
        "last GET (or * to overwrite whatever is there).",
    ),
}


def handle_http_exception(error: HTTPException) -> Response:
    """Werkzeug's and flask-smorest's exceptions: routing 404/405, 413, webargs 400/422, ..."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    messages = data.get("messages")
    headers = {
        name: value
        for name, value in error.get_headers()
        if name.lower() not in {"content-type", "content-length"}
    }
    headers.update(data.get("headers") or {})
    if messages:
        errors = flatten_webargs_messages(messages)
        if status == HTTPStatus.BAD_REQUEST:
            detail = "; ".join(str(m) for m in _leaf_messages(errors)) or "Malformed request."
            return problem_response(
                status, type_=TYPE_PREFIX + "malformed-request", detail=detail, headers=headers
            )
        return problem_response(
            status,
            type_=TYPE_PREFIX + "validation-error",
            detail=_field_detail("Invalid or missing fields", errors),
            errors=errors,
            headers=headers,
        )
    detail = error.description or HTTPStatus(status).phrase
    if status == HTTPStatus.REQUEST_ENTITY_TOO_LARGE:
        limit = current_app.config.get("MAX_CONTENT_LENGTH")
        detail = f"The request body exceeds the limit of {limit} bytes (MAX_CONTENT_LENGTH)."
        return problem_response(
            status,
            type_=TYPE_PREFIX + "payload-too-large",
            detail=detail,
            headers=headers,
            limit={"name": "MAX_CONTENT_LENGTH", "value": limit},
        )
    if status == HTTPStatus.TOO_MANY_REQUESTS:
        retry_after = getattr(error, "retry_after", None)
        headers["Retry-After"] = str(int(retry_after)) if retry_after else "60"
        return problem_response(
            status,
            type_=TYPE_PREFIX + "rate-limited",
            detail=f"Too many requests: the limit is {error.description}. Retry later.",
            headers=headers,
        )
    if status in PRECONDITION_DETAILS:
        slug, template = PRECONDITION_DETAILS[HTTPStatus(status)]
        return problem_response(
            status,
            type_=TYPE_PREFIX + slug,
            detail=template.format(path=request.path),
            headers=headers,
        )
    if status == HTTPStatus.METHOD_NOT_ALLOWED:
        detail = f"{request.method} is not allowed on {request.path}."
    elif status == HTTPStatus.NOT_FOUND and not data:
        detail = f"No resource at {request.path}."
    return problem_response(status, detail=detail, headers=headers)


def _leaf_messages(errors: Any) -> list[str]:
    if isinstance(errors, Mapping):
        return [m for value in errors.values() for m in _leaf_messages(value)]
    if isinstance(errors, list | tuple):
        return [m for value in errors for m in _leaf_messages(value)]
    return [str(errors)]


def handle_validation_error(error: ma.ValidationError) -> Response:
    messages = error.normalized_messages()
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        type_=TYPE_PREFIX + "validation-error",
        detail=_field_detail("Invalid or missing fields", messages),
        errors=messages,
    )


def handle_numerics_error(error: NumericsError) -> Response:
    field = error.field or "request"
    extensions: dict[str, Any] = {}
    slug = "validation-error"
    if isinstance(error, CostLimitExceeded):
        slug = "limit-exceeded"
        extensions["limit"] = {"name": error.limit_name, "value": error.limit}
        extensions["cost"] = error.cost
    elif isinstance(error, NonFiniteResult):
        slug = "non-finite-result"
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        type_=TYPE_PREFIX + slug,
        detail=str(error),
        errors={field: [str(error)]},
        **extensions,
    )


def handle_deadline_exceeded(error: DeadlineExceeded) -> Response:
    """A computation stopped at its wall-clock budget: the request was valid, the machine too
    busy or the request too close to the limits for it now."""
    return problem_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        type_=TYPE_PREFIX + "deadline-exceeded",
        detail=str(error),
        headers={"Retry-After": "10"},
        limit={"name": error.limit_name, "value": error.seconds},
    )


def handle_memory_error(error: MemoryError) -> Response:
    """An allocation failed (numpy's _ArrayMemoryError is a MemoryError): the estimates keep
    requests within MAX_SIMULATION_MEMORY and MAX_ARRAY_ELEMENTS, so this is the machine's
    memory running short under load, not a bug to report as a 500."""
    log.warning("allocation failed: %s", str(error)[:200])
    return problem_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        type_=TYPE_PREFIX + "insufficient-memory",
        detail="The service could not allocate the memory this request needs right now; "
        "retry later or ask for a smaller computation.",
        headers={"Retry-After": "10"},
    )


def handle_database_unavailable(error: Exception) -> Response:
    log.warning("database unavailable: %s", type(error).__name__)
    return problem_response(
        HTTPStatus.SERVICE_UNAVAILABLE,
        type_=TYPE_PREFIX + "database-unavailable",
        detail="The database is not reachable right now; try again shortly.",
        headers={"Retry-After": "5"},
    )


def handle_unstorable_value(error: DataError) -> Response:
    """The database refused a value (out of its type's range, too long, a character it cannot
    hold): every stored value comes from a request, so it is the request's problem, not a 500.
    The transaction was rolled back, so nothing was written."""
    log.warning("database refused a value: %s", str(error.orig).splitlines()[0][:200])
    return problem_response(
        HTTPStatus.UNPROCESSABLE_ENTITY,
        type_=TYPE_PREFIX + "unstorable-value",
        detail="A value in the request cannot be stored (out of range, too long or holding "
        "characters the database refuses); nothing was changed.",
    )


def handle_unexpected(error: Exception) -> Response:
    if isinstance(error, DBAPIError) and error.connection_invalidated:
        return handle_database_unavailable(error)
    log.exception("unhandled error", extra={"request_id": g.get("request_id")})
    return problem_response(
        HTTPStatus.INTERNAL_SERVER_ERROR,
        type_=TYPE_PREFIX + "internal-error",
        detail="An unexpected error occurred. Quote the request_id when reporting it.",
    )


def read_streamed_body() -> None:
    """Read a chunked body (one without Content-Length) before any view does, so that it is
    refused whole: 413 beyond MAX_CONTENT_LENGTH, where werkzeug would hand a view the first
    MAX_CONTENT_LENGTH bytes of it, and 400 when its chunks are malformed or cut short, which
    the WSGI server reports by raising from the input stream. The body stays cached on the
    request (get_data, get_json and webargs read it from there)."""
    if "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        return
    limit = request.max_content_length
    try:
        body = request.get_data(cache=True)  # at most `limit` bytes
        overflow = limit is not None and len(body) >= limit and request.input_stream.read(1)
    except ClientDisconnected as exc:
        raise MalformedBody("The chunked request body ended before its last chunk.") from exc
    except HTTPException:
        raise
    except Exception as exc:
        raise MalformedBody(f"The chunked request body is malformed: {exc}.") from exc
    if overflow:
        raise PayloadTooLarge(
            f"The request body exceeds the limit of {limit} bytes (MAX_CONTENT_LENGTH).",
            limit={"name": "MAX_CONTENT_LENGTH", "value": limit},
        )


def register_error_handlers(app: Flask) -> None:
    """Every handler, and the hook that refuses an unreadable chunked body before a view."""
    app.before_request(read_streamed_body)
    app.register_error_handler(ServiceError, handle_service_error)
    app.register_error_handler(NotModified, handle_not_modified)
    app.register_error_handler(HTTPException, handle_http_exception)
    app.register_error_handler(ma.ValidationError, handle_validation_error)
    app.register_error_handler(NumericsError, handle_numerics_error)
    app.register_error_handler(DeadlineExceeded, handle_deadline_exceeded)
    app.register_error_handler(MemoryError, handle_memory_error)
    app.register_error_handler(DataError, handle_unstorable_value)
    app.register_error_handler(OperationalError, handle_database_unavailable)
    app.register_error_handler(PoolTimeoutError, handle_database_unavailable)
    app.register_error_handler(Exception, handle_unexpected)
