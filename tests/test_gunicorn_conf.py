"""gunicorn.conf.py read with a given environment (its listening sockets are tested for real in
tests/reliability/test_listening.py)."""

from __future__ import annotations

import runpy
from pathlib import Path
from typing import Any

import pytest

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
