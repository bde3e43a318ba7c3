"""Every failure is application/problem+json with the right status, detail and fields."""

from __future__ import annotations

import io
import logging

import marshmallow as ma
import pytest
from flask import Flask, request
from flask.testing import FlaskClient
from flask.views import MethodView

from service.api import Blueprint
from service.errors import Conflict
from service.numerics.errors import CostLimitExceeded, NumericsError

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "request_id"}


class EchoSchema(ma.Schema):
    depth = ma.fields.Integer(required=True, validate=ma.validate.Range(min=1))
    name = ma.fields.String()


@pytest.fixture
def probe_app(app: Flask) -> Flask:
    """The app plus a probe blueprint whose views raise each kind of error."""
    blp = Blueprint("probe", __name__, url_prefix="/probe")

    @blp.route("/echo")
    class Echo(MethodView):
        @blp.arguments(EchoSchema)
        @blp.response(200, EchoSchema)
        def post(self, body: dict) -> dict:
            return body

    @blp.route("/flask-json", methods=["POST"])
    def flask_json() -> dict:
        return {"got": request.get_json()}

    @blp.route("/boom")
    def boom() -> None:
        raise RuntimeError("secret internals: password=hunter2")

    @blp.route("/conflict")
    def conflict() -> None:
        raise Conflict("Already submitted.", errors={"attempt": ["is closed"]})

    @blp.route("/numerics")
    def numerics() -> None:
        raise NumericsError("depth must be at least 1", field="depth")

    @blp.route("/cost")
    def cost() -> None:
        raise CostLimitExceeded(
            "too expensive",
            field="batch_size",
            limit_name="MAX_SIMULATION_COST",
            limit=1e9,
            cost=2e9,
        )

    app.extensions["flask-smorest"]["apis"][""]["ext_obj"].register_blueprint(blp)
    return app


@pytest.fixture
def probe(probe_app: Flask) -> FlaskClient:
    return probe_app.test_client()


def assert_problem(response, status: int) -> dict:
    assert response.status_code == status
    assert response.content_type == "application/problem+json"
    body = response.json
    assert set(body) >= PROBLEM_KEYS
    assert body["status"] == status
    assert body["detail"]
    return body


def test_unknown_path_is_404_problem(client: FlaskClient) -> None:
    body = assert_problem(client.get("/nope"), 404)
    assert body["instance"] == "/nope"
    assert body["title"] == "Not Found"


def test_wrong_method_is_405_problem_with_allow(client: FlaskClient) -> None:
    response = client.delete("/health/live")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


def test_oversized_body_is_413_problem_naming_the_limit(probe: FlaskClient) -> None:
    response = probe.post(
        "/probe/echo", data=b"x" * (20 * 1024 * 1024), content_type="application/json"
    )
    body = assert_problem(response, 413)
    assert body["limit"] == {"name": "MAX_CONTENT_LENGTH", "value": 16 * 1024 * 1024}


def test_malformed_json_is_400_problem(probe: FlaskClient) -> None:
    response = probe.post("/probe/echo", data=b'{"depth": 1,', content_type="application/json")
    body = assert_problem(response, 400)
    assert "not valid JSON" in body["detail"]
    assert body["type"] == "urn:activation-lab:problem:malformed-json"


@pytest.mark.parametrize(
    "path",
    ["/probe/echo", "/probe/flask-json", "/v1/normalize/layer", "/v1/simulations/propagation"],
)
@pytest.mark.parametrize("payload", [b'{"depth": 1,', b'{"depth": NaN}', b"\xef\xbb\xbf{}"])
def test_every_json_body_reader_fails_alike(probe: FlaskClient, path: str, payload: bytes) -> None:
    """One parser, one problem type, whichever way a view reads its JSON body."""
    response = probe.post(path, data=payload, content_type="application/json")
    body = assert_problem(response, 400)
    assert body["type"] == "urn:activation-lab:problem:malformed-json"
    assert body["detail"].startswith("The request body is not valid JSON: ")


@pytest.mark.parametrize("path", ["/probe/echo", "/v1/normalize/layer"])
def test_nul_in_a_json_string_is_422(probe: FlaskClient, path: str) -> None:
    payload = b'{"name": "a\\u0000b", "input": [1, 2], "dtype": "a\\u0000"}'
    body = assert_problem(probe.post(path, data=payload, content_type="application/json"), 422)
    assert "NUL" in body["detail"]


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_tokens_are_refused(probe: FlaskClient, token: str) -> None:
    response = probe.post(
        "/probe/echo", data=f'{{"depth": {token}}}', content_type="application/json"
    )
    assert_problem(response, 400)


def test_validation_is_422_naming_each_field(probe: FlaskClient) -> None:
    response = probe.post("/probe/echo", json={"depth": 0, "name": 3, "extra": True})
    body = assert_problem(response, 422)
    assert set(body["errors"]) == {"depth", "name", "extra"}
    assert "depth" in body["detail"]


def test_valid_body_passes(probe: FlaskClient) -> None:
    assert probe.post("/probe/echo", json={"depth": 2}).json == {"depth": 2}


def test_unexpected_error_is_500_without_internals(
    probe: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR):
        response = probe.get("/probe/boom", headers={"X-Request-ID": "req-42"})
    body = assert_problem(response, 500)
    assert "hunter2" not in response.get_data(as_text=True)
    assert body["request_id"] == "req-42"
    assert any("unhandled error" in r.message for r in caplog.records)


def test_service_error_keeps_its_status_and_fields(probe: FlaskClient) -> None:
    body = assert_problem(probe.get("/probe/conflict"), 409)
    assert body["errors"] == {"attempt": ["is closed"]}
    assert body["type"].endswith(":conflict")


def test_numerics_error_is_422_naming_the_field(probe: FlaskClient) -> None:
    body = assert_problem(probe.get("/probe/numerics"), 422)
    assert body["errors"] == {"depth": ["depth must be at least 1"]}


def test_cost_limit_names_the_limit(probe: FlaskClient) -> None:
    body = assert_problem(probe.get("/probe/cost"), 422)
    assert body["limit"] == {"name": "MAX_SIMULATION_COST", "value": 1e9}
    assert body["cost"] == 2e9


def test_request_id_is_generated_and_echoed(client: FlaskClient) -> None:
    generated = client.get("/health/live").headers["X-Request-ID"]
    assert len(generated) == 32
    assert (
        client.get("/health/live", headers={"X-Request-ID": "abc-1"}).headers["X-Request-ID"]
        == "abc-1"
    )
    # A header that could inject into logs is replaced, not echoed.
    assert (
        client.get("/health/live", headers={"X-Request-ID": "bad id <x>"}).headers["X-Request-ID"]
        != "bad id <x>"
    )


class _ChunkedInput:
    """A WSGI server's input stream for a chunked body: `body`, then `error` if given (how
    gunicorn reports a malformed chunk or a client gone before the last one)."""

    def __init__(self, body: bytes, error: Exception | None = None) -> None:
        self._body = io.BytesIO(body)
        self._error = error

    def read(self, size: int = -1) -> bytes:
        data = self._body.read(size)
        if not data and self._error is not None:
            raise self._error
        return data


def post_chunked(client: FlaskClient, stream: _ChunkedInput):
    """POST a body without Content-Length, as gunicorn passes a chunked one to the app."""
    return client.post(
        "/probe/echo",
        content_type="application/json",
        headers={"Transfer-Encoding": "chunked"},
        environ_overrides={"wsgi.input": stream, "wsgi.input_terminated": True},
    )


def padded(document: bytes, size: int) -> bytes:
    return document + b" " * (size - len(document))


def test_a_chunked_body_over_the_limit_is_413_not_a_truncated_document(
    probe_app: Flask, probe: FlaskClient
) -> None:
    probe_app.config["MAX_CONTENT_LENGTH"] = 64
    response = post_chunked(probe, _ChunkedInput(padded(b'{"depth": 2}', 65)))
    body = assert_problem(response, 413)
    assert body["type"].endswith(":payload-too-large")
    assert body["limit"] == {"name": "MAX_CONTENT_LENGTH", "value": 64}


def test_a_chunked_body_at_the_limit_is_read_whole(probe_app: Flask, probe: FlaskClient) -> None:
    probe_app.config["MAX_CONTENT_LENGTH"] = 64
    response = post_chunked(probe, _ChunkedInput(padded(b'{"depth": 2}', 64)))
    assert response.status_code == 200
    assert response.json == {"depth": 2}


def test_malformed_chunks_are_a_400_problem(probe: FlaskClient) -> None:
    from gunicorn.http.errors import InvalidChunkSize

    response = post_chunked(probe, _ChunkedInput(b'{"de', InvalidChunkSize(b"zz")))
    body = assert_problem(response, 400)
    assert body["type"].endswith(":malformed-body")
    assert body["detail"] == "The chunked request body is malformed: Invalid chunk size: b'zz'."


def test_a_chunked_body_cut_short_is_a_400_problem(probe: FlaskClient) -> None:
    response = post_chunked(probe, _ChunkedInput(b'{"de', ConnectionResetError()))
    body = assert_problem(response, 400)
    assert body["detail"] == "The chunked request body ended before its last chunk."
