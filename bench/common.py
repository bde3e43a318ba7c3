"""What every scenario shares: the run's options, its scratch directory, the servers' base
environment, and the collected ratios, checks and scaling tables."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from bench.server import ROOT, Server, server_env
from bench.stats import Ratio

FLASK = Path(sys.executable).with_name("flask")
T = TypeVar("T", int, float)


@dataclass
class Check:
    """A pass/fail figure that is not a ratio (error counts, equality, memory)."""

    scenario: str
    name: str
    value: str
    goal: str
    met: bool
    note: str = ""


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    note: str = ""


@dataclass
class Context:
    quick: bool
    workdir: Path
    base_env: dict[str, str]
    ratios: list[Ratio] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def reps(self, full: T, quick: T) -> T:
        return quick if self.quick else full

    def server(self, name: str, app: str, **env: str) -> Server:
        return Server(
            name=name,
            app=app,
            env=server_env(self.base_env, **env),
            log_path=self.workdir / f"{name}.log",
        )

    def service(self, name: str, database_url: str, **env: str) -> Server:
        return self.server(name, "service:create_app()", DATABASE_URL=database_url, **env)

    def baseline(self, name: str = "baseline", **env: str) -> Server:
        return self.server(name, "bench.baselines:create_app()", **env)

    def say(self, text: str) -> None:
        print(text, flush=True)


def prepare_database(context: Context, database_url: str) -> None:
    """Migrate to head and seed the lesson quizzes (the same steps as `make run`)."""
    env = {**context.base_env, "DATABASE_URL": database_url, "SECRET_KEY": "bench-" + "0" * 40}
    for command in (["db", "upgrade"], ["seed"]):
        subprocess.run(
            [str(FLASK), "--app", "service", *command],
            cwd=ROOT,
            env=env,
            check=True,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            timeout=120,
        )


def sqlite_url(context: Context, name: str) -> str:
    return f"sqlite:///{context.workdir / name}.db"


def cpu_count() -> int:
    return os.cpu_count() or 1
