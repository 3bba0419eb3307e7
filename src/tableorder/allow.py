"""OPTIONS answers with every method of the path, in `Allow`.

Litestar answers OPTIONS itself, but lists only the methods of the first handler it registered for a
path: its OPTIONS handler closes over the route it was made with (`HTTPRoute.create_options_handler`),
and a path's route is rebuilt, keeping that handler, as the other methods' handlers are added. So
`OPTIONS /api/v1/orders` said `GET, OPTIONS` though POST is there too. This answers before routing
(an OPTIONS request carries no credentials), in the one ASGI layer around the whole application
(request_id.RequestIdMiddleware calls `answer`): as Litestar middleware it wrapped every route in two
more layers, and as a layer of its own it still cost GET /menu about 2 % of its instructions
(measured in-process). CORS preflights pass through to the CORS middleware.
"""

from __future__ import annotations

import re

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import Scope, Send

_PARAMETER = re.compile(r"\{[^}]+\}")


class AllowedMethods:
    def __init__(self, litestar: Litestar) -> None:
        self.litestar = litestar
        self._routes: list[tuple[re.Pattern[str], bytes]] | None = None

    async def answer(self, scope: Scope, send: Send) -> bool:
        """Answers an OPTIONS request (True), unless it is a CORS preflight or its path is unknown."""
        if any(name == b"access-control-request-method" for name, _ in scope["headers"]):
            return False
        allow = self._allow(scope["path"])
        if allow is None:
            return False
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        return True

    def _allow(self, path: str) -> bytes | None:
        if self._routes is None:
            # Fewest parameters first, as the router prefers them: /admin/orders/stream is not an order.
            routes = sorted((route for route in self.litestar.routes if isinstance(route, HTTPRoute)),
                            key=lambda route: route.path_format.count("{"))
            self._routes = [
                (re.compile("".join(re.escape(part) if i % 2 == 0 else "[^/]+"
                                    for i, part in enumerate(_split(route.path_format)))),
                 ", ".join(sorted(route.methods)).encode())
                for route in routes]
        path = path.rstrip("/") or "/"
        return next((allow for pattern, allow in self._routes if pattern.fullmatch(path)), None)


def _split(path_format: str) -> list[str]:
    """Literal pieces and parameters alternately: '/a/{id}/b' -> ['/a/', '{id}', '/b']."""
    pieces: list[str] = []
    last = 0
    for match in _PARAMETER.finditer(path_format):
        pieces += [path_format[last:match.start()], match.group()]
        last = match.end()
    return [*pieces, path_format[last:]]
