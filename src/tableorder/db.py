"""Database plumbing: DSNs, the connection pool, migrations and the embedded PostgreSQL."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import asyncpg

EMBEDDED_DATA_DIR = Path(".tableorder") / "pgdata"


def asyncpg_dsn(url: str) -> str:
    """Accept `postgresql://`, `postgres://` and SQLAlchemy's `postgresql+asyncpg://`."""
    scheme, sep, rest = url.partition("://")
    if not sep or scheme not in {"postgresql", "postgres", "postgresql+asyncpg"}:
        raise ValueError("DATABASE_URL must start with postgresql:// or postgresql+asyncpg://")
    return f"postgresql://{rest}"


def sqlalchemy_url(url: str) -> str:
    """The URL for Alembic's driver (psycopg); a `?host=/socket/dir` query works there too."""
    return "postgresql+psycopg://" + asyncpg_dsn(url).partition("://")[2]


async def create_pool(url: str, *, min_size: int, max_size: int, application_name: str) -> asyncpg.Pool:
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        min_size=min_size,
        max_size=max_size,
        # Timestamps leave the database in UTC whatever the server's default zone is.
        server_settings={"application_name": application_name, "timezone": "UTC"},
        command_timeout=30,
    )
    return pool


def alembic_config(database_url: str) -> Any:
    from alembic.config import Config

    ini = find_alembic_ini()
    config = Config(str(ini))
    config.set_main_option("script_location", str(ini.parent / "migrations"))
    config.attributes["database_url"] = database_url
    return config


def find_alembic_ini() -> Path:
    candidates = [
        Path(os.environ["TABLEORDER_ALEMBIC_INI"]) if "TABLEORDER_ALEMBIC_INI" in os.environ else None,
        Path.cwd() / "alembic.ini",
        Path(__file__).resolve().parents[2] / "alembic.ini",
    ]
    for candidate in candidates:
        if candidate is not None and candidate.is_file():
            return candidate
    raise FileNotFoundError("alembic.ini not found (run from the project folder or set TABLEORDER_ALEMBIC_INI)")


def migrate(database_url: str, revision: str = "head") -> None:
    """Alembic upgrade; synchronous (Alembic runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    from alembic import command

    command.downgrade(alembic_config(database_url), revision)


def start_embedded_postgres(data_dir: Path = EMBEDDED_DATA_DIR) -> str:
    """Start (or reuse) the development PostgreSQL from the `pgserver` package; returns its URL.

    The server outlives this process on purpose: `tableorder serve` workers and later commands
    share it; `pgserver` stops it when the last process that asked for it exits.
    """
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise RuntimeError(
            "DATABASE_URL is not set and the embedded PostgreSQL is not installed "
            "(pip install 'tableorder[embedded]')"
        ) from exc
    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir.resolve()), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri
