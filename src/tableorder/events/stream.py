"""Server-Sent Events: the store's live board feed and a table's own feed."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Annotated

from litestar import Controller, get
from litestar.datastructures import State
from litestar.di import Provide
from litestar.params import Parameter
from litestar.response import Stream

from tableorder.events.hub import Hub, StoreFull, Subscriber, sse_frame
from tableorder.kit import MAX_BIGINT
from tableorder.problems import AUTH_PROBLEMS, ProblemError, problem_spec
from tableorder.security import Principal, admin_principal, table_principal

LastEventId = Annotated[
    int | None,
    Parameter(header="Last-Event-ID", ge=0, le=MAX_BIGINT, required=False,
              description="The last event position received; the stream resumes right after it."),
]

# Declared on the handlers too, so the OpenAPI document gives the 200 response this media type.
EVENT_STREAM = "text/event-stream"
STREAM_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
STREAM_PROBLEMS = {**AUTH_PROBLEMS, 429: problem_spec("Too many streams for this store on this replica")}
RESYNC = sse_frame("resync", '{"reason": "events after Last-Event-ID are no longer kept; reload over REST"}')


async def frames(hub: Hub, subscriber: Subscriber, resume: bool, heartbeat: float) -> AsyncIterator[bytes]:
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
        while True:
            try:
                live = await asyncio.wait_for(subscriber.queue.get(), heartbeat)
            except TimeoutError:
                yield b": heartbeat\n\n"
                continue
            if live is None:  # cut off (too slow) or the replica is shutting down
                return
            if live.position > subscriber.last_sent:
                subscriber.last_sent = live.position
                yield live.frame
    finally:
        hub.unsubscribe(subscriber)


async def open_stream(state: State, store_id: int, table_id: int | None, last_event_id: int | None) -> Stream:
    hub: Hub = state.hub
    try:
        subscriber = await hub.subscribe(store_id, table_id, last_event_id)
    except StoreFull as exc:
        raise ProblemError(429, "This store has too many open event streams on this server.",
                           slug="too-many-streams", headers={"Retry-After": "5"}) from exc
    heartbeat: float = state.settings.sse_heartbeat_interval
    return Stream(frames(hub, subscriber, last_event_id is not None, heartbeat),
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
