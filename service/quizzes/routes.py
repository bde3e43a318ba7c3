"""Quizzes: /v1/quizzes (list, preview, authoring, import and export)."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, request
from flask.blueprints import BlueprintSetupState
from flask.views import MethodView

from service.api import Blueprint
from service.auth.guards import guard
from service.db import get_read_session, get_session
from service.jsonio import dumps_bytes
from service.pagination import page_request
from service.quizzes import domain, schemas, services
from service.quizzes.interchange import MEDIA_TYPES
from service.quizzes.preview_cache import PreviewCache, RenderedQuiz
from service.settings_access import settings

blp = Blueprint("quizzes", __name__, url_prefix="/v1/quizzes", description="Quizzes")
AUTHORS = ("author", "admin")
READERS = ("integration", "admin", "author")


def _preview(current: services.CurrentQuiz) -> dict[str, Any]:
    return {**domain.public_view(current.quiz), "version": current.version}


_RENDERED_PREVIEWS = 256
_rendered: dict[tuple[str, int], bytes] = {}


def _rendered_preview(current: services.CurrentQuiz) -> bytes:
    """The GET body, dumped by QuizSchema as the decorator would. A version never changes, so
    its rendering is kept, keyed by content hash and version number (what the ETag is made of).
    """
    key = (current.content_hash, current.version)
    body = _rendered.get(key)
    if body is None:
        body = dumps_bytes(schemas.QuizSchema().dump(_preview(current)))
        if len(_rendered) >= _RENDERED_PREVIEWS:
            _rendered.clear()  # bounded; quizzes are few, so this is for pathological churn
        _rendered[key] = body
    return body


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
    @blp.arguments(schemas.QuizDefinitionBodySchema)
    @blp.response(201, schemas.QuizSchema)
    @blp.problems(409, 422)
    def post(self, body: dict[str, Any]) -> dict[str, Any]:
        """Create a quiz (author API key); validated exactly as the bank files are."""
        return _preview(services.create_quiz(get_session(), body))


def _preview_cache() -> PreviewCache:
    cache: PreviewCache = current_app.extensions["quiz_preview_cache"]
    return cache


@blp.record_once
def _install_preview_cache(state: BlueprintSetupState) -> None:
    ttl = state.app.config["SETTINGS"].quiz_cache_seconds
    state.app.extensions["quiz_preview_cache"] = PreviewCache(ttl)


@blp.route("/<string:slug>")
class QuizResource(MethodView):
    @blp.response(200, schemas.QuizSchema)
    @blp.alt_response(304, description="Not modified (If-None-Match matched the ETag)")
    @blp.problems(404)
    def get(self, slug: str) -> Any:
        """A quiz's questions without answers (generated questions show their template).

        Carries an ETag; send it back in If-None-Match to get 304 while the quiz is unchanged.
        A new version shows on every server within QUIZ_CACHE_SECONDS (default 1 s)."""
        cache = _preview_cache()
        rendered = cache.get(slug)
        if rendered is None:
            current = services.get_current_quiz(get_read_session(), slug)
            rendered = RenderedQuiz(
                f"{current.content_hash[:32]}-v{current.version}", _rendered_preview(current)
            )
            cache.put(slug, rendered)
        if request.if_none_match.contains_weak(rendered.etag):
            response = Response(status=304)
            response.set_etag(rendered.etag)
            return response
        return Response(
            rendered.body,
            status=200,
            mimetype="application/json",
            headers={"ETag": f'"{rendered.etag}"', "Cache-Control": "no-cache"},
        )

    @guard(blp, roles=AUTHORS)
    @blp.arguments(schemas.QuizDefinitionBodySchema)
    @blp.response(200, schemas.QuizSchema)
    @blp.problems(404, 409, 422)
    def put(self, body: dict[str, Any], slug: str) -> dict[str, Any]:
        """Replace a quiz's content (author API key): a new version; attempts keep theirs."""
        current = services.replace_quiz(get_session(), slug, body)
        _preview_cache().forget(slug)
        return _preview(current)

    @guard(blp, roles=AUTHORS)
    @blp.response(204)
    @blp.problems(404)
    def delete(self, slug: str) -> None:
        """Soft-delete a quiz (author API key): hidden, while past results stay readable."""
        services.delete_quiz(get_session(), slug)
        _preview_cache().forget(slug)


@blp.route("/import")
class QuizImport(MethodView):
    @guard(blp, roles=AUTHORS)
    @blp.arguments(schemas.ImportArgsSchema, location="query")
    @blp.doc(
        requestBody={
            "required": True,
            "content": {
                media: {"schema": {"type": "string"}}
                for media in ("application/json", "text/plain", "application/xml")
            },
        }
    )
    @blp.response(201, schemas.QuizSchema)
    @blp.problems(409, 415, 422)
    def post(self, args: dict[str, str]) -> dict[str, Any]:
        """Import a quiz from JSON, GIFT or Moodle XML (author API key)."""
        text = request.get_data(as_text=True)
        return _preview(
            services.import_quiz_text(
                get_session(),
                text,
                args["format"],
                slug=args.get("slug"),
                title=args.get("title"),
            )
        )


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
        fmt = args["format"]
        text = services.export_quiz_text(get_read_session(), slug, fmt)
        extension = {"json": "json", "gift": "gift.txt", "moodle-xml": "xml"}[fmt]
        return Response(
            text,
            content_type=MEDIA_TYPES[fmt],
            headers={"Content-Disposition": f'attachment; filename="{slug}.{extension}"'},
        )
