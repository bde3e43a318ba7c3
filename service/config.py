"""Settings: the one place that reads the environment.

`Settings.from_env()` turns environment variables into a frozen dataclass; every other module
receives settings as an argument (or through `current_app.config["SETTINGS"]`).
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _var_dir() -> Path:
    return Path.cwd() / "var"


def _default_database_url() -> str:
    return f"sqlite:///{_var_dir() / 'activation-lab.db'}"


def _local_secret_key() -> str:
    """A development key kept on disk so that every local worker process signs alike."""
    path = _var_dir() / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        candidate = secrets.token_hex(32)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            pass  # another worker won the race: use its key
        else:
            with os.fdopen(fd, "w") as handle:
                handle.write(candidate)
    return path.read_text().strip()


class ConfigError(ValueError):
    """An environment variable holds a value the service cannot use."""


def _parse_bool(name: str, raw: str) -> bool:
    lowered = raw.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ConfigError(f"{name} must be a boolean (true/false), got {raw!r}")


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


def _parse_log_level(name: str, raw: str) -> str:
    """A logging level name in any case (gunicorn's own --log-level takes lower case)."""
    level = raw.strip().upper()
    if level not in LOG_LEVELS:
        raise ConfigError(f"{name} must be one of {', '.join(LOG_LEVELS)}, got {raw!r}")
    return level


APP_ENVS = ("production", "development")


def _parse_app_env(name: str, raw: str) -> str:
    value = raw.strip().lower()
    if value not in APP_ENVS:
        raise ConfigError(f"{name} must be one of {', '.join(APP_ENVS)}, got {raw!r}")
    return value


def _parse_number(name: str, raw: str, kind: type[int] | type[float]) -> Any:
    try:
        value = kind(float(raw)) if kind is int else kind(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc
    if value < 0:
        raise ConfigError(f"{name} must not be negative, got {raw!r}")
    return value


@dataclass(frozen=True)
class Settings:
    """Everything the service can be configured with (environment variable in brackets)."""

    database_url: str = field(default_factory=lambda: _default_database_url())
    # DATABASE_URL (default: a SQLite file under ./var/)
    port: int = 8000  # PORT
    secret_key: str = field(default_factory=lambda: _local_secret_key(), repr=False)
    # SECRET_KEY (default: a random key kept in ./var/secret_key, shared by local workers)
    max_content_length: int = 16 * 1024 * 1024  # MAX_CONTENT_LENGTH, bytes
    max_array_elements: int = 4_000_000  # MAX_ARRAY_ELEMENTS, per submitted array
    # (a float32 .npy of this many, 16,000,128 bytes, fits in the default MAX_CONTENT_LENGTH)
    max_compare_elements: int = 1_048_576  # MAX_COMPARE_ELEMENTS, input of /v1/normalize/compare
    max_array_depth: int = 8  # MAX_ARRAY_DEPTH, nesting of submitted lists
    max_simulation_memory: int = 512 * 2**20  # MAX_SIMULATION_MEMORY, bytes of a simulation
    max_simulation_work: float = 2e10  # MAX_SIMULATION_WORK, multiply-add equivalents
    # (MAX_SIMULATION_COST, the former width² · depth · batch limit, is read as this when
    # MAX_SIMULATION_WORK is unset)
    simulation_deadline_seconds: float = 20.0  # SIMULATION_DEADLINE_SECONDS, 0: none
    max_analytic_depth: int = 100_000  # MAX_ANALYTIC_DEPTH
    max_training_cost: float = 5e10
    # MAX_TRAINING_COST, multiply-adds of a training run (numerics/training/cost.py; ~1e10 a
    # core-second on these machines: the 3x100 digits run of 1,000 steps costs 1.1e10 a variant)
    max_training_memory: int = 512 * 1024 * 1024  # MAX_TRAINING_MEMORY, bytes a run may hold
    max_batch_statistics_cost: float = 1e8
    # MAX_BATCH_STATISTICS_COST, values drawn and normalized by one batch-statistics request
    max_sweep_cost: float = 4e10
    # MAX_SWEEP_COST, multiply-adds (and 1e6 a step for the interpreter) of all the training runs
    # of one sweep or modes grid: 4e10 is about 10 s of one idle core
    max_page_size: int = 100  # MAX_PAGE_SIZE
    open_registration: bool = True  # OPEN_REGISTRATION
    token_ttl_seconds: int = 30 * 24 * 3600  # TOKEN_TTL_SECONDS, learner bearer tokens
    cors_origins: tuple[str, ...] = ()  # CORS_ORIGINS, comma-separated
    frame_ancestors: str = "*"  # FRAME_ANCESTORS: who may frame the lesson page (LMSs do)
    redis_url: str | None = None  # REDIS_URL
    trusted_proxy_count: int = 0
    # TRUSTED_PROXY_COUNT: reverse proxies in front that append to X-Forwarded-For (nginx: 1)
    rate_limits_enabled: bool = True  # RATE_LIMITS_ENABLED
    rate_limit_registration: str = "60 per minute"  # RATE_LIMIT_REGISTRATION, per address
    rate_limit_attempts: str = "120 per minute"  # RATE_LIMIT_ATTEMPTS, per learner
    rate_limit_lti: str = "120 per minute"  # RATE_LIMIT_LTI, per address
    xapi_lrs_url: str | None = None  # XAPI_LRS_URL, LRS endpoint (POSTs go to .../statements)
    xapi_lrs_auth: str | None = field(default=None, repr=False)
    # XAPI_LRS_AUTH, the Authorization header value for the LRS, e.g. "Basic dXNlcjpwYXNz"
    caches_enabled: bool = True  # CACHES_ENABLED: false turns every in-process cache off
    quiz_cache_seconds: float = 1.0
    # QUIZ_CACHE_SECONDS, how long a process serves a quiz GET from memory (0: always ask the DB)
    lti_token_ttl_seconds: int = 4 * 3600  # LTI_TOKEN_TTL_SECONDS, learner tokens of LTI launches
    public_base_url: str | None = None  # PUBLIC_BASE_URL, for LTI registration JSON
    lti_registration_issuers: tuple[str, ...] = ()
    # LTI_REGISTRATION_ISSUERS, comma-separated: the platform issuers that may register the tool
    # through LTI Dynamic Registration (/lti/register); empty (the default) turns it off
    app_env: str = "production"
    # APP_ENV: production, or development (`make run`), where URLs the service writes may come
    # from the request's Host header when PUBLIC_BASE_URL is unset
    log_level: str = "INFO"  # LOG_LEVEL
    prometheus_multiproc_dir: str | None = None  # PROMETHEUS_MULTIPROC_DIR (gunicorn sets it)
    metrics_token: str | None = field(default=None, repr=False)
    # METRICS_TOKEN: the bearer token GET /metrics asks for (unset: no metrics, 404)
    db_pool_size: int = 5  # DB_POOL_SIZE
    db_connect_timeout: int = 3  # DB_CONNECT_TIMEOUT, seconds
    testing: bool = False

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read settings from `environ` (default: os.environ); keyword overrides win."""
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        strings = {
            "DATABASE_URL": "database_url",
            "SECRET_KEY": "secret_key",
            "REDIS_URL": "redis_url",
            "XAPI_LRS_URL": "xapi_lrs_url",
            "XAPI_LRS_AUTH": "xapi_lrs_auth",
            "PUBLIC_BASE_URL": "public_base_url",
            "PROMETHEUS_MULTIPROC_DIR": "prometheus_multiproc_dir",
            "METRICS_TOKEN": "metrics_token",
            "FRAME_ANCESTORS": "frame_ancestors",
            "RATE_LIMIT_REGISTRATION": "rate_limit_registration",
            "RATE_LIMIT_ATTEMPTS": "rate_limit_attempts",
            "RATE_LIMIT_LTI": "rate_limit_lti",
        }
        integers = {
            "PORT": "port",
            "MAX_CONTENT_LENGTH": "max_content_length",
            "MAX_ARRAY_ELEMENTS": "max_array_elements",
            "MAX_COMPARE_ELEMENTS": "max_compare_elements",
            "MAX_ARRAY_DEPTH": "max_array_depth",
            "MAX_ANALYTIC_DEPTH": "max_analytic_depth",
            "MAX_TRAINING_MEMORY": "max_training_memory",
            "MAX_SIMULATION_MEMORY": "max_simulation_memory",
            "MAX_PAGE_SIZE": "max_page_size",
            "TOKEN_TTL_SECONDS": "token_ttl_seconds",
            "LTI_TOKEN_TTL_SECONDS": "lti_token_ttl_seconds",
            "DB_POOL_SIZE": "db_pool_size",
            "DB_CONNECT_TIMEOUT": "db_connect_timeout",
            "TRUSTED_PROXY_COUNT": "trusted_proxy_count",
        }
        booleans = {
            "OPEN_REGISTRATION": "open_registration",
            "RATE_LIMITS_ENABLED": "rate_limits_enabled",
            "CACHES_ENABLED": "caches_enabled",
        }
        for name, attr in strings.items():
            if env.get(name):
                values[attr] = env[name]
        if env.get("APP_ENV"):
            values["app_env"] = _parse_app_env("APP_ENV", env["APP_ENV"])
        if env.get("LOG_LEVEL"):
            values["log_level"] = _parse_log_level("LOG_LEVEL", env["LOG_LEVEL"])
        for name, attr in integers.items():
            if env.get(name):
                values[attr] = _parse_number(name, env[name], int)
        if env.get("QUIZ_CACHE_SECONDS"):
            values["quiz_cache_seconds"] = _parse_number(
                "QUIZ_CACHE_SECONDS", env["QUIZ_CACHE_SECONDS"], float
            )
        floats = {
            "MAX_SIMULATION_COST": "max_simulation_work",  # the former name, overridden below
            "MAX_SIMULATION_WORK": "max_simulation_work",
            "SIMULATION_DEADLINE_SECONDS": "simulation_deadline_seconds",
            "MAX_TRAINING_COST": "max_training_cost",
            "MAX_BATCH_STATISTICS_COST": "max_batch_statistics_cost",
            "MAX_SWEEP_COST": "max_sweep_cost",
        }
        for name, attr in floats.items():
            if env.get(name):
                values[attr] = _parse_number(name, env[name], float)
        for name, attr in booleans.items():
            if name in env:
                values[attr] = _parse_bool(name, env[name])
        if env.get("CORS_ORIGINS"):
            values["cors_origins"] = tuple(
                origin.strip() for origin in env["CORS_ORIGINS"].split(",") if origin.strip()
            )
        if env.get("LTI_REGISTRATION_ISSUERS"):
            values["lti_registration_issuers"] = tuple(
                issuer.strip().rstrip("/")
                for issuer in env["LTI_REGISTRATION_ISSUERS"].split(",")
                if issuer.strip()
            )
        values.update(overrides)
        return cls(**values)

    def with_overrides(self, **overrides: Any) -> Settings:
        """A copy with some fields replaced (tests use this)."""
        return replace(self, **overrides)

    @property
    def is_production(self) -> bool:
        return self.app_env == "production"

    @property
    def is_sqlite(self) -> bool:
        return self.database_url.startswith("sqlite")


MIGRATIONS_DIR = PROJECT_ROOT / "migrations"
