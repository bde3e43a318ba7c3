"""Fixtures: a migrated database per test (SQLite file copy, or a truncated PostgreSQL database per
xdist worker), the app built on it, and its test client."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from service import create_app
from service.config import Settings
from service.migrate import upgrade
from service.models import metadata
from tests.backends import POSTGRES_URL


def pytest_configure(config: pytest.Config) -> None:
    """Compile the normalization kernels into numba's cache once, in the controller, before the
    xdist workers (and the gunicorn servers of the reliability suites) would each compile them:
    ~30 s of CPU on a fresh checkout, under a second once cached."""
    if not hasattr(config, "workerinput"):
        from service.numerics.normalization.warmup import warm_up

        warm_up()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file migrated to head once; each test gets a copy."""
    path = tmp_path_factory.mktemp("db-template") / "template.db"
    upgrade(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_engine(worker_id: str) -> Iterator[Engine]:
    """A throwaway PostgreSQL database for this xdist worker, migrated to head once."""
    if not POSTGRES_URL:
        pytest.skip("TEST_DATABASE_URL is not set")
    base = make_url(POSTGRES_URL)
    name = f"{base.database}_{worker_id}".replace("-", "_")
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = base.set(database=name).render_as_string(hide_password=False)
    upgrade(url)
    engine = create_engine(url)
    yield engine
    engine.dispose()
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _truncate_all(engine: Engine) -> None:
    tables = ", ".join(f'"{table.name}"' for table in metadata.sorted_tables)
    if tables:
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {tables} RESTART IDENTITY CASCADE"))


@pytest.fixture(params=["sqlite"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A clean, migrated database for one test (SQLite unless parametrized with `all_backends`)."""
    if request.param == "sqlite":
        path = tmp_path / "test.db"
        shutil.copyfile(request.getfixturevalue("sqlite_template"), path)
        yield f"sqlite:///{path}"
        return
    engine: Engine = request.getfixturevalue("postgres_engine")
    _truncate_all(engine)
    yield engine.url.render_as_string(hide_password=False)
    _truncate_all(engine)


@pytest.fixture
def settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url,
        secret_key="test-secret-key",
        testing=True,
        rate_limits_enabled=False,
        log_level="WARNING",
        app_env="development",  # URLs from the request (http://localhost), as `make run`
    )


@pytest.fixture
def app(settings: Settings) -> Iterator[Flask]:
    application = create_app(settings)
    yield application
    application.extensions["database"].dispose()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()
