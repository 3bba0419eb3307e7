"""Defects a hostile review of issue 11 found (API keys, webhooks, X-Request-ID, strict bodies,
reconciliation, the stream-only cookie), each written as the behaviour it broke: fair webhook turns
across stores, a graceful stop that finishes its deliveries, site-local IPv6 refused, order history
behind orders:read.

Real servers on a real PostgreSQL; webhook receivers are real HTTP servers on loopback, so the
delivering servers run on a database of their own with WEBHOOK_ALLOW_PRIVATE=true (the suite's other
servers refuse loopback and would otherwise take these endpoints over and fail them).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import asyncpg
import httpx
import uvicorn

from tableorder import db
from tests.conftest import ServerProcess, free_port
from tests.helpers import Store, Stores, bearer, place, serve_on_loopback

# --- a receiver on loopback ---------------------------------------------------------------------------



class Sink:
    """An HTTP server on loopback that records (arrival time, path, webhook-id) of every request.
    `/slow...` answers 200 after `slow_seconds`; `/trap` holds the first request until `release` is set;
    anything else answers 200 at once."""

    def __init__(self, slow_seconds: float = 0.3) -> None:
        self.port = free_port()
        self.slow_seconds = slow_seconds
        self.hits: list[tuple[float, str, str]] = []
        self.held = asyncio.Event()
        self.release = asyncio.Event()
        self._server: uvicorn.Server | None = None
        self._task: asyncio.Task[None] | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def ids(self, path: str) -> list[str]:
        return [webhook_id for _, p, webhook_id in self.hits if p == path]

    async def app(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        path = scope["path"]
        webhook_id = dict(scope["headers"]).get(b"webhook-id", b"").decode()
        self.hits.append((time.monotonic(), path, webhook_id))
        if path.startswith("/slow"):
            await asyncio.sleep(self.slow_seconds)
        if path == "/trap" and not self.held.is_set():
            self.held.set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def __aenter__(self) -> Sink:
        self._server, self._task = await serve_on_loopback(self.app, self.port)
        return self

    async def __aexit__(self, *_: object) -> None:
        self.release.set()
        if self._server is not None and self._task is not None:
            self._server.should_exit = True
            await self._task


async def eventually(check: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


@contextlib.asynccontextmanager
async def own_database(fresh_database: Callable[[str], Awaitable[str]]) -> AsyncIterator[tuple[str, asyncpg.Pool]]:
    url = await fresh_database("tableorder_review11")
    await asyncio.to_thread(db.migrate, url)
    pool = await db.create_pool(url, min_size=1, max_size=5, application_name="tableorder-tests")
    try:
        yield url, pool
    finally:
        await pool.close()


async def create_webhook(client: httpx.AsyncClient, store: Store, url: str, events: list[str]) -> dict[str, Any]:
    response = await client.post("/admin/webhooks", headers=store.admin, json={"url": url, "events": events})
    assert response.status_code == 201, response.text
    return dict(response.json())


# --- webhooks: one store cannot hold up the others ------------------------------------------------------


async def test_a_stores_backlog_on_slow_receivers_does_not_hold_up_other_stores_webhooks(
        fresh_database: Callable[[str], Awaitable[str]]) -> None:
    """A worker serves an endpoint until it reads fewer than EVENTS_PER_READ events, up to EVENTS_PER_CLAIM
    (1000) events per claim. Store A with as many endpoints as WEBHOOK_CONCURRENCY (A may have 20, the
    default concurrency is 8 per process) whose receivers answer slowly but within the timeout, and a
    backlog (its receiver was down for a while, or A simply makes many events), holds every slot for up
    to 1000 x WEBHOOK_TIMEOUT_SECONDS (2.8 hours at the defaults): every other store's webhooks wait that
    long. Here: 2 slots, A's 2 endpoints with 120 events each at 0.3 s a request (30 s per claim); store
    B's one event should still go out within seconds."""
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_CONCURRENCY": "2", "WEBHOOK_TIMEOUT_SECONDS": "5",
           "WEBHOOK_LEASE_SECONDS": "10"}
    async with own_database(fresh_database) as (url, pool), Sink(slow_seconds=0.3) as sink:
        with ServerProcess(url, env) as server:
            async with server.api() as client:
                stores = Stores(pool, client)
                a, b = await stores.create(tables=1, items=1), await stores.create(tables=1, items=1)
                await create_webhook(client, b, sink.url("/fast"), ["menu.updated"])
                slow = [await create_webhook(client, a, sink.url(f"/slow{n}"), ["menu.updated"]) for n in (1, 2)]
                # A's receivers were away (their endpoints disabled) while A's events piled up.
                for endpoint in slow:
                    response = await client.patch(f"/admin/webhooks/{endpoint['id']}", headers=a.admin,
                                                  json={"enabled": False})
                    assert response.status_code == 200, response.text
                [item_a] = a.item_ids()
                for n in range(120):
                    response = await client.patch(f"/admin/menu-items/{item_a}", headers=a.admin,
                                                  json={"price": 100 + n})
                    assert response.status_code == 200, response.text
                for endpoint in slow:
                    response = await client.patch(f"/admin/webhooks/{endpoint['id']}", headers=a.admin,
                                                  json={"enabled": True})
                    assert response.status_code == 200, response.text
                await eventually(lambda: bool(sink.ids("/slow1")) and bool(sink.ids("/slow2")), 10,
                                 "A's backlog is being sent")

                [item_b] = b.item_ids()
                response = await client.patch(f"/admin/menu-items/{item_b}", headers=b.admin, json={"price": 7})
                assert response.status_code == 200, response.text
                await eventually(lambda: bool(sink.ids("/fast")), 8, "store B's event is delivered while A's "
                                 f"backlog drains (A got {len(sink.ids('/slow1'))} so far)")


# --- webhooks: a graceful stop does not send what it was sending twice -------------------------------------


async def test_a_replica_stopped_gracefully_finishes_its_delivery_in_flight_instead_of_duplicating_it(
        fresh_database: Callable[[str], Awaitable[str]]) -> None:
    """WebhookWorker.stop() cancels the delivery tasks at once and releases their leases. A replica that is
    told to stop (SIGTERM: every rolling deploy) while its receiver is answering abandons the answer, and
    the other replica sends the same event again: a duplicate in the normal course of operations, not only
    when a replica crashes. Waiting (at most WEBHOOK_TIMEOUT_SECONDS) for the requests in flight before
    giving the leases back avoids it."""
    env = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT_SECONDS": "5", "WEBHOOK_LEASE_SECONDS": "10"}
    async with own_database(fresh_database) as (url, pool), Sink() as sink:
        replicas = [ServerProcess(url, env), ServerProcess(url, env)]
        await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
        try:
            async with replicas[0].api() as client:
                store = await Stores(pool, client).create(tables=2, items=1)
                await create_webhook(client, store, sink.url("/trap"), ["order.created"])
                [item] = store.item_ids()
                assert (await place(client, store.tables[1], [(item, 1)])).status_code == 201
                await asyncio.wait_for(sink.held.wait(), 10)
                owner = await pool.fetchval("SELECT lease_owner FROM webhook_endpoints WHERE store_id = $1",
                                            store.id)
                (stopping,) = [r for r in replicas if r.process and r.process.pid == int(owner.split(":")[1])]
                (staying,) = [r for r in replicas if r is not stopping]
                assert stopping.process is not None
                stopping.process.terminate()  # SIGTERM: a graceful stop
                await asyncio.sleep(0.5)
                sink.release.set()  # the receiver answers 200, well within the timeout
                await asyncio.to_thread(stopping.process.wait, 15)
            async with staying.api() as client:
                # A later event: it is sent only after everything before it was taken in.
                assert (await place(client, store.tables[2], [(item, 1)])).status_code == 201
                await eventually(lambda: len(set(sink.ids("/trap"))) >= 2, 20, "the later event arrives")
            first = sink.ids("/trap")[0]
            assert sink.ids("/trap").count(first) == 1, sink.ids("/trap")
        finally:
            for r in replicas:
                r.stop()


# --- webhooks: addresses ---------------------------------------------------------------------------------


async def test_a_site_local_ipv6_address_is_refused(client: httpx.AsyncClient, stores: Stores) -> None:
    """fec0::/10 is IPv6's deprecated site-local range (RFC 3879), still routed inside older private
    networks; ipaddress on Python 3.11 counts it neither private nor reserved, so `is_global` is true and
    the URL is taken (and delivered to) on a server without WEBHOOK_ALLOW_PRIVATE."""
    store = await stores.create(tables=0, items=0)
    response = await client.post("/admin/webhooks", headers=store.admin,
                                 json={"url": "http://[fec0::1]/hook", "events": ["order.created"]})
    try:
        assert response.status_code == 422, response.text
        assert [e["field"] for e in response.json()["errors"]] == ["url"]
    finally:
        if response.status_code == 201:
            await client.delete(f"/admin/webhooks/{response.json()['id']}", headers=store.admin)


# --- API keys: scopes ------------------------------------------------------------------------------------


async def test_a_tables_read_key_cannot_read_orders_through_table_history(client: httpx.AsyncClient,
                                                                         stores: Stores) -> None:
    """Orders are what `orders:read` guards (GET /admin/orders, GET /admin/orders/{id}); a key given only
    `tables:read` (a floor-plan integration) must not read them. GetTableHistory declares `tables:read`
    and answers closed sessions with their orders, items and notes."""
    store = await stores.create(tables=1, items=1)
    [item] = store.item_ids()
    order = await place(client, store.tables[1], [(item, 2)], note="allergy: peanuts, room 12, Mr Smith")
    assert order.status_code == 201, order.text
    closed = await client.post(f"/admin/tables/{store.tables[1].id}/close-session", headers=store.admin)
    assert closed.status_code == 200, closed.text
    created = await client.post("/admin/api-keys", headers=store.admin,
                                json={"name": "floor plan", "scopes": ["tables:read"]})
    assert created.status_code == 201, created.text
    key = bearer(created.json()["secret"])
    # What the scope does guard: the orders themselves.
    assert (await client.get(f"/admin/orders/{order.json()['id']}", headers=key)).status_code == 403

    history = await client.get(f"/admin/tables/{store.tables[1].id}/history", headers=key)
    assert "peanuts" not in history.text, history.text
    assert history.status_code == 403, history.text
    assert "orders:read" in history.json()["detail"]
