"""OPTIONS answers with every method of the path, in `Allow`.

Litestar answers OPTIONS itself, but lists only the methods of the first handler it registered for a
path: its OPTIONS handler closes over the route it was made with (`HTTPRoute.create_options_handler`),
and a path's route is rebuilt, keeping that handler, as the other methods' handlers are added. So
`OPTIONS /api/v1/orders` said `GET, OPTIONS` though POST is there too. This answers before the route's
guards run (an OPTIONS request carries no credentials) and costs other requests one comparison.
CORS preflights never get here: the CORS middleware answers them before routing.
"""

from __future__ import annotations

from litestar import Litestar
from litestar.routes import HTTPRoute
from litestar.types import ASGIApp, Receive, Scope, Send


def allowed_methods(app: ASGIApp) -> ASGIApp:
    """Litestar middleware: answers OPTIONS for every route with the route's methods."""
    methods_by_path: dict[str, bytes] = {}

    async def middleware(scope: Scope, receive: Receive, send: Send) -> None:
        if scope.get("method") != "OPTIONS":
            await app(scope, receive, send)
            return
        if not methods_by_path:
            methods_by_path.update(_methods_by_path(scope["litestar_app"]))
        allow = methods_by_path.get(scope.get("path_template", ""))
        if allow is None:
            await app(scope, receive, send)
            return
        await send({"type": "http.response.start", "status": 204, "headers": [(b"allow", allow)]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})

    return middleware


def _methods_by_path(app: Litestar) -> dict[str, bytes]:
    return {route.path_format: ", ".join(sorted(route.methods)).encode()
            for route in app.routes if isinstance(route, HTTPRoute)}
