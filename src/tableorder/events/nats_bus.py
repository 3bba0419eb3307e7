"""The NATS side of the event bus (EVENT_BUS=nats): the relay publishes, replicas subscribe.

Why NATS at all: with PostgreSQL as the bus every replica holds a LISTEN connection to the primary,
which rules out PgBouncer in transaction mode and ties fan-out to the database. Here the database
only records events; the active relay reads them in commit order and publishes them, and each
replica hears only the stores its clients watch.

Why JetStream for events but core NATS for the rest: the relay advances its watermark only after
the stream acknowledged every message of a batch, and a batch replayed after a failover carries the
same `Nats-Msg-Id` (`<store>:<position>`), so the server stores it once (duplicate window 2 min).
Replicas read events with plain core subscriptions, not consumers: the events table stays the
record they recover from. Core NATS drops whatever was published while a replica was disconnected,
so `on_connect` (after the first connect and every reconnect) is the replica's cue to make every
feed read the database, and `on_disconnect` its cue to stop trusting caches. Cache invalidations
carry no position and need no replay, so they go over core NATS only.

The message format is fixed (notes/common.md, "NATS message format"); `event_message` and
`parse_event_message` are its one home on both sides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, StorageType, StreamConfig

log = logging.getLogger("tableorder.events")

STREAM = "TABLEORDER_EVENTS"
EVENTS_PREFIX = "tableorder.events."
INVALIDATIONS_PREFIX = "tableorder.invalidations."
DUPLICATE_WINDOW_SECONDS = 120.0

HEADER_MSG_ID = "Nats-Msg-Id"
HEADER_POSITION = "Tableorder-Position"
HEADER_TYPE = "Tableorder-Type"
HEADER_TABLE = "Tableorder-Table"

# JetStream's answer to creating a stream whose name exists with another configuration.
_STREAM_NAME_IN_USE = 10058

# (store_id, position, type, table_id or None, payload text exactly as in events.payload)
EventRow = tuple[int, int, str, int | None, str]


def event_message(store_id: int, position: int, event_type: str, table_id: int | None,
                  payload: str) -> tuple[str, dict[str, str], bytes]:
    """Subject, headers and body of one event's message."""
    headers = {
        HEADER_MSG_ID: f"{store_id}:{position}",
        HEADER_POSITION: str(position),
        HEADER_TYPE: event_type,
        HEADER_TABLE: "" if table_id is None else str(table_id),
    }
    return f"{EVENTS_PREFIX}{store_id}", headers, payload.encode()


def parse_event_message(subject: str, headers: Mapping[str, str] | None, data: bytes) -> EventRow | None:
    """The event a message carries, or None when it does not follow the format."""
    if not subject.startswith(EVENTS_PREFIX) or not headers:
        return None
    try:
        store_id = int(subject.removeprefix(EVENTS_PREFIX))
        position = int(headers[HEADER_POSITION])
        event_type = headers[HEADER_TYPE].strip()
        table = headers.get(HEADER_TABLE, "").strip()
        payload = data.decode()
    except (KeyError, ValueError):  # UnicodeDecodeError is a ValueError
        return None
    if store_id <= 0 or position <= 0 or not event_type or (table and not table.isdigit()):
        return None
    return store_id, position, event_type, int(table) if table else None, payload


async def _log_error(error: Exception) -> None:
    # Failed (re)connect attempts repeat every reconnect_time_wait while the server is away: the
    # disconnect itself is logged once as a warning, the attempts only at debug.
    if isinstance(error, OSError | asyncio.TimeoutError | nats.errors.TimeoutError | nats.errors.StaleConnectionError):
        log.debug("nats: %r", error)
    else:
        log.warning("nats: %r", error)


async def _close(nc: Client) -> None:
    """Close a client whatever state it is in. nats-py cancels its own reconnect attempt on close,
    which can leave the transport's close waiter cancelled: that CancelledError is not ours."""
    try:
        await nc.close()
    except asyncio.CancelledError:
        task = asyncio.current_task()
        if task is not None and task.cancelling():
            raise
    except Exception as error:
        log.debug("nats: closing: %r", error)


def _connect_options(name: str, ping_interval: int, reconnect_time_wait: int) -> dict[str, Any]:
    return {
        "name": name,
        "allow_reconnect": True,
        "max_reconnect_attempts": -1,  # a relay or replica never gives up on the bus
        "reconnect_time_wait": reconnect_time_wait,
        # A silently dead peer (no RST: a partition, a frozen VM) is found within ~3 pings.
        "ping_interval": ping_interval,
        "max_outstanding_pings": 2,
        "connect_timeout": 2,
        "error_cb": _log_error,
    }


class _RoundTrip:
    """Wait until the server has processed everything a client sent before: a message to ourselves,
    queued behind those commands, comes back. nats-py's flush() is no such proof: it writes its
    PING straight to the socket, ahead of commands still in the client's buffer, so its PONG can
    come back before the server has seen a subscription or a publish made just before it."""

    def __init__(self, nc: Client) -> None:
        self._nc = nc
        self._prefix: str | None = None
        self._waiting: dict[str, asyncio.Future[None]] = {}
        self._count = 0

    async def start(self) -> None:
        """Subscribe once (nats-py replays the subscription on every reconnect)."""
        self._prefix = self._nc.new_inbox()
        await self._nc.subscribe(f"{self._prefix}.*", cb=self._returned)

    async def __call__(self, within: float) -> None:
        """Raises nats.errors.Error or TimeoutError when the message is not back in time."""
        if self._prefix is None:
            raise RuntimeError("_RoundTrip.start() first")
        self._count += 1
        subject = f"{self._prefix}.{self._count}"
        returned = self._waiting[subject] = asyncio.get_running_loop().create_future()
        try:
            await self._nc.publish(subject)
            await asyncio.wait_for(returned, within)
        finally:
            self._waiting.pop(subject, None)

    async def _returned(self, msg: Msg) -> None:
        returned = self._waiting.pop(msg.subject, None)
        if returned is not None and not returned.done():
            returned.set_result(None)


class NatsPublisher:
    """The relay's side: JetStream publishes that are acknowledged, or raise.

    `publish_events` returns only once the stream acknowledged every message (the caller may then
    advance its watermark); any failure raises, and the caller publishes the batch again later:
    the server drops the messages it already has (same Nats-Msg-Id within the duplicate window).
    Publishing while disconnected raises at once (no client-side buffering: `pending_size=0`), so a
    stale buffer cannot reach the server minutes later, outside the duplicate window.
    """

    def __init__(self, url: str, retention_hours: float, *, ack_timeout: float = 5.0,
                 connect_timeout: float = 10.0, replicas: int = 1, name: str = "tableorder-relay",
                 ping_interval: int = 5, reconnect_time_wait: int = 1, max_bytes: int = -1) -> None:
        self._url = url
        # `max_bytes` (NATS_STREAM_MAX_BYTES): past it the oldest messages go. Replicas never read the
        # stream's history (the events table is the record); unbounded, the stream grew until the
        # server's storage was full and JetStream refused every publish, stalling the relay.
        self._stream_config = StreamConfig(
            name=STREAM, subjects=[f"{EVENTS_PREFIX}>"], storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS, max_age=retention_hours * 3600.0, num_replicas=replicas,
            max_bytes=max_bytes, discard=DiscardPolicy.OLD)
        self._ack_timeout = ack_timeout
        self._connect_timeout = connect_timeout
        self._options = _connect_options(name, ping_interval, reconnect_time_wait)
        self._nc: Client | None = None
        # One context for the connection's life: each context's first publish_async subscribes an
        # inbox of its own for the acks (a context per batch leaked one subscription per batch).
        self._js: JetStreamContext | None = None
        self._round_trip: _RoundTrip | None = None
        self._stream_ready = False
        # The acks a batch waits for: failed at once when the connection drops (they cannot come).
        self._in_flight: list[asyncio.Future[Any]] = []

    @property
    def connected(self) -> bool:
        return self._nc is not None and self._nc.is_connected

    async def start(self, *, stream: bool = True) -> None:
        """Connect (reconnecting on its own afterwards) and ensure the stream; raises when no server
        answers within connect_timeout (the caller retries). Again after a failure: connects only
        if not connected yet (never a second connection), then ensures the stream. `stream=False`:
        connect only (publish_events ensures the stream; invalidations need none)."""
        if self._nc is not None:
            if stream:
                await self.ensure_stream()
            return
        nc = Client()
        try:
            await asyncio.wait_for(
                nc.connect(self._url, pending_size=0, disconnected_cb=self._disconnected,
                           reconnected_cb=self._reconnected, **self._options),
                self._connect_timeout)
        except BaseException:
            await _close(nc)
            raise
        self._nc = nc
        self._js = nc.jetstream(timeout=self._ack_timeout)
        self._round_trip = _RoundTrip(nc)
        await self._round_trip.start()
        if stream:
            await self.ensure_stream()

    async def ensure_stream(self) -> None:
        """Create the stream, or bring an existing one to this configuration (retention may change)."""
        js = self._jetstream()
        try:
            await js.add_stream(self._stream_config)
        except nats.js.errors.BadRequestError as error:
            if error.err_code != _STREAM_NAME_IN_USE:
                raise
            await js.update_stream(self._stream_config)
        self._stream_ready = True

    async def publish_events(self, events: Iterable[EventRow]) -> int:
        """Publish each event to tableorder.events.<store_id>, pipelined, and wait for every ack.
        Returns how many the stream already had (a replayed batch); raises if any was not stored."""
        js = self._jetstream()
        if not self._stream_ready:
            await self.ensure_stream()
        pending: list[asyncio.Future[Any]] = []
        self._in_flight = pending
        try:
            async with asyncio.timeout(self._ack_timeout):  # the whole batch, stalls included
                for store_id, position, event_type, table_id, payload in events:
                    subject, headers, body = event_message(store_id, position, event_type, table_id, payload)
                    # No wait_stall: with one, every publish yields to the loop and the client writes
                    # each message to the socket on its own instead of the batch at once.
                    pending.append(await js.publish_async(subject, body, headers=headers))
                acks = await asyncio.gather(*pending)
        except BaseException:
            # The server may have come back without its store (no stream answers: no responders,
            # or a timeout when a replica's core subscription is the only one): check next time.
            self._stream_ready = False
            raise
        finally:
            for future in pending:
                future.cancel()  # a no-op for the acknowledged ones
        return sum(1 for ack in acks if ack.duplicate)

    async def publish_invalidations(self, items: Iterable[tuple[int, str]]) -> None:
        """Core NATS: on return the server has them, else this raises (and the relay publishes the
        batch again). A replica that misses one was disconnected, and its caches are off until it
        reconnects."""
        nc = self._client()
        for store_id, kind in items:
            await nc.publish(f"{INVALIDATIONS_PREFIX}{store_id}", kind.encode())
        assert self._round_trip is not None
        await self._round_trip(self._ack_timeout)

    async def close(self) -> None:
        if self._nc is not None:
            nc, self._nc, self._js, self._round_trip = self._nc, None, None, None
            await _close(nc)

    def _client(self) -> Client:
        if self._nc is None:
            raise RuntimeError("NatsPublisher.start() first")
        return self._nc

    def _jetstream(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("NatsPublisher.start() first")
        return self._js

    async def _disconnected(self) -> None:
        for ack in self._in_flight:
            if not ack.done():
                ack.set_exception(nats.errors.ConnectionClosedError())
        if self._nc is not None:  # not on close()
            log.warning("relay: lost the NATS connection; publishing fails until it is back")

    async def _reconnected(self) -> None:
        log.info("relay: NATS connection is back")


class NatsSubscriber:
    """A replica's side: core subscriptions to the stores its clients watch, and to every
    invalidation. Callbacks are plain functions (like the PostgreSQL listener's), called on the
    event loop; one store's events arrive in publish order.

    `on_connect()` runs after the first connect and after every reconnect, once the subscriptions
    are in place again (nats-py resubscribes on reconnect); `on_disconnect()` when the connection is
    lost (and on stop). `connected` says which of the two came last.
    """

    def __init__(self, url: str, on_event: Callable[[int, int, str, int | None, str], None],
                 on_invalidation: Callable[[int, str], None], on_connect: Callable[[], None],
                 on_disconnect: Callable[[], None] | None = None, *, name: str = "tableorder-replica",
                 ping_interval: int = 5, reconnect_time_wait: int = 1, flush_timeout: float = 2.0) -> None:
        self._url = url
        self._on_event = on_event
        self._on_invalidation = on_invalidation
        self._on_connect = on_connect
        self._on_disconnect = on_disconnect
        self._options = _connect_options(name, ping_interval, reconnect_time_wait)
        self._flush_timeout = flush_timeout
        self._nc = Client()
        self._round_trip = _RoundTrip(self._nc)
        self._task: asyncio.Task[None] | None = None
        self._watchers: Counter[int] = Counter()
        self._subscriptions: dict[int, Subscription] = {}
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[bool]] = set()
        self._connected = False
        self._stopped = False

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        """Connect in the background (retrying until a server answers); `on_connect` says when."""
        self._task = asyncio.create_task(self._run(), name="nats-subscriber")

    async def stop(self) -> None:
        self._stopped = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for task in list(self._tasks):
            task.cancel()
        await _close(self._nc)
        self._set_disconnected()

    async def watch(self, store_id: int) -> None:
        """Hear this store's events (reference counted). Returns once the server has the
        subscription, so a feed that reads the database after this misses nothing; while
        disconnected it returns at once (the subscription follows, before the next on_connect)."""
        self._watchers[store_id] += 1
        if await self._reconcile(store_id):
            await self._settle()

    def unwatch(self, store_id: int) -> None:
        """Drop one watcher; when the last one leaves, the subscription goes (in the background)."""
        self._watchers[store_id] -= 1
        if self._watchers[store_id] <= 0:
            del self._watchers[store_id]
            task = asyncio.create_task(self._reconcile(store_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def flush(self) -> None:
        """Wait until the server has seen every watch and unwatch made so far."""
        await asyncio.gather(*self._tasks, return_exceptions=True)
        await self._settle()

    def watched(self) -> set[int]:
        """The stores with at least one watcher."""
        return set(self._watchers)

    async def _run(self) -> None:
        try:
            await self._nc.connect(self._url, disconnected_cb=self._disconnected,
                                   reconnected_cb=self._reconnected, **self._options)
            await self._round_trip.start()
            await self._nc.subscribe(f"{INVALIDATIONS_PREFIX}>", cb=self._handle_invalidation)
            await self._connected_again()
        except Exception:
            log.exception("nats subscriber could not start")

    async def _connected_again(self) -> None:
        # Stores watched while disconnected are subscribed now; nats-py has already replayed the rest.
        for store_id in list(self._watchers):
            await self._reconcile(store_id)
        await self._settle()
        self._connected = True
        log.info("nats subscriber connected (%d stores watched)", len(self._watchers))
        self._call(self._on_connect)

    async def _settle(self) -> None:
        """Wait until the server has our subscriptions; after flush_timeout go on regardless (the
        connection is going, and on_connect follows when it is back)."""
        try:
            await self._round_trip(self._flush_timeout)
        except (nats.errors.Error, TimeoutError) as error:
            log.debug("nats subscriber: no round trip: %r", error)

    async def _reconcile(self, store_id: int) -> bool:
        """Make the store's subscription follow its watchers; True if it subscribed. Subscribes
        only while connected (nats-py would send a subscription made while reconnecting twice); the
        lock orders a watch and an unwatch of one store racing each other."""
        async with self._lock:
            subscription = self._subscriptions.get(store_id)
            if self._watchers[store_id] <= 0:
                if subscription is not None:
                    del self._subscriptions[store_id]
                    with contextlib.suppress(nats.errors.Error):
                        await subscription.unsubscribe()  # while reconnecting: only forgotten locally
                return False
            if subscription is not None or not self._nc.is_connected:
                return False
            try:
                self._subscriptions[store_id] = await self._nc.subscribe(f"{EVENTS_PREFIX}{store_id}",
                                                                         cb=self._handle_event)
            except nats.errors.Error as error:  # closed (stopping): the feed reads the table anyway
                log.warning("nats subscriber could not subscribe to store %s: %r", store_id, error)
                return False
            return True

    async def _disconnected(self) -> None:
        if not self._stopped:
            log.warning("nats subscriber lost its connection; feeds read the database when it is back")
        self._set_disconnected()

    async def _reconnected(self) -> None:
        await self._connected_again()

    def _set_disconnected(self) -> None:
        if self._connected:
            self._connected = False
            if self._on_disconnect is not None:
                self._call(self._on_disconnect)

    async def _handle_event(self, msg: Msg) -> None:
        event = parse_event_message(msg.subject, msg.headers, msg.data)
        if event is None:
            log.warning("ignoring a malformed event message on %s (headers %r)", msg.subject, msg.headers)
            return
        self._call(self._on_event, *event)

    async def _handle_invalidation(self, msg: Msg) -> None:
        try:
            store_id = int(msg.subject.removeprefix(INVALIDATIONS_PREFIX))
            kind = msg.data.decode().strip()
        except ValueError:
            store_id, kind = 0, ""
        if store_id <= 0 or not kind:
            log.warning("ignoring a malformed invalidation on %s: %r", msg.subject, msg.data[:100])
            return
        self._call(self._on_invalidation, store_id, kind)

    @staticmethod
    def _call(callback: Callable[..., None], *args: Any) -> None:
        try:
            callback(*args)
        except Exception:
            log.exception("nats subscriber: %s failed", getattr(callback, "__name__", callback))
