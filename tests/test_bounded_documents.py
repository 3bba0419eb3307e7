"""Documents that are not paged have a bounded size (issue 9, finding D7): a table session holds at most
SESSION_MAX_ORDERS orders, a store's menu at most 500 items in at most 100 categories, and a worker
keeps at most MENU_CACHE_MAX_BYTES of menus. So the largest GET /orders and GET /menu a hostile
tablet or a hostile store can make are known in advance, and asserted here."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx
import pytest

from tableorder.menu.cache import MENU_CACHE_MAX_BYTES, MenuCache
from tests.helpers import Store, Stores, place

SESSION_MAX_ORDERS = 200  # SESSION_MAX_ORDERS's default, which the shared test server runs with
MENU_MAX_ITEMS = 500
MENU_MAX_CATEGORIES = 100
LINES = 50  # the most lines an order may have
PROBLEM_JSON = "application/problem+json"

# The costliest text PostgreSQL can put in a JSON document: a control character, escaped as \u0001 (6 bytes
# for one character; a 4-byte emoji is less).
WORST = "\x01"

# The largest order: 50 lines, each naming a menu item of 100 such characters (600 bytes) with ids, prices
# and quantities at their maxima (about 120 bytes more), a note of 500 (3,000 bytes), and about 400 bytes
# of the order's own fields: under 40,000 bytes. GET /orders is the session and at most 200 orders.
ORDER_MAX_BYTES = 40_000
TABLE_ORDERS_MAX_BYTES = SESSION_MAX_ORDERS * ORDER_MAX_BYTES + 1_000  # 8.0 MB

# The largest menu: 500 items of a 100-character name, a 1,000-character description and a
# 2,048-character image URL (3,140 escaped characters, 18,840 bytes, plus about 200 of other fields), in
# 100 categories of a 50-character name (300 bytes plus about 100): under 19,100 and 400 bytes each.
MENU_ITEM_MAX_BYTES = 19_100
MENU_CATEGORY_MAX_BYTES = 400
MENU_MAX_BYTES = MENU_MAX_ITEMS * MENU_ITEM_MAX_BYTES + MENU_MAX_CATEGORIES * MENU_CATEGORY_MAX_BYTES + 1_000  # 9.6 MB


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text[:500]
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def _fill_session(pool: asyncpg.Pool, store: Store, table_number: int, orders: int, item: int,
                        note: str | None = None) -> None:
    """`orders` orders of 50 lines placed at the table in one statement (as place_order places them,
    without the limits of the API), then moved an hour back so the order rate does not count them."""
    table = store.tables[table_number]
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "SELECT place_order($1, $2, $3, $4, $5, NULL, NULL) FROM generate_series(1, $6)",
            store.id, table.id, [item] * LINES, [99] * LINES, note, orders)
        await conn.execute("UPDATE orders SET created_at = created_at - interval '1 hour' WHERE table_id = $1",
                           table.id)


# --- a table session holds at most SESSION_MAX_ORDERS orders ----------------------------------------


async def test_a_session_holds_at_most_200_orders_then_staff_close_it(client: httpx.AsyncClient, stores: Stores,
                                                                     pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    await _fill_session(pool, store, 1, SESSION_MAX_ORDERS - 1, item)

    last = await place(client, table, [(item, 1)], idempotency_key="last")
    assert last.status_code == 201, last.text
    refused = await place(client, table, [(item, 1)], idempotency_key="one-too-many")
    problem = assert_problem(refused, 409)
    assert problem["type"].endswith(":session-full")
    assert "200 orders" in problem["detail"] and "close the session" in problem["detail"]
    assert "Retry-After" not in refused.headers  # waiting does not help; staff closing the session does
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE table_id = $1", table.id) == SESSION_MAX_ORDERS

    # A retry of the accepted order is still answered with it, not refused.
    replay = await place(client, table, [(item, 1)], idempotency_key="last")
    assert replay.status_code == 201 and replay.json()["id"] == last.json()["id"]
    # The bound is per session: another table orders as usual...
    assert (await place(client, store.tables[2], [(item, 1)])).status_code == 201
    # ...and once staff close the full session, the table starts a new one.
    closed = await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    assert closed.status_code == 200 and closed.json()["order_count"] == SESSION_MAX_ORDERS
    again = await place(client, table, [(item, 1)], idempotency_key="one-too-many")
    assert again.status_code == 201, again.text
    assert again.json()["session_id"] != last.json()["session_id"]


async def test_concurrent_orders_never_pass_the_bound(client: httpx.AsyncClient, stores: Stores,
                                                      pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    await _fill_session(pool, store, 1, SESSION_MAX_ORDERS - 5, item)
    burst = await asyncio.gather(*(place(client, store.tables[1], [(item, 1)]) for _ in range(15)))
    assert sorted(r.status_code for r in burst) == [201] * 5 + [409] * 10
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE table_id = $1",
                               store.tables[1].id) == SESSION_MAX_ORDERS


async def test_the_largest_table_orders_document_stays_under_its_budget(
        client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    """The worst a guest can do: fill the session with 50-line orders of the longest-named item at the
    highest price and quantity, each with the costliest 500-character note, then keep ordering."""
    store = await stores.create()
    item = await pool.fetchval(
        "INSERT INTO menu_items (store_id, category_id, name, price) VALUES ($1, $2, $3, 10000000) RETURNING id",
        store.id, store.category_id, WORST * 100)
    note = WORST * 500
    await _fill_session(pool, store, 1, SESSION_MAX_ORDERS - 1, item, note)
    statuses = [(await place(client, store.tables[1], [(item, 99)] * LINES, note=note)).status_code
                for _ in range(10)]

    response = await client.get("/orders", headers=store.tables[1].headers)
    assert response.status_code == 200
    size = len(response.content)
    assert size <= TABLE_ORDERS_MAX_BYTES, f"GET /orders is {size:,} bytes"
    assert size > 0.95 * TABLE_ORDERS_MAX_BYTES  # the worst case indeed: the budget is not loose
    assert statuses == [201] + [409] * 9
    document = response.json()
    assert len(document["orders"]) == SESSION_MAX_ORDERS
    assert all(len(order["items"]) == LINES and order["note"] == note for order in document["orders"])


# --- a menu holds at most 500 items in at most 100 categories ---------------------------------------


async def _fill_menu(pool: asyncpg.Pool, store: Store, categories: int, items: int, text: str = "x") -> None:
    """Categories and items added in SQL up to the given totals for the store, every text at its longest."""
    async with pool.acquire() as conn, conn.transaction():
        have = await conn.fetchval("SELECT count(*) FROM menu_categories WHERE store_id = $1", store.id)
        await conn.execute(
            "INSERT INTO menu_categories (store_id, name, sort_order)"
            " SELECT $1, repeat($2, 50), -1000000 FROM generate_series(1, $3)", store.id, text, categories - have)
        have = await conn.fetchval("SELECT count(*) FROM menu_items WHERE store_id = $1", store.id)
        await conn.execute(
            """INSERT INTO menu_items (store_id, category_id, name, description, image_url, price, sort_order,
                                       available)
               SELECT $1, c.id, repeat($2, 100), repeat($2, 1000), 'https://' || repeat($2, 2040), 10000000,
                      -1000000, false
                 FROM generate_series(1, $3) AS n
                 JOIN LATERAL (SELECT id FROM menu_categories WHERE store_id = $1
                                ORDER BY id OFFSET n % $4 LIMIT 1) c ON true""",
            store.id, text, items - have, categories)


async def test_a_menu_holds_at_most_500_items(client: httpx.AsyncClient, stores: Stores,
                                              pool: asyncpg.Pool) -> None:
    store = await stores.create()
    await _fill_menu(pool, store, 1, MENU_MAX_ITEMS - 1)
    new_item = {"category_id": store.category_id, "name": "One more", "price": 1000}
    last = await client.post("/admin/menu-items", headers=store.admin, json=new_item)
    assert last.status_code == 201, last.text
    refused = await client.post("/admin/menu-items", headers=store.admin, json=new_item)
    problem = assert_problem(refused, 409)
    assert problem["type"].endswith(":menu-full")
    assert "500 items" in problem["detail"]
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE store_id = $1", store.id) == MENU_MAX_ITEMS
    # Deleting one makes room for one.
    assert (await client.delete(f"/admin/menu-items/{last.json()['id']}", headers=store.admin)).status_code == 204
    assert (await client.post("/admin/menu-items", headers=store.admin, json=new_item)).status_code == 201


async def test_a_menu_holds_at_most_100_categories(client: httpx.AsyncClient, stores: Stores,
                                                   pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    await _fill_menu(pool, store, MENU_MAX_CATEGORIES - 1, 1)
    last = await client.post("/admin/categories", headers=store.admin, json={"name": "Last"})
    assert last.status_code == 201, last.text
    refused = await client.post("/admin/categories", headers=store.admin, json={"name": "One more"})
    problem = assert_problem(refused, 409)
    assert problem["type"].endswith(":menu-full")
    assert "100 categories" in problem["detail"]
    assert await pool.fetchval("SELECT count(*) FROM menu_categories WHERE store_id = $1",
                               store.id) == MENU_MAX_CATEGORIES


async def test_racing_writers_never_pass_the_menu_bound(client: httpx.AsyncClient, stores: Stores,
                                                        pool: asyncpg.Pool) -> None:
    """Counted in the database, one writer of a store's menu at a time: what replicas racing would do."""
    store = await stores.create()
    await _fill_menu(pool, store, 1, MENU_MAX_ITEMS - 10)
    burst = await asyncio.gather(*(
        client.post("/admin/menu-items", headers=store.admin,
                    json={"category_id": store.category_id, "name": f"Rush {n}", "price": 100})
        for n in range(30)))
    assert sorted(r.status_code for r in burst) == [201] * 10 + [409] * 20
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE store_id = $1", store.id) == MENU_MAX_ITEMS
    # The same in SQL, two transactions at once: the second waits for the first and is refused.
    await pool.execute("DELETE FROM menu_items WHERE id = $1", burst[0].json()["id"])
    insert = "INSERT INTO menu_items (store_id, category_id, name, price) VALUES ($1, $2, 'SQL', 1)"
    async with pool.acquire() as first, pool.acquire() as second:
        tx = first.transaction()
        await tx.start()
        await first.execute(insert, store.id, store.category_id)
        racing = asyncio.ensure_future(second.execute(insert, store.id, store.category_id))
        for _ in range(200):
            if await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1",
                                   second.get_server_pid()) == "Lock":
                break
            await asyncio.sleep(0.05)
        await tx.commit()
        with pytest.raises(asyncpg.PostgresError) as refused:
            await racing
    assert refused.value.sqlstate == "TOCAP"
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE store_id = $1", store.id) == MENU_MAX_ITEMS


async def test_the_largest_menu_stays_under_its_budget(client: httpx.AsyncClient, stores: Stores,
                                                       pool: asyncpg.Pool) -> None:
    """The worst a store can do: every category and item at its longest, in the costliest characters,
    then keep adding."""
    store = await stores.create(items=0)
    await pool.execute("UPDATE menu_categories SET name = repeat($2, 50) WHERE id = $1", store.category_id, WORST)
    await _fill_menu(pool, store, MENU_MAX_CATEGORIES, MENU_MAX_ITEMS, WORST)
    extra = {"category_id": store.category_id, "name": WORST * 100, "description": WORST * 1000,
             "image_url": "https://" + WORST * 2040, "price": 10_000_000}
    added = [await client.post("/admin/menu-items", headers=store.admin, json=extra) for _ in range(5)]
    more = await client.post("/admin/categories", headers=store.admin, json={"name": WORST * 50})

    response = await client.get("/menu", headers=store.tables[1].headers)
    assert response.status_code == 200
    size = len(response.content)
    assert size <= MENU_MAX_BYTES, f"GET /menu is {size:,} bytes"
    assert size > 0.95 * MENU_MAX_BYTES  # the worst case indeed: the budget is not loose
    assert size <= MENU_CACHE_MAX_BYTES  # so even the largest menu can be cached
    assert [r.status_code for r in added] == [409] * 5 and more.status_code == 409
    menu = response.json()
    assert len(menu["categories"]) == MENU_MAX_CATEGORIES
    assert sum(len(c["items"]) for c in menu["categories"]) == MENU_MAX_ITEMS


# --- a worker keeps at most MENU_CACHE_MAX_BYTES of menus --------------------------------------------


async def test_the_menu_cache_keeps_the_recently_read_menus_within_its_budget() -> None:
    cache = MenuCache()
    cache.enabled = True
    loads: list[int] = []
    body_size = 3 * 1024 * 1024  # a large menu (a store at the bounds above is 9.6 MB)

    async def load(store_id: int, languages: tuple[str, ...]) -> bytes:
        loads.append(store_id)
        return b'{"store": %d, "filler": "%s"}' % (store_id, b"x" * body_size)

    for store_id in range(1, 21):  # twenty stores' menus, 60 MB in all
        menu = await cache.get(store_id, load)
        assert menu is not None and menu.body.startswith(b'{"store": %d,' % store_id)
        await cache.get(1, load)  # store 1's tablets keep reading
    assert len(cache) * body_size <= MENU_CACHE_MAX_BYTES
    assert cache.nbytes <= MENU_CACHE_MAX_BYTES
    # The least recently read went first: store 1 and the newest stayed.
    loads.clear()
    for store_id in (1, 20, 19):
        await cache.get(store_id, load)
    assert loads == []
    await cache.get(2, load)
    assert loads == [2]


async def test_a_menu_larger_than_the_whole_budget_is_served_but_not_kept() -> None:
    cache = MenuCache(max_bytes=1_000)
    cache.enabled = True

    async def load(store_id: int, languages: tuple[str, ...]) -> bytes:
        return b'"%s"' % (b"y" * 2_000)

    assert (await cache.get(1, load)) is not None
    assert len(cache) == 0 and cache.nbytes == 0


async def test_tablets_asking_at_once_share_one_load_of_the_menu() -> None:
    """After a menu change every tablet of the store asks again at once: one load of the (up to 9.6 MB)
    menu serves them all, rather than one copy per request in the worker at the same time."""
    cache = MenuCache()
    cache.enabled = True
    loads: list[int] = []
    release = asyncio.Event()

    async def load(store_id: int, languages: tuple[str, ...]) -> bytes:
        loads.append(store_id)
        n = len(loads)
        await release.wait()
        return b'{"menu": %d}' % n

    asking = [asyncio.ensure_future(cache.get(1, load)) for _ in range(12)]
    await asyncio.sleep(0.05)
    release.set()
    menus = await asyncio.gather(*asking)
    assert loads == [1]
    assert [menu.body for menu in menus if menu is not None] == [b'{"menu": 1}'] * 12

    # A change while a load is under way: who asks after it does not join that load (it may have read
    # the older menu) but gets one of its own, and only that one is kept.
    release.clear()
    cache.invalidate(1)
    before = asyncio.ensure_future(cache.get(1, load))
    await asyncio.sleep(0.02)
    cache.invalidate(1)
    after = asyncio.ensure_future(cache.get(1, load))
    await asyncio.sleep(0.02)
    release.set()
    older, newer = await before, await after
    assert older is not None and newer is not None
    assert (older.body, newer.body) == (b'{"menu": 2}', b'{"menu": 3}')
    kept = await cache.get(1, load)
    assert kept is not None and kept.body == b'{"menu": 3}' and loads == [1, 1, 1]


async def test_a_failed_load_fails_every_request_waiting_for_it_and_the_next_one_retries() -> None:
    cache = MenuCache()
    cache.enabled = True
    calls = 0

    async def load(store_id: int, languages: tuple[str, ...]) -> bytes:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.02)
        if calls == 1:
            raise ConnectionError("database gone")
        return b"{}"

    results = await asyncio.gather(*(cache.get(1, load) for _ in range(5)), return_exceptions=True)
    assert calls == 1 and all(isinstance(r, ConnectionError) for r in results)
    menu = await cache.get(1, load)
    assert calls == 2 and menu is not None and menu.body == b"{}"


# --- a history page holds as many closed sessions as fit in about HISTORY_PAGE_ORDERS orders ------------

async def test_a_history_page_is_bounded_by_orders_not_only_by_sessions(
        client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    from tableorder.tables.queries import HISTORY_PAGE_ORDERS

    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    per_session = HISTORY_PAGE_ORDERS * 3 // 4
    for _ in range(3):
        await _fill_session(pool, store, 1, per_session, item)
        closed = await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
        assert closed.status_code == 200
    first = (await client.get(f"/admin/tables/{table.id}/history", headers=store.admin,
                              params={"limit": 100})).json()
    # The first session fits, the second starts within the budget, the third would pass it.
    assert (len(first["items"]), first["total"]) == (2, 3)
    assert sum(len(session["orders"]) for session in first["items"]) == 2 * per_session
    rest = (await client.get(f"/admin/tables/{table.id}/history", headers=store.admin,
                             params={"limit": 100, "offset": len(first["items"])})).json()
    assert len(rest["items"]) == 1
    assert {s["id"] for s in first["items"]}.isdisjoint({s["id"] for s in rest["items"]})
