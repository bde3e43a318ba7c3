"""The application factory: settings -> logging -> JSON -> db -> errors -> API -> CLI."""

from __future__ import annotations

from flask import Flask, request

from service.api import Api, configure_api
from service.cli import register_cli
from service.config import Settings
from service.db import Database
from service.errors import PayloadTooLarge, register_error_handlers
from service.jsonio import install_json
from service.migrate import migration_heads
from service.observability import configure_logging, install_request_ids


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app. Without `settings`, they are read from the environment."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    app = Flask(__name__, static_folder=None)
    app.config.update(
        SETTINGS=settings,
        SECRET_KEY=settings.secret_key,
        MAX_CONTENT_LENGTH=settings.max_content_length,
        TESTING=settings.testing,
        JSON_SORT_KEYS=False,
    )
    install_json(app)
    install_request_ids(app)
    app.before_request(_refuse_oversized_body)

    database = Database(
        settings.database_url,
        pool_size=settings.db_pool_size,
        connect_timeout=settings.db_connect_timeout,
    )
    database.init_app(app)
    app.extensions["migration_heads"] = migration_heads()
    app.extensions["seeders"] = []

    register_error_handlers(app)
    api = configure_api(app)
    _register_blueprints(api)
    register_cli(app)
    return app


def _register_blueprints(api: Api) -> None:
    from service.health.routes import blp as health_blp
    from service.learners.routes import blp as learners_blp
    from service.quizzes.routes import blp as quizzes_blp

    for blueprint in (health_blp, quizzes_blp, learners_blp):
        api.register_blueprint(blueprint)


def _refuse_oversized_body() -> None:
    """Refuse a declared oversized body before any view reads it (routes that ignore bodies too)."""
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"The request body ({request.content_length} bytes) exceeds the limit of "
            f"{limit} bytes (MAX_CONTENT_LENGTH).",
            limit={"name": "MAX_CONTENT_LENGTH", "value": limit},
        )
