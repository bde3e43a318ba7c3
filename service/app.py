"""The application factory: settings -> logging -> JSON -> db -> errors -> API -> CLI."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from flask import Flask, Request, request
from flask.sessions import SessionInterface, SessionMixin

from service.api import Api, configure_api
from service.cli import register_cli
from service.config import Settings
from service.cors import install_cors
from service.db import Database
from service.errors import PayloadTooLarge, register_error_handlers
from service.jsonio import install_json
from service.lti.routes import browser_blp as lti_browser_blp
from service.metrics import install_metrics
from service.migrate import migration_heads
from service.observability import configure_logging, install_request_ids
from service.quizzes.read_model import QuizReadModel
from service.quizzes.services import seed_bank
from service.ratelimit import install_rate_limits
from service.security import install_security_headers
from service.simulations.services import answer_cache
from service.webpage import blp as web_blp


class NoCookieSession(SessionInterface):
    """Flask's signed-cookie session is not used (the LTI flow keeps its state in the shared
    store), so no request parses a session cookie or builds a signer for it (~50 µs each).
    Writing to `flask.session` fails loudly (it is a null session)."""

    def open_session(self, app: Flask, request: Request) -> SessionMixin | None:
        return None

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        return None


class ServiceFlask(Flask):
    """Flask that remembers which hooks and views are plain functions: stock Flask asks
    `inspect.iscoroutinefunction` for each of them on every request (~2 µs apiece)."""

    session_interface = NoCookieSession()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._plain_functions: dict[Any, bool] = {}

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        key = getattr(func, "__func__", func)  # a view method is bound anew per request
        plain = self._plain_functions.get(key)
        if plain is None:
            plain = self._plain_functions[key] = not inspect.iscoroutinefunction(func)
        return func if plain else super().ensure_sync(func)


def create_app(settings: Settings | None = None) -> Flask:
    """Build the Flask app. Without `settings`, they are read from the environment."""
    settings = settings or Settings.from_env()
    configure_logging(settings.log_level)

    app = ServiceFlask(__name__, static_folder=None)
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
    quiz_read_model = QuizReadModel.from_settings(settings)
    quiz_read_model.attach(database.sessionmaker, database.read_sessionmaker)
    app.extensions["quiz_read_model"] = quiz_read_model
    app.extensions["simulation_answers"] = answer_cache(enabled=settings.caches_enabled)
    app.extensions["migration_heads"] = migration_heads()
    app.extensions["seeders"] = [seed_bank]

    register_error_handlers(app)
    install_cors(app, settings.cors_origins)
    install_security_headers(app, settings.frame_ancestors)
    api = configure_api(app)
    _register_blueprints(api)
    app.register_blueprint(web_blp)
    app.register_blueprint(lti_browser_blp)
    app.extensions["limiter"] = install_rate_limits(app, settings)
    install_metrics(app, settings.prometheus_multiproc_dir)
    register_cli(app)
    return app


def _register_blueprints(api: Api) -> None:
    from service.health.routes import blp as health_blp
    from service.learners.routes import blp as learners_blp
    from service.lti.routes import admin_blp as lti_admin_blp
    from service.lti.routes import tool_blp as lti_tool_blp
    from service.normalization.routes import blp as normalization_blp
    from service.quizzes.routes import blp as quizzes_blp
    from service.simulations.routes import blp as simulations_blp
    from service.xapi.routes import blp as xapi_blp

    for blueprint in (
        health_blp,
        simulations_blp,
        normalization_blp,
        quizzes_blp,
        learners_blp,
        lti_tool_blp,
        lti_admin_blp,
        xapi_blp,
    ):
        api.register_blueprint(blueprint)


def _refuse_oversized_body() -> None:
    """Refuse a declared oversized body before any view reads it (routes that ignore bodies too)."""
    if not request.environ.get("CONTENT_LENGTH"):
        return  # no declared body (most GETs): nothing to measure
    limit = request.max_content_length
    if limit is not None and request.content_length is not None and request.content_length > limit:
        raise PayloadTooLarge(
            f"The request body ({request.content_length} bytes) exceeds the limit of "
            f"{limit} bytes (MAX_CONTENT_LENGTH).",
            limit={"name": "MAX_CONTENT_LENGTH", "value": limit},
        )
