"""The committed openapi.yaml is what the code generates, and the document is complete."""

from __future__ import annotations

from pathlib import Path

import yaml
from flask import Flask
from flask.testing import FlaskClient

from service.cli import openapi_document

COMMITTED = Path(__file__).resolve().parent.parent / "openapi.yaml"
METHODS = {"get", "post", "put", "patch", "delete"}


def test_committed_openapi_matches_the_code(app: Flask) -> None:
    assert COMMITTED.read_text() == openapi_document(app), (
        "openapi.yaml is stale: run `make openapi` and commit it"
    )


def test_openapi_json_is_served_as_3_1(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    assert document["openapi"] == "3.1.0"
    assert document == yaml.safe_load(COMMITTED.read_text())


def test_every_operation_has_summary_and_problem_responses(client: FlaskClient) -> None:
    document = client.get("/openapi.json").json
    operations = [
        (path, method, operation)
        for path, item in document["paths"].items()
        for method, operation in item.items()
        if method in METHODS
    ]
    assert operations
    for path, method, operation in operations:
        assert operation.get("summary"), f"{method.upper()} {path} has no summary"
        responses = operation["responses"]
        assert any(code.startswith("2") for code in responses), f"{method} {path}: no success"
        assert "default" in responses, f"{method.upper()} {path} documents no error response"
    problem = document["components"]["responses"]["DEFAULT_ERROR"]["content"]
    assert list(problem) == ["application/problem+json"]


def test_docs_page_is_served(client: FlaskClient) -> None:
    response = client.get("/docs/")
    assert response.status_code == 200
    assert b"swagger-ui" in response.data
    assert client.get("/docs/swagger-ui-bundle.js").status_code == 200
