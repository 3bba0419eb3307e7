"""Shared pieces of the benchmarks: a database, server processes, a seeded store."""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg
import httpx

from tableorder import db
from tableorder.security import TokenService, hash_password_sync
from tableorder.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
# Servers run from an environment with the runtime dependencies only, as deployed (the test extras
# bring pydantic, faker & co., which Litestar would load and which no deployment has).
RUNTIME_VENV = ROOT / ".venv-runtime"
SERVER_PYTHON = os.environ.get("BENCH_SERVER_PYTHON") or (
    str(RUNTIME_VENV / "bin" / "python") if (RUNTIME_VENV / "bin" / "python").exists() else sys.executable)


@asynccontextmanager
async def bench_database() -> AsyncIterator[str]:
    """A fresh, migrated database: on DATABASE_URL's server when set, else an embedded one."""
    data_dir = None
    server = None
    if os.environ.get("DATABASE_URL"):
        base = os.environ["DATABASE_URL"]
    else:
        import pgserver

        data_dir = tempfile.mkdtemp(prefix="tableorder-bench-pg-")
        server = pgserver.get_server(data_dir, cleanup_mode="stop")
        base = server.get_uri()
    name = f"tableorder_bench_{secrets.token_hex(4)}"
    admin = await asyncpg.connect(db.asyncpg_dsn(base))
    await admin.execute(f'CREATE DATABASE "{name}"')
    head, _, query = base.partition("?")
    scheme, _, rest = head.partition("://")
    url = f"{scheme}://{rest.partition('/')[0]}/{name}" + (f"?{query}" if query else "")
    try:
        db.migrate(url)
        yield url
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
        if server is not None:
            server.cleanup()
        if data_dir is not None:
            shutil.rmtree(data_dir, ignore_errors=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_kb(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError("no VmRSS")


class Replica:
    """One uvicorn process (one worker unless told otherwise) serving the app on loopback."""

    def __init__(self, database_url: str, env: dict[str, str] | None = None, workers: int = 1) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {**os.environ, "DATABASE_URL": database_url, "ENVIRONMENT": "development", "DEBUG": "true",
                    "LOG_LEVEL": "WARNING", **(env or {})}
        self.workers = workers
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Replica:
        self.process = subprocess.Popen(
            [SERVER_PYTHON, "-m", "uvicorn", "tableorder.app:create_app", "--factory", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", str(self.workers), "--no-access-log"],
            env=self.env, cwd=ROOT)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/health/ready", timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError("replica did not start")

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()


async def seed_store(pool: asyncpg.Pool, code: str, tables: int = 50, categories: int = 6,
                     items_per_category: int = 7) -> dict[str, Any]:
    """One store: `tables` tables, a menu of categories × items, an admin; tokens for everyone."""
    tokens = TokenService(Settings.from_env({"ENVIRONMENT": "development"}))
    password = hash_password_sync("bench-password")
    async with pool.acquire() as conn, conn.transaction():
        store_id = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, $1) RETURNING id", code)
        admin_id = await conn.fetchval(
            "INSERT INTO admins (store_id, username, password_hash) VALUES ($1, 'admin', $2) RETURNING id",
            store_id, password)
        table_ids = [await conn.fetchval(
            "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, $2, $3) RETURNING id",
            store_id, n, password) for n in range(1, tables + 1)]
        item_ids = []
        option_choices = []  # "<item id>:<option id>,<option id>": a valid choice for an item with options
        for c in range(categories):
            category_id = await conn.fetchval(
                "INSERT INTO menu_categories (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING id",
                store_id, f"분류 {c + 1}", c)
            for i in range(items_per_category):
                item_ids.append(await conn.fetchval(
                    "INSERT INTO menu_items (store_id, category_id, name, description, price, sort_order) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    store_id, category_id, f"메뉴 {c + 1}-{i + 1}", "맛있는 요리 " * 5, 1000 * (i + 1), i))
            # The first item of each category has options, as a real menu's mains do: a required
            # choice of one (맵기) and up to three toppings at +1,000.
            chosen = []
            for g, (group, low, high, names, delta) in enumerate((
                    ("맵기", 1, 1, ("순한맛", "보통", "매운맛"), 0),
                    ("토핑", 0, 3, ("치즈", "계란", "라면사리"), 1000))):
                group_id = await conn.fetchval(
                    "INSERT INTO option_groups (store_id, menu_item_id, name, min_select, max_select, sort_order) "
                    "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
                    store_id, item_ids[-items_per_category], group, low, high, g)
                option_ids = [await conn.fetchval(
                    "INSERT INTO options (store_id, group_id, name, price_delta, sort_order) "
                    "VALUES ($1, $2, $3, $4, $5) RETURNING id", store_id, group_id, name, delta, n)
                    for n, name in enumerate(names)]
                chosen += option_ids[:1] if g == 0 else option_ids[:2]
            option_choices.append(f"{item_ids[-items_per_category]}:{','.join(map(str, chosen))}")
    return {
        "id": store_id,
        "admin_token": tokens.issue("admin", store_id, admin_id, 1),  # a new account: credential version 1
        "table_tokens": [tokens.issue("table", store_id, t, 1) for t in table_ids],
        "table_ids": table_ids,
        # Items without options (an item with a required group cannot be ordered without choosing).
        "item_ids": [i for n, i in enumerate(item_ids) if n % items_per_category],
        "item_id": item_ids[1],
        "option_choices": option_choices,
    }


# docs/benchmarks.md is written by several benchmarks: `make bench` writes the part before the first
# `## ` heading, every other benchmark a `## ` section of its own; each keeps what the others wrote.
def write_head(path: Path, text: str) -> None:
    """Replace the part of the file before its first `## ` section with `text`."""
    old = path.read_text() if path.exists() else ""
    cut = old.find("\n## ")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text.rstrip("\n") + "\n" + (old[cut:] if cut >= 0 else ""))


def write_section(path: Path, heading: str, text: str) -> None:
    """Replace the section that starts with the line `heading` (up to the next `## ` heading) with
    `text`, or add it at the end; the rest of the file stays as it was."""
    old = path.read_text() if path.exists() else "# Benchmarks\n"
    start = old.find(heading + "\n")
    if start < 0:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = old.find("\n## ", start + len(heading))
        new = old[:start] + text.rstrip("\n") + "\n" + (old[end:] if end >= 0 else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(new)
