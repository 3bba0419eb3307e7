"""The menu: the tablet reads it whole; the staff edit categories and items."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from functools import partial
from typing import Annotated, Any

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from tableorder.documents import Category, Menu, MenuItem
from tableorder.kit import LOCATION, MAX_BIGINT, PathId, changed_fields, created, header, raw_json
from tableorder.menu import queries
from tableorder.menu.cache import MenuCache
from tableorder.menu.schemas import CategoryCreate, CategoryUpdate, MenuItemCreate, MenuItemUpdate
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, conflict, found, not_found, problem_spec
from tableorder.security import Principal, api_key, table_principal
from tableorder.state import AppState


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


class GuestMenuController(Controller):
    path = "/menu"
    tags = ["Guest"]

    @get(operation_id="GetMenu", summary="The store's menu by category; send If-None-Match to get 304",
         responses={**AUTH_PROBLEMS, 304: ResponseSpec(None, description="Not modified (empty body)")})
    async def get_menu(self, request: Request[Any, Any, Any]) -> Response[Menu]:
        """The store's menu as the tablet shows it: categories in display order, each with its items (sold-out
        items included, with `available: false`). Send the ETag back in If-None-Match to get a 304 with no body
        while the menu is unchanged; a `menu.updated` event says when to ask again."""
        # The tablets' hottest read: no dependency injection, and the answer is a response encoded
        # once per menu change (see MenuCache), so a request costs a token lookup and a dict lookup.
        principal = await table_principal(request)
        state = request.app.state
        cache: MenuCache = state.menu_cache
        menu = await cache.get(principal.store_id, partial(queries.menu_document, state.reads))
        if menu is None:
            raise not_found("Store")
        # The body is the menu's JSON as PostgreSQL built it: typed Any here, so the annotation above
        # (what the OpenAPI document declares) stays Menu rather than Menu | bytes.
        response: Response[Any] = (
            menu.not_modified if etag_matches(header(request.scope, b"if-none-match"), menu.etag) else menu.ok)
        return response


def unknown_category() -> ProblemError:
    return ProblemError(422, "The category does not exist in this store.", slug="validation-error",
                        errors=[FieldError(field="category_id", message="no such category in this store")])


def menu_changed(state: AppState, store_id: int) -> None:
    """This worker's copy goes at once, so the next read here sees the change. The other workers and
    replicas drop theirs on the change's notification (and a table stream's menu.updated is only sent
    after that), a moment later."""
    cache: MenuCache = state.menu_cache
    cache.invalidate(store_id)


@contextmanager
def refused_when_full(what: str) -> Iterator[None]:
    """The menu's size trigger (SQLSTATE MENU_FULL) as a 409 naming the limit."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if exc.sqlstate != queries.MENU_FULL:
            raise
        limit = msgspec.json.decode(exc.detail or "{}", type=dict[str, int]).get("limit")
        raise ProblemError(409, f"This store's menu already holds {limit} {what}, the most a menu may hold; "
                                f"delete one to add another.", slug="menu-full") from exc


class AdminCategoryController(Controller):
    path = "/categories"
    tags = ["Admin: menu"]

    @get(operation_id="ListCategories", security=api_key("menu:read"),
         summary="Menu categories in display order", responses=AUTH_PROBLEMS)
    async def list_categories(self, state: AppState, principal: Principal) -> Response[list[Category]]:
        """Every menu category of the store in display order (`sort_order`, then id)."""
        return raw_json(await queries.list_categories(state.pool, principal.store_id))

    @get("/{category_id:int}", operation_id="GetCategory", security=api_key("menu:read"), summary="One menu category",
         responses={**AUTH_PROBLEMS, 404: problem_spec("No such category in this store")})
    async def get_category(self, state: AppState, principal: Principal, category_id: PathId) -> Response[Category]:
        """One menu category of the store."""
        document = await queries.get_category(state.pool, principal.store_id, category_id)
        return raw_json(found(document, "Category"))

    @post(operation_id="CreateCategory", security=api_key("menu:write"), summary="Add a menu category",
          response_headers=[LOCATION], responses={**AUTH_PROBLEMS,
                     409: problem_spec("The menu already holds 100 categories (type `.../menu-full`)")})
    async def create_category(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                              data: CategoryCreate) -> Response[Category]:
        """Add a menu category (at most 100 per store). Tablets are told with a `menu.updated` event."""
        with refused_when_full("categories"):
            document = await queries.create_category(state.pool, principal.store_id, data.name, data.sort_order)
        menu_changed(state, principal.store_id)
        return created(request, document)

    @patch("/{category_id:int}", operation_id="UpdateCategory", security=api_key("menu:write"),
           summary="Rename or reorder a category",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such category in this store")})
    async def update_category(self, state: AppState, principal: Principal, category_id: PathId,
                              data: CategoryUpdate) -> Response[Category]:
        """Rename or reorder a category; only the fields sent change. Announced as `menu.updated`."""
        document = await queries.update_category(state.pool, principal.store_id, category_id, changed_fields(data))
        document = found(document, "Category")
        menu_changed(state, principal.store_id)
        return raw_json(document)

    @delete("/{category_id:int}", operation_id="DeleteCategory", security=api_key("menu:write"),
            summary="Delete an empty category",
            responses={**AUTH_PROBLEMS, 404: problem_spec("No such category in this store"),
                       409: problem_spec("The category still has menu items")})
    async def delete_category(self, state: AppState, principal: Principal, category_id: PathId) -> None:
        """Delete a category that holds no items (409 while it still has some). Announced as `menu.updated`."""
        try:
            deleted = await queries.delete_category(state.pool, principal.store_id, category_id)
        except asyncpg.ForeignKeyViolationError as exc:
            raise conflict("The category still has menu items; move or delete them first.") from exc
        if not deleted:
            raise not_found("Category")
        menu_changed(state, principal.store_id)


class AdminMenuItemController(Controller):
    path = "/menu-items"
    tags = ["Admin: menu"]

    @get(operation_id="ListMenuItems", security=api_key("menu:read"),
         summary="Menu items, optionally of one category", responses=AUTH_PROBLEMS)
    async def list_items(
        self, state: AppState, principal: Principal,
        category_id: Annotated[int | None, Parameter(ge=1, le=MAX_BIGINT)] = None,
    ) -> Response[list[MenuItem]]:
        """Every menu item of the store (by category, then display order), or only those of one category."""
        return raw_json(await queries.list_items(state.pool, principal.store_id, category_id))

    @get("/{item_id:int}", operation_id="GetMenuItem", security=api_key("menu:read"), summary="One menu item",
         responses={**AUTH_PROBLEMS, 404: problem_spec("No such menu item in this store")})
    async def get_item(self, state: AppState, principal: Principal, item_id: PathId) -> Response[MenuItem]:
        """One menu item of the store."""
        document = await queries.get_item(state.pool, principal.store_id, item_id)
        return raw_json(found(document, "Menu item"))

    @post(operation_id="CreateMenuItem", security=api_key("menu:write"), summary="Add a menu item",
          response_headers=[LOCATION],
          responses={**AUTH_PROBLEMS, 409: problem_spec("The menu already holds 500 items (type `.../menu-full`)")})
    async def create_item(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                          data: MenuItemCreate) -> Response[MenuItem]:
        """Add a menu item to a category of the store (at most 500 items per store); the price is in integer won.
        Announced as `menu.updated`."""
        try:
            with refused_when_full("items"):
                document = await queries.create_item(state.pool, principal.store_id, msgspec.structs.asdict(data))
        except asyncpg.ForeignKeyViolationError as exc:
            raise unknown_category() from exc
        menu_changed(state, principal.store_id)
        return created(request, document)

    @patch("/{item_id:int}", operation_id="UpdateMenuItem", security=api_key("menu:write"),
           summary="Change a menu item (price, sold out, ...); only the fields sent change",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such menu item in this store")})
    async def update_item(self, state: AppState, principal: Principal, item_id: PathId,
                          data: MenuItemUpdate) -> Response[MenuItem]:
        """Change a menu item; only the fields sent change (`available: false` marks it sold out, `image_url: null`
        removes its picture). Orders already placed keep the name and price they were placed with. Announced as
        `menu.updated`."""
        try:
            document = await queries.update_item(state.pool, principal.store_id, item_id, changed_fields(data))
        except asyncpg.ForeignKeyViolationError as exc:
            raise unknown_category() from exc
        document = found(document, "Menu item")
        menu_changed(state, principal.store_id)
        return raw_json(document)

    @delete("/{item_id:int}", operation_id="DeleteMenuItem", security=api_key("menu:write"),
            summary="Delete a menu item (past orders keep its name and price)",
            responses={**AUTH_PROBLEMS, 404: problem_spec("No such menu item in this store")})
    async def delete_item(self, state: AppState, principal: Principal, item_id: PathId) -> None:
        """Delete a menu item. Past orders keep its name and price (their lines' `menu_item_id` becomes null).
        Announced as `menu.updated`."""
        if not await queries.delete_item(state.pool, principal.store_id, item_id):
            raise not_found("Menu item")
        menu_changed(state, principal.store_id)
