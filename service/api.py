"""flask-smorest wiring: the Api (OpenAPI 3.1 at /openapi.json, Swagger UI at /docs) and the
Blueprint class every resource uses, whose argument parser reads JSON strictly through orjson."""

from __future__ import annotations

import hashlib
import http
import urllib.parse
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
import orjson
from flask import Flask, Request, redirect, request
from flask_smorest.spec.plugins import integerconverter2paramschema
from flask_smorest.utils import prepare_response
from flask_swagger_ui import get_swaggerui_blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, is_json_request
from werkzeug.routing import IntegerConverter, Map

from service.errors import PROBLEM_MEDIA_TYPE, BadRequest, NotModified, UnsupportedMediaType
from service.jsonio import parse_json_body

F = TypeVar("F", bound=Callable[..., Any])

API_TITLE = "Activation Lab"
API_VERSION = "1.0.0"


class ProblemSchema(ma.Schema):
    """RFC 9457 problem details, as every error of this service is answered."""

    type = ma.fields.String(metadata={"description": "URI identifying the problem type"})
    title = ma.fields.String(metadata={"description": "Short summary of the problem type"})
    status = ma.fields.Integer(metadata={"description": "HTTP status code"})
    detail = ma.fields.String(metadata={"description": "What went wrong with this request"})
    instance = ma.fields.String(metadata={"description": "The request path"})
    request_id = ma.fields.String(metadata={"description": "Correlates with the service's logs"})
    errors = ma.fields.Dict(
        metadata={"description": "Offending fields, each with its messages (validation only)"}
    )
    limit = ma.fields.Dict(metadata={"description": "The limit that was exceeded: name, value"})
    cost = ma.fields.Float(
        metadata={"description": "What the refused request would cost, in the limit's unit"}
    )


class StrictJSONParser(FlaskParser):
    """webargs parser that reads JSON bodies with `jsonio.parse_json_body` (strict, no NUL),
    and refuses a body in another media type with 415 (not silently ignored)."""

    def _raw_load_json(self, req: Request) -> Any:
        data = req.get_data(cache=True)
        if not is_json_request(req):
            if data:
                raise UnsupportedMediaType(
                    f"Send the body as application/json; got {req.mimetype or 'no content type'}."
                )
            return core.missing
        if not data:
            return core.missing
        return parse_json_body(data)


class DatabaseIdConverter(IntegerConverter):
    """`<int:...>` path parameters name rows whose ids are 32-bit INTEGERs: a larger number names
    nothing (routing 404) instead of overflowing the database's integer type (a 500)."""

    def __init__(self, map: Map, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("max", 2**31 - 1)
        super().__init__(map, *args, **kwargs)


def _refuse_malformed_url() -> None:
    """A URL must be UTF-8 without NUL: Werkzeug would otherwise hand views replacement
    characters, and PostgreSQL cannot hold NUL."""
    raw_path = request.environ.get("PATH_INFO", "").encode("latin-1", "replace")
    raw_query = urllib.parse.unquote_to_bytes(request.query_string)
    for part in (raw_path, raw_query):
        if b"\x00" in part:
            raise BadRequest("The URL must not contain NUL (%00) characters.")
        try:
            part.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise BadRequest("The URL is not valid percent-encoded UTF-8.") from exc


class Blueprint(flask_smorest.Blueprint):
    """The project's resource blueprint: strict JSON parsing, and flask-smorest's ETags
    (`@blp.etag`, `set_etag`, `check_etag`) with If-None-Match compared as RFC 9110 says."""

    ARGUMENTS_PARSER = StrictJSONParser()

    @staticmethod
    def _generate_etag(etag_data: Any, extra_data: Any = None) -> str:
        """flask-smorest's tag (sha1 of the data as sorted JSON), dumped by orjson directly."""
        data = (etag_data, extra_data) if extra_data else etag_data
        return hashlib.sha1(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()

    def _check_not_modified(self, etag: str) -> None:
        """flask-smorest's If-None-Match check, with the weak comparison of RFC 9110 13.1.2
        (W/"x" matches "x") and the ETag handed to the 304, which must carry it (15.4.5)."""
        if request.method in self.METHODS_CHECKING_NOT_MODIFIED and (
            request.if_none_match.contains_weak(etag)
        ):
            raise NotModified(etag)

    def problems(self, *statuses: int) -> Callable[[F], F]:
        """Document the problem+json responses a view can give, by status."""

        def decorator(view: F) -> F:
            for status in statuses:
                view = self.alt_response(status, response=http.HTTPStatus(status).name)(view)
            return view

        return decorator


class Api(flask_smorest.Api):
    """flask-smorest's Api documenting every error as application/problem+json."""

    ERROR_SCHEMA = ProblemSchema

    def _register_responses(self) -> None:
        for status in http.HTTPStatus:
            response: dict[str, Any] = {"description": status.phrase}
            if not (100 <= status < 200) and status not in (204, 304):
                response["schema"] = self.ERROR_SCHEMA
            prepare_response(response, self.spec, PROBLEM_MEDIA_TYPE)
            self.spec.components.response(status.name, response, lazy=True)
        default = {"description": "Problem details", "schema": self.ERROR_SCHEMA}
        prepare_response(default, self.spec, PROBLEM_MEDIA_TYPE)
        self.spec.components.response(self.DEFAULT_ERROR_RESPONSE_NAME, default, lazy=True)

    def _register_error_handlers(self) -> None:
        """service.errors registers the handlers; flask-smorest's JSON error body is not used."""


def configure_api(app: Flask) -> Api:
    app.config.update(
        API_TITLE=API_TITLE,
        API_VERSION=API_VERSION,
        OPENAPI_VERSION="3.1.0",
        OPENAPI_URL_PREFIX="/",
        OPENAPI_JSON_PATH="openapi.json",
        API_SPEC_OPTIONS={
            "info": {
                "description": (
                    "Simulations of variance propagation, normalization of submitted "
                    "activations, quizzes and learner progress for the lesson on why deep "
                    "networks need normalization and careful initialization. Every error is "
                    "application/problem+json (RFC 9457)."
                ),
            },
            "components": {
                "securitySchemes": {
                    "learnerToken": {"type": "http", "scheme": "bearer"},
                    "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                    "ltiInstructorToken": {
                        "type": "http",
                        "scheme": "bearer",
                        "bearerFormat": "lti-instructor.<JWT> from an instructor's LTI launch",
                    },
                }
            },
        },
    )
    app.url_map.converters["int"] = DatabaseIdConverter
    app.before_request(_refuse_malformed_url)
    api = Api(app)
    api.register_converter(DatabaseIdConverter, integerconverter2paramschema)
    app.register_blueprint(
        get_swaggerui_blueprint(
            "/docs",
            "/openapi.json",
            config={
                "app_name": API_TITLE,
                # Without the top bar (a box to explore other documents, and a logo whose
                # inline <style> the docs' CSP would refuse): only this service's document.
                "layout": "BaseLayout",
                # Relative: otherwise built from the request's Host header.
                "oauth2RedirectUrl": "/docs/oauth2-redirect.html",
                # No badge fetched from validator.swagger.io (a third party, outside the CSP).
                "validatorUrl": None,
            },
        ),
        url_prefix="/docs",
    )
    # Werkzeug's own slash redirect would write the request's Host header into Location.
    app.add_url_rule("/docs", "docs_slash", lambda: redirect("/docs/", code=308))
    return api
