"""Orders: placing (one round trip through place_order()), listing, status moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import asyncpg

PLACE_ORDER = "SELECT order_doc::text, replayed FROM place_order($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"

# SQLSTATEs place_order() raises (migrations 0001, 0002, 0005, 0009).
TABLE_NOT_FOUND = "TO404"
KEY_REUSED = "TO409"  # an Idempotency-Key reused with another body
NOT_MOVABLE = "TO409"  # orders_check_status: a backward move, or out of a final status or a closed session
SESSION_FULL = "TOCAP"  # the open session holds max_orders orders; DETAIL: {"limit": n}
UNORDERABLE = "TO422"  # DETAIL: {"unknown": [ids], "unavailable": [ids], "options": [{line, problem, ...}]}
TOO_MANY_ORDERS = "TO429"  # DETAIL: {"retry_after": seconds}


async def place_order(pool: asyncpg.Pool, store_id: int, table_id: int, item_ids: list[int],
                      quantities: list[int], note: str | None, idempotency_key: str | None,
                      request_hash: bytes, rate_limit: int, max_orders: int, option_lines: list[int],
                      option_ids: list[int]) -> asyncpg.Record:
    """`rate_limit`: orders the table may place in any 60 seconds; `max_orders`: orders its open
    session may hold (0: no limit, either); `option_lines`/`option_ids`: the options chosen as pairs
    (the line's 1-based number, the option's id). Raises asyncpg errors with the SQLSTATEs above."""
    # An order locks its options in id order; staff deleting a group (or an item) cascade through its
    # options in whatever order the table holds them, so the two may wait for each other. PostgreSQL
    # then fails one of them; nothing of the order was kept, so it is placed again, once.
    arguments = (store_id, table_id, item_ids, quantities, note, idempotency_key, request_hash, rate_limit,
                 max_orders, option_lines, option_ids)
    try:
        return await pool.fetchrow(PLACE_ORDER, *arguments)
    except asyncpg.DeadlockDetectedError:
        if not option_ids:
            raise
        return await pool.fetchrow(PLACE_ORDER, *arguments)


# table_orders_json (migrations/documents.sql): UTF-8 bytes, as large as a session is.
TABLE_ORDERS = "SELECT table_orders_json($1, $2)"


async def table_orders(pool: asyncpg.Pool, store_id: int, table_id: int) -> bytes:
    document: bytes = await pool.fetchval(TABLE_ORDERS, store_id, table_id)
    return document


# Newest first, a page at a time: keyset on (created_at, id), so a page is as cheap at the end as at
# the start and orders placed meanwhile never shift the next page. The first page starts after
# (infinity, max id): one condition for every page, which the index on (store_id, created_at) can
# start from whatever plan the statement gets. One row more than asked tells whether there is a
# next page. `from`/`to` are the store's business days (its time zone), both inclusive, on
# created_at; `updated_since` keeps orders changed after that instant (reconciliation).
ORDERS = """
SELECT order_json(o)::text AS document, o.created_at, o.id
  FROM orders o
  JOIN table_sessions s ON s.store_id = o.store_id AND s.id = o.session_id
  JOIN stores st ON st.id = o.store_id
 WHERE o.store_id = $1
   AND ($7 OR s.closed_at IS NULL)
   AND ($2::text IS NULL OR o.status = $2)
   AND ($3::bigint IS NULL OR o.table_id = $3)
   AND ($8::date IS NULL OR o.created_at >= ($8::date::timestamp AT TIME ZONE st.timezone))
   AND ($9::date IS NULL OR o.created_at < (($9::date + 1)::timestamp AT TIME ZONE st.timezone))
   AND ($10::timestamptz IS NULL OR o.updated_at > $10)
   AND o.created_at <= coalesce($4::timestamptz, 'infinity')
   AND (o.created_at, o.id) < (coalesce($4::timestamptz, 'infinity'), coalesce($5::bigint, 9223372036854775807))
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT $6::int + 1
"""


@dataclass(frozen=True)
class OrderFilter:
    status: str | None = None
    table_id: int | None = None
    closed_sessions: bool = False  # also orders of closed sessions (history)
    from_day: date | None = None
    to_day: date | None = None
    updated_since: datetime | None = None


@dataclass(frozen=True)
class PageRows:
    documents: list[str]  # order documents, newest first
    after: tuple[datetime, int] | None  # the key of the last one when there is a next page


async def list_orders(pool: asyncpg.Pool, store_id: int, where: OrderFilter, limit: int,
                      after: tuple[datetime, int] | None) -> PageRows:
    """A page of the store's orders, starting after the key `after` (from the previous page)."""
    after_created, after_id = after if after is not None else (None, None)
    rows = await pool.fetch(ORDERS, store_id, where.status, where.table_id, after_created, after_id, limit,
                            where.closed_sessions, where.from_day, where.to_day, where.updated_since)
    shown = rows[:limit]
    more = len(rows) > limit
    return PageRows(documents=[row["document"] for row in shown],
                    after=(shown[-1]["created_at"], shown[-1]["id"]) if more else None)


async def get_order(pool: asyncpg.Pool, store_id: int, order_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        "SELECT order_json(o)::text FROM orders o WHERE o.id = $1 AND o.store_id = $2", order_id, store_id)
    return document


# Moves the status; a row that already has the target status is left untouched (no event).
# The orders_check_status trigger refuses backward moves with SQLSTATE TO409.
SET_STATUS = """
WITH target AS (SELECT id, status FROM orders WHERE id = $1 AND store_id = $2),
moved AS (
    UPDATE orders o SET status = $3 FROM target
     WHERE o.store_id = $2 AND o.id = target.id AND target.status <> $3
    RETURNING order_json(o)::text AS document
)
SELECT (SELECT document FROM moved) AS moved,
       (SELECT order_json(o)::text FROM orders o JOIN target ON o.store_id = $2 AND o.id = target.id
                                                                 AND target.status = $3) AS unchanged
"""


async def set_status(pool: asyncpg.Pool, store_id: int, order_id: int, status: str) -> str | None:
    """Returns the order after the move, or None when the store has no such order."""
    row = await pool.fetchrow(SET_STATUS, order_id, store_id, status)
    document: str | None = row["moved"] or row["unchanged"]
    return document
