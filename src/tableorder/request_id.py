"""X-Request-ID: taken from the request when it is a sane token (a proxy or a client's own), made
otherwise; echoed on the response, put on every log line of the request and in every problem body
(`instance`), so a vendor's bug report and our logs meet on one id."""

from __future__ import annotations

import itertools
import re
import secrets
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

# Ids this process makes: a random prefix per process (so replicas and restarts never collide) and a
# sequence, e.g. `3fa85f64a1b2` + `1c`.
_PROCESS = secrets.token_hex(6)
_SEQUENCE = itertools.count(1)


SCOPE_KEY = "tableorder.request_id"  # where the middleware leaves the id in the request's ASGI scope


def of(scope: Any) -> str | None:
    """The id of the request whose ASGI scope this is."""
    found: str | None = scope.get(SCOPE_KEY)
    return found


def instance(scope: Any) -> str | None:
    """The problem `instance` of a request: `urn:tableorder:request:<id>`."""
    request_id = of(scope)
    return f"urn:tableorder:request:{request_id}" if request_id else None


def log_extra(scope: Any) -> dict[str, str]:
    """`extra=` for a line the service logs while handling a request."""
    request_id = of(scope)
    return {"request_id": request_id} if request_id else {}


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
        # On every request, GET /menu's included: kept to a few operations (a uuid4 per request cost
        # the menu a measurable share of its throughput).
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        request_id = None
        for name, value in scope["headers"]:
            if name == HEADER:
                if _ACCEPTED.fullmatch(value):
                    request_id = value.decode()
                break
        if request_id is None:
            request_id = f"{_PROCESS}{next(_SEQUENCE):x}"
        scope[SCOPE_KEY] = request_id  # type: ignore[literal-required]
        header = (HEADER, request_id.encode())

        async def send_with_id(message: Message) -> None:
            if message["type"] != "http.response.start":
                await send(message)
                return
            # A copy: a prepared response (the menu's) shares its header list between requests.
            message = {**message, "headers": [*message.get("headers", ()), header]}
            # The server writes its access log line while it sends the start: the id goes on it. Only
            # there: a context variable set for the whole request cost GET /menu about 13 % of its
            # throughput (measured), so the service's own lines take the id from the scope.
            token = current.set(request_id)
            try:
                await send(message)
            finally:
                current.reset(token)

        await self.app(scope, receive, send_with_id)
