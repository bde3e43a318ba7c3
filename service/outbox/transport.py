"""The outbound HTTP seam of every delivery handler (LMS grades, LRS statements): handlers talk
through a `Transport`, so tests and operators can inject their own (a local server, a recording
wrapper). TransportError is the one "no HTTP answer" failure they all catch."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson
import requests

DEFAULT_TIMEOUT_SECONDS = 10.0


class TransportError(Exception):
    """The request got no HTTP answer (connection refused, timeout, TLS failure...)."""


@dataclass(frozen=True)
class HttpResponse:
    status: int
    body: bytes = b""
    headers: Mapping[str, str] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300

    def json(self) -> Any:
        return orjson.loads(self.body)

    def snippet(self, limit: int = 300) -> str:
        return self.body[:limit].decode("utf-8", errors="replace")


class Transport(Protocol):
    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpResponse:
        """Send one request; TransportError when no HTTP response arrives."""


class RequestsTransport:
    """The default transport: a requests session with a timeout on every call."""

    def __init__(
        self, session: requests.Session | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS
    ) -> None:
        self._session = session or requests.Session()
        self._timeout = timeout

    def request(
        self,
        method: str,
        url: str,
        *,
        headers: Mapping[str, str],
        form: Mapping[str, str] | None = None,
        body: bytes | None = None,
    ) -> HttpResponse:
        try:
            response = self._session.request(
                method,
                url,
                headers=dict(headers),
                data=form if form is not None else body,
                timeout=self._timeout,
                allow_redirects=False,
            )
        except requests.RequestException as exc:
            raise TransportError(f"{method} {url}: {type(exc).__name__}") from exc
        return HttpResponse(response.status_code, response.content, dict(response.headers))
