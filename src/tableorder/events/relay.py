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
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple, Protocol

import asyncpg

from tableorder import db

log = logging.getLogger("tableorder.relay")

CHANNEL = "tableorder_events"
# The advisory lock keys of the relay elections ("tordrely", then one per bus).
LOCK_KEYS = {"postgres": 0x746F7264_72656C79, "nats": 0x746F7264_72656C7A}
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

# POLL, the compare-and-set and the NOTIFYs in one statement (EVENT_BUS=postgres). Entries are
# `store:last_position:type` (`menu.updated` when the store's menu changed, else empty) and
# `store:0:credentials.changed`, joined by `;`, cut into payloads of at most 7,800 bytes plus one
# entry (far below PostgreSQL's 8,000). Nothing is sent unless the watermark moved.
# The relay's commits do not wait for the WAL flush (this transaction only, so also behind PgBouncer,
# which refuses it as a connection setting): its watermark lost in a crash makes it publish a batch
# again, which readers drop (positions, message ids). Waiting, its ~100 commits a second queued with
# the orders' own flushes: make bench's orders ratio 0.83 with the wait against 0.93 without it
# (alternating runs of 3 rounds, 21:45 UTC).
NO_FLUSH_WAIT = "set_config('synchronous_commit', 'off', true)"

STEP_NOTIFY = f"""
WITH w AS (SELECT $3::text::pg_snapshot AS s),
runs AS (
    SELECT v.store_id, max(v.position) AS last, bool_or(v.type = 'menu.updated') AS menu
      FROM events v, w
     WHERE v.xid >= pg_snapshot_xmin(w.s) AND NOT pg_visible_in_snapshot(v.xid, w.s)
     GROUP BY v.store_id),
signals AS (
    SELECT DISTINCT g.store_id FROM store_signals g, w
     WHERE g.xid >= pg_snapshot_xmin(w.s) AND NOT pg_visible_in_snapshot(g.xid, w.s)),
entries AS (
    SELECT 0 AS kind, store_id,
           store_id || ':' || last || ':' || CASE WHEN menu THEN 'menu.updated' ELSE '' END AS entry FROM runs
    UNION ALL
    SELECT 1, store_id, store_id || ':0:credentials.changed' FROM signals),
advanced AS (
    UPDATE event_relay SET snapshot = pg_current_snapshot(), updated_at = now()
     WHERE bus = $1 AND snapshot::text = $2 AND EXISTS (SELECT 1 FROM entries)
    RETURNING 1),
chunks AS (
    SELECT entry, kind, store_id,
           (sum(octet_length(entry) + 1) OVER (ORDER BY kind, store_id) - 1) / 7800 AS chunk
      FROM entries WHERE EXISTS (SELECT 1 FROM advanced)),
sent AS (
    SELECT pg_notify('tableorder_events', string_agg(entry, ';' ORDER BY kind, store_id)) FROM chunks
     GROUP BY chunk)
SELECT pg_current_snapshot()::text AS snapshot, (SELECT count(*) FROM entries) AS entries,
       (SELECT count(*) FROM advanced) AS advanced, (SELECT count(*) FROM sent) AS notifies,
       {NO_FLUSH_WAIT} AS quick
"""

WATERMARK = "SELECT snapshot::text FROM event_relay WHERE bus = $1"
# A bus without its row (restored without it, or deleted to "reset" the relay) starts from now: what
# committed before is in the events table, where feeds read it on the store's next event.
WATERMARK_MISSING = """
INSERT INTO event_relay (bus, snapshot) VALUES ($1, pg_current_snapshot()) ON CONFLICT (bus) DO NOTHING
"""
# How many rows moved: 1, or 0 when another relay moved the watermark meanwhile.
ADVANCE = f"""
WITH moved AS (
    UPDATE event_relay SET snapshot = $3::text::pg_snapshot, updated_at = now()
     WHERE bus = $1 AND snapshot::text = $2
    RETURNING 1)
SELECT (SELECT count(*) FROM moved) AS moved, {NO_FLUSH_WAIT} AS quick
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
    """Where a batch goes (a bus that carries the events themselves). The watermark advances only
    after `publish` returned: if it raises, the batch is published again."""

    async def publish(self, conn: asyncpg.Connection, batch: Batch) -> None: ...


class NotifyPublisher:
    """EVENT_BUS=postgres: the relay's whole step is one statement (STEP_NOTIFY): it finds what
    committed since the watermark, advances the watermark (compare-and-set) and sends one NOTIFY per
    batch (more only past 7,800 bytes), which PostgreSQL delivers when the statement commits. One
    round trip per poll, so a relay on a busy worker's event loop waits for it once, not five times."""


BATCH_EVENTS = """
SELECT e.store_id, e.position, e.type, e.table_id, e.payload::text AS payload
  FROM unnest($1::bigint[], $2::bigint[], $3::bigint[]) AS r(store_id, first, last)
  JOIN events e ON e.store_id = r.store_id AND e.position BETWEEN r.first AND r.last
 ORDER BY e.store_id, e.position
"""


async def read_batch(conn: asyncpg.Connection, runs: list[StoreRun]) -> list[EventBody]:
    """Every event of runs holding at most PAGE events together, in one statement."""
    rows = await conn.fetch(BATCH_EVENTS, [r.store_id for r in runs], [r.first for r in runs],
                            [r.last for r in runs])
    return [EventBody(r["store_id"], r["position"], r["type"], r["table_id"], r["payload"]) for r in rows]


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

    def __init__(self, url: str, pool: asyncpg.Pool | None, publisher: Publisher | NotifyPublisher, *,
                 bus: str = "postgres", interval: float = 0.01, standby_interval: float = 0.5,
                 lock_check_interval: float = 1.0, on_published: Callable[[list[int]], None] | None = None) -> None:
        """`pool`: the connections to poll and publish on, on the caller's event loop; None runs the
        relay in a thread of its own, with its own event loop and two connections (what the app
        does: a relay sharing a busy worker's event loop waits behind its requests and streams at
        every step, which measured as 40-50 ms more push latency at p99 at 200 orders/s)."""
        self._url = url
        self._on_published = on_published
        self._bus = bus
        self._lock_key = LOCK_KEYS[bus]
        self._own_thread = pool is None
        self._pool: asyncpg.Pool = pool  # made in the thread when None
        self._thread: threading.Thread | None = None
        self._thread_loop: asyncio.AbstractEventLoop | None = None
        self._caller_loop: asyncio.AbstractEventLoop | None = None
        self._publisher = publisher
        self._interval = interval
        self._standby_interval = standby_interval
        self._lock_check_interval = lock_check_interval
        self._task: asyncio.Task[None] | None = None
        self.active = False
        self._stored = self._watermark = ""  # what event_relay holds; where this relay has read to
        self.batches = 0  # published since start (introspection for tests and /health)

    def start(self) -> None:
        self._caller_loop = asyncio.get_running_loop()
        if not self._own_thread:
            self._task = asyncio.create_task(self._main(), name="event-relay")
            return
        started = threading.Event()

        def run() -> None:
            async def main() -> None:
                self._thread_loop = asyncio.get_running_loop()
                self._task = asyncio.current_task()
                started.set()
                self._pool = await db.create_pool(self._url, min_size=0, max_size=1,
                                                  application_name=f"tableorder-relay-work-{os.getpid()}")
                try:
                    await self._main()
                finally:
                    await self._pool.close()

            # uvloop where it is installed (uvicorn's standard extra, as the workers run): a poll
            # every 10 ms cost this process 6.0-6.3 % of a core with it, 7.0-7.7 % without.
            with contextlib.suppress(asyncio.CancelledError), asyncio.Runner(loop_factory=_loop_factory()) as runner:
                runner.run(main())

        self._thread = threading.Thread(target=run, name="event-relay", daemon=True)
        self._thread.start()
        started.wait(5)

    async def stop(self) -> None:
        if self._thread is not None:
            if self._thread_loop is not None and self._task is not None:
                with contextlib.suppress(RuntimeError):  # its loop already closed
                    self._thread_loop.call_soon_threadsafe(self._task.cancel)
            await asyncio.to_thread(self._thread.join, 10)
            return
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _main(self) -> None:
        try:
            await self._run()
        finally:
            close = getattr(self._publisher, "close", None)
            if close is not None:
                with contextlib.suppress(Exception):
                    await close()

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
            loop = asyncio.get_running_loop()
            while not keeper.done():
                started = loop.time()
                await self._step()
                # One step per interval, also after a batch: polled again at once, a busy relay made
                # about one statement per order (measured at 470 orders/s: 0.2 ms of PostgreSQL and
                # more of this process per order); every step takes all that committed meanwhile.
                if not keeper.done():
                    await asyncio.sleep(max(0.0, self._interval - (loop.time() - started)))
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

    async def _step(self) -> None:
        """One poll: publish what committed since the watermark."""
        if isinstance(self._publisher, NotifyPublisher):
            row = await self._pool.fetchrow(STEP_NOTIFY, self._bus, self._stored, self._watermark)
            snapshot: str = row["snapshot"]
            if not row["entries"]:
                self._watermark = snapshot  # nothing new: the watermark moves in memory only
                return
            if not row["advanced"]:
                raise RelayFenced("the watermark moved under this relay: another relay is active")
            self._published(snapshot, [])  # every worker's listener hears the stores
            return
        async with self._pool.acquire() as conn:
            row = await conn.fetchrow(POLL, self._watermark)
            batch = Batch([StoreRun(*run) for run in zip(row["stores"], row["firsts"], row["lasts"], row["menus"],
                                                        strict=True)],
                          list(row["signals"]))
            snapshot = row["snapshot"]
            if not batch:
                # Nothing new: the watermark moves in memory only (a relay taking over from the stored
                # one finds the same nothing).
                self._watermark = snapshot
                return
            # Published first (acknowledged, or it raises and the watermark stays), then the watermark
            # moves: a relay deposed meanwhile finds it moved and stands down; what it published again
            # is dropped by the bus (message ids).
            await self._publisher.publish(conn, batch)
            if await conn.fetchval(ADVANCE, self._bus, self._stored, snapshot) != 1:
                raise RelayFenced("the watermark moved under this relay: another relay is active")
        self._published(snapshot, [run.store_id for run in batch.runs])

    def _published(self, snapshot: str, stores: list[int]) -> None:
        self._stored = self._watermark = snapshot
        self.batches += 1
        if self._on_published is not None and self._caller_loop is not None:
            self._caller_loop.call_soon_threadsafe(self._on_published, stores)


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    try:
        import uvloop
    except ImportError:
        return None
    factory: Callable[[], asyncio.AbstractEventLoop] = uvloop.new_event_loop
    return factory


class RelayFenced(RuntimeError):
    """Another relay advanced the watermark: this one lost the election without noticing yet."""

