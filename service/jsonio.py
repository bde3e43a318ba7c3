"""JSON in and out through orjson.

Out: numpy scalars and arrays serialize natively, datetimes as RFC 3339, and a non-finite float
becomes `null` (orjson never writes the non-JSON tokens NaN or Infinity).
In: `parse_json_body` reads every JSON request body (the schemas' parser, the array codecs and
Flask's `request.get_json` alike): orjson is strict, so `NaN`, `Infinity`, a byte-order mark,
invalid UTF-8 and other non-JSON are one failure, a 400 `malformed-json` problem.
"""

from __future__ import annotations

import dataclasses
import enum
from decimal import Decimal
from typing import Any, cast

import numpy as np
import orjson
from flask import Flask, Request, Response
from flask.json.provider import JSONProvider

from service.errors import MalformedJSON, Unprocessable

DUMP_OPTIONS = orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS | orjson.OPT_UTC_Z


def _default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        # orjson serializes only C-contiguous arrays of native dtypes; fall back for the rest.
        if value.dtype.kind in "biuf" and not value.flags.c_contiguous:
            return np.ascontiguousarray(value)
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, enum.Enum):
        return value.value
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return dataclasses.asdict(value)
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def parse_json_body(data: bytes) -> Any:
    """The document in a JSON request body. MalformedJSON (400) when it is not JSON;
    Unprocessable (422) when a string or key holds NUL (U+0000), which PostgreSQL cannot store,
    so it is refused alike on every backend."""
    try:
        document = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise malformed_json(exc) from exc
    if b"\\u0000" in data and _holds_nul(document):
        message = "Strings must not contain NUL (U+0000) characters."
        raise Unprocessable(message, errors={"json": [message]})
    return document


def malformed_json(error: ValueError | None) -> MalformedJSON:
    return MalformedJSON(
        f"The request body is not valid JSON: {error}" if error else "The request body is empty."
    )


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False


def dumps_bytes(value: Any) -> bytes:
    return orjson.dumps(value, default=_default, option=DUMP_OPTIONS)


def json_response(payload: Any, status: int = 200) -> Response:
    """A JSON response built straight from `payload`, for large documents whose shape the
    service already guarantees (a schema dump would cost more than computing them)."""
    return Response(dumps_bytes(payload), status=status, mimetype="application/json")


class OrjsonProvider(JSONProvider):
    """Flask's JSON provider backed by orjson (strict in, fast and NaN-free out)."""

    mimetype = "application/json"

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return dumps_bytes(obj).decode()

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        return orjson.loads(s)

    def response(self, *args: Any, **kwargs: Any) -> Any:
        obj = self._prepare_response_obj(args, kwargs)
        response_class = cast("type[Response]", self._app.response_class)
        return response_class(dumps_bytes(obj), mimetype=self.mimetype)


class ServiceRequest(Request):
    """A request whose `get_json` fails as `parse_json_body` does (one problem type)."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise malformed_json(e)


def install_json(app: Flask) -> None:
    app.json_provider_class = OrjsonProvider
    app.json = OrjsonProvider(app)
    app.request_class = ServiceRequest
