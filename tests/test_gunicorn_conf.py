"""gunicorn.conf.py read with a given environment (its listening sockets are tested for real in
tests/reliability/test_listening.py)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest
from gunicorn.workers.gthread import ThreadWorker
from gunicorn.workers.sync import SyncWorker

CONF = Path(__file__).resolve().parents[1] / "gunicorn.conf.py"


def _settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str) -> dict[str, Any]:
    monkeypatch.setenv("PROMETHEUS_MULTIPROC_DIR", str(tmp_path))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return runpy.run_path(str(CONF))


def test_a_concrete_port_gives_every_worker_its_own_socket(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _settings(monkeypatch, tmp_path, BIND_HOST="127.0.0.1", PORT="8123")
    assert settings["bind"] == "127.0.0.1:8123"
    assert settings["reuse_port"] is True


def test_port_zero_keeps_one_shared_socket(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # Each worker binding port 0 on its own would listen on a different port.
    monkeypatch.delenv("BIND_HOST", raising=False)
    settings = _settings(monkeypatch, tmp_path, PORT="0")
    assert settings["bind"] == "0.0.0.0:0"
    assert settings["reuse_port"] is False


def test_the_default_worker_is_gthread_answering_refusals_as_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("GUNICORN_WORKER_CLASS", raising=False)
    settings = _settings(monkeypatch, tmp_path)
    worker = settings["worker_class"]
    assert issubclass(worker, ThreadWorker)
    assert worker.handle_error is not ThreadWorker.handle_error


@pytest.mark.parametrize(
    ("name", "threads", "base"),
    [("gthread", "2", ThreadWorker), ("sync", "1", SyncWorker), ("sync", "4", ThreadWorker)],
)
def test_gthread_and_sync_workers_answer_refusals_as_problems(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, threads: str, base: type
) -> None:
    settings = _settings(
        monkeypatch, tmp_path, GUNICORN_WORKER_CLASS=name, GUNICORN_THREADS=threads
    )
    worker = settings["worker_class"]
    assert issubclass(worker, base)
    assert worker.handle_error is settings["ProblemThreadWorker"].handle_error


def test_another_worker_class_is_taken_as_given(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    settings = _settings(monkeypatch, tmp_path, GUNICORN_WORKER_CLASS="gevent")
    assert settings["worker_class"] == "gevent"
