"""The platform's key set is fetched through an HTTP cache that follows its Cache-Control and
ETag, and fetched again when a launch is signed with a key the cached set lacks (rotation)."""

from __future__ import annotations

import pytest

from service.lti.jwks import BoundedHttpCache
from tests.backends import all_backends
from tests.lti.conftest import TARGET, Tool
from tests.lti.platform import Lms, launch_form, make_key_pair


def _launch(tool: Tool, lms: Lms) -> int:
    return int(launch_form(tool.client, lms, TARGET).post(tool.client).status_code)


@all_backends
def test_a_fresh_key_set_is_fetched_once(tool: Tool, lms: Lms) -> None:
    assert [_launch(tool, lms) for _ in range(3)] == [303, 303, 303]
    assert lms.jwks_requests == [(None, 200)]


@all_backends
def test_a_stale_key_set_is_revalidated_with_its_etag(tool: Tool, lms: Lms) -> None:
    lms.jwks_cache_control = "no-cache"
    assert [_launch(tool, lms) for _ in range(2)] == [303, 303]
    [(first_tag, first), (second_tag, second)] = lms.jwks_requests
    assert (first_tag, first) == (None, 200)
    assert second_tag is not None
    assert second == 304


@all_backends
def test_a_rotated_key_is_fetched_at_once_despite_the_cache(tool: Tool, lms: Lms) -> None:
    assert _launch(tool, lms) == 303
    lms.keys = make_key_pair()  # the platform rotates: new kid, new JWKS, same max-age
    assert _launch(tool, lms) == 303
    assert [status for _, status in lms.jwks_requests] == [200, 200]
    assert lms.jwks_requests[1][0] is not None  # the refetch was conditional
    assert _launch(tool, lms) == 303
    assert len(lms.jwks_requests) == 2  # the new set is cached in turn


@all_backends
def test_a_key_missing_even_after_the_refetch_is_refused(tool: Tool, lms: Lms) -> None:
    assert _launch(tool, lms) == 303
    rotated = launch_form(tool.client, lms, TARGET, keys=make_key_pair())
    response = rotated.post(tool.client)
    assert response.status_code == 403
    assert "Unable to find public key" in response.json["detail"]
    assert len(lms.jwks_requests) == 2


@pytest.mark.parametrize("enabled", [True, False])
def test_the_bounded_http_cache_keeps_bytes_until_forgotten(enabled: bool) -> None:
    cache = BoundedHttpCache(enabled=enabled, max_bytes=10)
    cache.set("a", b"12345")
    cache.set("too-big", b"x" * 11)
    assert cache.get("a") == (b"12345" if enabled else None)
    assert cache.get("too-big") is None
    cache.delete("a")
    assert cache.get("a") is None


def test_with_redis_every_process_shares_the_cached_key_set(redis_url: str, lms: Lms) -> None:
    """Two workers (two sessions on one Redis): the second reads what the first fetched."""
    from service.lti.jwks import platform_session
    from service.lti.storage import redis_client

    client = redis_client(redis_url)
    client.flushdb()
    first, second = platform_session(client), platform_session(client)
    assert first.get(lms.jwks_url).json() == second.get(lms.jwks_url).json()
    assert lms.jwks_requests == [(None, 200)]
    assert any(key.startswith(b"activation-lab:lti-http:") for key in client.scan_iter())
