"""What the webhook API takes (what it answers is in tableorder.documents)."""

from __future__ import annotations

from typing import Annotated

import msgspec

from tableorder.documents import WebhookEventType

# http(s)://host[:port][/path][?query][#fragment] in printable ASCII; the host a name, an IPv4
# address or a bracketed IPv6 address, the port 0-65535.
_PORT = "(6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
_URL = (r"^[Hh][Tt][Tt][Pp][Ss]?://(\[[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*\]|[A-Za-z0-9._~%!$&'()*+,;=-]+)"
        rf"(:{_PORT})?([/?#][\x21-\x7E]*)?$")
WebhookUrl = Annotated[str, msgspec.Meta(
    min_length=1, max_length=2048, pattern=_URL,
    description="Where events are POSTed: http or https, ASCII (an international host name in its xn-- "
                "form, other characters percent-encoded), no credentials. A host that resolves to a loopback, "
                "private, link-local or other non-public address is refused (422) unless the service runs "
                "with WEBHOOK_ALLOW_PRIVATE=true",
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
