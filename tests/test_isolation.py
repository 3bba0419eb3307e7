"""Tenant isolation: one store's admin never reaches another store's data, a table sees only its own
orders, and every token reaches only the endpoints of its kind (SPEC section 3, Auth)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, place

GHOST_ID = 2**63 - 1  # a valid id that no row will ever have


@dataclass
class Scene:
    """Store A with real data in every resource, and an unrelated store B."""

    a: Store
    b: Store
    ids: dict[str, int]


async def build_scene(client: httpx.AsyncClient, stores: Stores) -> Scene:
    a = await stores.create(tables=3)
    b = await stores.create(tables=2)
    order = await place(client, a.tables[1], [(a.item_ids()[0], 2)], note="A's order")
    assert order.status_code == 201, order.text
    empty = await client.post("/admin/categories", headers=a.admin, json={"name": "Empty"})
    assert empty.status_code == 201, empty.text
    ids = {
        "table": a.tables[3].id,  # no session: a leaked DELETE would remove it
        "busy_table": a.tables[1].id,  # open session: a leaked close-session would close it
        "order": order.json()["id"],
        "category": a.category_id,  # still has items
        "empty_category": empty.json()["id"],  # a leaked DELETE would remove it
        "item": a.item_ids()[1],
    }
    return Scene(a=a, b=b, ids=ids)


def fill(value: Any, ids: dict[str, int]) -> Any:
    """Replace "{name}" placeholders (in paths and in body values) with the scene's ids."""
    if isinstance(value, str):
        if value.startswith("{") and value.endswith("}") and value[1:-1] in ids:
            return ids[value[1:-1]]
        return value.format(**ids)
    if isinstance(value, dict):
        return {k: fill(v, ids) for k, v in value.items()}
    return value


# Admin endpoints that name one resource by id.
ADMIN_BY_ID: list[tuple[str, str, dict[str, Any] | None]] = [
    ("PATCH", "/admin/tables/{table}", {"password": "hijacked-pass"}),
    ("DELETE", "/admin/tables/{table}", None),
    ("POST", "/admin/tables/{busy_table}/close-session", None),
    ("GET", "/admin/tables/{busy_table}/history", None),
    ("GET", "/admin/tables/{busy_table}/history?from=2000-01-01&to=2100-01-01", None),
    ("PATCH", "/admin/orders/{order}", {"status": "preparing"}),
    ("DELETE", "/admin/orders/{order}", None),
    ("PATCH", "/admin/categories/{category}", {"name": "Hijacked"}),
    ("PATCH", "/admin/categories/{category}", {}),
    ("DELETE", "/admin/categories/{empty_category}", None),
    ("DELETE", "/admin/categories/{category}", None),  # in A this would be a 409: B must not learn that
    ("PATCH", "/admin/menu-items/{item}", {"price": 1, "available": False}),
    ("PATCH", "/admin/menu-items/{item}", {}),
    ("DELETE", "/admin/menu-items/{item}", None),
]

ADMIN_COLLECTIONS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/admin/tables", None),
    ("POST", "/admin/tables", {"number": 77, "password": "new-table-pass"}),
    ("GET", "/admin/orders", None),
    ("GET", "/admin/orders?status=pending&table_id={busy_table}", None),
    ("GET", "/admin/categories", None),
    ("POST", "/admin/categories", {"name": "Desserts"}),
    ("GET", "/admin/menu-items", None),
    ("GET", "/admin/menu-items?category_id={category}", None),
    ("POST", "/admin/menu-items", {"category_id": "{category}", "name": "Sneaky", "price": 10}),
]

ADMIN_ENDPOINTS = ADMIN_BY_ID + ADMIN_COLLECTIONS

GUEST_ENDPOINTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/menu", None),
    ("GET", "/orders", None),
    ("POST", "/orders", {"items": [{"menu_item_id": "{item}", "quantity": 1}]}),
]


# The live feeds answer a refused token at once (a wrongly accepted one would hang until the timeout).
ADMIN_STREAM = [("GET", "/admin/orders/stream", None)]
GUEST_STREAM = [("GET", "/orders/stream", None)]


def endpoint_id(endpoint: tuple[str, str, dict[str, Any] | None]) -> str:
    method, path, body = endpoint
    return f"{method} {path}" + (f" {sorted(body)}" if body is not None else "")


Endpoint = tuple[str, str, dict[str, Any] | None]


async def call(client: httpx.AsyncClient, endpoint: Endpoint, ids: dict[str, int],
               headers: dict[str, str] | None = None) -> httpx.Response:
    method, path, body = endpoint
    kwargs: dict[str, Any] = {"headers": headers or {}}
    if body is not None:
        kwargs["json"] = fill(body, ids)
    return await client.request(method, fill(path, ids), **kwargs)


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.method, response.request.url, response.text)
    assert response.headers["content-type"].startswith("application/problem+json"), response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status
    assert problem["type"] and problem["title"] and problem["detail"]
    return problem


async def snapshot(client: httpx.AsyncClient, pool: asyncpg.Pool, store: Store) -> dict[str, Any]:
    """Everything of a store that the isolation tests could damage, as its own admin and the DB see it."""
    views: dict[str, Any] = {}
    for path in ("/admin/tables", "/admin/orders", "/admin/categories", "/admin/menu-items"):
        response = await client.get(path, headers=store.admin)
        assert response.status_code == 200, response.text
        views[path] = response.json()
    for table in store.tables.values():
        response = await client.get(f"/admin/tables/{table.id}/history", headers=store.admin)
        assert response.status_code == 200, response.text
        views[f"history {table.number}"] = response.json()
        views[f"guest orders {table.number}"] = (await client.get("/orders", headers=table.headers)).json()
    views["password hashes"] = [tuple(row) for row in await pool.fetch(
        "SELECT id, password_hash FROM tables WHERE store_id = $1 ORDER BY id", store.id)]
    views["row counts"] = tuple(await pool.fetchrow(
        """SELECT (SELECT count(*) FROM tables WHERE store_id = $1),
                  (SELECT count(*) FROM table_sessions WHERE store_id = $1),
                  (SELECT count(*) FROM orders WHERE store_id = $1),
                  (SELECT count(*) FROM menu_categories WHERE store_id = $1),
                  (SELECT count(*) FROM menu_items WHERE store_id = $1)""", store.id))
    return views


@pytest.fixture(scope="module")
async def anon(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that has never logged in, so it carries no admin cookie (the shared `client` keeps the
    cookie of every admin login made through it)."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as anon:
        anon.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # never keeps a cookie
        yield anon


@pytest.mark.parametrize("endpoint", ADMIN_BY_ID, ids=endpoint_id)
async def test_admin_cannot_reach_another_stores_resources(client: httpx.AsyncClient, stores: Stores,
                                                           pool: asyncpg.Pool, endpoint: Any) -> None:
    scene = await build_scene(client, stores)
    before = await snapshot(client, pool, scene.a)
    response = await call(client, endpoint, scene.ids, headers=scene.b.admin)
    problem = assert_problem(response, 404)
    # Indistinguishable from an id that exists nowhere: B learns nothing about A's ids.
    ghost = await call(client, endpoint, {k: GHOST_ID for k in scene.ids}, headers=scene.b.admin)
    assert ghost.status_code == 404
    # The same answer, but for `instance` (each request's own id).
    assert {**problem, "instance": None} == {**ghost.json(), "instance": None}
    assert await snapshot(client, pool, scene.a) == before


@pytest.mark.parametrize("endpoint", [e for e in ADMIN_COLLECTIONS if e[0] == "GET"], ids=endpoint_id)
async def test_admin_listings_show_only_the_own_store(client: httpx.AsyncClient, stores: Stores,
                                                      endpoint: Any) -> None:
    scene = await build_scene(client, stores)
    # B has an order and a category of its own, so its listings are not trivially empty.
    assert (await place(client, scene.b.tables[1], [(scene.b.item_ids()[0], 1)])).status_code == 201
    response = await call(client, endpoint, scene.ids, headers=scene.b.admin)
    assert response.status_code == 200, response.text
    seen_ids = {entry["id"] for entry in entries(response.json())}
    a_ids = (set(scene.ids.values()) | {t.id for t in scene.a.tables.values()} | set(scene.a.items))
    assert not seen_ids & a_ids
    own = await call(client, endpoint, scene.ids, headers=scene.a.admin)
    assert seen_ids.isdisjoint({entry["id"] for entry in entries(own.json())})


def entries(listing: Any) -> list[dict[str, Any]]:
    """A listing's entries: the items of a page (GET /admin/orders), else the plain list itself."""
    return listing["items"] if isinstance(listing, dict) else listing


async def test_admin_listings_are_the_own_store_in_full(client: httpx.AsyncClient, stores: Stores) -> None:
    scene = await build_scene(client, stores)
    b_order = await place(client, scene.b.tables[2], [(scene.b.item_ids()[0], 1)])
    tables = (await client.get("/admin/tables", headers=scene.b.admin)).json()
    assert sorted(t["id"] for t in tables) == sorted(t.id for t in scene.b.tables.values())
    orders = (await client.get("/admin/orders", headers=scene.b.admin)).json()
    assert [o["id"] for o in orders["items"]] == [b_order.json()["id"]] and orders["next_cursor"] is None
    items = (await client.get("/admin/menu-items", headers=scene.b.admin)).json()
    assert sorted(i["id"] for i in items) == sorted(scene.b.items)
    categories = (await client.get("/admin/categories", headers=scene.b.admin)).json()
    assert [c["id"] for c in categories] == [scene.b.category_id]


async def test_a_table_sees_only_its_own_orders(client: httpx.AsyncClient, stores: Stores) -> None:
    scene = await build_scene(client, stores)
    a = scene.a
    first = (await client.get("/orders", headers=a.tables[2].headers))
    assert first.status_code == 200
    assert first.json() == {"session": None, "total_amount": 0, "orders": []}
    mine = await place(client, a.tables[2], [(a.item_ids()[2], 1)])
    assert mine.status_code == 201
    listing = (await client.get("/orders", headers=a.tables[2].headers)).json()
    assert [o["id"] for o in listing["orders"]] == [mine.json()["id"]]
    assert {o["table_id"] for o in listing["orders"]} == {a.tables[2].id}
    assert listing["session"]["table_id"] == a.tables[2].id
    assert listing["total_amount"] == a.items[a.item_ids()[2]][1]
    # ...and table 1 still sees only its own order, not table 2's.
    table1 = (await client.get("/orders", headers=a.tables[1].headers)).json()
    assert [o["id"] for o in table1["orders"]] == [scene.ids["order"]]
    # B's table sees nothing of A at all.
    other = (await client.get("/orders", headers=scene.b.tables[1].headers)).json()
    assert other["orders"] == [] and other["session"] is None


async def test_a_table_reads_only_its_own_stores_menu(client: httpx.AsyncClient, stores: Stores) -> None:
    scene = await build_scene(client, stores)
    menu = (await client.get("/menu", headers=scene.b.tables[1].headers)).json()
    assert menu["store"]["id"] == scene.b.id and menu["store"]["code"] == scene.b.code
    item_ids = {item["id"] for category in menu["categories"] for item in category["items"]}
    assert item_ids == set(scene.b.items)
    assert [c["id"] for c in menu["categories"]] == [scene.b.category_id]


async def test_ordering_another_stores_menu_item_is_unknown(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    scene = await build_scene(client, stores)
    a_item = scene.ids["item"]
    own_item = scene.b.item_ids()[0]
    a_orders_before = await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", scene.a.id)
    response = await place(client, scene.b.tables[1], [(own_item, 1), (a_item, 3)])
    problem = assert_problem(response, 422)
    assert problem["errors"] == [
        {"field": "items[1].menu_item_id", "message": f"menu item {a_item} does not exist"}]
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", scene.b.id) == 0
    a_orders = await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", scene.a.id)
    assert a_orders == a_orders_before
    assert await pool.fetchval("SELECT count(*) FROM order_lines WHERE menu_item_id = $1", a_item) == 0
    # Alone, A's item is still unknown to B: never priced from A's menu.
    alone = await place(client, scene.b.tables[1], [(a_item, 1)])
    assert assert_problem(alone, 422)["errors"] == [
        {"field": "items[0].menu_item_id", "message": f"menu item {a_item} does not exist"}]
    listing = (await client.get("/orders", headers=scene.b.tables[1].headers)).json()
    assert listing["orders"] == [] and listing["total_amount"] == 0


async def test_menu_item_cannot_use_another_stores_category(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    scene = await build_scene(client, stores)
    a_category = scene.a.category_id
    before = await snapshot(client, pool, scene.a)
    created = await client.post("/admin/menu-items", headers=scene.b.admin,
                                json={"category_id": a_category, "name": "Trojan", "price": 100})
    problem = assert_problem(created, 422)
    assert [e["field"] for e in problem["errors"]] == ["category_id"]
    own_item = scene.b.item_ids()[0]
    moved = await client.patch(f"/admin/menu-items/{own_item}", headers=scene.b.admin,
                               json={"category_id": a_category})
    assert [e["field"] for e in assert_problem(moved, 422)["errors"]] == ["category_id"]
    items = (await client.get("/admin/menu-items", headers=scene.b.admin)).json()
    assert sorted(i["id"] for i in items) == sorted(scene.b.items)
    assert {i["category_id"] for i in items} == {scene.b.category_id}
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE name = 'Trojan'") == 0
    assert await snapshot(client, pool, scene.a) == before


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS + ADMIN_STREAM, ids=endpoint_id)
async def test_table_token_is_forbidden_on_admin_endpoints(client: httpx.AsyncClient, stores: Stores,
                                                           pool: asyncpg.Pool, endpoint: Any) -> None:
    scene = await build_scene(client, stores)
    before = await snapshot(client, pool, scene.a)
    # The table's own store and its own ids: the token kind alone must stop it.
    response = await call(client, endpoint, scene.ids, headers=scene.a.tables[1].headers)
    assert_problem(response, 403)
    assert await snapshot(client, pool, scene.a) == before


@pytest.mark.parametrize("endpoint", GUEST_ENDPOINTS + GUEST_STREAM, ids=endpoint_id)
async def test_admin_token_is_forbidden_on_guest_endpoints(client: httpx.AsyncClient, stores: Stores,
                                                           pool: asyncpg.Pool, endpoint: Any) -> None:
    scene = await build_scene(client, stores)
    before = await snapshot(client, pool, scene.a)
    response = await call(client, endpoint, scene.ids, headers=scene.a.admin)
    assert_problem(response, 403)
    assert await snapshot(client, pool, scene.a) == before


@pytest.mark.parametrize("endpoint", ADMIN_ENDPOINTS + GUEST_ENDPOINTS + ADMIN_STREAM + GUEST_STREAM,
                         ids=endpoint_id)
async def test_no_token_is_unauthorized(client: httpx.AsyncClient, anon: httpx.AsyncClient, stores: Stores,
                                        pool: asyncpg.Pool, endpoint: Any) -> None:
    scene = await build_scene(client, stores)
    before = await snapshot(client, pool, scene.a)
    response = await call(anon, endpoint, scene.ids)
    assert_problem(response, 401)
    assert response.headers.get("www-authenticate", "").lower().startswith("bearer")
    assert await snapshot(client, pool, scene.a) == before
