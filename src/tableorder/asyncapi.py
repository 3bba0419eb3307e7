"""The AsyncAPI 3.0 document of the event feed, served at /schema/asyncapi.json.

It describes what Table Order sends: the store's stream (GET /api/v1/admin/orders/stream), a table's
stream (GET /api/v1/orders/stream), both Server-Sent Events, and the webhook deliveries POSTed to the
endpoints staff register. Every event type is one message whose payload schema is msgspec's schema of
its Struct (`documents.EVENT_DATA`, `events.catalog`), with the example of `tableorder.examples`; the
retention, the resume rule and the heartbeat are written in, with this deployment's settings.
"""

from __future__ import annotations

import urllib.parse
from typing import Any

import msgspec
from litestar import Response, get
from litestar.handlers import HTTPRouteHandler

from tableorder import jsonschema
from tableorder.documents import EVENT_DATA
from tableorder.events.catalog import (
    MEANING,
    RESYNC,
    STREAM_EVENTS,
    TABLE_STREAM_EVENTS,
    WEBHOOK_EVENT_TYPES,
    WebhookContext,
    WebhookHeaders,
)
from tableorder.examples import EXAMPLES, PAYLOADS
from tableorder.openapi import API_VERSION
from tableorder.security import ADMIN_COOKIE
from tableorder.settings import Settings

PATH = "/schema/asyncapi.json"
STORE_STREAM = "/api/v1/admin/orders/stream"
TABLE_STREAM = "/api/v1/orders/stream"
HTTP_BINDING = "0.3.0"


def asyncapi_route(settings: Settings) -> HTTPRouteHandler:
    """GET /schema/asyncapi.json: the document, built once."""
    body = msgspec.json.encode(asyncapi_document(settings))

    @get(PATH, include_in_schema=False, media_type="application/json", sync_to_thread=False,
         name="asyncapi-document")
    def asyncapi_json() -> Response[bytes]:
        return Response(body, media_type="application/json")

    return asyncapi_json


def asyncapi_document(settings: Settings) -> dict[str, Any]:
    base = urllib.parse.urlsplit(settings.public_base_url.rstrip("/"))
    schemas = jsonschema.components(
        [*EVENT_DATA.values(), *(STREAM_EVENTS[t] for t in WEBHOOK_EVENT_TYPES), WebhookContext, WebhookHeaders])
    for schema in schemas.values():
        # An AsyncAPI schema names its discriminating property (OpenAPI's is an object with a mapping).
        if isinstance(schema.get("discriminator"), dict):
            schema["discriminator"] = schema["discriminator"]["propertyName"]
    stream_messages = {event_type: _stream_message(event_type) for event_type in EVENT_DATA}
    webhook_messages = {f"webhook.{event_type}": _webhook_message(event_type) for event_type in WEBHOOK_EVENT_TYPES}
    channels = {
        "storeFeed": {
            "address": STORE_STREAM,
            "title": "The store's live feed",
            "description": "Every event of the store, in position order. Open it with GET and `Accept: "
                           "text/event-stream` (an EventSource). Staff authenticate with their token or, in a "
                           f"browser, the `{ADMIN_COOKIE}` cookie that login sets; integrations with an API key "
                           "holding the `events:read` scope. At most SSE_MAX_CONNECTIONS_PER_STORE "
                           f"({settings.sse_max_connections_per_store}) streams per store per replica: beyond, "
                           "429 with Retry-After.",
            "servers": [{"$ref": "#/servers/api"}],
            "messages": {event_type: {"$ref": f"#/components/messages/{event_type}"} for event_type in EVENT_DATA},
        },
        "tableFeed": {
            "address": TABLE_STREAM,
            "title": "A table's live feed",
            "description": "The calling table's own orders, its session closing and menu changes, never "
                           "anything from before the table's current session; with a table token. At most "
                           f"SSE_MAX_CONNECTIONS_PER_TABLE ({settings.sse_max_connections_per_table}) streams "
                           "per table per replica.",
            "servers": [{"$ref": "#/servers/api"}],
            "messages": {t: {"$ref": f"#/components/messages/{t}"} for t in TABLE_STREAM_EVENTS},
        },
        "webhooks": {
            "address": None,
            "title": "Webhook deliveries",
            "description": "Each event of a type an endpoint subscribed to is POSTed to the endpoint's URL "
                           "(registered with POST /api/v1/admin/webhooks), signed per Standard Webhooks. At "
                           "least once, in position order per endpoint: a delivery is done when the receiver "
                           "answers 2xx within WEBHOOK_TIMEOUT_SECONDS; otherwise it is retried after 1 s, "
                           "doubling up to 10 minutes, for 24 hours, after which the endpoint is disabled with "
                           "a reason (staff enable it again, and it goes on from that event). Deduplicate by "
                           "`webhook-id`.",
            "servers": [{"$ref": "#/servers/receiver"}],
            "messages": {name: {"$ref": f"#/components/messages/{name}"} for name in webhook_messages},
        },
    }
    staff = [{"$ref": f"#/components/securitySchemes/{name}"} for name in ("AdminToken", "AdminCookie", "ApiKey")]
    operations = {
        "sendStoreEvents": _stream_operation(
            "storeFeed", list(EVENT_DATA), staff,
            "The store's events, each as one Server-Sent Event", "StreamStoreEvents"),
        "sendTableEvents": _stream_operation(
            "tableFeed", TABLE_STREAM_EVENTS, [{"$ref": "#/components/securitySchemes/TableToken"}],
            "A table's events, each as one Server-Sent Event", "StreamTableEvents"),
        "deliverWebhooks": {
            "action": "send",
            "channel": {"$ref": "#/channels/webhooks"},
            "title": "Deliver events to webhook endpoints",
            "summary": "Each subscribed event, POSTed as JSON to the endpoint's URL",
            "description": "The body is the event with the store's id and the time it was recorded; the "
                           "headers carry its id and signature. Answer 2xx quickly (within "
                           f"{settings.webhook_timeout_seconds:g} s here) and do the work afterwards.",
            "bindings": {"http": {"method": "POST", "bindingVersion": HTTP_BINDING}},
            "messages": [{"$ref": f"#/channels/webhooks/messages/{name}"} for name in webhook_messages],
        },
    }
    document: dict[str, Any] = {
        "asyncapi": "3.0.0",
        "id": "urn:tableorder:events",
        "info": {
            "title": "Table Order event feed",
            "version": API_VERSION,
            "description": _description(settings),
            "contact": {"name": "Table Order API documentation", "url": f"{base.geturl()}/schema"},
            "license": {"name": "Proprietary", "url": f"{base.geturl()}/schema"},
            "tags": [{"name": "events", "description": "The store's orders, tables and menu as they change"}],
            "externalDocs": {"description": "The REST API (OpenAPI 3.1)", "url": f"{base.geturl()}/schema"},
        },
        "defaultContentType": "application/json",
        "servers": {
            "api": {
                "host": base.netloc,
                "protocol": base.scheme,
                **({"pathname": base.path} if base.path else {}),
                "title": "This deployment",
                "description": "The Table Order API (PUBLIC_BASE_URL): the streams are GET requests answered "
                               "with `text/event-stream`.",
            },
            "receiver": {
                "host": "{receiver}",
                "protocol": "https",
                "title": "Your webhook receiver",
                "description": "The host of a webhook endpoint's URL: yours (http is accepted too).",
                "variables": {"receiver": {"description": "Host (and port) of the endpoint's URL",
                                           "examples": ["pos.example.com"]}},
            },
        },
        "channels": channels,
        "operations": operations,
        "components": {
            "schemas": schemas,
            "messages": {**stream_messages, **webhook_messages},
            "securitySchemes": {
                "AdminToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "From POST /api/v1/auth/admin/login"},
                "AdminCookie": {"type": "httpApiKey", "name": ADMIN_COOKIE, "in": "cookie",
                                "description": "Set by admin login (HttpOnly): what a browser's EventSource sends"},
                "ApiKey": {"type": "http", "scheme": "bearer", "bearerFormat": "tok_<prefix>_<secret>",
                           "description": "A store's API key with the `events:read` scope"},
                "TableToken": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                               "description": "From POST /api/v1/auth/table/login"},
            },
        },
    }
    jsonschema.name_shared_types(schemas)
    document["components"]["schemas"] = dict(sorted(schemas.items()))
    jsonschema.exact_integers(document)
    return document


def _description(settings: Settings) -> str:
    return f"""What Table Order sends as things happen in a store: orders placed, moved and cancelled,
sessions closed, menu changes. Every event is recorded in the same transaction as the change, with a
**position** that increases per store; the streams and the webhooks send the same events.

**On a stream** (Server-Sent Events) each event is one message: `id:` its position, `event:` its type
(the message name), `data:` its payload as JSON. A stream starts with `retry: 2000`.

**Resuming.** Reconnect with the `Last-Event-ID` header (an EventSource does it by itself): you get every
event after that position exactly once, in order, also across replicas and listener outages. Events are
kept for EVENT_RETENTION_HOURS ({settings.event_retention_hours:g} hours here). A resume from a position
no longer kept, from a position ahead of the feed (a future position: another store's, or a restored
database), or on a table's stream from before the table's current session (or before the table's last
resolved staff call), gets one `resync` event
instead, whose `data.cause` says which (`not_kept`, `ahead`, `session_changed`): reload over REST, then
go on from the `resync` event's id.

**Heartbeat.** A comment line (`: heartbeat`) every SSE_HEARTBEAT_INTERVAL seconds
({settings.sse_heartbeat_interval:g} here) keeps proxies from closing an idle stream; a stream whose
client stops reading for SSE_WRITE_TIMEOUT seconds is dropped (resume with Last-Event-ID). A stream ends
when its token expires or is revoked: log in again and resume.

**Webhooks** deliver the same events (not `resync`: a delivery resumes by itself) as a JSON body
`{{type, position, store_id, data, created_at}}` signed per Standard Webhooks."""


def _stream_message(event_type: str) -> dict[str, Any]:
    payload = EVENT_DATA[event_type]
    return {
        "name": event_type,
        "title": event_type,
        "summary": MEANING[event_type],
        "description": f"One Server-Sent Event: `event: {event_type}`, `id:` the event's position, `data:` the "
                       f"payload below as JSON ({payload.__name__})."
                       + (" Sent once, first, when the stream cannot resume." if event_type == RESYNC else ""),
        "contentType": "application/json",
        "payload": {"$ref": f"{jsonschema.SCHEMAS}{payload.__name__}"},
        "examples": [{"name": event_type.replace(".", "-"), "summary": f"The data of a {event_type} event",
                      "payload": msgspec.to_builtins(PAYLOADS[event_type])}],
    }


def _webhook_message(event_type: str) -> dict[str, Any]:
    """The body is the event and its context: the same schemas as the streams' (one home)."""
    event = STREAM_EVENTS[event_type]
    return {
        "name": event_type,
        "title": f"{event_type} (webhook)",
        "summary": MEANING[event_type],
        "contentType": "application/json",
        "headers": {"$ref": f"{jsonschema.SCHEMAS}{WebhookHeaders.__name__}"},
        "payload": {"allOf": [{"$ref": f"{jsonschema.SCHEMAS}{event.__name__}"},
                              {"$ref": f"{jsonschema.SCHEMAS}{WebhookContext.__name__}"}]},
        "bindings": {"http": {"bindingVersion": HTTP_BINDING}},
        "examples": [{"name": f"webhook-{event_type.replace('.', '-')}", "summary": f"A {event_type} delivery",
                      "headers": msgspec.to_builtins(EXAMPLES[WebhookHeaders]),
                      "payload": {**msgspec.to_builtins(EXAMPLES[event]),
                                  **msgspec.to_builtins(EXAMPLES[WebhookContext])}}],
    }


def _stream_operation(channel: str, event_types: list[str], security: list[dict[str, str]], summary: str,
                      operation_id: str) -> dict[str, Any]:
    path = STORE_STREAM if channel == "storeFeed" else TABLE_STREAM
    return {
        "action": "send",
        "channel": {"$ref": f"#/channels/{channel}"},
        "title": summary,
        "summary": summary,
        "description": f"The OpenAPI operation {operation_id} (GET {path}) opens this stream; send "
                       "`Last-Event-ID` to resume.",
        "security": security,
        "bindings": {"http": {"method": "GET", "bindingVersion": HTTP_BINDING}},
        "messages": [{"$ref": f"#/channels/{channel}/messages/{event_type}"} for event_type in event_types],
    }
