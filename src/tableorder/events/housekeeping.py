"""Pruning on a schedule: old events, spent idempotency keys, stale login counters."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from tableorder.settings import Settings

log = logging.getLogger("tableorder.housekeeping")

IDEMPOTENCY_KEY_HOURS = 24.0


async def prune(pool: asyncpg.Pool, settings: Settings) -> None:
    await pool.execute("DELETE FROM events WHERE created_at < now() - make_interval(secs => $1)",
                       settings.event_retention_hours * 3600)
    await pool.execute("DELETE FROM idempotency_keys WHERE created_at < now() - make_interval(secs => $1)",
                       IDEMPOTENCY_KEY_HOURS * 3600)
    await pool.execute(
        "DELETE FROM login_attempts WHERE coalesce(locked_until, window_started_at) "
        "< now() - make_interval(secs => $1)", float(settings.login_window_seconds))


async def prune_forever(pool: asyncpg.Pool, settings: Settings, interval: float = 600.0) -> None:
    """Every replica prunes; the deletes are idempotent, and the jitter spreads them out."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))
        try:
            await prune(pool, settings)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("pruning failed: %r", exc)
