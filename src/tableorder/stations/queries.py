"""Stations and their tickets. Every statement is scoped by store_id.

Tickets are made by PostgreSQL when an order commits (orders_route_tickets, migrations/documents.sql);
here they are read and marked done.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

# The most stations a store may have (a kitchen display lists them to choose from).
MAX_STATIONS = 20
# The most open tickets one station's list holds (the oldest): the document stays bounded even when
# nobody marks tickets done.
MAX_OPEN_TICKETS = 200

STATION = "station_json(stations)::text"


async def list_stations(pool: asyncpg.Pool, store_id: int) -> str:
    document: str = await pool.fetchval(
        "SELECT coalesce(json_agg(station_json(s) ORDER BY s.sort_order, s.id), '[]')::text"
        " FROM stations s WHERE s.store_id = $1", store_id)
    return document


async def get_station(pool: asyncpg.Pool, store_id: int, station_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        f"SELECT {STATION} FROM stations WHERE id = $1 AND store_id = $2", station_id, store_id)
    return document


async def create_station(conn: asyncpg.Connection, store_id: int, name: str, sort_order: int) -> str | None:
    """The new station's document, or None when the store already has MAX_STATIONS. Raises
    asyncpg.UniqueViolationError when the name is taken. One writer of a store's stations at a time
    (an advisory lock until commit), so two inserts racing cannot pass the bound."""
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock('stations'::regclass::oid::integer, hashint8($1))",
                           store_id)
        count: int = await conn.fetchval("SELECT count(*) FROM stations WHERE store_id = $1", store_id)
        if count >= MAX_STATIONS:
            return None
        document: str = await conn.fetchval(
            f"INSERT INTO stations (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING {STATION}",
            store_id, name, sort_order)
        return document


_UPDATABLE = {"name", "sort_order"}


async def update_station(pool: asyncpg.Pool, store_id: int, station_id: int,
                         changes: Mapping[str, Any]) -> str | None:
    """Raises asyncpg.UniqueViolationError when the new name is taken. Column names come from the
    fixed allow-list above, values are always parameters."""
    columns = [name for name in changes if name in _UPDATABLE]
    if not columns:
        return await get_station(pool, store_id, station_id)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    document: str | None = await pool.fetchval(
        f"UPDATE stations SET {assignments}, updated_at = clock_timestamp() "
        f"WHERE id = $1 AND store_id = $2 RETURNING {STATION}",
        station_id, store_id, *(changes[name] for name in columns))
    return document


async def delete_station(pool: asyncpg.Pool, store_id: int, station_id: int) -> bool:
    """Categories and items routed here route nowhere after (their station_id becomes NULL, which
    records menu.updated); tickets keep their station_name and lines, with station_id NULL."""
    done: str = await pool.execute("DELETE FROM stations WHERE id = $1 AND store_id = $2", station_id, store_id)
    return done != "DELETE 0"


async def route_categories(conn: asyncpg.Connection, store_id: int, station_id: int,
                           category_names: list[str]) -> None:
    """Sends the items of the categories of these names to the station (the demo store's set-up)."""
    await conn.execute(
        "UPDATE menu_categories SET station_id = $2 WHERE store_id = $1 AND name = ANY($3::text[])",
        store_id, station_id, category_names)


# A station's open tickets, oldest first: not done, and their order neither completed nor cancelled
# (a cancelled order's tickets leave the list, done or not). NULL when the store has no such station.
OPEN_TICKETS = """
SELECT CASE WHEN EXISTS (SELECT 1 FROM stations WHERE id = $1 AND store_id = $2) THEN
       (SELECT coalesce(json_agg(ticket_json(q.t) ORDER BY (q.t).created_at, (q.t).id), '[]')
          FROM (SELECT t FROM tickets t JOIN orders o ON o.store_id = t.store_id AND o.id = t.order_id
                 WHERE t.store_id = $2 AND t.station_id = $1 AND t.done_at IS NULL
                   AND o.status IN ('pending', 'preparing')
                 ORDER BY t.created_at, t.id LIMIT $3) AS q) END::text
"""


async def open_tickets(pool: asyncpg.Pool, store_id: int, station_id: int) -> str | None:
    document: str | None = await pool.fetchval(OPEN_TICKETS, station_id, store_id, MAX_OPEN_TICKETS)
    return document


# Marking a ticket done, in one transaction (see mark_done).
TICKET_ORDER = """
SELECT t.order_id, o.table_id FROM tickets t JOIN orders o ON o.store_id = t.store_id AND o.id = t.order_id
 WHERE t.id = $1 AND t.store_id = $2
"""
LOCK_TABLE = "SELECT true FROM tables WHERE store_id = $1 AND id = $2 FOR SHARE"
LOCK_ORDER = "SELECT table_id FROM orders WHERE store_id = $1 AND id = $2 FOR NO KEY UPDATE"
# The order completes when this ticket is its last open one (a ticket of a deleted station, which no
# display lists any more, holds nothing back); only an order still being made (pending, preparing)
# of an open session (a closed session's orders are settled history). Completing it closes its other
# open tickets (orders_complete_tickets).
COMPLETE_ORDER = """
UPDATE orders o SET status = 'completed'
 WHERE o.store_id = $1 AND o.id = $2 AND o.status IN ('pending', 'preparing')
   AND NOT EXISTS (SELECT 1 FROM tickets t WHERE t.store_id = o.store_id AND t.order_id = o.id AND t.done_at IS NULL
                      AND t.id <> $3 AND t.station_id IS NOT NULL)
   AND EXISTS (SELECT 1 FROM table_sessions s WHERE s.store_id = o.store_id AND s.id = o.session_id
                  AND s.closed_at IS NULL)
"""
# Done now, or (already done, or just done by the order's completion) as it is.
MARK_DONE = """
WITH done AS (
    UPDATE tickets SET done_at = greatest(clock_timestamp(), created_at)
     WHERE store_id = $1 AND id = $2 AND done_at IS NULL
    RETURNING ticket_json(tickets)::text AS document
)
SELECT coalesce((SELECT document FROM done),
                (SELECT ticket_json(t)::text FROM tickets t WHERE t.store_id = $1 AND t.id = $2))
"""


async def mark_done(pool: asyncpg.Pool, store_id: int, ticket_id: int) -> str | None:
    """Marks the ticket done (a ticket already done is left as it is) and, when it was its order's
    last open ticket, completes the order (one order.updated). None when the store has no such ticket.

    Locks in the order every writer of orders takes them: the order's table (FOR SHARE, as the status
    trigger does; place_order and closing a session lock it first too), then the order row, then the
    ticket. Two stations finishing the same order at once take turns on the order row, and the second
    one's statements, which start after it got the row, see the first one's ticket done: the order
    completes exactly once.
    """
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(TICKET_ORDER, ticket_id, store_id)
        if row is None:
            return None
        order_id, table_id = row["order_id"], row["table_id"]
        for _ in range(5):  # the order may move to another table meanwhile (bounded; it rarely does)
            if table_id is not None:
                await conn.execute(LOCK_TABLE, store_id, table_id)
            locked_table_id = await conn.fetchval(LOCK_ORDER, store_id, order_id)
            if locked_table_id == table_id:
                break
            table_id = locked_table_id
        await conn.execute(COMPLETE_ORDER, store_id, order_id, ticket_id)
        document: str = await conn.fetchval(MARK_DONE, store_id, ticket_id)
        return document
