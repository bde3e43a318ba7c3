"""HTTP/1.1 over a bare socket: requests sent byte for byte as written (malformed ones too), and
the one response the server answers before it closes the connection."""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass
from typing import Any

import orjson

from tests.reliability.servers import LOOPBACK


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: dict[str, str]  # lower-cased names
    body: bytes

    def problem(self) -> dict[str, Any]:
        """The body as a problem document (asserting its media type)."""
        assert self.headers.get("content-type") == "application/problem+json", self
        document = orjson.loads(self.body)
        assert isinstance(document, dict)
        return document


def exchange(port: int, data: bytes, timeout: float = 15.0) -> RawResponse:
    """Send `data` as is on a new connection, read until the server closes it (every refusal
    closes its connection), and parse the one response."""
    received = bytearray()
    with socket.create_connection((LOOPBACK, port), timeout=timeout) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):
            sock.sendall(data)
        with contextlib.suppress(ConnectionResetError):  # nginx resets after some refusals
            while chunk := sock.recv(65536):
                received += chunk
    return parse_response(bytes(received))


def parse_response(data: bytes) -> RawResponse:
    head, separator, body = data.partition(b"\r\n\r\n")
    assert separator, f"no complete response in {data[:300]!r}"
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {}
    for line in header_lines:
        name, _, value = line.partition(":")
        headers[name.strip().lower()] = value.strip()
    if "content-length" in headers:
        length = int(headers["content-length"])
        assert len(body) >= length, f"body cut short: {len(body)} of {length} bytes"
        body = body[:length]
    return RawResponse(int(status_line.split()[1]), headers, body)
