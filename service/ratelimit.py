"""Rate limits (flask-limiter) on registration, attempts and LTI endpoints.

Counters live in Redis when REDIS_URL is set, so every worker and host shares them; without
Redis each worker process counts alone (fine for one development process, looser by the
worker count otherwise). A caller is counted by its verified principal (a learner by learner
id, whatever token it sends; an integration by API key id), everyone else by client address:
a credential that does not verify counts against the address it came from, so sending made-up
`Authorization` headers buys no fresh bucket and a forged key cannot spend a real key's. An
instructor's LTI session (the instructor token of a staff launch) counts by LMS user. The
address is the one the trusted proxy saw (TRUSTED_PROXY_COUNT, applied by the composition
root). The defaults let a classroom behind one address register and work at once."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, cast

import flask
from flask import Flask
from flask_limiter import HeaderNames, Limiter
from flask_limiter.util import get_remote_address

from service.config import Settings

#: endpoint -> (which limit, methods it applies to)
LIMITED_ENDPOINTS: dict[str, tuple[str, list[str]]] = {
    "learners.Learners": ("registration", ["POST"]),
    "learners.QuizAttempts": ("attempts", ["POST"]),
    "learners.Submission": ("attempts", ["POST"]),
}
LIMITED_BLUEPRINT_PREFIXES = ("lti", "outbox")


#: the verified caller's key ("learner:<id>", "api-key:<id>", ...), None when there is none
PrincipalKey = Callable[[], str | None]


def install_rate_limits(
    app: Flask, settings: Settings, principal_keys: Sequence[PrincipalKey]
) -> Limiter:
    """Limit the endpoints above; `principal_keys` each verify one kind of credential (the
    composition root hands in those of auth and lti); the first that verifies names the caller."""

    def caller_key() -> str:
        for principal_key in principal_keys:
            key = principal_key()
            if key is not None:
                return key
        return "address:" + get_remote_address()

    limiter = Limiter(
        key_func=caller_key,
        app=app,
        storage_uri=settings.redis_url or "memory://",
        headers_enabled=True,
        swallow_errors=True,  # a Redis outage must not take the service down
        enabled=settings.rate_limits_enabled,
        strategy="fixed-window",
        key_prefix="activation-lab",
        # Retry-After stays ours (a 503 says 5 s); the limiter's goes in its own header.
        header_name_mapping={HeaderNames.RETRY_AFTER: "X-RateLimit-Retry-After"},
    )
    if not settings.rate_limits_enabled:
        return limiter  # nothing to count: the views stay unwrapped
    limits = {
        "registration": settings.rate_limit_registration,
        "attempts": settings.rate_limit_attempts,
        "lti": settings.rate_limit_lti,
    }
    for endpoint, (kind, methods) in LIMITED_ENDPOINTS.items():
        view: Callable[..., Any] = app.view_functions[endpoint]
        app.view_functions[endpoint] = limiter.limit(limits[kind], methods=methods)(view)
    for name, blueprint in app.blueprints.items():
        if name.startswith(LIMITED_BLUEPRINT_PREFIXES):
            limiter.limit(limits["lti"])(cast(flask.Blueprint, blueprint))
    return limiter
