"""The relay: events published after they commit, off the commit path.

Triggers only write event rows. Every replica runs a relay; one of them is active. It follows the
events table in commit order with an xid8 snapshot watermark and publishes what committed since the
last batch: by one NOTIFY per batch (`EVENT_BUS=postgres`), or to NATS JetStream (`EVENT_BUS=nats`).
Order commits then never take the cluster-wide lock PostgreSQL holds for notifying transactions
through their WAL flush, and can share their flushes.

Election: the active relay holds a transaction-scoped advisory lock in a transaction it keeps open on
a connection of its own (idle, with no snapshot and no transaction id, so it holds nothing back). A
transaction, not a session lock, so it also holds through PgBouncer in transaction mode, which pins
a server connection to a client for as long as its transaction lasts. When the holder dies, its
connection closes, the lock goes with it, and a standby (trying every `standby_interval`) takes over.
A leader that goes silent without closing its connection checks in every second; after 5 s without
it the server ends the transaction (idle_in_transaction_session_timeout) and the lock with it.
There is one relay per bus (its own lock and watermark), so replicas of both buses can share a
database while a deployment moves from one to the other.

Watermark: `event_relay.snapshot` is the snapshot up to which everything was published. A batch is
what is visible now and was not visible in it (`pg_visible_in_snapshot`), read in one statement
whose snapshot is also the next watermark. Positions are handed out per store under the store row's
lock at commit, so what a batch holds of one store is a run of consecutive positions. The watermark
advances in the transaction that publishes (postgres: the NOTIFYs are sent when it commits), or right
after JetStream acknowledged every message (nats: a batch published again after a failover is
deduplicated by its message ids). The advance is a compare-and-set on the old watermark: a relay that
lost its lock without noticing yet cannot move it twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import asyncpg

from tableorder import db

log = logging.getLogger("tableorder.relay")

CHANNEL = "tableorder_events"
# The advisory lock keys of the relay elections ("tordrely", then one per bus).
LOCK_KEYS = {"postgres": 0x746F7264_72656C79, "nats": 0x746F7264_72656C7A}
NOTIFY_LIMIT = 7900  # bytes per NOTIFY payload (PostgreSQL refuses 8000 and more)
PAGE = 500  # events read at once when publishing bodies

POLL = """
WITH w AS (SELECT $1::text::pg_snapshot AS s)
SELECT pg_current_snapshot()::text AS snapshot,
       coalesce(array_agg(e.store_id ORDER BY e.store_id), '{}') AS stores,
       coalesce(array_agg(e.first ORDER BY e.store_id), '{}') AS firsts,
       coalesce(array_agg(e.last ORDER BY e.store_id), '{}') AS lasts,
       coalesce(array_agg(e.menu ORDER BY e.store_id), '{}') AS menus,
       (SELECT coalesce(array_agg(DISTINCT g.store_id), '{}') FROM store_signals g, w
         WHERE g.xid >= pg_snapshot_xmin(w.s) AND NOT pg_visible_in_snapshot(g.xid, w.s)) AS signals
  FROM (SELECT v.store_id, min(v.position) AS first, max(v.position) AS last,
               bool_or(v.type = 'menu.updated') AS menu
          FROM events v, w
         WHERE v.xid >= pg_snapshot_xmin(w.s) AND NOT pg_visible_in_snapshot(v.xid, w.s)
         GROUP BY v.store_id) e
"""

WATERMARK = "SELECT snapshot::text FROM event_relay WHERE bus = $1"
# A bus without its row (restored without it, or deleted to "reset" the relay) starts from now: what
# committed before is in the events table, where feeds read it on the store's next event.
WATERMARK_MISSING = """
INSERT INTO event_relay (bus, snapshot) VALUES ($1, pg_current_snapshot()) ON CONFLICT (bus) DO NOTHING
"""
ADVANCE = """
UPDATE event_relay SET snapshot = $3::text::pg_snapshot, updated_at = now()
 WHERE bus = $1 AND snapshot::text = $2
"""
EVENTS = """
SELECT position, type, table_id, payload::text AS payload FROM events
 WHERE store_id = $1 AND position > $2 AND position <= $3 ORDER BY position LIMIT $4
"""


class StoreRun(NamedTuple):
    """What one batch holds of a store: positions first..last, and whether its menu changed."""

    store_id: int
    first: int
    last: int
    menu_changed: bool


@dataclass(frozen=True)
class Batch:
    runs: list[StoreRun]
    signals: list[int]  # stores whose credentials changed

    def __bool__(self) -> bool:
        return bool(self.runs or self.signals)


class EventBody(NamedTuple):
    store_id: int
    position: int
    type: str
    table_id: int | None
    payload: str


class Publisher(Protocol):
    """Where a batch goes. `publish` runs inside the transaction that advances the watermark: if it
    raises, the watermark stays and the batch is published again."""

    async def publish(self, conn: asyncpg.Connection, batch: Batch) -> None: ...


def notify_payloads(batch: Batch) -> list[str]:
    """The batch as `store:last_position:type` entries joined by `;`, in as few NOTIFY payloads as
    fit. `type` is `menu.updated` when the store's menu changed (replicas drop their cached menu),
    else empty; a credential change is `store:0:credentials.changed`."""
    entries = [f"{r.store_id}:{r.last}:{'menu.updated' if r.menu_changed else ''}" for r in batch.runs]
    entries += [f"{store_id}:0:credentials.changed" for store_id in batch.signals]
    payloads: list[str] = []
    current = ""
    for entry in entries:
        if current and len(current) + 1 + len(entry) > NOTIFY_LIMIT:
            payloads.append(current)
            current = ""
        current = f"{current};{entry}" if current else entry
    if current:
        payloads.append(current)
    return payloads


class NotifyPublisher:
    """EVENT_BUS=postgres: one NOTIFY per batch (more only past 7,900 bytes), sent when the
    transaction advancing the watermark commits."""

    async def publish(self, conn: asyncpg.Connection, batch: Batch) -> None:
        for payload in notify_payloads(batch):
            await conn.execute("SELECT pg_notify($1, $2)", CHANNEL, payload)


async def read_bodies(conn: asyncpg.Connection, run: StoreRun,
                      page: int = PAGE) -> Callable[[], Awaitable[list[EventBody]]]:
    """Pages of a run's events, oldest first (for a bus that carries the events themselves)."""
    after = run.first - 1

    async def next_page() -> list[EventBody]:
        nonlocal after
        rows = await conn.fetch(EVENTS, run.store_id, after, run.last, page)
        if rows:
            after = rows[-1]["position"]
        return [EventBody(run.store_id, r["position"], r["type"], r["table_id"], r["payload"]) for r in rows]

    return next_page


class Relay:
    """Runs in every replica; publishes while it holds the election lock."""

    def __init__(self, url: str, pool: asyncpg.Pool, publisher: Publisher, *, bus: str = "postgres",
                 interval: float = 0.01, standby_interval: float = 0.5, lock_check_interval: float = 1.0,
                 on_published: Callable[[], None] | None = None) -> None:
        self._url = url
        self._on_published = on_published
        self._bus = bus
        self._lock_key = LOCK_KEYS[bus]
        self._pool = pool
        self._publisher = publisher
        self._interval = interval
        self._standby_interval = standby_interval
        self._lock_check_interval = lock_check_interval
        self._task: asyncio.Task[None] | None = None
        self.active = False
        self._stored = self._watermark = ""  # what event_relay holds; where this relay has read to
        self.batches = 0  # published since start (introspection for tests and /health)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="event-relay")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            lock: asyncpg.Connection | None = None
            try:
                lock = await db.connect(
                    self._url, timeout=5,
                    server_settings={"application_name": f"tableorder-relay-{os.getpid()}"})
                await self._stand_by(lock)
                log.info("event relay active in process %s", os.getpid())
                self.active = True
                await self._lead(lock)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database went away, or the lock's connection did
                level = logging.WARNING if isinstance(exc, db.UNAVAILABLE) else logging.ERROR
                log.log(level, "event relay stopped: %r; standing by again", exc)
            finally:
                self.active = False
                if lock is not None:
                    lock.terminate()
            await asyncio.sleep(self._standby_interval)

    async def _stand_by(self, lock: asyncpg.Connection) -> None:
        """Returns once elected: the lock is tried in a transaction that stays open while it is held."""
        while True:
            # A leader that stops checking in (frozen, or cut off without a reset) loses the lock when
            # the server ends its idle transaction; a standby then takes over.
            await lock.execute("BEGIN; SET LOCAL idle_in_transaction_session_timeout = '5s'")
            if await lock.fetchval("SELECT pg_try_advisory_xact_lock($1)", self._lock_key):
                return
            await lock.execute("ROLLBACK")
            await asyncio.sleep(self._standby_interval)

    async def _lead(self, lock: asyncpg.Connection) -> None:
        stored: str | None = await self._pool.fetchval(WATERMARK, self._bus)
        if stored is None:
            # Else NULL was the watermark: every advance failed its compare-and-set, the relay stepped
            # down and was elected again, and nothing was ever published.
            log.warning("event relay: no watermark for bus %s; publishing from now on", self._bus)
            await self._pool.execute(WATERMARK_MISSING, self._bus)
            stored = await self._pool.fetchval(WATERMARK, self._bus)
        self._stored = self._watermark = stored
        # The lock is checked on its own schedule, also while a batch is being published: checked only
        # between batches, a batch longer than 5 s (JetStream slow to acknowledge, a backlog) left the
        # lock's transaction idle until the server ended it, and a standby published the same batch.
        keeper = asyncio.create_task(self._keep_lock(lock), name="event-relay-lock")
        try:
            while not keeper.done():
                published = await self._step()
                if not published and not keeper.done():
                    await asyncio.sleep(self._interval)
            keeper.result()  # why the lock was lost
        finally:
            keeper.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await keeper

    async def _keep_lock(self, lock: asyncpg.Connection) -> None:
        """Checks in every lock_check_interval; returns or raises when the lock's connection is lost."""
        while True:
            await asyncio.sleep(self._lock_check_interval)
            # Still connected, so still holding the lock (a dead link raises here).
            await lock.fetchval("SELECT 1", timeout=self._lock_check_interval * 2)

    async def _step(self) -> bool:
        """One poll: publish what committed since the watermark; whether anything was."""
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(POLL, self._watermark)
            batch = Batch([StoreRun(*run) for run in zip(row["stores"], row["firsts"], row["lasts"], row["menus"],
                                                        strict=True)],
                          list(row["signals"]))
            snapshot: str = row["snapshot"]
            if not batch:
                # Nothing new: the watermark moves in memory only (a relay taking over from the stored
                # one finds the same nothing).
                self._watermark = snapshot
                return False
            async with conn.transaction():
                if await conn.execute(ADVANCE, self._bus, self._stored, snapshot) != "UPDATE 1":
                    raise RelayFenced("the watermark moved under this relay: another relay is active")
                await self._publisher.publish(conn, batch)
        self._stored = self._watermark = snapshot
        self.batches += 1
        if self._on_published is not None:
            self._on_published()
        return True


class RelayFenced(RuntimeError):
    """Another relay advanced the watermark: this one lost the election without noticing yet."""

