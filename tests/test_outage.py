"""A worker that starts while its database cannot be reached: it comes up, answers 503
problem+json, and recovers by itself once the database is back (a replica restarted during a
failover must not need a second restart)."""

from __future__ import annotations

import asyncio
import contextlib
import time
from urllib.parse import parse_qs, urlsplit

import httpx

from tests.conftest import ServerProcess, free_port
from tests.helpers import TABLE_PASSWORD, Stores


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
