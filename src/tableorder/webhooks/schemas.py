"""What the webhook API takes (what it answers is in tableorder.documents)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tableorder.documents import WebhookEventType

WebhookUrl = Annotated[str, msgspec.Meta(
    min_length=1, max_length=2048, description="Where events are POSTed: http(s), a public host, no credentials",
    examples=["https://pos.example.com/hooks/tableorder"])]
EventTypes = Annotated[list[WebhookEventType], msgspec.Meta(
    min_length=1, max_length=5, description="The event types to deliver",
    examples=[["order.created", "order.updated", "order.cancelled"]])]
Description = Annotated[str, msgspec.Meta(max_length=500, examples=["Kitchen display"])]


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
