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


async def has_open_session(conn: asyncpg.Connection, store_id: int, table_id: int) -> bool:
    found = await conn.fetchval(
        "SELECT true FROM table_sessions WHERE store_id = $1 AND table_id = $2 AND closed_at IS NULL",
        store_id, table_id)
    return bool(found)


async def delete_table(conn: asyncpg.Connection, store_id: int, table_id: int) -> None:
    await conn.execute("DELETE FROM tables WHERE store_id = $1 AND id = $2", store_id, table_id)


async def close_session(conn: asyncpg.Connection, store_id: int, table_id: int) -> str | None:
    """Closes the open session (if any) and returns its summary."""
    document: str | None = await conn.fetchval(
        """
        UPDATE table_sessions SET closed_at = greatest(clock_timestamp(), started_at)
         WHERE store_id = $1 AND table_id = $2 AND closed_at IS NULL
        RETURNING session_json(table_sessions)::text
        """,
        store_id, table_id)
    return document


# Closing a session also resolves the table's open staff calls (the guests left); each records
# call.resolved, before the deferred table.session_closed.
RESOLVE_CALLS = """
UPDATE staff_calls SET resolved_at = greatest(clock_timestamp(), created_at)
 WHERE store_id = $1 AND table_id = $2 AND resolved_at IS NULL
"""


async def resolve_calls(conn: asyncpg.Connection, store_id: int, table_id: int) -> None:
    await conn.execute(RESOLVE_CALLS, store_id, table_id)


# --- moving and merging a session ---------------------------------------------------------------------
#
# What a move must keep out: a new order, a call, a close, a delete or another move on either table.
# Each of those takes the table row FOR NO KEY UPDATE first, as place_order() does; so does the move,
# for both tables, in id order. Then it locks what it changes: the source session's orders and row and
# the source table's open calls. It takes every one of these row locks without waiting (NOWAIT): a
# status change holds its order's row and then waits for the table (orders_check_status reads it FOR
# SHARE), a kitchen ticket locks the table and then the order, and whoever waits in a row's queue
# holds back even lockers compatible with the holder; a move that waited while holding a row could
# close a cycle with them. Refused instead, the attempt rolls back and the controller tries again a
# moment later. The only lock the move waits for is the store row's (record_event), last: whoever
# holds that one is committing and waits for nothing the move holds.
LOCK_BOTH = """
SELECT t.id, t.number FROM tables t WHERE t.id = ANY($2::bigint[]) AND t.store_id = $1
 ORDER BY t.id FOR NO KEY UPDATE NOWAIT
"""
LOCK_MOVING = """
WITH o AS (SELECT id FROM orders WHERE store_id = $1 AND session_id = $2 ORDER BY id FOR NO KEY UPDATE NOWAIT),
     s AS (SELECT id FROM table_sessions WHERE store_id = $1 AND id = $2 FOR UPDATE NOWAIT),
     c AS (SELECT id FROM staff_calls WHERE store_id = $1 AND table_id = $3 AND resolved_at IS NULL ORDER BY id
            FOR UPDATE NOWAIT)
SELECT (SELECT count(*) FROM o) + (SELECT count(*) FROM s) + (SELECT count(*) FROM c)
"""
OPEN_SESSIONS = """
SELECT table_id, id FROM table_sessions WHERE store_id = $1 AND table_id = ANY($2::bigint[]) AND closed_at IS NULL
"""
ORDERS_HELD = "SELECT count(*) FROM orders WHERE store_id = $1 AND session_id = ANY($2::bigint[])"
# The orders follow their session (merged: into the target's); updated_at says they changed.
REHOME_ORDERS = """
UPDATE orders SET session_id = $3, table_id = $4, table_number = $5, updated_at = clock_timestamp()
 WHERE store_id = $1 AND session_id = $2
"""
MOVE_SESSION = "UPDATE table_sessions SET table_id = $3, table_number = $4 WHERE store_id = $1 AND id = $2"
# A merged session leaves no trace of its own: its orders are the target session's now, and an empty
# closed session would show in the table's history (and announce table.session_closed) for nobody.
DROP_SESSION = "DELETE FROM table_sessions WHERE store_id = $1 AND id = $2"
# The table's open calls go with its guests, except a reason the target already has open: that call
# stands for both, and the moved one is resolved (call.resolved).
MOVE_CALLS = """
UPDATE staff_calls c SET table_id = $3, table_number = $4
 WHERE c.store_id = $1 AND c.table_id = $2 AND c.resolved_at IS NULL
   AND NOT EXISTS (SELECT 1 FROM staff_calls d WHERE d.store_id = $1 AND d.table_id = $3 AND d.reason = c.reason
                      AND d.resolved_at IS NULL)
"""
RECORD_MOVED = """
SELECT record_event($1, 'table.session_moved', $2, session_moved_json(f, t, $5, $6))
  FROM tables f, tables t WHERE f.store_id = $1 AND f.id = $3 AND t.store_id = $1 AND t.id = $4
"""
TABLE_DOCUMENT = "SELECT table_json(t)::text FROM tables t WHERE t.store_id = $1 AND t.id = $2"


async def lock_tables(conn: asyncpg.Connection, store_id: int, from_id: int, to_id: int) -> dict[int, int]:
    """Locks both tables' rows; returns {table id: number} of those the store has."""
    rows = await conn.fetch(LOCK_BOTH, store_id, [from_id, to_id])
    return {row["id"]: row["number"] for row in rows}


async def open_sessions(conn: asyncpg.Connection, store_id: int, table_ids: list[int]) -> dict[int, int]:
    """{table id: its open session's id} of those tables that have one."""
    rows = await conn.fetch(OPEN_SESSIONS, store_id, table_ids)
    return {row["table_id"]: row["id"] for row in rows}


async def orders_held(conn: asyncpg.Connection, store_id: int, session_ids: list[int]) -> int:
    held: int = await conn.fetchval(ORDERS_HELD, store_id, session_ids)
    return held


async def move_session(conn: asyncpg.Connection, store_id: int, session_id: int, target_session_id: int | None,
                       from_table: int, to_table: tuple[int, int]) -> int:
    """Moves the open session `session_id` of `from_table` to `to_table` (id, number), or merges it into
    `target_session_id`, the target's open session; the calls follow; table.session_moved is recorded
    for both tables. Both tables must be locked (lock_tables). Raises asyncpg.LockNotAvailableError,
    having changed nothing, when a row it changes is locked. Returns the session the orders are in."""
    to_id, to_number = to_table
    await conn.execute(LOCK_MOVING, store_id, session_id, from_table)
    lands_in = target_session_id if target_session_id is not None else session_id
    await conn.execute(REHOME_ORDERS, store_id, session_id, lands_in, to_id, to_number)
    if target_session_id is None:
        await conn.execute(MOVE_SESSION, store_id, session_id, to_id, to_number)
    else:
        await conn.execute(DROP_SESSION, store_id, session_id)
    await conn.execute(MOVE_CALLS, store_id, from_table, to_id, to_number)
    await conn.execute(RESOLVE_CALLS, store_id, from_table)
    for table_id in (from_table, to_id):
        await conn.execute(RECORD_MOVED, store_id, table_id, from_table, to_id, lands_in,
                           target_session_id is not None)
    return lands_in


async def table_document(conn: asyncpg.Connection, store_id: int, table_id: int) -> str:
    document: str = await conn.fetchval(TABLE_DOCUMENT, store_id, table_id)
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
