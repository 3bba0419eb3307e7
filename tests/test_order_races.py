"""Races around an order's life (issue 9): ordering while staff change the menu (point 8), and moving
an order's status while staff close its session (point 10). Bounded loops on loopback, against a
server of their own with the per-table order limit off (they place hundreds of orders per table)."""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.helpers import Store, Stores, place

PROBLEM_JSON = "application/problem+json"


@pytest.fixture(scope="module")
def unlimited(database_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(database_url, env={"ORDER_RATE_LIMIT_PER_MINUTE": "0"}) as server:
        yield server


@pytest.fixture(scope="module")
async def api(unlimited: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    limits = httpx.Limits(max_connections=50, max_keepalive_connections=50)
    async with unlimited.api(limits=limits) as client:
        yield client


# --- point 8: ordering while the menu changes ------------------------------------------------------

TABLES = 6
ORDERS_PER_TABLE = 80  # 480 orders in all
VOLATILE = 8  # items that are sold out, deleted and re-created while the orders flow
DEADLINE_SECONDS = 25  # the loops stop by themselves even on a slow machine


async def test_orders_racing_menu_changes_are_whole_or_refused_by_name(api: httpx.AsyncClient,
                                                                       stores: Stores) -> None:
    """Each order is priced from one consistent menu: it is placed whole (every line, the total the
    sum of its lines) or refused with a 422 naming the item that dropped out; never a 500, never an
    order missing a line."""
    store = await stores.create(tables=TABLES, items=3)
    stable = store.item_ids()
    price = 700
    volatile: list[int] = []
    for n in range(VOLATILE):
        created = await api.post("/admin/menu-items", headers=store.admin, json={
            "category_id": store.category_id, "name": f"Special {n}", "price": price})
        assert created.status_code == 201, created.text
        volatile.append(created.json()["id"])
    ever_volatile = set(volatile)
    done = asyncio.Event()
    deadline = time.monotonic() + DEADLINE_SECONDS
    changes: dict[str, int] = {}

    async def churn(slots: range) -> None:
        """Staff at work: sell out and bring back, delete and re-create, over and over."""
        n = 0
        while not done.is_set() and time.monotonic() < deadline:
            slot = slots[n % len(slots)]
            item = volatile[slot]
            if n % 2:
                for available in (False, True):
                    response = await api.patch(f"/admin/menu-items/{item}", headers=store.admin,
                                               json={"available": available})
                    assert response.status_code == 200, response.text
                changes["toggled"] = changes.get("toggled", 0) + 1
            else:
                response = await api.delete(f"/admin/menu-items/{item}", headers=store.admin)
                assert response.status_code == 204, response.text
                again = await api.post("/admin/menu-items", headers=store.admin, json={
                    "category_id": store.category_id, "name": f"Special {slot}", "price": price})
                assert again.status_code == 201, again.text
                volatile[slot] = again.json()["id"]
                ever_volatile.add(volatile[slot])
                changes["re-created"] = changes.get("re-created", 0) + 1
            n += 1

    results: list[tuple[list[tuple[int, int]], httpx.Response]] = []

    async def tablet(store: Store, number: int) -> None:
        rng = random.Random(number)
        for _ in range(ORDERS_PER_TABLE):
            if time.monotonic() > deadline:
                return
            # Many lines, most of them on the items that change: the wider the statement, the wider
            # any window between checking the menu and pricing from it.
            lines = [(rng.choice(volatile), rng.randint(1, 3)) for _ in range(8)]
            lines += [(item, 1) for item in stable]
            rng.shuffle(lines)
            results.append((lines, await place(api, store.tables[number], lines)))

    async def orders() -> None:
        try:
            await asyncio.gather(*(tablet(store, number) for number in store.tables))
        finally:
            done.set()

    await asyncio.gather(orders(), churn(range(0, VOLATILE, 2)), churn(range(1, VOLATILE, 2)))

    statuses: dict[int, int] = {}
    defects: list[str] = []
    for lines, response in results:
        statuses[response.status_code] = statuses.get(response.status_code, 0) + 1
        if response.status_code == 201:
            order = response.json()
            got = [(line["menu_item_id"], line["quantity"]) for line in order["items"]]
            if got != lines:
                defects.append(f"order {order['id']} has {len(got)} of {len(lines)} lines")
            if any(line["line_total"] != line["unit_price"] * line["quantity"] for line in order["items"]) \
                    or order["total_amount"] != sum(line["line_total"] for line in order["items"]):
                defects.append(f"order {order['id']}: total {order['total_amount']} is not the sum of its lines")
        elif response.status_code == 422:
            assert response.headers["content-type"].startswith(PROBLEM_JSON), response.text
            errors = response.json()["errors"]
            if not errors:
                defects.append(f"422 naming nothing: {response.text}")
            # Only the items that were sold out or deleted are named, each on its own line.
            for error in errors:
                index = int(error["field"].removeprefix("items[").removesuffix("].menu_item_id"))
                if lines[index][0] not in ever_volatile or str(lines[index][0]) not in error["message"]:
                    defects.append(f"422 naming the wrong item: {error}")
        else:
            defects.append(f"{response.status_code}: {response.text[:200]}")
    report = f"{len(results)} orders: {statuses}; menu changes: {changes}"
    assert defects == [], (report, defects[:10])
    assert len(results) >= 300, report  # the race had enough orders to show itself
    assert statuses.get(201, 0) >= 30, report  # and orders did get through


# --- point 10: a closed session's orders are final -------------------------------------------------


async def _events_of_session(pool: asyncpg.Pool, store_id: int, session_id: int) -> list[tuple[str, int | None]]:
    """The session's events in commit order: (type, order id or None for the close)."""
    rows = await pool.fetch(
        "SELECT type, payload::text AS payload FROM events WHERE store_id = $1 ORDER BY position", store_id)
    found: list[tuple[str, int | None]] = []
    for row in rows:
        payload: dict[str, Any] = json.loads(row["payload"])
        if row["type"] == "table.session_closed" and payload["closed_session"]["id"] == session_id:
            found.append((row["type"], None))
        elif row["type"].startswith("order.") and payload["session_id"] == session_id:
            found.append((row["type"], payload["id"]))
    return found


async def test_orders_of_a_closed_session_are_final(api: httpx.AsyncClient, stores: Stores,
                                                    pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    item = store.item_ids()[0]
    pending = (await place(api, table, [(item, 1)])).json()
    preparing = (await place(api, table, [(item, 2)])).json()
    moved = await api.patch(f"/admin/orders/{preparing['id']}", headers=store.admin, json={"status": "preparing"})
    assert moved.status_code == 200
    closed = await api.post(f"/admin/tables/{table.id}/close-session", headers=store.admin)
    assert closed.status_code == 200
    summary = closed.json()
    before = await _events_of_session(pool, store.id, summary["id"])

    for order, method, body in ((pending, "DELETE", None), (pending, "PATCH", {"status": "preparing"}),
                                (pending, "PATCH", {"status": "completed"}), (preparing, "DELETE", None),
                                (preparing, "PATCH", {"status": "completed"})):
        response = await api.request(method, f"/admin/orders/{order['id']}", headers=store.admin, json=body)
        assert response.status_code == 409, (method, body, response.text)
        assert response.headers["content-type"].startswith(PROBLEM_JSON)
        assert "closed" in response.json()["detail"]

    statuses = dict(await pool.fetch("SELECT id, status FROM orders WHERE session_id = $1", summary["id"]))
    assert statuses == {pending["id"]: "pending", preparing["id"]: "preparing"}
    assert await _events_of_session(pool, store.id, summary["id"]) == before  # nothing happened after the close
    history = (await api.get(f"/admin/tables/{table.id}/history", headers=store.admin)).json()
    assert history["items"][0]["total_amount"] == summary["total_amount"] == pending["total_amount"] * 3
    # Asking for the status an order already has changes nothing and is answered as it is.
    same = await api.patch(f"/admin/orders/{preparing['id']}", headers=store.admin, json={"status": "preparing"})
    assert same.status_code == 200 and same.json()["status"] == "preparing"


ROUNDS = 30


async def test_close_session_and_status_moves_take_turns(api: httpx.AsyncClient, stores: Stores,
                                                         pool: asyncpg.Pool) -> None:
    """Close-session, a cancel and a move fired together: each move either lands before the close
    (and the close's summary counts it) or is refused with 409; nothing changes after the close."""
    store = await stores.create(tables=2)
    item, (_, price) = next(iter(store.items.items()))
    outcomes: dict[str, int] = {}
    for round_ in range(ROUNDS):
        table = store.tables[1 + round_ % 2]
        kept = (await place(api, table, [(item, 1)])).json()
        dropped = (await place(api, table, [(item, 2)])).json()
        close, cancel, move = await asyncio.gather(
            api.post(f"/admin/tables/{table.id}/close-session", headers=store.admin),
            api.delete(f"/admin/orders/{dropped['id']}", headers=store.admin),
            api.patch(f"/admin/orders/{kept['id']}", headers=store.admin, json={"status": "preparing"}))
        assert close.status_code == 200, close.text
        assert cancel.status_code in (200, 409), cancel.text
        assert move.status_code in (200, 409), move.text
        outcome = f"cancel {cancel.status_code}, move {move.status_code}"
        outcomes[outcome] = outcomes.get(outcome, 0) + 1
        summary = close.json()
        status = dict(await pool.fetch("SELECT id, status FROM orders WHERE session_id = $1", summary["id"]))
        if cancel.status_code == 200:
            assert status[dropped["id"]] == "cancelled"
            assert (summary["order_count"], summary["total_amount"]) == (1, price), (round_, outcome, summary)
        else:
            assert cancel.headers["content-type"].startswith(PROBLEM_JSON)
            assert status[dropped["id"]] == "pending"
            assert (summary["order_count"], summary["total_amount"]) == (2, 3 * price), (round_, outcome, summary)
        assert status[kept["id"]] == ("preparing" if move.status_code == 200 else "pending"), (round_, outcome)
        # In commit order, the close is the session's last event.
        events = await _events_of_session(pool, store.id, summary["id"])
        assert events[-1] == ("table.session_closed", None), (round_, outcome, events)
    assert sum(outcomes.values()) == ROUNDS, outcomes
