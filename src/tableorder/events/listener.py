"""The replica's one LISTEN connection: outside the pool, kept alive, watched, reconnected."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from typing import Protocol

import asyncpg

from tableorder import db

log = logging.getLogger("tableorder.events")

CHANNEL = "tableorder_events"


class StoreCache(Protocol):
    """Something a replica remembers per store that a notification of some type makes stale."""

    enabled: bool

    def invalidate(self, store_id: int) -> None: ...

    def clear(self) -> None: ...


class Listener:
    """`on_event(store_id, position)` for each event of a store's feed, `on_connect()` after each
    (re)connect (whatever committed meanwhile is to be read now); `caches` by notification type. All
    given by app.py: the listener knows nothing of what it feeds."""

    def __init__(self, url: str, on_event: Callable[[int, int], None], on_connect: Callable[[], None],
                 caches: Mapping[str, StoreCache], *, watchdog_interval: float = 5.0,
                 watchdog_timeout: float = 3.0, max_backoff: float = 5.0) -> None:
        self._url = url
        self._on_event = on_event
        self._on_connect = on_connect
        # Notification type -> the cache it invalidates. Caches are only enabled while connected:
        # a notification missed meanwhile cannot leave a stale entry behind.
        self._caches = caches
        self._watchdog_interval = watchdog_interval
        self._watchdog_timeout = watchdog_timeout
        self._max_backoff = max_backoff
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self.connected = False
        self.connections_made = 0

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="listener")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    def _on_notify(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        """`store:position:type` entries joined by `;` (a relay's batch: the store's last position,
        and `menu.updated` when its menu changed; `store:0:credentials.changed` for a credential)."""
        for entry in payload.split(";"):
            store, _, rest = entry.partition(":")
            position, _, event_type = rest.partition(":")
            try:
                store_id, position_ = int(store), int(position)
            except ValueError:
                log.warning("ignoring malformed notification %r", entry)
                continue
            cache = self._caches.get(event_type)
            if cache is not None:
                cache.invalidate(store_id)
            if position_ > 0:  # a position of 0: not an event of the store's feed
                self._on_event(store_id, position_)

    async def _connect(self) -> asyncpg.Connection:
        conn: asyncpg.Connection = await db.connect(
            self._url,
            timeout=5,
            server_settings={
                "application_name": f"tableorder-listener-{os.getpid()}",
                # The server probes an idle link too, so a vanished replica's backend goes away.
                "tcp_keepalives_idle": "30", "tcp_keepalives_interval": "10", "tcp_keepalives_count": "3",
            },
        )
        conn.add_termination_listener(lambda _c: self._lost.set())
        await conn.add_listener(CHANNEL, self._on_notify)
        return conn

    async def _run(self) -> None:
        backoff = 0.1
        while True:
            conn: asyncpg.Connection | None = None
            try:
                conn = await self._connect()
                self._lost.clear()
                self.connected = True
                self.connections_made += 1
                backoff = 0.1
                # Anything committed while we were not listening is read now, and caches start afresh.
                for cache in self._caches.values():
                    cache.clear()
                    cache.enabled = True
                self._on_connect()
                await self._watch(conn)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # any failure: reconnect
                log.warning("event listener connection failed: %r; reconnecting in %.1fs", exc, backoff)
            finally:
                self.connected = False
                for cache in self._caches.values():
                    cache.enabled = False
                    cache.clear()
                if conn is not None:
                    conn.terminate()
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, self._max_backoff)

    async def _watch(self, conn: asyncpg.Connection) -> None:
        """Returns when the connection is gone, or when it stops answering (a silent half-open link)."""
        while True:
            try:
                await asyncio.wait_for(self._lost.wait(), self._watchdog_interval)
                log.warning("event listener connection lost")
                return
            except TimeoutError:
                pass
            try:
                await conn.fetchval("SELECT 1", timeout=self._watchdog_timeout)
            except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("event listener watchdog failed: %r", exc)
                return
