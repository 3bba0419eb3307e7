"""Placing and running orders against real PostgreSQL through a real server."""

from __future__ import annotations

import asyncio
import datetime as dt
from typing import Any

import asyncpg
import httpx

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, place


async def test_server_prices_the_order_and_keeps_snapshots(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    (a, (name_a, price_a)), (b, (name_b, price_b)) = list(store.items.items())[:2]
    response = await client.post("/orders", headers=store.tables[1].headers, json={
        "items": [{"menu_item_id": a, "quantity": 2}, {"menu_item_id": b, "quantity": 1}], "note": "no onions"})
    assert response.status_code == 201, response.text
    order = response.json()
    assert order["status"] == "pending"
    assert order["table_number"] == 1 and order["table_id"] == store.tables[1].id
    assert [(line["name"], line["unit_price"], line["quantity"], line["line_total"]) for line in order["items"]] == [
        (name_a, price_a, 2, 2 * price_a), (name_b, price_b, 1, price_b)]
    assert order["total_amount"] == 2 * price_a + price_b
    assert order["note"] == "no onions"


async def test_client_sent_prices_are_refused(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    response = await client.post("/orders", headers=store.tables[1].headers, json={
        "items": [{"menu_item_id": item, "quantity": 1, "unit_price": 1}]})
    assert response.status_code == 422
    assert response.headers["content-type"].startswith("application/problem+json")


async def test_unknown_and_sold_out_items_are_named(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    ok, sold_out = store.item_ids()[:2]
    patched = await client.patch(f"/admin/menu-items/{sold_out}", headers=store.admin, json={"available": False})
    assert patched.status_code == 200 and patched.json()["available"] is False
    response = await place(client, store.tables[1], [(ok, 1), (sold_out, 1), (987654321, 1)])
    assert response.status_code == 422
    errors = response.json()["errors"]
    assert {"field": "items[1].menu_item_id", "message": f"menu item {sold_out} is sold out"} in errors
    assert {"field": "items[2].menu_item_id", "message": "menu item 987654321 does not exist"} in errors
    listing = await client.get("/orders", headers=store.tables[1].headers)
    assert listing.json()["orders"] == []  # nothing was written


async def test_twenty_concurrent_first_orders_open_one_session(client: httpx.AsyncClient, stores: Stores,
                                                              pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    responses = await asyncio.gather(*(place(client, store.tables[1], [(item, 1)]) for _ in range(20)))
    assert [r.status_code for r in responses] == [201] * 20
    orders = [r.json() for r in responses]
    assert len({o["session_id"] for o in orders}) == 1
    numbers = [o["order_no"] for o in orders]
    assert sorted(numbers) == list(range(1, 21))
    open_sessions = await pool.fetchval(
        "SELECT count(*) FROM table_sessions WHERE table_id = $1 AND closed_at IS NULL", store.tables[1].id)
    assert open_sessions == 1
    # order_no increases with creation time
    by_time = sorted(orders, key=lambda o: (o["created_at"], o["id"]))
    assert [o["order_no"] for o in by_time] == sorted(numbers)


async def test_fifty_concurrent_orders_across_tables(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=10)
    item = store.item_ids()[0]
    responses = await asyncio.gather(*(place(client, store.tables[1 + i % 10], [(item, 1 + i % 3)])
                                       for i in range(50)))
    assert [r.status_code for r in responses] == [201] * 50
    numbers = [r.json()["order_no"] for r in responses]
    assert sorted(numbers) == list(range(1, 51))
    sessions = {r.json()["table_id"]: r.json()["session_id"] for r in responses}
    assert len(set(sessions.values())) == 10


async def test_idempotency_key_replays_the_same_order(client: httpx.AsyncClient, stores: Stores,
                                                      pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    first = await place(client, store.tables[1], [(item, 2)], idempotency_key="tap-1")
    again = await place(client, store.tables[1], [(item, 2)], idempotency_key="tap-1")
    assert first.status_code == 201 and again.status_code == 201
    assert again.json() == first.json()
    assert again.headers.get("idempotent-replayed") == "true"
    other = await place(client, store.tables[1], [(item, 3)], idempotency_key="tap-1")
    assert other.status_code == 409
    assert "Idempotency-Key" in other.json()["detail"]
    count = await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id)
    assert count == 1


async def test_concurrent_replays_make_one_order(client: httpx.AsyncClient, stores: Stores,
                                                 pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    responses = await asyncio.gather(*(place(client, store.tables[2], [(item, 1)], idempotency_key="double-tap")
                                       for _ in range(10)))
    assert [r.status_code for r in responses] == [201] * 10
    assert len({r.json()["id"] for r in responses}) == 1
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id) == 1


async def test_status_moves_forward_only(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    order = (await place(client, store.tables[1], [(store.item_ids()[0], 1)])).json()
    url = f"/admin/orders/{order['id']}"
    moved = await client.patch(url, headers=store.admin, json={"status": "preparing"})
    assert moved.status_code == 200 and moved.json()["status"] == "preparing"
    assert (await client.patch(url, headers=store.admin, json={"status": "pending"})).status_code == 409
    done = await client.patch(url, headers=store.admin, json={"status": "completed"})
    assert done.status_code == 200 and done.json()["status"] == "completed"
    for status in ("preparing", "cancelled"):
        refused = await client.patch(url, headers=store.admin, json={"status": status})
        assert refused.status_code == 409, status
        assert refused.headers["content-type"].startswith("application/problem+json")
    assert (await client.delete(url, headers=store.admin)).status_code == 409
    bad = await client.patch(url, headers=store.admin, json={"status": "eaten"})
    assert bad.status_code == 422


async def test_cancel_recomputes_totals(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item, (_, price) = next(iter(store.items.items()))
    keep = (await place(client, store.tables[1], [(item, 1)])).json()
    drop = (await place(client, store.tables[1], [(item, 3)])).json()
    before = (await client.get("/orders", headers=store.tables[1].headers)).json()
    assert before["total_amount"] == 4 * price and before["session"]["order_count"] == 2
    cancelled = await client.delete(f"/admin/orders/{drop['id']}", headers=store.admin)
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    after = (await client.get("/orders", headers=store.tables[1].headers)).json()
    assert after["total_amount"] == price and after["session"]["order_count"] == 1
    assert [o["id"] for o in after["orders"]] == [drop["id"], keep["id"]]  # newest first, cancelled kept
    tables = (await client.get("/admin/tables", headers=store.admin)).json()
    assert tables[0]["session"]["total_amount"] == price


async def test_admin_order_filters(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    o1 = (await place(client, store.tables[1], [(item, 1)])).json()
    o2 = (await place(client, store.tables[2], [(item, 1)])).json()
    await client.patch(f"/admin/orders/{o2['id']}", headers=store.admin, json={"status": "preparing"})
    everything = (await client.get("/admin/orders", headers=store.admin)).json()
    assert [o["id"] for o in everything["items"]] == [o2["id"], o1["id"]]
    assert everything["next_cursor"] is None
    preparing = (await client.get("/admin/orders", params={"status": "preparing"}, headers=store.admin)).json()
    assert [o["id"] for o in preparing["items"]] == [o2["id"]]
    table_1 = (await client.get("/admin/orders", params={"table_id": store.tables[1].id}, headers=store.admin))
    assert [o["id"] for o in table_1.json()["items"]] == [o1["id"]]


async def test_close_session_moves_orders_to_history(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[1]
    item, (_, price) = next(iter(store.items.items()))
    first = (await place(client, table, [(item, 2)])).json()
    closed = await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    assert closed.status_code == 200
    summary = closed.json()
    assert summary["id"] == first["session_id"] and summary["closed_at"] is not None
    assert summary["total_amount"] == 2 * price and summary["order_count"] == 1
    again = await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    assert again.status_code == 409
    view = (await client.get("/orders", headers=table.headers)).json()
    assert view == {"session": None, "total_amount": 0, "orders": []}
    assert (await client.get("/admin/orders", headers=store.admin)).json() == {"items": [], "next_cursor": None}
    second = (await place(client, table, [(item, 1)])).json()
    assert second["session_id"] != first["session_id"]
    history = (await client.get(f"/admin/tables/{table.id}/history", headers=store.admin)).json()
    assert history["total"] == 1
    assert history["items"][0]["id"] == first["session_id"]
    assert [o["id"] for o in history["items"][0]["orders"]] == [first["id"]]


async def test_history_filters_by_date_and_paginates(client: httpx.AsyncClient, stores: Stores,
                                                     pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    sessions = []
    for _ in range(5):
        order = (await place(client, table, [(item, 1)])).json()
        assert (await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)).status_code == 200
        sessions.append(order["session_id"])
    # Spread the sessions over five days (store time zone: Asia/Seoul), oldest first.
    for days_ago, session_id in zip(range(4, -1, -1), sessions, strict=True):
        await pool.execute(
            "UPDATE table_sessions SET started_at = started_at - make_interval(days => $2),"
            " closed_at = closed_at - make_interval(days => $2) WHERE id = $1", session_id, days_ago)
    url = f"/admin/tables/{table.id}/history"
    page1 = (await client.get(url, params={"limit": 2}, headers=store.admin)).json()
    page2 = (await client.get(url, params={"limit": 2, "offset": 2}, headers=store.admin)).json()
    page3 = (await client.get(url, params={"limit": 2, "offset": 4}, headers=store.admin)).json()
    assert page1["total"] == 5
    assert [s["id"] for s in page1["items"] + page2["items"] + page3["items"]] == sessions[::-1]
    today = (await pool.fetchval("SELECT (closed_at AT TIME ZONE 'Asia/Seoul')::date FROM table_sessions "
                                 "WHERE id = $1", sessions[-1]))
    window = {"from": str(today - dt.timedelta(days=3)), "to": str(today - dt.timedelta(days=1))}
    filtered = (await client.get(url, params=window, headers=store.admin)).json()
    assert [s["id"] for s in filtered["items"]] == sessions[1:4][::-1]
    backwards = await client.get(url, params={"from": str(today), "to": str(today - dt.timedelta(days=1))},
                                 headers=store.admin)
    assert backwards.status_code == 422


async def test_deleting_a_menu_item_keeps_past_lines(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item, (name, price) = next(iter(store.items.items()))
    order = (await place(client, store.tables[1], [(item, 2)])).json()
    assert (await client.delete(f"/admin/menu-items/{item}", headers=store.admin)).status_code == 204
    orders = (await client.get("/orders", headers=store.tables[1].headers)).json()["orders"]
    line = orders[0]["items"][0]
    assert orders[0]["id"] == order["id"]
    assert line == {"menu_item_id": None, "name": name, "unit_price": price, "quantity": 2, "options": [],
                    "line_total": 2 * price}


# --- order floods (issue 9, point 9): a rate per table, and a paged board ---------------------------

RATE_LIMIT = 20  # ORDER_RATE_LIMIT_PER_MINUTE's default, which the shared test server runs with
PROBLEM_JSON = "application/problem+json"


def retry_after(response: httpx.Response) -> int:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["status"] == 429
    return int(response.headers["retry-after"])


async def test_a_table_places_at_most_twenty_orders_a_minute(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    first = await place(client, table, [(item, 1)], idempotency_key="first")
    assert first.status_code == 201
    # Counted under the table's row lock: of 24 at once, exactly as many as the window has room for.
    burst = await asyncio.gather(*(place(client, table, [(item, 1)]) for _ in range(24)))
    statuses = sorted(r.status_code for r in burst)
    assert statuses == [201] * (RATE_LIMIT - 1) + [429] * (24 - RATE_LIMIT + 1)
    refused = next(r for r in burst if r.status_code == 429)
    assert 1 <= retry_after(refused) <= 60
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE table_id = $1", table.id) == RATE_LIMIT

    # A retry of an accepted order is answered as before: replays take no slot and are never refused.
    replay = await place(client, table, [(item, 1)], idempotency_key="first")
    assert replay.status_code == 201 and replay.json()["id"] == first.json()["id"]
    assert replay.headers.get("idempotent-replayed") == "true"
    # A new key is a new order: refused, and not remembered (a later retry of it is a new attempt).
    assert (await place(client, table, [(item, 1)], idempotency_key="second")).status_code == 429
    # The limit is per table: the next table orders as usual.
    assert (await place(client, store.tables[2], [(item, 1)])).status_code == 201

    # A sliding window of 60 seconds: Retry-After counts down to when the oldest order leaves it...
    await pool.execute("UPDATE orders SET created_at = created_at - interval '50 seconds' WHERE id = $1",
                       first.json()["id"])
    assert retry_after(await place(client, table, [(item, 1)])) <= 10
    # ...and once it has left, exactly one more order fits.
    await pool.execute("UPDATE orders SET created_at = created_at - interval '11 seconds' WHERE id = $1",
                       first.json()["id"])
    assert (await place(client, table, [(item, 1)], idempotency_key="second")).status_code == 201
    assert (await place(client, table, [(item, 1)])).status_code == 429


async def _place_many(client: httpx.AsyncClient, store: Store, count: int) -> list[int]:
    """`count` orders spread over the store's tables (within each table's rate), oldest first."""
    item = store.item_ids()[0]
    ids = []
    for n in range(count):
        response = await place(client, store.tables[1 + n % len(store.tables)], [(item, 1 + n % 3)])
        assert response.status_code == 201, response.text
        ids.append(response.json()["id"])
    return ids


async def _pages(client: httpx.AsyncClient, store: Store, **params: Any) -> list[dict[str, Any]]:
    pages = []
    cursor = None
    while True:
        response = await client.get("/admin/orders", headers=store.admin,
                                    params={**params, **({"cursor": cursor} if cursor else {})})
        assert response.status_code == 200, response.text
        pages.append(response.json())
        cursor = pages[-1]["next_cursor"]
        if cursor is None:
            return pages
        assert len(pages) < 100


async def test_the_board_pages_orders_newest_first(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=3)
    placed = await _place_many(client, store, 7)
    pages = await _pages(client, store, limit=3)
    assert [len(page["items"]) for page in pages] == [3, 3, 1]
    assert [o["id"] for page in pages for o in page["items"]] == placed[::-1]
    assert all(isinstance(page["next_cursor"], str) for page in pages[:-1])

    # Keyset paging: orders placed meanwhile show on the first page, never shift a later one.
    second_page = (await client.get("/admin/orders", headers=store.admin,
                                    params={"limit": 3, "cursor": pages[0]["next_cursor"]})).json()
    newer = await _place_many(client, store, 2)
    again = (await client.get("/admin/orders", headers=store.admin,
                              params={"limit": 3, "cursor": pages[0]["next_cursor"]})).json()
    assert again == second_page
    first = (await client.get("/admin/orders", headers=store.admin, params={"limit": 3})).json()
    assert [o["id"] for o in first["items"]] == [newer[1], newer[0], placed[-1]]

    # Filters page the same way.
    table_1 = await _pages(client, store, limit=2, table_id=store.tables[1].id)
    assert [len(page["items"]) for page in table_1] == [2, 2]
    assert [o["id"] for page in table_1 for o in page["items"]] == [newer[0], placed[6], placed[3], placed[0]]


async def test_the_board_gives_a_hundred_orders_a_page_by_default(client: httpx.AsyncClient,
                                                                  stores: Stores) -> None:
    store = await stores.create(tables=6)
    placed = await _place_many(client, store, 101)
    pages = await _pages(client, store)
    assert [len(page["items"]) for page in pages] == [100, 1]
    assert [o["id"] for page in pages for o in page["items"]] == placed[::-1]
    whole = (await client.get("/admin/orders", headers=store.admin, params={"limit": 500})).json()
    assert [o["id"] for o in whole["items"]] == placed[::-1] and whole["next_cursor"] is None


async def test_bad_page_parameters_are_422_naming_them(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    await _place_many(client, store, 2)
    good = (await client.get("/admin/orders", headers=store.admin, params={"limit": 1})).json()["next_cursor"]
    assert isinstance(good, str)
    for params, field in (({"limit": 0}, "limit"), ({"limit": 501}, "limit"), ({"limit": "ten"}, "limit"),
                          ({"cursor": "not-a-cursor"}, "cursor"), ({"cursor": good + "A"}, "cursor"),
                          ({"cursor": good[:-1] + "!"}, "cursor"), ({"cursor": ""}, "cursor"),
                          ({"cursor": "x" * 1000}, "cursor")):
        response = await client.get("/admin/orders", headers=store.admin, params=params)
        assert response.status_code == 422, (params, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert any(field in error["field"] for error in response.json()["errors"]), (params, response.text)
    # Any cursor of the documented form (22 base64url characters) is a position, whatever it decodes to:
    # the start of time and id 0 (an empty page), a time past any calendar (the newest orders).
    assert (await client.get("/admin/orders", headers=store.admin, params={"cursor": "A" * 22})).json() == {
        "items": [], "next_cursor": None}
    beyond = (await client.get("/admin/orders", headers=store.admin, params={"cursor": "f" * 22})).json()
    assert len(beyond["items"]) == 2


async def test_the_page_is_documented(server: ServerProcess) -> None:
    async with httpx.AsyncClient() as plain:
        document = (await plain.get(f"{server.url}/schema/openapi.json")).json()
    operation = document["paths"]["/api/v1/admin/orders"]["get"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert parameters["limit"]["schema"]["maximum"] == 500 and parameters["limit"]["schema"]["default"] == 100
    assert parameters["cursor"]["required"] is False
    page_ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    page = document["components"]["schemas"][page_ref.rsplit("/", 1)[1]]
    assert set(page["required"]) == {"items", "next_cursor"}
    assert page["properties"]["items"]["type"] == "array"
    placed = document["paths"]["/api/v1/orders"]["post"]["responses"]
    assert "429" in placed
