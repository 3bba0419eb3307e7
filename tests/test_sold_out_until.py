"""Sold out until a time (SPEC section 10, issue 12): the item comes back by itself at that time, with
one menu.updated that reaches the staff and the open tablets, on every replica; replicas racing
restore it once."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tableorder.menu.sold_out import BATCH, RESTORE_DUE, restore_due
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores
from tests.sse import EventStream

# The loop looks once a second; this is only how long a test waits before it gives up.
PATIENCE = 15.0


async def sell_out_until(pool: asyncpg.Pool, item_ids: list[int], seconds: float | None) -> None:
    """As PATCH /admin/menu-items/{id} {available: false, sold_out_until} leaves the row."""
    await pool.execute(
        "UPDATE menu_items SET available = false,"
        " sold_out_until = CASE WHEN $2::float8 IS NULL THEN NULL ELSE now() + make_interval(secs => $2) END"
        " WHERE id = ANY($1::bigint[])", item_ids, seconds)


async def menu_items(client: httpx.AsyncClient, store: Store) -> dict[int, dict[str, object]]:
    menu = (await client.get("/menu", headers=store.tables[1].headers)).json()
    return {item["id"]: item for category in menu["categories"] for item in category["items"]}


async def available_on_the_menu(client: httpx.AsyncClient, store: Store, item_ids: list[int]) -> None:
    """Waits (bounded) until the tablet's menu, as this server caches it, shows the items available."""
    deadline = time.monotonic() + PATIENCE
    while True:
        menu = await menu_items(client, store)
        if all(menu[i]["available"] is True and menu[i]["sold_out_until"] is None for i in item_ids):
            return
        assert time.monotonic() < deadline, "the menu still shows them sold out"
        await asyncio.sleep(0.1)


async def test_an_item_comes_back_by_itself_and_open_tablets_hear_it(
        client: httpx.AsyncClient, stores: Stores, server: ServerProcess, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=1, items=3)
    due, later, indefinitely = store.item_ids()
    await sell_out_until(pool, [due], 1.5)
    await sell_out_until(pool, [later], 3600)
    await sell_out_until(pool, [indefinitely], None)
    until = await pool.fetchval("SELECT sold_out_until FROM menu_items WHERE id = $1", due)
    # The menu update of the sale itself went through the trigger like any other: tablets saw it.
    assert {i: m["available"] for i, m in (await menu_items(client, store)).items()} == {
        due: False, later: False, indefinitely: False}
    async with EventStream(server.url, "/api/v1/orders/stream", store.tables[1].headers) as tablet, \
            EventStream(server.url, "/api/v1/admin/orders/stream", store.admin) as board:
        heard = [await stream.next(PATIENCE) for stream in (tablet, board)]
        back_at = await pool.fetchval("SELECT now()")
        assert [(m.event, m.json()) for m in heard] == [
            ("menu.updated", {"entity": "menu_item", "id": due, "op": "update"})] * 2
        assert heard[0].id == heard[1].id
        # Nothing else comes back; nothing is recorded twice.
        assert await tablet.quiet(1.5) == [] and await board.quiet(0.1) == []
    print(f"back {(back_at - until).total_seconds():.2f} s after its time")
    assert back_at >= until
    row = await pool.fetchrow("SELECT available, sold_out_until, updated_at FROM menu_items WHERE id = $1", due)
    assert (row["available"], row["sold_out_until"]) == (True, None) and row["updated_at"] >= until
    # The tablet's menu (cached per replica, dropped by the event) shows it orderable again.
    await available_on_the_menu(client, store, [due])
    items = await menu_items(client, store)
    assert (items[later]["available"], items[indefinitely]["available"]) == (False, False)
    ordered = await client.post("/orders", headers=store.tables[1].headers,
                                json={"items": [{"menu_item_id": due, "quantity": 1}]})
    assert ordered.status_code == 201, ordered.text


async def test_sold_out_for_a_few_seconds_through_the_editor(client: httpx.AsyncClient, stores: Stores,
                                                               server: ServerProcess) -> None:
    """What the menu editor's "for N minutes" sends, with seconds instead of minutes."""
    store = await stores.create(tables=1, items=1)
    [item] = store.item_ids()
    until = datetime.now(UTC) + timedelta(seconds=2)
    async with EventStream(server.url, "/api/v1/orders/stream", store.tables[1].headers) as tablet:
        sold_out = await client.patch(f"/admin/menu-items/{item}", headers=store.admin,
                                      json={"available": False, "sold_out_until": until.isoformat()})
        assert sold_out.status_code == 200, sold_out.text
        assert datetime.fromisoformat(sold_out.json()["sold_out_until"]) == until
        assert (await tablet.next()).event == "menu.updated"
        shown = (await menu_items(client, store))[item]
        assert shown["available"] is False and datetime.fromisoformat(str(shown["sold_out_until"])) == until
        refused = await client.post("/orders", headers=store.tables[1].headers,
                                    json={"items": [{"menu_item_id": item, "quantity": 1}]})
        assert refused.status_code == 422
        back = await tablet.next(PATIENCE)
        assert (back.event, back.json()["id"]) == ("menu.updated", item)
    assert datetime.now(UTC) >= until
    await available_on_the_menu(client, store, [item])
    staff_view = (await client.get(f"/admin/menu-items/{item}", headers=store.admin)).json()
    assert (staff_view["available"], staff_view["sold_out_until"]) == (True, None)


async def test_replicas_racing_restore_each_item_once(
        database_url: str, stores: Stores, server: ServerProcess, pool: asyncpg.Pool) -> None:
    """Three loops (the shared server and a second replica of two workers) and this test's own calls
    race for 40 items due at the same moment: each comes back once, with one event, on both replicas'
    menus."""
    store = await stores.create(tables=1, items=40)
    items = store.item_ids()
    with ServerProcess(database_url, workers=2) as replica:
        await sell_out_until(pool, items, 1.0)
        start = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
        await asyncio.sleep(1.0)
        await asyncio.gather(*(restore_due(pool, batch=7) for _ in range(4)))
        deadline = time.monotonic() + PATIENCE
        while await pool.fetchval("SELECT count(*) FROM menu_items WHERE id = ANY($1::bigint[]) AND NOT available",
                                  items):
            assert time.monotonic() < deadline, "the items did not come back"
            await asyncio.sleep(0.2)
        await asyncio.sleep(1.5)  # every loop has had another look
        events = await pool.fetch(
            "SELECT payload->>'id' AS id FROM events WHERE store_id = $1 AND position > $2 AND type = 'menu.updated'",
            store.id, start)
        assert sorted(int(e["id"]) for e in events) == sorted(items)
        for api in (replica.api(), server.api()):
            async with api:
                await available_on_the_menu(api, store, items)


async def test_a_round_with_nothing_due_changes_nothing(stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=1, items=2)
    await sell_out_until(pool, store.item_ids(), 3600)
    before = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
    await restore_due(pool)
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE id = ANY($1::bigint[]) AND NOT available",
                               store.item_ids()) == 2
    assert await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id) == before
    # The loop's statement can find the due items through the partial index of items sold out until a
    # time (a volatile bound such as clock_timestamp() could not), so it stays cheap however large the
    # menus are: the planner is only kept from reading the whole (here tiny) table instead.
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch("EXPLAIN " + RESTORE_DUE, BATCH))
    assert re.search(r"Index Scan (on|using) menu_items_sold_out_until", plan), plan
