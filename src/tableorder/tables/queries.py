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

# Dates are the store's business days (its own time zone), both ends inclusive, on closing time.
HISTORY = """
WITH target AS (
    SELECT t.id, s.timezone FROM tables t JOIN stores s ON s.id = t.store_id WHERE t.id = $1 AND t.store_id = $2
), matching AS (
    SELECT ts.* FROM table_sessions ts JOIN target ON ts.table_id = target.id
     WHERE ts.closed_at IS NOT NULL
       AND ($3::date IS NULL OR ts.closed_at >= ($3::date::timestamp AT TIME ZONE target.timezone))
       AND ($4::date IS NULL OR ts.closed_at < (($4::date + 1)::timestamp AT TIME ZONE target.timezone))
), limited AS (
    SELECT m.id, m.closed_at, sizes.orders FROM matching m
     CROSS JOIN LATERAL (SELECT count(*) AS orders FROM orders o WHERE o.session_id = m.id) AS sizes
     ORDER BY m.closed_at DESC, m.id DESC LIMIT $5 OFFSET $6
), page AS (
    SELECT id FROM (SELECT id, sum(orders) OVER (ORDER BY closed_at DESC, id DESC) - orders AS before
                      FROM limited) AS running
     WHERE before < $7
)
SELECT EXISTS (SELECT 1 FROM target) AS found,
       json_build_object(
           'items', (SELECT coalesce(json_agg(
                        (session_json(s)::jsonb || jsonb_build_object('orders', coalesce(
                            (SELECT jsonb_agg(order_json(o)::jsonb ORDER BY o.created_at DESC, o.id DESC)
                               FROM orders o WHERE o.session_id = s.id), '[]'::jsonb)))
                        ORDER BY s.closed_at DESC, s.id DESC), '[]')
                       FROM page JOIN table_sessions s ON s.id = page.id),
           'total', (SELECT count(*) FROM matching),
           'limit', $5::int,
           'offset', $6::int)::text AS document
"""


async def history(reads: Reads, store_id: int, table_id: int, from_day: date | None,
                  to_day: date | None, limit: int, offset: int) -> asyncpg.Record | None:
    return await reads.fetchrow(store_id, HISTORY, table_id, store_id, from_day, to_day, limit, offset,
                                HISTORY_PAGE_ORDERS)
