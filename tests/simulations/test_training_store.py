"""The result store: keys are a digest of the normalized spec (a default given or left out is
the same run), events survive the store byte for byte, and with REDIS_URL two apps (two
processes) share finished runs: the second replays the first's bytes in every representation."""

from __future__ import annotations

import random
from collections.abc import Iterator

import orjson
import pytest
from flask import Flask
from hypothesis import given
from hypothesis import strategies as st

from service import create_app
from service.config import Settings
from service.numerics.training import build_training_spec
from service.simulations.training_events import spec_echo
from service.simulations.training_store import PREFIX, RunKeys, decode_events, encode_events
from tests.simulations.test_training_routes import SPEC, URL

REDIS_URL = "redis://127.0.0.1:6379/0"
json_values = st.recursive(
    st.none() | st.booleans() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
    max_leaves=20,
)


@given(st.lists(st.tuples(st.sampled_from(["start", "step", "summary", "error"]), json_values)))
def test_events_survive_the_store_byte_for_byte(items: list[tuple[str, object]]) -> None:
    events = [(name, orjson.dumps(value)) for name, value in items]
    if events:
        assert list(decode_events(encode_events(events))) == events


def test_a_default_given_or_left_out_is_the_same_run() -> None:
    keys = RunKeys()
    implicit = keys.key(spec_echo(build_training_spec(**SPEC)))
    explicit = keys.key(spec_echo(build_training_spec(**SPEC, eps=1e-5, histogram_bins=40)))
    assert implicit == explicit
    assert RunKeys().key(spec_echo(build_training_spec(**SPEC))) == implicit
    assert keys.key(spec_echo(build_training_spec(**{**SPEC, "seed": 4}))) != implicit


@pytest.fixture
def redis_apps(settings: Settings) -> Iterator[tuple[Flask, Flask, list[str]]]:
    """Two apps on one Redis, and a list of run keys the test used (deleted afterwards)."""
    redis = pytest.importorskip("redis")
    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1)
    try:
        client.ping()
    except redis.RedisError:
        pytest.skip("no Redis at 127.0.0.1:6379")
    first, second = (create_app(settings.with_overrides(redis_url=REDIS_URL)) for _ in range(2))
    used: list[str] = []
    yield first, second, used
    for app in (first, second):
        app.extensions["database"].dispose()
    for key in used:
        for name in client.scan_iter(f"{PREFIX}*:{key}"):
            client.delete(name)


@pytest.mark.parametrize("accept", ["application/json", "text/event-stream", "application/x-npz"])
def test_with_redis_a_second_process_replays_the_first_ones_run(
    redis_apps: tuple[Flask, Flask, list[str]], accept: str
) -> None:
    first, second, used = redis_apps
    spec = {**SPEC, "seed": random.SystemRandom().randrange(2**62)}  # not stored by a past run
    used.append(first.extensions["trainer"].keys.key(spec_echo(build_training_spec(**spec))))
    headers = {"Accept": accept}
    computed = first.test_client().post(URL, json=spec, headers=headers).data
    replayed = second.test_client().post(URL, json=spec, headers=headers).data
    assert computed == replayed
    assert first.extensions["trainer"].runs.computed == 1
    assert second.extensions["trainer"].runs.computed == 0
    assert second.extensions["trainer"].runs.replayed == 1
