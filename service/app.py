"""The composition root: `create_app` builds the app and is the one place that wires packages
together — settings, logging, JSON, database, errors, blueprints, learner event subscribers,
outbox handlers, metrics and CLI. No other module connects one package to another's
implementation."""

from __future__ import annotations

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

from service.api import configure_api
from service.auth.cli import keys_cli
from service.auth.guards import verified_principal_key
from service.cli import register_cli
from service.config import Settings
from service.cors import install_cors
from service.db import Database
from service.errors import PayloadTooLarge, register_error_handlers
from service.health.routes import blp as health_blp
from service.jsonio import install_json
from service.learners.events import AttemptSubmitted, LearnerEvents
from service.learners.routes import blp as learners_blp
from service.lti.ags import AGS_SCORE, ScorePassback
from service.lti.cli import lti_cli
from service.lti.grades import queue_grade
from service.lti.routes.admin import blp as lti_admin_blp
from service.lti.routes.browser import blp as lti_browser_blp
from service.lti.routes.instructor import blp as lti_instructor_blp
from service.lti.routes.instructor import verified_session_key
from service.lti.routes.tool import blp as lti_tool_blp
from service.metrics import install_metrics
from service.migrate import db_cli, migration_heads
from service.normalization.routes import blp as normalization_blp
from service.observability import configure_logging, install_request_ids
from service.outbox.cli import outbox_cli
from service.outbox.metrics import OutboxBacklog
from service.outbox.routes import blp as outbox_blp
from service.outbox.wiring import install_outbox
from service.quizzes.read_model import QuizReadModel
from service.quizzes.routes import blp as quizzes_blp
from service.quizzes.services import seed_bank
from service.ratelimit import install_rate_limits
from service.security import install_security_headers
from service.simulations.routes import blp as simulations_blp
from service.simulations.training import trainer
from service.webpage import blp as web_blp
from service.xapi.forwarding import XAPI_STATEMENTS, StatementForwarder
from service.xapi.routes import blp as xapi_blp
from service.xapi.subscribers import StatementRecorder


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
    if settings.trusted_proxy_count:
        # The client address (rate limits, logs) is the one the proxy saw. Only X-Forwarded-For
        # and -Proto, which nginx sets; X-Forwarded-Host would be the client's own word.
        count = settings.trusted_proxy_count
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=count, x_proto=count)  # type: ignore[method-assign]
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
    app.extensions["trainer"] = trainer(settings)
    app.extensions["migration_heads"] = migration_heads()
    app.extensions["seeders"] = [seed_bank]
    _wire_integrations(app, settings)

    register_error_handlers(app)
    install_cors(app, settings.cors_origins)
    install_security_headers(app, settings.frame_ancestors)
    api = configure_api(app)
    for blueprint in (
        health_blp,
        simulations_blp,
        normalization_blp,
        quizzes_blp,
        learners_blp,
        lti_tool_blp,
        lti_admin_blp,
        lti_instructor_blp,
        outbox_blp,
        xapi_blp,
    ):
        api.register_blueprint(blueprint)
    app.register_blueprint(web_blp)
    app.register_blueprint(lti_browser_blp)
    app.extensions["limiter"] = install_rate_limits(
        app, settings, [verified_principal_key, verified_session_key]
    )
    install_metrics(
        app,
        settings.prometheus_multiproc_dir,
        collectors=[OutboxBacklog(app)],
        token=settings.metrics_token,
    )
    register_cli(app, [db_cli, keys_cli, lti_cli, outbox_cli])
    return app


def _wire_integrations(app: Flask, settings: Settings) -> None:
    """What happens after a submission, and how it leaves the service: learners publish, xAPI
    and LTI subscribe (in that order: statements are recorded before the grade is queued), and
    the outbox delivers each kind of message with its owner's handler."""
    events = app.extensions["learner_events"] = LearnerEvents()
    events.subscribe(
        AttemptSubmitted,
        StatementRecorder(base_url=settings.public_base_url, forward=bool(settings.xapi_lrs_url)),
    )
    events.subscribe(AttemptSubmitted, queue_grade)

    outbox = install_outbox(app)
    outbox.register(AGS_SCORE, ScorePassback(settings.secret_key))
    outbox.register(
        XAPI_STATEMENTS, StatementForwarder(settings.xapi_lrs_url, settings.xapi_lrs_auth)
    )


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
