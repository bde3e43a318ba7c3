"""flask-smorest wiring: the Api (OpenAPI 3.1 at /openapi.json, Swagger UI at /docs) and the
Blueprint class every resource uses, whose argument parser reads JSON strictly through orjson."""

from __future__ import annotations

import http
from collections.abc import Callable
from typing import Any, TypeVar

import flask_smorest
import marshmallow as ma
import orjson
from flask import Flask, Request
from flask_smorest.utils import prepare_response
from flask_swagger_ui import get_swaggerui_blueprint
from webargs import core
from webargs.flaskparser import FlaskParser, abort, is_json_request

from service.errors import PROBLEM_MEDIA_TYPE

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


class StrictJSONParser(FlaskParser):
    """webargs parser that decodes JSON with orjson: NaN, Infinity and the like are malformed."""

    def _raw_load_json(self, req: Request) -> Any:
        if not is_json_request(req):
            return core.missing
        data = req.get_data(cache=True)
        if not data:
            return core.missing
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as exc:
            abort(400, exc=exc, messages={"json": [f"The request body is not valid JSON: {exc}"]})


class Blueprint(flask_smorest.Blueprint):
    """The project's resource blueprint (strict JSON parsing)."""

    ARGUMENTS_PARSER = StrictJSONParser()

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
                }
            },
        },
    )
    api = Api(app)
    app.register_blueprint(
        get_swaggerui_blueprint("/docs", "/openapi.json", config={"app_name": API_TITLE}),
        url_prefix="/docs",
    )
    return api
