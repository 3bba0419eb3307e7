"""The event feed's events as types, built from `documents.EVENT_DATA` (event type -> payload Struct).

An event is `{type, position, data}` (`Event`, a union discriminated by `type`). A stream sends it as
one Server-Sent Event, `{event, id, data}` on the wire (`EventFrame`: `event:` the type, `id:` the
position, `data:` the payload as JSON, which is what the `text/event-stream` responses declare); a
webhook delivers it as its JSON body, with the store's id and the time it was recorded added
(`WebhookContext`). Tagged Structs per event type, so the OpenAPI and AsyncAPI documents describe each
event with its payload's own schema.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Union

import msgspec

from tableorder.documents import EVENT_DATA, Document, Position, Timestamp
from tableorder.events.hub import MENU_UPDATED, TABLE_EVENT_TYPES
from tableorder.kit import MAX_BIGINT

RESYNC = "resync"

# What each event type means (the payload's own description says what `data` holds).
MEANING = {
    "order.created": "An order was placed (a table's first order also opens its session).",
    "order.updated": "An order's status moved forward: pending → preparing → completed.",
    "order.cancelled": "Staff cancelled an order; it stays in the records and counts in no total.",
    "table.session_closed": "Staff closed a table's session (이용 완료); its orders moved to history.",
    "menu.updated": "A category, menu item, option group or option was added, changed or deleted (sold out "
                    "included), or the store's languages changed (entity `store`): reload the menu.",
    "call.created": "A table called staff (water, utensils, the bill, help, other); on the table's stream too.",
    "call.resolved": "Staff resolved a table's call (also when its session closed); on the table's stream too.",
    "table.session_moved": "Staff moved a table's open session to another table, or merged it into that table's "
                           "session; sent on both tables' streams: reload their orders and calls.",
    "ticket.created": "An order's lines went to a kitchen station: one ticket per station, after the order's "
                      "`order.created` (admin streams and webhooks only).",
    "ticket.done": "A station marked its ticket done (or the order was completed, which closes its open "
                   "tickets); an order whose tickets are all done is completed (`order.updated`).",
    RESYNC: "The stream cannot resume from Last-Event-ID: the position is no longer kept (events are kept "
            "EVENT_RETENTION_HOURS), ahead of the feed, or (on a table's stream) from before the table's "
            "current session. Sent once, first, instead of the missed events: reload over REST, then go on "
            "from this event's position.",
}

StoreId = Annotated[int, msgspec.Meta(ge=1, le=MAX_BIGINT, description="The store's id")]


def _name(event_type: str) -> str:
    """`table.session_closed` -> `TableSessionClosed`."""
    return "".join(part.capitalize() for part in re.split(r"[._]", event_type))


def _stream_event(event_type: str, payload: type[Document]) -> type[msgspec.Struct]:
    struct = msgspec.defstruct(
        f"{_name(event_type)}Event", [("position", Position), ("data", payload)],
        tag_field="type", tag=event_type, module=__name__, kw_only=True)
    struct.__doc__ = f"`{event_type}`: {MEANING[event_type]}"
    return struct


SCHEMAS = "#/components/schemas/"
FrameId = Annotated[str, msgspec.Meta(
    pattern="^[0-9]{1,19}$", description="The event's position, in decimal: what Last-Event-ID resumes after")]


def _frame(event_type: str, payload: type[Document]) -> type[msgspec.Struct]:
    data = Annotated[str, msgspec.Meta(
        description=f"The event's `data`: a {payload.__name__}, as JSON",
        extra_json_schema={"contentMediaType": "application/json",
                           "contentSchema": {"$ref": SCHEMAS + payload.__name__}})]
    struct = msgspec.defstruct(f"{_name(event_type)}Frame", [("id", FrameId), ("data", data)],
                               tag_field="event", tag=event_type, module=__name__, kw_only=True)
    struct.__doc__ = f"A `{event_type}` event as a Server-Sent Event: {MEANING[event_type]}"
    return struct


class WebhookContext(msgspec.Struct, kw_only=True):
    """What a webhook delivery's body adds to the event (`type`, `position`, `data`)."""

    store_id: StoreId
    created_at: Annotated[Timestamp, msgspec.Meta(description="When the event was recorded")]


# Every event type as an event and as a Server-Sent Event (a table's stream sends every type too, of
# its own table only); the types a webhook delivers (never `resync`: deliveries resume by themselves).
STREAM_EVENTS: dict[str, type[msgspec.Struct]] = {t: _stream_event(t, p) for t, p in EVENT_DATA.items()}
FRAMES: dict[str, type[msgspec.Struct]] = {t: _frame(t, p) for t, p in EVENT_DATA.items()}
# The payload each frame's `data` holds (msgspec sees a string; the documents name the Struct).
CONTENT_OF: dict[type, type] = {FRAMES[t]: p for t, p in EVENT_DATA.items()}
TABLE_STREAM_EVENTS = [t for t in STREAM_EVENTS if t in TABLE_EVENT_TYPES | {MENU_UPDATED, RESYNC}]
WEBHOOK_EVENT_TYPES = [t for t in EVENT_DATA if t != RESYNC]


class WebhookHeaders(msgspec.Struct, kw_only=True):
    """The headers of every webhook delivery, per Standard Webhooks: verify the signature over
    `{webhook-id}.{webhook-timestamp}.{body}` with the endpoint's secret (e.g. `standardwebhooks`)
    before trusting the body, and deduplicate by `webhook-id`."""

    webhook_id: Annotated[str, msgspec.Meta(
        pattern="^[0-9]+:[0-9]+$", description="`<store_id>:<position>`: the same for every attempt of an event",
        examples=["1:5121"])] = msgspec.field(name="webhook-id")
    webhook_timestamp: Annotated[str, msgspec.Meta(
        pattern="^[0-9]+$", description="When this attempt was signed, in seconds since the Unix epoch",
        examples=["1795866127"])] = msgspec.field(name="webhook-timestamp")
    webhook_signature: Annotated[str, msgspec.Meta(
        pattern=r"^v1,[A-Za-z0-9+/]+=*( v1,[A-Za-z0-9+/]+=*)*$",
        description="`v1,<base64 HMAC-SHA256>`, space-separated: one per secret in use (two for 24 hours "
                    "after a rotation)",
        examples=["v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="])] = msgspec.field(name="webhook-signature")


def _union(members: list[type[msgspec.Struct]]) -> Any:
    return Union[tuple(members)]  # noqa: UP007 (a Union built at run time)


# The unions a client decodes events into (`type`, on the wire `event`, tells them apart).
Event: Any = _union(list(STREAM_EVENTS.values()))
EventFrame: Any = _union(list(FRAMES.values()))

# Their names and descriptions in the OpenAPI and AsyncAPI documents.
UNIONS: dict[str, tuple[Any, str]] = {
    "Event": (Event, "An event of the feed, told apart by `type`: a stream sends it as an `EventFrame`, a "
                     "webhook delivers it with a `WebhookContext` (the body is both)."),
    "EventFrame": (EventFrame, "One event of a stream as a Server-Sent Event, told apart by `event`: `event:` "
                               "is the event's type, `id:` its position, `data:` its payload as JSON. A comment "
                               "line (`: heartbeat`) comes every SSE_HEARTBEAT_INTERVAL seconds between them."),
}
