"""The schema: Alembic round trip on an empty database, and the invariants PostgreSQL itself enforces
(constraints, the status trigger, the event triggers) checked with plain SQL."""

from __future__ import annotations

import asyncio
import json
import secrets
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest
from alembic.script import ScriptDirectory

from tableorder import db
from tableorder.security import hash_password_sync

_HASH = hash_password_sync("irrelevant")

EXPECTED_TABLES = {
    "stores",
    "admins",
    "tables",
    "table_sessions",
    "menu_categories",
    "menu_items",
    "order_counters",
    "orders",
    "order_lines",
    "login_attempts",
    "login_store_failures",
    "login_store_address_failures",
    "login_address_failures",
    "idempotency_keys",
    "events",
    "revoked_tokens",
    "api_keys",  # 0006
    "webhook_endpoints",  # 0007
    "webhook_deliveries",  # 0007
    "stations",  # 0009
    "option_groups",  # 0009
    "options",  # 0009
    "tickets",  # 0009
    "staff_calls",  # 0009
    "event_relay",  # 0010
    "store_signals",  # 0010
}
EXPECTED_FUNCTIONS = {
    "order_json",
    "session_json",
    "table_json",
    "record_event",
    "orders_check_status",
    "orders_record_event",
    "table_sessions_record_event",
    "menu_record_event",
    "place_order",
    "menu_check_size",
    "begin_login_attempt",
    "login_succeeded",
    "credentials_bump_version",
    "credentials_notify",
    # migrations/documents.sql (0008)
    "store_json",
    "table_orders_json",
    "closed_session_json",
    "history_page_json",
    "category_json",
    "menu_item_json",
    "menu_json",
    "session_closed_json",
    "menu_updated_json",
}


async def _schema(conn: asyncpg.Connection) -> dict[str, set[str]]:
    """What the public schema holds, by kind."""
    relations = await conn.fetch(
        "SELECT c.relname, c.relkind::text AS relkind"
        " FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    )
    functions = await conn.fetch(
        "SELECT p.proname FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace"
        " WHERE n.nspname = 'public'"
    )
    triggers = await conn.fetch(
        "SELECT t.tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public' AND NOT t.tgisinternal"
    )
    types = await conn.fetch(
        "SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace"
        " WHERE n.nspname = 'public' AND t.typrelid = 0 AND t.typelem = 0"
    )  # not a table's row or array type
    return {
        "tables": {r["relname"] for r in relations if r["relkind"] in ("r", "p")},
        "other_relations": {r["relname"] for r in relations if r["relkind"] not in ("r", "p")},
        "functions": {r["proname"] for r in functions},
        "triggers": {r["tgname"] for r in triggers},
        "types": {r["typname"] for r in types},
    }


async def test_upgrade_downgrade_upgrade_round_trip(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_migrations")
    head = ScriptDirectory.from_config(db.alembic_config(url)).get_current_head()

    await asyncio.to_thread(db.migrate, url)
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        schema = await _schema(conn)
        assert schema["tables"] == EXPECTED_TABLES | {"alembic_version"}
        assert schema["functions"] >= EXPECTED_FUNCTIONS
        assert {"orders_check_status", "orders_record_created", "menu_items_record", "menu_items_check_size",
                "menu_categories_check_size"} <= schema["triggers"]
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
    finally:
        await conn.close()

    await asyncio.to_thread(db.downgrade, url, "base")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        schema = await _schema(conn)
        assert schema["tables"] == {"alembic_version"}
        assert schema["other_relations"] <= {"alembic_version_pkc"}  # its primary key index only
        assert schema["functions"] == set()
        assert schema["triggers"] == set()
        assert schema["types"] == set()
        assert await conn.fetch("SELECT * FROM alembic_version") == []
    finally:
        await conn.close()

    # Upgrading again rebuilds everything, and the rebuilt schema works end to end.
    await asyncio.to_thread(db.migrate, url)
    await asyncio.to_thread(db.migrate, url)  # and again: nothing to do
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        schema = await _schema(conn)
        assert schema["tables"] == EXPECTED_TABLES | {"alembic_version"}
        assert schema["functions"] >= EXPECTED_FUNCTIONS
        assert await conn.fetchval("SELECT version_num FROM alembic_version") == head
        store = await _seed(conn)
        doc, replayed = await _place(conn, store, [(store.items[0], 2)])
        assert replayed is False and doc["total_amount"] == 2 * 1000 and doc["order_no"] == 1
        # The category, three items, the order: one event each.
        assert await conn.fetchval("SELECT count(*) FROM events WHERE store_id = $1", store.id) == 5
    finally:
        await conn.close()


# --- helpers for the invariant tests --------------------------------------------------------------


@dataclass
class SeededStore:
    id: int
    tables: list[int]
    category_id: int
    items: list[int]  # prices 1000, 2000, ...


async def _seed(conn: asyncpg.Connection | asyncpg.Pool, tables: int = 2, items: int = 3) -> SeededStore:
    """A store with tables and one category of items, in one transaction: 1 + items menu events."""

    async def build(c: asyncpg.Connection) -> SeededStore:
        async with c.transaction():
            store_id = await c.fetchval(
                "INSERT INTO stores (code, name) VALUES ($1, 'Seed') RETURNING id",
                f"m-{secrets.token_hex(6)}",
            )
            table_ids = [
                await c.fetchval(
                    "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, $3) RETURNING id",
                    store_id,
                    n,
                    _HASH,
                )
                for n in range(1, tables + 1)
            ]
            category_id = await c.fetchval(
                "INSERT INTO menu_categories (store_id, name) VALUES ($1, 'Mains') RETURNING id", store_id
            )
            item_ids = [
                await c.fetchval(
                    "INSERT INTO menu_items (store_id, category_id, name, price, sort_order)"
                    " VALUES ($1, $2, $3, $4, $5) RETURNING id",
                    store_id,
                    category_id,
                    f"Dish {i}",
                    1000 * i,
                    i,
                )
                for i in range(1, items + 1)
            ]
        return SeededStore(store_id, table_ids, category_id, item_ids)

    if isinstance(conn, asyncpg.Pool):
        async with conn.acquire() as c:
            return await build(c)
    return await build(conn)


async def _place(
    conn: asyncpg.Connection | asyncpg.Pool,
    store: SeededStore,
    lines: list[tuple[int, int]],
    table: int = 0,
    key: str | None = None,
) -> tuple[dict[str, Any], bool]:
    row = await conn.fetchrow(
        "SELECT order_doc::text AS doc, replayed FROM place_order($1, $2, $3, $4, $5, $6, $7)",
        store.id,
        store.tables[table],
        [i for i, _ in lines],
        [q for _, q in lines],
        None,
        key,
        b"hash" if key else None,
    )
    return json.loads(row["doc"]), row["replayed"]


async def _events(conn: asyncpg.Connection | asyncpg.Pool, store_id: int) -> list[asyncpg.Record]:
    events: list[asyncpg.Record] = await conn.fetch(
        "SELECT position, type, table_id, payload::text AS payload FROM events"
        " WHERE store_id = $1 ORDER BY position",
        store_id,
    )
    return events


async def _order_json(conn: asyncpg.Connection | asyncpg.Pool, order_id: int) -> Any:
    return json.loads(
        await conn.fetchval("SELECT order_json(o)::text FROM orders o WHERE o.id = $1", order_id)
    )


# --- constraints ---------------------------------------------------------------------------------


@pytest.mark.parametrize("price", [-1, 10_000_001])
async def test_price_out_of_range_is_rejected(pool: asyncpg.Pool, price: int) -> None:
    store = await _seed(pool)
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute(
            "INSERT INTO menu_items (store_id, category_id, name, price) VALUES ($1, $2, 'x', $3)",
            store.id,
            store.category_id,
            price,
        )
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("UPDATE menu_items SET price = $2 WHERE id = $1", store.items[0], price)
    assert await pool.fetchval("SELECT price FROM menu_items WHERE id = $1", store.items[0]) == 1000


async def test_price_bounds_are_accepted(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    for price in (0, 10_000_000):
        await pool.execute("UPDATE menu_items SET price = $2 WHERE id = $1", store.items[0], price)
        assert await pool.fetchval("SELECT price FROM menu_items WHERE id = $1", store.items[0]) == price


@pytest.mark.parametrize("quantity", [0, 100, -3])
async def test_quantity_out_of_range_is_rejected(pool: asyncpg.Pool, quantity: int) -> None:
    store = await _seed(pool)
    with pytest.raises(asyncpg.CheckViolationError):
        await _place(pool, store, [(store.items[0], 1), (store.items[1], quantity)])
    # Nothing of the order was written, not even its session or event.
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id) == 0
    assert await pool.fetchval("SELECT count(*) FROM table_sessions WHERE store_id = $1", store.id) == 0
    assert [e["type"] for e in await _events(pool, store.id)] == ["menu.updated"] * 4


async def test_quantity_bounds_are_accepted(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[0], 1), (store.items[1], 99)])
    assert [line["quantity"] for line in doc["items"]] == [1, 99]
    assert doc["total_amount"] == 1000 + 99 * 2000


async def test_invalid_status_is_rejected(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[0], 1)])
    for status in ("eaten", "PENDING", ""):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute("UPDATE orders SET status = $2 WHERE id = $1", doc["id"], status)
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", doc["id"]) == "pending"


@pytest.mark.parametrize("code", ["Bad", "a", "-abc", "ab_c", "ab c", "a" * 33, "가나다", ""])
async def test_store_code_must_match_the_pattern(pool: asyncpg.Pool, code: str) -> None:
    with pytest.raises(asyncpg.CheckViolationError):
        await pool.execute("INSERT INTO stores (code, name) VALUES ($1, 'Bad code')", code)


async def test_valid_store_codes_are_accepted_and_unique(pool: asyncpg.Pool) -> None:
    suffix = secrets.token_hex(3)
    for code in (f"0{suffix}", f"a-b-{suffix}", ("z" + suffix * 6)[:32]):
        await pool.execute("INSERT INTO stores (code, name) VALUES ($1, 'Ok')", code)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute("INSERT INTO stores (code, name) VALUES ($1, 'Again')", f"0{suffix}")


async def test_table_numbers_are_unique_per_store(pool: asyncpg.Pool) -> None:
    store, other = await _seed(pool), await _seed(pool)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.execute(
            "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, 1, 'h')", store.id
        )
    # The same number in another store is fine, and so is a new number.
    await pool.execute("INSERT INTO tables (store_id, number, password_hash) VALUES ($1, 3, 'h')", other.id)
    await pool.execute("INSERT INTO tables (store_id, number, password_hash) VALUES ($1, 3, 'h')", store.id)
    for number in (0, 1000):
        with pytest.raises(asyncpg.CheckViolationError):
            await pool.execute(
                "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, 'h')", store.id, number
            )


async def test_at_most_one_open_session_per_table(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    table = store.tables[0]
    insert = "INSERT INTO table_sessions (store_id, table_id, table_number) VALUES ($1, $2, 1) RETURNING id"
    first = await pool.fetchval(insert, store.id, table)
    with pytest.raises(asyncpg.UniqueViolationError):
        await pool.fetchval(insert, store.id, table)
    # Another table may have its own open session.
    await pool.execute(
        "INSERT INTO table_sessions (store_id, table_id, table_number) VALUES ($1, $2, 2)",
        store.id,
        store.tables[1],
    )
    # Once the first is closed, the table can open a new one.
    await pool.execute("UPDATE table_sessions SET closed_at = now() WHERE id = $1", first)
    second = await pool.fetchval(insert, store.id, table)
    assert second != first
    assert (
        await pool.fetchval(
            "SELECT count(*) FROM table_sessions WHERE table_id = $1 AND closed_at IS NULL", table
        )
        == 1
    )


async def test_a_category_with_items_cannot_be_deleted(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute("DELETE FROM menu_categories WHERE id = $1", store.category_id)
    assert (
        await pool.fetchval("SELECT count(*) FROM menu_items WHERE category_id = $1", store.category_id) == 3
    )
    await pool.execute("DELETE FROM menu_items WHERE category_id = $1", store.category_id)
    assert await pool.execute("DELETE FROM menu_categories WHERE id = $1", store.category_id) == "DELETE 1"


async def test_an_item_cannot_use_another_stores_category(pool: asyncpg.Pool) -> None:
    store, other = await _seed(pool), await _seed(pool)
    with pytest.raises(asyncpg.ForeignKeyViolationError):
        await pool.execute(
            "INSERT INTO menu_items (store_id, category_id, name, price) VALUES ($1, $2, 'x', 1)",
            store.id,
            other.category_id,
        )


async def test_deleting_a_menu_item_keeps_past_order_lines(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[1], 2), (store.items[2], 1)])
    await pool.execute("DELETE FROM menu_items WHERE id = $1", store.items[1])
    lines = await pool.fetch(
        "SELECT line_no, menu_item_id, name, unit_price, quantity FROM order_lines WHERE order_id = $1"
        " ORDER BY line_no",
        doc["id"],
    )
    assert [tuple(line) for line in lines] == [
        (1, None, "Dish 2", 2000, 2),
        (2, store.items[2], "Dish 3", 3000, 1),
    ]
    after = await _order_json(pool, doc["id"])
    assert after["total_amount"] == doc["total_amount"] == 7000
    assert after["items"][0] == {
        "menu_item_id": None,
        "name": "Dish 2",
        "unit_price": 2000,
        "quantity": 2,
        "options": [],
        "line_total": 4000,
    }


@pytest.mark.parametrize(
    ("path", "refused"),
    [
        (["preparing"], "pending"),
        (["completed"], "preparing"),
        (["completed"], "pending"),
        (["completed"], "cancelled"),
        (["cancelled"], "pending"),
        (["cancelled"], "preparing"),
        (["cancelled"], "completed"),
    ],
)
async def test_status_trigger_refuses_backward_and_final_moves(
    pool: asyncpg.Pool, path: list[str], refused: str
) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[0], 1)])
    for status in path:
        await pool.execute("UPDATE orders SET status = $2 WHERE id = $1", doc["id"], status)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await pool.execute("UPDATE orders SET status = $2 WHERE id = $1", doc["id"], refused)
    assert caught.value.sqlstate == "TO409"
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", doc["id"]) == path[-1]


async def test_status_trigger_allows_forward_moves_and_stamps_updated_at(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[0], 1)])
    for status in ("preparing", "completed"):
        await pool.execute("UPDATE orders SET status = $2 WHERE id = $1", doc["id"], status)
    row = await pool.fetchrow(
        "SELECT status, updated_at > created_at AS stamped FROM orders WHERE id = $1", doc["id"]
    )
    assert row["status"] == "completed" and row["stamped"] is True
    other, _ = await _place(pool, store, [(store.items[0], 1)])
    await pool.execute(
        "UPDATE orders SET status = 'cancelled' WHERE id = $1", other["id"]
    )  # pending -> cancelled
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", other["id"]) == "cancelled"


# --- event triggers ------------------------------------------------------------------------------


async def test_each_change_records_exactly_one_event_in_order(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    other = await _seed(pool)
    seeded = await _events(pool, store.id)
    # The menu set-up itself: one category and three items, positions 1..4.
    assert [(e["position"], e["type"]) for e in seeded] == [(n, "menu.updated") for n in range(1, 5)]

    async def step(expected_type: str, table_id: int | None) -> asyncpg.Record:
        events = await _events(pool, store.id)
        assert [e["position"] for e in events] == list(range(1, len(events) + 1))  # gap-free
        assert len(events) == len(seen) + 1, [e["type"] for e in events[len(seen) :]]
        new = events[-1]
        assert new["type"] == expected_type
        assert new["table_id"] == table_id
        seen.append(new)
        return new

    seen = list(seeded)
    table = store.tables[0]

    first, _ = await _place(pool, store, [(store.items[0], 2), (store.items[1], 1)])
    event = await step("order.created", table)
    assert json.loads(event["payload"]) == await _order_json(pool, first["id"]) == first
    assert len(first["items"]) == 2 and first["total_amount"] == 4000  # the lines were in place at commit

    await _place(pool, other, [(other.items[0], 1)])  # another store's order: not in this store's positions

    await pool.execute("UPDATE orders SET status = 'preparing' WHERE id = $1", first["id"])
    event = await step("order.updated", table)
    payload = json.loads(event["payload"])
    assert payload == await _order_json(pool, first["id"])
    assert payload["status"] == "preparing"

    second, _ = await _place(pool, store, [(store.items[2], 1)])
    await step("order.created", table)

    await pool.execute("UPDATE orders SET status = 'cancelled' WHERE id = $1", second["id"])
    event = await step("order.cancelled", table)
    payload = json.loads(event["payload"])
    assert payload == await _order_json(pool, second["id"])
    assert payload["status"] == "cancelled"

    # An update that changes neither status nor note records nothing.
    await pool.execute("UPDATE orders SET status = status WHERE id = $1", first["id"])
    assert len(await _events(pool, store.id)) == len(seen)

    await pool.execute("UPDATE table_sessions SET closed_at = now() WHERE id = $1", first["session_id"])
    event = await step("table.session_closed", table)
    payload = json.loads(event["payload"])
    assert payload["id"] == table and payload["number"] == 1 and payload["session"] is None
    closed = payload["closed_session"]
    assert closed["id"] == first["session_id"] and closed["closed_at"] is not None
    assert closed["order_count"] == 1 and closed["total_amount"] == 4000  # the cancelled order counts in none

    await pool.execute("UPDATE menu_items SET price = 1500 WHERE id = $1", store.items[0])
    event = await step("menu.updated", None)
    assert json.loads(event["payload"]) == {"entity": "menu_item", "id": store.items[0], "op": "update"}

    assert [e["type"] for e in seen[4:]] == [
        "order.created",
        "order.updated",
        "order.created",
        "order.cancelled",
        "table.session_closed",
        "menu.updated",
    ]
    assert [e["position"] for e in seen] == list(range(1, 11))
    assert await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id) == 10
    # The other store counted on its own: its set-up and its one order.
    assert [(e["position"], e["type"]) for e in await _events(pool, other.id)] == [
        *[(n, "menu.updated") for n in range(1, 5)],
        (5, "order.created"),
    ]


async def test_a_rolled_back_change_leaves_no_event_and_its_position_is_reused(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    async with pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        doc, _ = await _place(conn, store, [(store.items[0], 1)])
        # Fire the deferred triggers now: the event exists inside the transaction...
        await conn.execute("SET CONSTRAINTS ALL IMMEDIATE")
        inside = await _events(conn, store.id)
        assert [(e["position"], e["type"]) for e in inside[4:]] == [(5, "order.created")]
        assert json.loads(inside[-1]["payload"]) == doc
        # ...and nowhere else until it commits.
        assert len(await _events(pool, store.id)) == 4
        await tx.rollback()
    assert len(await _events(pool, store.id)) == 4
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id) == 0
    assert await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id) == 4

    kept, _ = await _place(pool, store, [(store.items[1], 1)])
    events = await _events(pool, store.id)
    assert [(e["position"], e["type"]) for e in events[4:]] == [(5, "order.created")]
    assert json.loads(events[-1]["payload"])["id"] == kept["id"]


async def test_the_event_commits_with_the_change(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    async with pool.acquire() as conn:
        async with conn.transaction():
            doc, _ = await _place(conn, store, [(store.items[0], 1)])
            await conn.execute("UPDATE orders SET status = 'preparing' WHERE id = $1", doc["id"])
            # place_order() records its order itself (migration 0013); the update is deferred to
            # commit: not recorded yet, even inside the transaction...
            inside = await _events(conn, store.id)
            assert [(e["position"], e["type"]) for e in inside[4:]] == [(5, "order.created")]
            # ...and nothing of it outside until it commits.
            assert len(await _events(pool, store.id)) == 4
        events = await _events(conn, store.id)
    # Both changes of the one transaction: two events, the second with the final state.
    assert [(e["position"], e["type"]) for e in events[4:]] == [(5, "order.created"), (6, "order.updated")]
    assert json.loads(events[-1]["payload"])["status"] == "preparing"


async def test_concurrent_orders_get_gap_free_positions(pool: asyncpg.Pool) -> None:
    store = await _seed(pool, tables=8)
    results = await asyncio.gather(
        *(_place(pool, store, [(store.items[0], 1)], table=i % 8) for i in range(24))
    )
    events = await _events(pool, store.id)
    assert [e["position"] for e in events] == list(range(1, 4 + 24 + 1))
    created = [json.loads(e["payload"])["id"] for e in events[4:]]
    assert sorted(created) == sorted(doc["id"] for doc, _ in results)
    assert all(e["type"] == "order.created" for e in events[4:])


async def test_an_idempotent_replay_records_no_event(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    first, replayed = await _place(pool, store, [(store.items[0], 1)], key="k-1")
    again, replayed_again = await _place(pool, store, [(store.items[0], 1)], key="k-1")
    assert (replayed, replayed_again) == (False, True)
    assert again == first
    assert [e["type"] for e in await _events(pool, store.id)][4:] == ["order.created"]


# --- 0002: orders hardening (issue 9, points 8-10) ---------------------------------------------------


async def _definitions(conn: asyncpg.Connection) -> dict[str, str]:
    """Every function and index of the public schema, as PostgreSQL prints them back."""
    functions = await conn.fetch(
        "SELECT p.oid::regprocedure::text AS name, pg_get_functiondef(p.oid) AS definition"
        " FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace WHERE n.nspname = 'public'"
    )
    indexes = await conn.fetch(
        "SELECT i.indexrelid::regclass::text AS name, pg_get_indexdef(i.indexrelid) AS definition"
        " FROM pg_index i JOIN pg_class c ON c.oid = i.indrelid"
        " JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'public'"
    )
    return {r["name"]: r["definition"] for r in [*functions, *indexes]}


async def test_0002_downgrade_restores_0001_exactly(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_0002")
    await asyncio.to_thread(db.migrate, url, "0001")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        before = await _definitions(conn)
        await asyncio.to_thread(db.migrate, url, "0002")
        after = await _definitions(conn)
        assert "place_order(bigint,bigint,bigint[],integer[],text,text,bytea,integer)" in after
        assert "place_order(bigint,bigint,bigint[],integer[],text,text,bytea)" not in after
        assert "orders_table_created" in after
        assert after["orders_check_status()"] != before["orders_check_status()"]
        await asyncio.to_thread(db.downgrade, url, "0001")
        assert await _definitions(conn) == before
    finally:
        await conn.close()


async def _place_limited(conn: asyncpg.Connection | asyncpg.Pool, store: SeededStore, limit: int,
                         key: str | None = None) -> dict[str, Any]:
    row = await conn.fetchrow(
        "SELECT order_doc::text AS doc FROM place_order($1, $2, $3, $4, NULL, $5, $6, $7)",
        store.id, store.tables[0], [store.items[0]], [1], key, b"hash" if key else None, limit)
    return json.loads(row["doc"])


async def test_place_order_refuses_beyond_the_rate_with_the_wait(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    first = await _place_limited(pool, store, 3, key="k")
    for _ in range(2):
        await _place_limited(pool, store, 3)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await _place_limited(pool, store, 3)
    assert caught.value.sqlstate == "TO429"
    assert 1 <= json.loads(caught.value.detail)["retry_after"] <= 60
    assert (await _place_limited(pool, store, 3, key="k"))["id"] == first["id"]  # a replay still answers
    # The window slides: the wait is until the oldest order is 60 seconds old...
    await pool.execute("UPDATE orders SET created_at = created_at - interval '45 seconds' WHERE id = $1",
                       first["id"])
    with pytest.raises(asyncpg.PostgresError) as caught:
        await _place_limited(pool, store, 3)
    assert 1 <= json.loads(caught.value.detail)["retry_after"] <= 15
    # ...and then one more fits.
    await pool.execute("UPDATE orders SET created_at = created_at - interval '16 seconds' WHERE id = $1",
                       first["id"])
    await _place_limited(pool, store, 3)
    with pytest.raises(asyncpg.PostgresError):
        await _place_limited(pool, store, 3)
    # 0, and a call without the limit (migration 0001's arguments), count nothing.
    await _place_limited(pool, store, 0)
    await _place(pool, store, [(store.items[0], 1)])
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id) == 6


async def _wait_until_blocked(pool: asyncpg.Pool, pid: int) -> None:
    """Until the backend `pid` waits for a lock (bounded)."""
    for _ in range(200):
        if await pool.fetchval("SELECT wait_event_type FROM pg_stat_activity WHERE pid = $1", pid) == "Lock":
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"backend {pid} never waited for a lock")


async def test_an_item_deleted_while_being_ordered_is_named_not_a_failure(pool: asyncpg.Pool) -> None:
    """The order's menu rows are read and locked in one statement: a delete that commits while the
    order waits for it leaves the item unknown (TO422), not a foreign key error or a missing line."""
    store = await _seed(pool)
    async with pool.acquire() as staff, pool.acquire() as tablet:
        deleting = staff.transaction()
        await deleting.start()
        await staff.execute("DELETE FROM menu_items WHERE id = $1", store.items[1])
        ordering = asyncio.ensure_future(_place(tablet, store, [(store.items[0], 1), (store.items[1], 2)]))
        await _wait_until_blocked(pool, tablet.get_server_pid())
        await deleting.commit()
        with pytest.raises(asyncpg.PostgresError) as caught:
            await ordering
    assert caught.value.sqlstate == "TO422"
    assert json.loads(caught.value.detail) == {"unknown": [store.items[1]], "unavailable": []}
    assert await pool.fetchval("SELECT count(*) FROM orders WHERE store_id = $1", store.id) == 0


async def test_a_closed_sessions_orders_are_final_in_the_database(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    doc, _ = await _place(pool, store, [(store.items[0], 1)])
    await pool.execute("UPDATE table_sessions SET closed_at = now() WHERE id = $1", doc["session_id"])
    for status in ("preparing", "completed", "cancelled"):
        with pytest.raises(asyncpg.PostgresError) as caught:
            await pool.execute("UPDATE orders SET status = $2 WHERE id = $1", doc["id"], status)
        assert caught.value.sqlstate == "TO409"
        assert "closed session" in str(caught.value)
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", doc["id"]) == "pending"


CLOSE_SESSION = """
UPDATE table_sessions SET closed_at = greatest(clock_timestamp(), started_at)
 WHERE table_id = $1 AND closed_at IS NULL
RETURNING session_json(table_sessions)::text
"""


async def _close(conn: asyncpg.Connection, store: SeededStore) -> dict[str, Any]:
    """Close-session as the API runs it: the table row locked first, then the session closed."""
    async with conn.transaction():
        await conn.execute("SELECT 1 FROM tables WHERE id = $1 FOR NO KEY UPDATE", store.tables[0])
        return json.loads(await conn.fetchval(CLOSE_SESSION, store.tables[0]))


async def test_a_close_waits_for_a_cancel_in_flight_and_its_summary_sees_it(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    kept, _ = await _place(pool, store, [(store.items[0], 1)])
    dropped, _ = await _place(pool, store, [(store.items[1], 1)])
    async with pool.acquire() as staff, pool.acquire() as kitchen:
        cancelling = kitchen.transaction()
        await cancelling.start()
        await kitchen.execute("UPDATE orders SET status = 'cancelled' WHERE id = $1", dropped["id"])
        closing = asyncio.ensure_future(_close(staff, store))
        await _wait_until_blocked(pool, staff.get_server_pid())
        await cancelling.commit()
        summary = await closing
    assert (summary["order_count"], summary["total_amount"]) == (1, kept["total_amount"])


async def test_a_cancel_waits_for_a_close_in_flight_and_is_refused(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    kept, _ = await _place(pool, store, [(store.items[0], 1)])
    async with pool.acquire() as staff, pool.acquire() as kitchen:
        closing = staff.transaction()
        await closing.start()
        await staff.execute("SELECT 1 FROM tables WHERE id = $1 FOR NO KEY UPDATE", store.tables[0])
        await staff.fetchval(CLOSE_SESSION, store.tables[0])
        cancelling = asyncio.ensure_future(
            kitchen.execute("UPDATE orders SET status = 'cancelled' WHERE id = $1", kept["id"]))
        await _wait_until_blocked(pool, kitchen.get_server_pid())
        await closing.commit()
        with pytest.raises(asyncpg.PostgresError) as caught:
            await cancelling
    assert caught.value.sqlstate == "TO409"
    assert await pool.fetchval("SELECT status FROM orders WHERE id = $1", kept["id"]) == "pending"


# --- 0005: bounded documents (issue 9, finding D7) ---------------------------------------------------


async def test_0005_downgrade_restores_0004_exactly(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_0005")
    await asyncio.to_thread(db.migrate, url, "0004")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        before = await _definitions(conn), (await _schema(conn))["triggers"]
        await asyncio.to_thread(db.migrate, url, "0005")
        after = await _definitions(conn)
        assert "place_order(bigint,bigint,bigint[],integer[],text,text,bytea,integer,integer)" in after
        assert "place_order(bigint,bigint,bigint[],integer[],text,text,bytea,integer)" not in after
        assert "menu_check_size()" in after
        await asyncio.to_thread(db.downgrade, url, "0004")
        assert (await _definitions(conn), (await _schema(conn))["triggers"]) == before
    finally:
        await conn.close()


async def _place_bounded(pool: asyncpg.Pool, store: SeededStore, max_orders: int, key: str | None = None,
                         table: int = 0) -> dict[str, Any]:
    row = await pool.fetchrow(
        "SELECT order_doc::text AS doc FROM place_order($1, $2, $3, $4, NULL, $5, $6, 0, $7)",
        store.id, store.tables[table], [store.items[0]], [1], key, b"hash" if key else None, max_orders)
    return json.loads(row["doc"])


async def test_place_order_refuses_beyond_the_sessions_bound(pool: asyncpg.Pool) -> None:
    store = await _seed(pool)
    first = await _place_bounded(pool, store, 3, key="k")
    await _place_bounded(pool, store, 3)
    cancelled = await _place_bounded(pool, store, 3)
    await pool.execute("UPDATE orders SET status = 'cancelled' WHERE id = $1", cancelled["id"])
    with pytest.raises(asyncpg.PostgresError) as caught:  # a cancelled order still counts: it is still shown
        await _place_bounded(pool, store, 3)
    assert caught.value.sqlstate == "TOCAP"
    assert json.loads(caught.value.detail) == {"limit": 3}
    assert (await _place_bounded(pool, store, 3, key="k"))["id"] == first["id"]  # a replay still answers
    await _place_bounded(pool, store, 3, table=1)  # per table
    await _place_bounded(pool, store, 0)  # 0, and a call without the bound, count nothing
    await _place(pool, store, [(store.items[0], 1)])
    await pool.execute("UPDATE table_sessions SET closed_at = now() WHERE id = $1", first["session_id"])
    assert (await _place_bounded(pool, store, 3))["session_id"] != first["session_id"]  # a new session


async def test_a_menu_holds_at_most_500_items_in_100_categories(pool: asyncpg.Pool) -> None:
    store = await _seed(pool, items=1)
    await pool.execute("INSERT INTO menu_items (store_id, category_id, name, price)"
                       " SELECT $1, $2, 'Filler', 1 FROM generate_series(1, 499)", store.id, store.category_id)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await pool.execute("INSERT INTO menu_items (store_id, category_id, name, price) VALUES ($1, $2, 'x', 1)",
                           store.id, store.category_id)
    assert caught.value.sqlstate == "TOCAP" and json.loads(caught.value.detail) == {"limit": 500}
    # One statement inserting many rows counts its own as it goes.
    other = await _seed(pool, items=0)
    with pytest.raises(asyncpg.PostgresError) as caught:
        await pool.execute("INSERT INTO menu_categories (store_id, name) SELECT $1, 'C' FROM generate_series(1, 100)",
                           other.id)
    assert caught.value.sqlstate == "TOCAP" and json.loads(caught.value.detail) == {"limit": 100}
    assert await pool.fetchval("SELECT count(*) FROM menu_categories WHERE store_id = $1", other.id) == 1
    # Changes that add nothing are never refused.
    await pool.execute("UPDATE menu_items SET price = 2, store_id = store_id WHERE store_id = $1", store.id)
    assert await pool.fetchval("SELECT count(*) FROM menu_items WHERE store_id = $1", store.id) == 500


# --- 0013: place_order() records its own order (issue 13, point 3) -----------------------------------


async def test_0013_downgrade_restores_0012_exactly(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_0013")
    await asyncio.to_thread(db.migrate, url, "0012")
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        before = await _definitions(conn), (await _schema(conn))["triggers"]
        await asyncio.to_thread(db.migrate, url, "0013")
        assert "tableorder.placing" in (await _definitions(conn))[
            "place_order(bigint,bigint,bigint[],integer[],text,text,bytea,integer,integer,integer[],bigint[])"]
        await asyncio.to_thread(db.downgrade, url, "0012")
        assert (await _definitions(conn), (await _schema(conn))["triggers"]) == before
    finally:
        await conn.close()


async def test_an_order_inserted_without_place_order_is_still_recorded_at_commit(pool: asyncpg.Pool) -> None:
    """The deferred triggers skip only place_order()'s own row (it records that one itself): an order
    a vendor's SQL or a data load inserts gets its event and its tickets at commit, once, and after
    place_order() in the same transaction the triggers fire again for other rows."""
    store = await _seed(pool)
    station = await pool.fetchval(
        "INSERT INTO stations (store_id, name) VALUES ($1, 'Bar') RETURNING id", store.id)
    await pool.execute("UPDATE menu_items SET station_id = $2 WHERE store_id = $1", store.id, station)
    async with pool.acquire() as conn, conn.transaction():
        placed, _ = await _place(conn, store, [(store.items[0], 1)])
        session = placed["session_id"]
        loaded = await conn.fetchval(
            "INSERT INTO orders (store_id, session_id, table_id, table_number, business_day, order_no, total_amount)"
            " VALUES ($1, $2, $3, 1, current_date, 999, 1000) RETURNING id", store.id, session, store.tables[0])
        await conn.execute(
            "INSERT INTO order_lines (store_id, order_id, line_no, menu_item_id, name, unit_price, quantity,"
            " station_id) VALUES ($1, $2, 1, $3, 'Loaded', 1000, 1, $4)", store.id, loaded, store.items[0], station)
    events = [(e["type"], json.loads(e["payload"]).get("order_id", json.loads(e["payload"]).get("id")))
              for e in (await _events(pool, store.id))]
    created = [order_id for kind, order_id in events if kind == "order.created"]
    tickets = [order_id for kind, order_id in events if kind == "ticket.created"]
    assert created == [placed["id"], loaded] and sorted(tickets) == sorted([placed["id"], loaded])
    # each order's event before its ticket's
    assert events.index(("order.created", loaded)) < events.index(("ticket.created", loaded))
    assert events.index(("order.created", placed["id"])) < events.index(("ticket.created", placed["id"]))
    assert await pool.fetchval("SELECT count(*) FROM tickets WHERE store_id = $1", store.id) == 2
