"""X-Request-ID: taken from the request when it is a sane token (a proxy or a client's own), made
otherwise; echoed on the response, put on every log line of the request and in every problem body
(`instance`), so a vendor's bug report and our logs meet on one id."""

from __future__ import annotations

import re
import uuid
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

HEADER = b"x-request-id"
# What we accept as it is: an id a proxy or client made (a UUID, nginx's $request_id, a trace id).
# Anything else (too long, spaces, control characters) is replaced rather than logged.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

current: ContextVar[str | None] = ContextVar("request_id", default=None)


def instance() -> str | None:
    """The problem `instance` of the request being handled: `urn:tableorder:request:<id>`."""
    request_id = current.get()
    return f"urn:tableorder:request:{request_id}" if request_id else None


def add_to_log(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog processor: the request's id on each line logged while handling it."""
    request_id = current.get()
    if request_id is not None:
        event.setdefault("request_id", request_id)
    return event


class RequestIdMiddleware:
    """Wraps the whole application (also 404s and 405s that match no route)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        given = next((value for name, value in scope["headers"] if name == HEADER), None)
        request_id = given.decode() if given is not None and _ACCEPTED.fullmatch(given) else uuid.uuid4().hex
        token = current.set(request_id)
        encoded = request_id.encode()

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = [(name, value) for name, value in message.get("headers", ()) if name.lower() != HEADER]
                message = {**message, "headers": [*headers, (HEADER, encoded)]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            current.reset(token)
