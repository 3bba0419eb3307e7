"""Small shared pieces: id types and passing PostgreSQL-built JSON through."""

from __future__ import annotations

from typing import Annotated, Any

import msgspec
from litestar import Response
from litestar.params import Parameter

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


def changed_fields(patch: msgspec.Struct) -> dict[str, Any]:
    """The fields a PATCH body actually carried (those not left UNSET)."""
    return {k: v for k, v in msgspec.structs.asdict(patch).items() if v is not msgspec.UNSET}
