"""Provisioning: stores, their staff accounts and tables (used by the CLI, the demo and tests)."""

from __future__ import annotations

import asyncpg


async def create_store(conn: asyncpg.Connection | asyncpg.Pool, code: str, name: str) -> int:
    store_id: int = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, $2) RETURNING id", code, name)
    return store_id


async def store_id_by_code(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> int | None:
    store_id: int | None = await conn.fetchval("SELECT id FROM stores WHERE code = $1", code)
    return store_id


async def create_admin(conn: asyncpg.Connection | asyncpg.Pool, store_id: int, username: str,
                       password_hash: str) -> int:
    admin_id: int = await conn.fetchval(
        "INSERT INTO admins (store_id, username, password_hash) VALUES ($1, $2, $3) RETURNING id",
        store_id, username, password_hash)
    return admin_id


async def set_admin_password(conn: asyncpg.Connection | asyncpg.Pool, store_id: int, username: str,
                             password_hash: str) -> bool:
    """A new password ends every token of the admin (the trigger bumps its credential version)."""
    done: str = await conn.execute(
        "UPDATE admins SET password_hash = $3, kept_token = NULL WHERE store_id = $1 AND username = $2",
        store_id, username, password_hash)
    return done != "UPDATE 0"
