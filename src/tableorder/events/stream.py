"""Server-Sent Events: the store's live board feed and a table's own feed."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import HeaderParameter
from litestar.response import Stream

from tableorder.events.hub import HEARTBEAT, Hub, StoreFull, Subscriber, sse_frame
from tableorder.kit import MAX_BIGINT
from tableorder.problems import AUTH_PROBLEMS, ProblemError, problem_spec
from tableorder.security import Principal, admin_principal, table_principal

LastEventId = Annotated[
    int | None,
    HeaderParameter(name="Last-Event-ID", ge=0, le=MAX_BIGINT, required=False,
              description="The last event position received; the stream resumes right after it."),
]

# Declared on the handlers too, so the OpenAPI document gives the 200 response this media type.
EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_PROBLEMS = {**AUTH_PROBLEMS, 429: problem_spec("Too many streams for this store on this replica")}
RESYNC = sse_frame("resync", '{"reason": "events after Last-Event-ID are no longer kept; reload over REST"}')


async def frames(hub: Hub, subscriber: Subscriber, resume: bool) -> AsyncIterator[bytes]:
    try:
        yield b"retry: 2000\n\n"
        if resume:
            backlog = await hub.backlog(subscriber)
            if backlog is None:
                yield RESYNC
                return
            for event in backlog:
                if event.position > subscriber.last_sent:
                    subscriber.last_sent = event.position
                    yield event.frame
        queue = subscriber.queue
        while True:
            # Everything already queued goes out in one write: under load, fewer and larger chunks.
            items = [await queue.get()]
            while not queue.empty():
                items.append(queue.get_nowait())
            chunk: list[bytes] = []
            for item in items:
                if item is None:  # cut off (too slow) or the replica is shutting down
                    if chunk:
                        yield b"".join(chunk)
                    return
                if item is HEARTBEAT:
                    chunk.append(item.frame)
                elif item.position > subscriber.last_sent:
                    subscriber.last_sent = item.position
                    chunk.append(item.frame)
            yield b"".join(chunk)
    finally:
        hub.unsubscribe(subscriber)


async def open_stream(state: State, store_id: int, table_id: int | None, last_event_id: int | None) -> Stream:
    hub: Hub = state.hub
    try:
        subscriber = await hub.subscribe(store_id, table_id, last_event_id)
    except StoreFull as exc:
        raise ProblemError(429, "This store has too many open event streams on this server.",
                           slug="too-many-streams", headers={"Retry-After": "5"}) from exc
    return Stream(frames(hub, subscriber, last_event_id is not None),
                  media_type=EVENT_STREAM, headers=STREAM_HEADERS)


class AdminStreamController(Controller):
    path = "/admin/orders/stream"
    tags = ["Admin: orders"]
    dependencies = {"principal": Provide(admin_principal)}
    security = [{"AdminToken": []}, {"AdminCookie": []}]

    @get(operation_id="StreamStoreEvents", responses=STREAM_PROBLEMS, media_type=EVENT_STREAM,
         summary="Live feed (SSE) of the store: order.created/updated/cancelled, table.session_closed, "
                 "menu.updated; `id` is the store's event position")
    async def stream(self, state: State, principal: Principal, last_event_id: LastEventId = None) -> Stream:
        return await open_stream(state, principal.store_id, None, last_event_id)


class GuestStreamController(Controller):
    path = "/orders/stream"
    tags = ["Guest"]
    dependencies = {"principal": Provide(table_principal)}
    security = [{"TableToken": []}]

    @get(operation_id="StreamTableEvents", responses=STREAM_PROBLEMS, media_type=EVENT_STREAM,
         summary="Live feed (SSE) of this table's own orders")
    async def stream(self, state: State, principal: Principal, last_event_id: LastEventId = None) -> Stream:
        return await open_stream(state, principal.store_id, principal.subject_id, last_event_id)
