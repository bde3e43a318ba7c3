"""The instructor API, called with the instructor token of a staff launch (the class page, or
a script the instructor hands the token to): GET /v1/lti/instructor/class,
POST /v1/lti/instructor/grades."""

from __future__ import annotations

from typing import Any

from flask import current_app, request
from flask.views import MethodView

from service.api import Blueprint
from service.db import get_session
from service.errors import Unauthorized
from service.lti import instructor, instructor_schemas, policy
from service.lti.instructor_token import InstructorScope
from service.outbox.wiring import delivery_context
from service.settings_access import settings

blp = Blueprint(
    "lti-instructor",
    __name__,
    url_prefix="/v1/lti/instructor",
    description="The class of an LTI course, for its instructors (instructor token)",
)
SECURITY: list[dict[str, list[str]]] = [{"ltiInstructorToken": []}]


def verified_session_key() -> str | None:
    """Whom to count a request against when it carries a valid instructor token: the LMS user
    of the LTI session (`lti-instructor:<platform>:<user>`, whichever launch issued it); None
    without one, or with one that does not verify."""
    try:
        scope = _scope()
    except Unauthorized:
        return None
    return f"lti-instructor:{scope.platform_id}:{scope.user_id}"


def _scope() -> InstructorScope:
    return policy.instructor_scope(
        request.headers.get("Authorization", ""), current_app.config["SECRET_KEY"]
    )


@blp.route("/class")
class ClassResource(MethodView):
    @blp.doc(security=SECURITY)
    @blp.response(200, instructor_schemas.ClassViewSchema)
    @blp.problems(401, 404)
    def get(self) -> instructor.ClassView:
        """The course's roster (synced from the LMS) with each member's results on the quiz,
        who has not started, and the item analysis of the course's learners."""
        scope = _scope()
        return instructor.class_view(
            get_session(), delivery_context(), settings().secret_key, scope
        )


@blp.route("/grades")
class Grades(MethodView):
    @blp.doc(security=SECURITY)
    @blp.arguments(instructor_schemas.ResendSchema)
    @blp.response(202, instructor_schemas.QueuedGradeSchema)
    @blp.problems(401, 404, 409, 422)
    def post(self, body: dict[str, Any]) -> instructor.QueuedGrade:
        """Send a member's gradebook score to the LMS again (queued in the outbox)."""
        return instructor.resend_grade(get_session(), _scope(), body["user_id"])
