"""The `tableorder` command (SPEC section 6)."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import TypeVar

import asyncpg

from tableorder import db
from tableorder.demo import credentials_text, seed_demo
from tableorder.security import hash_password_sync
from tableorder.settings import Settings, SettingsError
from tableorder.stores import queries as stores

T = TypeVar("T")


def database_url(settings: Settings) -> str:
    """DATABASE_URL, or in development the embedded PostgreSQL (exported for child processes)."""
    if settings.database_url:
        return settings.database_url
    if settings.environment != "development":
        raise SettingsError("DATABASE_URL must be set outside development")
    url = db.start_embedded_postgres()
    os.environ["DATABASE_URL"] = url
    return url


def run_with_connection(url: str, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    async def main() -> T:
        conn = await db.connect(url)
        try:
            return await work(conn)
        finally:
            await conn.close()

    return asyncio.run(main())


def cmd_migrate(settings: Settings, _: argparse.Namespace) -> int:
    db.migrate(database_url(settings))
    print("database schema is up to date")
    return 0


def cmd_demo(settings: Settings, _: argparse.Namespace) -> int:
    if settings.environment != "development":
        print("error: the demo store is for development only", file=sys.stderr)
        return 2
    url = database_url(settings)
    db.migrate(url)
    created = run_with_connection(url, seed_demo)
    print(("created " if created else "already present: ") + credentials_text(), end="")
    return 0


def cmd_create_store(settings: Settings, args: argparse.Namespace) -> int:
    password_hash = hash_password_sync(args.admin_password)

    async def work(conn: asyncpg.Connection) -> int:
        async with conn.transaction():
            store_id = await stores.create_store(conn, args.code, args.name)
            await stores.create_admin(conn, store_id, args.admin_username, password_hash)
        return store_id

    try:
        store_id = run_with_connection(database_url(settings), work)
    except asyncpg.UniqueViolationError:
        print(f"error: a store with code '{args.code}' already exists", file=sys.stderr)
        return 1
    except asyncpg.CheckViolationError as exc:
        print(f"error: invalid value ({exc.constraint_name}); the code must match ^[a-z0-9][a-z0-9-]{{1,31}}$ "
              "and the name be 1-100 characters", file=sys.stderr)
        return 1
    print(f"created store {args.code} (id {store_id}) with admin {args.admin_username}")
    return 0


def cmd_create_table(settings: Settings, args: argparse.Namespace) -> int:
    password_hash = hash_password_sync(args.password)

    async def work(conn: asyncpg.Connection) -> int | None:
        store_id = await stores.store_id_by_code(conn, args.store)
        if store_id is None:
            return None
        [table_id] = await stores.create_tables(conn, store_id, [args.number], password_hash)
        return table_id

    try:
        table_id = run_with_connection(database_url(settings), work)
    except asyncpg.UniqueViolationError:
        print(f"error: table {args.number} already exists in store {args.store}", file=sys.stderr)
        return 1
    except asyncpg.CheckViolationError:
        print("error: the table number must be 1-999", file=sys.stderr)
        return 1
    if table_id is None:
        print(f"error: no store with code '{args.store}'", file=sys.stderr)
        return 1
    print(f"created table {args.number} (id {table_id}) in store {args.store}")
    return 0


def cmd_set_admin_password(settings: Settings, args: argparse.Namespace) -> int:
    password_hash = hash_password_sync(args.password)

    async def work(conn: asyncpg.Connection) -> str | None:
        store_id = await stores.store_id_by_code(conn, args.store)
        if store_id is None:
            return f"no store with code '{args.store}'"
        if not await stores.set_admin_password(conn, store_id, args.username, password_hash):
            return f"no admin '{args.username}' in store {args.store}"
        return None

    error = run_with_connection(database_url(settings), work)
    if error is not None:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"set the password of admin {args.username} in store {args.store}; their earlier tokens no longer work")
    return 0


def cmd_serve(settings: Settings, args: argparse.Namespace) -> int:
    import uvicorn

    url = database_url(settings)
    db.migrate(url)
    if args.demo:
        if settings.environment != "development":
            print("error: --demo is for development only", file=sys.stderr)
            return 2
        run_with_connection(url, seed_demo)
        print(credentials_text(), end="", flush=True)
    workers = args.workers or settings.workers
    # Development runs one worker that restarts when the code changes (SPEC section 7).
    reload = args.reload if args.reload is not None else settings.environment == "development" and workers == 1
    mode = f"{workers} worker(s)" + (", reloading on code changes" if reload else "")
    print(f"serving on http://{args.host}:{args.port} ({mode}); API docs at /schema", flush=True)
    uvicorn.run("tableorder.app:create_app", factory=True, host=args.host, port=args.port, workers=workers,
                reload=reload, reload_dirs=[str(Path(__file__).parent)] if reload else None,
                proxy_headers=True, forwarded_allow_ips=settings.forwarded_allow_ips,
                log_config=None, timeout_graceful_shutdown=5)
    return 0


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="tableorder", description="Table Order service")
    sub = root.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the API (migrates first)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=None, help="default: by ENVIRONMENT (1/2/4)")
    serve.add_argument("--demo", action="store_true", help="seed the demo store first (development)")
    serve.add_argument("--reload", action=argparse.BooleanOptionalAction, default=None,
                       help="restart on code changes (default: in development with one worker)")
    serve.set_defaults(handler=cmd_serve)

    sub.add_parser("migrate", help="alembic upgrade head").set_defaults(handler=cmd_migrate)

    store = sub.add_parser("create-store", help="create a store and its first admin")
    store.add_argument("--code", required=True)
    store.add_argument("--name", required=True)
    store.add_argument("--admin-username", required=True)
    store.add_argument("--admin-password", required=True)
    store.set_defaults(handler=cmd_create_store)

    table = sub.add_parser("create-table", help="create a table in a store")
    table.add_argument("--store", required=True, help="store code")
    table.add_argument("--number", type=int, required=True)
    table.add_argument("--password", required=True)
    table.set_defaults(handler=cmd_create_table)

    password = sub.add_parser("set-admin-password",
                              help="set an admin's password (every token the admin holds ends)")
    password.add_argument("--store", required=True, help="store code")
    password.add_argument("--username", required=True)
    password.add_argument("--password", required=True)
    password.set_defaults(handler=cmd_set_admin_password)

    sub.add_parser("demo", help="create the demo store and print its credentials (development)").set_defaults(
        handler=cmd_demo)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        settings = Settings.from_env()
        db.configure(statement_cache_size=settings.database_statement_cache_size)
        handler: Callable[[Settings, argparse.Namespace], int] = args.handler
        return handler(settings, args)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
