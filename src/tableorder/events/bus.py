"""The event bus as app.py sees it: how a replica hears of committed events (EVENT_BUS) and how the
active relay publishes them. Both buses feed the same hub and invalidate the same caches.

- postgres: the relay NOTIFYs once per batch; every replica LISTENs (events/listener.py) and its
  feeds read the events table.
- nats: the relay publishes every event to JetStream; a replica subscribes only to the stores its
  clients watch and sends an event straight from the message when it is the next one of its store
  (a gap or a reconnect reads the table). Cache invalidations for every store arrive on core NATS.
  Nothing uses LISTEN, so PgBouncer in transaction mode can sit in front of the primary.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Protocol

import asyncpg

from tableorder.events.listener import StoreCache
from tableorder.events.relay import PAGE, Batch, NotifyPublisher, Publisher, read_batch, read_bodies
from tableorder.settings import Settings

if TYPE_CHECKING:  # nats-py is imported only by a replica on EVENT_BUS=nats (about 1.5 MB it need not hold)
    from tableorder.events.nats_bus import NatsPublisher


class Source(Protocol):
    """What a replica hears events from."""

    @property
    def connected(self) -> bool: ...

    def start(self) -> None: ...

    async def stop(self) -> None: ...


class JetStreamPublisher:
    """EVENT_BUS=nats: the cache invalidations on core NATS, then each event of the batch to
    JetStream, every one acknowledged before the relay's watermark moves (after this returns).

    Invalidations first: they need no JetStream, so while it refuses (a cluster without quorum, a
    full store) a logout, a deleted table or a revoked key still ends access on every replica; and a
    replica drops its stale menu before its tablets hear `menu.updated` and ask again. A batch that
    fails is published again, invalidations too (dropping a cache twice is harmless)."""

    def __init__(self, nats: NatsPublisher) -> None:
        self._nats = nats
        self._started = False

    async def publish(self, conn: asyncpg.Connection, batch: Batch) -> None:
        if not self._started:
            await self._nats.start(stream=False)  # publish_events ensures the stream
            self._started = True
        invalidations = [(run.store_id, "menu.updated") for run in batch.runs if run.menu_changed]
        invalidations += [(store_id, "credentials.changed") for store_id in batch.signals]
        if invalidations:
            await self._nats.publish_invalidations(invalidations)
        if sum(run.last - run.first + 1 for run in batch.runs) <= PAGE:
            # The usual batch (what committed in the last few milliseconds): one read, one publish.
            if batch.runs:
                await self._nats.publish_events(await read_batch(conn, batch.runs))
            return
        for run in batch.runs:  # a backlog: a page at a time
            next_page = await read_bodies(conn, run)
            while page := await next_page():
                await self._nats.publish_events(page)
                if len(page) < PAGE:
                    break

    async def close(self) -> None:
        await self._nats.close()


class NatsSource:
    """A replica on NATS: the subscriber, with the caches kept as the PostgreSQL listener keeps them
    (enabled only while connected, cleared on every (re)connect)."""

    def __init__(self, url: str, deliver: Callable[[int, int, str, int | None, str], None],
                 on_connect: Callable[[], None], caches: Mapping[str, StoreCache]) -> None:
        from tableorder.events.nats_bus import NatsSubscriber

        self._caches = caches
        self._on_connect = on_connect
        self.subscriber = NatsSubscriber(url, deliver, self._invalidate, self._connected, self._disconnected)

    @property
    def connected(self) -> bool:
        return self.subscriber.connected

    def start(self) -> None:
        self.subscriber.start()

    async def stop(self) -> None:
        await self.subscriber.stop()

    def _invalidate(self, store_id: int, kind: str) -> None:
        cache = self._caches.get(kind)
        if cache is not None:
            cache.invalidate(store_id)

    def _connected(self) -> None:
        for cache in self._caches.values():
            cache.clear()
            cache.enabled = True
        self._on_connect()

    def _disconnected(self) -> None:
        for cache in self._caches.values():
            cache.enabled = False
            cache.clear()


def publisher(settings: Settings) -> Publisher | NotifyPublisher:
    if settings.event_bus == "nats":
        from tableorder.events.nats_bus import NatsPublisher

        assert settings.nats_url is not None
        return JetStreamPublisher(NatsPublisher(settings.nats_url, settings.event_retention_hours,
                                                replicas=settings.nats_stream_replicas,
                                                max_bytes=settings.nats_stream_max_bytes))
    return NotifyPublisher()


