"""The production topology, for real: PostgreSQL primary + streaming replica, two backends (uvicorn,
2 workers each), nginx with the repository's nginx/nginx.conf over TLS. `make topology-test`.

Every test runs against both event buses: EVENT_BUS=postgres (the relay NOTIFYs, every worker LISTENs
on the primary) and EVENT_BUS=nats with a real nats-server, where nothing LISTENs and so the backends,
the CLI and the migration reach the primary through PgBouncer in transaction pool mode.

The stack is ops/topology/stack.py; the tests run in file order and the fault tests come last.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import ssl
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest
from ops.topology.stack import ROOT, VENV_BIN, Postgres, Topology, pgbouncer_binary

from tableorder.events.relay import LOCK_KEYS
from tests.sse import EventStream, Message

pytestmark = [
    pytest.mark.topology,
    pytest.mark.skipif(shutil.which("nginx") is None and not os.environ.get("CI"),
                       reason="nginx is not installed (apt-get install nginx; .ci/run does)"),
]

ADMIN_PASSWORD = "topology-admin-password"
TABLE_PASSWORD = "4321"
TABLES = 4


def cli(topology: Topology, *args: str) -> None:
    subprocess.run([str(VENV_BIN / "tableorder"), *args], check=True, capture_output=True, cwd=ROOT, timeout=60,
                   env={**topology.backend_env()})


def require_pgbouncer() -> None:
    """PgBouncer (Debian's package; make topology-test installs it), else skip; under CI=true, fail."""
    try:
        pgbouncer_binary()
    except RuntimeError as exc:
        if os.environ.get("CI"):
            pytest.fail(str(exc))
        pytest.skip(str(exc))


@pytest.fixture(scope="module", params=["postgres", "nats"], ids=["bus=postgres", "bus=nats+pgbouncer"])
def topology(request: pytest.FixtureRequest) -> Iterator[Topology]:
    if request.param == "nats":
        require_pgbouncer()
    # The primary logs every statement: what ran on it, from which client (see the LISTEN test).
    stack = Topology(request.param, log_statements=True).start()
    try:
        cli(stack, "create-store", "--code", "topo", "--name", "Topology Bistro", "--admin-username", "admin",
            "--admin-password", ADMIN_PASSWORD)
        for number in range(1, TABLES + 1):
            cli(stack, "create-table", "--store", "topo", "--number", str(number), "--password", TABLE_PASSWORD)
        yield stack
    finally:
        stack.stop()


def tls_context(topology: Topology) -> ssl.SSLContext:
    assert topology.nginx is not None
    return ssl.create_default_context(cafile=str(topology.nginx.cert))


@pytest.fixture
async def api(topology: Topology) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the public entry point: nginx over HTTPS, certificate verified."""
    async with httpx.AsyncClient(base_url=topology.base_url + "/api/v1", verify=tls_context(topology),
                                 timeout=15) as client:
        yield client


class Shop:
    def __init__(self, admin: str, tables: dict[int, str], items: list[int], table_ids: dict[int, int]) -> None:
        self.admin = {"Authorization": f"Bearer {admin}"}
        self.tables = {n: {"Authorization": f"Bearer {t}"} for n, t in tables.items()}
        self.items = items
        self.table_ids = table_ids


@pytest.fixture(scope="module")
async def shop(topology: Topology) -> Shop:
    async with httpx.AsyncClient(base_url=topology.base_url + "/api/v1", verify=tls_context(topology),
                                 timeout=15) as client:
        login = await client.post("/auth/admin/login", json={
            "store_code": "topo", "username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        admin = {"Authorization": f"Bearer {login.json()['access_token']}"}
        category = await client.post("/admin/categories", headers=admin, json={"name": "Mains", "sort_order": 0})
        assert category.status_code == 201, category.text
        items = []
        for n in range(3):
            item = await client.post("/admin/menu-items", headers=admin, json={
                "category_id": category.json()["id"], "name": f"Dish {n}", "price": 9000 + n * 1000,
                "description": "설명 " * 40})
            assert item.status_code == 201, item.text
            items.append(item.json()["id"])
        tables, table_ids = {}, {}
        for number in range(1, TABLES + 1):
            response = await client.post("/auth/table/login", json={
                "store_code": "topo", "table_number": number, "password": TABLE_PASSWORD})
            assert response.status_code == 200, response.text
            tables[number] = response.json()["access_token"]
        listed = await client.get("/admin/tables", headers=admin)
        table_ids = {t["number"]: t["id"] for t in listed.json()}
        return Shop(login.json()["access_token"], tables, items, table_ids)


async def order(client: httpx.AsyncClient, shop: Shop, table: int = 1) -> httpx.Response:
    return await client.post("/orders", headers=shop.tables[table],
                             json={"items": [{"menu_item_id": shop.items[0], "quantity": 2}]})


async def order_with_retry(client: httpx.AsyncClient, shop: Shop, table: int) -> tuple[httpx.Response, int]:
    """What a tablet does: an Idempotency-Key per order, retried on 502/503/504 with the same key.

    nginx does not retry a POST it already sent (to a backend that died with the request on the
    wire, for one): the client does, and the key makes the retry safe.
    """
    key, failures = secrets.token_hex(8), 0
    for _ in range(5):
        response = await client.post("/orders", headers={**shop.tables[table], "Idempotency-Key": key},
                                     json={"items": [{"menu_item_id": shop.items[0], "quantity": 1}]})
        if response.status_code not in {502, 503, 504}:
            return response, failures
        assert response.headers["content-type"] == "application/problem+json"
        failures += 1
        await asyncio.sleep(0.2)
    raise AssertionError(f"no answer after {failures} tries: {response.text}")


# --- nginx: the real configuration, TLS, redirect, headers, gzip ---------------------------------------


def test_nginx_runs_the_repository_config_with_only_addresses_ports_and_paths_changed(topology: Topology) -> None:
    assert topology.nginx is not None
    check = topology.nginx.test_config()
    assert check.returncode == 0, check.stderr
    assert "test is successful" in check.stderr
    assert topology.nginx.changes, "the substitutions found nothing to change"
    allowed = ("server backend:8000", "server 127.0.0.1:", "listen 80", "listen [::]:80", "listen 443",
               "listen [::]:443", "listen 127.0.0.1:", "listen [::1]:", "pid ", "ssl_certificate", "error_log ",
               "access_log ")
    for before, after in topology.nginx.changes:
        for line in before + after:
            assert line.strip().startswith(allowed), (before, after)
    # Two upstream servers replace the compose service name; nothing else in the file moved.
    rendered = topology.nginx.conf.read_text()
    assert rendered.count("server 127.0.0.1:") == 2
    assert "least_conn;" in rendered and "keepalive" in rendered


async def test_plain_http_redirects_to_https(topology: Topology) -> None:
    assert topology.nginx is not None
    async with httpx.AsyncClient() as client:
        response = await client.get(f"http://127.0.0.1:{topology.nginx.http_port}/api/v1/menu?x=1")
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://")
    assert response.headers["location"].endswith("/api/v1/menu?x=1")


async def test_login_menu_and_order_through_nginx_with_security_headers_and_gzip(
        topology: Topology, api: httpx.AsyncClient, shop: Shop) -> None:
    menu = await api.get("/menu", headers={**shop.tables[1], "Accept-Encoding": "gzip"})
    assert menu.status_code == 200
    assert menu.headers["content-encoding"] == "gzip"
    assert [i["id"] for i in menu.json()["categories"][0]["items"]] == shop.items  # httpx inflated it
    for header, expected in {
        "strict-transport-security": "max-age=",
        "x-content-type-options": "nosniff",
        "x-frame-options": "DENY",
        "referrer-policy": "",
        "content-security-policy": "default-src",
    }.items():
        assert expected in menu.headers[header], header
    # Without Accept-Encoding the body is plain JSON; errors keep the headers too.
    plain = await api.get("/menu", headers={**shop.tables[1], "Accept-Encoding": "identity"})
    assert "content-encoding" not in plain.headers
    assert menu.num_bytes_downloaded < len(plain.content) / 2  # the gzipped body crossed the wire
    unauthorised = await api.get("/menu")
    assert unauthorised.status_code == 401
    assert unauthorised.headers["content-type"] == "application/problem+json"
    assert unauthorised.headers["x-content-type-options"] == "nosniff"

    placed = await order(api, shop)
    assert placed.status_code == 201, placed.text
    assert placed.json()["total_amount"] == 2 * 9000
    async with httpx.AsyncClient(verify=tls_context(topology)) as root:
        health = await root.get(topology.base_url + "/health")
    assert health.json() == {"status": "ok"}
    assert health.headers["strict-transport-security"]


async def test_admin_stream_through_nginx_gets_orders_placed_on_either_backend_within_two_seconds(
        topology: Topology, shop: Shop) -> None:
    async with httpx.AsyncClient(verify=tls_context(topology), timeout=httpx.Timeout(10, read=None)) as client:
        stream = EventStream(topology.base_url, "/api/v1/admin/orders/stream", shop.admin, client=client)
        async with stream:
            assert stream.status == 200
            # The stream is on one of the two backends; one of these orders goes through the other.
            for backend in topology.backends:
                async with httpx.AsyncClient(base_url=backend.url + "/api/v1") as direct:
                    started = time.monotonic()
                    placed = await order(direct, shop, table=2)
                    assert placed.status_code == 201, placed.text
                    message = await stream.next(timeout=2)  # nginx must not buffer it
                    assert time.monotonic() - started < 2
                assert message.event == "order.created"
                assert message.json()["id"] == placed.json()["id"]


# --- the web pages through nginx (SPEC section 8) --------------------------------------------------------

STATIC_REFERENCE = re.compile(r'(?:src|href)="(/static/[^"]+)"')


async def test_the_pages_come_through_nginx_under_the_edge_policy_alone(topology: Topology) -> None:
    async with httpx.AsyncClient(base_url=topology.base_url, verify=tls_context(topology), timeout=15) as web:
        for path in ("/", "/admin"):
            page = await web.get(path, params={"lang": "en"})
            assert page.status_code == 200, page.text
            assert page.headers["content-type"].startswith("text/html")
            policies = page.headers.get_list("content-security-policy")
            assert len(policies) == 1, policies  # the edge's, not the app's copy as well
            assert "script-src 'self'" in policies[0] and "http" not in policies[0]
            assert page.headers.get_list("x-frame-options") == ["DENY"]
            assets = STATIC_REFERENCE.findall(page.text)
            assert assets, page.text
            for asset in assets:
                response = await web.get(asset, headers={"Accept-Encoding": "gzip"})
                assert response.status_code == 200, asset
                if asset.endswith((".js", ".css")):
                    assert response.headers.get("content-encoding") == "gzip", asset


async def test_the_board_runs_live_through_nginx(topology: Topology, shop: Shop) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.browser.conftest import CHROMIUM, LAUNCH_ARGS, require_chromium

    require_chromium()
    async with async_playwright() as playwright:
        # The stack's certificate is self-signed; the page itself is what is under test.
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, headless=True,
                                                   args=[*LAUNCH_ARGS, "--ignore-certificate-errors"])
        try:
            page = await browser.new_page(viewport={"width": 1440, "height": 900})
            errors: list[str] = []
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            await page.goto(f"{topology.base_url}/admin?lang=en")
            await page.get_by_label("Store code").fill("topo")
            await page.get_by_label("Username").fill("admin")
            await page.get_by_label("Password").fill(ADMIN_PASSWORD)
            await page.get_by_role("button", name="Log in").click()
            await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
            async with httpx.AsyncClient(base_url=topology.base_url + "/api/v1", verify=tls_context(topology),
                                         timeout=15) as client:
                placed = await order(client, shop, table=3)
            assert placed.status_code == 201, placed.text
            table = page.get_by_role("region", name="Table 3", exact=True)
            await expect(table.get_by_role("article", name=f"Order {placed.json()['order_no']}")).to_be_visible(
                timeout=2000)
            assert errors == []
        finally:
            await browser.close()


# --- read routing --------------------------------------------------------------------------------------

MENU_QUERY_MARK = "menu_json("  # migrations/documents.sql


async def fetchval(cluster: Postgres, query: str, *args: Any) -> Any:
    connection = await asyncpg.connect(cluster.url())
    try:
        return await connection.fetchval(query, *args)
    finally:
        await connection.close()


async def price_on(cluster: Postgres, item_id: int) -> int:
    price: int = await fetchval(cluster, "SELECT price FROM menu_items WHERE id = $1", item_id)
    return price


def read_connections(topology: Topology, server: str) -> list[str]:
    cluster = topology.replica if server == "replica" else topology.primary
    out = cluster.psql("SELECT application_name || '|' || replace(query, E'\\n', ' ') FROM pg_stat_activity "
                       "WHERE application_name LIKE 'tableorder-%'")
    return out.splitlines()


async def fill_every_worker(api: httpx.AsyncClient, shop: Shop, path: str, headers: dict[str, str]) -> Any:
    """Enough requests that every worker of both backends (least_conn spreads them) answers some."""
    bodies = [(await api.get(path, headers=headers)) for _ in range(12)]
    assert all(b.status_code == 200 for b in bodies), [b.text for b in bodies]
    return [b.json() for b in bodies]


async def every_worker_menu_has(api: httpx.AsyncClient, shop: Shop, item: int, price: int) -> None:
    """Every worker's menu shows the item at this price, within 5 s of the edit: each worker keeps
    its menu in memory until the edit's menu.updated reaches it, once the relay has published it
    (milliseconds; longer on a loaded machine). A worker that never heard of it fails this."""
    deadline = time.monotonic() + 5
    while True:
        menus = await fill_every_worker(api, shop, "/menu", shop.tables[1])
        prices = [m["categories"][0]["items"][item]["price"] for m in menus]
        if all(p == price for p in prices):
            return
        assert time.monotonic() < deadline, prices
        await asyncio.sleep(0.1)


async def test_menu_and_history_reads_go_to_the_replica_writes_and_listen_stay_on_the_primary(
        topology: Topology, api: httpx.AsyncClient, shop: Shop) -> None:
    changed = await api.patch(f"/admin/menu-items/{shop.items[1]}", headers=shop.admin, json={"price": 10_500})
    assert changed.status_code == 200
    # Once the replica has replayed the edit (milliseconds), reads of it go there; right after the
    # write they may still be answered by the primary (next test).
    deadline = time.monotonic() + 10
    while await price_on(topology.replica, shop.items[1]) != 10_500:
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    await every_worker_menu_has(api, shop, 1, 10_500)
    on_replica = read_connections(topology, "replica")  # each connection shows its last statement
    assert any(line.startswith("tableorder-read-") and MENU_QUERY_MARK in line for line in on_replica), on_replica

    table = shop.table_ids[1]
    await fill_every_worker(api, shop, f"/admin/tables/{table}/history", shop.admin)
    on_replica = read_connections(topology, "replica")
    assert any(line.startswith("tableorder-read-") and "history_page_json(" in line for line in on_replica), on_replica
    assert not any(line.startswith(("tableorder-api-", "tableorder-listener-")) for line in on_replica), on_replica
    on_primary = read_connections(topology, "primary")
    assert not any(line.startswith("tableorder-read-") for line in on_primary), on_primary
    listeners = [line for line in on_primary if line.startswith("tableorder-listener-")]
    # postgres bus: one per worker (2 backends × 2 workers); nats: none
    assert len(listeners) == (4 if topology.bus == "postgres" else 0), on_primary


async def test_a_read_after_a_write_never_sees_a_lagging_replica(
        topology: Topology, api: httpx.AsyncClient, shop: Shop) -> None:
    topology.replica.psql("SELECT pg_wal_replay_pause()")
    try:
        changed = await api.patch(f"/admin/menu-items/{shop.items[2]}", headers=shop.admin, json={"price": 12_300})
        assert changed.status_code == 200
        # The replica is behind (replay paused): reading it would show the old price...
        assert await price_on(topology.replica, shop.items[2]) == 11_000
        # ...but every worker's menu shows the new one: those reads went to the primary.
        await every_worker_menu_has(api, shop, 2, 12_300)

        # The same for history right after closing a session.
        table = shop.table_ids[3]
        assert (await order(api, shop, table=3)).status_code == 201
        closed = await api.post(f"/admin/tables/{table}/close-session", headers=shop.admin)
        assert closed.status_code == 200, closed.text
        pages = await fill_every_worker(api, shop, f"/admin/tables/{table}/history", shop.admin)
        assert all(page["total"] == 1 and page["items"][0]["id"] == closed.json()["id"] for page in pages)
    finally:
        topology.replica.psql("SELECT pg_wal_replay_resume()")


# --- how events reach the replicas: LISTEN, or NATS with everything through PgBouncer ------------------

LISTEN_STATEMENT = re.compile(r"LOG:\s+(?:statement|execute [^:]*):\s+LISTEN\b", re.IGNORECASE)


def worker_pids(topology: Topology) -> set[int]:
    return {pid for backend in topology.backends for pid in backend.worker_pids()}


def event_connections(topology: Topology) -> set[int]:
    """The workers (by pid) whose event connection is up: on the postgres bus the LISTEN connection on
    the primary; on nats the relay's election connection, a client of PgBouncer."""
    if topology.pgbouncer is None:
        names = [line.partition("|")[0] for line in read_connections(topology, "primary")]
        prefix = "tableorder-listener-"
    else:
        names = [client["application_name"] for client in topology.pgbouncer.show("CLIENTS")]
        prefix = "tableorder-relay-"  # the election connection (its work connections: tableorder-relay-work-)
    return {int(name.removeprefix(prefix)) for name in names
            if name.startswith(prefix) and name.removeprefix(prefix).isdigit()}


def relay_lock_holders(topology: Topology) -> list[str]:
    """application_name of every session on the primary holding the relay's election lock."""
    key = LOCK_KEYS[topology.bus]
    out = topology.primary.psql(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted "
        f"AND (l.classid::bigint << 32 | l.objid::bigint) = {key}")
    return out.splitlines()


async def relay_states(backend_url: str) -> list[str]:
    """`relay` of readiness answers from a backend: a burst of requests at once on connections of
    their own, so that both of its workers (which race to accept) answer some."""
    async def one() -> str:
        async with httpx.AsyncClient() as client:
            response = await client.get(backend_url + "/health/ready")
            assert response.status_code == 200, response.text
            state: str = response.json()["relay"]
            return state

    return list(await asyncio.gather(*(one() for _ in range(8))))


async def test_one_relay_is_elected_and_only_the_postgres_bus_listens(topology: Topology) -> None:
    workers = worker_pids(topology)
    assert len(workers) == 4
    # One relay holds the election lock, in one of the four workers; through PgBouncer too, whose
    # server connection then carries the leader's application_name.
    [holder] = relay_lock_holders(topology)
    # (Through PgBouncer a server connection may carry the name of the relay's work connection, which
    # its thread opens in the same worker: tableorder-relay-work-<pid>.)
    named = re.fullmatch(r"tableorder-relay-(?:work-)?(\d+)", holder)
    assert named is not None and int(named.group(1)) in workers, holder
    leader = int(named.group(1))
    # Readiness says so too: `active` from the leader's backend, only `standby` from the other.
    for backend in topology.backends:
        seen: set[str] = set()
        for _ in range(20 if leader in backend.worker_pids() else 3):  # its two workers race to accept
            seen.update(await relay_states(backend.url))
            if "active" in seen:
                break
        if leader in backend.worker_pids():
            assert "active" in seen and seen <= {"active", "standby"}, (backend.name, seen)
        else:
            assert seen == {"standby"}, (backend.name, seen)
        async with httpx.AsyncClient() as client:
            assert (await client.get(backend.url + "/health/ready")).json()["event_bus"] == topology.bus

    assert event_connections(topology) == workers
    log = topology.primary.log.read_text(errors="replace").splitlines()
    # The log has every statement: the relays' elections are there (tried by each worker) ...
    elections = {int(m) for line in log if "pg_try_advisory_xact_lock" in line
                 for m in re.findall(r"tableorder-relay-(\d+)", line)}
    assert elections == workers, (elections, workers)
    listens = [line for line in log if LISTEN_STATEMENT.search(line)]
    activity = topology.primary.psql(
        "SELECT count(*) FROM pg_stat_activity WHERE query ~* '^\\s*LISTEN\\M' AND pid <> pg_backend_pid()")
    if topology.pgbouncer is None:
        # The postgres bus: every worker LISTENs on the primary (each at least once).
        assert {int(m) for line in listens for m in re.findall(r"tableorder-listener-(\d+)", line)} >= workers
        return
    # ... and on nats no session on the primary ever ran LISTEN ...
    assert listens == []
    assert int(activity) == 0
    # ... and every session on the primary but ours is a server connection of PgBouncer (their ports
    # are PgBouncer's local ends): the workers and their relays reach it through PgBouncer only.
    sessions = topology.primary.psql(
        "SELECT client_port FROM pg_stat_activity WHERE backend_type = 'client backend' "
        "AND datname = 'tableorder' AND pid <> pg_backend_pid()").split()
    pooled = {server["local_port"] for server in topology.pgbouncer.show("SERVERS")}
    assert sessions and set(sessions) <= pooled, (sessions, pooled)
    assert len(sessions) <= topology.pgbouncer.pool_size


# --- faults --------------------------------------------------------------------------------------------


class Follower:
    """An SSE client through nginx that reconnects with Last-Event-ID whenever its stream ends."""

    def __init__(self, topology: Topology, client: httpx.AsyncClient, headers: dict[str, str]) -> None:
        self.topology = topology
        self.client = client
        self.headers = headers
        self.received: list[Message] = []
        self.reconnects = 0
        self._task: asyncio.Task[None] | None = None
        self.connected = asyncio.Event()

    async def _run(self) -> None:
        last_id: int | None = None
        while True:
            stream = EventStream(self.topology.base_url, "/api/v1/admin/orders/stream", self.headers,
                                 last_event_id=last_id, client=self.client)
            async with stream:
                if stream.status == 200:
                    self.connected.set()
                while not (stream.ended.is_set() and stream.messages.empty()):
                    with contextlib.suppress(TimeoutError):
                        message = await stream.next(timeout=0.2)
                        if message.id is not None:
                            self.received.append(message)
                            last_id = message.id
            self.reconnects += 1
            await asyncio.sleep(0.2)

    async def __aenter__(self) -> Follower:
        self._task = asyncio.create_task(self._run())
        await asyncio.wait_for(self.connected.wait(), 10)
        return self

    async def __aexit__(self, *_: object) -> None:
        assert self._task is not None
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task

    async def wait_for_orders(self, order_ids: set[int], timeout: float = 20) -> None:  # noqa: ASYNC109
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if order_ids <= {m.json()["id"] for m in self.received if m.event == "order.created"}:
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"missing orders: {order_ids - {m.json()['id'] for m in self.received}}")


def assert_once_in_order(received: list[Message]) -> None:
    positions = [m.id for m in received]
    assert positions == sorted(positions), positions
    assert len(positions) == len(set(positions)), positions


async def test_killing_a_backend_mid_stream_loses_nothing(topology: Topology, shop: Shop) -> None:
    victim = topology.backends[0]
    async with httpx.AsyncClient(verify=tls_context(topology), timeout=httpx.Timeout(10, read=None)) as client:
        followers = [Follower(topology, client, shop.admin) for _ in range(6)]
        async with contextlib.AsyncExitStack() as stack:
            for follower in followers:
                await stack.enter_async_context(follower)
            api = await stack.enter_async_context(httpx.AsyncClient(
                base_url=topology.base_url + "/api/v1", verify=tls_context(topology), timeout=15))
            orders_before = int(topology.primary.psql("SELECT count(*) FROM orders"))
            placed, failures = [], 0
            for n in range(20):
                if n == 5:
                    victim.kill()  # SIGKILL to the master and its workers, streams open
                response, failed = await order_with_retry(api, shop, table=1 + n % 2)
                assert response.status_code == 201, (n, response.text)
                placed.append(response.json()["id"])
                failures += failed
                # Reads are retried by nginx itself on the surviving backend.
                assert (await api.get("/menu", headers=shop.tables[1])).status_code == 200
            # At most the requests already sent on kept-alive connections to the dead backend failed.
            assert failures <= 4, failures
            assert len(set(placed)) == 20
            # Retries with the same key made no duplicates: exactly the 20 acknowledged orders were added.
            assert int(topology.primary.psql("SELECT count(*) FROM orders")) == orders_before + 20
            for follower in followers:
                await follower.wait_for_orders(set(placed))
                assert_once_in_order(follower.received)
            # least_conn spread the six streams over both backends: the victim's had to reconnect.
            assert any(f.reconnects for f in followers)
    victim.start()
    # Both of its workers, not just the first to answer, are up again before the next test.
    deadline = time.monotonic() + 30
    while event_connections(topology) != worker_pids(topology):
        assert time.monotonic() < deadline, "the restarted backend's workers did not all come back"
        await asyncio.sleep(0.2)


async def test_primary_restart_gives_503_then_recovers_without_losing_acknowledged_orders(
        topology: Topology, shop: Shop) -> None:
    async with contextlib.AsyncExitStack() as stack:
        client = await stack.enter_async_context(httpx.AsyncClient(
            verify=tls_context(topology), timeout=httpx.Timeout(10, read=None)))
        follower = await stack.enter_async_context(Follower(topology, client, shop.admin))
        api = await stack.enter_async_context(httpx.AsyncClient(
            base_url=topology.base_url + "/api/v1", verify=tls_context(topology), timeout=15))
        acknowledged = [(await order(api, shop)).json()["id"]]

        topology.primary.stop("fast")
        outage = []
        for _ in range(5):
            response = await order(api, shop)
            outage.append(response)
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
        assert all(r.status_code == 503 for r in outage), [r.text for r in outage]
        assert all(r.headers["content-type"] == "application/problem+json" for r in outage)
        assert all("retry-after" in r.headers for r in outage)
        ready = await client.get(topology.base_url + "/health/ready")
        assert ready.status_code == 503
        assert ready.headers["content-type"] == "application/problem+json"

        await asyncio.sleep(2)
        topology.primary.start()
        deadline = time.monotonic() + 30
        while True:
            response = await order(api, shop)
            if response.status_code == 201:
                acknowledged.append(response.json()["id"])
                break
            assert response.status_code == 503, response.text
            assert time.monotonic() < deadline, "the API did not recover within 30 s of the primary's restart"
            await asyncio.sleep(0.5)
        for _ in range(3):
            response = await order(api, shop)
            assert response.status_code == 201, response.text
            acknowledged.append(response.json()["id"])

        # Every worker's listener is back (readiness asks the listener) ...
        for backend in topology.backends:
            async with httpx.AsyncClient() as direct:
                for _ in range(6):
                    ready = await direct.get(backend.url + "/health/ready")
                    while ready.status_code != 200 and time.monotonic() < deadline:
                        await asyncio.sleep(0.5)
                        ready = await direct.get(backend.url + "/health/ready")
                    assert ready.status_code == 200, ready.text
        # ... no acknowledged order is lost, and the stream delivers them all once, in order.
        stored = await fetchval(topology.primary, "SELECT count(*) FROM orders WHERE id = ANY($1)", acknowledged)
        assert stored == len(acknowledged)
        await follower.wait_for_orders(set(acknowledged))
        assert_once_in_order(follower.received)
