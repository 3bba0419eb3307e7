"""Test data: each test builds its own store, so tests never see each other's data."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import httpx
import uvicorn
from litestar.types import ASGIApp

from tableorder.security import hash_password_sync

ADMIN_PASSWORD = "admin-password-1"
TABLE_PASSWORD = "table-pass"
# Hashing once keeps store set-up fast; every account still has a real argon2 hash.
ADMIN_HASH = hash_password_sync(ADMIN_PASSWORD)
TABLE_HASH = hash_password_sync(TABLE_PASSWORD)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class Table:
    id: int
    number: int
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return bearer(self.token)


@dataclass
class Store:
    id: int
    code: str
    admin_token: str
    tables: dict[int, Table]
    category_id: int
    # menu item id -> (name, price)
    items: dict[int, tuple[str, int]] = field(default_factory=dict)

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.admin_token)

    def item_ids(self) -> list[int]:
        return list(self.items)


class Stores:
    def __init__(self, pool: asyncpg.Pool, client: httpx.AsyncClient) -> None:
        self.pool = pool
        self.client = client

    async def create(self, tables: int = 3, items: int = 4) -> Store:
        code = f"s-{secrets.token_hex(6)}"
        async with self.pool.acquire() as conn, conn.transaction():
            store_id = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, $2) RETURNING id",
                                           code, f"Store {code}")
            await conn.execute("INSERT INTO admins (store_id, username, password_hash) VALUES ($1, 'admin', $2)",
                               store_id, ADMIN_HASH)
            table_ids = {
                n: await conn.fetchval(
                    "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, $3) RETURNING id",
                    store_id, n, TABLE_HASH)
                for n in range(1, tables + 1)
            }
            category_id = await conn.fetchval(
                "INSERT INTO menu_categories (store_id, name) VALUES ($1, 'Mains') RETURNING id", store_id)
            menu = {}
            for i in range(items):
                name, price = f"Dish {i + 1}", 1000 * (i + 1) + 500
                item_id = await conn.fetchval(
                    "INSERT INTO menu_items (store_id, category_id, name, price, sort_order) "
                    "VALUES ($1, $2, $3, $4, $5) RETURNING id", store_id, category_id, name, price, i)
                menu[item_id] = (name, price)
        admin_token = await self.login_admin(code)
        table_tokens = {n: Table(id=table_ids[n], number=n, token=await self.login_table(code, n))
                        for n in table_ids}
        return Store(id=store_id, code=code, admin_token=admin_token, tables=table_tokens,
                     category_id=category_id, items=menu)

    async def login_admin(self, code: str) -> str:
        response = await self.client.post("/auth/admin/login", json={
            "store_code": code, "username": "admin", "password": ADMIN_PASSWORD})
        assert response.status_code == 200, response.text
        # The shared client must not carry this admin's cookie into other tests' requests.
        self.client.cookies.clear()
        return str(response.json()["access_token"])

    async def login_table(self, code: str, number: int) -> str:
        response = await self.client.post("/auth/table/login", json={
            "store_code": code, "table_number": number, "password": TABLE_PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def place(client: httpx.AsyncClient, table: Table, lines: list[tuple[int, int]],
                idempotency_key: str | None = None, **body: Any) -> httpx.Response:
    """POST /orders for `table` with (menu_item_id, quantity) lines."""
    headers = {**table.headers, **({"Idempotency-Key": idempotency_key} if idempotency_key else {})}
    payload = {"items": [{"menu_item_id": i, "quantity": q} for i, q in lines], **body}
    return await client.post("/orders", json=payload, headers=headers)


class _QuietServer(uvicorn.Server):
    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:  # leave pytest's signal handlers alone
        yield


async def serve_on_loopback(app: ASGIApp, port: int) -> tuple[uvicorn.Server, asyncio.Task[None]]:
    """A real HTTP server (a webhook receiver) on 127.0.0.1:`port`, started; stop it with
    `server.should_exit = True` and await the task."""
    server = _QuietServer(uvicorn.Config(app, host="127.0.0.1", port=port, lifespan="off", interface="asgi3",
                                         log_level="warning", access_log=False))
    task = asyncio.create_task(server.serve())
    while not server.started:
        assert not task.done(), "the receiver did not start"
        await asyncio.sleep(0.01)
    return server, task
