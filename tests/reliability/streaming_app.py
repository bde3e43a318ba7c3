"""A test-only WSGI app: the service, plus two endpoints whose timing a test controls.

    gunicorn --config gunicorn.conf.py "tests.reliability.streaming_app:create_app()"

- `GET /_test/events?release=PATH` streams server-sent events: one event at once, then, when
  the file PATH exists (the test creates it after it has read the first event), a second one,
  and ends. Through a proxy that buffered the stream, the first event would only arrive after
  the release, so a test that waits for it before releasing shows that nothing buffers it.
  `&buffering=default` leaves out `X-Accel-Buffering: no` (what a proxy does then).
- `GET /_test/slow?seconds=N` answers after N seconds (a slow upstream for the proxy's timeout).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
RELEASE_WAIT_SECONDS = 30.0


def create_app() -> WsgiApp:
    from service import create_app as create_service

    service = create_service()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = {name: values[0] for name, values in parse_qs(environ["QUERY_STRING"]).items()}
        if path == "/_test/events":
            headers = [("Content-Type", "text/event-stream"), ("Cache-Control", "no-cache")]
            if query.get("buffering") != "default":
                headers.append(("X-Accel-Buffering", "no"))
            start_response("200 OK", headers)
            return _events(Path(query["release"]))
        if path == "/_test/slow":
            time.sleep(float(query["seconds"]))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [b'{"slow": true}']
        return service(environ, start_response)

    return app


def _events(release: Path) -> Iterator[bytes]:
    yield b"event: first\ndata: 1\n\n"
    deadline = time.monotonic() + RELEASE_WAIT_SECONDS
    while not release.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    yield b"event: second\ndata: 2\n\n"
