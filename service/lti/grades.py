"""The LMS side of a submission: AttemptSubmitted -> the gradebook score queued for the
platform's line item (delivered later by ags.ScorePassback through the outbox).

Only a learner who came from an LMS can have a launch context, so only their submissions look
one up."""

from __future__ import annotations

from sqlalchemy.orm import Session

from service.learners.events import AttemptSubmitted
from service.learners.progress import gradebook_score
from service.lti.ags import enqueue_score
from service.lti.models import LtiLaunchContext
from service.lti.services import QUIZ_TAG


def queue_grade(session: Session, event: AttemptSubmitted) -> None:
    """Queue the learner's score by the quiz's scoring policy, inside the submission's
    transaction, when the attempt came from a launch whose line item takes scores."""
    attempt, quiz = event.attempt, event.quiz
    if event.context.issuer is None:
        return
    launch = session.get(LtiLaunchContext, attempt.id)
    if launch is None:
        return
    score, max_score = float(event.result["score"]), float(event.result["max_score"])
    gradebook = gradebook_score(session, attempt, quiz, max_score)
    enqueue_score(
        session,
        launch,
        attempt_id=attempt.id,
        score_given=gradebook,
        score_maximum=max_score,
        timestamp=event.submitted_at,
        comment=(
            f"Attempt {attempt.attempt_number}: {score:g} of {max_score:g}; gradebook score by "
            f"the quiz's {quiz.settings.scoring_policy} policy: {gradebook:g}."
        ),
        label=quiz.title,
        resource_id=quiz.slug,
        tag=QUIZ_TAG,
    )
