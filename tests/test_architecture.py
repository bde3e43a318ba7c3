"""The import contracts (pyproject.toml, checked by `lint-imports` in `make lint`) fail when the
package graph gains a cycle or a pure package gains a framework import.

Each test breaks a copy of the source tree on purpose and runs import-linter on it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


@pytest.fixture(scope="module")
def tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of what lint-imports reads: the service package, the contract types, the config."""
    copy = tmp_path_factory.mktemp("tree")
    shutil.copytree(
        ROOT / "service", copy / "service", ignore=shutil.ignore_patterns("__pycache__")
    )
    shutil.copytree(ROOT / "tools", copy / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", copy / "pyproject.toml")
    return copy


def lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    # The copy comes first on the path, ahead of the installed (editable) service package.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def add_import(tree: Path, module: str, statement: str) -> None:
    path = tree.joinpath(*module.split(".")).with_suffix(".py")
    path.write_text(path.read_text() + f"\n{statement}  # deliberately breaks a contract\n")


def test_the_contracts_hold_and_break_on_a_cycle_or_an_impure_import(tree: Path) -> None:
    kept = lint_imports(tree)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert "0 broken" in kept.stdout

    # A cycle between learners and an integration, the outbox knowing a user, a service
    # importing a view, a framework in the numerics and in the quiz domain.
    add_import(tree, "service.learners.attempts", "import service.lti.grades")
    add_import(tree, "service.outbox.queue", "import service.xapi.forwarding")
    add_import(tree, "service.quizzes.services", "import service.quizzes.routes")
    add_import(tree, "service.numerics.gaussian", "import flask")
    add_import(tree, "service.quizzes.numbers", "import sqlalchemy")
    broken = lint_imports(tree)

    report = broken.stdout
    assert broken.returncode == 1, report + broken.stderr
    assert "5 broken" in report
    assert "service.learners.attempts -> service.lti.grades" in report
    assert "service.outbox.queue -> service.xapi.forwarding" in report
    assert "service.quizzes.services -> service.quizzes.routes" in report
    assert "service.numerics.gaussian -> flask" in report
    assert "service.quizzes.numbers -> sqlalchemy" in report
