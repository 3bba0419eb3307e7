"""What clients send to sign in (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import TableNumber

StoreCode = Annotated[str, msgspec.Meta(min_length=2, max_length=32, pattern=r"^[a-z0-9][a-z0-9-]{1,31}$")]
Password = Annotated[str, msgspec.Meta(min_length=1, max_length=128)]


class AdminLogin(msgspec.Struct, forbid_unknown_fields=True):
    """A staff member's credentials: the store's code, their username in it and their password."""

    store_code: StoreCode
    username: Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
    password: Password


class TableLogin(msgspec.Struct, forbid_unknown_fields=True):
    """A tablet's credentials: the store's code, the table's number and the table's password."""

    store_code: StoreCode
    table_number: TableNumber
    password: Password


class PasswordChange(msgspec.Struct, forbid_unknown_fields=True):
    """The calling staff member's current password and the new one."""

    current_password: Password
    new_password: Annotated[str, msgspec.Meta(min_length=8, max_length=128,
                                              description="At least 8 characters")]
