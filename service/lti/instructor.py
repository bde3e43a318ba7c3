"""The instructor's side of a launch: a staff launch opens the class view, never an attempt.

- `instructor_launch`: one transaction: the nonce consumed, the course row (LMS context, its
  NRPS endpoint) written, an instructor token issued (instructor_token.py). No learner,
  attempt, launch context or score is written.
- `class_view`: the roster synced from NRPS (nrps.py; a failed sync shows the stored roster
  and says why), each member joined with their results on the link's quiz, who has not
  started, and the item analysis of this course's learners' first submitted attempts.
- `resend_grade`: a member's gradebook score queued again through the outbox.

This course's learners are the LMS users on its roster or who launched from it; their
attempts on the quiz are counted wherever they started them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from service.db import run_in_transaction, utcnow
from service.errors import Conflict, NotFound, Unprocessable
from service.learners import repository
from service.learners.item_analysis import quiz_analytics
from service.learners.models import SUBMITTED, Attempt, Learner
from service.learners.progress import gradebook_score
from service.lti import instructor_token
from service.lti.ags import enqueue_score
from service.lti.instructor_token import InstructorScope
from service.lti.models import LtiCourse, LtiLaunchContext, LtiPlatform, LtiRosterMember
from service.lti.nrps import NRPS_CLAIM, sync_roster
from service.lti.policy import LaunchRole, launch_role
from service.lti.services import (
    CLAIM,
    LAUNCH_ATTEMPTS,
    QUIZ_TAG,
    RESOURCE_LINK_CLAIM,
    consume_nonce,
    quiz_slug_of,
)
from service.lti.storage import LaunchStore
from service.lti.tool import ValidatedLaunch
from service.outbox.queue import DeliveryContext, DeliveryError
from service.quizzes import analytics
from service.quizzes.models import QuizRecord
from service.quizzes.services import current_quiz

CONTEXT_CLAIM = CLAIM + "context"
NOT_STARTED, IN_PROGRESS, SUBMITTED_STATE = "not_started", "in_progress", "submitted"


@dataclass(frozen=True)
class InstructorLaunch:
    quiz: str
    token: str

    def page_url(self, root: str = "") -> str:
        return f"{root}/lti/instructor#token={self.token}"


def instructor_launch(
    session: Session,
    store: LaunchStore,
    launch: ValidatedLaunch,
    *,
    secret_key: str,
    issuer: str,
    ttl_seconds: int,
) -> InstructorLaunch:
    """Consume the nonce, remember the course and its NRPS endpoint, issue the token."""
    claims = launch.claims
    slug = quiz_slug_of(claims)
    context = claims.get(CONTEXT_CLAIM)
    if slug is None or not isinstance(context, dict) or not context.get("id"):
        raise Unprocessable(
            "The instructor view needs a link inside a course that names a quiz (the "
            "context claim and the quiz=<slug> custom parameter).",
            errors={"quiz" if slug is None else "context": ["missing"]},
        )
    nrps = claims.get(NRPS_CLAIM) or {}
    memberships_url = nrps.get("context_memberships_url") if isinstance(nrps, dict) else None
    resource_link = claims.get(RESOURCE_LINK_CLAIM) or {}

    def launch_once(session: Session) -> int:
        consume_nonce(session, store, launch.nonce)
        current_quiz(session, slug)  # NotFound for a link to a missing quiz
        course = session.scalar(
            select(LtiCourse).where(
                LtiCourse.platform_id == launch.platform_id,
                LtiCourse.context_id == str(context["id"]),
            )
        )
        if course is None:
            course = LtiCourse(platform_id=launch.platform_id, context_id=str(context["id"]))
            session.add(course)
        course.title = str(context.get("title") or context.get("label") or "")[:255] or None
        if memberships_url and memberships_url != course.memberships_url:
            course.memberships_url, course.differences_url = str(memberships_url), None
        session.flush()
        return course.id

    course_id = run_in_transaction(
        session,
        launch_once,
        attempts=LAUNCH_ATTEMPTS,
        conflict="The launch could not be completed because of concurrent requests; "
        "launch again from the LMS.",
    )
    scope = InstructorScope(
        platform_id=launch.platform_id,
        course_id=course_id,
        context_id=str(context["id"]),
        quiz=slug,
        resource_link_id=resource_link.get("id"),
        user_id=str(claims["sub"]),
    )
    token = instructor_token.issue(
        scope, secret_key=secret_key, issuer=issuer, ttl_seconds=ttl_seconds
    )
    return InstructorLaunch(slug, token)


@dataclass(frozen=True)
class ClassMember:
    user_id: str
    name: str | None
    role: str  # "learner" or "staff" by the launch role policy
    status: str  # the platform's: Active or Inactive
    learner_id: uuid.UUID | None
    state: str  # not_started, in_progress, submitted
    attempts: int  # submitted attempts on the quiz
    best_score: float | None
    last_submitted_at: datetime | None


@dataclass(frozen=True)
class ClassView:
    context_id: str
    course_title: str | None
    quiz: str
    quiz_title: str
    max_score: float
    roster_synced_at: datetime | None
    roster_error: str | None
    members: list[ClassMember]
    not_started: list[ClassMember]
    analytics: analytics.QuizAnalytics


@dataclass
class _Tally:
    learner_id: uuid.UUID
    scores: list[float] = field(default_factory=list)
    last_submitted_at: datetime | None = None


def _course(session: Session, scope: InstructorScope) -> tuple[LtiCourse, str]:
    row = session.execute(
        select(LtiCourse, LtiPlatform.issuer)
        .join(LtiPlatform, LtiPlatform.id == LtiCourse.platform_id)
        .where(LtiCourse.id == scope.course_id, LtiCourse.platform_id == scope.platform_id)
    ).first()
    if row is None:
        raise NotFound("This course is no longer registered with the tool: launch again.")
    return row[0], row[1]


def _course_attempts(
    session: Session, scope: InstructorScope, issuer: str, quiz_id: int
) -> list[Any]:
    """Attempts on the quiz of the course's learners: on its roster or launched from it."""
    on_roster = select(LtiRosterMember.user_id).where(LtiRosterMember.course_id == scope.course_id)
    launched_here = select(LtiLaunchContext.lti_user_id).where(
        LtiLaunchContext.platform_id == scope.platform_id,
        LtiLaunchContext.context_id == scope.context_id,
    )
    learners = select(Learner.id).where(
        Learner.issuer == issuer,
        or_(Learner.subject.in_(on_roster), Learner.subject.in_(launched_here)),
    )
    return list(
        session.execute(
            select(
                Learner.subject,
                Attempt.learner_id,
                Attempt.status,
                Attempt.score,
                Attempt.started_at,
                Attempt.submitted_at,
                Attempt.result,
            )
            .join(Learner, Learner.id == Attempt.learner_id)
            .where(Attempt.quiz_id == quiz_id, Attempt.learner_id.in_(learners))
            .order_by(Attempt.started_at, Attempt.id)
        ).all()
    )


def class_view(
    session: Session, delivery: DeliveryContext, secret_key: str, scope: InstructorScope
) -> ClassView:
    """The class of the token's course on its quiz (see the module docstring)."""
    roster_error = None
    try:
        sync_roster(delivery, secret_key, scope.course_id)
    except DeliveryError as exc:
        roster_error = f"The roster could not be read from the LMS ({exc}); showing the last one."
    with session.begin():
        course, issuer = _course(session, scope)
        quiz = current_quiz(session, scope.quiz)
        rows = _course_attempts(session, scope, issuer, quiz.quiz_id)
        members_rows = [(m.user_id, m.name, list(m.roles), m.status) for m in course.members]
        title, synced_at = course.title, course.synced_at
        quiz_max = _quiz_max(session, quiz.quiz_id)
    tallies: dict[str, _Tally] = {}
    for row in rows:
        tally = tallies.setdefault(row.subject, _Tally(row.learner_id))
        if row.status == SUBMITTED and row.result:
            tally.scores.append(float(row.score or 0.0))
            tally.last_submitted_at = row.submitted_at
    # Item analysis of this course's learners' first attempts (choices and misconceptions too).
    class_analysis = quiz_analytics(
        session, scope.quiz, learner_ids={tally.learner_id for tally in tallies.values()}
    )
    members = [
        _member(user_id, name, roles, status, tallies.get(user_id))
        for user_id, name, roles, status in members_rows
    ]
    on_roster = {member.user_id for member in members}
    members += [  # launched from this course but not (or no longer) on the roster
        _member(subject, None, [], "Unknown", tally)
        for subject, tally in tallies.items()
        if subject not in on_roster
    ]
    return ClassView(
        context_id=scope.context_id,
        course_title=title,
        quiz=scope.quiz,
        quiz_title=quiz.quiz.title,
        max_score=quiz_max,
        roster_synced_at=synced_at,
        roster_error=roster_error,
        members=members,
        not_started=[m for m in members if m.role == "learner" and m.state == NOT_STARTED],
        analytics=class_analysis.figures,
    )


def _quiz_max(session: Session, quiz_id: int) -> float:
    value = session.scalar(select(QuizRecord.max_score).where(QuizRecord.id == quiz_id))
    return float(value or 0.0)


def _member(
    user_id: str, name: str | None, roles: list[str], status: str, tally: _Tally | None
) -> ClassMember:
    role = launch_role(roles)
    state = NOT_STARTED if tally is None else SUBMITTED_STATE if tally.scores else IN_PROGRESS
    return ClassMember(
        user_id=user_id,
        name=name,
        role="staff" if role is LaunchRole.STAFF else "learner",
        status=status,
        learner_id=tally.learner_id if tally else None,
        state=state,
        attempts=len(tally.scores) if tally else 0,
        best_score=max(tally.scores) if tally and tally.scores else None,
        last_submitted_at=tally.last_submitted_at if tally else None,
    )


@dataclass(frozen=True)
class QueuedGrade:
    user_id: str
    attempt_id: uuid.UUID
    score_given: float
    score_maximum: float
    queued_at: datetime


def resend_grade(session: Session, scope: InstructorScope, user_id: str) -> QueuedGrade:
    """Queue the member's gradebook score on the quiz again (their latest submitted attempt,
    to the line item of their latest launch from this course), in one transaction."""
    with session.begin():
        _, issuer = _course(session, scope)
        current = current_quiz(session, scope.quiz)
        latest = session.execute(
            select(Attempt.id, LtiLaunchContext)
            .join(Learner, Learner.id == Attempt.learner_id)
            .join(LtiLaunchContext, LtiLaunchContext.lti_user_id == Learner.subject)
            .where(
                Learner.issuer == issuer,
                Learner.subject == user_id,
                Attempt.status == SUBMITTED,
                LtiLaunchContext.platform_id == scope.platform_id,
                LtiLaunchContext.context_id == scope.context_id,
                Attempt.quiz_id == current.quiz_id,
            )
            .order_by(Attempt.submitted_at.desc(), LtiLaunchContext.launched_at.desc())
            .limit(1)
        ).first()
        if latest is None:
            raise NotFound(
                f"Member {user_id!r} has no submitted attempt on {scope.quiz!r} from this course."
            )
        attempt_id, launch = latest
        found = repository.attempt_by_id(session, attempt_id)
        assert found is not None
        attempt, _ = found
        max_score = _quiz_max(session, current.quiz_id)
        score = gradebook_score(session, attempt, current.quiz, max_score)
        now = utcnow()
        queued = enqueue_score(
            session,
            launch,
            attempt_id=attempt_id,
            score_given=score,
            score_maximum=max_score,
            timestamp=now,
            comment=f"Re-sent by an instructor: gradebook score {score:g} of {max_score:g}.",
            label=current.quiz.title,
            resource_id=scope.quiz,
            tag=QUIZ_TAG,
            dedupe_key=f"ags:{attempt_id}:resend:{now.isoformat()}",
        )
        if not queued:
            raise Conflict("This member's launch gave the tool no gradebook column to send to.")
        return QueuedGrade(user_id, attempt_id, score, max_score, now)
