"""The web pages: the guest tablet at `/`, the staff board at `/admin`, the kitchen display at `/kitchen`,
their files under `/static/`.

Static HTML, CSS and ES modules from `web/` in this package, no build step. Served directly (development,
tests) the pages carry the same Content-Security-Policy as the edge (nginx/nginx.conf), so a page that
works here works behind it: scripts and styles from this origin only, no inline script or style.
Every response is `Cache-Control: no-cache` with a strong ETag: a browser keeps the files and asks again
each time, and a new release is picked up at once without versioned URLs (a 304 costs a few bytes).
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

from litestar import Request, Response, Router, get

from tableorder.problems import not_found

WEB = Path(__file__).parent / "web"

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
)
# What may be served, by suffix; anything else under web/ (notes, licences) stays private.
# Litestar adds `charset=utf-8` to the text types.
MEDIA_TYPES = {
    ".html": "text/html",
    ".js": "text/javascript",
    ".css": "text/css",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".webp": "image/webp",
    ".jpg": "image/jpeg",
    ".ico": "image/x-icon",
    ".mp3": "audio/mpeg",
    ".wav": "audio/wav",
    ".json": "application/json",
}


# path -> (mtime_ns, size, body, etag): the files are small and few; a stat tells when one changed.
_FILES: dict[Path, tuple[int, int, bytes, str]] = {}


def _read(path: Path) -> tuple[bytes, str]:
    stat = path.stat()
    cached = _FILES.get(path)
    if cached is None or cached[:2] != (stat.st_mtime_ns, stat.st_size):
        body = path.read_bytes()
        cached = _FILES[path] = (stat.st_mtime_ns, stat.st_size, body, f'"{hashlib.sha256(body).hexdigest()[:32]}"')
    return cached[2], cached[3]


def _file_response(request: Request[Any, Any, Any], path: Path, *, page: bool = False) -> Response[bytes]:
    body, etag = _read(path)
    headers = {"ETag": etag, "Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}
    if page:
        headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
        headers["Referrer-Policy"] = "no-referrer"
        headers["X-Frame-Options"] = "DENY"
    media_type = MEDIA_TYPES[path.suffix]
    if etag in {tag.strip() for tag in request.headers.get("if-none-match", "").split(",")}:
        return Response(b"", status_code=304, headers=headers, media_type=media_type)
    return Response(body, headers=headers, media_type=media_type)


@get("/", include_in_schema=False, sync_to_thread=False, name="tablet-page")
def tablet_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The guest tablet: setup once, then the menu, the cart and the table's orders."""
    return _file_response(request, WEB / "tablet" / "index.html", page=True)


@get(["/admin", "/admin/"], include_in_schema=False, sync_to_thread=False, name="admin-page")
def admin_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The staff board: live tables and orders, history, menu and tables."""
    return _file_response(request, WEB / "admin" / "index.html", page=True)


@get(["/kitchen", "/kitchen/"], include_in_schema=False, sync_to_thread=False, name="kitchen-page")
def kitchen_page(request: Request[Any, Any, Any]) -> Response[bytes]:
    """The kitchen display: one station's open tickets, live, with `Done` per ticket."""
    return _file_response(request, WEB / "kitchen" / "index.html", page=True)


@get("/static/{file_path:path}", include_in_schema=False, sync_to_thread=False, name="web-asset")
def web_asset(request: Request[Any, Any, Any], file_path: str) -> Response[bytes]:
    """A file of the pages, by its path under web/; only known suffixes, never outside web/."""
    relative = PurePosixPath(file_path.lstrip("/"))
    if relative.suffix not in MEDIA_TYPES or any(part in {"", ".", ".."} or part.startswith(".")
                                                 for part in relative.parts):
        raise not_found("File")
    path = WEB.joinpath(*relative.parts)
    if not path.is_file() or WEB.resolve() not in path.resolve().parents:
        raise not_found("File")
    return _file_response(request, path)


pages = Router(path="/", route_handlers=[tablet_page, admin_page, kitchen_page, web_asset], include_in_schema=False)
