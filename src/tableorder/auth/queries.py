"""Credential lookups and login throttling, kept in PostgreSQL so every replica sees one count."""

from __future__ import annotations

import asyncpg

# One round trip: the store, the account (if any) and the remaining lockout of the throttle key.
_FIND_ADMIN = """
SELECT s.id AS store_id, s.code, s.name, a.id AS subject_id, a.password_hash
  FROM (SELECT 1) AS one
  LEFT JOIN stores s ON s.code = $1
  LEFT JOIN admins a ON a.store_id = s.id AND a.username = $2
"""

_FIND_TABLE = """
SELECT s.id AS store_id, s.code, s.name, t.id AS subject_id, t.number, t.password_hash
  FROM (SELECT 1) AS one
  LEFT JOIN stores s ON s.code = $1
  LEFT JOIN tables t ON t.store_id = s.id AND t.number = $2
"""

# Counts an attempt *before* the password is checked, atomically, so concurrent guesses cannot slip
# past the limit: attempts 1..N of a window are checked, the N-th locks the key, and while it is
# locked every attempt is refused (failures grows past N). A successful login deletes the key.
_BEGIN_ATTEMPT = """
INSERT INTO login_attempts AS l (key, failures, window_started_at, locked_until)
VALUES ($1, 1, now(), CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $4) END)
ON CONFLICT (key) DO UPDATE SET
    failures = CASE
        WHEN l.locked_until > now() THEN l.failures + 1
        WHEN l.locked_until IS NOT NULL OR l.window_started_at < now() - make_interval(secs => $3) THEN 1
        ELSE l.failures + 1 END,
    window_started_at = CASE
        WHEN l.locked_until > now() THEN l.window_started_at
        WHEN l.locked_until IS NOT NULL OR l.window_started_at < now() - make_interval(secs => $3) THEN now()
        ELSE l.window_started_at END,
    locked_until = CASE
        WHEN l.locked_until > now() THEN l.locked_until
        WHEN l.locked_until IS NOT NULL OR l.window_started_at < now() - make_interval(secs => $3)
            THEN CASE WHEN $2 <= 1 THEN now() + make_interval(secs => $4) END
        WHEN l.failures + 1 >= $2 THEN now() + make_interval(secs => $4)
        END
RETURNING failures <= $2 AS allowed,
          -- clock_timestamp(), not now(): a transaction that waited for the row behind a concurrent
          -- attempt started earlier than the lock it sees, and would announce more than the lockout.
          greatest(1, ceil(extract(epoch FROM locked_until - clock_timestamp())))::int AS retry_after
"""


async def find_admin(conn: asyncpg.Pool, store_code: str, username: str) -> asyncpg.Record:
    return await conn.fetchrow(_FIND_ADMIN, store_code, username)


async def find_table(conn: asyncpg.Pool, store_code: str, number: int) -> asyncpg.Record:
    return await conn.fetchrow(_FIND_TABLE, store_code, number)


async def begin_attempt(conn: asyncpg.Pool, key: str, max_failures: int, window_seconds: int,
                        lockout_seconds: int) -> int | None:
    """Count a login attempt; returns None when it may proceed, else the seconds until it may."""
    row = await conn.fetchrow(_BEGIN_ATTEMPT, key, max_failures, float(window_seconds), float(lockout_seconds))
    return None if row["allowed"] else int(row["retry_after"])


async def clear_attempts(conn: asyncpg.Pool, key: str) -> None:
    await conn.execute("DELETE FROM login_attempts WHERE key = $1", key)
