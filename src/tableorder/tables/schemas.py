"""What staff send about tables (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import TableNumber
from tableorder.kit import Id

TablePassword = Annotated[str, msgspec.Meta(min_length=4, max_length=128)]


class TableCreate(msgspec.Struct, forbid_unknown_fields=True):
    """A new table and its tablet password."""

    number: TableNumber
    password: TablePassword


class TableUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """A table's new tablet password (its tablets must log in again)."""

    password: TablePassword


class SessionMove(msgspec.Struct, forbid_unknown_fields=True):
    """The table the open session moves to (merging into its open session, if it has one)."""

    to_table_id: Id
