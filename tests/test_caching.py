"""The one cache type: bounded (entries or sizes), optionally timed, switchable off."""

from __future__ import annotations

import threading

from service.caching import Cache


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_the_least_recently_used_entry_goes_first() -> None:
    cache: Cache[str, int] = Cache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    assert cache.get("a") == 1  # now the most recent
    cache.put("c", 3)
    assert cache.get("b") is None
    assert (cache.get("a"), cache.get("c"), len(cache)) == (1, 3, 2)


def test_a_size_bound_counts_sizes_and_skips_values_above_the_entry_limit() -> None:
    cache: Cache[str, bytes] = Cache(100, sizeof=len, max_entry_size=60)
    cache.put("a", b"x" * 40)
    cache.put("b", b"x" * 40)
    assert cache.size == 80
    cache.get("a")
    cache.put("c", b"x" * 40)  # 120 > 100: the least recent (b) goes
    assert cache.get("b") is None
    assert cache.size == 80
    cache.put("big", b"x" * 61)
    assert cache.get("big") is None
    cache.put("c", b"yy")  # replacing an entry counts its new size only
    assert cache.size == 42


def test_entries_with_a_ttl_expire_on_the_given_clock() -> None:
    clock = Clock()
    cache: Cache[str, str] = Cache(10, ttl=2.0, timer=clock)
    cache.put("a", "v")
    clock.now += 1.999
    assert cache.get("a") == "v"
    clock.now += 0.001
    assert cache.get("a") is None


def test_a_disabled_cache_keeps_nothing() -> None:
    for cache in (Cache(10, enabled=False), Cache(0), Cache(10, ttl=0)):
        cache.put("a", 1)
        assert cache.get("a") is None
        assert (len(cache), cache.size, cache.enabled) == (0, 0, False)
        assert cache.get_or_build("a", lambda: 2) == 2
        cache.forget("a")
        cache.clear()


def test_get_or_build_builds_once_and_forget_drops() -> None:
    cache: Cache[str, list[int]] = Cache(10)
    calls: list[int] = []

    def build() -> list[int]:
        calls.append(1)
        return [len(calls)]

    first = cache.get_or_build("k", build)
    assert cache.get_or_build("k", build) is first
    assert calls == [1]
    cache.forget("k")
    assert cache.get_or_build("k", build) == [2]
    cache.clear()
    assert len(cache) == 0


def test_threads_share_a_cache_without_corrupting_it() -> None:
    cache: Cache[int, int] = Cache(64)
    errors: list[BaseException] = []

    def hammer(offset: int) -> None:
        try:
            for i in range(5_000):
                key = (i * 7 + offset) % 200
                cache.get_or_build(key, lambda key=key: key * 2)  # type: ignore[misc]
                assert cache.get(key) in (None, key * 2)
        except BaseException as error:  # pragma: no cover - reported below
            errors.append(error)

    threads = [threading.Thread(target=hammer, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(cache) == 64
