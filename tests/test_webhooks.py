"""Signed webhooks (issue 11, point 5; SPEC section 9), end to end: real replicas (uvicorn processes) on
a real PostgreSQL deliver to a real HTTP receiver on loopback, which checks every request with the
`standardwebhooks` package.

The delivering replicas run with WEBHOOK_ALLOW_PRIVATE=true (the receiver is on loopback) on a
database of this module's own, so the suite's other servers (which refuse loopback) never take
these endpoints over. The refusals themselves are checked on the suite's shared server.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import pytest
import uvicorn
from standardwebhooks import Webhook, WebhookVerificationError

from tableorder import db
from tableorder.events.housekeeping import prune
from tableorder.settings import Settings, SettingsError
from tests.conftest import ServerProcess, free_port
from tests.helpers import Store, Stores, place, serve_on_loopback

ALL_TYPES = ["order.created", "order.updated", "order.cancelled", "table.session_closed", "menu.updated"]
OTHER_SECRET = "whsec_" + base64.b64encode(b"not the endpoint's secret, 32 b.").decode()
WEBHOOK_ENV = {"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT_SECONDS": "5", "WEBHOOK_LEASE_SECONDS": "10"}
# Short enough that a killed replica's endpoint is taken over within seconds.
REPLICA_ENV = {**WEBHOOK_ENV, "WEBHOOK_TIMEOUT_SECONDS": "3", "WEBHOOK_LEASE_SECONDS": "6"}


# --- a webhook receiver on loopback ------------------------------------------------------------------


@dataclass
class Received:
    headers: dict[str, str]
    body: bytes
    status: int  # what the receiver answered (or would have: a held request)

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]

    @property
    def position(self) -> int:
        return int(self.webhook_id.partition(":")[2])

    def verifies(self, secret: str) -> bool:
        try:
            Webhook(secret).verify(self.body, self.headers)
        except WebhookVerificationError:
            return False
        return True



@dataclass
class Receiver:
    """An HTTP server on loopback recording every request. It answers `status`; while `down` it is not
    listening at all (connections refused); an armed `trap` holds the next request unanswered."""

    port: int = field(default_factory=free_port)
    status: int = 200
    requests: list[Received] = field(default_factory=list)
    trap_armed: bool = False
    trapped: Received | None = None
    held: asyncio.Event = field(default_factory=asyncio.Event)
    release: asyncio.Event = field(default_factory=asyncio.Event)
    _server: uvicorn.Server | None = None
    _task: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks/tableorder"

    async def app(self, scope: dict[str, Any], receive: Callable[[], Awaitable[dict[str, Any]]],
                  send: Callable[[dict[str, Any]], Awaitable[None]]) -> None:
        if scope["type"] != "http":
            return
        body, more = b"", True
        while more:
            message = await receive()
            body += message.get("body", b"")
            more = message.get("more_body", False)
        record = Received({k.decode(): v.decode() for k, v in scope["headers"]}, body, self.status)
        self.requests.append(record)
        if self.trap_armed and self.trapped is None:
            self.trapped = record
            self.held.set()
            await self.release.wait()
        await send({"type": "http.response.start", "status": record.status, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    async def start(self) -> Receiver:
        self.release = asyncio.Event()
        self._server, self._task = await serve_on_loopback(self.app, self.port)
        return self

    async def stop(self) -> None:
        if self._server is not None and self._task is not None:
            self.release.set()
            self._server.should_exit = True
            await self._task
            self._server = self._task = None

    def accepted(self) -> list[Received]:
        """What the receiver took in, in arrival order: answered 2xx, or held (it had it whole)."""
        return [r for r in self.requests if 200 <= r.status < 300 or r is self.trapped]

    def accepted_ids(self) -> set[str]:
        return {r.webhook_id for r in self.accepted()}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    receiver = await Receiver().start()
    yield receiver
    await receiver.stop()


# --- servers and helpers ----------------------------------------------------------------------------


async def migrated_database(fresh_database: Callable[[str], Awaitable[str]]) -> str:
    url = await fresh_database("tableorder_webhooks")
    await asyncio.to_thread(db.migrate, url)
    return url


@pytest.fixture(scope="module")
async def webhook_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    return await migrated_database(fresh_database)


@pytest.fixture(scope="module")
def replica(webhook_db: str) -> Iterator[ServerProcess]:
    with ServerProcess(webhook_db, WEBHOOK_ENV) as process:
        yield process


@pytest.fixture(scope="module")
async def wpool(webhook_db: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(webhook_db, min_size=1, max_size=5, application_name="tableorder-tests")
    yield pool
    await pool.close()


@pytest.fixture(scope="module")
async def wclient(replica: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with replica.api() as client:
        yield client


@pytest.fixture(scope="module")
def wstores(wpool: asyncpg.Pool, wclient: httpx.AsyncClient) -> Stores:
    return Stores(wpool, wclient)


async def eventually(check: Callable[[], Awaitable[bool]] | Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while True:
        result = check()
        if isinstance(result, Awaitable):
            result = await result
        if result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {within} s: {what}")
        await asyncio.sleep(0.05)


async def create_webhook(client: httpx.AsyncClient, store: Store, url: str,
                         events: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    response = await client.post("/admin/webhooks", headers=store.admin,
                                 json={"url": url, "events": events or ALL_TYPES, **extra})
    assert response.status_code == 201, response.text
    return dict(response.json())


async def expected_events(pool: asyncpg.Pool, store_id: int, after: int, types: list[str]) -> dict[int, asyncpg.Record]:
    rows = await pool.fetch("SELECT position, type, payload::text AS payload, created_at FROM events"
                            " WHERE store_id = $1 AND position > $2 AND type = ANY($3::text[]) ORDER BY position",
                            store_id, after, types)
    return {row["position"]: row for row in rows}


def check_requests(receiver: Receiver, store_id: int, secret: str, expected: dict[int, asyncpg.Record]) -> None:
    """Every expected event arrived, verified, with its body, in position order, and nothing else did."""
    accepted: set[int] = set()
    for request in receiver.requests:
        # Head of line: an event is only sent once every earlier one of the endpoint was taken in.
        earlier = {p for p in expected if p < request.position}
        assert earlier <= accepted, f"{request.webhook_id} sent before {sorted(earlier - accepted)}"
        assert request.verifies(secret), f"{request.webhook_id}: the signature does not verify"
        body = json.loads(request.body)
        event = expected[request.position]
        assert request.webhook_id == f"{store_id}:{event['position']}"
        assert body == {"type": event["type"], "position": event["position"], "store_id": store_id,
                        "data": json.loads(event["payload"]), "created_at": body["created_at"]}
        assert datetime.fromisoformat(body["created_at"]) == event["created_at"]
        assert request.headers["content-type"] == "application/json"
        assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60
        if request in receiver.accepted():
            accepted.add(request.position)
    assert accepted == set(expected)


# --- the API -------------------------------------------------------------------------------------------


async def test_staff_manage_webhook_endpoints(wclient: httpx.AsyncClient, wstores: Stores, receiver: Receiver) -> None:
    store, other = await wstores.create(), await wstores.create()
    response = await wclient.post("/admin/webhooks", headers=store.admin, json={
        "url": receiver.url, "events": ["order.updated", "order.created", "order.created"], "description": "KDS"})
    assert response.status_code == 201, response.text
    created = response.json()
    assert response.headers["location"] == f"/api/v1/admin/webhooks/{created['id']}"
    assert response.headers["cache-control"] == "no-store"
    assert created["secret"].startswith("whsec_")
    Webhook(created["secret"])  # a valid Standard Webhooks secret
    assert {k: created[k] for k in ("url", "events", "description", "enabled", "disabled_reason")} == {
        "url": receiver.url, "events": ["order.created", "order.updated"], "description": "KDS", "enabled": True,
        "disabled_reason": None}
    shown = {k: v for k, v in created.items() if k != "secret"}

    assert (await wclient.get("/admin/webhooks", headers=store.admin)).json() == [shown]
    assert (await wclient.get(f"/admin/webhooks/{created['id']}", headers=store.admin)).json() == shown
    assert (await wclient.get("/admin/webhooks", headers=other.admin)).json() == []

    response = await wclient.patch(f"/admin/webhooks/{created['id']}", headers=store.admin,
                                   json={"events": ["menu.updated"], "description": "Menu sync"})
    assert response.status_code == 200, response.text
    assert (response.json()["events"], response.json()["description"]) == (["menu.updated"], "Menu sync")
    assert response.json()["url"] == receiver.url

    for body in ({"events": []}, {"events": ["order.shipped"]}, {"url": "ftp://127.0.0.1/x"},
                 {"colour": "red"}, {"enabled": "yes"}):
        response = await wclient.patch(f"/admin/webhooks/{created['id']}", headers=store.admin, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"].startswith("application/problem+json")
        fields = [e["field"] for e in response.json()["errors"]]
        assert len(fields) == 1 and fields[0].startswith(next(iter(body))), response.text

    # Another store's staff and the tablets see nothing of it.
    base = f"/admin/webhooks/{created['id']}"
    for method, path in (("GET", base), ("PATCH", base), ("DELETE", base), ("POST", f"{base}/rotate-secret"),
                         ("GET", f"{base}/deliveries")):
        response = await wclient.request(method, path, headers=other.admin, json={} if method == "PATCH" else None)
        assert response.status_code == 404, (method, path, response.text)
    response = await wclient.get("/admin/webhooks", headers=store.tables[1].headers)
    assert response.status_code in {401, 403}
    # Webhooks are the staff's alone: an API key, whatever its scopes, is refused.
    key = await wclient.post("/admin/api-keys", headers=store.admin, json={"name": "everything", "scopes": [
        "menu:read", "menu:write", "orders:read", "orders:write", "tables:read", "tables:write", "events:read"]})
    assert key.status_code == 201, key.text
    as_key = {"Authorization": f"Bearer {key.json()['secret']}"}
    for method, path in (("GET", "/admin/webhooks"), ("POST", "/admin/webhooks"), ("GET", base),
                         ("POST", f"{base}/rotate-secret"), ("GET", f"{base}/deliveries")):
        response = await wclient.request(method, path, headers=as_key,
                                         json={"url": receiver.url, "events": ["menu.updated"]} if method == "POST"
                                         else None)
        assert response.status_code == 403, (method, path, response.text)

    assert (await wclient.delete(base, headers=store.admin)).status_code == 204
    assert (await wclient.get(base, headers=store.admin)).status_code == 404
    assert (await wclient.delete(base, headers=store.admin)).status_code == 404


BAD_URLS = {
    "http://127.0.0.1:9/hook": "loopback",
    "http://localhost/hook": "loopback",
    "http://[::1]/hook": "loopback",
    "http://[::ffff:127.0.0.1]/hook": "loopback",
    "http://2130706433/hook": "loopback",  # 127.0.0.1 as one number
    "http://10.1.2.3/hook": "private",
    "http://192.168.0.10/hook": "private",
    "http://169.254.169.254/latest/meta-data": "link-local",
    "http://[fe80::1]/hook": "link-local",
    "http://0.0.0.0/hook": "unspecified",
    "http://224.0.0.1/hook": "multicast",
    "http://240.0.0.1/hook": "reserved",
}
MALFORMED_URLS = ["https://user:secret@93.184.215.14/hook", "ftp://93.184.215.14/hook", "http:///hook",
                  "http://93.184.215.14/a b", "93.184.215.14/hook"]


async def test_urls_to_private_addresses_are_refused_without_the_setting(
        client: httpx.AsyncClient, stores: Stores) -> None:
    """The suite's shared server runs without WEBHOOK_ALLOW_PRIVATE."""
    store = await stores.create(tables=1, items=1)
    for url, why in BAD_URLS.items():
        response = await client.post("/admin/webhooks", headers=store.admin,
                                     json={"url": url, "events": ["order.created"]})
        assert response.status_code == 422, (url, response.text)
        problem = response.json()
        assert [e["field"] for e in problem["errors"]] == ["url"], problem
        assert why in problem["detail"], (url, problem["detail"])
    for url in MALFORMED_URLS:
        response = await client.post("/admin/webhooks", headers=store.admin,
                                     json={"url": url, "events": ["order.created"]})
        assert response.status_code == 422, (url, response.text)
        assert [e["field"] for e in response.json()["errors"]] == ["url"], response.text
    # A public address is fine (an address literal: the test needs no DNS), and a change of URL is
    # checked like a new one.
    created = await create_webhook(client, store, "https://93.184.215.14/hook", ["menu.updated"])
    response = await client.patch(f"/admin/webhooks/{created['id']}", headers=store.admin,
                                  json={"url": "http://127.0.0.1:8080/"})
    assert response.status_code == 422 and response.json()["errors"][0]["field"] == "url"
    # A host without an address now is not known to be private: it may be set (each delivery checks
    # again, and says so while it does not resolve).
    response = await client.patch(f"/admin/webhooks/{created['id']}", headers=store.admin,
                                  json={"url": "https://hooks.example.invalid/tableorder"})
    assert response.status_code == 200, response.text
    assert (await client.delete(f"/admin/webhooks/{created['id']}", headers=store.admin)).status_code == 204


async def test_a_url_that_turned_private_is_not_sent_to(client: httpx.AsyncClient, stores: Stores,
                                                        pool: asyncpg.Pool, receiver: Receiver) -> None:
    """The address is checked again before each request (DNS answers change): an endpoint whose URL
    now leads to loopback (written behind the API's back here) gets nothing, and says why."""
    store = await stores.create(tables=1, items=1)
    endpoint_id = await pool.fetchval(
        "INSERT INTO webhook_endpoints (store_id, url, events, secret, delivered_position)"
        " SELECT id, $2, '{order.created}', 'whsec_c2VjcmV0', last_event_position FROM stores WHERE id = $1"
        " RETURNING id", store.id, receiver.url)
    try:
        assert (await place(client, store.tables[1], [(store.item_ids()[0], 1)])).status_code == 201

        async def refused() -> bool:
            error = await pool.fetchval("SELECT last_error FROM webhook_deliveries WHERE store_id = $1", store.id)
            return error is not None and "loopback" in error

        await eventually(refused, 10, "the delivery is refused")
        assert receiver.requests == []
        page = (await client.get(f"/admin/webhooks/{endpoint_id}/deliveries", headers=store.admin)).json()
        assert page["items"][0]["status"] == "pending" and page["items"][0]["last_status"] is None
        assert "not sent" in page["items"][0]["last_error"]
    finally:
        await pool.execute("DELETE FROM webhook_endpoints WHERE store_id = $1", store.id)


# --- delivery across replicas ----------------------------------------------------------------------


async def test_a_burst_through_two_replicas_arrives_once_in_order_across_outages_and_a_killed_replica(
        fresh_database, receiver: Receiver) -> None:  # type: ignore[no-untyped-def]
    url = await migrated_database(fresh_database)
    replicas = [ServerProcess(url, REPLICA_ENV), ServerProcess(url, REPLICA_ENV)]
    await asyncio.gather(*(asyncio.to_thread(r.start) for r in replicas))
    pool = await db.create_pool(url, min_size=1, max_size=5, application_name="tableorder-tests")
    a, b = replicas[0].api(), replicas[1].api()
    try:
        store = await Stores(pool, a).create(tables=6, items=3)
        start = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
        endpoint = await create_webhook(a, store, receiver.url)
        items = store.item_ids()
        tables = list(store.tables.values())

        async def burst(n: int, clients: list[httpx.AsyncClient]) -> list[dict[str, Any]]:
            responses = await asyncio.gather(*(
                place(clients[i % len(clients)], tables[i % len(tables)], [(items[i % len(items)], 1 + i % 3)])
                for i in range(n)))
            assert all(r.status_code == 201 for r in responses), [r.text for r in responses]
            return [r.json() for r in responses]

        async def all_delivered() -> bool:
            expected = await expected_events(pool, store.id, start, ALL_TYPES)
            return receiver.accepted_ids() >= {f"{store.id}:{p}" for p in expected}

        # 1. A burst through both replicas, with staff moving orders along meanwhile.
        orders = await burst(16, [a, b])
        moves = await asyncio.gather(*(
            (a if i % 2 else b).patch(f"/admin/orders/{order['id']}", headers=store.admin, json={"status": "preparing"})
            for i, order in enumerate(orders[:6])))
        assert all(r.status_code == 200 for r in moves)
        placed = time.monotonic()
        await eventually(all_delivered, 20, "the first burst is delivered")
        first_burst = time.monotonic() - placed
        # In the normal case nothing is sent twice.
        sent = Counter(r.webhook_id for r in receiver.requests)
        assert max(sent.values()) == 1, sorted(i for i, n in sent.items() if n > 1)

        # 2. The receiver fails (503), then is down (connections refused), then is back.
        receiver.status = 503
        await burst(6, [b, a])
        await eventually(lambda: sum(r.status == 503 for r in receiver.requests) >= 2, 10, "two 503s")
        await receiver.stop()

        async def refused() -> bool:
            errors = await pool.fetch("SELECT last_error FROM webhook_deliveries WHERE store_id = $1", store.id)
            return any("ConnectError" in (row["last_error"] or "") for row in errors)

        await burst(4, [a, b])
        cancelled = await b.delete(f"/admin/orders/{orders[7]['id']}", headers=store.admin)
        assert cancelled.status_code == 200
        await eventually(refused, 15, "a refused connection")
        receiver.status = 200
        await receiver.start()
        back = time.monotonic()
        closed = await a.post(f"/admin/tables/{tables[5].id}/close-session", headers=store.admin)
        assert closed.status_code == 200
        await eventually(all_delivered, 30, "everything after the outage is delivered")
        after_outage = time.monotonic() - back

        # The deliveries show the attempts it took.
        page = (await a.get(f"/admin/webhooks/{endpoint['id']}/deliveries", headers=store.admin,
                            params={"limit": 100})).json()
        retried = [d for d in page["items"] if d["attempts"] > 1]
        assert retried and all(d["status"] == "succeeded" and d["last_status"] == 200 and d["last_error"] is None
                               for d in page["items"])
        assert max(d["attempts"] for d in retried) >= 3  # 503, 503, refused, ... then 200

        # 3. A replica is killed while it waits for the receiver's answer; the other takes over.
        receiver.trap_armed = True
        await burst(4, [a, b])
        await asyncio.wait_for(receiver.held.wait(), 10)
        owner = await pool.fetchval("SELECT lease_owner FROM webhook_endpoints WHERE store_id = $1", store.id)
        (killed,) = [r for r in replicas if r.process and r.process.pid == int(owner.split(":")[1])]
        assert killed.process is not None
        os.kill(killed.process.pid, signal.SIGKILL)
        await asyncio.to_thread(killed.process.wait, 10)  # dead before the answer could reach it
        survivor = b if killed is replicas[0] else a
        receiver.release.set()
        died = time.monotonic()
        await burst(3, [survivor])
        await eventually(all_delivered, 30, "everything after the kill is delivered")
        after_kill = time.monotonic() - died

        expected = await expected_events(pool, store.id, start, ALL_TYPES)
        assert {e["type"] for e in expected.values()} >= {
            "order.created", "order.updated", "order.cancelled", "table.session_closed"}
        check_requests(receiver, store.id, endpoint["secret"], expected)
        twice = {i for i, n in Counter(r.webhook_id for r in receiver.accepted()).items() if n > 1}
        assert receiver.trapped is not None
        # The one in flight when its replica died was sent again by the other (at least once), and only it.
        assert twice == {receiver.trapped.webhook_id}
        print(f"{len(expected)} events, {len(receiver.requests)} requests: the first burst delivered "
              f"{first_burst:.2f} s after its last order, the backlog {after_outage:.2f} s after the receiver "
              f"came back, the rest {after_kill:.2f} s after a replica was killed "
              f"(WEBHOOK_LEASE_SECONDS={REPLICA_ENV['WEBHOOK_LEASE_SECONDS']})")
    finally:
        await a.aclose()
        await b.aclose()
        await pool.close()
        for r in replicas:
            r.stop()


async def test_an_endpoint_failing_for_24_hours_is_disabled_and_holds_its_events_until_then(
        wclient: httpx.AsyncClient, wstores: Stores, wpool: asyncpg.Pool, receiver: Receiver) -> None:
    store = await wstores.create(tables=1, items=1)
    receiver.status = 503
    endpoint = await create_webhook(wclient, store, receiver.url, ["order.created"])
    order = (await place(wclient, store.tables[1], [(store.item_ids()[0], 1)])).json()
    path = f"/admin/webhooks/{endpoint['id']}"

    async def deliveries() -> list[dict[str, Any]]:
        return list((await wclient.get(f"{path}/deliveries", headers=store.admin)).json()["items"])

    await eventually(lambda: len(receiver.requests) >= 2, 10, "two failed attempts")
    shown = (await wclient.get(path, headers=store.admin)).json()
    assert shown["enabled"] is True and shown["failing_since"] is not None and shown["next_attempt_at"] is not None
    (failing,) = await deliveries()
    assert (failing["status"], failing["last_status"], failing["event_type"]) == ("pending", 503, "order.created")
    assert failing["last_error"] == "HTTP 503 Service Unavailable"

    # Past the retention period, the event the endpoint still has to deliver is kept; those it is done
    # with are pruned.
    position = await wpool.fetchval("SELECT max(position) FROM events WHERE store_id = $1", store.id)
    await wpool.execute("UPDATE events SET created_at = created_at - interval '2 days' WHERE store_id = $1", store.id)
    await prune(wpool, Settings(event_retention_hours=24))
    assert await wpool.fetchval("SELECT array_agg(position) FROM events WHERE store_id = $1", store.id) == [position]

    # Its first failure 24 hours ago, the next failure gives up: the endpoint is disabled, with a reason.
    await wpool.execute("UPDATE webhook_endpoints SET failing_since = now() - interval '24 hours 1 second',"
                        " next_attempt_at = now() WHERE store_id = $1", store.id)

    async def disabled() -> bool:
        return (await wclient.get(path, headers=store.admin)).json()["enabled"] is False

    await eventually(disabled, 10, "the endpoint is disabled")
    shown = (await wclient.get(path, headers=store.admin)).json()
    assert "failed for 24 hours" in shown["disabled_reason"] and "HTTP 503" in shown["disabled_reason"]
    assert shown["next_attempt_at"] is None
    (given_up,) = await deliveries()
    assert given_up["status"] == "failed" and given_up["attempts"] >= 3
    attempts = len(receiver.requests)
    response = await wclient.post(f"{path}/deliveries/{given_up['id']}/redeliver", headers=store.admin)
    assert response.status_code == 409
    await asyncio.sleep(1.5)
    assert len(receiver.requests) == attempts  # nothing more is sent to a disabled endpoint

    # Enabled again (the receiver fixed), it goes on from the event it gave up on.
    receiver.status = 200
    response = await wclient.patch(path, headers=store.admin, json={"enabled": True})
    assert response.status_code == 200
    assert (response.json()["enabled"], response.json()["disabled_reason"]) == (True, None)
    await eventually(lambda: len(receiver.accepted()) == 1, 10, "the event is delivered")
    assert json.loads(receiver.accepted()[0].body)["data"]["id"] == order["id"]
    assert receiver.accepted()[0].verifies(endpoint["secret"])

    # The receiver has the request before the worker records the answer: wait for the record.
    async def recorded() -> bool:
        return [d["status"] for d in await deliveries()] == ["succeeded"]

    await eventually(recorded, 10, "the delivery is recorded as succeeded")
    (delivered,) = await deliveries()
    assert delivered["status"] == "succeeded" and delivered["attempts"] == given_up["attempts"] + 1
    # Delivered, the event is pruned like any other.
    await prune(wpool, Settings(event_retention_hours=24))
    assert await wpool.fetchval("SELECT count(*) FROM events WHERE store_id = $1", store.id) == 0


async def test_redeliver_rotate_and_page_through_deliveries(wclient: httpx.AsyncClient, wstores: Stores,
                                                           receiver: Receiver) -> None:
    store, other = await wstores.create(tables=1, items=1), await wstores.create(tables=1, items=1)
    endpoint = await create_webhook(wclient, store, receiver.url, ["order.created"])
    path = f"/admin/webhooks/{endpoint['id']}"
    table, item = store.tables[1], store.item_ids()[0]
    assert (await place(wclient, table, [(item, 1)])).status_code == 201
    await eventually(lambda: len(receiver.requests) == 1, 10, "the order is delivered")
    (delivery,) = (await wclient.get(f"{path}/deliveries", headers=store.admin)).json()["items"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status"]) == ("succeeded", 1, 200)
    assert delivery["webhook_id"] == receiver.requests[0].webhook_id

    # Redelivery: the same event again, the same id, signed afresh.
    response = await wclient.post(f"{path}/deliveries/{delivery['id']}/redeliver", headers=store.admin)
    assert response.status_code == 202, response.text
    assert response.json()["redeliver_requested_at"] is not None
    await eventually(lambda: len(receiver.requests) == 2, 10, "the redelivery")
    again = receiver.requests[1]
    assert (again.webhook_id, again.body) == (receiver.requests[0].webhook_id, receiver.requests[0].body)
    assert again.verifies(endpoint["secret"])

    async def counted() -> bool:
        (shown,) = (await wclient.get(f"{path}/deliveries", headers=store.admin)).json()["items"]
        return bool(shown["attempts"] == 2 and shown["redeliver_requested_at"] is None)

    await eventually(counted, 5, "the redelivery is counted")
    for response in (
        await wclient.post(f"{path}/deliveries/{delivery['id'] + 10_000}/redeliver", headers=store.admin),
        await wclient.post(f"{path}/deliveries/{delivery['id']}/redeliver", headers=other.admin),
    ):
        assert response.status_code == 404

    # A rotated secret signs what comes next (and the old one still does, for the grace period).
    response = await wclient.post(f"{path}/rotate-secret", headers=store.admin)
    assert response.status_code == 200
    secret = response.json()["secret"]
    assert secret.startswith("whsec_") and secret != endpoint["secret"]
    for _ in range(3):
        assert (await place(wclient, table, [(item, 1)])).status_code == 201
    await eventually(lambda: len(receiver.requests) == 5, 10, "three more orders are delivered")
    for request in receiver.requests[2:]:
        assert request.verifies(secret) and request.verifies(endpoint["secret"])
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        assert not request.verifies(OTHER_SECRET)
    assert not receiver.requests[0].verifies(secret)

    # Deliveries page newest first.
    positions = [*[r.position for r in receiver.requests[2:]][::-1], receiver.requests[0].position]
    first = (await wclient.get(f"{path}/deliveries", headers=store.admin, params={"limit": 3})).json()
    assert [d["position"] for d in first["items"]] == positions[:3] and first["next_cursor"]
    rest = (await wclient.get(f"{path}/deliveries", headers=store.admin,
                              params={"limit": 3, "cursor": first["next_cursor"]})).json()
    assert [d["position"] for d in rest["items"]] == positions[3:] and rest["next_cursor"] is None
    bad = await wclient.get(f"{path}/deliveries", headers=store.admin, params={"cursor": "x"})
    assert bad.status_code == 422


async def test_event_types_filter_what_is_sent(wclient: httpx.AsyncClient, wstores: Stores, wpool: asyncpg.Pool,
                                               receiver: Receiver) -> None:
    store = await wstores.create(tables=1, items=1)
    endpoint = await create_webhook(wclient, store, receiver.url, ["order.cancelled", "menu.updated"])
    order = (await place(wclient, store.tables[1], [(store.item_ids()[0], 1)])).json()
    assert (await wclient.delete(f"/admin/orders/{order['id']}", headers=store.admin)).status_code == 200
    response = await wclient.patch(f"/admin/menu-items/{store.item_ids()[0]}", headers=store.admin,
                                   json={"available": False})
    assert response.status_code == 200
    await eventually(lambda: len(receiver.requests) == 2, 10, "the cancel and the menu change")
    assert [json.loads(r.body)["type"] for r in receiver.requests] == ["order.cancelled", "menu.updated"]
    last = await wpool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)

    async def caught_up() -> bool:
        shown = (await wclient.get(f"/admin/webhooks/{endpoint['id']}", headers=store.admin)).json()
        return bool(shown["delivered_position"] == last)

    await eventually(caught_up, 5, "the cursor passes every event")


# --- the schema and the settings ------------------------------------------------------------------------


async def test_0007_downgrade_restores_0006_exactly(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_0007")
    await asyncio.to_thread(db.migrate, url, "0006")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    schema = ("SELECT c.relname, c.relkind::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
              " WHERE n.nspname = 'public' ORDER BY 1")
    try:
        before = await conn.fetch(schema)
        await asyncio.to_thread(db.migrate, url, "0007")
        after = {row["relname"] for row in await conn.fetch(schema)}
        assert {"webhook_endpoints", "webhook_deliveries", "webhook_endpoints_due"} <= after
        await asyncio.to_thread(db.downgrade, url, "0006")
        assert await conn.fetch(schema) == before
    finally:
        await conn.close()


def test_webhook_settings() -> None:
    settings = Settings.from_env({"WEBHOOK_ALLOW_PRIVATE": "true", "WEBHOOK_TIMEOUT_SECONDS": "5"})
    assert (settings.webhook_allow_private, settings.webhook_timeout_seconds) == (True, 5.0)
    assert Settings.from_env({}).webhook_allow_private is False
    with pytest.raises(SettingsError, match="WEBHOOK_LEASE_SECONDS"):
        Settings.from_env({"WEBHOOK_TIMEOUT_SECONDS": "20", "WEBHOOK_LEASE_SECONDS": "30"})
    with pytest.raises(SettingsError, match="WEBHOOK_CONCURRENCY"):
        Settings.from_env({"WEBHOOK_CONCURRENCY": "0"})
