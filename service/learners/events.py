"""What else happens when an attempt is submitted: xAPI statements and the LMS grade.

`attempt_submitted` runs inside `submit_attempt`'s transaction, right after the UPDATE that won
the submission, so its rows (statements, outbox messages) commit exactly when the submission
does and exactly once; nothing here talks to the network.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import current_app, has_app_context
from sqlalchemy import select
from sqlalchemy.orm import Session

from service.config import Settings
from service.learners.models import SUBMITTED, Attempt
from service.learners.records import AttemptContext, AttemptRow
from service.lti.ags import enqueue_score
from service.lti.models import LtiLaunchContext
from service.quizzes import domain
from service.xapi.forwarding import enqueue_statements
from service.xapi.services import record_statements
from service.xapi.statements import Actor, Submission, build_statements, outcomes_from_result


def _settings() -> Settings | None:
    return current_app.config["SETTINGS"] if has_app_context() else None


def attempt_submitted(
    session: Session,
    attempt: AttemptRow,
    context: AttemptContext,
    result: dict[str, Any],
    *,
    quiz: domain.Quiz,
    submitted_at: datetime,
    answers: dict[str, Any],
) -> None:
    """Record the submission's xAPI statements, queue them for the LRS when XAPI_LRS_URL is
    set, and queue the LMS score when the attempt came from an LTI launch with a line item."""
    settings = _settings()
    base_url = settings.public_base_url if settings else None
    submission = Submission(
        attempt_id=attempt.id,
        attempt_number=attempt.attempt_number,
        quiz_slug=context.slug,
        quiz_title=context.title,
        started_at=attempt.started_at,
        submitted_at=submitted_at,
        score=float(result["score"]),
        max_score=float(result["max_score"]),
        passed=bool(result["passed"]),
        questions=outcomes_from_result(
            result, answers, {q.id: (q.type, q.prompt or q.id) for q in quiz.questions}
        ),
    )
    actor = Actor(
        name=context.display_name,
        home_page=context.issuer or base_url or "https://activation-lab.invalid",
        account_name=context.subject or str(attempt.learner_id),
    )
    statements = build_statements(submission, actor, base_url=base_url)
    record_statements(session, attempt.learner_id, attempt.id, statements)
    if settings is not None and settings.xapi_lrs_url:
        enqueue_statements(session, attempt.id, statements)

    launch = session.get(LtiLaunchContext, attempt.id) if context.launched else None
    if launch is not None:
        score = _gradebook_score(session, attempt, quiz, submission.max_score)
        enqueue_score(
            session,
            launch,
            attempt_id=attempt.id,
            score_given=score,
            score_maximum=submission.max_score,
            timestamp=submitted_at,
            comment=(
                f"Attempt {attempt.attempt_number}: {submission.score:g} of "
                f"{submission.max_score:g}; gradebook score by the quiz's "
                f"{quiz.settings.scoring_policy} policy: {score:g}."
            ),
        )


def _gradebook_score(
    session: Session, attempt: AttemptRow, quiz: domain.Quiz, max_score: float
) -> float:
    """The learner's score on the quiz by its scoring policy (highest, last or average of the
    submitted attempts, this one included), on this attempt's scale: an LMS keeps the last
    score it receives, so it is sent what the quiz's policy says the grade is."""
    rows = session.execute(
        select(Attempt.score, Attempt.max_score)
        .where(
            Attempt.learner_id == attempt.learner_id,
            Attempt.quiz_id == attempt.quiz_id,
            Attempt.status == SUBMITTED,
        )
        .order_by(Attempt.submitted_at, Attempt.attempt_number)
    ).all()
    fractions = [(score or 0.0) / maximum if maximum else 0.0 for score, maximum in rows]
    fraction = domain.progress_fraction(fractions, quiz.settings.scoring_policy)
    return round(fraction * max_score, 6)
