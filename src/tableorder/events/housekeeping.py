"""Pruning on a schedule: old events, spent idempotency keys, stale login counters."""

from __future__ import annotations

import asyncio
import logging
import random

import asyncpg

from tableorder.events import queries
from tableorder.settings import Settings

log = logging.getLogger("tableorder.housekeeping")

IDEMPOTENCY_KEY_HOURS = 24.0


async def prune(pool: asyncpg.Pool, settings: Settings) -> None:
    await queries.prune(pool, retention_seconds=settings.event_retention_hours * 3600,
                        idempotency_seconds=IDEMPOTENCY_KEY_HOURS * 3600,
                        login_window_seconds=float(settings.login_window_seconds),
                        known_address_seconds=settings.login_known_address_days * 86_400)


async def prune_forever(pool: asyncpg.Pool, settings: Settings, interval: float = 600.0) -> None:
    """Every replica prunes; the deletes are idempotent, and the jitter spreads them out."""
    while True:
        await asyncio.sleep(interval * random.uniform(0.5, 1.5))
        try:
            await prune(pool, settings)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("pruning failed: %r", exc)
