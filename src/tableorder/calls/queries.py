"""Staff calls. Every statement is scoped by store_id (and, for a tablet, by its table)."""

from __future__ import annotations

import asyncpg

from tableorder.problems import ProblemError

# A new call, or nothing when the table already has an open call with this reason (the unique index
# staff_calls_one_open decides, whatever races between replicas: the second of two presses at once
# waits for the first and inserts nothing). The table row is locked as place_order() locks it, so a
# call takes turns with the table's orders, its session closing and its session moving (a call made
# while the session moves lands after the move, where it can be seen with the other open calls).
CREATE_CALL = """
WITH target AS (
    SELECT t.id, t.number FROM tables t WHERE t.id = $2 AND t.store_id = $1 FOR NO KEY UPDATE
), created AS (
    INSERT INTO staff_calls (store_id, table_id, table_number, reason, note)
    SELECT $1, target.id, target.number, $3, $4 FROM target
    ON CONFLICT (store_id, table_id, reason) WHERE resolved_at IS NULL DO NOTHING
    RETURNING call_json(staff_calls)::text AS document
)
SELECT (SELECT document FROM created) AS created, EXISTS (SELECT 1 FROM target) AS table_exists
"""

# A new statement, so a new snapshot: it sees the open call a concurrent press committed.
OPEN_CALL = """
SELECT call_json(c)::text FROM staff_calls c
 WHERE c.store_id = $1 AND c.table_id = $2 AND c.reason = $3 AND c.resolved_at IS NULL
"""


async def create_call(pool: asyncpg.Pool, store_id: int, table_id: int, reason: str,
                      note: str | None) -> tuple[str, bool] | None:
    """(the call, whether it is new): the new call, or the table's open call with this reason. None when
    the store has no such table."""
    # Staff may resolve the open call between the two statements: then press again (bounded: each
    # round needs staff to resolve a call in between).
    for _ in range(5):
        row = await pool.fetchrow(CREATE_CALL, store_id, table_id, reason, note)
        if not row["table_exists"]:
            return None
        if row["created"] is not None:
            return row["created"], True
        document: str | None = await pool.fetchval(OPEN_CALL, store_id, table_id, reason)
        if document is not None:
            return document, False
    # Staff resolved five calls of this reason during one press: say so, never a 500.
    raise ProblemError(503, "The table's call is being resolved right now; press again.",
                       slug="service-unavailable", headers={"Retry-After": "1"})


TABLE_CALLS = """
SELECT coalesce(json_agg(call_json(c) ORDER BY c.created_at, c.id), '[]')::text
  FROM staff_calls c WHERE c.table_id = $2 AND c.store_id = $1 AND c.resolved_at IS NULL
"""


async def table_calls(pool: asyncpg.Pool, store_id: int, table_id: int) -> str:
    """The table's open calls, oldest first (at most one per reason)."""
    document: str = await pool.fetchval(TABLE_CALLS, store_id, table_id)
    return document


STORE_CALLS = """
SELECT coalesce(json_agg(call_json(c) ORDER BY c.created_at, c.id), '[]')::text
  FROM staff_calls c WHERE c.store_id = $1 AND c.resolved_at IS NULL
"""


async def store_calls(pool: asyncpg.Pool, store_id: int) -> str:
    """The store's open calls, oldest first (at most five per table)."""
    document: str = await pool.fetchval(STORE_CALLS, store_id)
    return document


RESOLVE = """
UPDATE staff_calls c SET resolved_at = greatest(clock_timestamp(), c.created_at)
 WHERE c.id = $1 AND c.store_id = $2 AND c.resolved_at IS NULL
RETURNING call_json(c)::text
"""
# After a resolve that changed nothing, a new snapshot: the call as a concurrent resolve left it.
GET_CALL = "SELECT call_json(c)::text FROM staff_calls c WHERE c.id = $1 AND c.store_id = $2"


async def resolve_call(pool: asyncpg.Pool, store_id: int, call_id: int) -> str | None:
    """The call, resolved (now, or already before); None when the store has no such call."""
    document: str | None = await pool.fetchval(RESOLVE, call_id, store_id)
    if document is None:
        document = await pool.fetchval(GET_CALL, call_id, store_id)
    return document
