"""The `tableorder` command (SPEC section 6), run as a real process against real databases."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from tableorder import db
from tableorder.demo import DEMO_TABLE_PASSWORD
from tableorder.security import verify_password
from tests.conftest import ROOT, ServerProcess, free_port

HANGUL = re.compile(r"[가-힣]")
STRONG_SECRET = "p" * 48


def _env(database_url: str, **extra: str) -> dict[str, str]:
    base = {k: v for k, v in os.environ.items() if k not in {"JWT_SECRET_KEY", "DEBUG", "ENVIRONMENT"}}
    return {
        **base,
        "DATABASE_URL": database_url,
        "ENVIRONMENT": "development",
        "LOG_LEVEL": "WARNING",
        **extra,
    }


def _run(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "tableorder", *args],
        env=_env(database_url, **env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


async def tableorder(database_url: str, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
    """Runs `python -m tableorder <args>` in a thread (so the event loop stays free)."""
    return await asyncio.to_thread(_run, database_url, *args, **env)


def _no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stderr + result.stdout, result.stderr


@pytest.fixture(scope="module")
async def cli_db(fresh_database) -> str:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_cli")
    await asyncio.to_thread(db.migrate, url)
    return url


@pytest.fixture(scope="module")
def cli_server(cli_db: str) -> Iterator[ServerProcess]:
    server = ServerProcess(cli_db).start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
async def cli_client(cli_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=f"{cli_server.url}/api/v1", timeout=30) as http:
        yield http


async def _fetchval(url: str, sql: str, *args: object) -> object:
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


async def admin_login(http: httpx.AsyncClient, code: str, username: str, password: str) -> httpx.Response:
    return await http.post(
        "/auth/admin/login", json={"store_code": code, "username": username, "password": password}
    )


async def table_login(http: httpx.AsyncClient, code: str, number: int, password: str) -> httpx.Response:
    return await http.post(
        "/auth/table/login", json={"store_code": code, "table_number": number, "password": password}
    )


# --- migrate ----------------------------------------------------------------------------------------


async def test_migrate_builds_the_schema_and_is_idempotent(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_cli_migrate")
    first = await tableorder(url, "migrate")
    assert first.returncode == 0, first.stderr
    assert "up to date" in first.stdout
    version = await _fetchval(url, "SELECT version_num FROM alembic_version")
    assert version is not None
    assert await _fetchval(url, "SELECT count(*) FROM stores") == 0  # the tables are there, empty
    again = await tableorder(url, "migrate")
    assert again.returncode == 0, again.stderr
    assert await _fetchval(url, "SELECT version_num FROM alembic_version") == version
    assert await _fetchval(url, "SELECT count(*) FROM alembic_version") == 1


async def test_migrate_without_a_database_outside_development_fails_clearly() -> None:
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "tableorder", "migrate"],
        env={
            k: v
            for k, v in _env("", ENVIRONMENT="production", JWT_SECRET_KEY=STRONG_SECRET).items()
            if k != "DATABASE_URL"
        },
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "DATABASE_URL" in result.stderr
    _no_traceback(result)


# --- create-store / create-table --------------------------------------------------------------------


async def test_create_store_then_its_admin_can_log_in(cli_db: str, cli_client: httpx.AsyncClient) -> None:
    code = f"cli-{secrets.token_hex(4)}"
    result = await tableorder(
        cli_db,
        "create-store",
        "--code",
        code,
        "--name",
        "강남 본점",
        "--admin-username",
        "owner",
        "--admin-password",
        "s3cret-pass-123",
    )
    assert result.returncode == 0, result.stderr
    assert code in result.stdout
    login = await admin_login(cli_client, code, "owner", "s3cret-pass-123")
    assert login.status_code == 200, login.text
    assert login.json()["store"]["code"] == code and login.json()["store"]["name"] == "강남 본점"
    assert (await admin_login(cli_client, code, "owner", "wrong-password")).status_code == 401
    # The password is stored as an argon2 hash, never as given.
    stored = await _fetchval(
        cli_db,
        "SELECT a.password_hash FROM admins a JOIN stores s ON s.id = a.store_id"
        " WHERE s.code = $1 AND a.username = 'owner'",
        code,
    )
    assert isinstance(stored, str) and stored.startswith("$argon2id$") and "s3cret-pass-123" not in stored
    assert await verify_password(stored, "s3cret-pass-123")


async def test_create_store_with_a_taken_code_fails(cli_db: str) -> None:
    code = f"dup-{secrets.token_hex(4)}"
    args = (
        "create-store",
        "--code",
        code,
        "--name",
        "One",
        "--admin-username",
        "a",
        "--admin-password",
        "pw",
    )
    assert (await tableorder(cli_db, *args)).returncode == 0
    again = await tableorder(cli_db, *args)
    assert again.returncode == 1
    assert "already exists" in again.stderr and code in again.stderr
    _no_traceback(again)
    assert await _fetchval(cli_db, "SELECT count(*) FROM stores WHERE code = $1", code) == 1
    assert (
        await _fetchval(
            cli_db, "SELECT count(*) FROM admins a JOIN stores s ON s.id = a.store_id WHERE s.code = $1", code
        )
        == 1
    )


@pytest.mark.parametrize("code", ["Bad Code", "x", "-leading-dash", "UPPER"])
async def test_create_store_with_an_invalid_code_fails(cli_db: str, code: str) -> None:
    result = await tableorder(
        cli_db,
        "create-store",
        f"--code={code}",
        "--name",
        "Bad",
        "--admin-username",
        "a",
        "--admin-password",
        "pw",
    )
    assert result.returncode == 1
    assert "code" in result.stderr
    _no_traceback(result)
    assert await _fetchval(cli_db, "SELECT count(*) FROM stores WHERE code = $1", code) == 0


async def test_create_table_then_the_tablet_can_log_in(cli_db: str, cli_client: httpx.AsyncClient) -> None:
    code = f"tbl-{secrets.token_hex(4)}"
    created = await tableorder(
        cli_db,
        "create-store",
        "--code",
        code,
        "--name",
        "Tables",
        "--admin-username",
        "a",
        "--admin-password",
        "admin-pw",
    )
    assert created.returncode == 0, created.stderr
    result = await tableorder(
        cli_db, "create-table", "--store", code, "--number", "7", "--password", "tablet-7"
    )
    assert result.returncode == 0, result.stderr
    assert "7" in result.stdout and code in result.stdout
    login = await table_login(cli_client, code, 7, "tablet-7")
    assert login.status_code == 200, login.text
    assert login.json()["table"]["number"] == 7
    assert (await table_login(cli_client, code, 7, "wrong")).status_code == 401

    duplicate = await tableorder(
        cli_db, "create-table", "--store", code, "--number", "7", "--password", "other"
    )
    assert duplicate.returncode == 1
    assert "already exists" in duplicate.stderr
    _no_traceback(duplicate)
    # The first password still works: the duplicate changed nothing.
    assert (await table_login(cli_client, code, 7, "tablet-7")).status_code == 200

    out_of_range = await tableorder(
        cli_db, "create-table", "--store", code, "--number", "1000", "--password", "x"
    )
    assert out_of_range.returncode == 1
    _no_traceback(out_of_range)
    assert (
        await _fetchval(
            cli_db, "SELECT count(*) FROM tables t JOIN stores s ON s.id = t.store_id WHERE s.code = $1", code
        )
        == 1
    )


async def test_create_table_in_an_unknown_store_fails(cli_db: str) -> None:
    result = await tableorder(
        cli_db, "create-table", "--store", "no-such-store", "--number", "1", "--password", "x"
    )
    assert result.returncode == 1
    assert "no-such-store" in result.stderr
    _no_traceback(result)


# --- demo ---------------------------------------------------------------------------------------------


def _credentials(output: str) -> tuple[str, str, str]:
    """(admin username, admin password, table password) as the demo prints them."""
    admin = re.search(r"admin:.*username=(\S+) password=(\S+)", output)
    tables = re.search(r"tables:.*table_number=1\.\.12 password=(\S+)", output)
    assert admin and tables, output
    return admin.group(1), admin.group(2), tables.group(1)


async def _demo_counts(url: str) -> tuple[object, ...]:
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        row = await conn.fetchrow(
            """SELECT (SELECT count(*) FROM stores WHERE code = 'demo') AS stores,
                      (SELECT array_agg(number ORDER BY number)
                         FROM tables t JOIN stores s ON s.id = t.store_id WHERE s.code = 'demo') AS tables,
                      (SELECT count(*) FROM menu_categories c JOIN stores s ON s.id = c.store_id
                        WHERE s.code = 'demo') AS categories,
                      (SELECT array_agg(i.name ORDER BY i.id)
                         FROM menu_items i JOIN stores s ON s.id = i.store_id WHERE s.code = 'demo') AS items,
                      (SELECT count(*) FROM admins a JOIN stores s ON s.id = a.store_id
                        WHERE s.code = 'demo') AS admins"""
        )
        return tuple(row)
    finally:
        await conn.close()


async def test_demo_creates_a_korean_store_once(cli_db: str, cli_client: httpx.AsyncClient) -> None:
    result = await tableorder(cli_db, "demo")
    assert result.returncode == 0, result.stderr
    assert "demo" in result.stdout
    username, admin_password, table_password = _credentials(result.stdout)

    stores, tables, categories, items, admins = await _demo_counts(cli_db)
    assert stores == 1 and admins == 1
    assert tables == list(range(1, 13))
    assert isinstance(categories, int) and categories >= 3
    assert isinstance(items, list) and len(items) >= 6
    assert sum(bool(HANGUL.search(name)) for name in items) >= len(items) // 2

    # The printed credentials work.
    admin = await admin_login(cli_client, "demo", username, admin_password)
    assert admin.status_code == 200, admin.text
    tablet = await table_login(cli_client, "demo", 12, table_password)
    assert tablet.status_code == 200, tablet.text
    menu = await cli_client.get("/menu", headers={"Authorization": f"Bearer {tablet.json()['access_token']}"})
    assert menu.status_code == 200
    shown = menu.json()["categories"]
    assert len(shown) == categories
    assert all(HANGUL.search(category["name"]) for category in shown)
    assert all(category["items"] for category in shown)
    assert all(item["price"] > 0 for category in shown for item in category["items"])

    again = await tableorder(cli_db, "demo")
    assert again.returncode == 0, again.stderr
    assert _credentials(again.stdout) == (username, admin_password, table_password)
    assert await _demo_counts(cli_db) == (stores, tables, categories, items, admins)
    assert (await admin_login(cli_client, "demo", username, admin_password)).status_code == 200


@pytest.mark.parametrize(
    "command", [["demo"], ["serve", "--demo", "--workers", "1"]], ids=["demo", "serve-demo"]
)
async def test_demo_refuses_outside_development(fresh_database, command: list[str]) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_cli_prod")
    await asyncio.to_thread(db.migrate, url)
    if command[0] == "serve":
        command = [*command, "--port", str(free_port())]
    result = await tableorder(url, *command, ENVIRONMENT="production", JWT_SECRET_KEY=STRONG_SECRET)
    assert result.returncode == 2, result.stdout + result.stderr
    assert "development" in result.stderr
    _no_traceback(result)
    assert await _fetchval(url, "SELECT count(*) FROM stores") == 0


# --- serve --------------------------------------------------------------------------------------------


async def test_serve_with_demo_migrates_seeds_and_answers(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_cli_serve")  # empty: serve migrates first
    port = free_port()
    process = await asyncio.to_thread(
        subprocess.Popen,
        [sys.executable, "-m", "tableorder", "serve", "--port", str(port), "--demo"],
        env=_env(url),
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        health = None
        async with httpx.AsyncClient(base_url=base, timeout=2) as http:
            while time.monotonic() < deadline:
                assert process.poll() is None, f"serve exited with {process.returncode}"
                try:
                    health = await http.get("/health")
                    break
                except httpx.TransportError:
                    await asyncio.sleep(0.2)
            assert health is not None, "serve did not answer within 60 s"
            assert health.status_code == 200
            assert health.json() == {"status": "ok"}
            assert (await http.get("/health/ready")).status_code == 200
            login = await http.post(
                "/api/v1/auth/table/login",
                json={"store_code": "demo", "table_number": 1, "password": DEMO_TABLE_PASSWORD},
            )
            assert login.status_code == 200, login.text
    finally:
        process.terminate()
        try:
            process.wait(15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    assert process.stdout is not None
    printed = process.stdout.read()
    assert "store_code=demo" in printed and f":{port}" in printed
    assert "(1 worker(s), reloading on code changes)" in printed  # development: one worker, reload
    assert (
        await _fetchval(
            url, "SELECT count(*) FROM tables t JOIN stores s ON s.id = t.store_id WHERE s.code = 'demo'"
        )
        == 12
    )
