"""What a tablet sends to call staff (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import CallReason

# The most a call's note may hold: the board shows it in one line.
NOTE_MAX = 200


class CallCreate(msgspec.Struct, forbid_unknown_fields=True):
    """Why the table calls staff, and optionally a short note (shown on the board)."""

    reason: CallReason
    # No NUL: PostgreSQL text cannot hold it, and the schema says so (a 422 naming `note`).
    note: Annotated[str, msgspec.Meta(max_length=NOTE_MAX, pattern=r"^[^\x00]*$")] | None = None
