"""Bad input of every kind gets an RFC 9457 problem, a 4xx and never a 500, and writes nothing."""

from __future__ import annotations

import asyncio
import copy
import re
from collections.abc import AsyncIterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, TABLE_PASSWORD, Store, Stores, place

MAX_BIGINT = 2**63 - 1
BAD_IDS = [-1, 0, MAX_BIGINT + 1, 10**30]
JSON = {"content-type": "application/json"}


def assert_problem(response: httpx.Response, status: int | None = None) -> dict[str, Any]:
    """A 4xx problem document: the given status (or any 4xx), all four members, no stack trace."""
    where = (response.request.method, str(response.request.url), response.status_code, response.text[:500])
    if status is None:
        assert 400 <= response.status_code < 500, where
    else:
        assert response.status_code == status, where
    assert response.headers["content-type"].startswith("application/problem+json"), where
    problem: dict[str, Any] = response.json()
    assert problem["status"] == response.status_code
    for member in ("type", "title", "detail"):
        assert isinstance(problem[member], str) and problem[member], (member, problem)
    assert "Traceback" not in response.text and 'File "' not in response.text
    if "errors" in problem:
        for error in problem["errors"]:
            assert set(error) == {"field", "message"} and error["field"] and error["message"], problem
    return problem


def error_fields(response: httpx.Response) -> set[str]:
    return {e["field"] for e in assert_problem(response, 422)["errors"]}


async def counts(pool: asyncpg.Pool, store: Store) -> tuple[int, ...]:
    """Rows of the store that a rejected request must not have added or changed."""
    row = await pool.fetchrow(
        """SELECT (SELECT count(*) FROM orders WHERE store_id = $1),
                  (SELECT count(*) FROM table_sessions WHERE store_id = $1),
                  (SELECT count(*) FROM menu_categories WHERE store_id = $1),
                  (SELECT count(*) FROM menu_items WHERE store_id = $1),
                  (SELECT count(*) FROM tables WHERE store_id = $1),
                  (SELECT count(*) FROM login_attempts WHERE key LIKE '%' || $2 || '%')""",
        store.id, store.code)
    return tuple(row)


@pytest.fixture(scope="module")
async def anon(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that never logged in, so it carries no admin cookie."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as anon:
        anon.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # never keeps a cookie
        yield anon


# --- malformed bodies ----------------------------------------------------------------------------

MALFORMED = [b"not json", b'{"items": }', b'{"items": [', b'{"items": [{"menu_item_id": 1, "quantity": 1}],}',
             b"\xff\xfe{}", b"{'items': []}"]


@pytest.mark.parametrize("body", MALFORMED, ids=repr)
async def test_malformed_json_is_400(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                     body: bytes) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    for path, headers in (("/orders", store.tables[1].headers), ("/admin/categories", store.admin),
                          ("/admin/menu-items", store.admin), ("/auth/admin/login", {})):
        assert_problem(await client.post(path, content=body, headers={**headers, **JSON}), 400)
    assert_problem(await client.patch(f"/admin/menu-items/{store.item_ids()[0]}", content=body,
                                      headers={**store.admin, **JSON}), 400)
    assert await counts(pool, store) == before


# Bodies the JSON decoder gives up on other than by a syntax error; each 400 says what is wrong.
UNDECODABLE = [
    pytest.param(b"[" * 20_000, "nested too deeply", id="20000-open-brackets"),
    pytest.param(b'{"items":' * 7_000, "nested too deeply", id="7000-nested-objects"),
    pytest.param(b"[" * 5_000 + b"]" * 5_000, "nested too deeply", id="5000-deep-well-formed"),
    pytest.param(b'{"items": [' + b'{"a": [' * 600 + b"]}" * 600 + b"]}", "nested too deeply",
                 id="deep-inside-a-field"),
    pytest.param(b'{"store_code": "\xff\xfe", "username": "admin", "password": "x", "name": "\xff"}',
                 "not valid UTF-8", id="invalid-utf8-in-a-string"),
    pytest.param(b'{"name": "\xc0\xaf", "note": "\xc0\xaf"}', "not valid UTF-8", id="overlong-utf8"),
    pytest.param(b'{"name": "\xed\xa0\x80", "note": "\xed\xa0\x80"}', "not valid UTF-8",
                 id="utf8-encoded-surrogate"),
    pytest.param(b'{"name": "\\ud800", "note": "\\udfff", "store_code": "\\ud800"}', "not valid JSON",
                 id="escaped-lone-surrogate"),
    pytest.param(b'{"name": "x", "price": 1' + b"0" * 5_000 + b"}", "not valid JSON", id="5000-digit-number"),
]


async def body_operations(server: ServerProcess, store: Store) -> list[tuple[str, str, dict[str, str]]]:
    """Every operation of the API that takes a request body, with real ids in its path and the
    credentials it wants; read from the OpenAPI document, so new routes are covered too."""
    async with httpx.AsyncClient(base_url=server.url) as root:
        schema = (await root.get("/schema/openapi.json")).json()
    ids = {"table_id": store.tables[1].id, "category_id": store.category_id, "item_id": store.item_ids()[0]}
    operations = []
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if not isinstance(operation, dict) or "requestBody" not in operation:
                continue
            path = path.removeprefix("/api/v1")
            for name, value in ids.items():
                path = path.replace("{" + name + "}", str(value))
            path = re.sub(r"\{\w+\}", "1", path)
            headers = ({} if path.startswith("/auth/") else
                       store.admin if path.startswith("/admin/") else store.tables[1].headers)
            operations.append((method.upper(), path, headers))
    assert len(operations) >= 10, operations
    return operations


@pytest.mark.parametrize(("body", "reason"), UNDECODABLE)
async def test_undecodable_bodies_are_400_on_every_route(client: httpx.AsyncClient, anon: httpx.AsyncClient,
                                                         server: ServerProcess, stores: Stores,
                                                         pool: asyncpg.Pool, body: bytes, reason: str) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    for method, path, headers in await body_operations(server, store):
        response = await client.request(method, path, content=body, headers={**headers, **JSON})
        problem = assert_problem(response, 400)
        assert reason in problem["detail"], (method, path, problem)
        # before authentication too
        assert_problem(await anon.request(method, path, content=body, headers=JSON))
    assert await counts(pool, store) == before


async def test_undecodable_bodies_are_logged_as_one_short_line(database_url: str) -> None:
    server = ServerProcess(database_url, env={"LOG_LEVEL": "INFO"}, capture_output=True)
    await asyncio.to_thread(server.start)
    try:
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as http:
            for body in (b"[" * 20_000, b'{"store_code": "\xff"}'):
                response = await http.post("/auth/table/login", content=body, headers=JSON)
                assert_problem(response, 400)
    finally:
        await asyncio.to_thread(server.stop)
    output = server.output()
    assert "Traceback" not in output and 'File "' not in output, output[-3000:]
    # one line per request says why (besides the access log's line, when it is on)
    lines = [line for line in output.splitlines() if "/auth/table/login" in line and "uvicorn.access" not in line]
    assert len(lines) == 2, output[-3000:]
    assert "nested too deeply" in lines[0] and "not valid UTF-8" in lines[1], lines
    assert all(len(line) < 300 for line in lines), lines


async def test_valid_json_of_the_wrong_shape_is_422(client: httpx.AsyncClient, stores: Stores,
                                                    pool: asyncpg.Pool) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    for body in (b"[1, 2]", b'"items"', b"null", b"42"):
        response = await client.post("/orders", content=body, headers={**store.tables[1].headers, **JSON})
        assert_problem(response, 422)
    assert await counts(pool, store) == before


async def test_missing_body_is_a_4xx(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    assert_problem(await client.post("/orders", headers=store.tables[1].headers))
    assert_problem(await client.post("/admin/categories", headers=store.admin))
    assert await counts(pool, store) == before


# --- field validation ----------------------------------------------------------------------------

async def test_wrong_types_name_every_bad_field(client: httpx.AsyncClient, stores: Stores,
                                                pool: asyncpg.Pool) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    response = await client.post("/admin/menu-items", headers=store.admin, json={
        "category_id": "one", "name": 5, "price": "free", "available": "yes", "description": "fine"})
    assert error_fields(response) == {"category_id", "name", "price", "available"}
    response = await client.post("/admin/menu-items", headers=store.admin, json={
        "category_id": store.category_id, "name": "", "price": -1, "image_url": "ftp://x"})
    assert error_fields(response) == {"name", "price", "image_url"}
    missing = await client.post("/admin/menu-items", headers=store.admin, json={"name": "No price"})
    assert error_fields(missing) == {"category_id", "price"}
    order = await place(client, store.tables[1], [(store.item_ids()[0], 1)], note=7)
    assert error_fields(order) == {"note"}
    table = await client.post("/admin/tables", headers=store.admin, json={"number": "ten", "password": 1234})
    assert error_fields(table) == {"number", "password"}
    # a bad path id and a bad body field are both named
    both = await client.patch("/admin/orders/0", headers=store.admin, json={"status": 5})
    assert error_fields(both) == {"path.order_id", "status"}
    assert await counts(pool, store) == before


async def test_each_message_says_what_is_wrong(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    response = await client.post("/admin/menu-items", headers=store.admin, json={
        "category_id": store.category_id, "name": "Soup", "price": 10_000_001})
    problem = assert_problem(response, 422)
    assert problem["errors"] == [{"field": "price", "message": "Expected `int` <= 10000000"}]


@pytest.mark.parametrize(("path", "body", "unknown"), [
    ("/orders", {"items": [{"menu_item_id": "{item}", "quantity": 1}], "table_id": 1}, "table_id"),
    ("/orders", {"items": [{"menu_item_id": "{item}", "quantity": 1, "unit_price": 0}]}, "unit_price"),
    ("/admin/categories", {"name": "Drinks", "store_id": 1}, "store_id"),
    ("/admin/menu-items", {"category_id": "{category}", "name": "x", "price": 1, "id": 5}, "id"),
    ("/admin/tables", {"number": 9, "password": "pass-9", "store_id": 1}, "store_id"),
    ("/auth/admin/login", {"store_code": "abc", "username": "admin", "password": "x", "remember": True},
     "remember"),
])
async def test_unknown_fields_are_422(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                      path: str, body: dict[str, Any], unknown: str) -> None:
    store = await stores.create()
    placeholders = {"{item}": store.item_ids()[0], "{category}": store.category_id}
    body = copy.deepcopy(body)
    if "items" in body:
        body["items"] = [{k: placeholders.get(v, v) for k, v in line.items()} for line in body["items"]]
    body = {k: placeholders.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    headers = store.tables[1].headers if path == "/orders" else store.admin
    before = await counts(pool, store)
    problem = assert_problem(await client.post(path, json=body, headers=headers), 422)
    assert any(unknown in error["field"] or f"`{unknown}`" in error["message"]
               for error in problem["errors"]), problem
    assert await counts(pool, store) == before


async def test_patch_with_unknown_field_changes_nothing(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    response = await client.patch(f"/admin/menu-items/{item}", headers=store.admin,
                                  json={"price": 1, "store_id": 999})
    assert_problem(response, 422)
    items = {i["id"]: i for i in (await client.get("/admin/menu-items", headers=store.admin)).json()}
    assert items[item]["price"] == store.items[item][1]


# --- size limits ---------------------------------------------------------------------------------

async def test_huge_body_is_413(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    big_note = {"items": [{"menu_item_id": store.item_ids()[0], "quantity": 1}], "note": "x" * 70_000}
    assert_problem(await client.post("/orders", json=big_note, headers=store.tables[1].headers), 413)
    huge_name = {"name": "y" * 100_000}
    assert_problem(await client.post("/admin/categories", json=huge_name, headers=store.admin), 413)
    assert_problem(await client.post("/auth/admin/login", json={
        "store_code": store.code, "username": "admin", "password": "z" * 1_000_000}), 413)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: the limit must hold while streaming
        yield b'{"items": [{"menu_item_id": 1, "quantity": 1}], "note": "'
        for _ in range(20):
            yield b"x" * 8192
        yield b'"}'

    streamed = await client.post("/orders", content=chunks(), headers={**store.tables[1].headers, **JSON})
    assert_problem(streamed, 413)
    assert await counts(pool, store) == before


async def test_a_body_just_under_the_limit_is_judged_on_its_fields(client: httpx.AsyncClient,
                                                                   stores: Stores) -> None:
    store = await stores.create()
    body = {"items": [{"menu_item_id": store.item_ids()[0], "quantity": 1}], "note": "x" * 60_000}
    response = await client.post("/orders", json=body, headers=store.tables[1].headers)
    assert error_fields(response) == {"note"}  # too long for a note (500), but not too large to read


# --- ids out of range ----------------------------------------------------------------------------

@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_ids_in_the_path_are_4xx(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                           bad: int) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    requests: list[tuple[str, str, Any]] = [
        ("PATCH", f"/admin/orders/{bad}", {"status": "preparing"}),
        ("DELETE", f"/admin/orders/{bad}", None),
        ("PATCH", f"/admin/tables/{bad}", {"password": "new-pass"}),
        ("DELETE", f"/admin/tables/{bad}", None),
        ("POST", f"/admin/tables/{bad}/close-session", None),
        ("GET", f"/admin/tables/{bad}/history", None),
        ("PATCH", f"/admin/categories/{bad}", {"name": "x"}),
        ("DELETE", f"/admin/categories/{bad}", None),
        ("PATCH", f"/admin/menu-items/{bad}", {"price": 1}),
        ("DELETE", f"/admin/menu-items/{bad}", None),
    ]
    for method, path, body in requests:
        response = await client.request(method, path, headers=store.admin, json=body)
        problem = assert_problem(response)
        if bad <= 0 or bad > MAX_BIGINT:
            assert response.status_code in (404, 422), (path, problem)
    assert await counts(pool, store) == before


@pytest.mark.parametrize("bad", [*BAD_IDS, "abc", "1.5", ""])
async def test_bad_ids_in_the_query_are_422(client: httpx.AsyncClient, stores: Stores, bad: Any) -> None:
    store = await stores.create()
    table = store.tables[1].id
    for path, field in ((f"/admin/orders?table_id={bad}", "table_id"),
                        (f"/admin/menu-items?category_id={bad}", "category_id"),
                        (f"/admin/tables/{table}/history?limit={bad}", "limit"),
                        (f"/admin/tables/{table}/history?offset={bad}", "offset")):
        response = await client.get(path, headers=store.admin)
        if bad == "" or (field == "offset" and bad == 0):
            assert response.status_code in (200, 422), (path, response.text)  # empty/0 may mean "default"
            continue
        problem = assert_problem(response, 422)
        assert any(field in e["field"] for e in problem["errors"]), (path, problem)


async def test_bad_dates_and_statuses_in_the_query_are_422(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[1].id
    history = f"/admin/tables/{table}/history"
    for path in (f"{history}?from=yesterday", f"{history}?to=2024-13-01",
                 f"{history}?from=2024-02-02&to=2024-02-01", "/admin/orders?status=eaten"):
        assert_problem(await client.get(path, headers=store.admin), 422)


@pytest.mark.parametrize("bad", BAD_IDS)
async def test_bad_ids_in_the_body_are_422(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                           bad: int) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    order = await place(client, store.tables[1], [(store.item_ids()[0], 1), (bad, 1)])
    assert error_fields(order) == {"items[1].menu_item_id"}
    created = await client.post("/admin/menu-items", headers=store.admin,
                                json={"category_id": bad, "name": "x", "price": 1})
    assert error_fields(created) == {"category_id"}
    moved = await client.patch(f"/admin/menu-items/{store.item_ids()[0]}", headers=store.admin,
                               json={"category_id": bad})
    assert error_fields(moved) == {"category_id"}
    assert await counts(pool, store) == before


@pytest.mark.parametrize("number", [-1, 0, 1000, MAX_BIGINT + 1])
async def test_bad_table_numbers_are_422(client: httpx.AsyncClient, anon: httpx.AsyncClient, stores: Stores,
                                         pool: asyncpg.Pool, number: int) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    created = await client.post("/admin/tables", headers=store.admin,
                                json={"number": number, "password": "pass"})
    assert error_fields(created) == {"number"}
    login = await anon.post("/auth/table/login", json={
        "store_code": store.code, "table_number": number, "password": TABLE_PASSWORD})
    assert error_fields(login) == {"table_number"}
    assert await counts(pool, store) == before


async def test_non_integer_path_segment_is_404(client: httpx.AsyncClient, stores: Stores,
                                               pool: asyncpg.Pool) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    for method, path in (("PATCH", "/admin/orders/abc"), ("DELETE", "/admin/orders/1.5"),
                         ("PATCH", "/admin/tables/one"), ("POST", "/admin/tables/x/close-session"),
                         ("GET", "/admin/tables/%00/history"), ("DELETE", "/admin/menu-items/1e3")):
        response = await client.request(method, path, headers=store.admin, json={})
        assert_problem(response, 404)
    assert await counts(pool, store) == before


# --- NUL bytes -----------------------------------------------------------------------------------

async def test_nul_bytes_are_refused_and_write_nothing(client: httpx.AsyncClient, anon: httpx.AsyncClient,
                                                       stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    item = store.item_ids()[0]
    before = await counts(pool, store)
    menu_before = (await client.get("/admin/menu-items", headers=store.admin)).json()
    refused = [
        await place(client, store.tables[1], [(item, 1)], note="no\u0000onions"),
        await client.post("/admin/categories", headers=store.admin, json={"name": "Dri\u0000nks"}),
        await client.patch(f"/admin/categories/{store.category_id}", headers=store.admin,
                           json={"name": "\u0000"}),
        await client.post("/admin/menu-items", headers=store.admin,
                          json={"category_id": store.category_id, "name": "Tea\u0000", "price": 100}),
        await client.patch(f"/admin/menu-items/{item}", headers=store.admin,
                           json={"description": "a\u0000b"}),
        await anon.post("/auth/admin/login", json={
            "store_code": store.code, "username": "ad\u0000min", "password": ADMIN_PASSWORD}),
        await anon.post("/auth/admin/login", json={
            "store_code": store.code + "\u0000", "username": "admin", "password": ADMIN_PASSWORD}),
    ]
    for response in refused:
        assert_problem(response)
    assert await counts(pool, store) == before
    # A password is never stored as given, so a NUL in it is just a wrong password.
    wrong = await anon.post("/auth/table/login", json={
        "store_code": store.code, "table_number": 1, "password": TABLE_PASSWORD + "\u0000"})
    assert_problem(wrong, 401)
    assert (await client.get("/admin/menu-items", headers=store.admin)).json() == menu_before
    assert (await client.get("/admin/categories", headers=store.admin)).json() == [
        {"id": store.category_id, "name": "Mains", "sort_order": 0, "station_id": None, "translations": {}}]


# --- order limits --------------------------------------------------------------------------------

@pytest.mark.parametrize("quantity", [0, 100, -1, 2**31])
async def test_quantity_out_of_range_is_422(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                            quantity: int) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    good = store.item_ids()[0]
    response = await place(client, store.tables[1], [(good, 1), (good, quantity)])
    assert error_fields(response) == {"items[1].quantity"}
    assert await counts(pool, store) == before


@pytest.mark.parametrize("lines", [0, 51])
async def test_line_count_out_of_range_is_422(client: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool,
                                              lines: int) -> None:
    store = await stores.create()
    before = await counts(pool, store)
    response = await place(client, store.tables[1], [(store.item_ids()[0], 1)] * lines)
    assert error_fields(response) == {"items"}
    assert await counts(pool, store) == before


async def test_the_limits_themselves_are_accepted(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    item, (_, price) = next(iter(store.items.items()))
    response = await place(client, store.tables[1], [(item, 99)] + [(item, 1)] * 49)
    assert response.status_code == 201, response.text
    assert response.json()["total_amount"] == (99 + 49) * price


LINES = "SELECT count(*) FROM order_lines l JOIN orders o ON o.id = l.order_id WHERE o.store_id = $1"


async def test_a_rejected_order_writes_nothing(client: httpx.AsyncClient, stores: Stores,
                                               pool: asyncpg.Pool) -> None:
    store = await stores.create()
    good, sold_out = store.item_ids()[:2]
    await client.patch(f"/admin/menu-items/{sold_out}", headers=store.admin, json={"available": False})
    before = await counts(pool, store)
    lines_before = await pool.fetchval(LINES, store.id)
    for lines in ([(good, 2), (sold_out, 1)], [(good, 1), (MAX_BIGINT, 1)], [(good, 1)] * 51):
        assert_problem(await place(client, store.tables[1], lines, idempotency_key=f"k-{len(lines)}"))
    assert await counts(pool, store) == before  # no order, and no session opened for it
    assert await pool.fetchval(LINES, store.id) == lines_before
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys WHERE table_id = $1",
                               store.tables[1].id) == 0
    # the key of a rejected order stays free for the corrected order
    retry = await place(client, store.tables[1], [(good, 2)], idempotency_key="k-2")
    assert retry.status_code == 201 and retry.json()["order_no"] == 1


# --- routing -------------------------------------------------------------------------------------

async def test_unknown_route_is_404_problem(client: httpx.AsyncClient, server: ServerProcess) -> None:
    assert_problem(await client.get("/no-such-thing"), 404)
    assert_problem(await client.post("/admin/nothing-here", json={}), 404)
    async with httpx.AsyncClient(base_url=server.url) as root:
        assert_problem(await root.get("/api/v2/orders"), 404)
        assert_problem(await root.get("/definitely/not/here"), 404)


@pytest.mark.parametrize(("method", "path"), [
    ("PUT", "/orders"), ("DELETE", "/orders"), ("DELETE", "/menu"), ("POST", "/menu"),
    ("GET", "/auth/admin/login"), ("PUT", "/admin/tables/1"), ("PUT", "/admin/orders/1"),
    ("PUT", "/admin/categories"),
])
async def test_wrong_method_is_405_problem(client: httpx.AsyncClient, stores: Stores, method: str,
                                           path: str) -> None:
    store = await stores.create()
    response = await client.request(method, path, headers=store.admin)
    assert_problem(response, 405)
    assert response.headers.get("allow"), response.headers
    assert method not in response.headers["allow"]
