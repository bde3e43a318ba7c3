"""The bad-input catalogue, part two: reproductions found by hand (issue 20's adversarial review),
each sent as its reporter sent it. test_bad_inputs.py generates its cases from openapi.yaml; these
need a particular body that no generator would build (a 0-d .npy, a GIFT weight `%.%`, ...).

Each case asserts the status, the problem type, a phrase of the detail (and the field or limit it
names), and that the database is unchanged, on every backend.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
from flask import Flask

from tests.backends import all_backends
from tests.payloads import npy, npz
from tests.reliability.test_bad_inputs import World, settings, snapshot, world

pytestmark = all_backends
__all__ = ["settings", "world"]  # fixtures shared with the generated catalogue

PROBLEM = "application/problem+json"
TYPE = "urn:activation-lab:problem:"
PROPAGATION = "/v1/simulations/propagation"
IMPORT = "/v1/quizzes/import?format="


def gift(answer: str, title: str = "Q") -> bytes:
    return f"::{title}:: What is it? {{{answer}}}\n\n".encode()


def moodle(fraction: str = "100", numeric: str | None = None) -> bytes:
    if numeric is not None:
        body = f'<answer fraction="100"><text>{numeric}</text><tolerance>0</tolerance></answer>'
        kind = "numerical"
    else:
        body = (
            f'<answer fraction="{fraction}"><text>a</text></answer>'
            '<answer fraction="0"><text>b</text></answer>'
        )
        kind = "multichoice"
    return (
        f'<quiz><question type="{kind}"><name><text>Q</text></name>'
        f"<questiontext><text>What?</text></questiontext>{body}</question></quiz>"
    ).encode()


@dataclass(frozen=True)
class Reproduction:
    label: str
    method: str
    path: str
    body: bytes | Callable[[], bytes]
    content_type: str
    status: int
    problem_type: str  # the slug after urn:activation-lab:problem:
    detail: str  # a phrase the detail contains
    field: str | None = None  # the key of `errors`, when the problem has one
    limit: str | None = None  # limit.name, when a limit refused it
    auth: str = "none"  # "admin": an author's API key
    headers: tuple[tuple[str, str], ...] = ()


REPRODUCTIONS = [
    # -- simulations: memory and work bounded separately ------------------------------------
    Reproduction(
        "Monte Carlo 10,000 x width 1 x batch 2,000,000 (ran 168 s)",
        "POST",
        PROPAGATION,
        b'{"mode":"monte_carlo","depth":10000,"width":1,"batch_size":2000000,"weight_variance":1}',
        "application/json",
        422,
        "limit-exceeded",
        "MAX_SIMULATION_WORK",
        field="batch_size",
        limit="MAX_SIMULATION_WORK",
    ),
    Reproduction(
        "Monte Carlo depth 1, width 100,000, batch 2 (a 500: 74.5 GiB)",
        "POST",
        PROPAGATION,
        b'{"mode":"monte_carlo","depth":1,"width":100000,"batch_size":2,"weight_variance":1}',
        "application/json",
        422,
        "limit-exceeded",
        "MAX_SIMULATION_MEMORY",
        field="width",
        limit="MAX_SIMULATION_MEMORY",
    ),
    # -- normalization --------------------------------------------------------------------
    Reproduction(
        "a 0-d .npy to layer norm (a 500)",
        "POST",
        "/v1/normalize/layer",
        lambda: npy(np.array(1.0, dtype=np.float32)),
        "application/x-npy",
        422,
        "validation-error",
        "input must have at least one dimension",
        field="input",
    ),
    Reproduction(
        "a 0-d .npy to rms norm (a 500)",
        "POST",
        "/v1/normalize/rms",
        lambda: npy(np.array(2.0)),
        "application/x-npy",
        422,
        "validation-error",
        "input must have at least one dimension",
        field="input",
    ),
    Reproduction(
        "a backward .npz without grad_output (a 500)",
        "POST",
        "/v1/normalize/batch/backward",
        lambda: npz(input=np.ones((4, 3), dtype=np.float32)),
        "application/x-npz",
        422,
        "validation-error",
        "the backward pass needs grad_output",
        field="grad_output",
    ),
    Reproduction(
        "num_batches_tracked beyond 64 bits (a 500)",
        "POST",
        "/v1/normalize/batch",
        b'{"input": [[1, 2], [3, 4]], "num_batches_tracked": %d}' % 2**70,
        "application/json",
        422,
        "validation-error",
        "num_batches_tracked",
        field="num_batches_tracked",
    ),
    Reproduction(
        "num_batches_tracked at int64's maximum (one more would overflow torch's counter)",
        "POST",
        "/v1/normalize/batch",
        b'{"input": [[1, 2], [3, 4]], "num_batches_tracked": %d}' % (2**63 - 1),
        "application/json",
        422,
        "validation-error",
        "num_batches_tracked",
        field="num_batches_tracked",
    ),
    Reproduction(
        "a backward pass whose gradient overflows float32 (was 200 with nulls)",
        "POST",
        "/v1/normalize/layer/backward",
        b'{"input": [[1, 2, 3], [3, 4, 9]], "grad_output": [[3e38, -3e38, 3e38], '
        b"[3e38, 3e38, -3e38]]}",
        "application/json",
        422,
        "non-finite-result",
        "the gradient overflows float32",
    ),
    # -- imports: bounded numbers, media types, text -----------------------------------------
    Reproduction(
        "GIFT numeric 1e999999999 (held a worker until it was killed)",
        "POST",
        IMPORT + "gift",
        gift("#1e999999999"),
        "text/plain",
        422,
        "validation-error",
        "decimal exponents are limited to ±1000",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "GIFT numeric 1e5000",
        "POST",
        IMPORT + "gift",
        gift("#1e5000:1"),
        "text/plain",
        422,
        "validation-error",
        "'1e5000' cannot be read",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "GIFT numeric of 5,000 digits",
        "POST",
        IMPORT + "gift",
        gift("#" + "9" * 5000),
        "text/plain",
        422,
        "validation-error",
        "cannot be read",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "GIFT weight %.%",
        "POST",
        IMPORT + "gift",
        gift("~%.%a =b"),
        "text/plain",
        422,
        "validation-error",
        "weight '.' is not a decimal number",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "GIFT weight %500%",
        "POST",
        IMPORT + "gift",
        gift("~%500%a ~%-50%b"),
        "text/plain",
        422,
        "validation-error",
        "must be between -100 and 100",
        field="body",
        auth="admin",
    ),
    Reproduction(
        'Moodle XML fraction="NaN"',
        "POST",
        IMPORT + "moodle-xml",
        moodle(fraction="NaN"),
        "application/xml",
        422,
        "validation-error",
        "the answer fraction 'NaN' is not a decimal number",
        field="body",
        auth="admin",
    ),
    Reproduction(
        'Moodle XML fraction="Infinity"',
        "POST",
        IMPORT + "moodle-xml",
        moodle(fraction="Infinity"),
        "application/xml",
        422,
        "validation-error",
        "is not a decimal number",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "Moodle XML numerical answer 1e5000",
        "POST",
        IMPORT + "moodle-xml",
        moodle(numeric="1e5000"),
        "application/xml",
        422,
        "validation-error",
        "decimal exponents are limited",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "JSON import: a title with a lone surrogate",
        "POST",
        IMPORT + "json",
        b'{"slug": "s", "title": "T\\ud800", "questions": []}',
        "application/json",
        422,
        "validation-error",
        "title holds a lone surrogate",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "JSON import: an answer 1e5000",
        "POST",
        IMPORT + "json",
        b'{"slug": "s", "title": "T", "questions": [{"id": "a", "type": "numeric", '
        b'"prompt": "p", "answer": 1e5000}]}',
        "application/json",
        422,
        "validation-error",
        "beyond the double range",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "JSON import: NaN",
        "POST",
        IMPORT + "json",
        b'{"slug": "s", "title": "T", "questions": [], "x": NaN}',
        "application/json",
        422,
        "validation-error",
        "NaN is not a JSON number",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "import sent as image/png (accepted on SQLite, refused on PostgreSQL)",
        "POST",
        IMPORT + "gift",
        gift("=a ~b"),
        "image/png",
        415,
        "unsupported-media-type",
        "a gift import is sent as text/plain, not image/png",
        auth="admin",
    ),
    Reproduction(
        "import of invalid UTF-8",
        "POST",
        IMPORT + "gift",
        b"::Q\xff:: What? {=a ~b}\n",
        "text/plain",
        422,
        "validation-error",
        "the body is not UTF-8 text: byte 3 (0xff) is invalid",
        field="body",
        auth="admin",
    ),
    Reproduction(
        "import holding NUL",
        "POST",
        IMPORT + "gift",
        b"::Q\x00:: What? {=a ~b}\n",
        "text/plain",
        422,
        "validation-error",
        "NUL character (U+0000) at offset 3",
        field="body",
        auth="admin",
    ),
    Reproduction(
        # (20,000 took 32 s of id de-duplication; tests/quizzes sends those under the default
        # body limit, this suite's is 64 KiB.)
        "GIFT with 2,000 same-titled questions",
        "POST",
        IMPORT + "gift",
        lambda: gift("T", title="Same") * 2_000,
        "text/plain",
        422,
        "validation-error",
        "the file has 2000 questions; a quiz holds at most 100",
        field="body",
        auth="admin",
    ),
]


@pytest.mark.parametrize("case", REPRODUCTIONS, ids=[case.label for case in REPRODUCTIONS])
def test_reproduction_is_a_4xx_problem_and_writes_nothing(
    app: Flask, world: World, case: Reproduction
) -> None:
    headers: dict[str, Any] = {"Content-Type": case.content_type, **dict(case.headers)}
    if case.auth == "admin":
        headers.update(world.admin)
    before = snapshot(app)
    body = case.body() if callable(case.body) else case.body
    response = app.test_client().open(case.path, method=case.method, data=body, headers=headers)
    assert response.status_code == case.status, response.get_data()[:300]
    assert response.mimetype == PROBLEM
    problem = response.json
    assert problem["status"] == case.status
    assert problem["type"] == TYPE + case.problem_type
    assert case.detail in problem["detail"]
    if case.field is not None:
        assert case.field in problem["errors"], problem
    if case.limit is not None:
        assert problem["limit"]["name"] == case.limit
    assert snapshot(app) == before


def test_an_idempotency_key_reused_with_another_body_is_422_and_writes_nothing(
    app: Flask, world: World
) -> None:
    """Was: the old result replayed, as if the other answers had been graded."""
    client = app.test_client()
    slug = world.known["slug"]
    attempt = client.post(f"/v1/quizzes/{slug}/attempts", headers=world.learner).json
    if "id" not in attempt:  # the world's learner already holds the open attempt
        attempt = {"id": world.known["attempt_id"]}
    url = f"/v1/attempts/{attempt['id']}/submission"
    headers = {**world.learner, "Idempotency-Key": "retry-1"}
    first = client.post(url, json={"answers": {}}, headers=headers)
    assert first.status_code == 200, first.json
    before = snapshot(app)
    replay = client.post(url, json={"answers": {}}, headers=headers)
    assert replay.status_code == 200
    assert replay.headers["Idempotent-Replayed"] == "true"
    reused = client.post(url, json={"answers": {"q1": "1"}}, headers=headers)
    assert reused.status_code == 422
    assert reused.mimetype == PROBLEM
    assert reused.json["type"] == TYPE + "idempotency-key-reused"
    assert "a retry must repeat its request exactly" in reused.json["detail"]
    assert reused.json["errors"] == {"Idempotency-Key": ["was used with other answers"]}
    assert snapshot(app) == before
