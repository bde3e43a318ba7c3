"""The xAPI side of a submission: AttemptSubmitted -> statements stored, and queued for the LRS
when one is configured. Registered at the composition root with its configuration."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from service.learners.events import AttemptSubmitted
from service.xapi.forwarding import enqueue_statements
from service.xapi.services import record_statements
from service.xapi.statements import (
    DEFAULT_HOME,
    Actor,
    Submission,
    build_statements,
    outcomes_from_result,
)


@dataclass(frozen=True)
class StatementRecorder:
    """Records a submission's statements inside its transaction. `base_url` (PUBLIC_BASE_URL)
    makes the activity ids; `forward` (XAPI_LRS_URL is set) queues them for the LRS."""

    base_url: str | None
    forward: bool

    def __call__(self, session: Session, event: AttemptSubmitted) -> None:
        attempt, context, result = event.attempt, event.context, event.result
        submission = Submission(
            attempt_id=attempt.id,
            attempt_number=attempt.attempt_number,
            quiz_slug=context.slug,
            quiz_title=context.title,
            started_at=attempt.started_at,
            submitted_at=event.submitted_at,
            score=float(result["score"]),
            max_score=float(result["max_score"]),
            passed=bool(result["passed"]),
            questions=outcomes_from_result(
                result,
                event.answers,
                {q.id: (q.type, q.prompt or q.id) for q in event.quiz.questions},
            ),
        )
        actor = Actor(
            name=context.display_name,
            home_page=context.issuer or self.base_url or DEFAULT_HOME,
            account_name=context.subject or str(attempt.learner_id),
        )
        statements = build_statements(submission, actor, base_url=self.base_url)
        record_statements(session, attempt.learner_id, attempt.id, statements)
        if self.forward:
            enqueue_statements(session, attempt.id, statements)
