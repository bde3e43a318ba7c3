"""Route guards: who may call a view. They read the credential, check it once per request,
and document the security requirement and the 401/403 problems in the OpenAPI document."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import current_app, g, request

from service.api import Blueprint
from service.auth.services import Principal, authenticate
from service.db import get_read_session
from service.errors import Forbidden, Unauthorized

F = TypeVar("F", bound=Callable[..., Any])

LEARNER = "learnerToken"
API_KEY = "apiKey"


def _credential() -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() == "bearer" and value.strip():
        return value.strip()
    api_key = request.headers.get("X-API-Key", "").strip()
    return api_key or None


def current_principal(*, required: bool = True) -> Principal | None:
    """The authenticated caller (cached on the request); Unauthorized if required and absent."""
    if "principal" not in g:
        credential = _credential()
        g.principal = (
            authenticate(get_read_session(), credential, current_app.config["SECRET_KEY"])
            if credential
            else None
        )
    principal: Principal | None = g.principal
    if principal is None and required:
        raise Unauthorized("Authentication required: send `Authorization: Bearer <token>`.")
    return principal


def verified_principal_key() -> str | None:
    """Who to count a request against: `learner:<learner id>` or `api-key:<key id>` once the
    credential verifies; None without a credential or with one that does not verify."""
    try:
        principal = current_principal(required=False)
    except Unauthorized:
        return None
    if principal is None:
        return None
    if principal.is_learner:
        return f"learner:{principal.learner_id}"
    return f"api-key:{principal.credential_id}"


def require_principal() -> Principal:
    principal = current_principal(required=True)
    assert principal is not None
    return principal


def guard(
    blp: Blueprint, *, learner: bool = False, roles: tuple[str, ...] = ()
) -> Callable[[F], F]:
    """Allow learners (`learner=True`) and/or API keys whose role is in `roles`."""
    schemes: list[dict[str, list[str]]] = []
    if learner:
        schemes.append({LEARNER: []})
    if roles:
        schemes.append({API_KEY: []})

    def decorator(view: F) -> F:
        @functools.wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            principal = require_principal()
            if principal.is_learner and not learner:
                raise Forbidden("This operation needs an API key, not a learner token.")
            if not principal.is_learner and principal.role not in roles:
                raise Forbidden(
                    f"This operation needs an API key with role {' or '.join(roles) or 'none'}"
                    f"; this key has role {principal.role}."
                    if roles
                    else "This operation is for learners, not API keys."
                )
            return view(*args, **kwargs)

        documented = blp.doc(security=schemes)(wrapper)
        return blp.problems(401, 403)(documented)

    return decorator
