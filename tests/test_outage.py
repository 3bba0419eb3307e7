"""The database going away under a worker. One that starts while its database cannot be reached
comes up, answers 503 problem+json, and recovers by itself once the database is back (a replica
restarted during a failover must not need a second restart). Connections terminated while orders
flow (a failover, a pooler restart) give 503 with Retry-After, never a 500; nothing acknowledged is
lost and the board still sees every order."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import NamedTuple
from urllib.parse import parse_qs, urlsplit

import asyncpg
import httpx

from tableorder import db
from tests.conftest import ServerProcess, free_port
from tests.helpers import TABLE_PASSWORD, Store, Stores, Table
from tests.sse import EventStream


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(ConnectionError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    writer.close()


class Forwarder:
    """A TCP port on loopback that relays to the test's PostgreSQL once `open()` is called; until
    then nothing listens there, as with a database host that is down."""

    def __init__(self, database_url: str) -> None:
        parts = urlsplit(database_url)
        query = parse_qs(parts.query)
        host = query.get("host", [parts.hostname or "localhost"])[0]
        port = int(query.get("port", [parts.port or 5432])[0])
        self.unix_path = f"{host}/.s.PGSQL.{port}" if host.startswith("/") else None
        self.target = (host, port)
        self.port = free_port()
        user, password = parts.username or "postgres", parts.password or ""
        self.url = f"postgresql://{user}:{password}@127.0.0.1:{self.port}{parts.path}"
        self.server: asyncio.Server | None = None

    async def _relay(self, client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        if self.unix_path:
            reader, writer = await asyncio.open_unix_connection(self.unix_path)
        else:
            reader, writer = await asyncio.open_connection(*self.target)
        await asyncio.gather(_pipe(client_reader, writer), _pipe(reader, client_writer))

    async def open(self) -> None:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", self.port)

    async def close(self) -> None:
        if self.server is not None:
            self.server.close()


async def test_a_worker_started_during_an_outage_answers_503_then_recovers(
        database_url: str, stores: Stores) -> None:
    store = await stores.create(tables=1)
    forwarder = Forwarder(database_url)
    # Live (GET /health) although the database is unreachable; start() fails if the worker exits.
    server = await asyncio.to_thread(ServerProcess(forwarder.url).start, 30, "/health")
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
            login = {"store_code": store.code, "table_number": 1, "password": TABLE_PASSWORD}
            ready = await client.get("/health/ready")
            assert ready.status_code == 503
            assert ready.headers["content-type"] == "application/problem+json"
            down = await client.post("/api/v1/auth/table/login", json=login)
            assert down.status_code == 503, down.text
            assert down.headers["content-type"] == "application/problem+json"
            assert down.headers["retry-after"]

            await forwarder.open()  # the database is back
            deadline = time.monotonic() + 30
            while (await client.get("/health/ready")).status_code != 200:
                assert time.monotonic() < deadline, "the worker did not recover within 30 s"
                await asyncio.sleep(0.2)
            up = await client.post("/api/v1/auth/table/login", json=login)
            assert up.status_code == 200, up.text
            menu = await client.get("/api/v1/menu", headers={"Authorization": f"Bearer {up.json()['access_token']}"})
            assert menu.status_code == 200
            assert len(menu.json()["categories"][0]["items"]) == len(store.items)
    finally:
        server.stop()
        await forwarder.close()


async def _terminate_backends(database_url: str, application_name: str, stop: asyncio.Event) -> int:
    """What a failover or a pooler restart does to a worker's connections, every ~100 ms."""
    killed = 0
    conn = await asyncpg.connect(db.asyncpg_dsn(database_url))
    try:
        while not stop.is_set():
            killed += await conn.fetchval(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = $1", application_name)
            await asyncio.sleep(0.1)
    finally:
        await conn.close()
    return killed


class Placed(NamedTuple):
    key: str
    order_id: int


async def _place_until_acknowledged(http: httpx.AsyncClient, table: Table, item: int, keys: str,
                                    chaos: asyncio.Event, answers: list[httpx.Response],
                                    placed: list[Placed]) -> None:
    """A tablet placing orders one after another; each is retried with its Idempotency-Key until it
    is acknowledged, as the tablet page does after a 503."""
    deadline = time.monotonic() + 60
    n = 0
    while chaos.is_set():
        n += 1
        key = f"{keys}-{n}"
        while True:
            response = await http.post("/api/v1/orders", headers={**table.headers, "Idempotency-Key": key},
                                       json={"items": [{"menu_item_id": item, "quantity": 1}]})
            answers.append(response)
            if response.status_code == 201:
                placed.append(Placed(key, response.json()["id"]))
                break
            if response.status_code < 500 or time.monotonic() > deadline:
                return  # reported by the caller
            await asyncio.sleep(0.05)


async def _staff_and_guests_reading(http: httpx.AsyncClient, store: Store, chaos: asyncio.Event,
                                    placed: list[Placed], answers: list[httpx.Response]) -> None:
    """The rest of the traffic meanwhile: the board's reads and status moves, a tablet's menu and
    orders, a tablet logging in again."""
    table = store.tables[1]
    rounds = 0
    while chaos.is_set():
        rounds += 1
        requests = [http.get("/api/v1/admin/tables", headers=store.admin),
                    http.get("/api/v1/admin/orders", headers=store.admin),
                    http.get("/api/v1/menu", headers=table.headers),
                    http.get("/api/v1/orders", headers=table.headers)]
        if placed:
            requests.append(http.patch(f"/api/v1/admin/orders/{placed[-1].order_id}", headers=store.admin,
                                       json={"status": "preparing"}))
        if rounds % 10 == 1:
            requests.append(http.post("/api/v1/auth/table/login", json={
                "store_code": store.code, "table_number": table.number, "password": TABLE_PASSWORD}))
        for request in requests:
            answers.append(await request)


async def test_connections_terminated_while_orders_flow_give_503_and_lose_nothing(
        database_url: str, stores: Stores, pool: asyncpg.Pool) -> None:
    tablets = 6
    store = await stores.create(tables=tablets)
    item = store.item_ids()[0]
    server = ServerProcess(database_url, env={"ORDER_RATE_LIMIT_PER_MINUTE": "0"}, capture_output=True)
    await asyncio.to_thread(server.start)
    assert server.process is not None
    answers: list[httpx.Response] = []  # to POST /orders
    others: list[httpx.Response] = []
    placed: list[Placed] = []
    try:
        async with httpx.AsyncClient(base_url=server.url, timeout=30) as http:
            board = await EventStream(f"{server.url}/api/v1", "/admin/orders/stream", store.admin).__aenter__()
            try:
                chaos, stop_killing = asyncio.Event(), asyncio.Event()
                chaos.set()
                killer = asyncio.create_task(_terminate_backends(
                    database_url, f"tableorder-api-{server.process.pid}", stop_killing))
                clients = [asyncio.create_task(_place_until_acknowledged(
                    http, table, item, f"t{number}", chaos, answers, placed))
                    for number, table in store.tables.items()]
                clients.append(asyncio.create_task(_staff_and_guests_reading(http, store, chaos, placed, others)))
                await asyncio.sleep(5)
                stop_killing.set()
                killed = await killer
                chaos.clear()  # each tablet finishes the order it is placing, then stops
                await asyncio.wait_for(asyncio.gather(*clients), 90)

                # The board sees every acknowledged order (reconnecting with Last-Event-ID, as the page does).
                seen: set[int] = set()
                last_id: int | None = None
                deadline = time.monotonic() + 30
                while not {p.order_id for p in placed} <= seen:
                    assert time.monotonic() < deadline, (
                        f"the board lacks {len({p.order_id for p in placed} - seen)} of {len(placed)} orders")
                    try:
                        message = await board.next(timeout=1)
                    except TimeoutError:
                        if board.ended.is_set():
                            await board.close()
                            board = await EventStream(f"{server.url}/api/v1", "/admin/orders/stream",
                                                      store.admin, last_event_id=last_id).__aenter__()
                        continue
                    last_id = message.id if message.id is not None else last_id
                    if message.event == "order.created":
                        seen.add(message.json()["id"])
            finally:
                await board.close()
    finally:
        await asyncio.to_thread(server.stop)

    output = server.output()
    statuses = Counter(r.status_code for r in answers)
    assert killed > 0, "no connection was terminated: the test tested nothing"
    failures = [(r.status_code, r.text[:300]) for r in answers if r.status_code not in (201, 503)]
    # 409: a status move the order already made
    failures += [(r.request.method, r.request.url.path, r.status_code, r.text[:300])
                 for r in others if r.status_code not in (200, 409, 503)]
    assert not failures, (statuses, failures[:5], output[-5000:])
    for response in answers + others:
        if response.status_code == 503:
            assert response.headers["content-type"] == "application/problem+json", response.text
            assert response.json()["status"] == 503 and response.headers["retry-after"], response.text
    # Nothing acknowledged is lost, and no retry of an order that was committed made a second one.
    assert len({p.key for p in placed}) == len(placed)
    in_db = {row["id"] for row in await pool.fetch("SELECT id FROM orders WHERE store_id = $1", store.id)}
    assert in_db == {p.order_id for p in placed}, (len(in_db), len(placed))
    for sign in ("Task exception was never retrieved", "Traceback", "unhandled error"):
        assert sign not in output, output[-5000:]
    print(f"{len(placed)} orders, {killed} connections terminated, answers {dict(statuses)}, "
          f"others {dict(Counter(r.status_code for r in others))}")
