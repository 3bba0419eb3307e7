"""The floor: the same order and menu work as the service, as a bare ASGI callable over asyncpg and
msgspec, no framework. It is what the service is measured against (`make bench`).

Honest and fast: verified tokens are cached like the service does, the body is decoded straight
into a Struct, and an order is the conventional transaction of a few statements (lock the table,
price and station lookup, the chosen options' prices, session, order number, order + lines with
their options snapshot; the same triggers record the event and route the tickets).

    uvicorn ops.bench.floor:app   (DATABASE_URL and JWT_SECRET_KEY from the environment)
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import asyncpg
import jwt
import msgspec

from tableorder.settings import DEVELOPMENT_JWT_SECRET


class Line(msgspec.Struct, forbid_unknown_fields=True):
    menu_item_id: int
    quantity: int
    options: list[int] = []


class LineOption(msgspec.Struct):
    group: str
    name: str
    price_delta: int


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Line]
    note: str | None = None


class LineOut(msgspec.Struct):
    menu_item_id: int | None
    name: str
    unit_price: int
    quantity: int
    options: list[LineOption]
    line_total: int


class OrderOut(msgspec.Struct):
    id: int
    order_no: int
    table_id: int
    table_number: int
    session_id: int
    status: str
    items: list[LineOut]
    total_amount: int
    note: str | None
    created_at: Any
    updated_at: Any


SECRET = os.environ.get("JWT_SECRET_KEY", DEVELOPMENT_JWT_SECRET)
encode = msgspec.json.Encoder().encode
decode_order = msgspec.json.Decoder(OrderIn).decode
pool: asyncpg.Pool | None = None
claims_cache: dict[bytes, dict[str, Any]] = {}

# The service's own menu document (migrations/documents.sql), in its working language.
MENU = "SELECT menu_json($1, '{ko}')"


def claims(headers: list[tuple[bytes, bytes]]) -> dict[str, Any] | None:
    for name, value in headers:
        if name == b"authorization":
            token = value[7:]
            found = claims_cache.get(token)
            if found is None:
                try:
                    found = jwt.decode(token, SECRET, algorithms=["HS256"])
                except jwt.PyJWTError:
                    return None
                claims_cache[token] = found
            return found
    return None


async def place_order(store_id: int, table_id: int, order: OrderIn) -> bytes:
    assert pool is not None
    ids = [line.menu_item_id for line in order.items]
    async with pool.acquire() as conn, conn.transaction():
        table_number = await conn.fetchval(
            "SELECT number FROM tables WHERE id = $1 AND store_id = $2 FOR NO KEY UPDATE", table_id, store_id)
        items = {r["id"]: r for r in await conn.fetch(
            "SELECT i.id, i.name, i.price, i.available, coalesce(i.station_id, c.station_id) AS station_id "
            "FROM menu_items i JOIN menu_categories c ON c.id = i.category_id "
            "WHERE i.id = ANY($1) AND i.store_id = $2", ids, store_id)}
        chosen = [option for line in order.items for option in line.options]
        options = {r["id"]: r for r in await conn.fetch(
            "SELECT o.id, o.name, o.price_delta, o.available, g.name AS group_name FROM options o "
            "JOIN option_groups g ON g.id = o.group_id WHERE o.id = ANY($1) AND o.store_id = $2",
            chosen, store_id)} if chosen else {}
        session_id = await conn.fetchval(
            "SELECT id FROM table_sessions WHERE table_id = $1 AND closed_at IS NULL", table_id)
        if session_id is None:
            session_id = await conn.fetchval(
                "INSERT INTO table_sessions (store_id, table_id, table_number) VALUES ($1, $2, $3) RETURNING id",
                store_id, table_id, table_number)
        day, order_no = await conn.fetchrow(
            """INSERT INTO order_counters AS c (store_id, business_day, last_no)
               SELECT $1, (now() AT TIME ZONE s.timezone)::date, 1 FROM stores s WHERE s.id = $1
               ON CONFLICT (store_id, business_day) DO UPDATE SET last_no = c.last_no + 1
               RETURNING business_day, last_no""", store_id)
        lines = []
        for line in order.items:
            item = items[line.menu_item_id]
            snapshot = [LineOption(options[o]["group_name"], options[o]["name"], options[o]["price_delta"])
                        for o in line.options]
            unit = item["price"] + sum(o.price_delta for o in snapshot)
            lines.append(LineOut(line.menu_item_id, item["name"], item["price"], line.quantity, snapshot,
                                 unit * line.quantity))
        total = sum(line.line_total for line in lines)
        row = await conn.fetchrow(
            """INSERT INTO orders (store_id, session_id, table_id, table_number, business_day, order_no,
                                   total_amount, note, created_at, updated_at)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, clock_timestamp(), clock_timestamp())
               RETURNING id, created_at, updated_at""",
            store_id, session_id, table_id, table_number, day, order_no, total, order.note)
        await conn.executemany(
            "INSERT INTO order_lines (order_id, line_no, menu_item_id, name, unit_price, quantity, options, "
            "options_price, station_id) VALUES ($1, $2, $3, $4, $5, $6, $7::text::jsonb, $8, $9)",
            [(row["id"], n, line.menu_item_id, line.name, line.unit_price, line.quantity,
              encode(line.options).decode(), sum(o.price_delta for o in line.options),
              items[line.menu_item_id]["station_id"])
             for n, line in enumerate(lines, start=1)])
    return encode(OrderOut(row["id"], order_no, table_id, table_number, session_id, "pending", lines, total,
                           order.note, row["created_at"], row["updated_at"]))


async def read_body(receive: Any) -> bytes:
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def respond(send: Any, status: int, body: bytes, extra: list[tuple[bytes, bytes]] | None = None) -> None:
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers + (extra or [])})
    await send({"type": "http.response.body", "body": body})


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    global pool
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                pool = await asyncpg.create_pool(os.environ["DATABASE_URL"].replace("+asyncpg", ""),
                                                 min_size=2, max_size=15, server_settings={"timezone": "UTC"})
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if pool is not None:
                    await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    path, method = scope["path"], scope["method"]
    principal = claims(scope["headers"])
    if principal is None or principal.get("kind") != "table":
        await respond(send, 401, b'{"status":401}')
        return
    store_id, table_id = principal["store_id"], int(principal["sub"])
    if path == "/api/v1/orders" and method == "POST":
        try:
            order = decode_order(await read_body(receive))
        except msgspec.ValidationError:
            await respond(send, 422, b'{"status":422}')
            return
        await respond(send, 201, await place_order(store_id, table_id, order))
    elif path == "/api/v1/menu" and method == "GET":
        assert pool is not None
        body = await pool.fetchval(MENU, store_id)
        etag = ('"' + hashlib.blake2b(body, digest_size=16).hexdigest() + '"').encode()
        inm = next((v for k, v in scope["headers"] if k == b"if-none-match"), None)
        if inm == etag:
            await send({"type": "http.response.start", "status": 304, "headers": [(b"etag", etag)]})
            await send({"type": "http.response.body", "body": b""})
        else:
            await respond(send, 200, body, [(b"etag", etag)])
    else:
        await respond(send, 404, b'{"status":404}')
