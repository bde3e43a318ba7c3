"""Domain events that learners publish, and the bus that hands them to subscribers.

Subscribers are registered at the composition root (`create_app`): learners knows none of them.
`publish` runs them in order inside the publisher's transaction, on its session, so what they
write (xAPI statements, outbox messages) commits exactly when the event does, and exactly once;
a subscriber that raises rolls the whole use case back. Subscribers talk to no network.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy.orm import Session

from service.learners.repository import AttemptContext, AttemptRow
from service.quizzes import domain


@dataclass(frozen=True)
class AttemptSubmitted:
    """An attempt was graded and closed (published once, by the submission that won)."""

    attempt: AttemptRow
    context: AttemptContext
    quiz: domain.Quiz
    result: dict[str, Any]  # as stored: GradeResult.to_dict()
    answers: dict[str, Any]
    submitted_at: datetime


@dataclass(frozen=True)
class LearnerDeleted:
    """A learner is being deleted (published before the rows go, inside the same transaction);
    their attempts, tokens and statements go with them by cascading foreign keys."""

    learner_id: uuid.UUID


E = TypeVar("E")
Subscriber = Callable[[Session, E], None]


class LearnerEvents:
    """Subscribers by event type, in the order they were registered."""

    def __init__(self) -> None:
        self._subscribers: dict[type[Any], list[Subscriber[Any]]] = {}

    def subscribe(self, event_type: type[E], subscriber: Subscriber[E]) -> None:
        self._subscribers.setdefault(event_type, []).append(subscriber)

    def publish(self, session: Session, event: object) -> None:
        """Run the event's subscribers inside the caller's transaction."""
        for subscriber in self._subscribers.get(type(event), ()):
            subscriber(session, event)
