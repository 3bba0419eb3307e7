"""What staff send about API keys (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import ApiKeyScope


class ApiKeyCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new API key: a name to recognise it by and what it may do (each operation names the scope it
    needs). Give an integration only the scopes it uses."""

    name: Annotated[str, msgspec.Meta(min_length=1, max_length=100, pattern=r"\S", examples=["POS integration"])]
    scopes: Annotated[list[ApiKeyScope], msgspec.Meta(min_length=1, max_length=7,
                                                      examples=[["orders:read", "events:read"]])]
