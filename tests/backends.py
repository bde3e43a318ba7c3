"""Databases the suite runs on: SQLite always, PostgreSQL when TEST_DATABASE_URL is set."""

from __future__ import annotations

import os

import pytest

POSTGRES_URL = os.environ.get("TEST_DATABASE_URL", "")
BACKENDS = ["sqlite", *(["postgresql"] if POSTGRES_URL.startswith("postgresql") else [])]

#: Mark a module or test to run once per backend: `pytestmark = all_backends`.
all_backends = pytest.mark.parametrize("database_url", BACKENDS, indirect=True)
