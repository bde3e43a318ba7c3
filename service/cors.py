"""CORS for other frontends: only the origins listed in CORS_ORIGINS (none by default)."""

from __future__ import annotations

from flask import Flask, Response, request

ALLOWED_HEADERS = (
    "Authorization, Content-Type, Idempotency-Key, X-API-Key, X-Request-ID, If-None-Match"
)
EXPOSED_HEADERS = "ETag, X-Request-ID, Idempotent-Replayed, Retry-After, Location"
ALLOWED_METHODS = "GET, POST, PUT, DELETE, OPTIONS"


def install_cors(app: Flask, origins: tuple[str, ...]) -> None:
    allowed = frozenset(origins)
    allow_any = "*" in allowed

    def add_headers(response: Response) -> Response:
        origin = request.headers.get("Origin")
        if not origin or not (allow_any or origin in allowed):
            return response
        response.headers["Access-Control-Allow-Origin"] = "*" if allow_any else origin
        response.vary.add("Origin")
        response.headers["Access-Control-Expose-Headers"] = EXPOSED_HEADERS
        if request.method == "OPTIONS":
            response.headers["Access-Control-Allow-Methods"] = ALLOWED_METHODS
            response.headers["Access-Control-Allow-Headers"] = ALLOWED_HEADERS
            response.headers["Access-Control-Max-Age"] = "600"
        return response

    app.after_request(add_headers)
