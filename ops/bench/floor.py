"""The floor: the same order and menu documents as the service, as a bare ASGI callable over asyncpg
and msgspec, no framework. It is what the service is measured against (`make bench`).

Minimal on purpose (issue 13): the least SQL an honest order needs, and nothing the service adds for
its other guarantees (no Idempotency-Key, session cap, rate limit, option rules, station routing,
tickets). Verified tokens are cached like the service does, the body is decoded straight into a
Struct, and an order is ONE statement, so one round trip and one implicit transaction that:

- prices every line from the menu rows (items and the options chosen; unknown, other stores' and
  sold-out ones refuse the order, 422),
- takes the store row's lock and its next event position (UPDATE stores ... last_event_position + 1,
  held until commit, as the service's record_event() does),
- numbers the order (the store's counter of the day), inserts the order and its lines,
- inserts the event row `order.created` with the order document as its payload, and returns that
  document: built by PostgreSQL with the service's order_json() shape, so clients get the same bytes.

The floor writes its event row itself, so the service's triggers that would record it again (and
route tickets) are switched off while the floor runs (`ALTER TABLE orders DISABLE TRIGGER`, on again
at shutdown; run.py also switches them on after every floor round). Use it on a bench database only.

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


class OrderIn(msgspec.Struct, forbid_unknown_fields=True):
    items: list[Line]
    note: str | None = None


SECRET = os.environ.get("JWT_SECRET_KEY", DEVELOPMENT_JWT_SECRET)
decode_order = msgspec.json.Decoder(OrderIn).decode
pool: asyncpg.Pool | None = None
claims_cache: dict[bytes, dict[str, Any]] = {}

# The service's own menu document (migrations/documents.sql), in its working language.
MENU = "SELECT menu_json($1, '{ko}')"

# The triggers on orders that record order.created and route tickets (the floor does neither).
TRIGGERS = ("orders_record_created", "orders_route_tickets")

# $1 store, $2 table, $3 item ids, $4 quantities, $5/$6 options chosen as (1-based line, option id),
# $7 note. Every write depends on `target`, which is empty when an item or option cannot be ordered
# or the table has no open session: then nothing is written (no position is used) and no row comes
# back. The store row is locked last and held only to the end of this statement's commit.
PLACE_ORDER = """
WITH chosen AS (
    SELECT c.line, o.id, o.name, o.price_delta, o.sort_order, g.id AS group_id, g.name AS group_name,
           g.sort_order AS group_sort
      FROM unnest($5::integer[], $6::bigint[]) AS c(line, id)
      JOIN options o ON o.id = c.id AND o.store_id = $1 AND o.available
      JOIN option_groups g ON g.store_id = $1 AND g.id = o.group_id
), priced AS (
    SELECT r.n, r.id, m.name, m.price, r.quantity, coalesce(x.options, '[]') AS options,
           coalesce(x.price, 0) AS options_price
      FROM unnest($3::bigint[], $4::integer[]) WITH ORDINALITY AS r(id, quantity, n)
      JOIN menu_items m ON m.id = r.id AND m.store_id = $1 AND m.available
      LEFT JOIN LATERAL (
          SELECT jsonb_agg(jsonb_build_object('group', c.group_name, 'name', c.name, 'price_delta', c.price_delta)
                           ORDER BY c.group_sort, c.group_id, c.sort_order, c.id) AS options,
                 sum(c.price_delta)::integer AS price
            FROM chosen c WHERE c.line = r.n) AS x ON true
), target AS (
    SELECT s.id AS session_id, s.table_number
      FROM table_sessions s
     WHERE s.table_id = $2 AND s.store_id = $1 AND s.closed_at IS NULL
       AND (SELECT count(*) FROM priced) = cardinality($3::bigint[])
       AND (SELECT count(*) FROM chosen) = cardinality($6::bigint[])
), store AS (
    UPDATE stores s SET last_event_position = s.last_event_position + 1
      FROM target WHERE s.id = $1
    RETURNING s.last_event_position AS position, (now() AT TIME ZONE s.timezone)::date AS day
), counter AS (
    INSERT INTO order_counters AS c (store_id, business_day, last_no) SELECT $1, store.day, 1 FROM store
        ON CONFLICT (store_id, business_day) DO UPDATE SET last_no = c.last_no + 1
    RETURNING c.business_day, c.last_no
), new_order AS (
    INSERT INTO orders (store_id, session_id, table_id, table_number, business_day, order_no, total_amount,
                        note, created_at, updated_at)
    SELECT $1, target.session_id, $2, target.table_number, counter.business_day, counter.last_no,
           (SELECT sum((p.price + p.options_price)::bigint * p.quantity) FROM priced p), $7,
           clock_timestamp(), clock_timestamp()
      FROM target, counter
    RETURNING *
), new_lines AS (
    INSERT INTO order_lines (store_id, order_id, line_no, menu_item_id, name, unit_price, quantity, options,
                             options_price)
    SELECT $1, o.id, p.n, p.id, p.name, p.price, p.quantity, p.options, p.options_price FROM new_order o, priced p
), document AS (
    SELECT json_build_object(
        'id', o.id, 'order_no', o.order_no, 'table_id', o.table_id, 'table_number', o.table_number,
        'session_id', o.session_id, 'status', o.status,
        'items', (SELECT json_agg(json_build_object(
                        'menu_item_id', p.id, 'name', p.name, 'unit_price', p.price, 'quantity', p.quantity,
                        'options', p.options, 'line_total', (p.price + p.options_price)::bigint * p.quantity)
                    ORDER BY p.n) FROM priced p),
        'total_amount', o.total_amount, 'note', o.note,
        'created_at', o.created_at, 'updated_at', o.updated_at) AS doc
      FROM new_order o
), event AS (
    INSERT INTO events (store_id, position, type, table_id, payload, created_at)
    SELECT $1, store.position, 'order.created', $2, document.doc, clock_timestamp() FROM store, document
)
SELECT doc::text FROM document
"""

# A table's first order opens its session (the bench opens them all before measuring).
OPEN_SESSION = """
INSERT INTO table_sessions (store_id, table_id, table_number)
SELECT t.store_id, t.id, t.number FROM tables t WHERE t.id = $2 AND t.store_id = $1
ON CONFLICT (store_id, table_id) WHERE closed_at IS NULL DO NOTHING
"""


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


async def place_order(store_id: int, table_id: int, order: OrderIn) -> bytes | None:
    """The order's document, or None when it cannot be ordered."""
    assert pool is not None
    arguments = (store_id, table_id, [line.menu_item_id for line in order.items],
                 [line.quantity for line in order.items],
                 [n for n, line in enumerate(order.items, start=1) for _ in line.options],
                 [option for line in order.items for option in line.options], order.note)
    document: str | None = await pool.fetchval(PLACE_ORDER, *arguments)
    if document is None and await pool.fetchval(
            "SELECT NOT EXISTS (SELECT 1 FROM table_sessions WHERE table_id = $1 AND closed_at IS NULL)", table_id):
        await pool.execute(OPEN_SESSION, store_id, table_id)
        document = await pool.fetchval(PLACE_ORDER, *arguments)
    return document.encode() if document is not None else None


def switch_triggers(how: str) -> str:
    """The statement that switches the service's order triggers off (DISABLE) or on (ENABLE)."""
    return "ALTER TABLE orders " + ", ".join(f"{how} TRIGGER {name}" for name in TRIGGERS)


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
                await pool.execute(switch_triggers("DISABLE"))
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                if pool is not None:
                    await pool.execute(switch_triggers("ENABLE"))
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
        document = await place_order(store_id, table_id, order)
        if document is None:
            await respond(send, 422, b'{"status":422}')
            return
        await respond(send, 201, document)
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
