"""Renders /schema with a vendored, pinned Swagger UI (see README.md here) and serves its files.

The page runs under the edge's Content-Security-Policy (`script-src 'self'`, `style-src 'self'`): it
has no inline script or style, and the UI is started by `docs.js`, which reads the document's URL
from a data attribute.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from html import escape
from pathlib import Path
from typing import Any

from litestar import Request, Router, get
from litestar.datastructures import CacheControlHeader
from litestar.openapi.plugins import OpenAPIRenderPlugin
from litestar.response import File

from tableorder.problems import not_found

STATIC = Path(__file__).parent / "static"

# What the page may load, by file name: nothing else in STATIC is served (the licence texts stay here).
# Litestar adds `charset=utf-8` to the text types.
ASSETS = {
    "swagger-ui-bundle.js": "text/javascript",
    "swagger-ui.css": "text/css",
    "docs.js": "text/javascript",
    "docs.css": "text/css",
    "favicon-32x32.png": "image/png",
}
ASSET_HANDLER = "docs-page-asset"
# Each URL carries its file's digest, so a new release is fetched at once and an old one is never
# asked again: browsers and proxies may keep them for a year.
ASSET_CACHE = CacheControlHeader(public=True, max_age=365 * 24 * 3600, immutable=True)


def _digest(name: str) -> str:
    return hashlib.sha256((STATIC / name).read_bytes()).hexdigest()[:16]


class DocsPagePlugin(OpenAPIRenderPlugin):
    """The docs page, and `/static/{file_name}` beside it on the OpenAPI router for its files."""

    def __init__(self, *, path: str | Sequence[str] = "/", **kwargs: Any) -> None:
        super().__init__(path=path, favicon="", style="", **kwargs)
        self.versions = {name: _digest(name) for name in ASSETS}

    def receive_router(self, router: Router) -> None:
        router.register(
            get("/static/{file_name:str}", name=ASSET_HANDLER, include_in_schema=False, sync_to_thread=False,
                cache_control=ASSET_CACHE)(serve_asset)
        )

    def asset_url(self, request: Request[Any, Any, Any], name: str) -> str:
        return f"{request.app.route_reverse(ASSET_HANDLER, file_name=name)}?v={self.versions[name]}"

    def render(self, request: Request[Any, Any, Any], openapi_schema: dict[str, Any]) -> bytes:
        title = escape(openapi_schema["info"]["title"])
        document = escape(self.get_openapi_json_route(request))

        def url(name: str) -> str:
            return escape(self.asset_url(request, name))

        return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<link rel="stylesheet" href="{url("swagger-ui.css")}">
<link rel="stylesheet" href="{url("docs.css")}">
<link rel="icon" type="image/png" href="{url("favicon-32x32.png")}">
</head>
<body>
<noscript><p>This page needs JavaScript. The OpenAPI document is at <a href="{document}">{document}</a>.</p></noscript>
<div id="swagger-ui" data-openapi-url="{document}"></div>
<script src="{url("swagger-ui-bundle.js")}"></script>
<script src="{url("docs.js")}"></script>
</body>
</html>
""".encode()


def serve_asset(file_name: str) -> File:
    media_type = ASSETS.get(file_name)
    if media_type is None:
        raise not_found("Docs page file")
    return File(STATIC / file_name, filename=file_name, media_type=media_type, content_disposition_type="inline")
