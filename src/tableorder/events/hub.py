"""Per-store fan-out of the events table to this replica's stream clients.

The listener only says "store S has something new". Each store with clients has one feed that
reads `events` with `position > last_position` in position order. Positions are handed out under
the store row's lock at commit time, so when position N is visible every position below it is
too: reading `> last` can never skip an event that commits late. Each client also remembers the
last position it was sent and drops anything at or below it, so catch-up reads and live delivery
may overlap without duplicates.

What one client can cost is bounded: a resume reads its backlog a page at a time, each page only
after the previous one was written (see stream.py); live events wait in a queue bounded in count
and in bytes, and a client that lets it fill is cut off (it resumes with Last-Event-ID). A table
token holds at most `max_per_table` streams; the store's `max_per_store` is for staff and API keys alone.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import NamedTuple, Protocol

import asyncpg

from tableorder import db, documents
from tableorder.events import queries

log = logging.getLogger("tableorder.events")

# Table streams carry the table's own order changes, its calls for staff, the closing of its session
# and its session moving away or arriving, and the store's menu changes (so an open tablet refreshes
# its menu).
TABLE_EVENT_TYPES = frozenset({"order.created", "order.updated", "order.cancelled", "table.session_closed",
                               "call.created", "call.resolved", "table.session_moved"})
MENU_UPDATED = "menu.updated"

_LINE_BREAK = re.compile(r"\r\n|\r|\n")


class Event(NamedTuple):
    position: int
    type: str
    table_id: int | None
    frame: bytes  # the encoded SSE message

    @classmethod
    def of(cls, position: int, type_: str, table_id: int | None, payload: str) -> Event:
        return cls(position, type_, table_id, sse_frame(type_, payload, position))

    @classmethod
    def from_row(cls, row: asyncpg.Record) -> Event:
        return cls.of(row["position"], row["type"], row["table_id"], row["payload"])

    @property
    def size(self) -> int:
        return len(self.frame)


def sse_frame(event: str, data: str, position: int | None = None) -> bytes:
    """One SSE message. Lines end only at CR, LF or CRLF (the SSE grammar), so text such as U+2028
    inside a JSON string stays on its data line; str.splitlines() would break the frame there."""
    head = f"id: {position}\n" if position is not None else ""
    body = "".join(f"data: {line}\n" for line in _LINE_BREAK.split(data))
    return f"{head}event: {event}\n{body}\n".encode()


HEARTBEAT = Event(0, "heartbeat", None, b": heartbeat\n\n")


class StreamsFull(Exception):
    """The store (staff streams) or the table already has its maximum of streams on this replica."""

    def __init__(self, scope: str) -> None:
        super().__init__(scope)
        self.scope = scope  # "store" or "table"


@dataclass(eq=False)
class Subscriber:
    store_id: int
    table_id: int | None  # None: the whole store (staff board)
    last_sent: int
    queue: asyncio.Queue[Event | None]
    max_queued_bytes: int
    principal: object = None  # who opened it; re-checked when the store's credentials change
    queued_bytes: int = 0
    # While a resume reads its backlog from the table, live events are not queued (the pages read
    # them); see stream.py for how the two meet without a gap.
    catching_up: bool = False
    dropped: bool = False

    def wants(self, event: Event) -> bool:
        return (self.table_id is None or event.type == MENU_UPDATED
                or (event.table_id == self.table_id and event.type in TABLE_EVENT_TYPES))

    def offer(self, event: Event) -> None:
        if self.dropped or self.catching_up or event.position <= self.last_sent or not self.wants(event):
            return
        if self.queued_bytes + event.size > self.max_queued_bytes or self.queue.full():
            # A client this far behind is cut off rather than buffered without bound; it reconnects
            # with Last-Event-ID and catches up from the events table.
            self.drop()
            return
        self.queue.put_nowait(event)
        self.queued_bytes += event.size

    def take(self, item: Event | None) -> Event | None:
        if item is not None:
            self.queued_bytes -= item.size if item is not HEARTBEAT else 0
        return item

    def drop(self) -> None:
        if self.dropped:
            return
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0
        self.queue.put_nowait(None)


@dataclass(eq=False)
class StoreFeed:
    store_id: int
    last_position: int
    subscribers: set[Subscriber] = field(default_factory=set)
    staff_streams: int = 0
    table_streams: dict[int, int] = field(default_factory=dict)
    dirty: bool = False
    task: asyncio.Task[None] | None = None


class Resync(NamedTuple):
    """The client cannot resume from its Last-Event-ID; it reloads over REST and goes on from
    `position`. `data` is the event's documents.Resync."""

    position: int
    data: documents.Resync


class Watcher(Protocol):
    """A bus that carries events only for the stores a replica asks for (NATS): `watch` returns once
    the bus will deliver what is published from then on."""

    async def watch(self, store_id: int) -> None: ...

    def unwatch(self, store_id: int) -> None: ...


class Hub:
    def __init__(self, pool: asyncpg.Pool, max_per_store: int, heartbeat_interval: float, *,
                 max_per_table: int = 2, max_queued_bytes: int = 262_144, queue_size: int = 256,
                 watcher: Watcher | None = None) -> None:
        self._pool = pool
        self._watcher = watcher
        self._max_per_store = max_per_store
        self._max_per_table = max_per_table
        self._max_queued_bytes = max_queued_bytes
        self._queue_size = queue_size
        # A batch is delivered in one go, so it must fit a client's queue with room to spare; between
        # batches the clients get to run and drain.
        self._batch = max(1, queue_size // 2)
        self._feeds: dict[int, StoreFeed] = {}
        self._closed = False
        self._heartbeat_interval = heartbeat_interval
        self._heartbeat: asyncio.Task[None] | None = None
        self._revalidating: dict[int, asyncio.Task[None]] = {}  # also the tasks' strong references
        self._revalidate_again: set[int] = set()

    def start(self) -> None:
        self._heartbeat = asyncio.create_task(self._beat(), name="sse-heartbeat")

    async def _beat(self) -> None:
        """One timer for every stream of the replica (not a timer per client): a comment line in
        each stream's queue, which an idle stream sends and a busy one already has company for."""
        while True:
            await asyncio.sleep(self._heartbeat_interval)
            for feed in self._feeds.values():
                for subscriber in feed.subscribers:
                    if subscriber.queue.empty() and not subscriber.dropped:
                        subscriber.queue.put_nowait(HEARTBEAT)

    # -- clients -------------------------------------------------------------------------------

    async def subscribe(self, store_id: int, table_id: int | None, last_event_id: int | None,
                        principal: object = None) -> Subscriber:
        feed = self._feeds.get(store_id)
        if feed is None:
            position = await self._pool.fetchval(
                "SELECT last_event_position FROM stores WHERE id = $1", store_id)
            feed = self._feeds.get(store_id)  # another client may have created it meanwhile
            if feed is None:
                feed = self._feeds[store_id] = StoreFeed(store_id, position or 0)
                if self._watcher is not None:
                    # What committed between reading the position and the bus hearing the store is
                    # read from the table once the bus does.
                    try:
                        await self._watcher.watch(store_id)
                    finally:
                        self._wake(feed)
        if table_id is None:
            if feed.staff_streams >= self._max_per_store:
                raise StreamsFull("store")
            feed.staff_streams += 1
        else:
            if feed.table_streams.get(table_id, 0) >= self._max_per_table:
                raise StreamsFull("table")
            feed.table_streams[table_id] = feed.table_streams.get(table_id, 0) + 1
        subscriber = Subscriber(
            store_id, table_id, feed.last_position if last_event_id is None else last_event_id,
            asyncio.Queue(self._queue_size), self._max_queued_bytes, principal)
        feed.subscribers.add(subscriber)
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        feed = self._feeds.get(subscriber.store_id)
        if feed is None or subscriber not in feed.subscribers:
            return
        feed.subscribers.discard(subscriber)
        if subscriber.table_id is None:
            feed.staff_streams -= 1
        else:
            left = feed.table_streams.pop(subscriber.table_id) - 1
            if left:
                feed.table_streams[subscriber.table_id] = left
        if not feed.subscribers:
            if feed.task is not None:
                feed.task.cancel()
            del self._feeds[subscriber.store_id]
            if self._watcher is not None:
                self._watcher.unwatch(subscriber.store_id)

    async def resume_point(self, subscriber: Subscriber) -> Resync | None:
        """None when the client's Last-Event-ID can be resumed from, else where it goes on from."""
        row = await self._pool.fetchrow(queries.RESUME_POINT, subscriber.store_id, subscriber.table_id)
        since, last = subscriber.last_sent, row["last"]
        first = row["first"] if row["first"] is not None else last + 1
        if since > last:
            return Resync(last, documents.Resync(
                "ahead", f"Last-Event-ID {since} is ahead of this store's feed (at {last}); reload over REST"))
        if since < first - 1:
            return Resync(last, documents.Resync(
                "not_kept", "events after Last-Event-ID are no longer kept; reload over REST"))
        if row["boundary"] is not None and since < row["boundary"]:
            return Resync(last, documents.Resync(
                "session_changed", "the table's session changed since Last-Event-ID; reload over REST"))
        return None

    async def page(self, subscriber: Subscriber, limit: int, max_bytes: int) -> tuple[list[Event], bool]:
        """The next events after what the client was sent (its table's only, for a table stream): at
        most `limit`, and past the first no more than `max_bytes` of payload; and whether that was
        the end of the backlog."""
        if subscriber.table_id is None:
            rows = await self._pool.fetch(queries.STORE_PAGE, subscriber.store_id, subscriber.last_sent, limit,
                                          max_bytes)
        else:
            rows = await self._pool.fetch(queries.TABLE_PAGE, subscriber.store_id, subscriber.last_sent, limit,
                                          max_bytes, subscriber.table_id, list(TABLE_EVENT_TYPES))
        complete = not rows or (rows[0]["fetched"] < limit and rows[0]["fetched"] == len(rows))
        return [Event.from_row(row) for row in rows], complete

    # -- the listener's side ---------------------------------------------------------------------

    def notify(self, store_id: int, position: int) -> None:
        feed = self._feeds.get(store_id)
        if feed is not None and position > feed.last_position:
            self._wake(feed)

    def deliver(self, store_id: int, position: int, type_: str, table_id: int | None, payload: str) -> None:
        """An event the bus carried whole (NATS): the next one of the store's feed is sent from it
        without reading the table; a gap (a message missed) makes the feed read the table."""
        feed = self._feeds.get(store_id)
        if feed is None or position <= feed.last_position:
            return
        if position > feed.last_position + 1 or feed.task is not None:
            self._wake(feed)
            return
        event = Event.of(position, type_, table_id, payload)
        feed.last_position = position
        for subscriber in list(feed.subscribers):
            subscriber.offer(event)

    def wake_all(self) -> None:
        """After the listener was away: notifications may have been missed, so every feed reads."""
        for feed in self._feeds.values():
            self._wake(feed)

    def revalidate(self, store_id: int, still_valid: Callable[[object], Awaitable[bool]]) -> None:
        """The store's credentials changed: streams whose token no longer holds are ended. Changes
        that arrive while a check runs are folded into one more check after it (a burst of logouts
        costs two passes over the store's streams, not one per logout)."""
        if store_id not in self._feeds or self._closed:
            return
        if store_id in self._revalidating:
            self._revalidate_again.add(store_id)
            return

        async def check() -> None:
            delay = 0.5
            try:
                while store_id in self._feeds:
                    self._revalidate_again.discard(store_id)
                    try:
                        for subscriber in list(self._feeds[store_id].subscribers):
                            if not subscriber.dropped and not await still_valid(subscriber.principal):
                                subscriber.drop()
                    except Exception as exc:  # the database is away: check again until it answers
                        log.warning("re-checking the streams of store %s failed: %r; retrying", store_id, exc)
                        self._revalidate_again.add(store_id)
                        await asyncio.sleep(delay)
                        delay = min(delay * 2, 5.0)
                        continue
                    if store_id not in self._revalidate_again:
                        return
            finally:
                self._revalidating.pop(store_id, None)
                self._revalidate_again.discard(store_id)

        self._revalidating[store_id] = asyncio.create_task(check(), name=f"revalidate-{store_id}")

    def revalidate_all(self, still_valid: Callable[[object], Awaitable[bool]]) -> None:
        """Every store's streams are checked again (changes may have been missed meanwhile)."""
        for store_id in list(self._feeds):
            self.revalidate(store_id, still_valid)

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
                    rows = await self._pool.fetch(queries.FETCH_EVENTS, feed.store_id, feed.last_position, self._batch)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    level = logging.WARNING if isinstance(exc, db.UNAVAILABLE) else logging.ERROR
                    log.log(level, "reading events of store %s failed: %r; retrying", feed.store_id, exc)
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

