"""The bad-input catalogue: every operation of the committed openapi.yaml is sent wrong types,
missing fields, NaN/Infinity, huge numbers, deep nesting, unicode junk and wrong content types in
its body, query, headers and path; each answer must be a 4xx application/problem+json, and the
database must be unchanged afterwards.

Operations are read from openapi.yaml, so a new endpoint is covered without editing this file.
Requests carry valid credentials (a learner token where learners may call, else an admin API key)
so that the input, not the caller, is what gets refused.
"""

from __future__ import annotations

import hashlib
import json
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from sqlalchemy import select

from service.config import Settings
from service.models import metadata
from service.quizzes.services import seed_bank
from tests.backends import all_backends
from tests.factories import api_key, register
from tests.reliability.servers import SECRET_KEY

pytestmark = all_backends

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
SPEC: dict[str, Any] = yaml.safe_load(OPENAPI.read_text())
METHODS = ("get", "post", "put", "patch", "delete")
MAX_CONTENT_LENGTH = 64 * 1024
JSON = "application/json"
PROBLEM = "application/problem+json"

#: Strings no field of this service should take where a number, a choice or an id is expected.
UNICODE_JUNK = "\u202eꙮ\u0301\u200b💥\ufffe"
DEEP = 200  # nesting that parses (orjson allows 1024) but no field accepts
TOO_DEEP = 5_000  # nesting the JSON parser refuses


@dataclass
class Case:
    label: str
    method: str
    path: str  # already percent-encoded, query string included
    data: bytes | None = None
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


# --------------------------------------------------------------------------------------------
# Reading the document


def resolve(schema: Any) -> dict[str, Any]:
    """Follow `$ref`s into components (the document's own, local refs only)."""
    while isinstance(schema, dict) and "$ref" in schema:
        node: Any = SPEC
        for part in schema["$ref"].removeprefix("#/").split("/"):
            node = node[part]
        schema = node
    return schema if isinstance(schema, dict) else {}


def types_of(schema: dict[str, Any]) -> set[str]:
    declared = schema.get("type")
    if declared is None:
        if "properties" in schema:
            return {"object"}
        return set()
    return {declared} if isinstance(declared, str) else set(declared)


def sample(schema: dict[str, Any], depth: int = 0) -> Any:
    """A plausible value: the document's example, default or first choice, else one by type."""
    schema = resolve(schema)
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    if schema.get("enum"):
        return schema["enum"][0]
    kinds = types_of(schema) - {"null"}
    kind = sorted(kinds)[0] if kinds else "string"
    if kind == "integer":
        return max(int(schema.get("minimum", 1)), 1)
    if kind == "number":
        return float(schema.get("minimum", 1.0)) or 1.0
    if kind == "boolean":
        return True
    if kind == "array":
        return [sample(schema.get("items", {}), depth + 1)] * int(schema.get("minItems", 1))
    if kind == "object":
        if depth > 3:
            return {}
        properties = schema.get("properties", {})
        return {
            name: sample(properties[name], depth + 1)
            for name in schema.get("required", [])
            if name in properties
        }
    if schema.get("format") == "uuid":
        return "00000000-0000-4000-8000-000000000000"
    if schema.get("format") == "date-time":
        return "2024-01-01T00:00:00Z"
    return "x" * max(int(schema.get("minLength", 1)), 1)


def operations() -> Iterator[tuple[str, str, dict[str, Any], list[dict[str, Any]]]]:
    for path, item in SPEC["paths"].items():
        for method in METHODS:
            if method in item:
                operation = item[method]
                parameters = [resolve(p) for p in item.get("parameters", [])]
                parameters += [resolve(p) for p in operation.get("parameters", [])]
                yield method.upper(), path, operation, parameters


# --------------------------------------------------------------------------------------------
# The catalogue


def wrong_type_fragments(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """JSON values of types the field does not take (numeric strings left out: marshmallow reads
    "12" as an integer, which is leniency, not a wrong type)."""
    kinds = types_of(schema)
    if not kinds:
        return []  # any JSON value is allowed by the document
    candidates = {
        "integer": ("an integer", "123"),
        "number": ("a fraction", "1.5"),
        "string": ("a string", json.dumps(UNICODE_JUNK)),
        "boolean": ("a boolean", "true"),
        "array": ("a list", "[]"),
        "object": ("an object", '{"a": 1}'),
        "null": ("null", "null"),
    }
    allowed = set(kinds)
    if "number" in allowed:
        allowed.add("integer")
    return [
        (f"wrong type: {name}", fragment)
        for kind, (name, fragment) in candidates.items()
        if kind not in allowed
    ]


def value_fragments(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Bad values for one field: wrong types, NaN/Infinity, huge numbers, deep nesting, junk."""
    schema = resolve(schema)
    kinds = types_of(schema)
    fragments = wrong_type_fragments(schema)
    if kinds & {"integer", "number"}:
        fragments += [
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("-Infinity", "-Infinity"),
            ("1e400 (overflows a double)", "1e400"),
            ("a 400-digit integer", "1" + "0" * 400),
        ]
        if "number" not in kinds:
            # Past SQLite's and PostgreSQL's BIGINT, for integers that may be stored; a float
            # field takes 1e308 when the document sets no maximum, so only integers get these.
            fragments += [("2**63", str(2**63)), ("2**64 - 1", str(2**64 - 1))]
        if "maximum" in schema:
            fragments.append(("above the maximum", json.dumps(schema["maximum"] * 10 + 1)))
        if "minimum" in schema:
            fragments.append(("below the minimum", json.dumps(schema["minimum"] - 1)))
    if "string" in kinds or schema.get("enum"):
        fragments.append(("a NUL character", '"a\\u0000b"'))
        fragments.append(("a lone surrogate", '"\\ud800"'))
        if "maxLength" in schema:
            fragments.append(("longer than maxLength", json.dumps("x" * (schema["maxLength"] + 1))))
        if schema.get("enum") or schema.get("format") in ("uuid", "date-time", "uri"):
            fragments.append(("unicode junk", json.dumps(UNICODE_JUNK)))
    if kinds & {"array", "object"} or not kinds:
        fragments.append((f"{DEEP}-deep nesting", "[" * DEEP + "]" * DEEP))
    if kinds and not kinds & {"array", "object"}:
        fragments.append((f"{DEEP}-deep nesting", "[" * DEEP + "1" + "]" * DEEP))
    return fragments


def json_object(members: dict[str, str]) -> bytes:
    """An object from already-encoded member values (so NaN and friends can be spliced in)."""
    return ("{" + ",".join(f"{json.dumps(k)}:{v}" for k, v in members.items()) + "}").encode()


def body_cases(method: str, url: str, media_types: dict[str, Any]) -> Iterator[Case]:
    json_schema = resolve(media_types.get(JSON, {}).get("schema", {}))
    base = sample(json_schema) if JSON in media_types else {}
    base = base if isinstance(base, dict) else {}
    encoded = {name: json.dumps(value) for name, value in base.items()}
    base_bytes = json_object(encoded)
    if JSON in media_types:
        for label, raw in [
            ("truncated JSON", b'{"a": '),
            ("trailing comma", b'{"a": 1,}'),
            ("a list", b"[]"),
            ("a string", b'"text"'),
            ("a number", b"42"),
            ("null", b"null"),
            ("a byte-order mark", b"\xef\xbb\xbf" + base_bytes),
            ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
            ("a lone surrogate key", b'{"\\udc00": 1}'),
            ("a NUL key", b'{"a\\u0000": 1}'),
            ("NaN", b'{"a": NaN}'),
            ("Infinity", b'{"a": Infinity}'),
            (f"{TOO_DEEP}-deep list", b"[" * TOO_DEEP + b"]" * TOO_DEEP),
            (f"{TOO_DEEP}-deep object", b'{"a":' * TOO_DEEP + b"1" + b"}" * TOO_DEEP),
            ("over MAX_CONTENT_LENGTH", b'{"a": "' + b"x" * MAX_CONTENT_LENGTH + b'"}'),
        ]:
            yield Case(f"body: {label}", method, url, raw, JSON)
        if json_schema.get("required"):
            yield Case("body: empty object (required fields missing)", method, url, b"{}", JSON)
            yield Case("body: empty (required fields missing)", method, url, b"", JSON)
            for name in json_schema["required"]:
                missing = {k: v for k, v in encoded.items() if k != name}
                yield Case(f"body: {name} missing", method, url, json_object(missing), JSON)
        if json_schema.get("additionalProperties") is False:
            extra = {**encoded, "zz_unknown_field": "1"}
            yield Case("body: an unknown field", method, url, json_object(extra), JSON)
        for name, property_schema in json_schema.get("properties", {}).items():
            for label, fragment in value_fragments(property_schema):
                members = {**encoded, name: fragment}
                yield Case(f"body: {name}: {label}", method, url, json_object(members), JSON)
    wrong_media_types = {
        "text/plain": base_bytes,
        "application/x-www-form-urlencoded": urllib.parse.urlencode(base or {"a": 1}).encode(),
        "multipart/form-data; boundary=xyz": b"--xyz\r\nContent-Disposition: form-data; "
        b'name="a"\r\n\r\n1\r\n--xyz--\r\n',
        "application/xml": b"<a>1</a>",
        "image/png": b"\x89PNG\r\n\x1a\n",
    }
    for media_type, raw in wrong_media_types.items():
        if media_type.split(";")[0] not in media_types:
            yield Case(f"content type {media_type}", method, url, raw, media_type)
    if "text/plain" in media_types or JSON in media_types:
        yield Case("no content type", method, url, base_bytes, None)


def query_fragments(schema: dict[str, Any]) -> list[tuple[str, str]]:
    """Bad query-string values (already percent-encoded)."""
    schema = resolve(schema)
    kinds = types_of(schema)
    junk = urllib.parse.quote(UNICODE_JUNK)
    values: list[tuple[str, str]] = [("a NUL character", "a%00b"), ("invalid UTF-8", "%ff%fe")]
    if kinds & {"integer", "number"}:
        values += [
            ("not a number", "abc"),
            ("NaN", "NaN"),
            ("Infinity", "Infinity"),
            ("1e999", "1e999"),
            ("a 400-digit integer", "1" + "0" * 400),
            ("unicode junk", junk),
            ("empty", ""),
        ]
        if "integer" in kinds and "number" not in kinds:
            values.append(("a fraction", "1.5"))
        if "maximum" in schema:
            values.append(("above the maximum", str(schema["maximum"] * 10 + 1)))
        if "minimum" in schema:
            values.append(("below the minimum", str(schema["minimum"] - 1)))
    elif "boolean" in kinds:
        values += [("not a boolean", "maybe"), ("unicode junk", junk)]
    elif schema.get("enum") or schema.get("format") in ("uuid", "date-time"):
        values += [("not a choice", "junk"), ("unicode junk", junk), ("empty", "")]
    elif "array" in kinds:
        item = resolve(schema.get("items", {}))
        if types_of(item) & {"integer", "number"}:
            values += [("a list of words", "a,b"), ("NaN in a list", "1,NaN")]
    if "maxLength" in schema:
        values.append(("longer than maxLength", "x" * (schema["maxLength"] + 1)))
    return values


def path_fragments(schema: dict[str, Any]) -> list[tuple[str, str]]:
    schema = resolve(schema)
    values = [
        ("a NUL character", "a%00b"),
        ("unicode junk", urllib.parse.quote(UNICODE_JUNK)),
        ("invalid UTF-8", "%ff%fe"),
        ("5,000 characters", "x" * 5000),
    ]
    if types_of(schema) & {"integer", "number"}:
        values += [
            ("a 400-digit integer", "1" + "0" * 400),
            ("2**63", str(2**63)),
            ("negative", "-1"),
            ("a fraction", "1.5"),
            ("NaN", "NaN"),
        ]
    if schema.get("format") == "uuid":
        values.append(("not a uuid", "00000000-0000-0000-0000-00000000000g"))
    return values


def catalogue(
    method: str,
    path: str,
    operation: dict[str, Any],
    parameters: list[dict[str, Any]],
    known: dict[str, str],
) -> Iterator[Case]:
    """Every bad request for one operation; valid values everywhere but in the place tested."""
    path_values = {
        p["name"]: known.get(p["name"], str(sample(p.get("schema", {}))))
        for p in parameters
        if p["in"] == "path"
    }
    query_params = [p for p in parameters if p["in"] == "query"]
    base_query = {
        p["name"]: str(sample(p.get("schema", {}))) for p in query_params if p.get("required")
    }
    media_types = operation.get("requestBody", {}).get("content", {})
    body = b"{}"
    if JSON in media_types:
        base = sample(resolve(media_types[JSON].get("schema", {})))
        body = json.dumps(base).encode()

    def url(paths: dict[str, str], query: dict[str, str]) -> str:
        filled = path
        for name, value in paths.items():
            filled = filled.replace(f"{{{name}}}", value)
        encoded = "&".join(f"{k}={v}" for k, v in query.items())
        return filled + (f"?{encoded}" if encoded else "")

    def quoted(values: dict[str, str]) -> dict[str, str]:
        return {k: urllib.parse.quote(v, safe="") for k, v in values.items()}

    ok_path = quoted(path_values)
    ok_query = quoted(base_query)
    content_type = JSON if media_types else None
    data = body if media_types else None
    for parameter in parameters:
        name, schema = parameter["name"], parameter.get("schema", {})
        if parameter["in"] == "path":
            for label, value in path_fragments(schema):
                yield Case(
                    f"path {name}: {label}",
                    method,
                    url({**ok_path, name: value}, ok_query),
                    data,
                    content_type,
                )
        elif parameter["in"] == "query":
            for label, value in query_fragments(schema):
                yield Case(
                    f"query {name}: {label}",
                    method,
                    url(ok_path, {**ok_query, name: value}),
                    data,
                    content_type,
                )
            if parameter.get("required"):
                without = {k: v for k, v in ok_query.items() if k != name}
                yield Case(
                    f"query {name}: missing", method, url(ok_path, without), data, content_type
                )
        elif parameter["in"] == "header" and name == "If-None-Match":
            # Any value is a valid condition: one that names no current ETag gets the 200.
            continue
        elif parameter["in"] == "header":
            limit = resolve(schema).get("maxLength", 255)
            for label, value in [("too long", "k" * (limit + 1)), ("empty", "")]:
                yield Case(
                    f"header {name}: {label}",
                    method,
                    url(ok_path, ok_query),
                    data,
                    content_type,
                    {name: value},
                )
    if media_types:
        yield from body_cases(method, url(ok_path, ok_query), media_types)


# --------------------------------------------------------------------------------------------
# Running it


@pytest.fixture
def settings(database_url: str) -> Settings:
    """The suite's usual settings, with a small body limit so that "too large" is cheap."""
    return Settings(
        database_url=database_url,
        secret_key=SECRET_KEY,
        testing=True,
        rate_limits_enabled=False,
        log_level="CRITICAL",
        max_content_length=MAX_CONTENT_LENGTH,
    )


@dataclass
class World:
    """Valid callers and ids, so that only the input under test is wrong."""

    learner: dict[str, str]
    admin: dict[str, str]
    known: dict[str, str]

    def auth_for(self, operation: dict[str, Any]) -> dict[str, str]:
        schemes = {name for requirement in operation.get("security", []) for name in requirement}
        if "learnerToken" in schemes:
            return self.learner
        if "apiKey" in schemes:
            return self.admin
        return {}


@pytest.fixture
def world(app: Flask) -> World:
    with app.extensions["database"].sessionmaker() as session:
        seed_bank(session)
    client = app.test_client()
    learner_id, learner = register(client, "Catalogue")
    slug = "activation-distribution"
    attempt = client.post(f"/v1/quizzes/{slug}/attempts", headers=learner).json
    return World(
        learner=learner,
        admin=api_key(app, "admin"),
        known={
            "attempt_id": attempt["id"],
            "learner_id": learner_id,
            "slug": slug,
            "variant": "batch",
        },
    )


def snapshot(app: Flask) -> str:
    """A digest of every row of every table."""
    digest = hashlib.sha256()
    with app.extensions["database"].engine.connect() as connection:
        for table in metadata.sorted_tables:
            rows = connection.execute(select(table).order_by(*table.primary_key.columns)).all()
            digest.update(f"{table.name}:{rows!r}".encode())
    return digest.hexdigest()


# Operations that take no input at all (no body, query, header or path parameter) have
# nothing to get wrong; they are left out rather than skipped.
OPERATIONS = [op for op in operations() if op[3] or "requestBody" in op[2]]
CASES: dict[str, int] = {}


@pytest.fixture(scope="module", autouse=True)
def report_cases() -> Iterator[None]:
    """Print the figures for the closing note when this module is done (`pytest -s`)."""
    yield
    if CASES:
        print(f"\nbad inputs: {sum(CASES.values())} requests over {len(CASES)} operations")


@pytest.mark.parametrize(
    ("method", "path", "operation", "parameters"),
    OPERATIONS,
    ids=[f"{method} {path}" for method, path, _, _ in OPERATIONS],
)
def test_bad_input_is_a_4xx_problem_and_writes_nothing(
    app: Flask,
    world: World,
    method: str,
    path: str,
    operation: dict[str, Any],
    parameters: list[dict[str, Any]],
) -> None:
    cases = list(catalogue(method, path, operation, parameters, world.known))
    assert cases
    client = app.test_client()
    # A GET must not write either, but one digest at the end is enough to catch it.
    digest_each = method != "GET"
    before = snapshot(app)
    failures = []
    for case in cases:
        headers = {**world.auth_for(operation), **case.headers}
        if case.content_type is not None:
            headers["Content-Type"] = case.content_type
        response = client.open(case.path, method=case.method, data=case.data, headers=headers)
        body = response.get_json(silent=True) if response.mimetype == PROBLEM else None
        problem = isinstance(body, dict) and body.get("status") == response.status_code
        if not (400 <= response.status_code < 500 and problem):
            failures.append(
                f"{case.label}: {response.status_code} {response.mimetype} "
                f"{response.get_data()[:160]!r}"
            )
        if digest_each:
            after = snapshot(app)
            if after != before:
                failures.append(f"{case.label}: {response.status_code}, and the database changed")
            before = after
    if not digest_each and snapshot(app) != before:
        failures.append("the database changed during the GETs")
    CASES[f"{method} {path}"] = len(cases)
    assert not failures, f"{len(failures)} of {len(cases)} bad inputs:\n" + "\n".join(failures)
