"""Quizzes: /v1/quizzes (list, preview, authoring, import and export)."""

from __future__ import annotations

from typing import Any

from flask import Response, after_this_request, current_app, request
from flask.views import MethodView
from sqlalchemy.orm import Session

from service.api import Blueprint
from service.auth.guards import guard
from service.db import get_read_session, get_session
from service.jsonio import dumps_bytes
from service.pagination import page_request
from service.quizzes import domain, schemas, services
from service.quizzes.interchange import FORMATS, format_named
from service.quizzes.read_model import QuizReadModel
from service.settings_access import settings

blp = Blueprint("quizzes", __name__, url_prefix="/v1/quizzes", description="Quizzes")
AUTHORS = ("author", "admin")
READERS = ("integration", "admin", "author")
_QUIZ = schemas.QuizSchema()


def _preview(current: services.CurrentQuiz) -> dict[str, Any]:
    return {**domain.public_view(current.quiz), "version": current.version}


def _render(current: services.CurrentQuiz) -> bytes:
    """The quiz GET's body, dumped by QuizSchema as the response decorator would."""
    return dumps_bytes(_QUIZ.dump(_preview(current)))


def _read_model() -> QuizReadModel:
    model: QuizReadModel = current_app.extensions["quiz_read_model"]
    return model


def _revalidate(response: Response) -> Response:
    response.headers["Cache-Control"] = "no-cache"
    return response


def _answer(session: Session, current: services.CurrentQuiz, status: int) -> Response:
    """A version's body (the GET's bytes) with its ETag, for the author's next If-Match."""
    rendered = services.rendered_version(session, current, _render)
    blp.set_etag(rendered.etag_data)
    return Response(rendered.body, status=status, mimetype="application/json")


def _if_match(session: Session) -> services.Precondition:
    """Compare the request's If-Match with the ETag of the current version (in the write's
    transaction, the quiz row locked): 412 when it names another version."""

    def check(current: services.CurrentQuiz) -> None:
        blp.check_etag(services.rendered_version(session, current, _render).etag_data)

    return check


@blp.route("")
class Quizzes(MethodView):
    @blp.arguments(schemas.QuizListArgsSchema, location="query")
    @blp.response(200, schemas.QuizListSchema)
    def get(self, args: dict[str, int]) -> Any:
        """List the module's quizzes."""
        return services.list_quizzes(
            get_read_session(), page_request(args, settings().max_page_size)
        )

    @guard(blp, roles=AUTHORS)
    @blp.etag
    @blp.arguments(schemas.QuizDefinitionBodySchema)
    @blp.response(201, schemas.QuizSchema)
    @blp.problems(409, 422)
    def post(self, body: dict[str, Any]) -> Response:
        """Create a quiz (author API key); validated exactly as the bank files are.

        A deleted quiz's slug may be taken again: the quiz comes back (a new version, its past
        attempts kept). The answer carries the ETag to send in If-Match when changing it."""
        session = get_session()
        return _answer(session, services.create_quiz(session, body), 201)


@blp.route("/<string:slug>")
class QuizResource(MethodView):
    @blp.etag
    @blp.response(200, schemas.QuizSchema)
    @blp.problems(404)
    def get(self, slug: str) -> Response:
        """A quiz's questions without answers (generated questions show their template).

        Carries an ETag; send it back in If-None-Match to get 304 while the quiz is unchanged,
        and in If-Match to change or delete it. The ETag is a digest of this body (which holds
        the version number), so it tells nothing about the answers, yet differs for every
        version. A new version shows on every server within QUIZ_CACHE_SECONDS (default 1 s).
        """
        rendered = services.rendered_quiz(_read_model(), get_read_session, slug, _render)
        after_this_request(_revalidate)
        blp.set_etag(rendered.etag_data)
        return Response(rendered.body, mimetype="application/json")

    @guard(blp, roles=AUTHORS)
    @blp.etag
    @blp.arguments(schemas.QuizDefinitionBodySchema)
    @blp.response(200, schemas.QuizSchema)
    @blp.problems(404, 409, 422)
    def put(self, body: dict[str, Any], slug: str) -> Response:
        """Replace a quiz's content (author API key): a new version; attempts keep theirs.

        Send the ETag of the version you edited in If-Match: 412 when the quiz changed since
        (another author's write, an answer-only change included), 428 without If-Match. The
        answer carries the new version's ETag."""
        session = get_session()
        current = services.replace_quiz(session, slug, body, precondition=_if_match(session))
        return _answer(session, current, 200)

    @guard(blp, roles=AUTHORS)
    @blp.etag
    @blp.response(204)
    @blp.problems(404)
    def delete(self, slug: str) -> None:
        """Soft-delete a quiz (author API key): hidden, while past results stay readable.

        Needs If-Match with the current ETag, as PUT does (412 stale, 428 missing)."""
        session = get_session()
        services.delete_quiz(session, slug, precondition=_if_match(session))


@blp.route("/import")
class QuizImport(MethodView):
    @guard(blp, roles=AUTHORS)
    @blp.etag
    @blp.arguments(schemas.ImportArgsSchema, location="query")
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                media_type: {"schema": {"type": "string"}}
                for fmt in FORMATS.values()
                for media_type in (fmt.upload_media_type, *fmt.also_accepted)
            },
        }
    )
    @blp.response(201, schemas.QuizSchema)
    @blp.problems(409, 415, 422)
    def post(self, args: dict[str, str]) -> Response:
        """Import a quiz from JSON, GIFT or Moodle XML (author API key)."""
        session = get_session()
        current = services.import_quiz_text(
            session,
            request.get_data(),
            request.mimetype,
            args["format"],
            slug=args.get("slug"),
            title=args.get("title"),
        )
        return _answer(session, current, 201)


@blp.route("/<string:slug>/export")
class QuizExport(MethodView):
    @guard(blp, roles=READERS)
    @blp.arguments(schemas.ExportArgsSchema, location="query")
    @blp.response(200, {"type": "string"}, content_type="text/plain")
    @blp.alt_response(
        200,
        success=True,
        content_type="application/json",
        schema={"type": "object"},
        description="format=json",
    )
    @blp.alt_response(
        200,
        success=True,
        content_type="application/xml",
        schema={"type": "string"},
        description="format=moodle-xml",
    )
    @blp.problems(404)
    def get(self, args: dict[str, str], slug: str) -> Response:
        """A quiz with its answer key as JSON, GIFT or Moodle XML, for LMS import (API key)."""
        fmt = format_named(args["format"])
        text = services.export_quiz_text(get_read_session(), slug, fmt.name)
        return Response(
            text,
            content_type=fmt.media_type,
            headers={"Content-Disposition": f'attachment; filename="{slug}.{fmt.extension}"'},
        )
