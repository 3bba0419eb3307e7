"""Moving and merging a table's session (SPEC section 10, issue 12): the session moves to a free table
or merges into the target's open session, orders and calls follow, totals add up, both tablets are
told; a move racing new orders on either table loses none and leaves none on a closed session; and a
table's stream still never replays an earlier party."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, Table, place
from tests.sse import EventStream


def table_stream(server: ServerProcess, table: Table, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/orders/stream", table.headers, last_event_id)


def admin_stream(server: ServerProcess, store: Store, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/admin/orders/stream", store.admin, last_event_id)


async def move(client: httpx.AsyncClient, store: Store, source: Table | int, target: Table | int) -> httpx.Response:
    source_id = source if isinstance(source, int) else source.id
    target_id = target if isinstance(target, int) else target.id
    return await client.post(f"/admin/tables/{source_id}/move", json={"to_table_id": target_id},
                             headers=store.admin)


async def order(client: httpx.AsyncClient, table: Table, item: int, quantity: int = 1) -> dict[str, Any]:
    response = await place(client, table, [(item, quantity)])
    assert response.status_code == 201, response.text
    placed: dict[str, Any] = response.json()
    return placed


async def test_a_session_moves_to_a_free_table(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=3)
    source, target = store.tables[1], store.tables[3]
    [first, second, *_] = store.item_ids()
    one, two = await order(client, source, first, 2), await order(client, source, second)
    before = (await client.get("/orders", headers=source.headers)).json()

    moved = await move(client, store, source, target)
    assert moved.status_code == 200, moved.text
    body = moved.json()
    assert body["merged"] is False
    assert body["from_table"] == {"id": source.id, "number": 1, "session": None}
    session = body["to_table"]["session"]
    assert body["to_table"]["id"] == target.id and body["to_table"]["number"] == 3
    # The same session, its start and its totals, now at table 3.
    assert {k: session[k] for k in ("id", "started_at", "order_count", "total_amount")} == {
        k: before["session"][k] for k in ("id", "started_at", "order_count", "total_amount")}
    assert session["table_id"] == target.id and session["table_number"] == 3

    # The guests' orders are table 3's now; table 1 is free.
    mine = (await client.get("/orders", headers=target.headers)).json()
    assert [o["id"] for o in mine["orders"]] == [two["id"], one["id"]]
    assert all((o["table_id"], o["table_number"], o["session_id"]) == (target.id, 3, session["id"])
               for o in mine["orders"])
    assert mine["total_amount"] == before["total_amount"]
    assert (await client.get("/orders", headers=source.headers)).json() == {
        "session": None, "total_amount": 0, "orders": []}
    tables = {t["id"]: t for t in (await client.get("/admin/tables", headers=store.admin)).json()}
    assert tables[source.id]["session"] is None and tables[target.id]["session"] == session

    # The next order at table 3 joins the moved session; one at table 1 opens a new one.
    assert (await order(client, target, first))["session_id"] == session["id"]
    assert (await order(client, source, first))["session_id"] != session["id"]


async def test_a_session_merges_into_the_targets_session(client: httpx.AsyncClient, stores: Stores,
                                                         pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    [first, second, *_] = store.item_ids()
    theirs = await order(client, target, first)
    ours = [await order(client, source, second, 2), await order(client, source, first)]
    cancelled = await order(client, source, second)
    assert (await client.delete(f"/admin/orders/{cancelled['id']}", headers=store.admin)).status_code == 200
    target_before = (await client.get("/orders", headers=target.headers)).json()["session"]
    source_before = (await client.get("/orders", headers=source.headers)).json()["session"]

    merged = await move(client, store, source, target)
    assert merged.status_code == 200, merged.text
    body = merged.json()
    assert body["merged"] is True and body["from_table"]["session"] is None
    session = body["to_table"]["session"]
    # The target's session goes on: its id and start; the totals of both (the cancelled order counts in none).
    assert (session["id"], session["started_at"]) == (target_before["id"], target_before["started_at"])
    assert session["order_count"] == 3
    assert session["total_amount"] == target_before["total_amount"] + source_before["total_amount"]
    mine = (await client.get("/orders", headers=target.headers)).json()
    assert {o["id"] for o in mine["orders"]} == {theirs["id"], cancelled["id"], *(o["id"] for o in ours)}
    assert {(o["table_id"], o["table_number"], o["session_id"]) for o in mine["orders"]} == {
        (target.id, 2, session["id"])}
    assert mine["total_amount"] == session["total_amount"]
    # The merged session left no record of its own (no empty session in table 1's history).
    assert await pool.fetchval("SELECT count(*) FROM table_sessions WHERE id = $1", source_before["id"]) == 0
    history = (await client.get(f"/admin/tables/{source.id}/history", headers=store.admin)).json()
    assert history["items"] == []

    # Closing the target's session closes everything both parties ordered, with one total.
    closed = (await client.post(f"/admin/tables/{target.id}/close-session", headers=store.admin)).json()
    assert (closed["order_count"], closed["total_amount"]) == (3, session["total_amount"])
    history = (await client.get(f"/admin/tables/{target.id}/history", headers=store.admin)).json()
    assert [len(s["orders"]) for s in history["items"]] == [4]


async def test_what_a_move_refuses(client: httpx.AsyncClient, stores: Stores) -> None:
    store, elsewhere = await stores.create(tables=2), await stores.create(tables=1)
    source, target = store.tables[1], store.tables[2]
    nobody = await move(client, store, source, target)
    assert nobody.status_code == 409 and nobody.headers["content-type"] == "application/problem+json"
    await order(client, source, store.item_ids()[0])
    itself = await move(client, store, source, source)
    assert itself.status_code == 422 and "to_table_id" in itself.text
    for refused in (await move(client, store, source, elsewhere.tables[1]),
                    await move(client, elsewhere, elsewhere.tables[1], source),
                    await move(client, store, source, 99_999_999_999),
                    await move(client, store, elsewhere.tables[1], target)):
        assert refused.status_code == 404, refused.text
    for body in ({}, {"to_table_id": "2"}, {"to_table_id": 0}, {"to_table_id": target.id, "merge": True}):
        bad = await client.post(f"/admin/tables/{source.id}/move", json=body, headers=store.admin)
        assert bad.status_code == 422, (body, bad.text)
    assert (await client.post(f"/admin/tables/{source.id}/move", json={"to_table_id": target.id},
                              headers=source.headers)).status_code in (401, 403)
    # Nothing moved.
    assert len((await client.get("/orders", headers=source.headers)).json()["orders"]) == 1
    assert (await client.get("/orders", headers=target.headers)).json()["session"] is None


async def test_a_merge_beyond_a_sessions_most_orders_is_refused(database_url: str, stores: Stores) -> None:
    with ServerProcess(database_url, env={"SESSION_MAX_ORDERS": "3", "ORDER_RATE_LIMIT_PER_MINUTE": "0"}) as server:
        async with server.api() as api:
            store = await stores.create(tables=3)
            [a, b, c] = store.tables.values()
            item = store.item_ids()[0]
            for table, count in ((a, 2), (b, 2), (c, 1)):
                for _ in range(count):
                    await order(api, table, item)
            full = await move(api, store, a, b)
            assert full.status_code == 409 and full.json()["type"].endswith("session-full")
            assert (await move(api, store, c, b)).status_code == 200  # 3 orders: the most, not more


async def test_both_tablets_and_the_board_are_told(client: httpx.AsyncClient, stores: Stores,
                                                   server: ServerProcess) -> None:
    store = await stores.create(tables=3)
    source, target, bystander = store.tables[1], store.tables[2], store.tables[3]
    await order(client, source, store.item_ids()[0])
    async with table_stream(server, source) as leaving, table_stream(server, target) as arriving, \
            table_stream(server, bystander) as other, admin_stream(server, store) as board:
        body = (await move(client, store, source, target)).json()
        expected = {"from_table_id": source.id, "from_table_number": 1, "to_table_id": target.id,
                    "to_table_number": 2, "session_id": body["to_table"]["session"]["id"], "merged": False}
        heard = [await stream.next() for stream in (leaving, arriving)]
        assert [(m.event, m.json()) for m in heard] == [("table.session_moved", expected)] * 2
        on_board = await board.take(2)
        assert [(m.event, m.json()) for m in on_board] == [("table.session_moved", expected)] * 2
        assert {m.id for m in on_board} == {m.id for m in heard}
        assert await other.quiet(0.3) == []
        # What happens at table 2 now reaches table 2's tablet, not table 1's.
        placed = await order(client, target, store.item_ids()[0])
        message = await arriving.next()
        assert (message.event, message.json()["id"]) == ("order.created", placed["id"])
        assert await leaving.quiet(0.3) == []


async def test_open_calls_follow_the_guests(client: httpx.AsyncClient, stores: Stores,
                                            server: ServerProcess) -> None:
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    await order(client, source, store.item_ids()[0])
    await order(client, target, store.item_ids()[0])
    water = (await client.post("/calls", json={"reason": "water"}, headers=source.headers)).json()
    bill = (await client.post("/calls", json={"reason": "bill"}, headers=source.headers)).json()
    their_bill = (await client.post("/calls", json={"reason": "bill"}, headers=target.headers)).json()
    async with table_stream(server, source) as leaving:
        assert (await move(client, store, source, target)).status_code == 200
        messages = await leaving.take(2)
        assert await leaving.quiet(0.3) == []
    # Table 2 already asked for the bill: that call stands for both, table 1's is resolved.
    assert (messages[0].event, messages[0].json()["id"]) == ("call.resolved", bill["id"])
    assert (messages[1].event, messages[1].json()["from_table_id"]) == ("table.session_moved", source.id)
    calls = (await client.get("/calls", headers=target.headers)).json()
    assert [(c["id"], c["table_id"], c["table_number"]) for c in calls] == [
        (water["id"], target.id, 2), (their_bill["id"], target.id, 2)]
    assert (await client.get("/calls", headers=source.headers)).json() == []
    # The moved call is resolved as table 2's, from the board.
    resolved = await client.post(f"/admin/calls/{water['id']}/resolve", headers=store.admin)
    assert resolved.json()["table_id"] == target.id


@pytest.fixture(scope="module")
def unlimited(database_url: str) -> Iterator[ServerProcess]:
    """A server whose tables may order as fast as the race needs."""
    with ServerProcess(database_url, env={"ORDER_RATE_LIMIT_PER_MINUTE": "0"}) as server:
        yield server


@pytest.mark.parametrize("target_busy", [False, True], ids=["move", "merge"])
async def test_a_move_racing_new_orders_on_both_tables_loses_none(
        target_busy: bool, stores: Stores, unlimited: ServerProcess, pool: asyncpg.Pool) -> None:
    """Each round: a move from table 1 to table 2 while both tablets order. Every order placed is in an
    open session of the table it now belongs to, none in a closed or vanished session, and the
    sessions' totals are their orders' sum."""
    store = await stores.create(tables=2, items=2)
    source, target = store.tables[1], store.tables[2]
    item = store.item_ids()[0]
    clients = [unlimited.api() for _ in range(13)]
    try:
        for _ in range(6):
            placed = [(await order(clients[0], source, item))["id"], (await order(clients[0], source, item))["id"]]
            if target_busy:
                placed.append((await order(clients[0], target, item))["id"])
            # Staff move the first orders along and the guests call staff while the session moves: these
            # take the same rows in their own order (the order, then its table and session; the table).
            others = [clients[9].patch(f"/admin/orders/{placed[0]}", json={"status": "preparing"},
                                       headers=store.admin),
                      clients[10].patch(f"/admin/orders/{placed[-1]}", json={"status": "cancelled"},
                                        headers=store.admin),
                      clients[11].post("/calls", json={"reason": "water"}, headers=source.headers),
                      clients[12].post("/calls", json={"reason": "water"}, headers=target.headers)]
            racers = [move(clients[0], store, source, target),
                      *(place(c, source, [(item, 1)]) for c in clients[1:5]),
                      *(place(c, target, [(item, 1)]) for c in clients[5:9])]
            results = await asyncio.gather(*racers, *others)
            assert results[0].status_code == 200, results[0].text
            for response in results[len(racers):]:
                assert response.status_code in (200, 201), response.text
            for response in results[1:len(racers)]:
                assert response.status_code == 201, response.text
                placed.append(response.json()["id"])
            # Every order of the round: there, in an open session of the table it belongs to, under that
            # table's number; and each open session's total is its orders' sum.
            rows = await pool.fetch(
                """SELECT o.id, o.table_id, s.table_id AS session_table, o.table_number, t.number,
                          s.closed_at
                     FROM orders o JOIN table_sessions s ON s.id = o.session_id JOIN tables t ON t.id = o.table_id
                    WHERE o.id = ANY($1::bigint[])""", placed)
            assert len(rows) == len(placed)
            for row in rows:
                assert row["closed_at"] is None and row["table_id"] == row["session_table"], dict(row)
                assert row["table_number"] == row["number"], dict(row)
            tables = (await clients[0].get("/admin/tables", headers=store.admin)).json()
            sessions = [t["session"] for t in tables if t["session"] is not None]
            counted = len(placed) - 1  # one was cancelled
            assert sum(s["order_count"] for s in sessions) == counted
            assert sum(s["total_amount"] for s in sessions) == counted * store.items[item][1]
            # At most one open call per table and reason, whichever side of the move each landed on.
            calls = (await clients[0].get("/admin/calls", headers=store.admin)).json()
            assert sorted(c["table_id"] for c in calls) in ([target.id], [source.id, target.id]), calls
            # Start the next round from empty tables.
            for table in (source, target):
                await clients[0].post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
            for call in (await clients[0].get("/admin/calls", headers=store.admin)).json():
                await clients[0].post(f"/admin/calls/{call['id']}/resolve", headers=store.admin)
    finally:
        await asyncio.gather(*(c.aclose() for c in clients))
    # No session was left empty (a merged one is gone, not closed empty).
    assert await pool.fetchval(
        """SELECT count(*) FROM table_sessions s WHERE s.store_id = $1
              AND NOT EXISTS (SELECT 1 FROM orders o WHERE o.session_id = s.id)""", store.id) == 0


# --- a table's stream never replays an earlier party, also across moves ----------------------------------


async def test_the_table_left_behind_does_not_replay_the_party_that_moved(
        client: httpx.AsyncClient, stores: Stores, server: ServerProcess) -> None:
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    item = store.item_ids()[0]
    async with table_stream(server, source) as tablet:
        assert (await place(client, source, [(item, 1)], note="party A: allergic to nuts")).status_code == 201
        seen = (await tablet.next()).id
    assert (await move(client, store, source, target)).status_code == 200
    # The next party sits at table 1 and orders; a tablet there resumes from party A's time.
    ours = await order(client, source, item)
    async with table_stream(server, source, last_event_id=seen - 1) as tablet:
        message = await tablet.next()
        assert message.event == "resync" and message.json()["cause"] == "session_changed"
        assert "party A" not in message.data and await tablet.quiet(0.3) == []
        # Live from there on: the new party's own events.
        await client.patch(f"/admin/orders/{ours['id']}", json={"status": "preparing"}, headers=store.admin)
        message = await tablet.next()
        assert (message.event, message.json()["id"]) == ("order.updated", ours["id"])


async def test_the_target_table_does_not_replay_its_previous_party(
        client: httpx.AsyncClient, stores: Stores, server: ServerProcess, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    item = store.item_ids()[0]
    # Table 2's previous party ordered and left; a position from their time.
    async with table_stream(server, target) as tablet:
        assert (await place(client, target, [(item, 1)], note="party B: birthday")).status_code == 201
        during_b = (await tablet.next()).id
    assert (await client.post(f"/admin/tables/{target.id}/close-session", headers=store.admin)).status_code == 200
    await place(client, source, [(item, 1)], note="party A")
    assert (await move(client, store, source, target)).status_code == 200
    moved = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
    # From party B's time: a resync, nothing of party B (nor of party A from before it arrived).
    async with table_stream(server, target, last_event_id=during_b - 1) as tablet:
        message = await tablet.next()
        assert (message.event, message.json()["cause"]) == ("resync", "session_changed")
        assert "party" not in message.data and await tablet.quiet(0.3) == []
    # From the move on, table 2's own events resume losslessly.
    placed = await order(client, target, item)
    async with table_stream(server, target, last_event_id=moved) as tablet:
        message = await tablet.next()
        assert (message.event, message.json()["id"]) == ("order.created", placed["id"])
        assert await tablet.quiet(0.3) == []
    # From just before the move (after party B left): the move is the boundary, the tablet reloads.
    async with table_stream(server, target, last_event_id=moved - 1) as tablet:
        assert (await tablet.next()).event == "resync"


async def test_a_merge_target_resumes_after_the_merge(client: httpx.AsyncClient, stores: Stores,
                                                      server: ServerProcess, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    item = store.item_ids()[0]
    await order(client, target, item)
    await place(client, source, [(item, 1)], note="party A")
    before = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
    assert (await move(client, store, source, target)).json()["merged"] is True
    merged = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
    async with table_stream(server, target, last_event_id=before) as tablet:
        message = await tablet.next()
        assert (message.event, message.json()["cause"]) == ("resync", "session_changed")
    placed = await order(client, target, item)
    async with table_stream(server, target, last_event_id=merged) as tablet:
        message = await tablet.next()
        assert (message.event, message.json()["id"]) == ("order.created", placed["id"])


async def test_a_move_that_finds_its_rows_busy_tries_again_and_then_says_so(
        client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    """The move never waits for a row while holding another (see tables/queries.py): a row held a moment
    is waited out by trying again; one held on and on is a 503 with Retry-After, and nothing moved."""
    store = await stores.create(tables=2)
    source, target = store.tables[1], store.tables[2]
    placed = await order(client, source, store.item_ids()[0])
    async with pool.acquire() as conn:
        # A status change in flight: its order's row, held until its transaction ends.
        transaction = conn.transaction()
        await transaction.start()
        await conn.execute("SELECT 1 FROM orders WHERE id = $1 FOR NO KEY UPDATE", placed["id"])
        busy = await move(client, store, source, target)
        assert busy.status_code == 503 and busy.headers["retry-after"] == "1", busy.text
        assert busy.headers["content-type"] == "application/problem+json"
        assert (await client.get("/orders", headers=source.headers)).json()["orders"][0]["id"] == placed["id"]
        # Held for a moment only: the move waits it out.
        release = asyncio.get_running_loop().call_later(0.3, lambda: asyncio.ensure_future(transaction.rollback()))
        moved = await move(client, store, source, target)
        release.cancel()
    assert moved.status_code == 200, moved.text
    assert [o["id"] for o in (await client.get("/orders", headers=target.headers)).json()["orders"]] == [placed["id"]]
