"""Configuration from the environment (SPEC section 5): per-environment defaults, refusing unsafe
secrets, and JSON logs when DEBUG=false."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys

import httpx
import pytest

from tableorder import db
from tableorder.settings import DEVELOPMENT_JWT_SECRET, Settings, SettingsError
from tests.conftest import ROOT, ServerProcess, free_port

SECRET = "k" * 48


@pytest.mark.parametrize(
    ("environment", "debug", "log_level", "pool_size", "workers"),
    [
        ("development", True, "DEBUG", 5, 1),
        ("staging", False, "INFO", 10, 2),
        ("production", False, "WARNING", 20, 4),
    ],
)
def test_defaults_follow_the_environment(
    environment: str, debug: bool, log_level: str, pool_size: int, workers: int
) -> None:
    settings = Settings.from_env({"ENVIRONMENT": environment, "JWT_SECRET_KEY": SECRET})
    assert settings.environment == environment
    assert settings.debug is debug
    assert settings.log_level == log_level
    assert settings.database_pool_size == pool_size
    assert settings.workers == workers


def test_no_environment_means_development() -> None:
    settings = Settings.from_env({})
    assert settings.environment == "development"
    assert settings.debug is True
    assert settings.database_url is None
    assert settings.cors_origins == ()


def test_explicit_variables_win_over_environment_defaults() -> None:
    settings = Settings.from_env(
        {
            "ENVIRONMENT": "production",
            "JWT_SECRET_KEY": SECRET,
            "LOG_LEVEL": "ERROR",
            "DATABASE_POOL_SIZE": "7",
            "WORKERS": "3",
            "DATABASE_MAX_OVERFLOW": "0",
            "JWT_EXPIRATION_HOURS": "8",
            "SSE_HEARTBEAT_INTERVAL": "15",
            "SSE_MAX_CONNECTIONS_PER_STORE": "50",
            "DATABASE_URL": "postgresql://u:p@db:5432/tableorder",
        }
    )
    assert (settings.log_level, settings.database_pool_size, settings.workers) == ("ERROR", 7, 3)
    assert settings.database_max_overflow == 0
    assert settings.jwt_expiration_hours == 8
    assert settings.sse_heartbeat_interval == 15
    assert settings.sse_max_connections_per_store == 50
    assert settings.database_url == "postgresql://u:p@db:5432/tableorder"
    assert settings.jwt_secret_key == SECRET
    # DEBUG may be switched on explicitly even in production (with a real secret).
    debugging = Settings.from_env({"ENVIRONMENT": "production", "DEBUG": "true", "JWT_SECRET_KEY": SECRET})
    assert debugging.debug is True and debugging.database_pool_size == 20


def test_environment_name_is_case_insensitive_and_checked() -> None:
    assert Settings.from_env({"ENVIRONMENT": " Staging ", "JWT_SECRET_KEY": SECRET}).environment == "staging"
    with pytest.raises(SettingsError, match="ENVIRONMENT"):
        Settings.from_env({"ENVIRONMENT": "prod"})


def test_cors_origins_are_comma_separated() -> None:
    settings = Settings.from_env({"CORS_ORIGINS": "https://a.example.com, https://b.example.com ,,"})
    assert settings.cors_origins == ("https://a.example.com", "https://b.example.com")
    assert Settings.from_env({"CORS_ORIGINS": "https://only.example.com"}).cors_origins == (
        "https://only.example.com",
    )


def test_empty_variables_count_as_unset() -> None:
    settings = Settings.from_env(
        {"DATABASE_URL": "", "DATABASE_POOL_SIZE": "  ", "ENVIRONMENT": "staging", "JWT_SECRET_KEY": SECRET}
    )
    assert settings.database_url is None
    assert settings.database_pool_size == 10
    # `DEBUG=` left empty in a production env file must not switch debug on (nor allow a weak secret).
    production = Settings.from_env(
        {"ENVIRONMENT": "production", "DEBUG": "", "LOG_LEVEL": "", "JWT_SECRET_KEY": SECRET}
    )
    assert production.debug is False and production.log_level == "WARNING"
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        Settings.from_env({"ENVIRONMENT": "production", "DEBUG": ""})


@pytest.mark.parametrize(
    "secret",
    [
        None,
        "",
        DEVELOPMENT_JWT_SECRET,
        "s" * 31,
        "가" * 10,
    ],  # missing, empty, the default, 31 bytes, 30 bytes
    ids=["missing", "empty", "default", "31-bytes", "30-utf8-bytes"],
)
@pytest.mark.parametrize(
    "env", [{"DEBUG": "false"}, {"ENVIRONMENT": "production"}, {"ENVIRONMENT": "staging"}]
)
def test_debug_false_refuses_a_weak_jwt_secret(env: dict[str, str], secret: str | None) -> None:
    variables = {**env, **({"JWT_SECRET_KEY": secret} if secret is not None else {})}
    with pytest.raises(SettingsError, match="JWT_SECRET_KEY"):
        Settings.from_env(variables)


@pytest.mark.parametrize("secret", [None, DEVELOPMENT_JWT_SECRET, "s" * 31], ids=["missing", "default", "31-bytes"])
@pytest.mark.parametrize("environment", ["production", "staging"])
@pytest.mark.parametrize("debug", ["true", "1", "false"])
def test_outside_development_a_weak_jwt_secret_is_refused_whatever_debug_says(
    environment: str, debug: str, secret: str | None
) -> None:
    """The development secret is published in the repository: outside development it would let
    anyone sign tokens, so DEBUG (a switch for diagnostics) must not let it through."""
    variables = {"ENVIRONMENT": environment, "DEBUG": debug, **({"JWT_SECRET_KEY": secret} if secret else {})}
    with pytest.raises(SettingsError, match=f"JWT_SECRET_KEY.*ENVIRONMENT={environment}"):
        Settings.from_env(variables)
    assert Settings.from_env({**variables, "JWT_SECRET_KEY": SECRET}).jwt_secret_key == SECRET


def test_debug_false_accepts_a_strong_jwt_secret() -> None:
    assert Settings.from_env({"DEBUG": "false", "JWT_SECRET_KEY": SECRET}).jwt_secret_key == SECRET
    assert (
        Settings.from_env({"DEBUG": "false", "JWT_SECRET_KEY": "s" * 32}).debug is False
    )  # exactly 32 bytes
    # In development a short key is tolerated (DEBUG is on).
    assert Settings.from_env({"JWT_SECRET_KEY": "short"}).jwt_secret_key == "short"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DATABASE_POOL_SIZE", "abc"),
        ("DATABASE_POOL_SIZE", "0"),
        ("DATABASE_POOL_SIZE", "2.5"),
        ("DATABASE_MAX_OVERFLOW", "-1"),
        ("WORKERS", "0"),
        ("WORKERS", "many"),
        ("JWT_EXPIRATION_HOURS", "soon"),
        ("JWT_EXPIRATION_HOURS", "0"),
        ("SSE_HEARTBEAT_INTERVAL", "-5"),
        ("SSE_MAX_CONNECTIONS_PER_STORE", "0"),
        ("DEBUG", "maybe"),
        ("JWT_ALGORITHM", "none"),
    ],
)
def test_bad_values_raise_settings_error(name: str, value: str) -> None:
    with pytest.raises(SettingsError):
        Settings.from_env({name: value})


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("postgresql://u:p@db:5432/app", "postgresql://u:p@db:5432/app"),
        ("postgres://u:p@db:5432/app", "postgresql://u:p@db:5432/app"),
        (
            "postgresql+asyncpg://u:p@db:5432/app?sslmode=require",
            "postgresql://u:p@db:5432/app?sslmode=require",
        ),
        ("postgresql://postgres:@/postgres?host=/tmp/pg", "postgresql://postgres:@/postgres?host=/tmp/pg"),
    ],
)
def test_asyncpg_dsn_accepts_postgres_urls(url: str, expected: str) -> None:
    assert db.asyncpg_dsn(url) == expected


@pytest.mark.parametrize("url", ["mysql://u:p@db/app", "sqlite:///app.db", "db:5432/app", ""])
def test_asyncpg_dsn_rejects_other_urls(url: str) -> None:
    with pytest.raises(ValueError, match="DATABASE_URL"):
        db.asyncpg_dsn(url)


def _serve(database_url: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET_KEY", "DEBUG", "ENVIRONMENT"}}
    return subprocess.run(
        [sys.executable, "-m", "tableorder", "serve", "--port", str(free_port()), "--workers", "1"],
        env={**base, "DATABASE_URL": database_url, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("secret", [None, "too-short-secret"], ids=["missing", "short"])
async def test_serve_refuses_to_start_in_production_without_a_strong_secret(
    database_url: str, secret: str | None
) -> None:
    env = {"ENVIRONMENT": "production", **({"JWT_SECRET_KEY": secret} if secret else {})}
    result = await asyncio.to_thread(_serve, database_url, env)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "JWT_SECRET_KEY" in result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stdout


async def test_serve_refuses_to_start_in_production_with_debug_on_and_the_development_secret(
    database_url: str,
) -> None:
    result = await asyncio.to_thread(_serve, database_url, {"ENVIRONMENT": "production", "DEBUG": "true"})
    assert result.returncode == 2, result.stdout + result.stderr
    assert "JWT_SECRET_KEY" in result.stderr and "ENVIRONMENT=production" in result.stderr, result.stderr
    assert "Traceback" not in result.stderr
    assert "serving on" not in result.stdout


@pytest.mark.parametrize("env", [
    pytest.param({"ENVIRONMENT": "production", "DEBUG": "true", "JWT_SECRET_KEY": ""}, id="production, DEBUG on"),
    pytest.param({"DEBUG": "false", "JWT_SECRET_KEY": ""}, id="development, DEBUG off"),
])
async def test_app_factory_refuses_to_start_without_a_real_secret(database_url: str, env: dict[str, str]) -> None:
    server = ServerProcess(database_url, env=env, capture_output=True)
    try:
        with pytest.raises(RuntimeError, match="exited"):
            await asyncio.to_thread(server.start, 30)
    finally:
        server.stop()  # in case it did start
    assert "JWT_SECRET_KEY" in server.output()


async def test_logs_are_json_lines_when_debug_is_false(database_url: str) -> None:
    server = ServerProcess(
        database_url,
        env={"DEBUG": "false", "JWT_SECRET_KEY": SECRET, "LOG_LEVEL": "INFO"},
        capture_output=True,
        access_log=True,
    )
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as http:
            assert (await http.get("/health")).json() == {"status": "ok"}
            assert (await http.get("/api/v1/menu")).status_code == 401
    finally:
        await asyncio.to_thread(server.stop)
    lines = [line for line in server.output().splitlines() if line.strip()]
    assert lines, "the server logged nothing at INFO"
    records = []
    for line in lines:
        try:
            records.append(json.loads(line))
        except json.JSONDecodeError:
            pytest.fail(f"log line is not JSON: {line!r}")
    assert all(isinstance(r, dict) and {"event", "level", "timestamp"} <= r.keys() for r in records), records
    assert any("/api/v1/menu" in str(r["event"]) and "401" in str(r["event"]) for r in records), records
    assert any("startup complete" in str(r["event"]).lower() for r in records), records


async def test_logs_are_readable_text_in_development(database_url: str) -> None:
    server = ServerProcess(database_url, env={"LOG_LEVEL": "INFO"}, capture_output=True)
    await asyncio.to_thread(server.start)
    await asyncio.to_thread(server.stop)
    lines = [line for line in server.output().splitlines() if line.strip()]
    assert any("startup complete" in line.lower() for line in lines), lines
    assert not any(line.lstrip().startswith("{") for line in lines), lines
