"""Server-Sent Events: the store's live board feed and a table's own feed.

A stream is written by its own small ASGI response rather than a generic streaming one, because
what a stream may cost is decided at the socket: each write must be taken by the client within
`SSE_WRITE_TIMEOUT` or the stream is dropped (the client resumes with Last-Event-ID), a resume
reads its backlog a page at a time and reads the next page only once the previous one was
written, and a client that goes away ends its stream (and frees its slot) at once.
"""

from __future__ import annotations

import asyncio
import logging
import time
from contextvars import ContextVar
from typing import Annotated, Any

import msgspec
from litestar import Controller, get
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import HeaderParameter
from litestar.response import Response
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

from tableorder import db
from tableorder.events.catalog import EventFrame
from tableorder.events.hub import HEARTBEAT, Event, Hub, StreamsFull, Subscriber, sse_frame
from tableorder.kit import MAX_BIGINT
from tableorder.problems import AUTH_PROBLEMS, ProblemError, problem_spec
from tableorder.security import ADMIN_COOKIE_SECURITY, Principal, api_key
from tableorder.state import AppState

log = logging.getLogger("tableorder.events")

LastEventId = Annotated[
    int | None,
    # schema_extra: Litestar's schema of an optional parameter leaves a bound of 0 out (it is falsy).
    HeaderParameter(name="Last-Event-ID", ge=0, le=MAX_BIGINT, required=False, schema_extra={"minimum": 0},
                    description="The last event position received; the stream resumes right after it."),
]

# Declared on the handlers too, so the OpenAPI document gives the 200 response this media type.
EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
START_HEADERS = [(b"content-type", b"text/event-stream; charset=utf-8"),
                 *((name.lower().encode(), value.encode()) for name, value in STREAM_HEADERS.items())]
STREAM_PROBLEMS = {**AUTH_PROBLEMS,
                   429: problem_spec("Too many streams for this store (staff) or this table on this replica")}
# The 200 of both streams: its schema is the union of the events it may send, one per Server-Sent Event.
FEED = ("A stream of Server-Sent Events, each one event of the feed (`EventFrame`: `event:` its type, `id:` "
        "its position, `data:` its payload as JSON), with a comment line (`: heartbeat`) every "
        "SSE_HEARTBEAT_INTERVAL seconds")
# What a resume reads at once (events, payload bytes): a page is written before the next is read.
PAGE_EVENTS = 64
PAGE_BYTES = 32_768


# Set in the request's task when a stalled stream is dropped: the response stays incomplete on
# purpose (so the server closes the connection), and the server's own complaint about that is
# dropped in favour of our one line.
_dropped_stalled: ContextVar[bool] = ContextVar("tableorder_dropped_stalled", default=False)


class DroppedStreamFilter(logging.Filter):
    """For uvicorn's error logger: "returned without completing response" is expected after a drop."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not (_dropped_stalled.get() and record.getMessage().startswith("ASGI callable returned without"))


logging.getLogger("uvicorn.error").addFilter(DroppedStreamFilter())


class EventStreamResponse(Response[bytes]):
    def __init__(self, hub: Hub, subscriber: Subscriber, resume: bool, write_timeout: float,
                 expires_at: float) -> None:
        super().__init__(content=b"", media_type=EVENT_STREAM, headers=STREAM_HEADERS)
        self._hub = hub
        self._subscriber = subscriber
        self._resume = resume
        self._write_timeout = write_timeout
        self._expires_at = expires_at  # the token's expiry: the stream ends with it
        self._loop: asyncio.AbstractEventLoop | None = None
        # When the write in progress began (loop time), None between writes: a check every quarter
        # of the timeout cuts off a write older than it. A timer per write (asyncio.timeout) was 13 %
        # of a fanning-out worker's samples at 200 events/s to 100 streams (py-spy).
        self._writing_since: float | None = None
        self._stalled = False
        self._check: asyncio.TimerHandle | None = None

    def to_asgi_response(self, app: Any, request: Any, **kwargs: Any) -> Any:
        return self._serve

    async def _serve(self, scope: Scope, receive: Receive, send: Send) -> None:
        loop = self._loop = asyncio.get_running_loop()
        writer = asyncio.create_task(self._write(send), name="sse-writer")
        watcher = asyncio.create_task(_until_disconnected(receive), name="sse-disconnect")
        # When the token expires the stream ends (cleanly: the client logs in again and resumes).
        expiry = loop.call_later(max(0.0, self._expires_at - time.time()), self._subscriber.drop)
        self._check = loop.call_later(self._write_timeout / 4, self._check_write, writer)
        try:
            await asyncio.wait({writer, watcher}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            expiry.cancel()
            self._check.cancel()
            writer.cancel()
            watcher.cancel()
            outcome, _ = await asyncio.gather(writer, watcher, return_exceptions=True)
            self._hub.unsubscribe(self._subscriber)
        if outcome is True:
            _dropped_stalled.set(True)
        elif isinstance(outcome, Exception):
            log.error("event stream of store %s failed: %r", self._subscriber.store_id, outcome)

    def _check_write(self, writer: asyncio.Task[bool]) -> None:
        """A write the client has not taken within SSE_WRITE_TIMEOUT ends the stream (the writer is
        cancelled inside it); else the next check in a quarter of the timeout."""
        assert self._loop is not None
        since = self._writing_since
        if since is not None and self._loop.time() - since >= self._write_timeout:
            self._stalled = True
            writer.cancel()
            return
        self._check = self._loop.call_later(self._write_timeout / 4, self._check_write, writer)

    async def _send(self, send: Send, chunk: bytes, more: bool = True) -> None:
        message: HTTPResponseBodyEvent = {"type": "http.response.body", "body": chunk, "more_body": more}
        assert self._loop is not None
        self._writing_since = self._loop.time()
        await send(message)
        self._writing_since = None

    async def _write(self, send: Send) -> bool:
        """Writes the stream; True when it was dropped because the client stopped taking data."""
        subscriber = self._subscriber
        start: HTTPResponseStartEvent = {"type": "http.response.start", "status": 200, "headers": START_HEADERS}
        try:
            await send(start)
            await self._send(send, b"retry: 2000\n\n")
            if self._resume:
                await self._catch_up(send)
            await self._live(send)
            await self._send(send, b"", more=False)
        except asyncio.CancelledError:
            if not self._stalled:
                raise  # the client went away, or the replica is stopping
            # The response stays incomplete, so the server closes the connection.
            log.info("dropped an event stream of store %s: the client took no data for %.0f s",
                     subscriber.store_id, self._write_timeout)
            return True
        except db.UNAVAILABLE as exc:
            # The client resumes with Last-Event-ID once it reconnects (to a replica that can read).
            log.warning("event stream of store %s ended, the database is unavailable: %r", subscriber.store_id, exc)
            try:
                await self._send(send, b"", more=False)
            except asyncio.CancelledError:
                if not self._stalled:
                    raise
                return True
        return False

    async def _catch_up(self, send: Send) -> None:
        """The backlog after Last-Event-ID, a page at a time, then hand over to the live queue.

        While catching up the feed does not queue events for this client. After the first short
        page the client switches to the queue and reads once more: whatever the feed skipped before
        the switch was committed before that read, and whatever it queues after it is there too
        (duplicates are dropped by position)."""
        subscriber = self._subscriber
        resync = await self._hub.resume_point(subscriber)
        if resync is not None:
            # The client reloads over REST and goes on from the store's current position.
            subscriber.last_sent = resync.position
            await self._send(send, sse_frame("resync", msgspec.json.encode(resync.data).decode(), resync.position))
            return
        subscriber.catching_up = True
        try:
            while not subscriber.dropped:
                events, complete = await self._hub.page(subscriber, PAGE_EVENTS, PAGE_BYTES)
                if events:
                    await self._send(send, b"".join(event.frame for event in events))
                    subscriber.last_sent = events[-1].position
                if complete:
                    if not subscriber.catching_up:
                        return
                    subscriber.catching_up = False
        finally:
            subscriber.catching_up = False

    async def _live(self, send: Send) -> None:
        subscriber = self._subscriber
        queue = subscriber.queue
        while True:
            # Everything already queued goes out in one write: under load, fewer and larger chunks.
            items: list[Event | None] = [subscriber.take(await queue.get())]
            while not queue.empty():
                items.append(subscriber.take(queue.get_nowait()))
            chunk: list[bytes] = []
            for item in items:
                if item is None:  # cut off (too slow), credentials revoked, or the replica is stopping
                    if chunk:
                        await self._send(send, b"".join(chunk))
                    return
                if item is HEARTBEAT:
                    chunk.append(item.frame)
                elif item.position > subscriber.last_sent:
                    subscriber.last_sent = item.position
                    chunk.append(item.frame)
            if chunk:
                await self._send(send, b"".join(chunk))


async def _until_disconnected(receive: Receive) -> None:
    while (await receive())["type"] != "http.disconnect":
        pass


async def open_stream(state: AppState, principal: Principal, table_id: int | None,
                      last_event_id: int | None) -> EventStreamResponse:
    hub: Hub = state.hub
    try:
        subscriber = await hub.subscribe(principal.store_id, table_id, last_event_id, principal)
    except StreamsFull as exc:
        detail = ("This table already has the most event streams allowed; close another one first."
                  if exc.scope == "table" else "This store has too many open event streams on this server.")
        raise ProblemError(429, detail, slug="too-many-streams", headers={"Retry-After": "5"}) from exc
    return EventStreamResponse(hub, subscriber, last_event_id is not None, state.settings.sse_write_timeout,
                               principal.expires_at)


class AdminStreamController(Controller):
    path = "/orders/stream"
    tags = ["Admin: orders"]

    @get(operation_id="StreamStoreEvents", security=[*api_key("events:read", "orders:read"), *ADMIN_COOKIE_SECURITY],
         responses={**STREAM_PROBLEMS, 200: ResponseSpec(EventFrame, description=FEED, media_type=EVENT_STREAM)},
         media_type=EVENT_STREAM,
         summary="Live feed (SSE) of the store: order.created/updated/cancelled, table.session_closed, "
                 "menu.updated; `id` is the store's event position")
    async def stream(self, state: AppState, principal: Principal, last_event_id: LastEventId = None) -> Response[Any]:
        """The store's live event feed as Server-Sent Events: each event's `id:` is the store's event position,
        `event:` its type and `data:` its payload as JSON (`EventFrame`, `Event`; and /schema/asyncapi.json).
        Reconnect with `Last-Event-ID` to receive every event after that position exactly once, in order; a
        position no longer kept (EVENT_RETENTION_HOURS) or ahead of the feed gets one `resync` event instead:
        reload over REST and go on from its id. A comment line is sent every SSE_HEARTBEAT_INTERVAL seconds. At
        most SSE_MAX_CONNECTIONS_PER_STORE streams per store per replica (429 beyond). Browsers authenticate
        with the staff cookie; integrations with a token or an API key holding `events:read`."""
        return await open_stream(state, principal, None, last_event_id)


class GuestStreamController(Controller):
    path = "/orders/stream"
    tags = ["Guest"]

    @get(operation_id="StreamTableEvents", media_type=EVENT_STREAM,
         responses={**STREAM_PROBLEMS, 200: ResponseSpec(EventFrame, description=FEED, media_type=EVENT_STREAM)},
         summary="Live feed (SSE) of this table's own orders since its current session began")
    async def stream(self, state: AppState, principal: Principal, last_event_id: LastEventId = None) -> Response[Any]:
        """The calling table's live events as Server-Sent Events (`EventFrame`): its own orders'
        changes, its session's closing and `menu.updated`, never anything from before its current session.
        `Last-Event-ID`, `resync`, the heartbeat and the event format are those of the store's feed; at most
        SSE_MAX_CONNECTIONS_PER_TABLE streams per table per replica."""
        return await open_stream(state, principal, principal.subject_id, last_event_id)
