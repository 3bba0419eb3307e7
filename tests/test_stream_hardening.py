"""Event streams in guests' hands (issue 9, points 1, 2, 3 and 7): bounded memory per stream, a
stream quota per table, no replay of an earlier party, and frames that survive any text."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tableorder.events.hub import Event, Hub
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, Table, place
from tests.sse import EventStream

# A large event, like an order of 50 long lines: about 8 KB of JSON.
LARGE_PAYLOAD = json.dumps({"note": "가" * 2000, "items": [{"name": "x" * 30, "quantity": 1}] * 30})


async def add_events(pool: asyncpg.Pool, store_id: int, table_id: int | None, count: int,
                     payload: str = LARGE_PAYLOAD) -> int:
    """Appends `count` events to the store's feed (as the triggers would) and wakes the listeners;
    returns the store's last position."""
    last: int = await pool.fetchval(
        """WITH bump AS (UPDATE stores SET last_event_position = last_event_position + $3 WHERE id = $1
                         RETURNING last_event_position AS last),
                ins AS (INSERT INTO events (store_id, position, type, table_id, payload)
                        SELECT $1, bump.last - $3 + g, 'order.created', $2, $4::json
                          FROM bump, generate_series(1, $3) AS g)
           SELECT last FROM bump""", store_id, table_id, count, payload)
    await pool.execute("SELECT pg_notify('tableorder_events', $1)", f"{store_id}:{last}:order.created")
    return last


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS")


def silent_stream(server: ServerProcess, path: str, headers: dict[str, str], last_event_id: int) -> socket.socket:
    """An event stream whose client sends its request and then never reads a byte."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{server.port}", f"Last-Event-ID: {last_event_id}",
             *(f"{k}: {v}" for k, v in headers.items())]
    sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
    return sock


async def open_streams(server: ServerProcess) -> int:
    async with httpx.AsyncClient() as client:
        return int((await client.get(f"{server.url}/health/ready")).json()["streams"])


@pytest.fixture(scope="module")
def small_server(database_url: str) -> Iterator[ServerProcess]:
    """One worker with small quotas and a short write timeout."""
    with ServerProcess(database_url, env={
            "SSE_MAX_CONNECTIONS_PER_STORE": "3", "SSE_MAX_CONNECTIONS_PER_TABLE": "2",
            "SSE_WRITE_TIMEOUT": "1", "SSE_HEARTBEAT_INTERVAL": "0.5"}) as server:
        yield server


@pytest.fixture(scope="module")
async def via_small(small_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with small_server.api() as client:
        yield client


def table_stream(server: ServerProcess, table: Table, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/orders/stream", table.headers, last_event_id)


def admin_stream(server: ServerProcess, store: Store, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/admin/orders/stream", store.admin, last_event_id)


# -- 1. Resume backlogs are bounded ---------------------------------------------------------------------

async def test_streams_resuming_from_zero_that_never_read_stay_within_60_mb(
        database_url: str, stores: Stores, pool: asyncpg.Pool) -> None:
    """25 streams resume from position 0 over 1,000 events of 8 KB and never read: the worker's
    resident memory stays within 60 MB of its idle size (the whole backlog per stream was 400 MB+)."""
    store = await stores.create()
    await add_events(pool, store.id, store.tables[1].id, 1000)
    server = ServerProcess(database_url, env={"SSE_WRITE_TIMEOUT": "60"}).start()
    sockets: list[socket.socket] = []
    try:
        assert server.process is not None
        # Warm up: one stream reads the whole backlog (the code paths, the pool, the allocator's arenas).
        async with admin_stream(server, store, last_event_id=0) as warm:
            await warm.take(1000, timeout=30)
        idle = rss_kb(server.process.pid)
        sockets = [silent_stream(server, "/api/v1/admin/orders/stream", store.admin, 0) for _ in range(25)]
        peak, deadline = idle, time.monotonic() + 8
        while time.monotonic() < deadline:
            peak = max(peak, rss_kb(server.process.pid))
            await asyncio.sleep(0.1)
        assert await open_streams(server) == 25  # all 25 were served, none refused
        growth_mb = (peak - idle) / 1024
        print(f"worker RSS idle {idle / 1024:.0f} MB, growth with 25 silent resumes {growth_mb:.1f} MB")
        assert growth_mb < 60, f"RSS grew {growth_mb:.0f} MB over an idle {idle / 1024:.0f} MB"
    finally:
        for sock in sockets:
            sock.close()
        server.stop()


async def test_a_stream_that_does_not_drain_is_dropped_after_the_write_timeout(
        small_server: ServerProcess, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    await add_events(pool, store.id, store.tables[1].id, 1000)
    sock = silent_stream(small_server, "/api/v1/admin/orders/stream", store.admin, 0)
    try:
        deadline = time.monotonic() + 20
        while await open_streams(small_server) != 0:
            assert time.monotonic() < deadline, "a stream that never drains was kept open"
            await asyncio.sleep(0.2)
    finally:
        sock.close()


async def test_live_events_held_for_a_slow_client_are_bounded_in_bytes(pool: asyncpg.Pool, stores: Stores) -> None:
    store = await stores.create()
    hub = Hub(pool, max_per_store=10, max_per_table=2, heartbeat_interval=60, max_queued_bytes=65_536)
    try:
        slow = await hub.subscribe(store.id, None, None)
        last = await add_events(pool, store.id, None, 40)  # 40 × 8 KB = 320 KB, five times the bound
        hub.notify(store.id, last)
        deadline = time.monotonic() + 10
        while not slow.dropped:
            assert slow.queued_bytes <= 65_536
            assert time.monotonic() < deadline, "the slow subscriber was never cut off"
            await asyncio.sleep(0.01)
        assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None
    finally:
        hub.close()


async def test_a_table_stream_resumes_only_its_own_events(
        small_server: ServerProcess, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    await add_events(pool, store.id, store.tables[2].id, 300, payload='{"other": true}')
    ours = await add_events(pool, store.id, table.id, 1, payload='{"ours": true}')
    await add_events(pool, store.id, store.tables[2].id, 300, payload='{"other": true}')
    async with table_stream(small_server, table, last_event_id=ours - 1) as tablet:
        message = await tablet.next()
        assert (message.id, message.json()) == (ours, {"ours": True})
        assert await tablet.quiet(0.5) == []


def test_an_event_is_sized_once() -> None:
    event = Event.of(7, "order.created", None, '{"a": 1}')
    assert event.size == len(event.frame)


# -- 2. Table tokens cannot take the board's streams -----------------------------------------------------

async def test_a_table_holds_at_most_two_streams_and_the_board_keeps_its_own(
        small_server: ServerProcess, stores: Stores) -> None:
    store = await stores.create(tables=3)
    opened: list[EventStream] = []
    try:
        for table in store.tables.values():
            for _ in range(2):
                stream = table_stream(small_server, table)
                opened.append(await stream.__aenter__())
                assert stream.status == 200
        refused = await table_stream(small_server, store.tables[1]).__aenter__()
        opened.append(refused)
        assert refused.status == 429
        assert refused.body_on_error is not None
        problem = json.loads(refused.body_on_error)
        assert problem["status"] == 429 and "table" in problem["detail"]
        # Six table streams are open; the store's three admin streams are still there for the staff.
        for _ in range(3):
            board = await admin_stream(small_server, store).__aenter__()
            opened.append(board)
            assert board.status == 200
        over = await admin_stream(small_server, store).__aenter__()
        opened.append(over)
        assert over.status == 429
    finally:
        await asyncio.gather(*(s.close() for s in opened))


async def test_a_gone_client_frees_its_table_slot_promptly(small_server: ServerProcess, stores: Stores) -> None:
    store = await stores.create(tables=1)
    table = store.tables[1]
    first = await table_stream(small_server, table).__aenter__()
    second = await table_stream(small_server, table).__aenter__()
    try:
        assert (first.status, second.status) == (200, 200)
        await first.close()
        deadline = time.monotonic() + 5
        while True:
            again = await table_stream(small_server, table).__aenter__()
            await again.close()
            if again.status == 200:
                break
            assert time.monotonic() < deadline, "the closed stream's slot was not freed"
            await asyncio.sleep(0.1)
    finally:
        await second.close()


# -- 3. A table's stream never replays an earlier party ---------------------------------------------------

async def test_the_next_party_does_not_get_the_previous_partys_orders(
        small_server: ServerProcess, via_small: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    earlier = await place(via_small, table, [(item, 1)], note="party A: birthday, allergic to nuts")
    assert earlier.status_code == 201
    await via_small.patch(f"/admin/orders/{earlier.json()['id']}", headers=store.admin, json={"status": "preparing"})
    closed = await via_small.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    assert closed.status_code == 200
    async with table_stream(small_server, table, last_event_id=0) as tablet:
        first = await tablet.next()
        assert first.event == "resync"
        assert "party A" not in first.data
        assert await tablet.quiet(0.3) == []
        ours = (await place(via_small, table, [(item, 2)])).json()
        message = await tablet.next()
        assert (message.event, message.json()["id"]) == ("order.created", ours["id"])
        resumed_from = message.id
    # The new party's own events still resume losslessly.
    await via_small.patch(f"/admin/orders/{ours['id']}", headers=store.admin, json={"status": "preparing"})
    async with table_stream(small_server, table, last_event_id=resumed_from) as tablet:
        message = await tablet.next()
        assert (message.event, message.json()["status"]) == ("order.updated", "preparing")
    # The staff's feed is the store's record: it still replays everything.
    async with admin_stream(small_server, store, last_event_id=0) as board:
        replayed = [m for m in await board.take(8) if m.event == "order.created"]
        assert "party A" in replayed[0].data


# -- 7. Frames survive Unicode line separators -------------------------------------------------------------

async def test_a_note_with_unicode_line_separators_is_one_data_line(
        small_server: ServerProcess, via_small: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    note = "no onions\u2028extra napkins\u2029window seat\x85thanks"
    received = b""
    async with httpx.AsyncClient(timeout=httpx.Timeout(10, read=None)) as raw, raw.stream(
            "GET", f"{small_server.url}/api/v1/admin/orders/stream", headers=store.admin) as response:
        chunks = response.aiter_raw()
        received += await anext(chunks)  # the retry line: the stream is open
        order = await place(via_small, store.tables[1], [(store.item_ids()[0], 1)], note=note)
        assert order.status_code == 201
        while b"event: order.created" not in received or not received.endswith(b"\n\n"):
            received += await asyncio.wait_for(anext(chunks), 5)
    frame = received[received.index(b"event: order.created"):]
    lines = frame.rstrip(b"\n").split(b"\n")
    assert len(lines) == 2 and lines[1].startswith(b"data: "), lines
    assert json.loads(lines[1][len(b"data: "):]) == order.json()
    assert b"\r" not in frame


# -- SPEC section 3: the table stream carries menu.updated ---------------------------------------------------

async def test_a_table_stream_carries_menu_changes_live_and_on_resume(
        small_server: ServerProcess, via_small: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    async with table_stream(small_server, store.tables[1]) as tablet:
        sold_out = await via_small.patch(f"/admin/menu-items/{item}", headers=store.admin, json={"available": False})
        assert sold_out.status_code == 200
        message = await tablet.next()
        assert message.event == "menu.updated" and message.json()["id"] == item
        seen = message.id
    back = await via_small.patch(f"/admin/menu-items/{item}", headers=store.admin, json={"available": True})
    assert back.status_code == 200
    async with table_stream(small_server, store.tables[1], last_event_id=seen) as tablet:
        message = await tablet.next()
        assert message.event == "menu.updated" and message.id == await pool.fetchval(
            "SELECT last_event_position FROM stores WHERE id = $1", store.id)
