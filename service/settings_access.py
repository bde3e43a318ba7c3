"""The running app's Settings, for routes (services take what they need as arguments)."""

from __future__ import annotations

from flask import current_app

from service.config import Settings


def settings() -> Settings:
    value: Settings = current_app.config["SETTINGS"]
    return value
