"""What staff send about stations (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

StationName = Annotated[str, msgspec.Meta(min_length=1, max_length=50, pattern=r"\S",
                                          description="Unique in the store")]
SortOrder = Annotated[int, msgspec.Meta(ge=-1_000_000, le=1_000_000)]


class StationCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new kitchen station; lower `sort_order` comes first."""

    name: StationName
    sort_order: SortOrder = 0


class StationUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change."""

    name: StationName | msgspec.UnsetType = msgspec.UNSET
    sort_order: SortOrder | msgspec.UnsetType = msgspec.UNSET
