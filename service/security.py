"""Security headers on every response.

The lesson page may be framed by any LMS (LTI launches open it in an iframe), so its
frame-ancestors come from FRAME_ANCESTORS; API responses may not be framed at all. The API docs
(Swagger UI at /docs) run the service's own copies of Swagger UI's files plus the one inline
start-up script of its page, admitted by its SHA-256 (computed from the page as served), and
fetch nothing but the service's own URLs."""

from __future__ import annotations

import base64
import hashlib
import re

from flask import Flask, Response, request

PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
    "connect-src 'self'; frame-ancestors {ancestors}; base-uri 'none'; "
    "form-action 'self'"
)
REFERRER_POLICY = "strict-origin-when-cross-origin"
API_POLICY = "default-src 'none'; frame-ancestors 'none'"
DOCS_POLICY = (
    "default-src 'none'; script-src 'self'{hashes}; style-src 'self'; img-src 'self' data:; "
    "font-src 'self'; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; "
    "form-action 'none'"
)
_INLINE_SCRIPT = re.compile(r"<script>(.*?)</script>", re.DOTALL)


Pairs = tuple[tuple[str, str], ...]


def install_security_headers(app: Flask, frame_ancestors: str) -> None:
    page_policy = PAGE_POLICY.format(ancestors=frame_ancestors)
    common: Pairs = (("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", REFERRER_POLICY))
    page: Pairs = (*common, ("Content-Security-Policy", page_policy))
    docs = (*common, ("X-Frame-Options", "DENY"))
    docs_policy = DOCS_POLICY.format(hashes="")
    lti = (*common, ("Content-Security-Policy", f"frame-ancestors {frame_ancestors}"))
    api = (*common, ("Content-Security-Policy", API_POLICY), ("X-Frame-Options", "DENY"))

    def add_headers(response: Response) -> Response:
        path = request.path
        if path in ("/", "/lti/instructor") or path.startswith("/static/"):
            wanted = page
        elif path.startswith("/docs"):
            wanted = (*docs, ("Content-Security-Policy", _docs_policy(response, docs_policy)))
        elif path.startswith("/lti/"):
            wanted = lti  # shown inside the LMS iframe; LTI pages may set their own policy
        else:
            wanted = api
        headers = response.headers
        present = {name.lower() for name, _ in headers}
        headers.extend([(name, value) for name, value in wanted if name.lower() not in present])
        return response

    app.after_request(add_headers)


def _docs_policy(response: Response, plain: str) -> str:
    """The docs policy, admitting the page's inline scripts by hash (Swagger UI's HTML page
    starts the UI from one; its other responses are files, which need none)."""
    if response.mimetype != "text/html" or response.is_streamed:
        return plain
    scripts = _INLINE_SCRIPT.findall(response.get_data(as_text=True))
    hashes = "".join(
        f" 'sha256-{base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()}'"
        for script in scripts
    )
    return DOCS_POLICY.format(hashes=hashes)
