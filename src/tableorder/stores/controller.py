"""The store's own settings: the languages its menu is kept in."""

from __future__ import annotations

import msgspec
from litestar import Controller, Response, get, patch

from tableorder.documents import StoreSettings
from tableorder.kit import raw_json
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, found
from tableorder.security import Principal, api_key
from tableorder.state import AppState
from tableorder.stores import queries
from tableorder.stores.schemas import StoreUpdate


class AdminStoreController(Controller):
    path = "/store"
    tags = ["Admin: menu"]

    @get(operation_id="GetStore", security=api_key("menu:read"),
         summary="The store's settings: languages, time zone, when the business day ends", responses=AUTH_PROBLEMS)
    async def get_store(self, state: AppState, principal: Principal) -> Response[StoreSettings]:
        """The store as its staff set it up: its languages (the first is the working language), its time zone,
        and when the current business day ends (the next midnight there: "sold out until closing")."""
        return raw_json(found(await queries.store_settings(state.pool, principal.store_id), "Store"))

    @patch(operation_id="UpdateStore", security=api_key("menu:write"),
           summary="Set the languages the menu is kept in", responses=AUTH_PROBLEMS)
    async def update_store(self, state: AppState, principal: Principal, data: StoreUpdate) -> Response[StoreSettings]:
        """Set the languages of the menu (ko, en, ja, zh; each once), the first being the working language:
        orders, the board and kitchen tickets use it, and menu text not translated shows in it. Tablets are
        told with a `menu.updated` event (entity `store`) and reload their menu."""
        document: str | None
        if data.languages is msgspec.UNSET:
            document = await queries.store_settings(state.pool, principal.store_id)
        else:
            if len(set(data.languages)) != len(data.languages):
                raise ProblemError(422, "The request has invalid fields.", slug="validation-error", errors=[
                    FieldError(field="languages", message="each language may be listed once")])
            document = await queries.set_languages(state.pool, principal.store_id, list(data.languages))
            # This worker's cached menus of the store go at once (the others' on the event's notification).
            state.menu_cache.invalidate(principal.store_id)
        return raw_json(found(document, "Store"))
