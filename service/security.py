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
REFERRER_POLICY = "strict-origin-when-cross-origin"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"


Pairs = tuple[tuple[str, str], ...]


def install_security_headers(app: Flask, frame_ancestors: str) -> None:
    page_policy = PAGE_POLICY.format(ancestors=frame_ancestors)
    common: Pairs = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", REFERRER_POLICY))
    page: Pairs = (*common, ("Content-Security-Policy", page_policy))
    docs = (*common, ("X-Frame-Options", "DENY"))
    lti = (*common, ("Content-Security-Policy", f"frame-ancestors {frame_ancestors}"))
    api = (*common, ("Content-Security-Policy", API_POLICY), ("X-Frame-Options", "DENY"))

    def add_headers(response: Response) -> Response:
        path = request.path
        if path in ("/", "/lti/instructor") or path.startswith("/static/"):
            wanted = page
        elif path.startswith("/docs"):
            wanted = docs
        elif path.startswith("/lti/"):
            wanted = lti  # shown inside the LMS iframe; LTI pages may set their own policy
        else:
            wanted = api
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response

    app.after_request(add_headers)
