"""Contract fuzzing: Schemathesis drives every operation of the committed openapi.yaml against the
app (WSGI, in-process) and checks that no answer is a 5xx and that each answer's status, content
type and body conform to the document.

Requests carry real credentials (a learner bearer token for operations learners may call, an
admin API key for the others, both alternately where either is allowed) on a database seeded
with the lesson bank, so the fuzzer gets past authentication into validation and the services;
one case in ANONYMOUS_EVERY goes without any (public operations get a learner token then
instead). Each operation must be reached: some answer past authentication (neither 401 nor
403), and for a protected operation a 401 for the anonymous caller.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from flask import Flask
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from service import create_app
from service.auth.services import create_api_key
from service.config import Settings
from service.lti.instructor_token import InstructorScope
from service.lti.instructor_token import issue as issue_instructor_token
from service.quizzes.services import seed_bank
from tests.backends import BACKENDS
from tests.reliability.servers import SECRET_KEY, fresh_database

pytestmark = pytest.mark.slow

OPENAPI = Path(__file__).resolve().parents[2] / "openapi.yaml"
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
]
MAX_EXAMPLES = 50

# .npy / .npz bodies are bytes on the wire, sent as generated (mostly not valid arrays).
schemathesis.serializer.alias(
    ["application/x-npy", "application/x-npz"], "application/octet-stream"
)
schema = schemathesis.openapi.from_path(OPENAPI)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=MAX_EXAMPLES,
    deterministic=True,  # the same cases every run: a failure is reproducible
)

#: cases run per operation and backend, reported at the end of the module
CASES: Counter[str] = Counter()


#: one case in this many swaps credentials (protected: none; public: a learner token)
ANONYMOUS_EVERY = 5


class Credentials:
    """A fresh learner token, the admin API key and an instructor token (of a course the
    database does not hold: the instructor API answers 404 past authentication); handed out
    by each operation's security, and what each kind of caller was answered."""

    def __init__(self, app: Flask, api_key: str) -> None:
        registered = app.test_client().post("/v1/learners", json={"display_name": "Fuzz"}).json
        self.token = registered["token"]
        self.api_key = api_key
        scope = InstructorScope(1, 1, "fuzz-course", "fuzz-quiz", None, "fuzz-instructor")
        self.instructor_token = issue_instructor_token(
            scope, secret_key=SECRET_KEY, issuer="https://lab.example.org", ttl_seconds=3600
        )
        self._turns = itertools.count()
        self.answered: Counter[tuple[str, int]] = Counter()  # (caller, status) -> cases
        self.operation: Any = None

    @staticmethod
    def schemes(operation: Any) -> set[str]:
        return {
            name
            for requirement in operation.definition.raw.get("security", [])
            for name in requirement
        }

    def headers_for(self, operation: Any) -> tuple[str, dict[str, str]]:
        """(caller, headers): "learner", "api-key", "instructor" or "anonymous"."""
        schemes = self.schemes(operation)
        turn = next(self._turns)
        swap = turn % ANONYMOUS_EVERY == ANONYMOUS_EVERY - 1
        learner = ("learner", {"Authorization": f"Bearer {self.token}"})
        key = ("api-key", {"X-API-Key": self.api_key})
        if not schemes:
            return learner if swap else ("anonymous", {})
        if swap:
            return "anonymous", {}
        if "ltiInstructorToken" in schemes:
            return "instructor", {"Authorization": f"Bearer {self.instructor_token}"}
        if {"learnerToken", "apiKey"} <= schemes:
            return learner if turn % 2 else key
        return learner if "learnerToken" in schemes else key

    def check_reached(self, operation: Any) -> None:
        """The operation was reached past authentication; a protected one answered the anonymous
        caller 401 and never a success (a malformed path may be a 404 before that)."""
        label = operation.label
        past_auth = [status for (_, status) in self.answered if status not in (401, 403)]
        assert past_auth, f"{label}: every case was refused authentication: {self.answered}"
        if self.schemes(operation):
            anonymous = {status for (caller, status) in self.answered if caller == "anonymous"}
            assert 401 in anonymous, f"{label}: anonymous callers got {anonymous}"
            assert not any(status < 400 for status in anonymous), (
                f"{label}: an anonymous caller succeeded: {anonymous}"
            )


@pytest.fixture(scope="module", autouse=True)
def report_cases() -> Iterator[None]:
    """Print the figures for the closing note when this module is done (`pytest -s`)."""
    yield
    for backend in sorted({label.rsplit("(", 1)[1].rstrip(")") for label in CASES}):
        ran = {label: n for label, n in CASES.items() if label.endswith(f"({backend})")}
        print(f"\nschemathesis on {backend}: {len(ran)} operations, {sum(ran.values())} cases")


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def fuzz_backend(request: pytest.FixtureRequest) -> str:
    if request.param not in BACKENDS:
        pytest.skip("TEST_DATABASE_URL is not set to a PostgreSQL database")
    return str(request.param)


@pytest.fixture(scope="module")
def fuzz_app(
    fuzz_backend: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Flask, str]]:
    """One seeded app per backend for the whole module (operations see each other's writes,
    as clients of one service do), with an admin API key."""
    with fresh_database(fuzz_backend, tmp_path_factory.mktemp("fuzz")) as url:
        application = create_app(
            Settings(
                database_url=url,
                secret_key=SECRET_KEY,
                testing=True,
                rate_limits_enabled=False,
                log_level="CRITICAL",
                # production mode (the default) refuses LTI URLs without it (503)
                public_base_url="https://lab.example.org",
                max_training_cost=1e8,  # fuzzed training runs stay within ~0.1 s each
            )
        )
        database = application.extensions["database"]
        with database.sessionmaker() as session:
            seed_bank(session)
        with database.sessionmaker() as session:
            _, api_key = create_api_key(session, "fuzz", "admin", SECRET_KEY)
        yield application, api_key
        database.dispose()


@pytest.fixture
def credentials(fuzz_app: tuple[Flask, str]) -> Iterator[Credentials]:
    """Per operation (one pytest item runs all its cases); afterwards: it was reached."""
    credentials = Credentials(*fuzz_app)
    yield credentials
    if credentials.operation is not None:
        credentials.check_reached(credentials.operation)


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_conforms(
    case: schemathesis.Case,
    fuzz_app: tuple[Flask, str],
    fuzz_backend: str,
    credentials: Credentials,
) -> None:
    CASES[f"{case.operation.label} ({fuzz_backend})"] += 1
    credentials.operation = case.operation
    caller, headers = credentials.headers_for(case.operation)
    response = case.call_and_validate(app=fuzz_app[0], headers=headers, checks=CHECKS)
    if case.method.upper() == case.operation.method.upper():  # not a negative method (OPTIONS)
        credentials.answered[caller, response.status_code] += 1
