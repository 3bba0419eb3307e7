"""Single-resource reads and the reconciliation filters of GET /admin/orders (issue 11): what a POS
needs to catch up after being offline, without reading the whole board."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from tests.helpers import Store, Stores, place


async def _orders(client: httpx.AsyncClient, store: Store, **params: str) -> list[int]:
    ids: list[int] = []
    cursor = None
    while True:
        query = {**params, "limit": "2", **({"cursor": cursor} if cursor else {})}
        response = await client.get("/admin/orders", params=query, headers=store.admin)
        assert response.status_code == 200, response.text
        page = response.json()
        ids += [order["id"] for order in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            return ids


async def test_updated_since_returns_what_changed_on_open_and_closed_sessions(client: httpx.AsyncClient,
                                                                             stores: Stores) -> None:
    store = await stores.create(tables=2, items=2)
    [item, _] = store.item_ids()
    early = (await place(client, store.tables[1], [(item, 1)])).json()
    untouched = (await place(client, store.tables[2], [(item, 1)])).json()
    await asyncio.sleep(0.05)
    mark = (await client.get(f"/admin/orders/{untouched['id']}", headers=store.admin)).json()["updated_at"]
    await asyncio.sleep(0.05)
    # After the mark: one order moves, one is placed, then table 1's session closes.
    await client.patch(f"/admin/orders/{early['id']}", json={"status": "preparing"}, headers=store.admin)
    late = (await place(client, store.tables[1], [(item, 2)])).json()
    closed = await client.post(f"/admin/tables/{store.tables[1].id}/close-session", headers=store.admin)
    assert closed.status_code == 200

    # The board's default: open sessions only, so table 1's orders are gone from it.
    assert await _orders(client, store) == [untouched["id"]]
    # Reconciliation: every session, changed after the mark, newest first.
    assert await _orders(client, store, closed_sessions="true", updated_since=mark) == [late["id"], early["id"]]
    assert await _orders(client, store, closed_sessions="true") == [late["id"], untouched["id"], early["id"]]
    # The instant is strict: the order that set the mark is not "changed since" it.
    assert untouched["id"] not in await _orders(client, store, closed_sessions="true", updated_since=mark)


async def test_business_day_filters(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=1, items=1)
    [item] = store.item_ids()
    today_order = (await place(client, store.tables[1], [(item, 1)])).json()
    old_order = (await place(client, store.tables[1], [(item, 1)])).json()
    # One order placed three days ago (in the store's time zone, Asia/Seoul by default).
    await pool.execute("UPDATE orders SET created_at = created_at - interval '3 days' WHERE id = $1",
                       old_order["id"])
    timezone = await pool.fetchval("SELECT timezone FROM stores WHERE id = $1", store.id)
    today = await pool.fetchval("SELECT (now() AT TIME ZONE $1)::date", timezone)
    three_days_ago = today - timedelta(days=3)

    assert await _orders(client, store, **{"from": str(today)}) == [today_order["id"]]
    assert await _orders(client, store, to=str(three_days_ago)) == [old_order["id"]]
    assert await _orders(client, store, **{"from": str(three_days_ago), "to": str(today)}) == [
        today_order["id"], old_order["id"]]
    backwards = await client.get("/admin/orders", params={"from": str(today), "to": str(three_days_ago)},
                                 headers=store.admin)
    assert backwards.status_code == 422 and backwards.json()["errors"][0]["field"] == "query.from"


async def test_updated_since_needs_a_time_zone(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    for loose in ("2026-11-29T09:00:00", "0.5", "1764406800", "2026-11-29", "2026-13-45T09:00:00Z"):
        refused = await client.get("/admin/orders", params={"updated_since": loose}, headers=store.admin)
        assert refused.status_code == 422, (loose, refused.text)
        assert refused.json()["errors"][0]["field"] == "query.updated_since"
    aware = await client.get("/admin/orders", params={
        "updated_since": (datetime.now(UTC) + timedelta(hours=1)).isoformat()}, headers=store.admin)
    assert aware.status_code == 200 and aware.json() == {"items": [], "next_cursor": None}


async def test_single_resources_are_read_by_id_and_only_in_their_store(client: httpx.AsyncClient,
                                                                      stores: Stores) -> None:
    store, other = await stores.create(tables=1, items=1), await stores.create(tables=1, items=1)
    [item] = store.item_ids()
    order = (await place(client, store.tables[1], [(item, 3)])).json()
    reads = {
        f"/admin/orders/{order['id']}": order,
        f"/admin/tables/{store.tables[1].id}": None,
        f"/admin/categories/{store.category_id}": {"id": store.category_id, "name": "Mains", "sort_order": 0,
                                                   "station_id": None, "translations": {}},
        f"/admin/menu-items/{item}": None,
    }
    for path, expected in reads.items():
        mine = await client.get(path, headers=store.admin)
        assert mine.status_code == 200, (path, mine.text)
        if expected is not None:
            assert mine.json() == expected, path
        # Another store's staff: 404, as if it did not exist.
        theirs = await client.get(path, headers=other.admin)
        assert theirs.status_code == 404 and theirs.headers["content-type"].startswith("application/problem+json")
    table = (await client.get(f"/admin/tables/{store.tables[1].id}", headers=store.admin)).json()
    assert table["number"] == 1 and table["session"]["total_amount"] == order["total_amount"]
    menu_item = (await client.get(f"/admin/menu-items/{item}", headers=store.admin)).json()
    assert (menu_item["name"], menu_item["price"]) == store.items[item]
