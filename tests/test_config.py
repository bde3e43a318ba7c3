from __future__ import annotations

import pytest

from service.config import ConfigError, Settings


def test_defaults_use_a_sqlite_file_under_var(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    settings = Settings.from_env({})
    assert settings.database_url == f"sqlite:///{tmp_path}/var/activation-lab.db"
    assert settings.port == 8000
    # The development secret is kept on disk so every local worker signs alike.
    assert Settings.from_env({}).secret_key == settings.secret_key
    assert (tmp_path / "var" / "secret_key").stat().st_mode & 0o777 == 0o600


def test_environment_is_parsed() -> None:
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://u@h/db",
            "PORT": "9000",
            "SECRET_KEY": "s",
            "MAX_CONTENT_LENGTH": "1024",
            "MAX_SIMULATION_COST": "1e9",
            "MAX_TRAINING_COST": "2e9",
            "QUIZ_CACHE_SECONDS": "0.25",
            "OPEN_REGISTRATION": "false",
            "CORS_ORIGINS": "https://a.example, https://b.example",
            "LOG_LEVEL": "warning",
        }
    )
    assert settings.database_url == "postgresql+psycopg://u@h/db"
    assert settings.port == 9000
    assert settings.max_content_length == 1024
    assert settings.max_simulation_work == 1e9  # the former name of MAX_SIMULATION_WORK
    assert settings.max_training_cost == 2e9
    assert settings.quiz_cache_seconds == 0.25
    assert settings.open_registration is False
    assert settings.cors_origins == ("https://a.example", "https://b.example")
    assert not settings.is_sqlite
    assert settings.log_level == "WARNING"  # gunicorn's lower case is accepted too


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("PORT", "eighty"),
        ("OPEN_REGISTRATION", "maybe"),
        ("PORT", "-1"),
        ("QUIZ_CACHE_SECONDS", "-1"),
        ("LOG_LEVEL", "loud"),
    ],
)
def test_bad_values_are_refused_with_the_variable_named(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.from_env({"SECRET_KEY": "s", name: value})


def test_max_simulation_work_wins_over_its_former_name() -> None:
    env = {"SECRET_KEY": "s", "MAX_SIMULATION_COST": "1e9", "MAX_SIMULATION_WORK": "3e9"}
    settings = Settings.from_env(
        {**env, "MAX_SIMULATION_MEMORY": "1048576", "SIMULATION_DEADLINE_SECONDS": "2.5"}
    )
    assert settings.max_simulation_work == 3e9
    assert settings.max_simulation_memory == 1_048_576
    assert settings.simulation_deadline_seconds == 2.5


def test_secret_key_is_not_in_repr() -> None:
    assert "topsecret" not in repr(Settings(secret_key="topsecret", database_url="sqlite://"))


def test_app_env_is_production_unless_told_otherwise() -> None:
    assert Settings.from_env({}).app_env == "production"
    assert Settings.from_env({}).is_production
    development = Settings.from_env({"APP_ENV": "Development"})
    assert development.app_env == "development"
    assert not development.is_production
    with pytest.raises(ConfigError, match="APP_ENV"):
        Settings.from_env({"APP_ENV": "staging"})


def test_batch_size_limits_are_read_and_checked() -> None:
    settings = Settings.from_env(
        {"SECRET_KEY": "s", "MAX_BATCH_STATISTICS_COST": "5e6", "MAX_SWEEP_COST": "2e9"}
    )
    assert (settings.max_batch_statistics_cost, settings.max_sweep_cost) == (5e6, 2e9)
    with pytest.raises(ConfigError, match="MAX_SWEEP_COST"):
        Settings.from_env({"SECRET_KEY": "s", "MAX_SWEEP_COST": "lots"})
