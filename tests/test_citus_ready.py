"""Citus-ready schema (issue 13, point 5): a store's rows can live on one node of a cluster distributed
by store_id. Read from the catalog of the migrated database: every key of a store-owned table begins
with store_id, and every reference between store-owned tables carries it, so a key is checked and a
join is done on one shard (Citus enforces a unique key or a foreign key only when it includes the
distribution column, and co-locates a join only on it). docs/scaling.md has the audit."""

from __future__ import annotations

import asyncio
import json

import asyncpg
import pytest

from tableorder import db

# Tables with a store_id column that are not distributed with the store's rows, each with why.
EXCEPTIONS = {
    # The tenant itself: distributed by its id (= every other table's store_id), so its keys are its own.
    "stores": "the tenant: distributed by id",
    # A queue the relay drains (credential invalidations, no stream position): per node, never joined.
    "store_signals": "the relay's queue of cache invalidations, local to a node",
}
# Keys that cannot begin with store_id, each with why: what a client presents carries no store.
GLOBAL_KEYS = {
    # An API key is presented alone (x-api-key); its prefix finds the store. Under Citus: a reference
    # table prefix -> store_id (docs/scaling.md).
    "api_keys_prefix_key": "an API key is presented without its store",
}


async def _store_owned(conn: asyncpg.Connection) -> set[str]:
    rows = await conn.fetch(
        "SELECT c.relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
        " JOIN pg_attribute a ON a.attrelid = c.oid AND a.attname = 'store_id' AND NOT a.attisdropped"
        " WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p')")
    return {row["relname"] for row in rows} - set(EXCEPTIONS)


# Every key and every unique index of a public table, with its columns in order.
KEYS = """
SELECT c.relname AS table_name, con.conname AS name, con.contype::text AS kind,
       (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(con.conkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = con.conrelid AND a.attnum = k.attnum) AS columns,
       f.relname AS referenced,
       (SELECT array_agg(a.attname ORDER BY k.n) FROM unnest(con.confkey) WITH ORDINALITY AS k(attnum, n)
          JOIN pg_attribute a ON a.attrelid = con.confrelid AND a.attnum = k.attnum) AS referenced_columns
  FROM pg_constraint con
  JOIN pg_class c ON c.oid = con.conrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
  LEFT JOIN pg_class f ON f.oid = con.confrelid
 WHERE n.nspname = 'public' AND con.contype IN ('p', 'u', 'f', 'x')
UNION ALL
SELECT c.relname, i.relname, 'i',
       (SELECT array_agg(coalesce(a.attname, '(expression)') ORDER BY k.n)
          FROM unnest(x.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)
          LEFT JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum),
       NULL, NULL
  FROM pg_index x
  JOIN pg_class i ON i.oid = x.indexrelid
  JOIN pg_class c ON c.oid = x.indrelid
  JOIN pg_namespace n ON n.oid = c.relnamespace
 WHERE n.nspname = 'public' AND x.indisunique
   AND NOT EXISTS (SELECT 1 FROM pg_constraint con WHERE con.conindid = x.indexrelid AND con.conrelid = x.indrelid)
"""


@pytest.fixture
async def catalog(database_url: str) -> tuple[set[str], list[asyncpg.Record]]:
    conn = await asyncpg.connect(db.asyncpg_dsn(database_url))
    try:
        return await _store_owned(conn), list(await conn.fetch(KEYS))
    finally:
        await conn.close()


async def test_every_store_owned_table_has_a_primary_key_led_by_store_id(
        catalog: tuple[set[str], list[asyncpg.Record]]) -> None:
    owned, keys = catalog
    assert {"orders", "tables", "menu_items", "events"} <= owned
    primary = {k["table_name"]: k["columns"] for k in keys if k["kind"] == "p"}
    wrong = {table: primary.get(table) for table in sorted(owned) if (primary.get(table) or [None])[0] != "store_id"}
    assert wrong == {}, f"primary keys not led by store_id: {wrong}"


async def test_every_unique_key_of_a_store_owned_table_begins_with_store_id(
        catalog: tuple[set[str], list[asyncpg.Record]]) -> None:
    owned, keys = catalog
    wrong = {k["name"]: k["columns"] for k in keys
             if k["table_name"] in owned and k["kind"] in ("u", "x", "i")
             and k["columns"][0] != "store_id" and k["name"] not in GLOBAL_KEYS}
    assert wrong == {}, f"unique keys not led by store_id: {wrong}"


async def test_every_reference_to_a_store_owned_table_carries_store_id(
        catalog: tuple[set[str], list[asyncpg.Record]]) -> None:
    """A foreign key to another store-owned table is (store_id, x_id) -> (store_id, id); a table that
    references one has a store_id of its own (else its rows could not live on the store's node)."""
    owned, keys = catalog
    wrong = {k["name"]: (k["table_name"], k["columns"], k["referenced"], k["referenced_columns"]) for k in keys
             if k["kind"] == "f" and k["referenced"] in owned
             and (k["table_name"] not in owned or k["columns"][0] != "store_id"
                  or k["referenced_columns"][0] != "store_id")}
    assert wrong == {}, f"references across stores possible: {wrong}"


async def test_the_exceptions_are_still_true(catalog: tuple[set[str], list[asyncpg.Record]]) -> None:
    """Each documented exception names something the schema has (a stale one would hide a new table)."""
    _, keys = catalog
    names = {k["name"] for k in keys}
    assert set(GLOBAL_KEYS) <= names
    referenced = {k["table_name"] for k in keys if k["kind"] == "f" and k["referenced"] == "store_signals"}
    assert referenced == set(), "nothing may reference a node-local table"


async def test_upgrading_a_database_with_orders_keeps_them_whole(fresh_database) -> None:  # type: ignore[no-untyped-def]
    """0010 -> 0011 on a database that has orders: each line and idempotency key takes its store, a
    retried order is still answered from its key, and the way back leaves the rows as they were."""
    from alembic import command

    url: str = await fresh_database("tableorder_citus")
    await asyncio.to_thread(command.upgrade, db.alembic_config(url), "0010")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        # What `tableorder migrate` left at 0010: that revision's documents.sql replayed.
        await conn.execute((db.documents_sql().parent / "documents_0010.sql").read_text())
        ids = []
        for code in ("citus-a", "citus-b"):
            store = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, 'x') RETURNING id", code)
            table = await conn.fetchval(
                "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, 1, 'h') RETURNING id", store)
            category = await conn.fetchval(
                "INSERT INTO menu_categories (store_id, name) VALUES ($1, 'c') RETURNING id", store)
            item = await conn.fetchval("INSERT INTO menu_items (store_id, category_id, name, price)"
                                       " VALUES ($1, $2, 'i', 100) RETURNING id", store, category)
            await conn.execute(PLACE, store, table, [item, item], [1, 2], "k", b"h")
            ids.append((store, table, item))
        before = await conn.fetch(LINES)
    finally:
        await conn.close()

    await asyncio.to_thread(db.migrate, url)
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        assert [tuple(r) for r in await conn.fetch(
            "SELECT l.store_id = o.store_id FROM order_lines l JOIN orders o ON o.id = l.order_id")] == [(True,)] * 4
        assert [tuple(r) for r in await conn.fetch(
            "SELECT k.store_id = t.store_id FROM idempotency_keys k JOIN tables t ON t.id = k.table_id")
        ] == [(True,)] * 2
        store, table, item = ids[0]
        replayed = await conn.fetchrow(PLACE, store, table, [item, item], [1, 2], "k", b"h")
        assert replayed["replayed"] is True and json.loads(replayed["doc"])["total_amount"] == 300
    finally:
        await conn.close()

    await asyncio.to_thread(command.downgrade, db.alembic_config(url), "0010")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        assert await conn.fetch(LINES) == before
    finally:
        await conn.close()


PLACE = "SELECT order_doc::text AS doc, replayed FROM place_order($1, $2, $3, $4, NULL, $5, $6)"
LINES = "SELECT order_id, line_no, menu_item_id, name, unit_price, quantity FROM order_lines ORDER BY order_id, line_no"
