"""Start and stop gunicorn servers on loopback with the project's gunicorn.conf.py.

Every server runs in its own process group (start_new_session) and is registered, so that
`stop_all()` (also called at exit and on SIGINT/SIGTERM) ends the whole group, workers included.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).with_name("gunicorn")
HOST = "127.0.0.1"
START_TIMEOUT_S = 60.0

_running: list[Server] = []


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((HOST, 0))
        return int(probe.getsockname()[1])


@dataclass
class Server:
    """One gunicorn master (and its workers) serving `app` on HOST:port."""

    name: str
    app: str
    env: dict[str, str]
    log_path: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://{HOST}:{self.port}"

    def start(self, ready_path: str = "/health/live", timeout_s: float = START_TIMEOUT_S) -> Server:
        env = {**self.env, "BIND_HOST": HOST, "PORT": str(self.port)}
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [str(GUNICORN), "--config", str(ROOT / "gunicorn.conf.py"), self.app],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()
        _running.append(self)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.name} exited at start; see {self.log_path}")
            if _answers(self.port, ready_path):
                return self
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"{self.name} did not answer within {timeout_s} s")

    def cpu_seconds(self) -> float:
        """User + system CPU time so far of the master and its workers (its process group)."""
        if self.process is None:
            return 0.0
        group, total = self.process.pid, 0
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # exited meanwhile
                continue
            if int(fields[2]) == group:  # fields[2] is the process group id
                total += int(fields[11]) + int(fields[12])  # utime, stime in clock ticks
        return total / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        process = self.process
        if process is None:
            return
        self.process = None
        if self in _running:
            _running.remove(self)
        if process.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=5)
        # Workers left behind by a master that died first share its process group.
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, signal.SIGKILL)


def _answers(port: int, path: str) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=1.0) as sock:
            sock.sendall(
                f"GET {path} HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n".encode()
            )
            head = sock.recv(64)
    except OSError:
        return False
    return head.startswith(b"HTTP/1.1 200") or head.startswith(b"HTTP/1.0 200")


def server_env(base: Mapping[str, str], **overrides: str) -> dict[str, str]:
    """The bench's environment for a server: quiet logs, no rate limits, 2 workers."""
    env = dict(base)
    env.update(
        {
            "WEB_CONCURRENCY": "2",
            "LOG_LEVEL": "WARNING",
            "RATE_LIMITS_ENABLED": "false",
            "SECRET_KEY": "bench-" + "0" * 40,
            "PYTHONHASHSEED": "0",
        }
    )
    env.update(overrides)
    return env


@contextlib.contextmanager
def serving(*servers: Server) -> Iterator[tuple[Server, ...]]:
    try:
        for server in servers:
            server.start(
                ready_path="/health/live"
                if server.app.startswith(("service", "bench.variants"))
                else "/hello"
            )
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()


def stop_all() -> None:
    for server in list(_running):
        server.stop()


def _on_signal(signum: int, _frame: object) -> None:
    stop_all()
    raise SystemExit(128 + signum)


def install_cleanup() -> None:
    atexit.register(stop_all)
    signal.signal(signal.SIGTERM, _on_signal)
    signal.signal(signal.SIGINT, _on_signal)
