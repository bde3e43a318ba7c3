"""The quiz read model: one app's quiz caches, held in one place.

Every quiz cache is a `service.caching.Cache` built here from the app's settings
(`CACHES_ENABLED` turns them all off):

- `quizzes`: built quizzes by content hash. A version's content never changes, so an entry is
  never stale; a hit skips reading and validating the definition.
- `answers`: what generators compute per drawn parameters, for those whose draws repeat (the
  propagation questions' few hundred combinations, asked by every new attempt).
- `rendered`: the GET body of a version (and its ETag's data), by (content hash, version).
- `current`: the current version's rendered body per slug, for `QUIZ_CACHE_SECONDS`. A write
  through this app forgets the slug at once; one through another process or host shows within
  that time. 0 turns this one off (every GET asks the database which version is current).

Services reach the read model through the session (`of_session`): `create_app` puts it in the
`info` of the app's session factories, so any session of the app carries its own caches.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from service.caching import Cache
from service.config import Settings
from service.quizzes import domain
from service.quizzes.bank_schema import load_quiz

SESSION_INFO_KEY = "quiz_read_model"

BUILT_QUIZZES = 256
GENERATED_ANSWERS = 1024
RENDERED_VERSIONS = 256
CURRENT_SLUGS = 512


@dataclass(frozen=True)
class RenderedQuiz:
    """A quiz version's GET body, and the data its ETag is made of: a digest of that body (which
    holds the version number). A function of what is served, so the ETag reveals nothing that
    the body does not, and it changes with every new version, an answer-only change included."""

    body: bytes
    etag_data: str

    @classmethod
    def of(cls, body: bytes) -> RenderedQuiz:
        return cls(body, hashlib.sha256(body).hexdigest()[:32])


class QuizReadModel:
    """The caches above, and how a built quiz gets its memos."""

    def __init__(
        self,
        *,
        enabled: bool = True,
        current_seconds: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quizzes: Cache[str, domain.Quiz] = Cache(BUILT_QUIZZES, enabled=enabled)
        self.answers: Cache[Hashable, Any] = Cache(GENERATED_ANSWERS, enabled=enabled)
        self.rendered: Cache[tuple[str, int], RenderedQuiz] = Cache(
            RENDERED_VERSIONS, enabled=enabled
        )
        self.current: Cache[str, RenderedQuiz] = Cache(
            CURRENT_SLUGS, ttl=current_seconds, timer=clock, enabled=enabled
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> QuizReadModel:
        return cls(enabled=settings.caches_enabled, current_seconds=settings.quiz_cache_seconds)

    def attach(self, *factories: sessionmaker[Session] | None) -> None:
        """Make every session of these factories carry this read model (see `of_session`)."""
        for factory in factories:
            if factory is not None:
                factory.configure(info={SESSION_INFO_KEY: self})

    def quiz(self, digest: str, definition: Callable[[], Mapping[str, Any]]) -> domain.Quiz:
        """The built quiz whose content hash is `digest`; `definition()` is read on a miss."""
        return self.quizzes.get_or_build(digest, lambda: self._build(digest, definition()))

    def render(self, digest: str, version: int, render: Callable[[], bytes]) -> RenderedQuiz:
        """The rendered GET body of version `version` (content hash `digest`)."""
        return self.rendered.get_or_build((digest, version), lambda: RenderedQuiz.of(render()))

    def _build(self, digest: str, definition: Mapping[str, Any]) -> domain.Quiz:
        quiz = load_quiz(definition)
        if not self.quizzes.enabled:
            return quiz
        questions = tuple(
            question
            if question.generator is None
            else replace(question, generator=question.generator.remembering(self.answers))
            for question in quiz.questions
        )
        return replace(quiz, questions=questions)


def of_session(session: Session) -> QuizReadModel:
    """The read model of the app whose session factory made `session`."""
    model = session.info.get(SESSION_INFO_KEY)
    if not isinstance(model, QuizReadModel):
        raise LookupError(
            "this session carries no quiz read model: make sessions with the app's "
            "Database factories (create_app attaches the model to them)"
        )
    return model
