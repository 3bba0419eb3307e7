"""API keys per store with scopes (issue 11, point 4; SPEC §9): staff create, list, read and revoke
them; the secret is shown once and kept only as a hash; a key works on the admin API and the admin
stream within its scopes (403 naming the missing scope), never on staff-only operations nor where a
table token belongs; revocation ends it at once on every replica, open streams included."""

from __future__ import annotations

import asyncio
import hashlib
import re
import secrets
from collections.abc import AsyncIterator, Iterator
from datetime import datetime
from typing import Any

import asyncpg
import httpx
import msgspec
import pytest

from tableorder import db
from tableorder.documents import ApiKey, ApiKeyCreated
from tableorder.security import ADMIN_COOKIE
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, bearer, place
from tests.sse import EventStream
from tests.test_migrations import _definitions, _schema
from tests.test_tokens import status_soon

SCOPES = ["menu:read", "menu:write", "orders:read", "orders:write", "tables:read", "tables:write", "events:read"]
KEY_SHAPE = re.compile(r"tok_([a-z0-9]{8})_[A-Za-z0-9_-]{43}")
HTTP_METHODS = {"get", "put", "post", "delete", "patch", "head", "options", "trace"}
PROBLEM_JSON = "application/problem+json"
NO_SUCH_ID = "999999999999"

# Which admin operations a key may call, by path: the rule the OpenAPI document must follow. A new
# admin path matching none of these fails test_every_admin_operation_declares_a_scope_or_is_staff_only
# until someone decides what a key may do there.
STAFF_ONLY = ("/api/v1/admin/api-keys", "/api/v1/admin/webhooks", "/api/v1/admin/password")
RESOURCES = {
    "/api/v1/admin/orders/stream": "events",
    "/api/v1/admin/orders": "orders",
    "/api/v1/admin/tables": "tables",
    "/api/v1/admin/categories": "menu",
    "/api/v1/admin/menu-items": "menu",
    # A kitchen display reads and marks tickets (orders); stations are the menu's set-up.
    "/api/v1/admin/stations/{station_id}/tickets": "orders",
    "/api/v1/admin/stations": "menu",
    "/api/v1/admin/tickets": "orders",
    "/api/v1/admin/option-groups": "menu",
    "/api/v1/admin/options": "menu",
    "/api/v1/admin/store": "menu",  # the store's menu languages
    "/api/v1/admin/calls": "orders",  # staff calls are the floor's work, like orders
}
# Operations a key may call with any one of several scopes: a kitchen display runs on a key holding
# orders:read and orders:write (SPEC section 10), so it may list the stations and follow the feed.
EITHER = {
    ("GET", "/api/v1/admin/orders/stream"): ("events:read", "orders:read"),
    ("GET", "/api/v1/admin/stations"): ("menu:read", "orders:read"),
    ("GET", "/api/v1/admin/stations/{station_id}"): ("menu:read", "orders:read"),
}


def expected_scope(method: str, path: str) -> tuple[str, ...] | None:
    """The scopes of which a key needs one for an admin operation; None: staff only."""
    if path.startswith(STAFF_ONLY):
        return None
    if path.endswith("/history"):  # a table's closed sessions carry their orders: order data
        return ("orders:read",)
    if (method, path) in EITHER:
        return EITHER[(method, path)]
    for start, resource in RESOURCES.items():
        if path == start or path.startswith(start + "/"):
            if resource == "events":
                return ("events:read",)
            return (f"{resource}:{'read' if method in ('GET', 'HEAD') else 'write'}",)
    pytest.fail(f"{method} {path}: decide whether an API key may call it (and with which scope), "
                "then add the path to RESOURCES or STAFF_ONLY")


def admin_operations(document: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in document["paths"].items():
        if path.startswith("/api/v1/admin/"):
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield method.upper(), path, operation


def declared_scopes(operation: dict[str, Any]) -> list[list[str]]:
    """The scopes an operation names for API keys (`x-api-key-scope`: one name, or the list of
    which a key needs one), where it lists ApiKey."""
    requirements = [r for r in operation.get("security") or [] if "ApiKey" in r]
    assert requirements in ([], [{"ApiKey": []}]), operation.get("security")
    if not requirements:
        return []
    named = operation["x-api-key-scope"]
    return [[named] if isinstance(named, str) else named]


async def create_key(client: httpx.AsyncClient, store: Store, scopes: list[str], name: str = "integration") -> str:
    response = await client.post("/admin/api-keys", headers=store.admin, json={"name": name, "scopes": scopes})
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def assert_problem(response: httpx.Response, status: int, *fragments: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    for fragment in fragments:
        assert fragment in body["detail"], body
    return body


# --- managing keys -------------------------------------------------------------------------------------


async def test_staff_create_list_read_and_revoke_a_key(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    created = await client.post("/admin/api-keys", headers=store.admin, json={
        "name": "Kitchen display", "scopes": ["orders:write", "events:read", "orders:read", "orders:read"]})
    assert created.status_code == 201, created.text
    key = created.json()
    msgspec.json.decode(created.content, type=ApiKeyCreated, strict=True)
    assert set(key) == {"id", "name", "scopes", "prefix", "secret", "created_at", "last_used_at"}
    assert key["name"] == "Kitchen display"
    assert key["scopes"] == ["orders:read", "orders:write", "events:read"]  # once each, in a fixed order
    shape = KEY_SHAPE.fullmatch(key["secret"])
    assert shape is not None and shape.group(1) == key["prefix"]
    assert key["last_used_at"] is None
    assert created.headers["location"] == f"/api/v1/admin/api-keys/{key['id']}"
    assert created.headers["cache-control"] == "no-store"
    shown = {name: value for name, value in key.items() if name != "secret"}

    # The secret was shown once: reading and listing show the prefix, never the secret.
    read = await client.get(f"/admin/api-keys/{key['id']}", headers=store.admin)
    assert read.status_code == 200 and read.json() == shown
    listed = await client.get("/admin/api-keys", headers=store.admin)
    assert listed.status_code == 200 and listed.json() == [shown]
    msgspec.json.decode(read.content, type=ApiKey, strict=True)
    msgspec.json.decode(listed.content, type=list[ApiKey], strict=True)
    assert key["secret"] not in read.text + listed.text
    assert key["secret"].split("_", 2)[2] not in read.text + listed.text

    assert (await client.get("/admin/orders", headers=bearer(key["secret"]))).status_code == 200

    revoked = await client.delete(f"/admin/api-keys/{key['id']}", headers=store.admin)
    assert revoked.status_code == 204
    assert_problem(await client.get("/admin/orders", headers=bearer(key["secret"])), 401, "revoked")
    assert_problem(await client.get(f"/admin/api-keys/{key['id']}", headers=store.admin), 404)
    assert (await client.get("/admin/api-keys", headers=store.admin)).json() == []
    assert_problem(await client.delete(f"/admin/api-keys/{key['id']}", headers=store.admin), 404)


async def test_the_database_keeps_only_a_hash_of_the_secret(client: httpx.AsyncClient, stores: Stores,
                                                            pool: asyncpg.Pool) -> None:
    store = await stores.create()
    secret = await create_key(client, store, ["menu:read"])
    _, prefix, random_part = secret.split("_", 2)
    rows = await pool.fetch("SELECT to_jsonb(k)::text AS everything, secret_hash FROM api_keys k WHERE store_id = $1",
                            store.id)
    assert len(rows) == 1
    assert secret not in rows[0]["everything"] and random_part not in rows[0]["everything"]
    assert prefix in rows[0]["everything"]
    assert bytes(rows[0]["secret_hash"]) == hashlib.sha256(secret.encode()).digest()


@pytest.mark.parametrize("body", [
    {"name": "x", "scopes": []},
    {"name": "x", "scopes": ["orders:delete"]},
    {"name": "x", "scopes": ["ORDERS:READ"]},
    {"name": "x", "scopes": "orders:read"},
    {"name": "", "scopes": ["menu:read"]},
    {"name": "   ", "scopes": ["menu:read"]},
    {"name": "x" * 101, "scopes": ["menu:read"]},
    {"scopes": ["menu:read"]},
    {"name": "x", "scopes": ["menu:read"], "secret": "tok_mine0000_" + "a" * 43},
])
async def test_a_key_needs_a_name_and_known_scopes(client: httpx.AsyncClient, stores: Stores,
                                                  body: dict[str, Any]) -> None:
    store = await stores.create(tables=0, items=0)
    assert_problem(await client.post("/admin/api-keys", headers=store.admin, json=body), 422)
    assert (await client.get("/admin/api-keys", headers=store.admin)).json() == []


async def test_keys_of_another_store_are_not_found(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(), await stores.create()
    their_key = (await client.post("/admin/api-keys", headers=theirs.admin,
                                   json={"name": "theirs", "scopes": ["orders:read"]})).json()
    assert_problem(await client.get(f"/admin/api-keys/{their_key['id']}", headers=mine.admin), 404)
    assert_problem(await client.delete(f"/admin/api-keys/{their_key['id']}", headers=mine.admin), 404)
    assert (await client.get("/admin/api-keys", headers=mine.admin)).json() == []
    assert (await client.get("/admin/orders", headers=bearer(their_key["secret"]))).status_code == 200


# --- what a key may do ---------------------------------------------------------------------------------


def test_every_admin_operation_declares_a_scope_or_is_staff_only(openapi_document: dict[str, Any]) -> None:
    """The OpenAPI document is the declaration the guard enforces: each admin operation either lists
    ApiKey with the one scope it needs, or does not list it (staff only). Checked against the rule
    above, so a new admin route cannot silently take a scope, or none."""
    scheme = openapi_document["components"]["securitySchemes"]["ApiKey"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"
    assert "tok_" in scheme["description"] and all(scope in scheme["description"] for scope in SCOPES)
    seen = set()
    for method, path, operation in admin_operations(openapi_document):
        assert {"AdminToken": []} in operation["security"], (method, path)
        scopes = expected_scope(method, path)
        assert declared_scopes(operation) == ([] if scopes is None else [list(scopes)]), (method, path)
        seen.update(scopes or [None])
    assert seen == {*SCOPES, None}  # every scope is used somewhere; some operations are staff only
    for path, item in openapi_document["paths"].items():
        if not path.startswith("/api/v1/admin/"):
            assert not any(declared_scopes(operation) for method, operation in item.items()
                           if method in HTTP_METHODS), path


async def _call(client: httpx.AsyncClient, method: str, path: str, secret: str) -> int:
    """The status of one operation called with `secret`, on ids that do not exist and empty bodies
    (so what is allowed answers 404 or 422 and changes nothing)."""
    url = re.sub(r"\{[^}]+\}", NO_SUCH_ID, path.removeprefix("/api/v1"))
    headers = bearer(secret)
    if path.endswith("/stream"):
        async with client.stream(method, url, headers=headers) as response:
            if response.status_code != 200:
                await response.aread()
                assert_problem(response, response.status_code)
            return response.status_code
    body = {} if method in ("POST", "PUT", "PATCH") else None
    response = await client.request(method, url, headers=headers, json=body)
    if response.status_code == 403:
        assert_problem(response, 403)
        scopes = expected_scope(method, path)
        if scopes is None:
            assert response.json()["type"] == "urn:tableorder:problem:staff-only"
        else:
            assert all(scope in response.json()["detail"] for scope in scopes)
            assert response.json()["type"] == "urn:tableorder:problem:insufficient-scope"
            assert f'scope="{" ".join(scopes)}"' in response.headers["www-authenticate"]
    return response.status_code


async def test_each_scope_allows_exactly_its_operations(client: httpx.AsyncClient, stores: Stores,
                                                        openapi_document: dict[str, Any]) -> None:
    store = await stores.create(tables=1, items=1)
    operations = [(method, path) for method, path, _ in admin_operations(openapi_document)]
    keys = {(scope,): await create_key(client, store, [scope], name=scope) for scope in SCOPES}
    keys[tuple(SCOPES)] = await create_key(client, store, SCOPES, name="everything")
    refused: dict[tuple[str, ...], int] = {}
    for scopes, secret in keys.items():
        for method, path in operations:
            needed = expected_scope(method, path)
            status = await _call(client, method, path, secret)
            if needed is not None and set(needed) & set(scopes):
                assert status not in (401, 403), (scopes, method, path, status)
            else:
                assert status == 403, (scopes, method, path, status)
                refused[scopes] = refused.get(scopes, 0) + 1
    # Staff-only operations refuse even a key that holds every scope.
    assert refused[tuple(SCOPES)] == sum(1 for method, path in operations if expected_scope(method, path) is None)


async def test_keys_do_the_work_of_their_scopes(client: httpx.AsyncClient, stores: Stores) -> None:
    """An integration's day: the menu kept by one key, orders read and moved by another, the table
    closed by a third; none of them staff."""
    store = await stores.create(tables=1, items=1)
    menu = bearer(await create_key(client, store, ["menu:read", "menu:write"]))
    orders = bearer(await create_key(client, store, ["orders:read", "orders:write"]))
    tables = bearer(await create_key(client, store, ["tables:read", "tables:write"]))

    category = await client.post("/admin/categories", headers=menu, json={"name": "Drinks", "sort_order": 1})
    assert category.status_code == 201, category.text
    item = await client.post("/admin/menu-items", headers=menu, json={
        "category_id": category.json()["id"], "name": "Sikhye", "price": 3000})
    assert item.status_code == 201, item.text
    assert any(i["name"] == "Sikhye" for i in (await client.get("/admin/menu-items", headers=menu)).json())

    table = store.tables[1]
    placed = await place(client, table, [(item.json()["id"], 2)])
    assert placed.status_code == 201, placed.text
    listed = await client.get("/admin/orders", headers=orders)
    assert listed.status_code == 200 and placed.json()["id"] in [o["id"] for o in listed.json()["items"]]
    moved = await client.patch(f"/admin/orders/{placed.json()['id']}", headers=orders, json={"status": "preparing"})
    assert moved.status_code == 200 and moved.json()["status"] == "preparing"

    floor = await client.get("/admin/tables", headers=tables)
    assert floor.status_code == 200 and floor.json()[0]["session"]["total_amount"] == 6000
    closed = await client.post(f"/admin/tables/{table.id}/close-session", headers=tables)
    assert closed.status_code == 200, closed.text


async def test_staff_only_operations_refuse_every_key(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=0, items=0)
    everything = bearer(await create_key(client, store, SCOPES))
    for response in [
        await client.post("/admin/api-keys", headers=everything, json={"name": "escalate", "scopes": SCOPES}),
        await client.get("/admin/api-keys", headers=everything),
        await client.put("/admin/password", headers=everything,
                         json={"current_password": "whatever-1", "new_password": "whatever-2"}),
    ]:
        assert_problem(response, 403, "Only staff")
    assert len((await client.get("/admin/api-keys", headers=store.admin)).json()) == 1


async def test_a_key_sees_only_its_own_store(client: httpx.AsyncClient, stores: Stores) -> None:
    mine, theirs = await stores.create(), await stores.create()
    key = bearer(await create_key(client, mine, SCOPES))
    their_order = await place(client, theirs.tables[1], [(theirs.item_ids()[0], 1)])
    assert their_order.status_code == 201
    their_id = their_order.json()["id"]
    assert_problem(await client.get(f"/admin/orders/{their_id}", headers=key), 404)
    assert_problem(await client.patch(f"/admin/orders/{their_id}", headers=key, json={"status": "preparing"}), 404)
    assert_problem(await client.delete(f"/admin/orders/{their_id}", headers=key), 404)
    assert_problem(await client.get(f"/admin/tables/{theirs.tables[1].id}", headers=key), 404)
    assert_problem(await client.post(f"/admin/tables/{theirs.tables[1].id}/close-session", headers=key), 404)
    assert_problem(await client.get(f"/admin/categories/{theirs.category_id}", headers=key), 404)
    assert_problem(await client.delete(f"/admin/menu-items/{theirs.item_ids()[0]}", headers=key), 404)
    assert (await client.get("/admin/orders", headers=key)).json()["items"] == []
    assert {t["id"] for t in (await client.get("/admin/tables", headers=key)).json()} == \
        {t.id for t in mine.tables.values()}
    # Nothing of theirs moved.
    assert (await client.get(f"/admin/orders/{their_id}", headers=theirs.admin)).json()["status"] == "pending"


async def test_last_used_at_records_use_without_a_write_per_request(client: httpx.AsyncClient,
                                                                   stores: Stores) -> None:
    store = await stores.create(tables=0, items=0)
    created = (await client.post("/admin/api-keys", headers=store.admin,
                                 json={"name": "pos", "scopes": ["tables:read"]})).json()
    assert created["last_used_at"] is None
    assert (await client.get("/admin/tables", headers=bearer(created["secret"]))).status_code == 200
    first = (await client.get(f"/admin/api-keys/{created['id']}", headers=store.admin)).json()["last_used_at"]
    assert first is not None
    assert datetime.fromisoformat(first) >= datetime.fromisoformat(created["created_at"])
    # Used again straight away: the time of use is kept to about a minute, not written every time.
    for _ in range(3):
        assert (await client.get("/admin/tables", headers=bearer(created["secret"]))).status_code == 200
    again = (await client.get(f"/admin/api-keys/{created['id']}", headers=store.admin)).json()["last_used_at"]
    assert again == first


# --- where a key is refused ------------------------------------------------------------------------------


async def test_a_key_is_never_accepted_where_a_table_token_belongs(client: httpx.AsyncClient,
                                                                   stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    key = bearer(await create_key(client, store, SCOPES))
    for method, path, body in [("GET", "/menu", None), ("GET", "/orders", None), ("GET", "/orders/stream", None),
                               ("POST", "/orders", {"items": [{"menu_item_id": store.item_ids()[0], "quantity": 1}]})]:
        response = await client.request(method, path, headers=key, json=body)
        assert_problem(response, 401, "table token")
        assert response.headers["www-authenticate"].startswith("Bearer")
    assert_problem(await client.post("/auth/logout", headers=key), 401, "revoke")
    assert (await client.get("/orders", headers=store.tables[1].headers)).json()["orders"] == []


@pytest.mark.parametrize("secret", [
    "tok_",
    "tok_abcdefgh",
    "tok_abcdefgh_" + "A" * 42,
    "tok_abcdefgh_" + "A" * 44,
    "tok_ABCDEFGH_" + "A" * 43,
    "tok_abcdefgh_" + "A" * 42 + "!",
    "tok_abcdefgh_" + secrets.token_urlsafe(32),  # well formed, unknown
])
async def test_a_malformed_or_unknown_key_is_refused(client: httpx.AsyncClient, secret: str) -> None:
    response = await client.get("/admin/orders", headers=bearer(secret))
    assert_problem(response, 401, "API key")
    assert response.headers["www-authenticate"].startswith("Bearer")


async def test_a_key_with_the_wrong_secret_is_refused(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=0, items=0)
    secret = await create_key(client, store, ["orders:read"])
    forged = secret[:13] + secrets.token_urlsafe(32)  # its real prefix, another secret
    assert_problem(await client.get("/admin/orders", headers=bearer(forged)), 401, "unknown or was revoked")
    assert (await client.get("/admin/orders", headers=bearer(secret))).status_code == 200


async def test_a_key_is_never_accepted_in_the_staff_cookie(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=0, items=0)
    secret = await create_key(client, store, SCOPES)
    # The stream honours the staff cookie, never with a key in it; nothing else reads the cookie at all.
    stream = await client.get("/admin/orders/stream", headers={"Cookie": f"{ADMIN_COOKIE}={secret}"})
    assert_problem(stream, 401, "never in a cookie")
    orders = await client.get("/admin/orders", headers={"Cookie": f"{ADMIN_COOKIE}={secret}"})
    assert_problem(orders, 401, "access token is required")


# --- revocation across replicas, and streams -------------------------------------------------------------


@pytest.fixture(scope="module")
def replicas(database_url: str) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    env = {"SSE_MAX_CONNECTIONS_PER_STORE": "2"}
    with ServerProcess(database_url, env=env) as a, ServerProcess(database_url, env=env) as b:
        yield a, b


@pytest.fixture
async def via(replicas: tuple[ServerProcess, ServerProcess]) -> AsyncIterator[tuple[httpx.AsyncClient, ...]]:
    async with replicas[0].api() as a, replicas[1].api() as b:
        yield a, b


async def test_revoking_a_key_ends_it_at_once_on_every_replica(
        replicas: tuple[ServerProcess, ServerProcess], via: tuple[httpx.AsyncClient, httpx.AsyncClient],
        stores: Stores) -> None:
    replica_a, replica_b = replicas
    via_a, via_b = via
    store = await stores.create(tables=1, items=1)
    created = (await via_a.post("/admin/api-keys", headers=store.admin,
                                json={"name": "board", "scopes": ["orders:read", "events:read"]})).json()
    key = bearer(created["secret"])
    other = bearer(await create_key(via_a, store, ["orders:read"]))
    # Both replicas know the key (and remember it).
    for api in (via_a, via_b):
        for _ in range(2):
            assert (await api.get("/admin/orders", headers=key)).status_code == 200
    async with EventStream(replica_a.url, "/api/v1/admin/orders/stream", key) as on_a, \
            EventStream(replica_b.url, "/api/v1/admin/orders/stream", key) as on_b:
        assert on_a.status == 200 and on_b.status == 200, (on_a.body_on_error, on_b.body_on_error)
        placed = await place(via_a, store.tables[1], [(store.item_ids()[0], 1)])
        assert placed.status_code == 201
        for stream in (on_a, on_b):
            message = await stream.next()
            assert message.event == "order.created" and message.json()["id"] == placed.json()["id"]

        assert (await via_a.delete(f"/admin/api-keys/{created['id']}", headers=store.admin)).status_code == 204
        assert_problem(await via_a.get("/admin/orders", headers=key), 401, "revoked")
        assert await status_soon(via_b, "/admin/orders", key, 401) == 401
        await asyncio.wait_for(on_a.ended.wait(), 5)
        await asyncio.wait_for(on_b.ended.wait(), 5)
    # The store's other key and its staff go on.
    for api in (via_a, via_b):
        assert (await api.get("/admin/orders", headers=other)).status_code == 200
        assert (await api.get("/admin/orders", headers=store.admin)).status_code == 200


async def test_key_streams_count_against_the_stores_stream_limit(
        replicas: tuple[ServerProcess, ServerProcess], via: tuple[httpx.AsyncClient, httpx.AsyncClient],
        stores: Stores) -> None:
    replica_a, _ = replicas
    store = await stores.create(tables=0, items=0)
    key = bearer(await create_key(via[0], store, ["events:read"]))
    async with EventStream(replica_a.url, "/api/v1/admin/orders/stream", key) as first, \
            EventStream(replica_a.url, "/api/v1/admin/orders/stream", store.admin) as staff:
        assert first.status == 200 and staff.status == 200
        for headers in (key, store.admin):
            async with EventStream(replica_a.url, "/api/v1/admin/orders/stream", headers) as refused:
                assert refused.status == 429, refused.body_on_error
    # Closed, the slots are free again.
    deadline = asyncio.get_running_loop().time() + 5
    while True:
        async with EventStream(replica_a.url, "/api/v1/admin/orders/stream", key) as again:
            if again.status == 200 or asyncio.get_running_loop().time() > deadline:
                assert again.status == 200
                break
        await asyncio.sleep(0.05)


async def test_a_key_without_events_read_or_orders_read_gets_no_stream(client: httpx.AsyncClient,
                                                                      stores: Stores) -> None:
    store = await stores.create(tables=0, items=0)
    key = bearer(await create_key(client, store, [s for s in SCOPES if s not in ("events:read", "orders:read")]))
    response = await client.get("/admin/orders/stream", headers=key)
    assert_problem(response, 403, "'events:read' or 'orders:read'")
    assert response.headers["www-authenticate"] == 'Bearer error="insufficient_scope", scope="events:read orders:read"'


async def test_a_kitchen_display_runs_on_orders_read_and_write(replicas: tuple[ServerProcess, ServerProcess],
                                                               client: httpx.AsyncClient, stores: Stores) -> None:
    """SPEC section 10: a kitchen display may run on a key holding orders:read and orders:write: it
    lists the stations, follows the feed and reads the tickets (and cannot change the menu)."""
    replica_a, _ = replicas
    store = await stores.create(tables=0, items=0)
    key = bearer(await create_key(client, store, ["orders:read", "orders:write"]))
    created = await client.post("/admin/stations", headers=store.admin, json={"name": "Bar"})
    assert created.status_code == 201, created.text
    listed = await client.get("/admin/stations", headers=key)
    assert listed.status_code == 200 and [s["name"] for s in listed.json()] == ["Bar"], listed.text
    tickets = await client.get(f"/admin/stations/{created.json()['id']}/tickets", headers=key)
    assert tickets.status_code == 200 and tickets.json() == [], tickets.text
    assert_problem(await client.post("/admin/stations", headers=key, json={"name": "Grill"}), 403, "menu:write")
    async with EventStream(replica_a.url, "/api/v1/admin/orders/stream", key) as stream:
        assert stream.status == 200, stream.body_on_error


# --- the schema ------------------------------------------------------------------------------------------


async def test_revoking_notifies_every_replica_and_using_does_not(pool: asyncpg.Pool, stores: Stores,
                                                                 client: httpx.AsyncClient) -> None:
    """The trigger behind "at once on every replica": a revoked (deleted) or altered key tells the
    store's listeners; recording its use does not (it would flush every replica's cache each minute)."""
    store = await stores.create(tables=0, items=0)
    await create_key(client, store, ["orders:read"])
    heard: asyncio.Queue[str] = asyncio.Queue()

    def hear(*args: Any) -> None:
        # The relay's batch: `store:position:type` entries joined by `;` (other stores' too).
        for entry in args[-1].split(";"):
            if entry.startswith(f"{store.id}:"):
                heard.put_nowait(entry)

    async with pool.acquire() as listening:
        await listening.add_listener("tableorder_events", hear)
        try:
            await pool.execute("UPDATE api_keys SET last_used_at = now() WHERE store_id = $1", store.id)
            await pool.execute("UPDATE api_keys SET name = 'renamed' WHERE store_id = $1", store.id)
            await pool.execute("UPDATE api_keys SET scopes = '{orders:read,menu:read}' WHERE store_id = $1",
                               store.id)
            assert await asyncio.wait_for(heard.get(), 5) == f"{store.id}:0:credentials.changed"
            await pool.execute("DELETE FROM api_keys WHERE store_id = $1", store.id)
            assert await asyncio.wait_for(heard.get(), 5) == f"{store.id}:0:credentials.changed"
            assert heard.empty()
        finally:
            await listening.remove_listener("tableorder_events", hear)


@pytest.mark.parametrize("scopes", [[], ["orders:delete"], ["orders:read", None], [*SCOPES, "menu:read"]])
async def test_the_database_refuses_unknown_scopes(pool: asyncpg.Pool, stores: Stores,
                                                   scopes: list[str | None]) -> None:
    store = await stores.create(tables=0, items=0)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("INSERT INTO api_keys (store_id, name, scopes, prefix, secret_hash) "
                           "VALUES ($1, 'x', $2::text[], 'abcd1234', $3)", store.id, scopes, bytes(32))


async def test_0006_downgrade_restores_0005_exactly(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_0006")
    await asyncio.to_thread(db.migrate, url, "0005")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        before = await _definitions(conn), await _schema(conn)
        await asyncio.to_thread(db.migrate, url, "0006")
        assert "api_keys" in (await _schema(conn))["tables"]
        await asyncio.to_thread(db.downgrade, url, "0005")
        assert (await _definitions(conn), await _schema(conn)) == before
    finally:
        await conn.close()
