"""What staff send about their store."""

from typing import Annotated

import msgspec

from tableorder.documents import LanguageCode


class StoreUpdate(msgspec.Struct, forbid_unknown_fields=True, omit_defaults=True):
    """Only the fields present change. `languages`: the languages the menu is kept in, each once, the first
    being the working language (orders, the board and kitchen tickets use it)."""

    languages: Annotated[list[LanguageCode], msgspec.Meta(min_length=1, max_length=4)] | msgspec.UnsetType = (
        msgspec.UNSET)
