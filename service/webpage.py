"""The lesson's interactive page: service/web/index.html at `/`, the instructor's class page
(instructor.html) at `/lti/instructor`, their modules at /static/."""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, Response, send_from_directory

WEB_DIR = Path(__file__).resolve().parent / "web"
MIMETYPES = {".js": "text/javascript", ".css": "text/css", ".html": "text/html"}

blp = Blueprint("web", __name__)


@blp.get("/")
def index() -> Response:
    response = send_from_directory(WEB_DIR, "index.html", mimetype="text/html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/lti/instructor")
def instructor() -> Response:
    """The instructor's class page (an instructor launch hands it a token in the fragment)."""
    response = send_from_directory(WEB_DIR, "instructor.html", mimetype="text/html", max_age=0)
    response.headers["Cache-Control"] = "no-cache"
    return response


@blp.get("/static/<path:filename>")
def static_file(filename: str) -> Response:
    # send_from_directory refuses paths that escape WEB_DIR (404).
    mimetype = MIMETYPES.get(Path(filename).suffix)
    response = send_from_directory(WEB_DIR, filename, mimetype=mimetype, max_age=300)
    response.headers["Cache-Control"] = "public, max-age=300, must-revalidate"
    return response
