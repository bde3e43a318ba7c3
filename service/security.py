"""Security headers on every response.

The lesson page may be framed by any LMS (LTI launches open it in an iframe), so its
frame-ancestors come from FRAME_ANCESTORS; API responses may not be framed at all."""

from __future__ import annotations

from flask import Flask, Response, request

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; "
    "form-action 'self'"
)
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


def install_security_headers(app: Flask, frame_ancestors: str) -> None:
    page_policy = PAGE_POLICY.format(ancestors=frame_ancestors)

    def add_headers(response: Response) -> Response:
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "strict-origin-when-cross-origin")
        path = request.path
        if path == "/" or path.startswith("/static/"):
            headers.setdefault("Content-Security-Policy", page_policy)
        elif path.startswith("/docs"):
            headers.setdefault("X-Frame-Options", "DENY")
        elif path.startswith("/lti/"):
            # LTI pages are shown inside the LMS iframe; they set their own frame-ancestors.
            headers.setdefault("Content-Security-Policy", f"frame-ancestors {frame_ancestors}")
        else:
            headers.setdefault("Content-Security-Policy", API_POLICY)
            headers.setdefault("X-Frame-Options", "DENY")
        return response

    app.after_request(add_headers)
