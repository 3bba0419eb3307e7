"""X-Request-ID: taken from the request when it is a sane token (a proxy or a client's own), made
otherwise; echoed on the response, put on every log line of the request and in every problem body
(`instance`), so a vendor's bug report and our logs meet on one id."""

from __future__ import annotations

import itertools
import logging
import re
import secrets
from collections.abc import Awaitable, Callable, MutableMapping
from contextvars import ContextVar
from typing import Any

from litestar._asgi.utils import is_valid_host
from litestar.enums import ScopeType
from litestar.handlers import HTTPRouteHandler
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, HTTPRequestEvent, Message, Receive, ReceiveMessage, Scope, Send

from tableorder.allow import AllowedMethods

HEADER = b"x-request-id"
# What we accept as it is: an id a proxy or client made (a UUID, nginx's $request_id, a trace id).
# Anything else (too long, spaces, control characters) is replaced rather than logged.
_ACCEPTED = re.compile(rb"[A-Za-z0-9._:-]{1,128}")

current: ContextVar[str | None] = ContextVar("request_id", default=None)

# Ids this process makes: a random prefix per process (so replicas and restarts never collide) and a
# sequence, e.g. `3fa85f64a1b2` + `1c`.
_PROCESS = secrets.token_hex(6).encode()
_SEQUENCE = itertools.count(1)


SCOPE_KEY = "tableorder.request_id"  # where the middleware leaves the id in the request's ASGI scope

Header = tuple[bytes, bytes]
# Hands a request to the application (with the id added to its answer): `pass_on(scope, receive, send, header)`.
PassOn = Callable[[Scope, Receive, Send, Header], Awaitable[None]]
# A handler that may answer before the framework (routing, a Request, the handler's machinery):
# called as `lean(scope, receive, send, header, pass_on)` with the server's send and the `x-request-id`
# header to put on what it sends, it answers whole, or sends nothing and awaits `pass_on(scope, receive,
# send, header)`: the request goes through the application like any other (so every refusal is the
# application's usual problem). Declared on the route handler as `opt={LEAN: handler}`; only for
# routes with no path parameters. A lean handler that read the body passes on a `receive` that gives
# it again (`replay`).
LeanHandler = Callable[[Scope, Receive, Send, Header, PassOn], Awaitable[None]]
LEAN = "tableorder.lean"

# Host values seen valid (Litestar's check, is_valid_host, is a regular expression): the names the
# service is reached by, a few; at most this many are remembered.
_VALID_HOSTS: set[bytes] = set()
_MAX_VALID_HOSTS = 64


def valid_host(value: bytes) -> bool:
    """Whether Litestar takes this Host header (a lean handler passes on what it would refuse)."""
    if value in _VALID_HOSTS:
        return True
    if not is_valid_host(value):
        return False
    if len(_VALID_HOSTS) < _MAX_VALID_HOSTS:
        _VALID_HOSTS.add(value)
    return True


def replay(body: bytes, receive: Receive) -> Receive:
    """A `receive` giving `body` (already read) as the request's, then what the server sends next."""
    given = False

    async def receive_again() -> ReceiveMessage:
        nonlocal given
        if given:
            return await receive()
        given = True
        request: HTTPRequestEvent = {"type": "http.request", "body": body, "more_body": False}
        return request

    return receive_again


def of(scope: Any) -> str | None:
    """The id of the request whose ASGI scope this is."""
    found: bytes | None = scope.get(SCOPE_KEY)
    return found.decode() if found is not None else None


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
    """Wraps the whole application (also 404s and 405s that match no route), and answers OPTIONS
    (`allowed`, see allow.py) in the same step: every layer here is paid by every request.

    On every request, GET /menu's included, so kept to a few operations, counted with cachegrind
    (instructions per in-process GET /menu): no coroutine of its own, the id is bytes (decoded only
    for a log line or a problem body), the start message gets the header in place (ASGI senders
    build it per response), and the context variable is set only when the access line is logged.

    A route may declare a lean handler (LeanHandler, `opt={LEAN: ...}`): GET /menu answers a kept
    menu there, before routing, with the id on its own headers, and POST /orders a plain valid order;
    what they do not answer goes on below.
    """

    def __init__(self, app: ASGIApp, allowed: AllowedMethods | None = None) -> None:
        self.app = app
        self.allowed = allowed
        self._access_log = logging.getLogger("uvicorn.access")
        # Routes answered before the framework when they can (see LeanHandler), by method and path.
        self._lean: dict[str, dict[str, LeanHandler]] = {}
        self._pass_on: PassOn = self.pass_on  # bound once, not per request
        litestar = allowed.litestar if allowed is not None else None
        for route in litestar.routes if litestar is not None and not litestar.before_send else ():
            if isinstance(route, HTTPRoute) and not route.path_parameters:
                for handler in route.route_handlers:
                    lean = handler.opt.get(LEAN)
                    if lean is not None and _nothing_skipped(handler):
                        for method in handler.http_methods:
                            self._lean.setdefault(method, {})[route.path] = lean

    # Not a coroutine function: it returns the awaitable of the layer below, and its `send` returns
    # the server's, so the layer adds no coroutine of its own to a request or to a message.
    def __call__(self, scope: Scope, receive: Receive, send: Send) -> Awaitable[None]:
        if scope["type"] != ScopeType.HTTP:
            return self.app(scope, receive, send)
        for name, value in scope["headers"]:
            if name == HEADER:
                request_id = value if _ACCEPTED.fullmatch(value) else _PROCESS + b"%x" % next(_SEQUENCE)
                break
        else:
            request_id = _PROCESS + b"%x" % next(_SEQUENCE)
        scope[SCOPE_KEY] = request_id  # type: ignore[literal-required]
        header = (HEADER, request_id)
        logged = self._access_log.isEnabledFor(logging.INFO)
        method = scope["method"]

        lean_paths = self._lean.get(method)
        if lean_paths is not None:
            path = scope["path"]
            if root_path := scope.get("root_path"):
                path = path.split(root_path, maxsplit=1)[-1]  # as Litestar's router sees it
            lean = lean_paths.get(path)
            if lean is not None:
                return lean(scope, receive, _logged(send, request_id) if logged else send, header, self._pass_on)
        send_on = self._send_with_id(send, header, logged)
        if method == "OPTIONS" and self.allowed is not None:
            return self._options(scope, receive, send_on)
        return self.app(scope, receive, send_on)

    def _send_with_id(self, send: Send, header: Header, logged: bool) -> Send:
        def send_with_id(message: Message) -> Awaitable[None]:
            if message["type"] == "http.response.start":
                # A new list: a prepared response (the menu's) shares its header list between requests.
                message["headers"] = [*message.get("headers", ()), header]
            return send(message)

        return _logged(send_with_id, header[1]) if logged else send_with_id

    def pass_on(self, scope: Scope, receive: Receive, send: Send, header: Header) -> Awaitable[None]:
        """What a lean handler does not answer: the application's (`send` is already logged)."""
        return self.app(scope, receive, self._send_with_id(send, header, False))

    async def _options(self, scope: Scope, receive: Receive, send: Send) -> None:
        assert self.allowed is not None
        if not await self.allowed.answer(scope, send):
            await self.app(scope, receive, send)


def _nothing_skipped(handler: HTTPRouteHandler) -> bool:
    """Whether a lean handler skips nothing the route would do: were a guard, a middleware, a hook or
    a response header or cookie added to its route (or any layer above it), the route is served by
    the application alone again (slower, never wrong)."""
    return (not handler.resolve_guards() and not handler.resolve_middleware()
            and handler.resolve_before_request() is None and handler.resolve_after_response() is None
            and not any(layer.after_request for layer in handler.ownership_layers)
            and not any(not header.documentation_only for header in handler.resolve_response_headers())
            and not handler.resolve_response_cookies())


def _logged(send: Send, request_id: bytes) -> Send:
    """uvicorn writes its access line while it sends the start: the id goes on that line through the
    context variable. Only there, and only when that line is logged: set for the whole request it
    cost GET /menu about 13 % of its throughput (measured)."""
    async def send_logged(message: Message) -> None:
        token = current.set(request_id.decode())
        try:
            await send(message)
        finally:
            current.reset(token)
    return send_logged
