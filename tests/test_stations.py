"""Kitchen stations and tickets (SPEC section 10) against real PostgreSQL through a real server: the
stations' CRUD and isolation, routing an order's lines to one ticket per station, marking tickets done
(the order completes with its last one, exactly once when stations race), and the tickets of
cancelled, completed and orphaned orders."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import asyncpg
import httpx

from tableorder import db
from tableorder.demo import seed_demo
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, bearer, place
from tests.sse import EventStream, Message


@dataclass
class Kitchen:
    """A store with a kitchen (its Mains category) and a bar (a Drinks category), and a dessert item
    whose category routes nowhere."""

    store: Store
    kitchen: int
    bar: int
    mains: list[int]  # menu item ids of Mains (kitchen), the last one overridden to the bar
    drinks: list[int]  # Drinks (bar)
    dessert: int  # no station


async def _json(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json()


async def kitchen_store(client: httpx.AsyncClient, stores: Stores) -> Kitchen:
    store = await stores.create(tables=3, items=3)
    admin = store.admin
    kitchen = (await _json(await client.post("/admin/stations", headers=admin, json={"name": "주방"}), 201))["id"]
    bar = (await _json(await client.post("/admin/stations", headers=admin, json={"name": "바", "sort_order": 1}),
                       201))["id"]
    drinks = (await _json(await client.post("/admin/categories", headers=admin, json={"name": "Drinks"}), 201))["id"]
    sweets = (await _json(await client.post("/admin/categories", headers=admin, json={"name": "Sweets"}), 201))["id"]
    drink_ids = [(await _json(await client.post("/admin/menu-items", headers=admin, json={
        "category_id": drinks, "name": name, "price": 3000}), 201))["id"] for name in ("Cola", "Beer")]
    dessert = (await _json(await client.post("/admin/menu-items", headers=admin, json={
        "category_id": sweets, "name": "Ice cream", "price": 2500}), 201))["id"]
    mains = store.item_ids()
    # Routing, as the menu editor sets it: a category's station, and an item overriding its category's.
    for category, station in ((store.category_id, kitchen), (drinks, bar)):
        await _json(await client.patch(f"/admin/categories/{category}", headers=admin, json={"station_id": station}))
    await _json(await client.patch(f"/admin/menu-items/{mains[-1]}", headers=admin, json={"station_id": bar}))
    return Kitchen(store, kitchen, bar, mains, drink_ids, dessert)


async def open_tickets(client: httpx.AsyncClient, store: Store, station: int) -> list[dict[str, Any]]:
    tickets: list[dict[str, Any]] = await _json(await client.get(f"/admin/stations/{station}/tickets",
                                                                 headers=store.admin))
    return tickets


async def order_of_two_tickets(client: httpx.AsyncClient, k: Kitchen, table: int = 1) -> dict[str, Any]:
    order: dict[str, Any] = await _json(await place(client, k.store.tables[table],
                                                    [(k.mains[0], 1), (k.drinks[0], 2)]), 201)
    return order


def ticket_of(tickets: list[dict[str, Any]], order_id: int) -> dict[str, Any]:
    [ticket] = [t for t in tickets if t["order_id"] == order_id]
    return ticket


async def events_until(stream: EventStream, event_type: str, order_id: int) -> list[Message]:
    """Messages up to and including the first `event_type` about `order_id`."""
    seen = []
    while True:
        message = await stream.next(10)
        seen.append(message)
        data = message.json()
        if message.event == event_type and data.get("order_id", data.get("id")) == order_id:
            return seen


# --- stations -------------------------------------------------------------------------------------------


async def test_stations_crud_names_unique_per_store_and_bounded(client: httpx.AsyncClient, stores: Stores) -> None:
    store, other = await stores.create(tables=1, items=1), await stores.create(tables=1, items=1)
    created = await client.post("/admin/stations", headers=store.admin, json={"name": "주방"})
    station = await _json(created, 201)
    assert station == {"id": station["id"], "name": "주방", "sort_order": 0}
    assert created.headers["location"] == f"/api/v1/admin/stations/{station['id']}"
    bar = await _json(await client.post("/admin/stations", headers=store.admin, json={"name": "바", "sort_order": -1}),
                      201)
    assert [s["name"] for s in await _json(await client.get("/admin/stations", headers=store.admin))] == ["바", "주방"]
    assert await _json(await client.get(f"/admin/stations/{station['id']}", headers=store.admin)) == station

    # Names are unique within a store (409), not across stores.
    taken = await client.post("/admin/stations", headers=store.admin, json={"name": "바"})
    assert taken.status_code == 409 and taken.headers["content-type"].startswith("application/problem+json")
    assert (await client.patch(f"/admin/stations/{station['id']}", headers=store.admin,
                               json={"name": "바"})).status_code == 409
    await _json(await client.post("/admin/stations", headers=other.admin, json={"name": "바"}), 201)
    renamed = await _json(await client.patch(f"/admin/stations/{station['id']}", headers=store.admin,
                                             json={"name": "Kitchen", "sort_order": 5}))
    assert renamed == {"id": station["id"], "name": "Kitchen", "sort_order": 5}
    assert (await client.post("/admin/stations", headers=store.admin, json={"name": " "})).status_code == 422

    # Another store's staff cannot see or change them.
    for method in ("GET", "PATCH", "DELETE"):
        response = await client.request(method, f"/admin/stations/{station['id']}", headers=other.admin,
                                        **({"json": {"name": "x"}} if method == "PATCH" else {}))
        assert response.status_code == 404, (method, response.text)
    assert (await client.get(f"/admin/stations/{station['id']}/tickets", headers=other.admin)).status_code == 404
    assert [s["name"] for s in await _json(await client.get("/admin/stations", headers=other.admin))] == ["바"]

    # At most 20 per store, however many are added at once.
    responses = await asyncio.gather(*(client.post("/admin/stations", headers=store.admin, json={"name": f"S{i}"})
                                       for i in range(25)))
    assert sorted(r.status_code for r in responses) == [201] * 18 + [409] * 7
    assert len(await _json(await client.get("/admin/stations", headers=store.admin))) == 20

    assert (await client.delete(f"/admin/stations/{bar['id']}", headers=store.admin)).status_code == 204
    assert (await client.get(f"/admin/stations/{bar['id']}", headers=store.admin)).status_code == 404
    assert (await client.delete(f"/admin/stations/{bar['id']}", headers=store.admin)).status_code == 404


async def test_scopes_a_kitchen_display_key_reads_and_marks_tickets_only(client: httpx.AsyncClient,
                                                                        stores: Stores) -> None:
    k = await kitchen_store(client, stores)
    key = await _json(await client.post("/admin/api-keys", headers=k.store.admin, json={
        "name": "Kitchen display", "scopes": ["orders:read", "orders:write"]}), 201)
    display = bearer(key["secret"])
    order = await order_of_two_tickets(client, k)
    [ticket] = await _json(await client.get(f"/admin/stations/{k.kitchen}/tickets", headers=display))
    assert ticket["order_id"] == order["id"]
    assert (await client.post(f"/admin/tickets/{ticket['id']}/done", headers=display)).status_code == 200
    # The display lists the stations (to pick its own: orders:read will do), but changing them is
    # the menu's set-up: menu:write.
    listed = await _json(await client.get("/admin/stations", headers=display))
    assert k.kitchen in [station["id"] for station in listed]
    assert (await client.post("/admin/stations", headers=display, json={"name": "x"})).status_code == 403
    assert (await client.patch(f"/admin/stations/{k.kitchen}", headers=display,
                               json={"name": "x"})).status_code == 403


# --- routing --------------------------------------------------------------------------------------------


async def test_a_mixed_order_makes_one_ticket_per_station_with_its_lines(
        client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool, server: ServerProcess) -> None:
    k = await kitchen_store(client, stores)
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", k.store.admin) as stream:
        order = await _json(await place(client, k.store.tables[2], [
            (k.mains[0], 2), (k.drinks[1], 1), (k.dessert, 1), (k.mains[-1], 3), (k.mains[1], 1)],
            note="no ice"), 201)
        messages = await events_until(stream, "ticket.created", order["id"])
        messages += await stream.take(1)
    # order.created first, then one ticket.created per station (kitchen, then bar: sort_order).
    assert [m.event for m in messages] == ["order.created", "ticket.created", "ticket.created"]
    created = [m.json() for m in messages[1:]]
    assert [t["station_id"] for t in created] == [k.kitchen, k.bar]

    kitchen, bar = created
    names = {item_id: name for item_id, (name, _) in k.store.items.items()}
    # The kitchen: the Mains lines, not the one overridden to the bar; the dessert routes nowhere.
    assert [(line["name"], line["quantity"]) for line in kitchen["lines"]] == [
        (names[k.mains[0]], 2), (names[k.mains[1]], 1)]
    assert [(line["name"], line["quantity"]) for line in bar["lines"]] == [("Beer", 1), (names[k.mains[-1]], 3)]
    for ticket, station in ((kitchen, "주방"), (bar, "바")):
        assert ticket["order_id"] == order["id"] and ticket["order_no"] == order["order_no"]
        assert ticket["table_id"] == k.store.tables[2].id and ticket["table_number"] == 2
        assert ticket["station_name"] == station and ticket["note"] == "no ice" and ticket["done_at"] is None
        assert all(line["options"] == [] for line in ticket["lines"])
    # The lists show the same tickets; a ticket event is not on the table's stream (admin only).
    assert await open_tickets(client, k.store, k.kitchen) == [kitchen]
    assert await open_tickets(client, k.store, k.bar) == [bar]
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE order_id = $1", order["id"]) == 2

    # An order with no routed line makes no ticket.
    plain = await _json(await place(client, k.store.tables[3], [(k.dessert, 1)]), 201)
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE order_id = $1", plain["id"]) == 0


async def test_a_ticket_line_shows_the_options_chosen(client: httpx.AsyncClient, stores: Stores) -> None:
    k = await kitchen_store(client, stores)
    admin = k.store.admin
    group = await _json(await client.post(f"/admin/menu-items/{k.mains[0]}/option-groups", headers=admin,
                                          json={"name": "맵기", "min": 1, "max": 1}), 201)
    hot = await _json(await client.post(f"/admin/option-groups/{group['id']}/options", headers=admin,
                                        json={"name": "아주 매운맛", "price_delta": 500}), 201)
    order = await _json(await client.post("/orders", headers=k.store.tables[1].headers, json={
        "items": [{"menu_item_id": k.mains[0], "quantity": 2, "options": [hot["id"]]}]}), 201)
    [ticket] = await open_tickets(client, k.store, k.kitchen)
    assert ticket["order_id"] == order["id"]
    assert ticket["lines"] == [{"name": k.store.items[k.mains[0]][0], "quantity": 2,
                                "options": [{"group": "맵기", "name": "아주 매운맛", "price_delta": 500}]}]


async def test_tickets_are_listed_oldest_first_and_by_station(client: httpx.AsyncClient, stores: Stores) -> None:
    k = await kitchen_store(client, stores)
    first = await order_of_two_tickets(client, k, table=1)
    drinks_only = await _json(await place(client, k.store.tables[2], [(k.drinks[0], 1)]), 201)
    second = await order_of_two_tickets(client, k, table=3)
    assert [t["order_id"] for t in await open_tickets(client, k.store, k.kitchen)] == [first["id"], second["id"]]
    assert [t["order_id"] for t in await open_tickets(client, k.store, k.bar)] == [
        first["id"], drinks_only["id"], second["id"]]


# --- done -----------------------------------------------------------------------------------------------


async def test_the_last_ticket_done_completes_the_order(client: httpx.AsyncClient, stores: Stores,
                                                        server: ServerProcess) -> None:
    k = await kitchen_store(client, stores)
    order = await order_of_two_tickets(client, k)
    kitchen = ticket_of(await open_tickets(client, k.store, k.kitchen), order["id"])
    bar = ticket_of(await open_tickets(client, k.store, k.bar), order["id"])
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", k.store.admin) as stream:
        done = await _json(await client.post(f"/admin/tickets/{kitchen['id']}/done", headers=k.store.admin))
        assert done["id"] == kitchen["id"] and done["done_at"] is not None
        assert await open_tickets(client, k.store, k.kitchen) == []
        assert (await _json(await client.get(f"/admin/orders/{order['id']}", headers=k.store.admin)))["status"] \
            == "pending"
        # Done again: the same ticket as it is, nothing recorded again.
        assert await _json(await client.post(f"/admin/tickets/{kitchen['id']}/done", headers=k.store.admin)) == done

        last = await _json(await client.post(f"/admin/tickets/{bar['id']}/done", headers=k.store.admin))
        assert last["done_at"] is not None
        messages = await events_until(stream, "order.updated", order["id"])
        messages += await stream.quiet(0.5)
    assert [(m.event, m.json()["id"]) for m in messages] == [
        ("ticket.done", kitchen["id"]), ("ticket.done", bar["id"]), ("order.updated", order["id"])]
    assert messages[-1].json()["status"] == "completed"
    assert (await _json(await client.get(f"/admin/orders/{order['id']}", headers=k.store.admin)))["status"] \
        == "completed"
    assert await open_tickets(client, k.store, k.bar) == []
    # Another store cannot mark it.
    other = await stores.create(tables=1, items=1)
    assert (await client.post(f"/admin/tickets/{bar['id']}/done", headers=other.admin)).status_code == 404


async def test_two_stations_done_at_once_complete_the_order_once(client: httpx.AsyncClient, stores: Stores,
                                                                 pool: asyncpg.Pool) -> None:
    k = await kitchen_store(client, stores)
    for round_ in range(12):
        order = await order_of_two_tickets(client, k, table=1 + round_ % 3)
        ids = await pool.fetch("SELECT id FROM tickets WHERE order_id = $1", order["id"])
        assert len(ids) == 2
        # Two requests at once, each on its own connection to the server and to PostgreSQL.
        responses = await asyncio.gather(*(client.post(f"/admin/tickets/{row['id']}/done", headers=k.store.admin)
                                           for row in ids))
        assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
        row = await pool.fetchrow(
            "SELECT (SELECT status FROM orders WHERE id = $1) AS status,"
            "       (SELECT count(*) FROM events WHERE store_id = $2 AND type = 'order.updated'"
            "           AND (payload->>'id')::bigint = $1) AS updates,"
            "       (SELECT count(*) FROM events WHERE store_id = $2 AND type = 'ticket.done'"
            "           AND (payload->>'order_id')::bigint = $1) AS done",
            order["id"], k.store.id)
        assert dict(row) == {"status": "completed", "updates": 1, "done": 2}, round_


# --- cancelled, completed by hand, deleted station ----------------------------------------------------


async def test_a_cancelled_orders_tickets_leave_the_list(client: httpx.AsyncClient, stores: Stores,
                                                         server: ServerProcess) -> None:
    k = await kitchen_store(client, stores)
    order = await order_of_two_tickets(client, k)
    kept = await order_of_two_tickets(client, k, table=2)
    assert len(await open_tickets(client, k.store, k.kitchen)) == 2
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", k.store.admin) as stream:
        await _json(await client.delete(f"/admin/orders/{order['id']}", headers=k.store.admin))
        # What a display drops the order's tickets on.
        message = await stream.next(10)
    assert (message.event, message.json()["id"]) == ("order.cancelled", order["id"])
    for station in (k.kitchen, k.bar):
        assert [t["order_id"] for t in await open_tickets(client, k.store, station)] == [kept["id"]]


async def test_done_on_a_cancelled_or_settled_order_marks_the_ticket_only(client: httpx.AsyncClient,
                                                                          stores: Stores) -> None:
    k = await kitchen_store(client, stores)
    cancelled = await order_of_two_tickets(client, k, table=1)
    settled = await order_of_two_tickets(client, k, table=2)
    tickets = {t["order_id"]: t for t in await open_tickets(client, k.store, k.bar)}
    kitchen = {t["order_id"]: t for t in await open_tickets(client, k.store, k.kitchen)}
    await _json(await client.delete(f"/admin/orders/{cancelled['id']}", headers=k.store.admin))
    # A session closed while its order was still being made: the order is settled history.
    await _json(await client.post(f"/admin/tables/{k.store.tables[2].id}/close-session", headers=k.store.admin))
    for order, status in ((cancelled, "cancelled"), (settled, "pending")):
        for ticket in (kitchen[order["id"]], tickets[order["id"]]):
            done = await _json(await client.post(f"/admin/tickets/{ticket['id']}/done", headers=k.store.admin))
            assert done["done_at"] is not None
        assert (await _json(await client.get(f"/admin/orders/{order['id']}", headers=k.store.admin)))["status"] \
            == status


async def test_an_order_completed_by_hand_closes_its_tickets(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool, server: ServerProcess) -> None:
    k = await kitchen_store(client, stores)
    order = await order_of_two_tickets(client, k)
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", k.store.admin) as stream:
        await _json(await client.patch(f"/admin/orders/{order['id']}", headers=k.store.admin,
                                       json={"status": "completed"}))
        messages = await events_until(stream, "order.updated", order["id"])
    assert sorted(m.event for m in messages) == ["order.updated", "ticket.done", "ticket.done"]
    assert await open_tickets(client, k.store, k.kitchen) == await open_tickets(client, k.store, k.bar) == []
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE order_id = $1 AND done_at IS NULL",
                               order["id"]) == 0


async def test_a_deleted_station_leaves_its_tickets_named_and_holds_no_order_back(
        client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    k = await kitchen_store(client, stores)
    order = await order_of_two_tickets(client, k)
    bar = ticket_of(await open_tickets(client, k.store, k.bar), order["id"])
    assert (await client.delete(f"/admin/stations/{k.kitchen}", headers=k.store.admin)).status_code == 204
    # Its category routes nowhere now: a new order of it makes no ticket.
    category = await _json(await client.get(f"/admin/categories/{k.store.category_id}", headers=k.store.admin))
    assert category["station_id"] is None
    later = await _json(await place(client, k.store.tables[2], [(k.mains[0], 1)]), 201)
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE order_id = $1", later["id"]) == 0
    # The bar's Done completes the order; the orphaned kitchen ticket closes with it, name and lines kept.
    await _json(await client.post(f"/admin/tickets/{bar['id']}/done", headers=k.store.admin))
    assert (await _json(await client.get(f"/admin/orders/{order['id']}", headers=k.store.admin)))["status"] \
        == "completed"
    orphan = await pool.fetchval(
        "SELECT ticket_json(t)::text FROM tickets t WHERE t.order_id = $1 AND t.station_id IS NULL", order["id"])
    assert orphan is not None
    orphan_doc = json.loads(orphan)
    assert orphan_doc["station_name"] == "주방" and orphan_doc["done_at"] is not None
    assert [line["quantity"] for line in orphan_doc["lines"]] == [1]


# --- the demo store -------------------------------------------------------------------------------------


async def test_the_demo_store_sends_drinks_to_the_bar(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_demo_stations")
    await asyncio.to_thread(db.migrate, url)
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        assert await seed_demo(conn)
        routes = await conn.fetch(
            "SELECT c.name AS category, s.name AS station FROM menu_categories c"
            " LEFT JOIN stations s ON s.id = c.station_id ORDER BY c.sort_order")
    finally:
        await conn.close()
    assert [(r["category"], r["station"]) for r in routes] == [
        ("식사", "주방"), ("구이", "주방"), ("사이드", "주방"), ("음료", "바"), ("주류", "바")]
