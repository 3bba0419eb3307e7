"""Database plumbing: DSNs, the connection pool, migrations and the embedded PostgreSQL."""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

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


async def _no_session_state_to_reset(conn: asyncpg.Connection) -> None:
    """Released connections skip asyncpg's default reset (a round trip running `SELECT
    pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL` after every use): pooled connections
    never hold session state here (no session-level SET, advisory locks, cursors or LISTEN; the
    listener has a connection of its own). asyncpg still rolls back a transaction left open."""


# Options of every connection this process opens (pools, the relay's, the listener's, the CLI's);
# set from the settings at start (configure).
_CONNECT_OPTIONS: dict[str, Any] = {}


def configure(*, statement_cache_size: int) -> None:
    """`statement_cache_size=0`: no named prepared statements (asyncpg then sends each query as an
    unnamed one), which PgBouncer in transaction mode before 1.21 needs: it would hand a statement
    prepared on one server connection to a client now on another."""
    _CONNECT_OPTIONS["statement_cache_size"] = statement_cache_size


async def connect(url: str, **options: Any) -> asyncpg.Connection:
    """One connection outside any pool, with this process's connection options."""
    conn: asyncpg.Connection = await asyncpg.connect(asyncpg_dsn(url), **{**_CONNECT_OPTIONS, **options})
    return conn


async def create_pool(url: str, *, min_size: int, max_size: int, application_name: str,
                      notify_on_commit: bool = False) -> asyncpg.Pool:
    """`notify_on_commit`: the design before the relay (EVENT_PUBLISH=commit), for comparison: every
    transaction that records an event also NOTIFYs as it commits (migration 0010)."""
    settings = {"application_name": application_name, "timezone": "UTC"}
    if notify_on_commit:
        settings["tableorder.notify_on_commit"] = "on"
    pool: asyncpg.Pool = await asyncpg.create_pool(
        asyncpg_dsn(url),
        reset=_no_session_state_to_reset,
        min_size=min_size,
        max_size=max_size,
        timeout=5,  # connecting; a database that does not answer is a 503 now, not in a minute
        # Timestamps leave the database in UTC whatever the server's default zone is.
        server_settings=settings,
        command_timeout=30,
        **_CONNECT_OPTIONS,
    )
    return pool


# Errors that mean "the database cannot be reached right now", not "the request is wrong".
UNAVAILABLE: tuple[type[BaseException], ...] = (
    OSError,  # refused, unreachable, timed out (TimeoutError is an OSError)
    asyncpg.InterfaceError,
    asyncpg.PostgresConnectionError,  # class 08
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shutting down, starting up, terminated
    asyncpg.TooManyConnectionsError,
    asyncpg.exceptions.IdleInTransactionSessionTimeoutError,  # the server ended the session
    # The client's side of a connection the server ended: a pooled connection whose backend was
    # terminated while idle still holds the unread FATAL message, and its next query fails with
    # "cannot switch to state 12; another operation (2) is in progress" before the pool sees that
    # it is closed. Its subclasses mean "retry": a broken protocol, a type cache outdated by a
    # migration, a server of the wrong role (a failover in progress).
    asyncpg.exceptions.InternalClientError,
)


async def warm_up(pool: asyncpg.Pool) -> None:
    """Open a first connection; a database that cannot be reached is logged (requests get 503 until
    it is back), while a wrong password or database name still stops the start-up."""
    try:
        async with pool.acquire(timeout=5) as conn:
            await conn.execute("SELECT 1")
    except UNAVAILABLE as exc:
        log.warning("database unavailable at start-up, serving 503 until it answers: %r", exc)


# Every change a read may depend on (orders, sessions, tables, the menu) records an event, which bumps
# its store's last_event_position in the same transaction (migration 0001, record_event).
_STORE_POSITION = "SELECT last_event_position FROM stores WHERE id = $1"
_REPLICA_HAS = "SELECT last_event_position >= $2 FROM stores WHERE id = $1"


class Reads:
    """Where reads that may be served by the read replica (`DATABASE_REPLICA_URL`) run.

    A replica read first asks the primary for the store's last event position (a primary-key
    lookup), then runs on the replica only if the replica has that position too. Every committed
    change of the store (the caller's own included) bumps the position in its own transaction, so a
    replica read never shows an older state of the store than the primary would; unrelated write
    traffic elsewhere does not hold it back, as a WAL-position check would. A replica that lags, is
    down or cancels the query for a recovery conflict hands the read to the primary. Writes, locks
    and LISTEN always use the primary pool.
    """

    def __init__(self, primary: asyncpg.Pool, replica: asyncpg.Pool | None = None) -> None:
        self.primary = primary
        self.replica = replica
        self.on_replica = 0  # reads served by the replica (shown by /health/ready)
        self.on_primary = 0  # reads that fell back to the primary (no replica, lagging or failing)

    async def fetchval(self, store_id: int, query: str, *args: Any) -> Any:
        return await self._run(store_id, "fetchval", query, args)

    async def fetchrow(self, store_id: int, query: str, *args: Any) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._run(store_id, "fetchrow", query, args)
        return row

    async def _run(self, store_id: int, method: str, query: str, args: tuple[Any, ...]) -> Any:
        if self.replica is not None:
            try:
                position = await self.primary.fetchval(_STORE_POSITION, store_id)
                if position is not None:
                    async with self.replica.acquire(timeout=2) as conn:
                        if await conn.fetchval(_REPLICA_HAS, store_id, position):
                            result = await getattr(conn, method)(query, *args)
                            self.on_replica += 1
                            return result
            except (*UNAVAILABLE, asyncpg.SerializationError) as exc:
                # A primary that is down fails again below, as a 503; a replica that is down or
                # cancelled the read for a recovery conflict is skipped.
                log.warning("read replica unavailable, reading from the primary: %r", exc)
        result = await getattr(self.primary, method)(query, *args)
        self.on_primary += 1
        return result


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
    """Alembic upgrade, then (at head) the replay of migrations/documents.sql; synchronous (Alembic
    runs its own event loop)."""
    from alembic import command

    command.upgrade(alembic_config(database_url), revision)
    if revision == "head":
        replay_documents(database_url)


def documents_sql() -> Path:
    """migrations/documents.sql: the SQL functions that build the documents (see its header)."""
    return find_alembic_ini().parent / "migrations" / "documents.sql"


def replay_documents(database_url: str) -> None:
    """Runs documents.sql (CREATE OR REPLACE only) in one transaction, one migrator at a time."""
    import psycopg

    with psycopg.connect(asyncpg_dsn(database_url)) as conn:
        conn.execute("SELECT pg_advisory_xact_lock(hashtext('tableorder.documents'))")
        conn.execute(documents_sql().read_text().encode())


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
