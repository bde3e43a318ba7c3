"""Loopback HTTP clients: a keep-alive one for sequential timings, and an asyncio load
generator (raw HTTP/1.1 over keep-alive connections) for concurrent clients.

Both read whole responses, so a request's time includes the transfer of its body. Every loop is
bounded by a request count and a deadline.
"""

from __future__ import annotations

import asyncio
import http.client
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

HOST = "127.0.0.1"
REQUEST_TIMEOUT_S = 120.0


class HttpError(RuntimeError):
    pass


class Http:
    """Sequential requests over one keep-alive connection (reopened when the server closes)."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.connection = http.client.HTTPConnection(HOST, port, timeout=REQUEST_TIMEOUT_S)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
    ) -> tuple[int, dict[str, str], bytes]:
        for attempt in range(2):
            try:
                self.connection.request(method, path, body=body, headers=dict(headers or {}))
                response = self.connection.getresponse()
                data = response.read()
                break
            except (http.client.RemoteDisconnected, ConnectionError, BrokenPipeError):
                self.connection.close()
                if attempt:
                    raise
        if response.status != expect:
            raise HttpError(f"{method} {path}: {response.status} {data[:300]!r}")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def timed(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        expect: int = 200,
    ) -> Callable[[], float]:
        def run() -> float:
            start = time.perf_counter()
            self.request(method, path, body, headers, expect)
            return time.perf_counter() - start

        return run

    def close(self) -> None:
        self.connection.close()


class AsyncConnection:
    """One keep-alive HTTP/1.1 connection driven by asyncio streams."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(HOST, self.port)

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self, method: str, path: str, body: bytes = b"", headers: Mapping[str, str] | None = None
    ) -> tuple[int, bytes]:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {HOST}:{self.port}"]
        lines += [f"{name}: {value}" for name, value in (headers or {}).items()]
        if body or method in ("POST", "PUT", "PATCH"):
            lines.append(f"Content-Length: {len(body)}")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode()
        for attempt in range(2):
            reused = self.writer is not None
            if not reused:
                await self._open()
            assert self.reader is not None
            assert self.writer is not None
            try:
                self.writer.write(head + body)
                status_line = await self.reader.readline()
                if not status_line:
                    raise ConnectionResetError("closed before answering")
                status = int(status_line.split()[1])
                length, close = 0, False
                while True:
                    line = await self.reader.readline()
                    if line in (b"\r\n", b"\n", b""):
                        break
                    name, _, value = line.partition(b":")
                    name = name.strip().lower()
                    if name == b"content-length":
                        length = int(value)
                    elif name == b"connection" and value.strip().lower() == b"close":
                        close = True
                data = await self.reader.readexactly(length) if length else b""
                if close:
                    self.close()
                return status, data
            except (ConnectionError, asyncio.IncompleteReadError):
                self.close()
                # An idle keep-alive connection closed by the server: retry once on a new one.
                if attempt or not reused:
                    raise
        raise AssertionError("unreachable")


@dataclass
class LoadResult:
    clients: int
    elapsed: float
    latencies: list[float] = field(default_factory=list)
    errors: int = 0
    flows: int = 0
    error_samples: list[str] = field(default_factory=list)
    server_cpu_s: float = 0.0  # the server's CPU time during the run, when measured

    @property
    def requests(self) -> int:
        return len(self.latencies)

    @property
    def rps(self) -> float:
        return self.requests / self.elapsed if self.elapsed else 0.0

    @property
    def server_cpu_per_request(self) -> float:
        return self.server_cpu_s / self.requests if self.requests else float("nan")

    def percentile(self, q: float) -> float:
        if not self.latencies:
            return float("nan")
        ordered = sorted(self.latencies)
        index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
        return ordered[index]


class Recorder:
    """Times requests made inside a flow and counts the unexpected answers."""

    def __init__(self, result: LoadResult, connection: AsyncConnection) -> None:
        self.result = result
        self.connection = connection

    async def call(
        self,
        method: str,
        path: str,
        body: bytes = b"",
        headers: Mapping[str, str] | None = None,
        expect: tuple[int, ...] = (200,),
    ) -> bytes | None:
        start = time.perf_counter()
        try:
            status, data = await self.connection.request(method, path, body, headers)
        except (OSError, asyncio.IncompleteReadError, ValueError) as exc:
            self.result.latencies.append(time.perf_counter() - start)
            self._error(f"{method} {path}: {exc!r}")
            return None
        self.result.latencies.append(time.perf_counter() - start)
        if status not in expect:
            self._error(f"{method} {path}: {status} {data[:200]!r}")
            return None
        return data

    def _error(self, text: str) -> None:
        self.result.errors += 1
        if len(self.result.error_samples) < 5:
            self.result.error_samples.append(text)


Flow = Callable[[Recorder], Awaitable[bool]]  # one unit of work; False stops this client


async def _load(
    port: int, flow: Flow, clients: int, duration_s: float, max_flows: int
) -> LoadResult:
    result = LoadResult(clients=clients, elapsed=0.0)
    deadline = time.perf_counter() + duration_s
    per_client = max(1, max_flows // clients)

    async def client() -> None:
        connection = AsyncConnection(port)
        recorder = Recorder(result, connection)
        try:
            for _ in range(per_client):
                if time.perf_counter() >= deadline:
                    break
                if not await flow(recorder):
                    break
                result.flows += 1
        finally:
            connection.close()

    start = time.perf_counter()
    await asyncio.wait_for(
        asyncio.gather(*(client() for _ in range(clients))), timeout=duration_s + 60.0
    )
    result.elapsed = time.perf_counter() - start
    return result


def run_load(
    port: int, flow: Flow, *, clients: int, duration_s: float, max_flows: int = 1_000_000
) -> LoadResult:
    """`clients` concurrent connections each repeating `flow` until `duration_s` or max_flows."""
    return asyncio.run(_load(port, flow, clients, duration_s, max_flows))


def run_mixed(
    port: int, groups: list[tuple[Flow, int]], *, duration_s: float, max_flows: int = 100_000
) -> list[LoadResult]:
    """Several loads at once on one server (e.g. light requests while heavy ones run); one
    result per (flow, clients) group."""

    async def together() -> list[LoadResult]:
        return list(
            await asyncio.gather(
                *(_load(port, flow, clients, duration_s, max_flows) for flow, clients in groups)
            )
        )

    return asyncio.run(together())
