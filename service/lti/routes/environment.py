"""What an LTI request hands the tool: settings, the request's session, the shared launch store,
the tool's public URL and the HTTP session pylti1p3 fetches platform keys with."""

from __future__ import annotations

from typing import Any

import requests
from flask import current_app, request
from sqlalchemy.orm import Session

from service.config import Settings
from service.db import get_session
from service.errors import ServiceUnavailable
from service.lti import tool
from service.lti.jwks import platform_session
from service.lti.storage import DatabaseLaunchStore, LaunchStore, RedisLaunchStore, redis_client
from service.settings_access import settings


def base_url(config: Settings) -> str:
    """The tool's public URL: PUBLIC_BASE_URL; in development only, else the URL this request
    came to. In production the request's Host header is the client's word (an attacker's page
    could make the tool name its own host), so without the setting the request is refused."""
    if config.public_base_url:
        return config.public_base_url.rstrip("/")
    if config.is_production:
        raise ServiceUnavailable(
            "The tool's public URL is not configured: set PUBLIC_BASE_URL (the URL LMSs and "
            "browsers reach) to serve LTI in production (APP_ENV=production)."
        )
    return request.url_root.rstrip("/")


def launch_store(session: Session, config: Settings) -> LaunchStore:
    """Redis when REDIS_URL is set (one client per app), else the database."""
    if not config.redis_url:
        return DatabaseLaunchStore(session)
    return RedisLaunchStore(_redis(config))


def platform_http(config: Settings) -> requests.Session:
    """The app's session for platform key sets, with its HTTP cache (Redis when configured)."""
    http = current_app.extensions.get("lti_http")
    if http is None:
        redis = _redis(config) if config.redis_url else None
        http = platform_session(redis, enabled=config.caches_enabled)
        current_app.extensions["lti_http"] = http
    return http


def _redis(config: Settings) -> Any:
    assert config.redis_url is not None
    client = current_app.extensions.get("lti_redis")
    if client is None:
        client = current_app.extensions["lti_redis"] = redis_client(config.redis_url)
    return client


def tool_environment() -> tool.ToolEnvironment:
    config = settings()
    session = get_session()
    http = platform_http(config)
    return tool.ToolEnvironment(
        session, config, launch_store(session, config), base_url(config), http
    )
