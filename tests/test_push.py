"""The push path across real uvicorn replicas on one PostgreSQL: lossless, ordered, isolated."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tableorder import db
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, Table, bearer, place
from tests.sse import EventStream

MAX_STREAMS = 50
REPLICA_ENV = {"SSE_HEARTBEAT_INTERVAL": "0.3", "SSE_MAX_CONNECTIONS_PER_STORE": str(MAX_STREAMS)}


@pytest.fixture(scope="module")
def replica_env() -> dict[str, str]:
    """The replicas' settings; tests/test_push_nats.py runs the bus-independent tests here with
    EVENT_BUS=nats instead."""
    return REPLICA_ENV


@pytest.fixture(scope="module")
def replica_a(database_url: str, replica_env: dict[str, str]) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, env=replica_env) as server:
        yield server


@pytest.fixture(scope="module")
def replica_b(database_url: str, replica_env: dict[str, str]) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, env=replica_env) as server:
        yield server


@pytest.fixture(scope="module")
async def via_a(replica_a: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with replica_a.api() as client:
        yield client


def admin_stream(server: ServerProcess, store: Store, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/admin/orders/stream", store.admin, last_event_id)


def table_stream(server: ServerProcess, table: Table, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/orders/stream", table.headers, last_event_id)


async def positions(pool: asyncpg.Pool, store: Store) -> list[tuple[int, str]]:
    rows = await pool.fetch("SELECT position, type FROM events WHERE store_id = $1 ORDER BY position", store.id)
    return [(r["position"], r["type"]) for r in rows]


async def last_position(pool: asyncpg.Pool, store: Store) -> int:
    return int(await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id))


async def test_changes_through_a_reach_a_stream_on_b(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                     stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    start = await last_position(pool, store)
    async with admin_stream(replica_b, store) as board, table_stream(replica_b, store.tables[1]) as tablet:
        placed = (await place(via_a, store.tables[1], [(item, 2)])).json()
        other = (await place(via_a, store.tables[2], [(item, 1)])).json()
        moved = (await via_a.patch(f"/admin/orders/{placed['id']}", headers=store.admin,
                                   json={"status": "preparing"})).json()
        cancelled = (await via_a.delete(f"/admin/orders/{other['id']}", headers=store.admin)).json()
        closed = (await via_a.post(f"/admin/tables/{store.tables[2].id}/close-session",
                                   headers=store.admin)).json()
        messages = await board.take(5)
        assert [(m.event, m.id) for m in messages] == [
            ("order.created", start + 1), ("order.created", start + 2), ("order.updated", start + 3),
            ("order.cancelled", start + 4), ("table.session_closed", start + 5)]
        assert [m.json() for m in messages[:4]] == [placed, other, moved, cancelled]
        session = messages[4].json()
        assert session["id"] == store.tables[2].id and session["session"] is None
        assert session["closed_session"]["id"] == closed["id"]
        assert session["closed_session"]["total_amount"] == 0  # its only order was cancelled
        # The tablet of table 1 sees only its own order's changes.
        mine = await tablet.take(2)
        assert [(m.event, m.json()["id"]) for m in mine] == [("order.created", placed["id"]),
                                                            ("order.updated", placed["id"])]
        assert await tablet.quiet(0.5) == []
        assert await board.quiet(0.2) == []
    assert [p for p, _ in await positions(pool, store)][-5:] == list(range(start + 1, start + 6))


async def test_a_store_stream_never_carries_another_store(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                          stores: Stores) -> None:
    mine, theirs = await stores.create(), await stores.create()
    async with admin_stream(replica_b, mine) as board:
        await place(via_a, theirs.tables[1], [(theirs.item_ids()[0], 1)])
        await via_a.patch(f"/admin/menu-items/{theirs.item_ids()[0]}", headers=theirs.admin, json={"price": 1})
        ours = (await place(via_a, mine.tables[1], [(mine.item_ids()[0], 1)])).json()
        first = await board.next()
        assert first.json() == ours
        assert await board.quiet(0.5) == []


async def test_reconnect_with_last_event_id_gets_the_rest_once_in_order(
        replica_a: ServerProcess, replica_b: ServerProcess, via_a: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    async with admin_stream(replica_b, store) as board:
        await place(via_a, store.tables[1], [(item, 1)])
        seen = await board.next()
    missed = [(await place(via_a, store.tables[1 + i % 3], [(item, 1)])).json()["id"] for i in range(6)]
    async with admin_stream(replica_a, store, last_event_id=seen.id) as again:
        got = await again.take(6)
        assert [m.json()["id"] for m in got] == missed
        assert [m.id for m in got] == list(range(seen.id + 1, seen.id + 7))  # type: ignore[operator]
        later = (await place(via_a, store.tables[1], [(item, 1)])).json()
        assert (await again.next()).json()["id"] == later["id"]
        assert await again.quiet(0.3) == []


async def test_listener_killed_while_orders_flow_loses_nothing(
        replica_b: ServerProcess, via_a: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create(tables=4)
    item = store.item_ids()[0]
    start = await last_position(pool, store)
    total = 40
    async with admin_stream(replica_b, store) as board:
        async def flow() -> None:
            for i in range(total):
                assert (await place(via_a, store.tables[1 + i % 4], [(item, 1)])).status_code == 201
                await asyncio.sleep(0.01)

        async def kill_listeners() -> int:
            killed = 0
            for _ in range(4):
                await asyncio.sleep(0.08)
                killed += await pool.fetchval(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                    "WHERE application_name LIKE 'tableorder-listener-%'")
            return killed

        _, killed = await asyncio.gather(flow(), kill_listeners())
        assert killed >= 4
        got = await board.take(total, timeout=15)
        assert [m.id for m in got] == list(range(start + 1, start + total + 1))
        assert await board.quiet(0.5) == []
    # The listener came back by itself.
    deadline = time.monotonic() + 10
    async with httpx.AsyncClient() as probe:
        while (await probe.get(f"{replica_b.url}/health/ready")).status_code != 200:
            assert time.monotonic() < deadline, "replica B did not become ready again"
            await asyncio.sleep(0.1)


async def test_transactions_committing_out_of_order_are_both_delivered(
        replica_b: ServerProcess, stores: Stores, database_url: str, pool: asyncpg.Pool) -> None:
    """T1 starts first and commits last. A global sequence would give T1 the lower id, visible only
    after a reader had passed T2's: that reader loses T1. Positions are taken at commit: no loss."""
    store = await stores.create()
    item = store.item_ids()[0]
    start = await last_position(pool, store)
    first = await asyncpg.connect(db.asyncpg_dsn(database_url))
    second = await asyncpg.connect(db.asyncpg_dsn(database_url))
    try:
        async with admin_stream(replica_b, store) as board:
            t1 = first.transaction()
            await t1.start()
            await first.execute("UPDATE menu_items SET price = price + 1 WHERE id = $1", item)
            await second.fetchrow("SELECT * FROM place_order($1, $2, $3, $4, NULL, NULL, ''::bytea)",
                                  store.id, store.tables[1].id, [item], [1])
            got_second = await board.next()
            assert (got_second.event, got_second.id) == ("order.created", start + 1)
            await t1.commit()
            got_first = await board.next()
            assert (got_first.event, got_first.id) == ("menu.updated", start + 2)
        # A client that left after the first event and comes back misses nothing either.
        async with admin_stream(replica_b, store, last_event_id=start + 1) as resumed:
            assert (await resumed.next()).id == start + 2
    finally:
        await first.close()
        await second.close()


async def test_last_event_id_older_than_retention_gets_resync(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                              stores: Stores, pool: asyncpg.Pool) -> None:
    from tableorder.events.housekeeping import prune
    from tableorder.settings import Settings

    store = await stores.create()
    for _ in range(3):
        await place(via_a, store.tables[1], [(store.item_ids()[0], 1)])
    await pool.execute("UPDATE events SET created_at = now() - interval '2 days' WHERE store_id = $1", store.id)
    await prune(pool, Settings.from_env({"EVENT_RETENTION_HOURS": "24"}))
    assert await positions(pool, store) == []
    async with admin_stream(replica_b, store, last_event_id=1) as stale:
        message = await stale.next()
        # The client reloads over REST; the stream goes on from the store's current position.
        assert (message.event, message.id) == ("resync", await last_position(pool, store))
        assert "no longer kept" in message.json()["reason"]
        order = (await place(via_a, store.tables[1], [(store.item_ids()[0], 1)])).json()
        assert (await stale.next()).json()["id"] == order["id"]
    # From a position the store has not reached yet: resync too, saying so.
    async with admin_stream(replica_b, store, last_event_id=10**6) as ahead:
        message = await ahead.next()
        assert message.event == "resync" and "ahead" in message.json()["reason"]
    # Up to date: nothing to resync, and new events flow.
    async with admin_stream(replica_b, store, last_event_id=await last_position(pool, store)) as current:
        order = (await place(via_a, store.tables[1], [(store.item_ids()[0], 1)])).json()
        assert (await current.next()).json()["id"] == order["id"]


async def test_heartbeat_comments_keep_idle_streams_alive(replica_b: ServerProcess, stores: Stores) -> None:
    store = await stores.create()
    async with admin_stream(replica_b, store) as board:
        await asyncio.sleep(1.2)
        assert board.comments >= 2


async def test_stream_limit_per_store_and_resources_freed(replica_b: ServerProcess, stores: Stores) -> None:
    store, other = await stores.create(), await stores.create()
    streams = [admin_stream(replica_b, store) for _ in range(MAX_STREAMS)]
    try:
        for stream in streams:
            await stream.__aenter__()
        assert {s.status for s in streams} == {200}
        async with admin_stream(replica_b, store) as refused:
            assert refused.status == 429
            assert refused.body_on_error and '"status":429' in refused.body_on_error.replace(" ", "")
        async with admin_stream(replica_b, other) as elsewhere:  # the limit is per store
            assert elsewhere.status == 200
    finally:
        await asyncio.gather(*(s.close() for s in streams))


async def ready_counts(server: ServerProcess) -> dict[str, int]:
    async with httpx.AsyncClient() as client:
        body = (await client.get(f"{server.url}/health/ready")).json()
    return {"streams": body["streams"], "feeds": body["feeds"]}


async def test_a_thousand_clients_come_and_go_and_the_hub_is_empty(replica_b: ServerProcess, stores: Stores) -> None:
    stores_ = [await stores.create(tables=1, items=1) for _ in range(2)]
    shared = httpx.AsyncClient(timeout=httpx.Timeout(10, read=None),
                               limits=httpx.Limits(max_connections=100, max_keepalive_connections=0))
    for round_ in range(20):
        batch = [EventStream(replica_b.url, "/api/v1/admin/orders/stream", stores_[i % 2].admin, client=shared)
                 for i in range(50)]
        await asyncio.gather(*(s.__aenter__() for s in batch))
        assert all(s.status == 200 for s in batch), round_
        await asyncio.gather(*(s.close() for s in batch))
    await shared.aclose()
    deadline = time.monotonic() + 10
    while (counts := await ready_counts(replica_b)) != {"streams": 0, "feeds": 0}:
        assert time.monotonic() < deadline, counts
        await asyncio.sleep(0.1)


async def test_an_order_of_fifty_long_lines_streams(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                    stores: Stores) -> None:
    store = await stores.create(items=50)
    for item in store.item_ids():
        await via_a.patch(f"/admin/menu-items/{item}", headers=store.admin,
                          json={"name": ("긴 이름 " * 20)[:95] + f"{item:05d}"[-5:]})
    async with admin_stream(replica_b, store) as board:
        response = await place(via_a, store.tables[1], [(item, 99) for item in store.item_ids()])
        assert response.status_code == 201
        message = await board.next()
        assert len(message.data.encode()) > 8000
        assert message.json() == response.json()
        assert len(message.json()["items"]) == 50


async def test_sigterm_ends_streams_and_clients_resume_elsewhere(
        database_url: str, replica_env: dict[str, str], replica_a: ServerProcess, via_a: httpx.AsyncClient,
        stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    doomed = ServerProcess(database_url, env=replica_env).start()
    try:
        async with admin_stream(doomed, store) as board:
            await place(via_a, store.tables[1], [(item, 1)])
            seen = await board.next()
            began = time.monotonic()
            assert doomed.process is not None
            doomed.process.send_signal(signal.SIGTERM)
            await asyncio.wait_for(board.ended.wait(), 5)
            doomed.process.wait(10)
            assert time.monotonic() - began < 5
        missed = (await place(via_a, store.tables[1], [(item, 2)])).json()
        async with admin_stream(replica_a, store, last_event_id=seen.id) as resumed:
            assert (await resumed.next()).json() == missed
    finally:
        doomed.stop()


async def test_readiness_follows_the_listener(fresh_database, postgres_url: str) -> None:  # type: ignore[no-untyped-def]
    """While the listener cannot reconnect /health/ready is 503; it recovers by itself."""
    url = await fresh_database("tableorder_ready")
    await asyncio.to_thread(db.migrate, url)
    name = url.split("?")[0].rsplit("/", 1)[1]
    server = ServerProcess(url).start()
    admin = await asyncpg.connect(db.asyncpg_dsn(postgres_url))
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name LIKE 'tableorder-listener-%' AND datname = $1", name)
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 10
            while (response := await client.get(f"{server.url}/health/ready")).status_code != 503:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.05)
            assert response.headers["content-type"].startswith("application/problem+json")
            await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
            deadline = time.monotonic() + 15
            while (await client.get(f"{server.url}/health/ready")).status_code != 200:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()
        server.stop()


async def test_a_silently_dead_listener_is_replaced(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                   stores: Stores, pool: asyncpg.Pool) -> None:
    """SIGSTOP freezes the listener's backend: no error, no answer. The watchdog notices."""
    store = await stores.create()
    listener_pids = {r["pid"] for r in await pool.fetch(
        "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'tableorder-listener-%'")}
    frozen = list(listener_pids)
    for pid in frozen:
        os.kill(pid, signal.SIGSTOP)
    try:
        async with admin_stream(replica_b, store) as board:
            order = (await place(via_a, store.tables[1], [(store.item_ids()[0], 1)])).json()
            message = await board.next(timeout=20)  # watchdog interval + timeout + reconnect
            assert message.json()["id"] == order["id"]
        now = {r["pid"] for r in await pool.fetch(
            "SELECT pid FROM pg_stat_activity WHERE application_name LIKE 'tableorder-listener-%'")}
        assert now - listener_pids, "no new listener connection was made"
    finally:
        for pid in frozen:
            os.kill(pid, signal.SIGCONT)


async def test_a_menu_edit_through_a_is_served_by_b_within_a_second(
        replica_b: ServerProcess, via_a: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    async with httpx.AsyncClient(base_url=f"{replica_b.url}/api/v1") as via_b:
        def price_on(menu: dict) -> int:  # type: ignore[type-arg]
            return next(i["price"] for c in menu["categories"] for i in c["items"] if i["id"] == item)

        before = await via_b.get("/menu", headers=store.tables[1].headers)
        cached = await via_b.get("/menu", headers=store.tables[1].headers)  # now from B's memory
        assert cached.headers["etag"] == before.headers["etag"]
        edited = await via_a.patch(f"/admin/menu-items/{item}", headers=store.admin, json={"price": 4321})
        assert edited.status_code == 200
        changed_at = time.monotonic()
        while True:
            response = await via_b.get("/menu", headers={**store.tables[1].headers,
                                                         "If-None-Match": before.headers["etag"]})
            if response.status_code == 200:
                break
            assert time.monotonic() - changed_at < 1.0, "replica B served the old menu for over a second"
            await asyncio.sleep(0.02)
        assert price_on(response.json()) == 4321
        assert response.headers["etag"] != before.headers["etag"]


def test_a_stream_needs_a_token(replica_b: ServerProcess) -> None:
    assert httpx.get(f"{replica_b.url}/api/v1/admin/orders/stream").status_code == 401
    assert httpx.get(f"{replica_b.url}/api/v1/orders/stream", headers=bearer("x.y.z")).status_code == 401
