"""JSON in and out through orjson.

Out: numpy scalars and arrays serialize natively, datetimes as RFC 3339, and a non-finite float
becomes `null` (orjson never writes the non-JSON tokens NaN or Infinity).
In: orjson is strict, so `NaN`, `Infinity` and other non-JSON tokens are refused as malformed.
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
from werkzeug.exceptions import BadRequest

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
    """A request whose JSON errors say what went wrong."""

    def on_json_loading_failed(self, e: ValueError | None) -> Any:
        raise BadRequest(f"The request body is not valid JSON: {e}" if e else "Invalid JSON.")


def install_json(app: Flask) -> None:
    app.json_provider_class = OrjsonProvider
    app.json = OrjsonProvider(app)
    app.request_class = ServiceRequest
