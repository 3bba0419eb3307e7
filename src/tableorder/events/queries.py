"""The event feed's reads: live batches, resume pages and where a resume may start (the events
table is written only by the triggers of migrations/documents.sql and migration 0001)."""

from __future__ import annotations

import asyncpg

FETCH_EVENTS = """
SELECT position, type, table_id, payload::text FROM events
 WHERE store_id = $1 AND position > $2 ORDER BY position LIMIT $3
"""

# A resume's page: at most $3 events and, past the first, no more than $4 bytes of payload. A
# table's backlog is filtered here, in SQL, never loaded whole and filtered in Python: its own
# events (index events_table) merged with the store's menu changes (index events_menu).
_PAGE = """
SELECT position, type, table_id, payload, fetched FROM (
    SELECT *, sum(size) OVER (ORDER BY position) - size AS before, count(*) OVER () AS fetched FROM (
        SELECT position, type, table_id, payload::text, octet_length(payload::text) AS size
          FROM ({events}) AS matching
         ORDER BY position LIMIT $3) AS limited) AS page
 WHERE before < $4
 ORDER BY position
"""
STORE_PAGE = _PAGE.format(events="""
    SELECT * FROM events WHERE store_id = $1 AND position > $2 ORDER BY position LIMIT $3""")
TABLE_PAGE = _PAGE.format(events="""
    (SELECT * FROM events WHERE store_id = $1 AND table_id = $5 AND position > $2 AND type = ANY($6::text[])
      ORDER BY position LIMIT $3)
    UNION ALL
    (SELECT * FROM events WHERE store_id = $1 AND type = 'menu.updated' AND position > $2
      ORDER BY position LIMIT $3)""")

# Where a resume may start. `boundary` is the table's last session change: its session closing, or a
# session moving away from it or to it (table.session_moved is recorded for both tables). A table
# stream never replays anything from before its current session (the previous party's orders and
# notes, also those of a party that moved to another table and left this one to the next party).
# A staff call resolved is a boundary too: a party may call without ordering, so no session of
# theirs closes when they leave, and the next one would replay their call and its note (a tablet
# told to reload reads its open calls over REST).
RESUME_POINT = """
SELECT s.last_event_position AS last,
       (SELECT min(position) FROM events e WHERE e.store_id = s.id) AS first,
       CASE WHEN $2::bigint IS NOT NULL THEN
           (SELECT max(position) FROM events e
             WHERE e.store_id = s.id AND e.table_id = $2
               AND e.type IN ('table.session_closed', 'table.session_moved', 'call.resolved'))
       END AS boundary
  FROM stores s WHERE s.id = $1
"""


# --- housekeeping (events/housekeeping.py prunes on a schedule, on every replica) ----------------------

# An event that an enabled webhook endpoint has yet to deliver stays past the retention period, until
# it is delivered or the endpoint is given up (24 hours after the event's first failed delivery; the
# endpoint is then disabled and holds nothing). See migration 0007.
PRUNE_EVENTS = """
DELETE FROM events e WHERE e.created_at < now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM webhook_endpoints w
                    WHERE w.store_id = e.store_id AND w.enabled AND w.delivered_position < e.position)
"""


async def prune(pool: asyncpg.Pool, *, retention_seconds: float, idempotency_seconds: float,
                login_window_seconds: float, known_address_seconds: float) -> None:
    """Old events, spent idempotency keys and revoked tokens, stale login counters. Idempotent."""
    await pool.execute(PRUNE_EVENTS, retention_seconds)
    await pool.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
                       idempotency_seconds)
    # A logged-out token past its expiry is refused by its signature alone.
    await pool.execute("DELETE FROM revoked_tokens WHERE expires_at < now()")
    # Published within a poll interval of their commit; an hour is ample for a relay taking over.
    await pool.execute("DELETE FROM store_signals WHERE created_at < now() - interval '1 hour'")
    # Only rows that count for nothing any more: quiet for a window and not a known address, windows
    # that are over. One statement per table: begin_login_attempt locks the rows of these tables in
    # an order of its own, and a statement deleting from several could take them the other way round.
    await pool.execute(
        "DELETE FROM login_attempts"
        " WHERE coalesce(greatest(last_failure_at, locked_until) < now() - make_interval(secs => $1), true)"
        " AND coalesce(last_success_at < now() - make_interval(secs => $2), true)",
        login_window_seconds, known_address_seconds)
    for table in ("login_address_failures", "login_store_failures", "login_store_address_failures"):
        await pool.execute(f"DELETE FROM {table} WHERE window_started_at < now() - make_interval(secs => $1)",
                           login_window_seconds)
