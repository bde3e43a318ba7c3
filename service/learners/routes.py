"""Learners, attempts, progress and results: /v1/learners..., /v1/quizzes/{slug}/attempts,
/v1/quizzes/{slug}/results, /v1/quizzes/{slug}/analytics and /v1/attempts/{id}...

Thin views: load with a schema, ask `policy` who may, call one use case, dump with a schema."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

from flask import Response, current_app
from flask.views import MethodView

from service.api import Blueprint
from service.auth.guards import guard, require_principal
from service.auth.services import revoke_token
from service.db import get_read_session, get_session
from service.learners import attempts, item_analysis, learners, policy, progress, schemas
from service.learners.analytics_csv import analytics_csv
from service.learners.events import LearnerEvents
from service.learners.gradebook_csv import results_csv
from service.pagination import PageArgsSchema, page_request
from service.settings_access import settings

blp = Blueprint(
    "learners", __name__, url_prefix="/v1", description="Learners, attempts and progress"
)
READERS = policy.READERS


def _events() -> LearnerEvents:
    events: LearnerEvents = current_app.extensions["learner_events"]
    return events


@blp.route("/learners")
class Learners(MethodView):
    @blp.arguments(schemas.RegisterSchema)
    @blp.response(201, schemas.RegisteredSchema)
    @blp.problems(401, 403, 422, 429)
    def post(self, body: dict[str, Any]) -> learners.RegisteredLearner:
        """Register a learner and get a bearer token.

        Open to anyone unless OPEN_REGISTRATION is false; then an integration or admin API
        key must be sent."""
        config = settings()
        policy.check_may_register(
            open_registration=config.open_registration, caller=require_principal
        )
        return learners.register_learner(
            get_session(),
            body.get("display_name"),
            secret_key=config.secret_key,
            token_ttl=timedelta(seconds=config.token_ttl_seconds),
        )

    @guard(blp, roles=READERS)
    @blp.arguments(PageArgsSchema, location="query")
    @blp.response(200, schemas.LearnerListSchema)
    def get(self, args: dict[str, int]) -> Any:
        """List learners (API keys)."""
        return learners.list_learners(
            get_read_session(), page_request(args, settings().max_page_size)
        )


@blp.route("/learners/me")
class Me(MethodView):
    @guard(blp, learner=True)
    @blp.response(200, schemas.LearnerSchema)
    def get(self) -> Any:
        """The learner the bearer token belongs to."""
        principal = require_principal()
        assert principal.learner_id is not None
        return learners.get_learner(get_read_session(), principal.learner_id)


@blp.route("/learners/me/token")
class MyToken(MethodView):
    @guard(blp, learner=True)
    @blp.response(204)
    def delete(self) -> None:
        """Revoke the bearer token used for this request (log out)."""
        revoke_token(get_session(), require_principal().credential_id)


@blp.route("/learners/<uuid:learner_id>")
class LearnerResource(MethodView):
    @guard(blp, learner=True, roles=READERS)
    @blp.response(200, schemas.LearnerSchema)
    @blp.problems(404)
    def get(self, learner_id: uuid.UUID) -> Any:
        """One learner (the learner themself, or an API key)."""
        policy.check_may_read_learner(require_principal(), learner_id)
        return learners.get_learner(get_read_session(), learner_id)

    @guard(blp, learner=True, roles=("admin",))
    @blp.response(204)
    @blp.problems(404)
    def delete(self, learner_id: uuid.UUID) -> None:
        """Delete a learner with their tokens and attempts (the learner, or an admin key)."""
        policy.check_may_read_learner(require_principal(), learner_id)
        learners.delete_learner(get_session(), _events(), learner_id)


@blp.route("/learners/<uuid:learner_id>/progress")
class LearnerProgress(MethodView):
    @guard(blp, learner=True, roles=READERS)
    @blp.response(200, schemas.ProgressSchema)
    @blp.problems(404)
    def get(self, learner_id: uuid.UUID) -> progress.Progress:
        """Scores and completion across the module's quizzes."""
        policy.check_may_read_learner(require_principal(), learner_id)
        return progress.progress(get_read_session(), learner_id)


@blp.route("/quizzes/<string:slug>/attempts")
class QuizAttempts(MethodView):
    @guard(blp, learner=True)
    @blp.response(201, schemas.AttemptSchema)
    @blp.alt_response(
        200,
        schema=schemas.AttemptSchema,
        success=True,
        description="The learner's open attempt on this quiz, resumed",
    )
    @blp.problems(404, 409, 429)
    def post(self, slug: str) -> tuple[attempts.AttemptView, int]:
        """Start an attempt, or resume the open one (at most one open attempt per quiz)."""
        principal = require_principal()
        assert principal.learner_id is not None
        view, created = attempts.start_attempt(get_session(), principal.learner_id, slug)
        return view, 201 if created else 200


@blp.route("/quizzes/<string:slug>/results")
class QuizResults(MethodView):
    @guard(blp, roles=READERS)
    @blp.arguments(schemas.ResultsArgsSchema, location="query")
    @blp.response(200, schemas.QuizResultsSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type="text/csv",
        schema={"type": "string"},
        description="format=csv: every learner's row, for gradebook import",
    )
    @blp.problems(404)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """Per-learner results on a quiz (API key), as JSON pages or CSV."""
        if args["format"] == "csv":
            page = progress.quiz_results(get_read_session(), slug, None)
            return Response(
                results_csv(page.items),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{slug}-results.csv"'},
            )
        request_page = page_request(args, settings().max_page_size)
        return progress.quiz_results(get_read_session(), slug, request_page)


@blp.route("/quizzes/<string:slug>/analytics")
class QuizAnalytics(MethodView):
    @guard(blp, roles=READERS)
    @blp.arguments(schemas.AnalyticsArgsSchema, location="query")
    @blp.response(200, schemas.QuizAnalyticsSchema)
    @blp.alt_response(
        200,
        success=True,
        content_type="text/csv",
        schema={"type": "string"},
        description="format=csv: a row for the quiz, then one per question",
    )
    @blp.problems(404)
    def get(self, args: dict[str, Any], slug: str) -> Any:
        """Item analysis of a quiz's graded attempts (API key: author, integration or admin).

        Moodle's quiz statistics: per quiz the mean, spread and Cronbach's alpha of the scores;
        per question the facility and discrimination indices, how often each choice was
        picked and each misconception matched. Scores are in points; indices, weights and
        alpha in percent. A figure that cannot be computed (too few attempts, no spread) is
        null and `reasons` says why. First attempts only unless `attempts=all`."""
        analysis = item_analysis.quiz_analytics(get_read_session(), slug, attempts=args["attempts"])
        if args["format"] == "csv":
            return Response(
                analytics_csv(analysis),
                mimetype="text/csv",
                headers={"Content-Disposition": f'attachment; filename="{slug}-analytics.csv"'},
            )
        return analysis


@blp.route("/attempts/<uuid:attempt_id>")
class AttemptResource(MethodView):
    @guard(blp, learner=True, roles=READERS)
    @blp.response(200, schemas.AttemptSchema)
    @blp.problems(404)
    def get(self, attempt_id: uuid.UUID) -> attempts.AttemptView:
        """An attempt, with its graded result once submitted."""
        return attempts.get_attempt(get_read_session(), require_principal(), attempt_id)


@blp.route("/attempts/<uuid:attempt_id>/submission")
class Submission(MethodView):
    @guard(blp, learner=True)
    @blp.arguments(schemas.IdempotencyHeaderSchema, location="headers")
    @blp.arguments(schemas.AnswersSchema)
    @blp.response(200, schemas.SubmissionSchema)
    @blp.problems(404, 409, 422)
    def post(
        self, headers: dict[str, str], body: dict[str, Any], attempt_id: uuid.UUID
    ) -> tuple[attempts.SubmissionView, int, dict[str, str]]:
        """Submit the answers, graded once (a repeat is 409 unless its Idempotency-Key replays)."""
        submission = attempts.submit_attempt(
            get_session(),
            _events(),
            require_principal(),
            attempt_id,
            body["answers"],
            headers.get("idempotency_key"),
        )
        return submission, 200, {"Idempotent-Replayed": "true" if submission.replayed else "false"}
