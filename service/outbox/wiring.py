"""The app's outbox: installed by the composition root, read by the admin routes and the CLI."""

from __future__ import annotations

from flask import Flask, current_app

from service.db import get_database
from service.outbox.queue import DeliveryContext, Outbox


def install_outbox(app: Flask) -> Outbox:
    """Give `app` an outbox with no handlers yet (the composition root registers them)."""
    outbox = app.extensions["outbox"] = Outbox()
    return outbox


def app_outbox(app: Flask | None = None) -> Outbox:
    outbox: Outbox = (app or current_app).extensions["outbox"]
    return outbox


def delivery_context(app: Flask | None = None) -> DeliveryContext:
    """Fresh sessions from the app's database and the outbox's transport."""
    return app_outbox(app).context(get_database(app).sessionmaker)
