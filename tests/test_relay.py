"""The relay (issue 13): events published after commit by one elected relay per bus, in both bus modes,
against a database of its own (so no other test's server holds the election): nothing lost, doubled
or reordered across a killed relay leader, a restarted nats-server and reconnecting clients; order
commits no longer NOTIFY; the per-commit design still works behind its switch."""

from __future__ import annotations

import asyncio
import secrets
import signal
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tableorder import db
from tableorder.events.relay import ADVANCE, STEP_NOTIFY, NotifyPublisher, Relay
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, place
from tests.nats_server import NatsServer, require_nats_server_binary
from tests.sse import EventStream

ENV = {"SSE_HEARTBEAT_INTERVAL": "0.3", "ORDER_RATE_LIMIT_PER_MINUTE": "0"}


@pytest.fixture(scope="module")
async def relay_database(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_relay")
    await asyncio.to_thread(db.migrate, url)
    return url


@pytest.fixture(scope="module")
async def relay_pool(relay_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(relay_database, min_size=1, max_size=5, application_name="tableorder-tests")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
def bus_server() -> Iterator[NatsServer]:
    """A nats-server of this module's own: tests here stop and restart it."""
    with NatsServer(require_nats_server_binary()) as server:
        yield server


def bus_env(bus: str, nats: NatsServer) -> dict[str, str]:
    return {**ENV, "EVENT_BUS": "nats", "NATS_URL": nats.url} if bus == "nats" else ENV


async def readiness(server: ServerProcess) -> dict[str, object]:
    async with httpx.AsyncClient(timeout=5) as client:
        response = await client.get(f"{server.url}/health/ready")
    return dict(response.json()) if response.status_code == 200 else {"status": response.status_code}


async def wait_for_leader(servers: list[ServerProcess], timeout: float = 10) -> ServerProcess:  # noqa: ASYNC109
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for server in servers:
            if (await readiness(server)).get("relay") == "active":
                return server
        await asyncio.sleep(0.05)
    raise AssertionError("no relay became active")


def board(server: ServerProcess, store: Store, last_event_id: int | None = None) -> EventStream:
    return EventStream(server.url, "/api/v1/admin/orders/stream", store.admin, last_event_id)


@pytest.mark.parametrize("bus", ["postgres", "nats"])
async def test_a_killed_relay_leader_is_replaced_within_two_seconds_and_nothing_is_lost(
        bus: str, relay_database: str, relay_pool: asyncpg.Pool, bus_server: NatsServer) -> None:
    env = bus_env(bus, bus_server)
    # The leader is the first replica up; the others stand by.
    leader = ServerProcess(relay_database, env=env).start()
    others = [ServerProcess(relay_database, env=env).start() for _ in range(2)]
    try:
        assert await wait_for_leader([leader]) is leader
        assert [(await readiness(s))["relay"] for s in others] == ["standby", "standby"]
        writer, watcher = others
        async with writer.api() as api:
            stores = Stores(relay_pool, api)
            store = await stores.create(tables=4)
            item = store.item_ids()[0]
            start = int(await relay_pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id))
            total = 60
            async with board(watcher, store) as stream:
                async def flow() -> None:
                    for i in range(total):
                        assert (await place(api, store.tables[1 + i % 4], [(item, 1)])).status_code == 201
                        await asyncio.sleep(0.02)

                async def kill_the_leader() -> float:
                    await asyncio.sleep(0.4)
                    assert leader.process is not None
                    leader.process.send_signal(signal.SIGKILL)
                    killed_at = time.monotonic()
                    await wait_for_leader(others, timeout=10)
                    return time.monotonic() - killed_at

                _, takeover = await asyncio.gather(flow(), kill_the_leader())
                got = await stream.take(total, timeout=20)
                # Every order, once, in order; nothing more.
                assert [m.id for m in got] == list(range(start + 1, start + total + 1))
                assert await stream.quiet(0.5) == []
        assert takeover < 2.0, f"a standby took over {takeover:.2f} s after the leader died"
    finally:
        for server in [leader, *others]:
            server.stop()


async def test_a_restarted_nats_server_loses_nothing(relay_database: str, relay_pool: asyncpg.Pool,
                                                     bus_server: NatsServer) -> None:
    """nats-server stopped while orders flow and started again: the relay publishes again what it
    could not (JetStream drops what it already had), replicas read the table for what they missed."""
    env = bus_env("nats", bus_server)
    with ServerProcess(relay_database, env=env) as a, ServerProcess(relay_database, env=env) as b:
        async with a.api() as api:
            store = await Stores(relay_pool, api).create(tables=4)
            item = store.item_ids()[0]
            start = int(await relay_pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id))
            total = 40
            async with board(b, store) as stream:
                async def flow() -> None:
                    for i in range(total):
                        assert (await place(api, store.tables[1 + i % 4], [(item, 1)])).status_code == 201
                        await asyncio.sleep(0.03)

                async def restart() -> None:
                    await asyncio.sleep(0.3)
                    await asyncio.to_thread(bus_server.kill)
                    await asyncio.sleep(1.0)
                    await asyncio.to_thread(bus_server.start)

                await asyncio.gather(flow(), restart())
                got = await stream.take(total, timeout=30)
                assert [m.id for m in got] == list(range(start + 1, start + total + 1))
                assert await stream.quiet(0.5) == []
                # And live again afterwards, through the bus.
                later = (await place(api, store.tables[1], [(item, 1)])).json()
                assert (await stream.next(timeout=10)).json()["id"] == later["id"]


async def test_readiness_follows_the_nats_connection(relay_database: str, bus_server: NatsServer) -> None:
    with ServerProcess(relay_database, env=bus_env("nats", bus_server)) as server:
        assert (await readiness(server))["event_bus"] == "nats"
        await asyncio.to_thread(bus_server.stop)
        try:
            deadline = time.monotonic() + 15
            while (await readiness(server)).get("status") != 503:
                assert time.monotonic() < deadline, "still ready without its bus"
                await asyncio.sleep(0.1)
        finally:
            await asyncio.to_thread(bus_server.start)
        deadline = time.monotonic() + 15
        while (await readiness(server)).get("status") != "ready":
            assert time.monotonic() < deadline, "not ready again after the bus came back"
            await asyncio.sleep(0.1)


async def test_order_commits_do_not_notify_and_the_relay_batches(relay_database: str,
                                                                 relay_pool: asyncpg.Pool) -> None:
    """The point of the relay: an order's transaction sends no NOTIFY (so it never takes the
    cluster-wide notify lock); the relay sends one per batch, naming each store's last position."""
    heard: list[str] = []
    listening = await asyncpg.connect(db.asyncpg_dsn(relay_database))
    await listening.add_listener("tableorder_events", lambda *args: heard.append(args[-1]))
    try:
        # No relay runs yet: orders commit and nothing is heard.
        with ServerProcess(relay_database, env={**ENV, "EVENT_PUBLISH": "commit"}) as server:
            async with server.api() as api:
                stores = [await Stores(relay_pool, api).create(tables=2) for _ in range(3)]
        heard.clear()
        async with relay_pool.acquire() as conn:
            for store in stores:
                await conn.fetchrow("SELECT * FROM place_order($1, $2, $3, $4, NULL, NULL, ''::bytea)",
                                    store.id, store.tables[1].id, [store.item_ids()[0]], [1])
        await asyncio.sleep(0.5)
        assert heard == []
        lasts = {s.id: int(await relay_pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", s.id))
                 for s in stores}
        # A relay starts: it publishes what committed since the last watermark, in one NOTIFY.
        with ServerProcess(relay_database, env=ENV) as server:
            deadline = time.monotonic() + 10
            while not heard:
                assert time.monotonic() < deadline, "the relay published nothing"
                await asyncio.sleep(0.05)
            entries = {entry.split(":")[0]: entry for entry in heard[0].split(";")}
            for store_id, last in lasts.items():
                # (`menu.updated` too: the stores' menus were made since the last watermark.)
                assert entries[str(store_id)] == f"{store_id}:{last}:menu.updated"
    finally:
        await listening.close()


async def test_the_per_commit_design_still_works_behind_its_switch(relay_database: str,
                                                                    relay_pool: asyncpg.Pool) -> None:
    """EVENT_PUBLISH=commit (kept for the comparison in make bench-scale): no relay; each order's
    transaction NOTIFYs as it commits, and the board hears it."""
    with ServerProcess(relay_database, env={**ENV, "EVENT_PUBLISH": "commit"}) as server:
        assert (await readiness(server))["relay"] == "off"
        async with server.api() as api:
            store = await Stores(relay_pool, api).create()
            async with board(server, store) as stream:
                order = (await place(api, store.tables[1], [(store.item_ids()[0], 1)])).json()
                assert (await stream.next()).json()["id"] == order["id"]


async def test_a_batch_of_many_stores_fits_notify_payloads(relay_database: str, relay_pool: asyncpg.Pool) -> None:
    """One relay step covers every store that committed since the watermark: 700 stores' events and
    300 credential changes make a few payloads, each under PostgreSQL's 8000-byte limit, naming every
    store's last position once."""
    heard: list[str] = []
    listening = await asyncpg.connect(db.asyncpg_dsn(relay_database))
    await listening.add_listener("tableorder_events", lambda *args: heard.append(args[-1]))
    try:
        async with relay_pool.acquire() as conn, conn.transaction():
            ids = [r["id"] for r in await conn.fetch(
                "INSERT INTO stores (code, name) SELECT 'many-' || g || '-' || $1, 'Many' "
                "FROM generate_series(1, 700) g RETURNING id", secrets.token_hex(3))]
            await conn.execute("SELECT record_event(id, 'menu.updated', NULL, '{}'::json) FROM unnest($1::bigint[]) id",
                               ids)
            await conn.execute("INSERT INTO store_signals (store_id, kind) "
                               "SELECT id, 'credentials.changed' FROM unnest($1::bigint[]) id", ids[:300])
        relay = Relay(relay_database, relay_pool, NotifyPublisher(), interval=0.01)
        relay.start()
        try:
            deadline = time.monotonic() + 15
            while not {f"{i}:1:menu.updated" for i in ids} <= {e for p in heard for e in p.split(";")}:
                assert time.monotonic() < deadline, "not every store was published"
                await asyncio.sleep(0.05)
        finally:
            await relay.stop()
        assert all(len(payload.encode()) < 8000 for payload in heard)
        entries = [entry for payload in heard for entry in payload.split(";")]
        ours = [e for e in entries if int(e.split(":")[0]) in set(ids)]
        assert sorted(ours) == sorted([f"{i}:1:menu.updated" for i in ids]
                                      + [f"{i}:0:credentials.changed" for i in ids[:300]])
        assert len(heard) >= 3  # 1,000 entries of ~20 bytes do not fit one payload
    finally:
        await listening.close()


async def test_the_relays_commits_do_not_wait_for_the_wal_flush(pool: asyncpg.Pool) -> None:
    """Both of the relay's writes (the postgres bus's step, the NATS bus's watermark advance) turn off
    synchronous_commit for their own transaction (a connection setting, PgBouncer refuses): waiting,
    its ~100 commits a second queued with the orders' flushes. A compare-and-set that matches nothing
    here, so the shared database's relay state is untouched."""
    async with pool.acquire() as conn:
        for statement, arguments in ((STEP_NOTIFY, ("postgres", "1:1:", "1:1:")),
                                     (ADVANCE, ("postgres", "1:1:", "1:1:"))):
            async with conn.transaction():
                assert await conn.fetchval("SHOW synchronous_commit") == "on"
                await conn.execute(statement, *arguments)
                assert await conn.fetchval("SHOW synchronous_commit") == "off"
            assert await conn.fetchval("SHOW synchronous_commit") == "on"  # this transaction only
