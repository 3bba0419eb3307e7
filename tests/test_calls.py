"""Staff calls (SPEC section 10, issue 12): a tablet calls staff with a reason, sees the call pending
until staff resolve it; one open call per table and reason, whatever races; events on the staff's
stream and the table's own."""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import httpx

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, Table, bearer, place
from tests.sse import EventStream


async def call_staff(client: httpx.AsyncClient, table: Table, reason: str, note: str | None = None) -> httpx.Response:
    body: dict[str, Any] = {"reason": reason, **({"note": note} if note is not None else {})}
    return await client.post("/calls", json=body, headers=table.headers)


def table_stream(server: ServerProcess, table: Table, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/orders/stream", table.headers, last_event_id)


def admin_stream(server: ServerProcess, store: Store, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/admin/orders/stream", store.admin, last_event_id)


async def test_a_table_calls_staff_and_staff_resolve_the_call(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=2)
    table = store.tables[1]
    # Nobody has ordered yet: guests may still call staff.
    assert (await client.get("/orders", headers=table.headers)).json()["session"] is None
    created = await call_staff(client, table, "water", note="Two glasses, please")
    assert created.status_code == 201, created.text
    water = created.json()
    assert {k: water[k] for k in ("table_id", "table_number", "reason", "note", "resolved_at")} == {
        "table_id": table.id, "table_number": 1, "reason": "water", "note": "Two glasses, please",
        "resolved_at": None}

    # Pressing again while it is open: the same call, as it is (the new note is not taken).
    again = await call_staff(client, table, "water", note="Make it three")
    assert again.status_code == 200 and again.json() == water
    bill = (await call_staff(client, table, "bill")).json()
    assert bill["note"] is None

    # The tablet (after a reload) and the board see both, oldest first.
    assert (await client.get("/calls", headers=table.headers)).json() == [water, bill]
    assert (await client.get("/admin/calls", headers=store.admin)).json() == [water, bill]
    assert (await client.get("/calls", headers=store.tables[2].headers)).json() == []

    resolved = await client.post(f"/admin/calls/{water['id']}/resolve", headers=store.admin)
    assert resolved.status_code == 200
    assert resolved.json() == {**water, "resolved_at": resolved.json()["resolved_at"]}
    assert resolved.json()["resolved_at"] >= water["created_at"]
    # Resolving it again (a second member of staff tapping at once) changes nothing.
    twice = await client.post(f"/admin/calls/{water['id']}/resolve", headers=store.admin)
    assert twice.status_code == 200 and twice.json() == resolved.json()
    assert (await client.get("/calls", headers=table.headers)).json() == [bill]
    assert (await client.get("/admin/calls", headers=store.admin)).json() == [bill]

    # Once resolved, the table may call for water again: a new call.
    anew = await call_staff(client, table, "water")
    assert anew.status_code == 201 and anew.json()["id"] != water["id"]


async def test_a_table_holds_at_most_one_open_call_per_reason(client: httpx.AsyncClient, stores: Stores,
                                                              pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=1)
    table = store.tables[1]
    reasons = ["water", "utensils", "bill", "help", "other"]
    for _ in range(3):
        for reason in reasons:
            assert (await call_staff(client, table, reason)).status_code in (200, 201)
    calls = (await client.get("/calls", headers=table.headers)).json()
    assert [c["reason"] for c in calls] == reasons
    assert await pool.fetchval("SELECT count(*) FROM staff_calls WHERE table_id = $1", table.id) == 5
    assert await pool.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND type = 'call.created'",
                               store.id) == 5


async def test_a_call_pressed_many_times_at_once_is_one_call(client: httpx.AsyncClient, stores: Stores,
                                                             pool: asyncpg.Pool, server: ServerProcess) -> None:
    store = await stores.create(tables=1)
    table = store.tables[1]
    for round_ in range(5):
        # Separate connections, so the presses really reach the server (and PostgreSQL) together.
        clients = [server.api() for _ in range(8)]
        try:
            responses = await asyncio.gather(*(call_staff(c, table, "help", note=f"round {round_}") for c in clients))
        finally:
            await asyncio.gather(*(c.aclose() for c in clients))
        statuses = sorted(r.status_code for r in responses)
        assert statuses == [200] * 7 + [201], [r.text for r in responses]
        assert len({r.json()["id"] for r in responses}) == 1
        call_id = responses[0].json()["id"]
        assert (await client.post(f"/admin/calls/{call_id}/resolve", headers=store.admin)).status_code == 200
    assert await pool.fetchval("SELECT count(*) FROM staff_calls WHERE table_id = $1", table.id) == 5
    assert await pool.fetchval("SELECT count(*) FROM events WHERE store_id = $1 AND type = 'call.created'",
                               store.id) == 5


async def test_calls_reach_the_board_and_the_tables_own_stream(client: httpx.AsyncClient, stores: Stores,
                                                               server: ServerProcess) -> None:
    store = await stores.create(tables=2)
    table, neighbour = store.tables[1], store.tables[2]
    async with admin_stream(server, store) as board, table_stream(server, table) as tablet, \
            table_stream(server, neighbour) as other:
        call = (await call_staff(client, table, "utensils", note="a child's spoon")).json()
        for stream in (board, tablet):
            message = await stream.next()
            assert (message.event, message.json()) == ("call.created", call)
        # Pressing again records nothing.
        assert (await call_staff(client, table, "utensils")).status_code == 200
        resolved = (await client.post(f"/admin/calls/{call['id']}/resolve", headers=store.admin)).json()
        for stream in (board, tablet):
            message = await stream.next()
            assert (message.event, message.json()) == ("call.resolved", resolved)
        # Resolving twice records nothing either; the neighbour's tablet heard nothing of it.
        await client.post(f"/admin/calls/{call['id']}/resolve", headers=store.admin)
        assert await board.quiet(0.5) == [] and await tablet.quiet(0.1) == []
        assert await other.quiet(0.1) == []


async def test_closing_the_session_resolves_the_tables_calls(client: httpx.AsyncClient, stores: Stores,
                                                            server: ServerProcess) -> None:
    store = await stores.create(tables=2)
    table, neighbour = store.tables[1], store.tables[2]
    assert (await place(client, table, [(store.item_ids()[0], 1)])).status_code == 201
    water = (await call_staff(client, table, "water")).json()
    bill = (await call_staff(client, table, "bill")).json()
    theirs = (await call_staff(client, neighbour, "bill")).json()
    async with table_stream(server, table) as tablet:
        closed = await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
        assert closed.status_code == 200
        messages = await tablet.take(3)
    # The guests left: their calls are answered, before the session's close is announced.
    assert sorted((m.event, m.json()["id"]) for m in messages[:2]) == [
        ("call.resolved", water["id"]), ("call.resolved", bill["id"])]
    assert (messages[2].event, messages[2].json()["id"]) == ("table.session_closed", table.id)
    assert all(m.json()["resolved_at"] is not None for m in messages[:2])
    assert (await client.get("/calls", headers=table.headers)).json() == []
    assert (await client.get("/admin/calls", headers=store.admin)).json() == [theirs]
    # A table without a session has nothing to close: its calls stay (staff resolve them by hand).
    lonely = (await call_staff(client, table, "help")).json()
    assert (await client.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)).status_code == 409
    assert [c["id"] for c in (await client.get("/calls", headers=table.headers)).json()] == [lonely["id"]]


async def test_what_a_call_may_say(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1)
    table = store.tables[1]
    for body, field in [({"reason": "dessert"}, "reason"), ({}, "reason"),
                        ({"reason": "water", "note": "x" * 201}, "note"),
                        ({"reason": "water", "note": 5}, "note"),
                        ({"reason": "water", "note": "no\u0000ice"}, "note"),
                        ({"reason": "water", "table_id": 3}, "table_id")]:
        refused = await client.post("/calls", json=body, headers=table.headers)
        assert refused.status_code == 422, (body, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        assert field in refused.text
    longest = await call_staff(client, table, "other", note="가" * 200)
    assert longest.status_code == 201 and longest.json()["note"] == "가" * 200
    assert (await client.get("/admin/calls", headers=store.admin)).json() == [longest.json()]


async def test_calls_stay_within_their_store_and_table(client: httpx.AsyncClient, stores: Stores) -> None:
    store, elsewhere = await stores.create(tables=1), await stores.create(tables=1)
    call = (await call_staff(client, store.tables[1], "bill")).json()
    # Another store's staff neither see nor resolve it.
    assert (await client.get("/admin/calls", headers=elsewhere.admin)).json() == []
    refused = await client.post(f"/admin/calls/{call['id']}/resolve", headers=elsewhere.admin)
    assert refused.status_code == 404 and refused.headers["content-type"] == "application/problem+json"
    assert (await client.post("/admin/calls/99999999999/resolve", headers=store.admin)).status_code == 404
    # A tablet cannot use the staff's operations, nor staff the tablet's.
    assert (await client.get("/admin/calls", headers=store.tables[1].headers)).status_code in (401, 403)
    assert (await client.post(f"/admin/calls/{call['id']}/resolve",
                              headers=store.tables[1].headers)).status_code in (401, 403)
    assert (await client.post("/calls", json={"reason": "water"}, headers=store.admin)).status_code in (401, 403)
    assert (await client.post("/calls", json={"reason": "water"})).status_code == 401
    # Still open.
    assert (await client.get("/calls", headers=store.tables[1].headers)).json() == [call]


async def test_api_keys_read_calls_with_orders_read_and_resolve_with_orders_write(
        client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=1)
    call = (await call_staff(client, store.tables[1], "help")).json()

    async def key(*scopes: str) -> dict[str, str]:
        created = await client.post("/admin/api-keys", headers=store.admin,
                                    json={"name": "+".join(scopes), "scopes": list(scopes)})
        assert created.status_code == 201, created.text
        return bearer(created.json()["secret"])

    reader, writer = await key("orders:read"), await key("orders:write")
    assert (await client.get("/admin/calls", headers=reader)).json() == [call]
    refused = await client.post(f"/admin/calls/{call['id']}/resolve", headers=reader)
    assert refused.status_code == 403 and "orders:write" in refused.json()["detail"]
    assert (await client.get("/admin/calls", headers=writer)).status_code == 403
    assert (await client.post(f"/admin/calls/{call['id']}/resolve", headers=writer)).status_code == 200


async def test_deleting_a_table_resolves_its_open_calls_on_the_board(client: httpx.AsyncClient, stores: Stores,
                                                                    server: ServerProcess) -> None:
    """A table removed while a call of its (a party that never ordered) is open: the board hears the
    call resolved, rather than keeping it until a reload."""
    store = await stores.create(tables=2)
    table = store.tables[2]
    call = (await call_staff(client, table, "water")).json()
    async with admin_stream(server, store) as board:
        removed = await client.delete(f"/admin/tables/{table.id}", headers=store.admin)
        assert removed.status_code == 204, removed.text
        [message] = await board.take(1)
    assert (message.event, message.json()["id"]) == ("call.resolved", call["id"])
    assert message.json()["resolved_at"] is not None
    assert (await client.get("/admin/calls", headers=store.admin)).json() == []
