"""What the webhook API takes, and (until they move to tableorder.documents) what it answers."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

import msgspec

from tableorder.kit import Id

# The event types of the store's feed a webhook can subscribe to.
EventType = Literal["order.created", "order.updated", "order.cancelled", "table.session_closed", "menu.updated"]
WebhookUrl = Annotated[str, msgspec.Meta(
    min_length=1, max_length=2048, description="Where events are POSTed: http(s), a public host, no credentials",
    examples=["https://pos.example.com/hooks/tableorder"])]
EventTypes = Annotated[list[EventType], msgspec.Meta(
    min_length=1, max_length=5, description="The event types to deliver",
    examples=[["order.created", "order.updated", "order.cancelled"]])]
Description = Annotated[str, msgspec.Meta(max_length=500, examples=["Kitchen display"])]
Position = Annotated[int, msgspec.Meta(ge=0, description="The store's event position")]


class WebhookCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new webhook endpoint: it receives the events of the given types committed from now on."""

    url: WebhookUrl
    events: EventTypes
    description: Description = ""


class WebhookUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change. `enabled: true` re-enables an endpoint that was given up (its
    `disabled_reason` is cleared, and it goes on from the first event it did not get)."""

    url: WebhookUrl | msgspec.UnsetType = msgspec.UNSET
    events: EventTypes | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    enabled: bool | msgspec.UnsetType = msgspec.UNSET


# --- output ----------------------------------------------------------------------------------------


class WebhookEndpoint(msgspec.Struct):
    """A webhook endpoint. `delivered_position` is the last event position it is done with; while the
    next matching event fails, `failing_since` says since when and `next_attempt_at` when it is
    tried again. `disabled_reason` says why the service disabled it (deliveries failed for 24 hours)."""

    id: Id
    url: str
    events: list[EventType]
    description: str
    enabled: bool
    disabled_reason: str | None
    delivered_position: Position
    failing_since: datetime | None
    next_attempt_at: datetime | None
    created_at: datetime
    updated_at: datetime


class WebhookEndpointWithSecret(WebhookEndpoint):
    """A webhook endpoint with its signing secret (`whsec_<base64>`, Standard Webhooks): shown when
    the endpoint is created and when its secret is rotated, nowhere else."""

    secret: str


class WebhookDelivery(msgspec.Struct):
    """One event sent (or being sent) to one endpoint. `webhook_id` is the `webhook-id` header the
    receiver dedupes by; `last_status` the HTTP status of the last answer (None for no answer:
    timeout, refused, address not allowed), `last_error` what went wrong."""

    id: Id
    webhook_id: str
    position: Annotated[int, msgspec.Meta(ge=1)]
    event_type: str
    status: Literal["pending", "succeeded", "failed"]
    attempts: Annotated[int, msgspec.Meta(ge=0)]
    last_status: int | None
    last_error: str | None
    created_at: datetime
    last_attempt_at: datetime | None
    succeeded_at: datetime | None
    next_attempt_at: datetime | None
    redeliver_requested_at: datetime | None


class WebhookDeliveryPage(msgspec.Struct):
    """Deliveries, newest event first; `next_cursor` (None on the last page) asks for the next page."""

    items: list[WebhookDelivery]
    next_cursor: str | None
