"""Real processes for the reliability suites: gunicorn masters, fresh databases, a TCP proxy.

Everything listens on 127.0.0.1 only. A server is started in its own process group and stopped
by signalling that group, so no worker outlives a test; every wait is bounded.
"""

from __future__ import annotations

import contextlib
import ctypes
import http.client
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import create_engine, func, text
from sqlalchemy import select as sql_select
from sqlalchemy.engine import make_url

from service.auth.services import create_api_key
from service.db import Database
from service.migrate import upgrade
from service.models import metadata
from service.quizzes.services import seed_bank
from tests.backends import POSTGRES_URL

REPO_ROOT = Path(__file__).resolve().parents[2]
SECRET_KEY = "reliability-secret-key"
LOOPBACK = "127.0.0.1"
_BOOTED = re.compile(r"Booting worker with pid: (\d+)")
# TCP states as /proc/net/tcp writes them.
_ESTABLISHED = "01"
_LISTEN = "0A"
_SERVICE_VARIABLES = (
    "DATABASE_",
    "DB_",
    "GUNICORN_",
    "WEB_CONCURRENCY",
    "TEST_DATABASE",
    "REDIS_URL",
    "XAPI_",
    "LTI_",
    "PUBLIC_BASE_URL",
    "OPEN_REGISTRATION",
    "MAX_",
    "TOKEN_TTL",
    "CORS_",
    "FRAME_ANCESTORS",
    "RATE_LIMIT",
    "FORWARDED_ALLOW_IPS",
    "APP_ENV",
    "TRUSTED_PROXY_COUNT",
    "METRICS_",
)


def gunicorn_executable() -> str:
    """The virtualenv's gunicorn (beside the running interpreter), else the one on PATH."""
    beside = Path(sys.executable).parent / "gunicorn"
    if beside.exists():
        return str(beside)
    found = shutil.which("gunicorn")
    if found is None:
        raise RuntimeError("gunicorn is not installed in this environment")
    return found


# --------------------------------------------------------------------------------------------
# Databases


@dataclass(frozen=True)
class SeededDatabase:
    """A migrated database with the lesson bank loaded and an admin API key."""

    url: str
    admin_key: str
    quiz_slugs: tuple[str, ...]


@contextlib.contextmanager
def fresh_database(backend: str, directory: Path) -> Iterator[str]:
    """A new database migrated to head: a SQLite file in `directory`, or a PostgreSQL database
    created next to TEST_DATABASE_URL's (and dropped, connections and all, afterwards)."""
    if backend == "sqlite":
        url = f"sqlite:///{directory / f'reliability-{uuid.uuid4().hex[:8]}.db'}"
        upgrade(url)
        yield url
        return
    if not POSTGRES_URL.startswith("postgresql"):
        raise RuntimeError("TEST_DATABASE_URL must point at PostgreSQL for this backend")
    base = make_url(POSTGRES_URL)
    # Prefixed by the CI database's name so that .ci/run's cleanup also finds leftovers.
    name = f"{base.database}_rel_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
        url = base.set(database=name).render_as_string(hide_password=False)
        try:
            upgrade(url)
            yield url
        finally:
            with admin.connect() as connection:
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    finally:
        admin.dispose()


def seed(url: str, secret_key: str = SECRET_KEY) -> SeededDatabase:
    """Load the lesson bank (what `flask seed` does) and create an admin API key."""
    database = Database(url)
    try:
        with database.sessionmaker() as session:
            report = seed_bank(session)
        with database.sessionmaker() as session:
            _, plaintext = create_api_key(session, "reliability admin", "admin", secret_key)
    finally:
        database.dispose()
    slugs = tuple(
        line.split(":")[0].removeprefix("quiz ").strip() for line in report.splitlines() if line
    )
    return SeededDatabase(url, plaintext, slugs)


def table_counts(url: str) -> dict[str, int]:
    """Rows per table (every table the models know)."""
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            return {
                table.name: connection.scalar(sql_select(func.count()).select_from(table)) or 0
                for table in metadata.sorted_tables
            }
    finally:
        engine.dispose()


# --------------------------------------------------------------------------------------------
# gunicorn


# Its own source of randomness: two test processes seeded alike must not draw the same ports.
_PORT_DRAWS = random.SystemRandom()


def free_port() -> int:
    """A port nothing listens on now, drawn below the kernel's ephemeral range so that no
    outgoing connection (a client's, a database driver's) takes it before the server binds it."""
    ephemeral = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
    below = max(int(ephemeral[0]), 20_000)
    for _ in range(100):
        port = _PORT_DRAWS.randrange(10_000, below)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            try:
                probe.bind((LOOPBACK, port))
            except OSError:
                continue
        return port
    raise RuntimeError(f"no free port found in 10000..{below}")


def base_environment(database_url: str, **overrides: str) -> dict[str, str]:
    """The environment of a service process: this one's PATH etc., the test's settings.

    A concrete free port, as in production: gunicorn.conf.py gives every worker its own
    SO_REUSEPORT socket then (port 0 would give each worker a different port)."""
    # Whatever configures the service in this shell (Settings.from_env, gunicorn.conf.py) is
    # left out: the test says what it runs with.
    inherited = {
        name: value for name, value in os.environ.items() if not name.startswith(_SERVICE_VARIABLES)
    }
    return {
        **inherited,
        "DATABASE_URL": database_url,
        "SECRET_KEY": SECRET_KEY,
        "RATE_LIMITS_ENABLED": "false",
        "LOG_LEVEL": "WARNING",
        "BIND_HOST": LOOPBACK,
        "PORT": str(free_port()),
        "WEB_CONCURRENCY": "2",
        "GUNICORN_THREADS": "4",
        "GUNICORN_TIMEOUT": "60",
        **overrides,
    }


@dataclass
class GunicornServer:
    """One gunicorn master and its workers, started from the repository's gunicorn.conf.py."""

    env: dict[str, str]
    log_path: Path
    workers: int
    app: str = "service:create_app()"
    process: subprocess.Popen[bytes] | None = None
    port: int = 0
    _log: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self, timeout: float = 60.0) -> None:
        self.port = int(self.env["PORT"])
        self._log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                gunicorn_executable(),
                "--config",
                str(REPO_ROOT / "gunicorn.conf.py"),
                # Booted workers are counted in the log, so the log must be at info.
                "--log-level",
                "info",
                self.app,
            ],
            cwd=REPO_ROOT,
            env=self.env,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals all of it
            preexec_fn=_die_with_parent,
        )
        try:
            self._wait_until_ready(timeout)
        except BaseException:
            self.stop()
            raise

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def _wait_until_ready(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited early:\n{self.log()[-4000:]}")
            if len(_BOOTED.findall(self.log())) >= self.workers and self.ready():
                return
            time.sleep(0.1)
        raise TimeoutError(f"gunicorn was not ready within {timeout} s:\n{self.log()[-4000:]}")

    def ready(self) -> bool:
        try:
            status, _, _ = request(self.base_url, "GET", "/health/ready", timeout=5)
        except OSError:
            return False
        return status == 200

    def worker_pids(self) -> list[int]:
        """The master's live child processes (its workers)."""
        assert self.process is not None
        return children_of(self.process.pid)

    def client_connections(self) -> dict[int, int]:
        """Established client connections per worker (sockets on the server's port)."""
        return {pid: len(inodes) for pid, inodes in self._sockets_by_worker(_ESTABLISHED).items()}

    def listening_sockets(self) -> dict[int, set[str]]:
        """Each worker's listening sockets on the server's port, by socket inode."""
        return self._sockets_by_worker(_LISTEN)

    def _sockets_by_worker(self, state: str) -> dict[int, set[str]]:
        """Inodes of the sockets on the server's port in TCP `state`, per worker holding them."""
        inodes_by_worker: dict[int, set[str]] = {}
        for pid in self.worker_pids():
            inodes = set()
            with contextlib.suppress(OSError):
                for fd in os.listdir(f"/proc/{pid}/fd"):
                    with contextlib.suppress(OSError):
                        target = os.readlink(f"/proc/{pid}/fd/{fd}")
                        if target.startswith("socket:["):
                            inodes.add(target[8:-1])
            inodes_by_worker[pid] = inodes
        on_port = set()
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            fields = line.split()
            local_port = int(fields[1].split(":")[1], 16)
            if local_port == self.port and fields[3] == state:
                on_port.add(fields[9])
        return {pid: inodes & on_port for pid, inodes in inodes_by_worker.items()}

    def stop(self) -> None:
        """TERM the process group, then KILL whatever is left of it; always reaps the master."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=15)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if self._log is not None:
            self._log.close()
            self._log = None


@contextlib.contextmanager
def running_server(
    database_url: str,
    log_dir: Path,
    *,
    workers: int = 2,
    threads: int = 4,
    name: str = "gunicorn",
    app: str = "service:create_app()",
    **env: str,
) -> Iterator[GunicornServer]:
    """A started gunicorn serving `app` (ready once /health/ready answers 200), stopped on exit."""
    server = GunicornServer(
        env=base_environment(
            database_url, WEB_CONCURRENCY=str(workers), GUNICORN_THREADS=str(threads), **env
        ),
        log_path=log_dir / f"{name}-{uuid.uuid4().hex[:6]}.log",
        workers=workers,
        app=app,
    )
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _die_with_parent() -> None:
    """In the child before exec: SIGKILL the master if the test process dies without its
    teardown (its workers then exit by themselves, as gunicorn workers do when orphaned)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


_PR_SET_PDEATHSIG = 1


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (read from /proc)."""
    children = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:
            continue
        # The command name may hold spaces and parentheses: fields resume after the last ')'.
        fields = stat[stat.rfind(")") + 2 :].split()
        if int(fields[1]) == pid and fields[0] != "Z":
            children.append(int(entry))
    return sorted(children)


# --------------------------------------------------------------------------------------------
# HTTP


def request(
    base_url: str,
    method: str,
    path: str,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
    timeout: float = 30.0,
) -> tuple[int, dict[str, str], bytes]:
    """One request on a new connection: (status, lower-cased headers, body)."""
    client = KeepAliveClient(base_url, timeout=timeout)
    try:
        return client.request(method, path, body, headers)
    finally:
        client.close()


class KeepAliveClient:
    """One persistent HTTP/1.1 connection (reopened after a failure), like a browser's."""

    def __init__(self, base_url: str, timeout: float = 30.0) -> None:
        host, _, port = base_url.removeprefix("http://").partition(":")
        self.host = host
        self.port = int(port)
        self.timeout = timeout
        self._connection: http.client.HTTPConnection | None = None

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        headers: Mapping[str, str] | None = None,
    ) -> tuple[int, dict[str, str], bytes]:
        """Send one request; OSError / HTTPException when the connection fails (then it is
        dropped, and the next request opens a new one)."""
        sent_headers = dict(headers or {})
        payload: bytes | None
        if body is None or isinstance(body, bytes):
            payload = body
        else:
            payload = orjson.dumps(body)
            sent_headers.setdefault("Content-Type", "application/json")
        if self._connection is None:
            self._connection = http.client.HTTPConnection(
                self.host, self.port, timeout=self.timeout
            )
        try:
            self._connection.request(method, path, body=payload, headers=sent_headers)
            response = self._connection.getresponse()
            data = response.read()
        except (OSError, http.client.HTTPException):
            self.close()
            raise
        if response.will_close:
            self.close()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None


def json_body(data: bytes) -> Any:
    return orjson.loads(data) if data else None


# --------------------------------------------------------------------------------------------
# A TCP proxy that can take the database away


class TcpProxy:
    """Forwards 127.0.0.1:port to a target; `down()` closes the listener and every forwarded
    connection (a stopped server: connections refused), `black_hole()` accepts connections
    and never answers (an unreachable host), `up()` serves again on the same port."""

    def __init__(self, target_host: str, target_port: int) -> None:
        self.target = (target_host, target_port)
        self.port = 0
        self.mode = "down"
        self._listener: socket.socket | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._sockets: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections_accepted = 0

    def up(self) -> None:
        self._listen("forward")

    def black_hole(self) -> None:
        self.down()
        self._listen("black_hole")

    def _listen(self, mode: str) -> None:
        if self._listener is not None:
            self.down()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(128)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self.mode = mode
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._accept_loop, args=(listener,), daemon=True)
        self._thread.start()

    def down(self) -> None:
        self.mode = "down"
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        with self._lock:
            sockets, self._sockets = self._sockets, set()
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def _accept_loop(self, listener: socket.socket) -> None:
        stop = self._stop
        while not stop.is_set():
            readable, _, _ = select.select([listener], [], [], 0.1)
            if not readable:
                continue
            try:
                client, _ = listener.accept()
            except OSError:
                return
            self.connections_accepted += 1
            with self._lock:
                self._sockets.add(client)
            if self.mode == "black_hole":
                continue  # held open, never answered, closed by down()
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._sockets.add(upstream)
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pump, args=(source, sink), daemon=True).start()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    try:
        while True:
            data = source.recv(65536)
            if not data:
                break
            sink.sendall(data)
    except OSError:
        pass
    finally:
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)


# --------------------------------------------------------------------------------------------
# A learner's journey: register, start a quiz, submit answers


def answers_for(questions: list[dict[str, Any]]) -> dict[str, Any]:
    """Readable answers to an attempt's questions (right or wrong does not matter here)."""
    answers: dict[str, Any] = {}
    for question in questions:
        kind = question["type"]
        if kind == "numeric":
            answers[question["id"]] = "1"
        elif kind == "true_false":
            answers[question["id"]] = True
        elif kind == "single_choice":
            answers[question["id"]] = question["choices"][0]["id"]
        elif kind == "multiple_choice":
            answers[question["id"]] = [question["choices"][0]["id"]]
    return answers


@dataclass
class Journey:
    """What one client saw of one learner's journey."""

    index: int
    steps: list[tuple[str, int]] = field(default_factory=list)  # (step, status); 0: no answer
    learner_id: str | None = None
    attempt_id: str | None = None
    submitted: bool = False
    score: float | None = None
    submitted_at: str | None = None
    errors: list[str] = field(default_factory=list)


def take_quiz(
    client: KeepAliveClient,
    journey: Journey,
    slug: str,
    *,
    idempotency_key: str | None = None,
    retries: int = 0,
) -> Journey:
    """Register, start an attempt on `slug` and submit it, recording every answer.

    With `retries`, a step whose connection failed (or that got a 5xx) is sent again: safe for
    registration and start (a start resumes the open attempt) and, with an Idempotency-Key,
    for the submission."""
    status, body = _step(
        client,
        journey,
        "register",
        "POST",
        "/v1/learners",
        retries,
        {"display_name": f"Load learner {journey.index}"},
    )
    if status != 201:
        return journey
    journey.learner_id = body["id"]
    auth = {"Authorization": f"Bearer {body['token']}"}
    status, body = _step(
        client, journey, "start", "POST", f"/v1/quizzes/{slug}/attempts", retries, None, auth
    )
    if status not in (200, 201):
        return journey
    journey.attempt_id = body["id"]
    headers = dict(auth)
    if idempotency_key:
        headers["Idempotency-Key"] = idempotency_key
    status, body = _step(
        client,
        journey,
        "submit",
        "POST",
        f"/v1/attempts/{journey.attempt_id}/submission",
        retries,
        {"answers": answers_for(body["questions"])},
        headers,
    )
    if status == 200:
        journey.submitted = True
        journey.score = body["score"]
        journey.submitted_at = body["submitted_at"]
    return journey


def _step(
    client: KeepAliveClient,
    journey: Journey,
    name: str,
    method: str,
    path: str,
    retries: int,
    body: Any = None,
    headers: Mapping[str, str] | None = None,
) -> tuple[int, Any]:
    for _ in range(retries + 1):
        try:
            status, _, data = client.request(method, path, body, headers)
        except (OSError, http.client.HTTPException) as exc:
            journey.steps.append((name, 0))
            journey.errors.append(f"{name}: {type(exc).__name__}: {exc}")
            continue
        journey.steps.append((name, status))
        if status >= 500:
            journey.errors.append(f"{name}: {status} {data[:300]!r}")
            continue
        return status, json_body(data)
    return 0, None
