"""Fixtures: a running test LMS and the tool registered with it (key, platform, quiz)."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from service.auth.models import LearnerToken
from service.learners.models import Attempt, Learner
from service.lti.keys import generate_key
from service.lti.models import LtiLaunchContext, LtiLaunchData
from service.lti.storage import redis_client
from service.outbox.models import OutboxMessage
from service.xapi.models import XapiStatement
from tests.factories import ALL_RIGHT, api_key, seed_sample
from tests.lti.platform import KeyPair, Lms, launch_form, make_key_pair, serve

QUIZ = "sample-quiz"
TARGET = f"http://localhost/lti/launch?quiz={QUIZ}"
COUNTED = {
    "learners": Learner,
    "learner_tokens": LearnerToken,
    "attempts": Attempt,
    "lti_launch_contexts": LtiLaunchContext,
    "lti_launch_data": LtiLaunchData,
    "outbox_messages": OutboxMessage,
    "xapi_statements": XapiStatement,
}


@pytest.fixture(scope="session")
def platform_keys() -> KeyPair:
    return make_key_pair()


@pytest.fixture(scope="session")
def attacker_keys() -> KeyPair:
    return make_key_pair()


@pytest.fixture
def lms(platform_keys: KeyPair) -> Iterator[Lms]:
    yield from serve(Lms(platform_keys))


@dataclass(frozen=True)
class Tool:
    app: Flask
    client: FlaskClient
    admin: dict[str, str]
    platform_id: int


@pytest.fixture
def tool(app: Flask, client: FlaskClient, lms: Lms) -> Tool:
    """The tool with a signing key, the LMS registered through the admin API, a quiz seeded,
    and the LMS holding the tool's JWKS (as an LMS admin would configure it)."""
    with app.extensions["database"].sessionmaker() as session:
        generate_key(session, app.config["SECRET_KEY"])
    admin = api_key(app, "admin")
    created = client.post("/v1/lti/platforms", json=lms.admin_registration(), headers=admin)
    assert created.status_code == 201, created.json
    seed_sample(app, QUIZ)
    lms.tool_jwks = client.get("/lti/jwks").json
    return Tool(app, client, admin, created.json["id"])


def row_counts(app: Flask) -> dict[str, int]:
    with app.extensions["database"].sessionmaker() as session, session.begin():
        return {
            name: session.scalar(select(func.count()).select_from(model)) or 0
            for name, model in COUNTED.items()
        }


def launch_and_submit(
    tool: Tool,
    lms: Lms,
    answers: dict[str, Any] | None = None,
    *,
    user_id: str = "lms-user-42",
    **launch: Any,
) -> str:
    """Launch as a learner, open the attempt and submit it; the attempt id."""
    response = launch_form(tool.client, lms, TARGET, user_id=user_id, **launch).post(tool.client)
    assert response.status_code == 303, response.get_data(as_text=True)
    fragment = dict(parse_qsl(urlsplit(response.headers["Location"]).fragment))
    bearer = {"Authorization": f"Bearer {fragment['token']}"}
    attempt = tool.client.post(f"/v1/quizzes/{QUIZ}/attempts", headers=bearer).json
    submitted = tool.client.post(
        f"/v1/attempts/{attempt['id']}/submission",
        json={"answers": ALL_RIGHT if answers is None else answers},
        headers=bearer,
    )
    assert submitted.status_code == 200, submitted.json
    return str(attempt["id"])


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A throwaway redis-server on 127.0.0.1 (skipped where Redis is not installed)."""
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    port = _free_port()
    workdir: Path = tmp_path_factory.mktemp("redis")
    process = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
         "--dir", str(workdir)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )  # fmt: skip
    url = f"redis://127.0.0.1:{port}/0"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                redis_client(url).ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)
