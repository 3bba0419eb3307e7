"""POST /orders before the framework (orders.controller.serve_order): a plain valid order is placed
and answered there; everything else, and every order place_order() refuses or fails, is answered by
the application as before, and nothing is placed twice on the way."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator

import httpx
import msgspec
import pytest

from tableorder import db
from tableorder.app import create_app
from tableorder.menu.controller import serve_cached_menu
from tableorder.orders.controller import serve_order
from tableorder.settings import Settings
from tests.conftest import ServerProcess
from tests.helpers import Stores

_VARYING = {"date", "x-request-id", "content-length"}


def _order(item_id: int, quantity: int = 2) -> dict[str, object]:
    return {"items": [{"menu_item_id": item_id, "quantity": quantity}], "note": "맵게"}


async def _chunked(body: bytes) -> AsyncIterator[bytes]:
    """A body sent in chunks, without Content-Length: the lean path leaves it to the application."""
    yield body[:5]
    yield body[5:]


def test_the_lean_handlers_are_those_of_the_menu_and_the_order() -> None:
    app = create_app(Settings(database_url="postgresql://unused/none", environment="development"))
    lean = app.asgi_handler._lean  # type: ignore[attr-defined]
    assert lean == {"GET": {"/api/v1/menu": serve_cached_menu}, "POST": {"/api/v1/orders": serve_order}}


async def test_a_plain_order_is_answered_as_the_application_answers_it(client: httpx.AsyncClient,
                                                                      stores: Stores) -> None:
    store = await stores.create(tables=1, items=2)
    item = next(iter(store.items))
    table = store.tables[1].headers
    body = msgspec.json.encode(_order(item))
    lean = await client.post("/orders", content=body, headers={
        **table, "Content-Type": "application/json", "X-Request-ID": "lean-1"})
    framework = await client.post("/orders", content=_chunked(body), headers={
        **table, "Content-Type": "application/json", "X-Request-ID": "framework-1"})
    assert "content-length" not in framework.request.headers
    assert lean.status_code == framework.status_code == 201, (lean.text, framework.text)
    assert lean.headers["X-Request-ID"] == "lean-1" and framework.headers["X-Request-ID"] == "framework-1"
    assert [(k, v) for k, v in lean.headers.multi_items() if k not in _VARYING] == \
        [(k, v) for k, v in framework.headers.multi_items() if k not in _VARYING]
    first, second = lean.json(), framework.json()
    assert second["order_no"] == first["order_no"] + 1
    for document in (first, second):
        for varying in ("id", "order_no", "created_at", "updated_at"):
            document.pop(varying)
    assert first == second and first["total_amount"] == 2 * store.items[item][1] and first["note"] == "맵게"

    # The same Idempotency-Key again: the first order, replayed, on either path.
    keyed = {**table, "Content-Type": "application/json; charset=utf-8", "Idempotency-Key": "lean-key"}
    placed = await client.post("/orders", content=body, headers=keyed)
    again = await client.post("/orders", content=body, headers=keyed)
    through_framework = await client.post("/orders", content=_chunked(body), headers=keyed)
    assert placed.status_code == again.status_code == through_framework.status_code == 201
    assert "Idempotent-Replayed" not in placed.headers
    assert again.headers["Idempotent-Replayed"] == through_framework.headers["Idempotent-Replayed"] == "true"
    assert again.json() == through_framework.json() == placed.json()
    # and with another body: 409 on the lean path (answered by the application)
    other = await client.post("/orders", content=msgspec.json.encode(_order(item, 3)), headers=keyed)
    assert other.status_code == 409 and other.json()["type"] == "urn:tableorder:problem:conflict"
    orders = (await client.get("/orders", headers=table)).json()["orders"]
    assert len(orders) == 3


@pytest.mark.parametrize(("headers", "body", "status", "problem"), [
    # another store's item, sent as text/plain (which Litestar reads as JSON all the same)
    ({"Content-Type": "text/plain"}, b'{"items": [{"menu_item_id": 1, "quantity": 1}]}', 422, "unorderable-items"),
    ({}, b'{"items": [{"menu_item_id": 1, "quantity": 0}]}', 422, "validation-error"),
    ({}, b'{"items": [{"menu_item_id": 1, "quantity": 1, "options": [5, 5]}]}', 422, "validation-error"),
    ({}, b'{"items": [], "extra": 1}', 422, "validation-error"),
    ({}, b'{"items": [', 400, "malformed-json"),
    ({"Idempotency-Key": ""}, b'{"items": [{"menu_item_id": 1, "quantity": 1}]}', 422, "validation-error"),
    ({"Idempotency-Key": "k" * 256}, b'{"items": [{"menu_item_id": 1, "quantity": 1}]}', 422, "validation-error"),
    ({"Authorization": "Bearer not-a-token"}, b'{"items": [{"menu_item_id": 1, "quantity": 1}]}', 401,
     "unauthorized"),
    # over MAX_REQUEST_BYTES (65,536 by default): not read by the lean path, refused by the application
    ({}, b'{"items": [{"menu_item_id": 1, "quantity": 1}], "note": "' + b"x" * 70_000 + b'"}', 413,
     "request-entity-too-large"),
])
async def test_what_the_lean_path_does_not_take_is_the_applications_problem(
        client: httpx.AsyncClient, stores: Stores, headers: dict[str, str], body: bytes, status: int,
        problem: str) -> None:
    store = await stores.create(tables=1, items=1)
    sent = {**store.tables[1].headers, "Content-Type": "application/json", **headers, "X-Request-ID": "fell-1"}
    refused = await client.post("/orders", content=body, headers=sent)
    assert refused.status_code == status, refused.text
    assert refused.headers["Content-Type"] == "application/problem+json"
    assert refused.json()["type"] == f"urn:tableorder:problem:{problem}"
    assert refused.json()["instance"] == "urn:tableorder:request:fell-1"
    assert (await client.get("/orders", headers=store.tables[1].headers)).json()["orders"] == []


async def test_a_float_quantity_the_schema_calls_an_integer_is_still_taken(client: httpx.AsyncClient,
                                                                          stores: Stores) -> None:
    """The strict decoder of the lean path refuses 2.0; the application takes it, as JSON Schema does."""
    store = await stores.create(tables=1, items=1)
    item = next(iter(store.items))
    placed = await client.post("/orders", content=b'{"items": [{"menu_item_id": %d, "quantity": 2.0}]}' % item,
                               headers={**store.tables[1].headers, "Content-Type": "application/json"})
    assert placed.status_code == 201 and placed.json()["items"][0]["quantity"] == 2


# place_order() wrapped to count its calls (a sequence: nextval is not rolled back with a failed
# statement) and, when asked, to fail as a database under load may.
_WRAP = """
CREATE SEQUENCE place_order_calls;
CREATE TABLE place_order_failure (sqlstate text);
ALTER FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer,
                           integer[], bigint[]) RENAME TO place_order_counted;
CREATE FUNCTION place_order(p_store bigint, p_table bigint, p_items bigint[], p_quantities integer[],
                            p_note text, p_key text, p_hash bytea, p_rate integer, p_max integer,
                            p_option_lines integer[], p_options bigint[])
RETURNS TABLE (order_doc json, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    failure text;
BEGIN
    PERFORM nextval('place_order_calls');
    SELECT sqlstate INTO failure FROM place_order_failure;
    IF failure IS NOT NULL THEN
        RAISE EXCEPTION 'failing as asked' USING ERRCODE = failure;
    END IF;
    RETURN QUERY SELECT * FROM place_order_counted(p_store, p_table, p_items, p_quantities, p_note, p_key,
                                                   p_hash, p_rate, p_max, p_option_lines, p_options);
END $$;
"""


@pytest.fixture(scope="module")
async def counted_database(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_lean")
    await asyncio.to_thread(db.migrate, url)
    return url


@pytest.fixture(scope="module")
def counted_server(counted_database: str) -> Iterator[ServerProcess]:
    with ServerProcess(counted_database) as server:
        yield server


async def test_an_order_place_order_refuses_or_fails_is_answered_without_a_second_call(
        counted_database: str, counted_server: ServerProcess) -> None:
    pool = await db.create_pool(counted_database, min_size=1, max_size=2, application_name="tableorder-tests")
    try:
        async with httpx.AsyncClient(base_url=f"{counted_server.url}/api/v1") as client:
            stores = Stores(pool, client)
            store = await stores.create(tables=1, items=2)
            sold_out, item = list(store.items)
            await pool.execute("UPDATE menu_items SET available = false WHERE id = $1", sold_out)
            signature = await pool.fetchval(
                "SELECT pg_get_function_identity_arguments(oid) FROM pg_proc WHERE proname = 'place_order'")
            assert signature.count(",") == 10, signature  # the wrapper below takes the same arguments
            await pool.execute(_WRAP)
            table = {**store.tables[1].headers, "Content-Type": "application/json"}
            calls = 0

            async def counted() -> int:
                nonlocal calls
                now: int = await pool.fetchval("SELECT last_value FROM place_order_calls")
                now = now if await pool.fetchval("SELECT is_called FROM place_order_calls") else 0
                made, calls = now - calls, now
                return made

            refused = await client.post("/orders", json=_order(sold_out), headers=table)
            assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "items[0].menu_item_id"
            assert await counted() == 1
            placed = await client.post("/orders", json=_order(item), headers=table)
            assert placed.status_code == 201 and await counted() == 1

            # A serialization failure: the application's 503 with Retry-After, from the one call.
            await pool.execute("INSERT INTO place_order_failure VALUES ('40001')")
            collided = await client.post("/orders", json=_order(item), headers=table)
            assert collided.status_code == 503 and collided.headers["Retry-After"] == "1", collided.text
            assert collided.json()["type"] == "urn:tableorder:problem:service-unavailable"
            assert await counted() == 1
            # A fault whose outcome a client cannot know (the connection's, as a lost primary gives):
            # answered, never retried by the fallback.
            await pool.execute("UPDATE place_order_failure SET sqlstate = '08006'")
            lost = await client.post("/orders", json=_order(item), headers=table)
            assert lost.status_code in (500, 503) and lost.headers["Content-Type"] == "application/problem+json"
            assert await counted() == 1
            await pool.execute("DELETE FROM place_order_failure")
            assert (await client.post("/orders", json=_order(item), headers=table)).status_code == 201
            assert await counted() == 1
            orders = (await client.get("/orders", headers=store.tables[1].headers)).json()["orders"]
            assert len(orders) == 2
    finally:
        await pool.close()
