"""Browser tests: Playwright for Python driving Debian's Chromium (/usr/bin/chromium, never a downloaded
browser) against two real replicas of the app on one database.

Without Chromium the tests skip, except under CI (CI=true), where they fail: `make test` and `.ci/run`
install it with apt. Screenshots go to tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import httpx
import pytest

from tests.conftest import ServerProcess
from tests.helpers import ADMIN_HASH, ADMIN_PASSWORD, TABLE_HASH, bearer

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
LAUNCH_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
TABLET_VIEWPORT = {"width": 1280, "height": 800}
DESKTOP_VIEWPORT = {"width": 1440, "height": 900}

# A demo-like Korean menu: (category, [(name, price, description, image)]). One photo is same-origin,
# one is on another host: the page shows that one's placeholder and never asks the other host.
MENU = [
    ("찌개·탕", [
        ("김치찌개", 9000, "묵은지와 돼지고기를 넣고 오래 끓인 찌개", "{origin}/static/shared/icon.svg"),
        ("된장찌개", 8500, "두부와 애호박을 넣은 구수한 된장찌개", None),
        ("순두부찌개", 9500, "바지락 순두부찌개, 계란 하나", "https://images.example.com/sundubu.jpg"),
    ]),
    ("구이·볶음", [
        ("제육볶음", 12000, "매콤한 고추장 양념 돼지고기 볶음", None),
        ("고등어구이", 13000, None, None),
    ]),
    ("사이드", [
        ("계란말이", 7000, "부드러운 대파 계란말이", None),
        ("공기밥", 1000, None, None),
    ]),
    ("음료", [
        ("콜라", 2000, None, None),
        ("사이다", 2000, None, None),
    ]),
]


def require_chromium() -> None:
    """Chromium must be there under CI; elsewhere the test skips without it."""
    _chromium_or_skip()


def _chromium_or_skip() -> None:
    if Path(CHROMIUM).exists():
        return
    message = f"Chromium is not installed at {CHROMIUM} (apt-get install chromium fonts-noto-cjk)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class BrowserStore:
    """A store seeded for one test, with an admin API client on the board's replica."""

    id: int
    code: str
    admin: httpx.AsyncClient
    tables: dict[int, int]  # number -> id
    items: dict[str, int]  # name -> id
    admin_token: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    async def set_available(self, name: str, available: bool) -> None:
        response = await self.admin.patch(f"/admin/menu-items/{self.items[name]}", json={"available": available})
        assert response.status_code == 200, response.text

    async def orders(self, table_number: int) -> list[dict[str, Any]]:
        response = await self.admin.get("/admin/orders", params={"table_id": self.tables[table_number]})
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


def _server_env() -> dict[str, str]:
    # A walk-through places a few orders per table; the per-table rate limit has its own tests.
    return {"ORDER_RATE_LIMIT_PER_MINUTE": "0"}


@pytest.fixture(scope="session")
def replica_a(database_url: str) -> Iterator[ServerProcess]:
    """The replica the tablets use."""
    with ServerProcess(database_url, env=_server_env()) as process:
        yield process


@pytest.fixture(scope="session")
def replica_b(database_url: str) -> Iterator[ServerProcess]:
    """The other replica: the staff (board, admin API calls) use it."""
    with ServerProcess(database_url, env=_server_env()) as process:
        yield process


@pytest.fixture
async def store(pool: asyncpg.Pool, replica_a: ServerProcess, replica_b: ServerProcess) -> AsyncIterator[BrowserStore]:
    code = f"b-{secrets.token_hex(5)}"
    async with pool.acquire() as conn, conn.transaction():
        store_id = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, '한솥 식당') RETURNING id", code)
        await conn.execute("INSERT INTO admins (store_id, username, password_hash) VALUES ($1, 'admin', $2)",
                           store_id, ADMIN_HASH)
        tables = {n: await conn.fetchval(
            "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, $3) RETURNING id",
            store_id, n, TABLE_HASH) for n in range(1, 7)}
        items: dict[str, int] = {}
        for c, (category, dishes) in enumerate(MENU):
            category_id = await conn.fetchval(
                "INSERT INTO menu_categories (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING id",
                store_id, category, c)
            for i, (name, price, description, image) in enumerate(dishes):
                items[name] = await conn.fetchval(
                    "INSERT INTO menu_items (store_id, category_id, name, price, description, image_url, sort_order)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                    store_id, category_id, name, price, description or "",
                    image and image.format(origin=replica_a.url), i)
    async with replica_b.api() as anonymous:
        login = await anonymous.post("/auth/admin/login", json={
            "store_code": code, "username": "admin", "password": ADMIN_PASSWORD})
        assert login.status_code == 200, login.text
        token = login.json()["access_token"]
    async with replica_b.api(headers=bearer(token)) as admin:
        yield BrowserStore(id=store_id, code=code, admin=admin, tables=tables, items=items, admin_token=token)


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Any]:
    _chromium_or_skip()
    from playwright.async_api import async_playwright

    profile = tempfile.mkdtemp(prefix="tableorder-chromium-")
    async with async_playwright() as playwright:
        instance = await playwright.chromium.launch(executable_path=CHROMIUM, args=LAUNCH_ARGS, headless=True)
        yield instance
        await instance.close()
    shutil.rmtree(profile, ignore_errors=True)


@dataclass
class Watch:
    """What a page did: console errors and every URL it asked for."""

    origin: str
    console_errors: list[str] = field(default_factory=list)
    requests: list[str] = field(default_factory=list)

    def off_origin(self) -> list[str]:
        return [url for url in self.requests
                if urlsplit(url).scheme in {"http", "https"} and not url.startswith(self.origin + "/")]


@pytest.fixture
async def page_factory(browser: Any) -> AsyncIterator[Any]:
    """new_page(origin, viewport) -> (page, watch): a fresh context each, so storage starts empty."""
    contexts: list[Any] = []

    async def new_page(origin: str, viewport: dict[str, int] | None = None) -> tuple[Any, Watch]:
        context = await browser.new_context(viewport=viewport or TABLET_VIEWPORT, locale="ko-KR",
                                            timezone_id="Asia/Seoul", service_workers="block")
        contexts.append(context)
        page = await context.new_page()
        watch = Watch(origin=origin)
        page.on("console", lambda message: watch.console_errors.append(message.text)
                if message.type == "error" else None)
        page.on("pageerror", lambda error: watch.console_errors.append(f"page error: {error}"))
        page.on("request", lambda request: watch.requests.append(request.url))
        return page, watch

    yield new_page
    for context in contexts:
        await context.close()


@pytest.fixture(scope="session")
def artifacts() -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


__all__ = ["DESKTOP_VIEWPORT", "TABLET_VIEWPORT", "BrowserStore", "Watch"]
