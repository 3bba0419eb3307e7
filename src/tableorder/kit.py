"""Small shared pieces: id types and passing PostgreSQL-built JSON through."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Request, Response
from litestar.datastructures import ResponseHeader
from litestar.params import Parameter
from litestar.types import HTTPResponseBodyEvent, HTTPResponseStartEvent, Receive, Scope, Send

MAX_BIGINT = 2**63 - 1

# Database ids as the API takes them: positive and within bigint, so no id can reach PostgreSQL out of range.
Id = Annotated[int, msgspec.Meta(ge=1, le=MAX_BIGINT)]
PathId = Annotated[int, Parameter(ge=1, le=MAX_BIGINT)]

# Nested documents (an order with its lines, the menu) are assembled by PostgreSQL in one query and
# passed through as bytes; the handler's return annotation declares their schema, and the schema
# conformance tests check the bytes against it.


def raw_json(document: str, status_code: int = 200, headers: dict[str, str] | None = None) -> Response[Any]:
    return Response(content=document.encode(), status_code=status_code, media_type="application/json",
                    headers=headers)


class _Created(msgspec.Struct):
    id: int


def created(request: Request[Any, Any, Any], document: str) -> Response[Any]:
    """201: the new resource's document, and in Location its URL (the collection's path and its id)."""
    new_id = msgspec.json.decode(document, type=_Created).id
    return raw_json(document, status_code=201, headers={"Location": f"{request.url.path.rstrip('/')}/{new_id}"})


# Declared by the operations that answer with `created`.
LOCATION = ResponseHeader(name="Location", value="/api/v1/admin/tables/12", documentation_only=True,
                          description="The new resource's path on this server, where GET reads it")


def header(scope: Scope, name: bytes) -> str | None:
    """One request header straight from the ASGI scope (`name` in lower case, as ASGI servers send it)."""
    for key, value in scope["headers"]:
        if key == name:
            return value.decode("latin-1")
    return None


class PreparedResponse(Response[bytes]):
    """A response whose status line, headers and body are encoded once and then sent as they are.

    For hot, unchanging answers (the cached menu and its 304): built when the content changes, reused
    for every request until then, so a request costs no encoding at all.
    """

    def __init__(self, body: bytes, status_code: int, headers: dict[str, str], media_type: str | None = None) -> None:
        super().__init__(content=body, status_code=status_code, headers=headers)
        encoded = [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()]
        if media_type is not None:
            encoded.append((b"content-type", media_type.encode("latin-1")))
        if body or status_code not in {204, 304}:
            encoded.append((b"content-length", str(len(body)).encode()))
        self._encoded_headers = encoded
        self._status = status_code  # Response.status_code is typed int | None

    def to_asgi_response(self, app: Any, request: Any, **kwargs: Any) -> Any:
        return self._send

    async def _send(self, scope: Scope, receive: Receive, send: Send) -> None:
        start: HTTPResponseStartEvent = {
            "type": "http.response.start", "status": self._status, "headers": self._encoded_headers}
        body: HTTPResponseBodyEvent = {"type": "http.response.body", "body": self.content, "more_body": False}
        await send(start)
        await send(body)


def changed_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried (those not left UNSET)."""
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
