"""Pruning on a schedule: old events, spent idempotency keys, stale login counters."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from tableorder.settings import Settings

log = logging.getLogger("tableorder.housekeeping")

IDEMPOTENCY_KEY_HOURS = 24.0


# An event that an enabled webhook endpoint has yet to deliver stays past the retention period, until
# it is delivered or the endpoint is given up (24 hours after the event's first failed delivery; the
# endpoint is then disabled and holds nothing). See migration 0007.
PRUNE_EVENTS = """
DELETE FROM events e WHERE e.created_at < now() - make_interval(secs => $1)
   AND NOT EXISTS (SELECT 1 FROM webhook_endpoints w
                    WHERE w.store_id = e.store_id AND w.enabled AND w.delivered_position < e.position)
"""


async def prune(pool: asyncpg.Pool, settings: Settings) -> None:
    await pool.execute(PRUNE_EVENTS, settings.event_retention_hours * 3600)
    await pool.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
                       IDEMPOTENCY_KEY_HOURS * 3600)
    # A logged-out token past its expiry is refused by its signature alone.
    await pool.execute("DELETE FROM revoked_tokens WHERE expires_at < now()")
    # Only rows that count for nothing any more: quiet for a window and not a known address, windows
    # that are over. One statement per table: begin_login_attempt locks the rows of these tables in
    # an order of its own, and a statement deleting from several could take them the other way round.
    await pool.execute(
        "DELETE FROM login_attempts"
        " WHERE coalesce(greatest(last_failure_at, locked_until) < now() - make_interval(secs => $1), true)"
        " AND coalesce(last_success_at < now() - make_interval(secs => $2), true)",
        float(settings.login_window_seconds), settings.login_known_address_days * 86_400)
    window = float(settings.login_window_seconds)
    await pool.execute("DELETE FROM login_address_failures WHERE window_started_at < now() - make_interval(secs => $1)",
                       window)
    await pool.execute("DELETE FROM login_store_failures WHERE window_started_at < now() - make_interval(secs => $1)",
                       window)
    await pool.execute("DELETE FROM login_store_address_failures"
                       " WHERE window_started_at < now() - make_interval(secs => $1)", window)


async def prune_forever(pool: asyncpg.Pool, settings: Settings, interval: float = 600.0) -> None:
    """Every replica prunes; the deletes are idempotent, and the jitter spreads them out."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))
        try:
            await prune(pool, settings)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("pruning failed: %r", exc)
