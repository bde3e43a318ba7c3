from __future__ import annotations

from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from service import create_app
from service.config import Settings
from tests.backends import all_backends


def test_live_answers_ok(client: FlaskClient) -> None:
    response = client.get("/health/live")
    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@all_backends
def test_ready_reports_backend_and_head_revision(client: FlaskClient, database_url: str) -> None:
    response = client.get("/health/ready")
    assert response.status_code == 200
    body = response.json
    assert body["status"] == "ok"
    assert body["database"] == ("sqlite" if database_url.startswith("sqlite") else "postgresql")
    assert body["revision"] == ",".join(sorted(client.application.extensions["migration_heads"]))


def test_ready_is_503_on_an_unmigrated_database(tmp_path) -> None:
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path}/empty.db", testing=True))
    response = app.test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert "db upgrade" in response.json["detail"]


def test_ready_is_503_when_the_schema_is_behind(database_url: str, client: FlaskClient) -> None:
    engine = create_engine(database_url)
    with engine.begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = 'old'"))
    engine.dispose()
    response = client.get("/health/ready")
    assert response.status_code == 503
    assert "'old'" in response.json["detail"]


def test_ready_is_503_fast_when_the_database_is_down() -> None:
    # Nothing listens on port 1: the connection is refused at once.
    settings = Settings(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/none",
        testing=True,
        db_connect_timeout=1,
    )
    response = create_app(settings).test_client().get("/health/ready")
    assert response.status_code == 503
    assert response.content_type == "application/problem+json"
    assert response.headers["Retry-After"] == "5"
