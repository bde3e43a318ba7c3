"""Imports point one way: the numerics and the quiz domain import only numpy and the stdlib."""

from __future__ import annotations

import ast
import sys
from pathlib import Path

import pytest

SERVICE = Path(__file__).resolve().parent.parent / "service"
PURE_MODULES = sorted(
    [
        *SERVICE.joinpath("numerics").rglob("*.py"),
        *SERVICE.joinpath("quizzes", "domain").glob("*.py"),
        SERVICE / "quizzes" / "numbers.py",
    ]
)


def imported_roots(path: Path) -> set[tuple[str, int]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots: set[tuple[str, int]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {(alias.name, 0) for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            roots.add((node.module or "", node.level))
    return roots


def allowed(module: str, level: int, path: Path) -> bool:
    if level:  # relative imports stay inside the package
        return True
    root = module.split(".")[0]
    if root == "numpy" or root in sys.stdlib_module_names or module == "__future__":
        return True
    # The quiz domain may use the stdlib-only number reader beside it.
    return (
        module.startswith(("service.numerics", "service.quizzes.domain"))
        or module == "service.quizzes.numbers"
    )


@pytest.mark.parametrize("path", [p for p in PURE_MODULES if p.exists()], ids=lambda p: p.name)
def test_pure_modules_import_only_numpy_and_stdlib(path: Path) -> None:
    offending = sorted(m for m, level in imported_roots(path) if not allowed(m, level, path))
    assert offending == [], f"{path.relative_to(SERVICE.parent)} imports {offending}"


def test_the_scan_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import flask\nfrom sqlalchemy import select\nimport numpy as np\n")
    found = {m for m, level in imported_roots(bad) if not allowed(m, level, bad)}
    assert found == {"flask", "sqlalchemy"}
