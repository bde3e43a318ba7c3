"""The production topology on loopback: Debian's nginx with deploy/nginx's configuration in front
of gunicorn, plus the raw-socket clients the tests attack it with.

nginx runs in the foreground from a temporary prefix (its configuration, pid, logs and temporary
files), in its own process group, and is stopped with it. Without /usr/sbin/nginx the tests
skip, unless REQUIRE_NGINX=1 (CI, see .ci/run), where they fail.
"""

from __future__ import annotations

import contextlib
import grp
import http.client
import os
import pwd
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.servers import LOOPBACK, REPO_ROOT, _die_with_parent, free_port

NGINX = Path("/usr/sbin/nginx")  # Debian's package
TEMPLATE = REPO_ROOT / "deploy" / "nginx" / "activation-lab.conf.template"
_TEMPLATE_NAME = re.compile(r"\$\{(PROXY_[A-Z_]+)\}")
_START_ATTEMPTS = 3  # a port drawn free can be taken before nginx binds it: draw again


def require_nginx() -> Path:
    """nginx's executable, or skip (fail when REQUIRE_NGINX=1, as CI sets)."""
    if NGINX.is_file() and os.access(NGINX, os.X_OK):
        return NGINX
    reason = f"{NGINX} is missing (apt-get install -y nginx)"
    if os.environ.get("REQUIRE_NGINX") == "1":
        pytest.fail(f"REQUIRE_NGINX=1 but the proxy tests cannot run: {reason}", pytrace=False)
    pytest.skip(reason)


def render_template(text: str, values: Mapping[str, str]) -> str:
    """What envsubst does to the template in the nginx image: each ${PROXY_*} replaced by its
    value, every other `$name` (nginx's own variables) left alone."""
    missing = set(_TEMPLATE_NAME.findall(text)) - set(values)
    if missing:
        raise KeyError(f"no value for {sorted(missing)}")
    return _TEMPLATE_NAME.sub(lambda match: values[match.group(1)], text)


def _main_config(prefix: Path, site: Path) -> str:
    """The nginx.conf around the site file: foreground, everything under `prefix`."""
    user = ""
    if os.geteuid() == 0:  # workers must not run as root; nobody may use the prefix
        nobody = pwd.getpwnam("nobody")
        user = f"user {nobody.pw_name} {grp.getgrgid(nobody.pw_gid).gr_name};"
    return f"""
daemon off;
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log stderr info;
events {{ worker_connections 1024; }}
http {{
    client_body_temp_path {prefix}/client_body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    include {site};
}}
"""


@dataclass
class NginxServer:
    """One nginx master (and worker) proxying to gunicorn on `upstream_port`."""

    upstream_port: int
    client_timeout: str = "10s"
    read_timeout: str = "75s"
    max_body_size: int = 16 * 1024 * 1024
    port: int = 0
    prefix: Path | None = None
    process: subprocess.Popen[bytes] | None = None
    _output: Any = field(default=None, repr=False)

    @property
    def base_url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def start(self) -> None:
        executable = require_nginx()
        self.prefix = Path(tempfile.mkdtemp(prefix="activation-lab-nginx-"))
        self.prefix.chmod(0o755)  # nginx's workers (nobody, when the tests run as root) use it
        try:
            for _ in range(_START_ATTEMPTS):
                self.port = free_port()
                if self._start_on_port(executable):
                    return
                if "Address already in use" not in self.log():
                    break
            raise RuntimeError(f"nginx did not start:\n{self.log()[-4000:]}")
        except BaseException:
            self.stop()
            raise

    def _start_on_port(self, executable: Path) -> bool:
        """Start nginx on self.port: True once it accepts connections, False if it exited."""
        assert self.prefix is not None
        site = self.prefix / "activation-lab.conf"
        site.write_text(render_template(TEMPLATE.read_text(), self.template_values()))
        config = self.prefix / "nginx.conf"
        config.write_text(_main_config(self.prefix, site))
        if self._output is None:
            self._output = (self.prefix / "output.log").open("ab")
        self.process = subprocess.Popen(
            [str(executable), "-p", str(self.prefix), "-c", str(config), "-e", "stderr"],
            stdin=subprocess.DEVNULL,
            stdout=self._output,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: stop() signals all of it
            preexec_fn=_die_with_parent,
        )
        # nginx writes its pid file once its sockets are bound: until then, whatever accepts a
        # connection on the port is not this nginx.
        pid_file = self.prefix / "nginx.pid"
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                return False
            with contextlib.suppress(OSError, ValueError):
                if int(pid_file.read_text()) == self.process.pid:
                    with socket.create_connection((LOOPBACK, self.port), 1):
                        return True
            time.sleep(0.05)
        raise TimeoutError(f"nginx did not listen within 15 s:\n{self.log()[-4000:]}")

    def template_values(self) -> dict[str, str]:
        return {
            "PROXY_LISTEN": f"{LOOPBACK}:{self.port}",
            "PROXY_UPSTREAM": f"{LOOPBACK}:{self.upstream_port}",
            "PROXY_MAX_BODY_SIZE": str(self.max_body_size),
            "PROXY_CLIENT_TIMEOUT": self.client_timeout,
            "PROXY_READ_TIMEOUT": self.read_timeout,
        }

    def log(self) -> str:
        """nginx's output: its error log (stderr) and access log (stdout)."""
        if self.prefix is None:
            return ""
        output = self.prefix / "output.log"
        return output.read_text(errors="replace") if output.exists() else ""

    def stop(self) -> None:
        """TERM nginx's process group (a fast shutdown), KILL what is left, remove the prefix."""
        process = self.process
        if process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
            self.process = None
        if self._output is not None:
            self._output.close()
            self._output = None
        if self.prefix is not None:
            shutil.rmtree(self.prefix, ignore_errors=True)
            self.prefix = None


@contextlib.contextmanager
def running_proxy(upstream_port: int, **settings: Any) -> Iterator[NginxServer]:
    """A started nginx in front of `upstream_port`, stopped on exit."""
    proxy = NginxServer(upstream_port, **settings)
    proxy.start()
    try:
        yield proxy
    finally:
        proxy.stop()


# --------------------------------------------------------------------------------------------
# Slow clients


def stall_connections(port: int, count: int) -> list[socket.socket]:
    """`count` connections that start a request and never finish it: half stop in the middle of
    their headers, half in the middle of a declared body (slowloris and its POST variant)."""
    sockets = []
    for index in range(count):
        sock = socket.create_connection((LOOPBACK, port), timeout=10)
        if index % 2:
            sock.sendall(
                b"POST /v1/simulations/propagation HTTP/1.1\r\nHost: slow\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
            )
        else:
            sock.sendall(b"GET /health/live HTTP/1.1\r\nHost: slow\r\nX-Slow: ")
        sockets.append(sock)
    return sockets


def is_open(sock: socket.socket) -> bool:
    """The peer has neither closed nor reset the connection."""
    sock.setblocking(False)
    try:
        return sock.recv(1, socket.MSG_PEEK) != b""
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        sock.setblocking(True)


def close_all(sockets: list[socket.socket]) -> None:
    for sock in sockets:
        sock.close()


@dataclass(frozen=True)
class Probe:
    status: int  # 0: no answer within the timeout (or the connection failed)
    seconds: float


def probe(port: int, path: str, count: int, timeout: float) -> list[Probe]:
    """`count` GETs of `path` at once, each on a new connection."""

    def one(_: int) -> Probe:
        started = time.monotonic()
        connection = http.client.HTTPConnection(LOOPBACK, port, timeout=timeout)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return Probe(response.status, time.monotonic() - started)
        except (OSError, http.client.HTTPException):
            return Probe(0, time.monotonic() - started)
        finally:
            connection.close()

    with ThreadPoolExecutor(max_workers=count) as pool:
        return list(pool.map(one, range(count)))
