"""Tables, their sessions and history. Every statement is scoped by store_id."""

from __future__ import annotations

from datetime import date

import asyncpg

from tableorder.db import Reads

LIST_TABLES = """
SELECT coalesce(json_agg(table_json(t) ORDER BY t.number), '[]')::text FROM tables t WHERE t.store_id = $1
"""


async def list_tables(pool: asyncpg.Pool, store_id: int) -> str:
    document: str = await pool.fetchval(LIST_TABLES, store_id)
    return document


async def get_table(pool: asyncpg.Pool, store_id: int, table_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        "SELECT table_json(t)::text FROM tables t WHERE t.id = $1 AND t.store_id = $2", table_id, store_id)
    return document


async def create_table(conn: asyncpg.Pool | asyncpg.Connection, store_id: int, number: int,
                       password_hash: str) -> str:
    """Returns the table document; raises asyncpg.UniqueViolationError when the number is taken."""
    document: str = await conn.fetchval(
        "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, $3) RETURNING table_json(tables)::text",
        store_id, number, password_hash)
    return document


async def set_table_password(pool: asyncpg.Pool, store_id: int, table_id: int, password_hash: str) -> str | None:
    document: str | None = await pool.fetchval(
        "UPDATE tables SET password_hash = $3 WHERE id = $1 AND store_id = $2 RETURNING table_json(tables)::text",
        table_id, store_id, password_hash)
    return document


async def lock_table(conn: asyncpg.Connection, store_id: int, table_id: int) -> bool:
    """Locks the table row like place_order() does, so the two take turns."""
    found = await conn.fetchval(
        "SELECT true FROM tables WHERE id = $1 AND store_id = $2 FOR NO KEY UPDATE", table_id, store_id)
    return bool(found)


async def has_open_session(conn: asyncpg.Connection, table_id: int) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM table_sessions WHERE table_id = $1 AND closed_at IS NULL", table_id)
    return bool(found)


async def delete_table(conn: asyncpg.Connection, table_id: int) -> None:
    await conn.execute("DELETE FROM tables WHERE id = $1", table_id)


async def close_session(conn: asyncpg.Connection, table_id: int) -> str | None:
    """Closes the open session (if any) and returns its summary."""
    document: str | None = await conn.fetchval(
        """
        UPDATE table_sessions SET closed_at = greatest(clock_timestamp(), started_at)
         WHERE table_id = $1 AND closed_at IS NULL
        RETURNING session_json(table_sessions)::text
        """,
        table_id)
    return document


# A history page holds at most `limit` closed sessions, and only as many as fit in about this many
# orders (a session starting within the budget is included whole, so a page holds at least one
# session and at most this plus one session's orders): the document stays bounded even when every
# session is full. A client goes on from `offset + len(items)`.
HISTORY_PAGE_ORDERS = 200

# history_page_json (migrations/documents.sql): NULL when the store has no such table.
HISTORY = "SELECT history_page_json($1, $2, $3, $4, $5, $6, $7)::text"


async def history(reads: Reads, store_id: int, table_id: int, from_day: date | None,
                  to_day: date | None, limit: int, offset: int) -> str | None:
    document: str | None = await reads.fetchval(store_id, HISTORY, store_id, table_id, from_day, to_day, limit,
                                                offset, HISTORY_PAGE_ORDERS)
    return document
