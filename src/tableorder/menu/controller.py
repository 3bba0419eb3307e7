"""The menu: the tablet reads it whole; the staff edit categories and items."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from itertools import islice
from typing import Annotated, Any, get_args
from urllib.parse import unquote_plus

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.enums import ParamType
from litestar.openapi.datastructures import ResponseSpec
from litestar.openapi.spec import OpenAPIType, Operation, Schema
from litestar.openapi.spec import Parameter as OpenAPIParameter
from litestar.params import Parameter
from litestar.types import Receive, Scope, Send

from tableorder import request_id
from tableorder.documents import Category, LanguageCode, Menu, MenuItem, Option, OptionGroup
from tableorder.kit import LOCATION, MAX_BIGINT, PathId, changed_fields, created, raw_json
from tableorder.menu import queries
from tableorder.menu.cache import Languages, MenuCache
from tableorder.menu.schemas import (
    CategoryCreate,
    CategoryUpdate,
    MenuItemCreate,
    MenuItemUpdate,
    OptionCreate,
    OptionGroupCreate,
    OptionGroupUpdate,
    OptionUpdate,
)
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, conflict, found, not_found, problem_spec
from tableorder.security import Principal, api_key, table_principal
from tableorder.state import AppState

# The languages a menu may be kept in (documents.LanguageCode).
SUPPORTED_LANGUAGES = frozenset(get_args(get_args(LanguageCode)[0]))


# What a request may send that is remembered: the cache's keys are the inputs themselves, so longer ones
# (no tablet sends them; a guest might, a new megabyte each time) are parsed each time and forgotten.
_REMEMBERED_INPUT = 256
# The most `lang` values and Accept-Language entries looked at, and the most of a `lang` value read (a
# language tag is short; only its primary subtag counts).
_MAX_ASKED = 32
_MAX_TAG = 35
_LANG_PARAMETER = re.compile(rb"(?:^|&)lang=([^&]{0,%d})" % _MAX_TAG)


def preferred_languages(query: bytes, accept_language: bytes | None) -> Languages:
    """The supported languages a request asks for, best first: `?lang=` and then Accept-Language by its
    q-values, each by its primary subtag (zh-CN is zh, en-US en). Both as the request sent them."""
    if len(query) + len(accept_language or b"") <= _REMEMBERED_INPUT:
        return _remembered_preferred_languages(query, accept_language)
    return _preferred_languages(query, accept_language)


@lru_cache(maxsize=1024)
def _remembered_preferred_languages(query: bytes, accept_language: bytes | None) -> Languages:
    """Cached: tablets send the same few headers over and over, so the menu's hot path stays a dict lookup."""
    return _preferred_languages(query, accept_language)


def _preferred_languages(query: bytes, accept_language: bytes | None) -> Languages:
    asked: list[str] = [unquote_plus(match.group(1).decode("latin-1"))
                        for match in islice(_LANG_PARAMETER.finditer(query), _MAX_ASKED)]
    weighted: list[tuple[float, int, str]] = []
    for n, part in enumerate((accept_language or b"").decode("latin-1").split(",", _MAX_ASKED)[:_MAX_ASKED]):
        tag, _, params = part.partition(";")
        q = 1.0
        params = params.strip()
        if params.startswith("q="):
            try:
                q = float(params[2:])
            except ValueError:
                continue
        if q > 0:
            weighted.append((-q, n, tag))
    asked += [tag for _, _, tag in sorted(weighted)]
    languages: list[str] = []
    for tag in asked:
        primary = tag.strip().partition("-")[0].lower()
        if primary in SUPPORTED_LANGUAGES and primary not in languages:
            languages.append(primary)
    return tuple(languages)


@dataclass
class MenuOperation(Operation):
    """GET /menu reads `lang` and Accept-Language itself (its hot path parses no parameters); the
    document declares them here."""

    def __post_init__(self) -> None:
        self.parameters = [
            *(self.parameters or []),
            OpenAPIParameter(
                name="lang", param_in=ParamType.QUERY, required=False,
                schema=Schema(type=OpenAPIType.STRING, examples=["en"]),
                description="The language to show the menu in (ko, en, ja, zh; zh-CN is zh); without it, "
                            "Accept-Language; a language the store does not keep gives its working language"),
            OpenAPIParameter(
                name="Accept-Language", param_in=ParamType.HEADER, required=False,
                schema=Schema(type=OpenAPIType.STRING, examples=["en-US,en;q=0.9,ko;q=0.8"]),
                description="Languages the tablet prefers, with q-values, when `lang` is not given"),
        ]


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in candidates or etag in candidates


async def serve_cached_menu(scope: Scope, receive: Receive, send: Send, header: request_id.Header,
                            pass_on: request_id.PassOn) -> None:
    """GET /menu before the framework (request_id.LeanHandler): a table token that holds and a menu the
    cache keeps are answered here, 200 or 304, with the request's X-Request-ID; anything else (no token
    or a refused one, a menu not kept, a CORS request, a Host Litestar refuses) is passed on to the
    application (get_menu below), which answers or refuses it as every route does.

    The tablets' hottest read: Litestar's routing, Request and handler machinery cost GET /menu more
    than all the rest of it (counted with cachegrind, see the commits), so the kept answer skips them.
    """
    accept_language = if_none_match = None
    for name, value in scope["headers"]:  # one pass for every header looked at
        if name == b"accept-language":
            accept_language = value
        elif name == b"if-none-match":
            if_none_match = value
        elif name == b"host":
            if not request_id.valid_host(value):
                return await pass_on(scope, receive, send, header)  # Litestar's 400
        elif name == b"origin":
            return await pass_on(scope, receive, send, header)  # CORS headers: the application's CORS layer
    try:
        principal = await table_principal(ASGIConnection(scope))
    except Exception:  # the application works it out again and answers with its problem
        return await pass_on(scope, receive, send, header)
    query: bytes = scope["query_string"]
    languages = preferred_languages(query, accept_language) if query or accept_language else ()
    # Item access: State's attribute access fails a lookup (an AttributeError made and dropped) first.
    cache: MenuCache = scope["litestar_app"].state["menu_cache"]
    menu = cache.peek(principal.store_id, languages)
    if menu is None:
        return await pass_on(scope, receive, send, header)
    if if_none_match is not None and (
            if_none_match == menu.etag_bytes or etag_matches(if_none_match.decode("latin-1"), menu.etag)):
        await send({"type": "http.response.start", "status": 304, "headers": [*menu.not_modified_headers, header]})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    else:
        await send({"type": "http.response.start", "status": 200, "headers": [*menu.ok_headers, header]})
        await send({"type": "http.response.body", "body": menu.body, "more_body": False})


class GuestMenuController(Controller):
    path = "/menu"
    tags = ["Guest"]

    @get(operation_id="GetMenu", summary="The store's menu by category, in a language; send If-None-Match to get 304",
         operation_class=MenuOperation, opt={request_id.LEAN: serve_cached_menu},
         responses={**AUTH_PROBLEMS, 304: ResponseSpec(None, description="Not modified (empty body)")})
    async def get_menu(self, request: Request[Any, Any, Any]) -> Response[Menu]:
        """The store's menu as the tablet shows it: categories in display order, each with its items (sold-out
        items included, with `available: false`) and their option groups. In the language `lang` asks for, else
        the first of Accept-Language the store keeps, else the store's working language (`language` says which);
        names not translated are in the working language. Send the ETag back in If-None-Match to get a 304 with
        no body while the menu is unchanged (the ETag differs per language); a `menu.updated` event says when to
        ask again."""
        # A kept menu is answered before this (serve_cached_menu); here come the first read of a menu
        # (loaded, then kept) and every refusal. No dependency injection all the same, and the answer
        # is a response encoded once per menu change and language (see MenuCache).
        principal = await table_principal(request)
        state = request.app.state
        cache: MenuCache = state.menu_cache
        scope = request.scope
        accept_language = if_none_match = None
        for name, value in scope["headers"]:  # one pass for both headers
            if name == b"accept-language":
                accept_language = value
            elif name == b"if-none-match":
                if_none_match = value.decode("latin-1")
        query: bytes = scope["query_string"]
        languages = preferred_languages(query, accept_language) if query or accept_language else ()
        menu = await cache.get(principal.store_id, state.menu_load, languages)
        if menu is None:
            raise not_found("Store")
        # The body is the menu's JSON as PostgreSQL built it: typed Any here, so the annotation above
        # (what the OpenAPI document declares) stays Menu rather than Menu | bytes.
        response: Response[Any] = menu.not_modified if etag_matches(if_none_match, menu.etag) else menu.ok
        return response


def unknown_category() -> ProblemError:
    return ProblemError(422, "The category does not exist in this store.", slug="validation-error",
                        errors=[FieldError(field="category_id", message="no such category in this store")])


def unknown_station() -> ProblemError:
    return ProblemError(422, "The station does not exist in this store.", slug="validation-error",
                        errors=[FieldError(field="station_id", message="no such station in this store")])


def invalid(field: str, message: str) -> ProblemError:
    return ProblemError(422, "The request has invalid fields.", slug="validation-error",
                        errors=[FieldError(field=field, message=message)])


@contextmanager
def unknown_reference_refused() -> Iterator[None]:
    """A category or station of another store (or none) as a 422 naming the field."""
    try:
        yield
    except asyncpg.ForeignKeyViolationError as exc:
        if "station" in (exc.constraint_name or ""):
            raise unknown_station() from exc
        raise unknown_category() from exc


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


@contextmanager
def options_refused_when_full() -> Iterator[None]:
    """options_check_size (migration 0009, SQLSTATE MENU_FULL) as a 409 naming the limit and what holds it."""
    try:
        yield
    except asyncpg.PostgresError as exc:
        if exc.sqlstate != queries.MENU_FULL:
            raise
        detail = msgspec.json.decode(exc.detail or "{}", type=dict[str, int | str])
        what = "option groups" if detail.get("table") == "option_groups" else "options"
        holder = {"item": "This menu item", "group": "This option group"}.get(str(detail.get("of")), "This store")
        raise ProblemError(409, f"{holder} already holds {detail.get('limit')} {what}, the most it may hold; "
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
        """Add a menu category (at most 100 per store), optionally routed to a kitchen station of the store and
        with its name in other languages. Tablets are told with a `menu.updated` event."""
        with refused_when_full("categories"), unknown_reference_refused():
            document = await queries.create_category(state.pool, principal.store_id, msgspec.structs.asdict(data))
        menu_changed(state, principal.store_id)
        return created(request, document)

    @patch("/{category_id:int}", operation_id="UpdateCategory", security=api_key("menu:write"),
           summary="Rename or reorder a category",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such category in this store")})
    async def update_category(self, state: AppState, principal: Principal, category_id: PathId,
                              data: CategoryUpdate) -> Response[Category]:
        """Rename, reorder, route to another station or translate a category; only the fields sent change
        (`translations` replaces them all). Announced as `menu.updated`."""
        with unknown_reference_refused():
            document = await queries.update_category(state.pool, principal.store_id, category_id,
                                                     changed_fields(data))
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
        with refused_when_full("items"), unknown_reference_refused():
            document = await queries.create_item(state.pool, principal.store_id, msgspec.structs.asdict(data))
        menu_changed(state, principal.store_id)
        return created(request, document)

    @patch("/{item_id:int}", operation_id="UpdateMenuItem", security=api_key("menu:write"),
           summary="Change a menu item (price, sold out, ...); only the fields sent change",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such menu item in this store")})
    async def update_item(self, state: AppState, principal: Principal, item_id: PathId,
                          data: MenuItemUpdate) -> Response[MenuItem]:
        """Change a menu item; only the fields sent change (`available: false` marks it sold out, with
        `sold_out_until` until a future time when it comes back by itself; `available: true` clears that time;
        `image_url: null` removes its picture; `translations` replaces them all). Orders already placed keep the
        name and price they were placed with. Announced as `menu.updated`."""
        changes = changed_fields(data)
        until = changes.get("sold_out_until")
        if until is not None:
            if changes.get("available") is True:
                raise invalid("sold_out_until", "only with available: false")
            if until <= datetime.now(UTC):
                raise invalid("sold_out_until", "must be in the future")
        elif changes.get("available") is True:
            changes["sold_out_until"] = None
        try:
            with unknown_reference_refused():
                document = await queries.update_item(state.pool, principal.store_id, item_id, changes)
        except asyncpg.CheckViolationError as exc:
            if exc.constraint_name != "menu_items_sold_out_until":
                raise
            raise invalid("sold_out_until", "only for a sold-out item: send available: false with it") from exc
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


def _group_location(request: Request[Any, Any, Any], kind: str, document: str) -> Response[Any]:
    """201 with the new group's or option's document, and in Location where it is changed."""
    new_id = msgspec.json.decode(document, type=_Created).id
    base = request.url.path.rsplit("/admin/", 1)[0]
    return raw_json(document, status_code=201, headers={"Location": f"{base}/admin/{kind}/{new_id}"})


class _Created(msgspec.Struct):
    id: int


class AdminOptionGroupController(Controller):
    """An item's option groups and their options: created under their item (group), then read, changed and
    deleted by their own id."""

    path = "/"
    tags = ["Admin: menu"]

    @post("/menu-items/{item_id:int}/option-groups", operation_id="CreateOptionGroup", security=api_key("menu:write"),
          summary="Add an option group (맵기, 토핑, ...) to a menu item", response_headers=[LOCATION],
          responses={**AUTH_PROBLEMS, 404: problem_spec("No such menu item in this store"),
                     409: problem_spec("The item already holds 20 option groups, or the store 1,000 "
                                       "(type `.../menu-full`)")})
    async def create_group(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                           item_id: PathId, data: OptionGroupCreate) -> Response[OptionGroup]:
        """Add an option group to a menu item of the store: a line of the item takes between `min` and `max` of
        its options (`min` ≥ 1: required). At most 20 groups an item. Announced as `menu.updated`."""
        if data.min > data.max:
            raise invalid("min", "must not be more than max")
        with options_refused_when_full():
            document = await queries.create_option_group(state.pool, principal.store_id, item_id,
                                                         msgspec.structs.asdict(data))
        document = found(document, "Menu item")
        menu_changed(state, principal.store_id)
        return _group_location(request, "option-groups", document)

    @get("/option-groups/{group_id:int}", operation_id="GetOptionGroup", security=api_key("menu:read"),
         summary="One option group with its options",
         responses={**AUTH_PROBLEMS, 404: problem_spec("No such option group in this store")})
    async def get_group(self, state: AppState, principal: Principal, group_id: PathId) -> Response[OptionGroup]:
        """One option group of the store with its options in display order."""
        return raw_json(found(await queries.get_option_group(state.pool, principal.store_id, group_id),
                              "Option group"))

    @patch("/option-groups/{group_id:int}", operation_id="UpdateOptionGroup", security=api_key("menu:write"),
           summary="Change an option group; only the fields sent change",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such option group in this store")})
    async def update_group(self, state: AppState, principal: Principal, group_id: PathId,
                           data: OptionGroupUpdate) -> Response[OptionGroup]:
        """Rename, reorder, translate an option group or change its `min`/`max` (which must stay min ≤ max); only
        the fields sent change. Orders already placed keep what they chose. Announced as `menu.updated`."""
        changes = changed_fields(data)
        if "min" in changes and "max" in changes and changes["min"] > changes["max"]:
            raise invalid("min", "must not be more than max")
        try:
            document = await queries.update_option_group(state.pool, principal.store_id, group_id, changes)
        except asyncpg.CheckViolationError as exc:
            raise invalid("min" if "min" in changes else "max", "min must not be more than max") from exc
        document = found(document, "Option group")
        menu_changed(state, principal.store_id)
        return raw_json(document)

    @delete("/option-groups/{group_id:int}", operation_id="DeleteOptionGroup", security=api_key("menu:write"),
            summary="Delete an option group with its options (past orders keep what they chose)",
            responses={**AUTH_PROBLEMS, 404: problem_spec("No such option group in this store")})
    async def delete_group(self, state: AppState, principal: Principal, group_id: PathId) -> None:
        """Delete an option group and its options. Past orders keep the options they were placed with. Announced as
        `menu.updated`."""
        if not await queries.delete_option_group(state.pool, principal.store_id, group_id):
            raise not_found("Option group")
        menu_changed(state, principal.store_id)

    @post("/option-groups/{group_id:int}/options", operation_id="CreateOption", security=api_key("menu:write"),
          summary="Add an option to an option group", response_headers=[LOCATION],
          responses={**AUTH_PROBLEMS, 404: problem_spec("No such option group in this store"),
                     409: problem_spec("The group already holds 30 options, or the store 5,000 "
                                       "(type `.../menu-full`)")})
    async def create_option(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                            group_id: PathId, data: OptionCreate) -> Response[Option]:
        """Add an option to an option group of the store; `price_delta` is added to the line's unit price (it may
        be negative, 0 for a free choice). At most 30 options a group. Announced as `menu.updated`."""
        with options_refused_when_full():
            document = await queries.create_option(state.pool, principal.store_id, group_id,
                                                   msgspec.structs.asdict(data))
        document = found(document, "Option group")
        menu_changed(state, principal.store_id)
        return _group_location(request, "options", document)

    @get("/options/{option_id:int}", operation_id="GetOption", security=api_key("menu:read"), summary="One option",
         responses={**AUTH_PROBLEMS, 404: problem_spec("No such option in this store")})
    async def get_option(self, state: AppState, principal: Principal, option_id: PathId) -> Response[Option]:
        """One option of the store."""
        return raw_json(found(await queries.get_option(state.pool, principal.store_id, option_id), "Option"))

    @patch("/options/{option_id:int}", operation_id="UpdateOption", security=api_key("menu:write"),
           summary="Change an option (price, sold out, ...); only the fields sent change",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such option in this store")})
    async def update_option(self, state: AppState, principal: Principal, option_id: PathId,
                            data: OptionUpdate) -> Response[Option]:
        """Change an option; only the fields sent change (`available: false` marks it sold out: orders choosing
        it are refused from then on). Orders already placed keep the name and price they were placed with.
        Announced as `menu.updated`."""
        document = await queries.update_option(state.pool, principal.store_id, option_id, changed_fields(data))
        document = found(document, "Option")
        menu_changed(state, principal.store_id)
        return raw_json(document)

    @delete("/options/{option_id:int}", operation_id="DeleteOption", security=api_key("menu:write"),
            summary="Delete an option (past orders keep what they chose)",
            responses={**AUTH_PROBLEMS, 404: problem_spec("No such option in this store")})
    async def delete_option(self, state: AppState, principal: Principal, option_id: PathId) -> None:
        """Delete an option. Past orders keep the options they were placed with. Announced as `menu.updated`."""
        if not await queries.delete_option(state.pool, principal.store_id, option_id):
            raise not_found("Option")
        menu_changed(state, principal.store_id)
