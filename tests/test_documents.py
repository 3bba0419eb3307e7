"""One home for every document: what PostgreSQL builds decodes strictly into the Struct of
tableorder.documents that the OpenAPI document declares, for every endpoint and every event type;
and the database holds exactly the functions of migrations/documents.sql, which replays cleanly."""

from __future__ import annotations

import asyncio
import re
from datetime import date, timedelta
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from tableorder import db, documents
from tableorder.documents import (
    EVENT_DATA,
    AdminToken,
    ApiKey,
    ApiKeyCreated,
    Call,
    Category,
    HistoryPage,
    Menu,
    MenuItem,
    NameTranslation,
    Option,
    OptionGroup,
    Order,
    OrderPage,
    Session,
    Station,
    StoreSettings,
    Table,
    TableMove,
    TableOrders,
    TableToken,
    Ticket,
    WebhookDelivery,
    WebhookDeliveryPage,
    WebhookEndpoint,
    WebhookEndpointCreated,
)
from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, TABLE_PASSWORD, Store, Stores, place
from tests.sse import EventStream

FUNCTION = re.compile(r"CREATE OR REPLACE FUNCTION (\w+)\(.*?AS \$\$(.*?)\$\$;", re.DOTALL)


def strictly(raw: bytes, shape: Any) -> Any:
    """Decodes `raw` into `shape` with no coercion, and fails on any key the Struct does not declare
    (msgspec would drop it silently) at any depth."""
    decoded = msgspec.json.decode(raw, type=shape, strict=True)
    unknown = _unknown_keys(msgspec.json.decode(raw), decoded, "$")
    assert not unknown, f"keys no Struct declares: {unknown}"
    return decoded


def _unknown_keys(raw: Any, decoded: Any, where: str) -> list[str]:
    if isinstance(decoded, msgspec.Struct):
        assert isinstance(raw, dict), where
        declared = {field.encode_name: field.name for field in msgspec.structs.fields(decoded)}
        found = [f"{where}.{key}" for key in raw if key not in declared]
        for key, name in declared.items():
            found += _unknown_keys(raw.get(key), getattr(decoded, name), f"{where}.{key}")
        return found
    if isinstance(decoded, list):
        return [k for i, item in enumerate(decoded) for k in _unknown_keys(raw[i], item, f"{where}[{i}]")]
    if isinstance(decoded, dict):  # e.g. translations by language
        return [k for key, item in decoded.items() for k in _unknown_keys(raw[key], item, f"{where}.{key}")]
    return []


def test_strictly_refuses_what_the_struct_does_not_declare() -> None:
    """The check itself can fail: an extra key, a missing one and a loose type are all refused."""
    rest = b'"station_id": null, "translations": {"en": {"name": "Mains"}}'
    good = b'{"id": 1, "name": "Mains", "sort_order": 0, ' + rest + b'}'
    assert strictly(good, Category) == Category(id=1, name="Mains", sort_order=0, station_id=None,
                                                translations={"en": NameTranslation(name="Mains")})
    with pytest.raises(AssertionError, match="extra"):
        strictly(b'{"id": 1, "name": "Mains", "sort_order": 0, "extra": 1, ' + rest + b'}', Category)
    with pytest.raises(msgspec.ValidationError):
        strictly(b'{"id": 1, "name": "Mains", ' + rest + b'}', Category)
    with pytest.raises(msgspec.ValidationError):
        strictly(b'{"id": "1", "name": "Mains", "sort_order": 0, ' + rest + b'}', Category)
    with pytest.raises(AssertionError, match=r"\$\[0\]\.nested"):
        strictly(b'[{"id": 1, "name": "Mains", "sort_order": 0, "nested": {}, ' + rest + b'}]', list[Category])
    with pytest.raises(AssertionError, match=r"translations\.en\.extra"):
        strictly(b'{"id": 1, "name": "Mains", "sort_order": 0, "station_id": null, '
                 b'"translations": {"en": {"name": "Mains", "extra": 1}}}', Category)


# --- the SQL file ----------------------------------------------------------------------------------------


async def test_the_database_holds_exactly_the_functions_of_documents_sql(pool: asyncpg.Pool) -> None:
    declared = {name: body for name, body in FUNCTION.findall(db.documents_sql().read_text())}
    named_by_structs = {shape.SQL for shape in vars(documents).values()
                        if isinstance(shape, type) and issubclass(shape, documents.Document) and shape.SQL}
    assert named_by_structs <= set(declared), named_by_structs - set(declared)
    rows = await pool.fetch("SELECT proname, prosrc FROM pg_proc WHERE proname = ANY($1::text[])", list(declared))
    assert {row["proname"]: row["prosrc"] for row in rows} == declared


async def test_documents_sql_replays_without_changing_anything(database_url: str, pool: asyncpg.Pool) -> None:
    query = "SELECT proname, prosrc FROM pg_proc WHERE proname LIKE '%json%' ORDER BY proname, oid"
    before = await pool.fetch(query)
    await asyncio.to_thread(db.replay_documents, database_url)
    await asyncio.to_thread(db.replay_documents, database_url)
    assert await pool.fetch(query) == before


# --- every endpoint --------------------------------------------------------------------------------------


async def test_every_endpoint_sends_its_struct_exactly(client: httpx.AsyncClient, stores: Stores,
                                                      server: ServerProcess, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=2, items=3)
    table, other = store.tables[1], store.tables[2]
    admin = store.admin
    [first, second, third] = store.item_ids()
    seen: set[tuple[str, str]] = set()

    async def call(method: str, path: str, shape: Any, status: int = 200, **kwargs: Any) -> Any:
        response = await client.request(method, path, **kwargs)
        assert response.status_code == status, (method, path, response.text)
        seen.add((method, re.sub(r"/\d+", "/{id}", path.split("?")[0])))
        return strictly(response.content, shape)

    # sign-in
    await call("POST", "/auth/admin/login", AdminToken, json={
        "store_code": store.code, "username": "admin", "password": ADMIN_PASSWORD})
    client.cookies.clear()
    await call("POST", "/auth/table/login", TableToken, json={
        "store_code": store.code, "table_number": 1, "password": TABLE_PASSWORD})

    # the tablet
    menu = await call("GET", "/menu", Menu, headers=table.headers)
    assert [e.id for c in menu.categories for e in c.items] == [first, second, third]
    assert await call("GET", "/orders", TableOrders, headers=table.headers) == TableOrders(None, 0, [])
    response = await place(client, table, [(first, 2), (second, 1)], note="no onions")
    assert response.status_code == 201
    seen.add(("POST", "/orders"))
    order = strictly(response.content, Order)
    cancelled = strictly((await place(client, table, [(third, 1)])).content, Order)
    mine = await call("GET", "/orders", TableOrders, headers=table.headers)
    assert [o.id for o in mine.orders] == [cancelled.id, order.id] and mine.session is not None
    water = await call("POST", "/calls", Call, status=201, headers=table.headers, json={"reason": "water", "note": "2"})
    assert await call("POST", "/calls", Call, status=200, headers=table.headers, json={"reason": "water"}) == water
    assert await call("GET", "/calls", list[Call], headers=table.headers) == [water]

    # staff: orders
    await call("GET", "/admin/orders", OrderPage, headers=admin)
    await call("GET", f"/admin/orders/{order.id}", Order, headers=admin)
    moved = await call("PATCH", f"/admin/orders/{order.id}", Order, headers=admin, json={"status": "preparing"})
    assert moved.status == "preparing"
    assert (await call("DELETE", f"/admin/orders/{cancelled.id}", Order, headers=admin)).status == "cancelled"

    # staff: calls
    assert await call("GET", "/admin/calls", list[Call], headers=admin) == [water]
    resolved = await call("POST", f"/admin/calls/{water.id}/resolve", Call, headers=admin)
    assert resolved.resolved_at is not None

    # staff: tables
    tables = await call("GET", "/admin/tables", list[Table], headers=admin)
    assert [t.number for t in tables] == [1, 2] and tables[0].session is not None
    await call("GET", f"/admin/tables/{other.id}", Table, headers=admin)
    created = await call("POST", "/admin/tables", Table, status=201, headers=admin,
                         json={"number": 9, "password": "nine-nine"})
    await call("PATCH", f"/admin/tables/{created.id}", Table, headers=admin, json={"password": "nine-ten"})
    there = await call("POST", f"/admin/tables/{table.id}/move", TableMove, headers=admin,
                       json={"to_table_id": created.id})
    assert there.from_table.session is None and there.to_table.session is not None and not there.merged
    back = await call("POST", f"/admin/tables/{created.id}/move", TableMove, headers=admin,
                      json={"to_table_id": table.id})
    assert back.to_table.session is not None and back.to_table.session.id == there.to_table.session.id
    closed = await call("POST", f"/admin/tables/{table.id}/close-session", Session, headers=admin)
    assert closed.closed_at is not None and closed.order_count == 1
    today = date.today()
    history = await call("GET", f"/admin/tables/{table.id}/history?from={today - timedelta(days=1)}"
                                f"&to={today + timedelta(days=1)}", HistoryPage, headers=admin)
    assert [s.id for s in history.items] == [closed.id] and len(history.items[0].orders) == 2
    page = await call("GET", "/admin/orders?closed_sessions=true", OrderPage, headers=admin)
    assert {o.id for o in page.items} == {order.id, cancelled.id}

    # staff: the menu
    await call("GET", "/admin/categories", list[Category], headers=admin)
    await call("GET", f"/admin/categories/{store.category_id}", Category, headers=admin)
    category = await call("POST", "/admin/categories", Category, status=201, headers=admin,
                          json={"name": "Drinks", "sort_order": 2})
    await call("PATCH", f"/admin/categories/{category.id}", Category, headers=admin, json={"name": "Drinks 2"})
    await call("GET", "/admin/menu-items", list[MenuItem], headers=admin)
    await call("GET", f"/admin/menu-items/{first}", MenuItem, headers=admin)
    item = await call("POST", "/admin/menu-items", MenuItem, status=201, headers=admin, json={
        "category_id": category.id, "name": "Cider", "price": 4000, "image_url": "https://example.com/c.jpg"})
    sold_out = await call("PATCH", f"/admin/menu-items/{item.id}", MenuItem, headers=admin,
                          json={"available": False, "image_url": None})
    assert sold_out.available is False and sold_out.image_url is None
    group = await call("POST", f"/admin/menu-items/{item.id}/option-groups", OptionGroup, status=201, headers=admin,
                       json={"name": "얼음", "min": 1, "max": 1, "translations": {"en": {"name": "Ice"}}})
    await call("PATCH", f"/admin/option-groups/{group.id}", OptionGroup, headers=admin, json={"max": 2})
    option = await call("POST", f"/admin/option-groups/{group.id}/options", Option, status=201, headers=admin,
                        json={"name": "많이", "price_delta": 0, "translations": {"en": {"name": "Lots"}}})
    await call("PATCH", f"/admin/options/{option.id}", Option, headers=admin, json={"price_delta": 500})
    assert (await call("GET", f"/admin/option-groups/{group.id}", OptionGroup, headers=admin)).max == 2
    assert (await call("GET", f"/admin/options/{option.id}", Option, headers=admin)).price_delta == 500
    with_options = await call("GET", f"/admin/menu-items/{item.id}", MenuItem, headers=admin)
    assert [[o.id for o in g.options] for g in with_options.option_groups] == [[option.id]]
    await call("GET", "/admin/store", StoreSettings, headers=admin)
    languages = await call("PATCH", "/admin/store", StoreSettings, headers=admin, json={"languages": ["ko", "en"]})
    assert languages.languages == ["ko", "en"]
    english = await call("GET", "/menu?lang=en", Menu, headers=table.headers)
    assert english.language == "en"
    assert [g.options[0].name for c in english.categories for e in c.items for g in e.option_groups] == ["Lots"]

    # staff: kitchen stations and their tickets
    station = await call("POST", "/admin/stations", Station, status=201, headers=admin, json={"name": "주방"})
    await call("GET", "/admin/stations", list[Station], headers=admin)
    await call("GET", f"/admin/stations/{station.id}", Station, headers=admin)
    await call("PATCH", f"/admin/stations/{station.id}", Station, headers=admin, json={"sort_order": 1})
    await pool.execute("UPDATE menu_categories SET station_id = $1 WHERE id = $2", station.id, store.category_id)
    assert (await place(client, other, [(first, 2)], note="well done")).status_code == 201
    [ticket] = await call("GET", f"/admin/stations/{station.id}/tickets", list[Ticket], headers=admin)
    assert ticket.note == "well done" and [(line.name, line.quantity) for line in ticket.lines] == [("Dish 1", 2)]
    done = await call("POST", f"/admin/tickets/{ticket.id}/done", Ticket, headers=admin)
    assert done.done_at is not None

    # staff: API keys and webhooks (a URL that does not resolve here is accepted and retried later)
    key = await call("POST", "/admin/api-keys", ApiKeyCreated, status=201, headers=admin,
                     json={"name": "POS", "scopes": ["orders:read"]})
    assert [k.id for k in await call("GET", "/admin/api-keys", list[ApiKey], headers=admin)] == [key.id]
    await call("GET", f"/admin/api-keys/{key.id}", ApiKey, headers=admin)
    hook = await call("POST", "/admin/webhooks", WebhookEndpointCreated, status=201, headers=admin,
                      json={"url": "https://pos.invalid/hooks", "events": ["order.created"]})
    await call("GET", "/admin/webhooks", list[WebhookEndpoint], headers=admin)
    await call("GET", f"/admin/webhooks/{hook.id}", WebhookEndpoint, headers=admin)
    await call("PATCH", f"/admin/webhooks/{hook.id}", WebhookEndpoint, headers=admin, json={"description": "POS"})
    await call("POST", f"/admin/webhooks/{hook.id}/rotate-secret", WebhookEndpointCreated, headers=admin)
    await place(client, other, [(first, 1)])
    deliveries: WebhookDeliveryPage | None = None
    for _ in range(100):  # the delivery is recorded when the worker first tries it
        deliveries = await call("GET", f"/admin/webhooks/{hook.id}/deliveries", WebhookDeliveryPage, headers=admin)
        if deliveries.items:
            break
        await asyncio.sleep(0.1)
    assert deliveries is not None and deliveries.items, "no delivery recorded"
    await call("POST", f"/admin/webhooks/{hook.id}/deliveries/{deliveries.items[0].id}/redeliver",
               WebhookDelivery, status=202, headers=admin)

    # Every operation of the OpenAPI document that answers with a JSON body was called above.
    async with httpx.AsyncClient(base_url=server.url) as raw:
        document = (await raw.get("/schema/openapi.json")).json()
    with_json_body = {
        (method.upper(), re.sub(r"\{[a-z_]+\}", "{id}", path.removeprefix("/api/v1")))
        for path, item_ in document["paths"].items() for method, operation in item_.items()
        if path.startswith("/api/v1") and isinstance(operation, dict)
        and any("application/json" in (r.get("content") or {})
                for code, r in operation.get("responses", {}).items() if code.startswith("2"))
    }
    assert len(with_json_body) > 20 and with_json_body - seen == set(), "operations not checked against their Struct"


# --- every event type ------------------------------------------------------------------------------------


async def test_every_event_type_sends_its_struct_exactly(client: httpx.AsyncClient, stores: Stores,
                                                         server: ServerProcess, pool: asyncpg.Pool) -> None:
    store: Store = await stores.create(tables=2, items=2)
    table = store.tables[1]
    [first, _] = store.item_ids()
    order = (await place(client, table, [(first, 1)])).json()
    other = (await place(client, table, [(first, 2)])).json()
    await client.patch(f"/admin/orders/{order['id']}", json={"status": "preparing"}, headers=store.admin)
    await client.delete(f"/admin/orders/{other['id']}", headers=store.admin)
    call = (await client.post("/calls", json={"reason": "bill"}, headers=table.headers)).json()
    await client.post(f"/admin/calls/{call['id']}/resolve", headers=store.admin)
    await client.post(f"/admin/tables/{table.id}/move", json={"to_table_id": store.tables[2].id}, headers=store.admin)
    await client.post(f"/admin/tables/{store.tables[2].id}/move", json={"to_table_id": table.id}, headers=store.admin)
    await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    station = (await client.post("/admin/stations", json={"name": "바"}, headers=store.admin)).json()
    await pool.execute("UPDATE menu_categories SET station_id = $1 WHERE id = $2", station["id"], store.category_id)
    routed = (await place(client, store.tables[1], [(first, 1)], note="extra ice")).json()
    ticket_id = await pool.fetchval("SELECT id FROM tickets WHERE order_id = $1", routed["id"])
    assert (await client.post(f"/admin/tickets/{ticket_id}/done", headers=store.admin)).status_code == 200
    group = (await client.post(f"/admin/menu-items/{first}/option-groups", json={"name": "맵기", "min": 0, "max": 1},
                               headers=store.admin)).json()
    option = (await client.post(f"/admin/option-groups/{group['id']}/options",
                                json={"name": "매운맛", "price_delta": 500}, headers=store.admin)).json()
    spicy = await client.post("/orders", headers=store.tables[1].headers, json={
        "items": [{"menu_item_id": first, "quantity": 1, "options": [option["id"]]}]})
    assert spicy.json()["items"][0]["options"] == [{"group": "맵기", "name": "매운맛", "price_delta": 500}]
    await client.patch(f"/admin/menu-items/{first}", json={"available": False}, headers=store.admin)
    last = await pool.fetchval("SELECT max(position) FROM events WHERE store_id = $1", store.id)

    # The admin stream from the start: every event, its data strictly its type's Struct.
    types: set[str] = set()
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", store.admin, last_event_id=0) as stream:
        while True:
            message = await asyncio.wait_for(stream.messages.get(), 10)
            strictly(message.data.encode(), EVENT_DATA[message.event])
            types.add(message.event)
            if message.id == last:
                break
    assert types == set(EVENT_DATA) - {"resync"}

    # And resync, from a position the store has not reached.
    async with EventStream(f"{server.url}/api/v1", "/admin/orders/stream", store.admin,
                           last_event_id=last + 100) as stream:
        message = await asyncio.wait_for(stream.messages.get(), 10)
    assert message.event == "resync" and message.id == last
    assert strictly(message.data.encode(), documents.Resync).cause == "ahead"
