"""Per-store fan-out of the events table to this replica's stream clients.

The listener only says "store S has something new". Each store with clients has one feed that
reads `events` with `position > last_position` in position order. Positions are handed out under
the store row's lock at commit time, so when position N is visible every position below it is
too: reading `> last` can never skip an event that commits late. Each client also remembers the
last position it was sent and drops anything at or below it, so catch-up reads and live delivery
may overlap without duplicates.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from typing import NamedTuple

import asyncpg

log = logging.getLogger("tableorder.events")

FETCH_EVENTS = """
SELECT position, type, table_id, payload::text FROM events
 WHERE store_id = $1 AND position > $2 ORDER BY position LIMIT $3
"""

# Table streams carry the table's own order changes and the closing of its session.
TABLE_EVENT_TYPES = frozenset({"order.created", "order.updated", "order.cancelled", "table.session_closed"})


class Event(NamedTuple):
    position: int
    type: str
    table_id: int | None
    frame: bytes  # the encoded SSE message

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Event:
        return cls(row["position"], row["type"], row["table_id"],
                   sse_frame(row["type"], row["payload"], row["position"]))


def sse_frame(event: str, data: str, position: int | None = None) -> bytes:
    head = f"id: {position}\n" if position is not None else ""
    body = "".join(f"data: {line}\n" for line in data.splitlines() or [""])
    return f"{head}event: {event}\n{body}\n".encode()


HEARTBEAT = Event(0, "heartbeat", None, b": heartbeat\n\n")


class StoreFull(Exception):
    """The store already has the maximum number of streams on this replica."""


@dataclass(eq=False)
class Subscriber:
    store_id: int
    table_id: int | None  # None: the whole store (staff board)
    last_sent: int
    queue: asyncio.Queue[Event | None]
    dropped: bool = False

    def wants(self, event: Event) -> bool:
        return self.table_id is None or (event.table_id == self.table_id and event.type in TABLE_EVENT_TYPES)

    def offer(self, event: Event) -> None:
        if self.dropped or event.position <= self.last_sent or not self.wants(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            # A client this far behind is cut off rather than buffered without bound; it reconnects
            # with Last-Event-ID and catches up from the events table.
            self.drop()

    def drop(self) -> None:
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass(eq=False)
class StoreFeed:
    store_id: int
    last_position: int
    subscribers: set[Subscriber] = field(default_factory=set)
    dirty: bool = False
    task: asyncio.Task[None] | None = None


class Hub:
    def __init__(self, pool: asyncpg.Pool, max_per_store: int, heartbeat_interval: float,
                 queue_size: int = 256) -> None:
        self._pool = pool
        self._max_per_store = max_per_store
        self._queue_size = queue_size
        # A batch is delivered in one go, so it must fit a client's queue with room to spare; between
        # batches the clients get to run and drain.
        self._batch = max(1, queue_size // 2)
        self._feeds: dict[int, StoreFeed] = {}
        self._closed = False
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="sse-heartbeat")

    async def _beat(self) -> None:
        """One timer for every stream of the replica (not a timer per client): a comment line in
        each stream's queue, which an idle stream sends and a busy one already has company for."""
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            for feed in self._feeds.values():
                for subscriber in feed.subscribers:
                    if subscriber.queue.empty():
                        subscriber.queue.put_nowait(HEARTBEAT)

    # -- clients -------------------------------------------------------------------------------

    async def subscribe(self, store_id: int, table_id: int | None, last_event_id: int | None) -> Subscriber:
        feed = self._feeds.get(store_id)
        if feed is None:
            position = await self._pool.fetchval(
                "SELECT last_event_position FROM stores WHERE id = $1", store_id)
            feed = self._feeds.get(store_id)  # another client may have created it meanwhile
            if feed is None:
                feed = self._feeds[store_id] = StoreFeed(store_id, position or 0)
        if len(feed.subscribers) >= self._max_per_store:
            raise StoreFull
        subscriber = Subscriber(
            store_id, table_id, feed.last_position if last_event_id is None else last_event_id,
            asyncio.Queue(self._queue_size))
        feed.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        feed = self._feeds.get(subscriber.store_id)
        if feed is None:
            return
        feed.subscribers.discard(subscriber)
        if not feed.subscribers:
            if feed.task is not None:
                feed.task.cancel()
            del self._feeds[subscriber.store_id]

    async def backlog(self, subscriber: Subscriber) -> list[Event] | None:
        """Events after the client's Last-Event-ID, or None when they were pruned (or never were):
        the client must reload over REST."""
        row = await self._pool.fetchrow(
            """SELECT s.last_event_position AS last,
                      (SELECT min(position) FROM events e WHERE e.store_id = s.id) AS first
                 FROM stores s WHERE s.id = $1""", subscriber.store_id)
        since = subscriber.last_sent
        first = row["first"] if row["first"] is not None else row["last"] + 1
        if since > row["last"] or since < first - 1:
            return None
        rows = await self._pool.fetch(
            "SELECT position, type, table_id, payload::text FROM events "
            "WHERE store_id = $1 AND position > $2 ORDER BY position", subscriber.store_id, since)
        return [event for event in map(Event.from_row, rows) if subscriber.wants(event)]

    # -- the listener's side ---------------------------------------------------------------------

    def notify(self, store_id: int, position: int) -> None:
        feed = self._feeds.get(store_id)
        if feed is not None and position > feed.last_position:
            self._wake(feed)

    def wake_all(self) -> None:
        """After the listener was away: notifications may have been missed, so every feed reads."""
        for feed in self._feeds.values():
            self._wake(feed)

    def _wake(self, feed: StoreFeed) -> None:
        feed.dirty = True
        if feed.task is None and not self._closed:
            feed.task = asyncio.create_task(self._pump(feed), name=f"feed-{feed.store_id}")

    async def _pump(self, feed: StoreFeed) -> None:
        delay = 0.1
        try:
            while feed.dirty and feed.subscribers:
                feed.dirty = False
                try:
                    rows = await self._pool.fetch(FETCH_EVENTS, feed.store_id, feed.last_position, self._batch)
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                    log.warning("reading events of store %s failed: %r; retrying", feed.store_id, exc)
                    feed.dirty = True
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
                    continue
                delay = 0.1
                for row in rows:
                    event = Event.from_row(row)
                    feed.last_position = event.position
                    for subscriber in list(feed.subscribers):
                        subscriber.offer(event)
                if len(rows) == self._batch:
                    feed.dirty = True
                    await asyncio.sleep(0)
        finally:
            feed.task = None

    # -- lifecycle & introspection -----------------------------------------------------------------

    def close(self) -> None:
        """Ends every stream (shutdown): each client gets end-of-stream and reconnects elsewhere."""
        self._closed = True
        if self._heartbeat is not None:
            self._heartbeat.cancel()
        for feed in list(self._feeds.values()):
            if feed.task is not None:
                feed.task.cancel()
            for subscriber in list(feed.subscribers):
                subscriber.drop()

    def stream_count(self, store_id: int | None = None) -> int:
        if store_id is not None:
            feed = self._feeds.get(store_id)
            return len(feed.subscribers) if feed else 0
        return sum(len(feed.subscribers) for feed in self._feeds.values())

    def feed_count(self) -> int:
        return len(self._feeds)
