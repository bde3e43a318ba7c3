"""gunicorn settings, from the environment: PORT, WEB_CONCURRENCY, GUNICORN_THREADS, ..."""

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

_host = os.environ.get("BIND_HOST", "0.0.0.0")
_port = int(os.environ.get("PORT", "8000"))
bind = f"{_host}:{_port}"
# Every worker listens on a socket of its own (SO_REUSEPORT) and the kernel spreads new
# connections over them evenly. On one shared socket, whichever worker wakes first accepts:
# at 32 keep-alive clients one of two workers held all 32 connections in 3 of 15 rounds and
# the other core idled (bench/notes.md). Port 0 keeps one socket: each worker would get a
# port of its own.
reuse_port = _port != 0
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# GUNICORN_WORKER_CLASS: gthread (the default) or sync, both refusing in problem+json (below);
# any other gunicorn worker class is taken as given, with gunicorn's HTML refusals.
_worker_name = os.environ.get("GUNICORN_WORKER_CLASS", "gthread")
if _worker_name == "sync" and threads > 1:
    _worker_name = "gthread"  # what gunicorn itself does
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 20
keepalive = 5
max_requests = int(os.environ.get("GUNICORN_MAX_REQUESTS", "0"))
max_requests_jitter = max_requests // 10
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# One JSON object per request on stdout.
accesslog = "-"
access_log_format = (
    '{"time": "%(t)s", "remote": "%(h)s", "method": "%(m)s", "path": "%(U)s", '
    '"query": "%(q)s", "status": %(s)s, "bytes": %(B)s, "duration_us": %(D)s, '
    '"request_id": "%({x-request-id}o)s", "user_agent": "%(a)s"}'
)
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()


class _ProblemRefusals:
    """A worker that answers what gunicorn refuses (a malformed request line, an overlong URL or
    headers, bad chunking, ...) as application/problem+json, like the app, not as HTML.

    The classes live here, not in the service package: importing anything from `service` in the
    master would load the whole app there, and a HUP reload would then fork workers from stale
    modules. The worker imports service.wsgi_errors after it has loaded the app."""

    def load_wsgi(self):
        super().load_wsgi()
        from service.wsgi_errors import answer_refusal

        self._answer_refusal = answer_refusal

    def handle_error(self, req, client, addr, exc):
        self._answer_refusal(self, req, client, addr, exc)


class ProblemThreadWorker(_ProblemRefusals, ThreadWorker):
    """gthread, refusing in problem+json."""


class ProblemSyncWorker(_ProblemRefusals, SyncWorker):
    """sync, refusing in problem+json (bench/workers.py measures it against gthread)."""


worker_class = {"gthread": ProblemThreadWorker, "sync": ProblemSyncWorker}.get(
    _worker_name, _worker_name
)


# Prometheus: every worker writes its samples to one directory that /metrics aggregates.
_own_metrics_dir = not os.environ.get("PROMETHEUS_MULTIPROC_DIR")
if _own_metrics_dir:
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="activation-lab-metrics-")
_metrics_dir = os.environ["PROMETHEUS_MULTIPROC_DIR"]


def on_starting(server):
    if reuse_port:
        _refuse_taken_port(server)
    _compile_kernels(server)


def _compile_kernels(server):
    """Compile the normalization kernels into numba's on-disk cache before any worker starts.

    In a child process: the master never runs a kernel (no thread pool to carry across fork),
    and the workers then load the compiled code in under a second instead of each compiling it
    for ~30 s of CPU (with the cache already filled this takes ~1-2 s: importing numba).
    """
    started = time.monotonic()
    command = [sys.executable, "-m", "service.numerics.normalization.warmup"]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    took = time.monotonic() - started
    if done.returncode:
        server.log.warning("Normalization kernels not compiled (%.1f s): %s", took, done.stderr)
    else:
        server.log.info("%s; %.1f s with the child process", done.stdout.strip(), took)


def post_worker_init(worker):
    """Tune the allocator for numpy work, and load the kernels (from the cache the master
    filled) before the first request."""
    from service.numerics.normalization.warmup import warm_up
    from service.simulations.allocator import reuse_freed_memory

    if not reuse_freed_memory():
        worker.log.info("No glibc mallopt: the allocator keeps its defaults")

    worker.log.info("Normalization kernels loaded in %.2f s", warm_up())


def _refuse_taken_port(server):
    """Exit if something already listens on the port. SO_REUSEPORT would otherwise let this
    server join a running one (a stale `make run`, say) and split its connections with it."""
    addresses = socket.getaddrinfo(
        _host.strip("[]") or None, _port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
    )
    for family, kind, proto, _, address in addresses:
        with socket.socket(family, kind, proto) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(address)
            except OSError as exc:
                server.log.error("Cannot listen on %s: %s (another server runs there?)", bind, exc)
                sys.exit(1)
    server.log.info("Each worker listens on %s (SO_REUSEPORT)", bind)


def child_exit(server, worker):
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


def on_exit(server):
    if _own_metrics_dir:
        shutil.rmtree(_metrics_dir, ignore_errors=True)
