"""The quiz GET's answer, kept briefly in each process.

`GET /v1/quizzes/{slug}` is the hottest read (every learner's first request, and the page's), and
its body depends only on the quiz's current version. Each process keeps (ETag, body) per slug
for QUIZ_CACHE_SECONDS: a write through this process forgets the slug at once, one through
another process or host shows within that time. The database stays the only state; 0 turns the
cache off.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

MAX_ENTRIES = 512


@dataclass(frozen=True)
class RenderedQuiz:
    etag: str  # unquoted
    body: bytes


class PreviewCache:
    """slug -> RenderedQuiz for `ttl` seconds (monotonic clock), at most MAX_ENTRIES slugs."""

    def __init__(
        self,
        ttl: float,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_entries: int = MAX_ENTRIES,
    ) -> None:
        self.ttl = ttl
        self.clock = clock
        self.max_entries = max_entries
        self._entries: dict[str, tuple[float, RenderedQuiz]] = {}

    def get(self, slug: str) -> RenderedQuiz | None:
        entry = self._entries.get(slug)
        if entry is None:
            return None
        expires, rendered = entry
        if self.clock() >= expires:
            self._entries.pop(slug, None)
            return None
        return rendered

    def put(self, slug: str, rendered: RenderedQuiz) -> None:
        if self.ttl <= 0:
            return
        if len(self._entries) >= self.max_entries:
            self._entries.clear()  # quizzes are few: this only bounds pathological churn
        self._entries[slug] = (self.clock() + self.ttl, rendered)

    def forget(self, slug: str) -> None:
        self._entries.pop(slug, None)
