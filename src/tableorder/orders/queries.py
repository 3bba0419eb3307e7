"""Orders: placing (one round trip through place_order()), listing, status moves."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

import asyncpg

PLACE_ORDER = "SELECT order_doc::text, replayed FROM place_order($1, $2, $3, $4, $5, $6, $7, $8, $9)"

# SQLSTATEs place_order() raises (migrations 0001, 0002, 0005).
TABLE_NOT_FOUND = "TO404"
KEY_REUSED = "TO409"  # an Idempotency-Key reused with another body
SESSION_FULL = "TOCAP"  # the open session holds max_orders orders; DETAIL: {"limit": n}
UNORDERABLE = "TO422"  # DETAIL: {"unknown": [ids], "unavailable": [ids]}
TOO_MANY_ORDERS = "TO429"  # DETAIL: {"retry_after": seconds}


async def place_order(pool: asyncpg.Pool, store_id: int, table_id: int, item_ids: list[int],
                      quantities: list[int], note: str | None, idempotency_key: str | None,
                      request_hash: bytes, rate_limit: int, max_orders: int) -> asyncpg.Record:
    """`rate_limit`: orders the table may place in any 60 seconds; `max_orders`: orders its open
    session may hold (0: no limit, either). Raises asyncpg errors with the SQLSTATEs above."""
    return await pool.fetchrow(PLACE_ORDER, store_id, table_id, item_ids, quantities, note,
                               idempotency_key, request_hash, rate_limit, max_orders)


# As UTF-8 bytes (bytea), never a str: a str holding one emoji takes 4 bytes a character, and this
# document is as large as a session is (SESSION_MAX_ORDERS bounds it).
TABLE_ORDERS = """
SELECT convert_to(json_build_object(
    'session', CASE WHEN s.id IS NOT NULL THEN session_json(s) END,
    'total_amount', coalesce((SELECT sum(o.total_amount) FROM orders o
                               WHERE o.session_id = s.id AND o.status <> 'cancelled'), 0),
    'orders', coalesce((SELECT json_agg(order_json(o) ORDER BY o.created_at DESC, o.id DESC)
                          FROM orders o WHERE o.session_id = s.id), '[]'))::text, 'UTF8')
  FROM (SELECT 1) AS one
  LEFT JOIN table_sessions s ON s.table_id = $1 AND s.store_id = $2 AND s.closed_at IS NULL
"""


async def table_orders(pool: asyncpg.Pool, store_id: int, table_id: int) -> bytes:
    document: bytes = await pool.fetchval(TABLE_ORDERS, table_id, store_id)
    return document


# Newest first, a page at a time: keyset on (created_at, id), so a page is as cheap at the end as at
# the start and orders placed meanwhile never shift the next page. The first page starts after
# (infinity, max id): one condition for every page, which the index on (store_id, created_at) can
# start from whatever plan the statement gets. One row more than asked tells whether there is a
# next page.
OPEN_ORDERS = """
SELECT order_json(o)::text AS document, o.created_at, o.id
  FROM orders o JOIN table_sessions s ON s.id = o.session_id AND s.closed_at IS NULL
 WHERE o.store_id = $1
   AND ($2::text IS NULL OR o.status = $2)
   AND ($3::bigint IS NULL OR o.table_id = $3)
   AND o.created_at <= coalesce($4::timestamptz, 'infinity')
   AND (o.created_at, o.id) < (coalesce($4::timestamptz, 'infinity'), coalesce($5::bigint, 9223372036854775807))
 ORDER BY o.created_at DESC, o.id DESC
 LIMIT $6::int + 1
"""


@dataclass(frozen=True)
class PageRows:
    documents: list[str]  # order documents, newest first
    after: tuple[datetime, int] | None  # the key of the last one when there is a next page


async def open_orders(pool: asyncpg.Pool, store_id: int, status: str | None, table_id: int | None,
                      limit: int, after: tuple[datetime, int] | None) -> PageRows:
    """A page of the open sessions' orders, starting after the key `after` (from the previous page)."""
    after_created, after_id = after if after is not None else (None, None)
    rows = await pool.fetch(OPEN_ORDERS, store_id, status, table_id, after_created, after_id, limit)
    shown = rows[:limit]
    more = len(rows) > limit
    return PageRows(documents=[row["document"] for row in shown],
                     after=(shown[-1]["created_at"], shown[-1]["id"]) if more else None)


# Moves the status; a row that already has the target status is left untouched (no event).
# The orders_check_status trigger refuses backward moves with SQLSTATE TO409.
SET_STATUS = """
WITH target AS (SELECT id, status FROM orders WHERE id = $1 AND store_id = $2),
moved AS (
    UPDATE orders o SET status = $3 FROM target
     WHERE o.id = target.id AND target.status <> $3
    RETURNING order_json(o)::text AS document
)
SELECT (SELECT document FROM moved) AS moved,
       (SELECT order_json(o)::text FROM orders o JOIN target ON o.id = target.id AND target.status = $3) AS unchanged
"""


async def set_status(pool: asyncpg.Pool, store_id: int, order_id: int, status: str) -> str | None:
    """Returns the order after the move, or None when the store has no such order."""
    row = await pool.fetchrow(SET_STATUS, order_id, store_id, status)
    document: str | None = row["moved"] or row["unchanged"]
    return document
