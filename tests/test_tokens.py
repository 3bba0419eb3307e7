"""A token dies with its credentials (issue 9, point 4): password changes, deleted tables and
admins, forged subjects, logout; across replicas; and open streams end with their token."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import jwt
import pytest

from tableorder.settings import DEVELOPMENT_JWT_SECRET
from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, Stores, bearer
from tests.sse import EventStream
from tests.test_cli import tableorder


@pytest.fixture(scope="module")
def replica_a(database_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(database_url) as server:
        yield server


@pytest.fixture(scope="module")
def replica_b(database_url: str) -> Iterator[ServerProcess]:
    with ServerProcess(database_url) as server:
        yield server


@pytest.fixture(scope="module")
async def via_a(replica_a: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with replica_a.api() as client:
        yield client


@pytest.fixture(scope="module")
async def via_b(replica_b: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with replica_b.api() as client:
        yield client


async def status_soon(client: httpx.AsyncClient, path: str, headers: dict[str, str], expected: int,
                      within: float = 3.0) -> int:
    """The status of `path`, polled until it is `expected` or `within` seconds have passed (another
    replica learns of a change through the database's notifications, not instantly)."""
    deadline = time.monotonic() + within
    while True:
        status = (await client.get(path, headers=headers)).status_code
        if status == expected or time.monotonic() > deadline:
            return status
        await asyncio.sleep(0.05)


def forged(kind: str, store_id: int, subject_id: int, **extra: object) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": str(subject_id), "kind": kind, "store_id": store_id, "iat": now, "exp": now + 3600,
              "ver": 1, "jti": "0b5c7f8e-6a51-4c1e-9d0e-2f6f2a7d9a11", **extra}
    return bearer(jwt.encode(claims, DEVELOPMENT_JWT_SECRET, algorithm="HS256"))


async def test_a_table_password_change_ends_its_tokens_on_every_replica(
        via_a: httpx.AsyncClient, via_b: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[1]
    assert (await via_b.get("/menu", headers=table.headers)).status_code == 200  # cached as valid on B
    changed = await via_a.patch(f"/admin/tables/{table.id}", headers=store.admin, json={"password": "new-pin-9"})
    assert changed.status_code == 200
    assert (await via_a.get("/orders", headers=table.headers)).status_code == 401
    assert await status_soon(via_b, "/menu", table.headers, 401) == 401
    relogin = await via_b.post("/auth/table/login", json={
        "store_code": store.code, "table_number": table.number, "password": "new-pin-9"})
    assert relogin.status_code == 200
    assert (await via_b.get("/menu", headers=bearer(relogin.json()["access_token"]))).status_code == 200
    # The other tables' tokens are untouched.
    assert (await via_b.get("/menu", headers=store.tables[2].headers)).status_code == 200


async def test_a_deleted_tables_token_is_dead(via_a: httpx.AsyncClient, via_b: httpx.AsyncClient,
                                              stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[3]
    assert (await via_b.get("/orders", headers=table.headers)).status_code == 200
    assert (await via_a.delete(f"/admin/tables/{table.id}", headers=store.admin)).status_code == 204
    assert (await via_a.get("/orders", headers=table.headers)).status_code == 401
    assert await status_soon(via_b, "/orders", table.headers, 401) == 401


async def test_a_deleted_admins_token_is_dead(via_b: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    assert (await via_b.get("/admin/tables", headers=store.admin)).status_code == 200
    await pool.execute("DELETE FROM admins WHERE store_id = $1", store.id)
    assert await status_soon(via_b, "/admin/tables", store.admin, 401) == 401


async def test_a_validly_signed_token_for_no_such_subject_is_refused(via_a: httpx.AsyncClient, stores: Stores) -> None:
    store, other = await stores.create(), await stores.create()
    response = await via_a.get("/admin/tables", headers=forged("admin", store.id, 10**12))
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    assert (await via_a.get("/menu", headers=forged("table", store.id, 10**12))).status_code == 401
    # A real table of another store, presented as this store's: no such subject here.
    assert (await via_a.get("/menu", headers=forged("table", store.id, other.tables[1].id))).status_code == 401
    # A token from before credential versions (no `ver`) is not accepted either.
    now = int(time.time())
    legacy = bearer(jwt.encode({"sub": str(store.tables[1].id), "kind": "table", "store_id": store.id,
                                "iat": now, "exp": now + 3600}, DEVELOPMENT_JWT_SECRET, algorithm="HS256"))
    assert (await via_a.get("/menu", headers=legacy)).status_code == 401


async def test_logout_ends_that_token_only(via_a: httpx.AsyncClient, via_b: httpx.AsyncClient,
                                           stores: Stores) -> None:
    store = await stores.create()
    other_session = bearer(await stores.login_admin(store.code))
    assert (await via_b.get("/admin/tables", headers=store.admin)).status_code == 200
    out = await via_a.post("/auth/logout", headers=store.admin)
    assert out.status_code == 204
    assert "tableorder_admin=" in out.headers.get("set-cookie", "")  # the cookie is cleared too
    assert (await via_a.get("/admin/tables", headers=store.admin)).status_code == 401
    assert await status_soon(via_b, "/admin/tables", store.admin, 401) == 401
    assert (await via_b.get("/admin/tables", headers=other_session)).status_code == 200
    # A tablet can log out too; logging out twice is harmless; no token is 401.
    table = store.tables[1]
    assert (await via_a.post("/auth/logout", headers=table.headers)).status_code == 204
    assert (await via_a.get("/menu", headers=table.headers)).status_code == 401
    assert (await via_a.post("/auth/logout")).status_code == 401


async def test_an_admin_password_change_ends_the_admins_other_tokens(
        via_a: httpx.AsyncClient, via_b: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    elsewhere = bearer(await stores.login_admin(store.code))
    assert (await via_b.get("/admin/tables", headers=elsewhere)).status_code == 200
    wrong = await via_a.put("/admin/password", headers=store.admin,
                            json={"current_password": "not-it", "new_password": "a-new-admin-pass"})
    assert wrong.status_code == 422
    assert [e["field"] for e in wrong.json()["errors"]] == ["current_password"]
    assert (await via_b.get("/admin/tables", headers=elsewhere)).status_code == 200  # nothing changed
    changed = await via_a.put("/admin/password", headers=store.admin,
                              json={"current_password": ADMIN_PASSWORD, "new_password": "a-new-admin-pass"})
    assert changed.status_code == 204
    assert await status_soon(via_b, "/admin/tables", elsewhere, 401) == 401
    # The token that made the change goes on, on both replicas.
    assert (await via_a.get("/admin/tables", headers=store.admin)).status_code == 200
    assert (await via_b.get("/admin/tables", headers=store.admin)).status_code == 200
    old = await via_a.post("/auth/admin/login", json={
        "store_code": store.code, "username": "admin", "password": ADMIN_PASSWORD})
    assert old.status_code == 401
    new = await via_a.post("/auth/admin/login", json={
        "store_code": store.code, "username": "admin", "password": "a-new-admin-pass"})
    assert new.status_code == 200
    too_short = await via_a.put("/admin/password", headers=store.admin,
                                json={"current_password": "a-new-admin-pass", "new_password": "short"})
    assert too_short.status_code == 422


async def test_an_open_stream_ends_with_its_token(replica_b: ServerProcess, via_a: httpx.AsyncClient,
                                                 stores: Stores) -> None:
    store = await stores.create()
    table = store.tables[1]
    async with EventStream(replica_b.url, "/api/v1/orders/stream", table.headers) as tablet:
        assert tablet.status == 200
        await via_a.patch(f"/admin/tables/{table.id}", headers=store.admin, json={"password": "another-pin"})
        await asyncio.wait_for(tablet.ended.wait(), 5)


async def test_cli_set_admin_password_ends_every_token(database_url: str, via_a: httpx.AsyncClient,
                                                      stores: Stores) -> None:
    store = await stores.create()
    assert (await via_a.get("/admin/tables", headers=store.admin)).status_code == 200
    result = await tableorder(database_url, "set-admin-password", "--store", store.code, "--username", "admin",
                              "--password", "set-by-the-owner-1")
    assert result.returncode == 0, result.stderr
    assert "admin" in result.stdout
    assert await status_soon(via_a, "/admin/tables", store.admin, 401) == 401
    login = await via_a.post("/auth/admin/login", json={
        "store_code": store.code, "username": "admin", "password": "set-by-the-owner-1"})
    assert login.status_code == 200
    unknown = await tableorder(database_url, "set-admin-password", "--store", store.code, "--username", "nobody",
                               "--password", "whatever-123")
    assert unknown.returncode == 1 and "no admin" in unknown.stderr


async def test_an_open_stream_ends_when_its_token_expires(database_url: str, stores: Stores) -> None:
    store = await stores.create()
    with ServerProcess(database_url, env={"JWT_EXPIRATION_HOURS": "0.001"}) as short_lived:  # 3.6 s
        async with short_lived.api() as api:
            login = await api.post("/auth/table/login", json={
                "store_code": store.code, "table_number": 1, "password": "table-pass"})
            token = login.json()["access_token"]
            async with EventStream(short_lived.url, "/api/v1/orders/stream", bearer(token)) as tablet:
                assert tablet.status == 200
                await asyncio.wait_for(tablet.ended.wait(), 10)
            assert (await api.get("/orders", headers=bearer(token))).status_code == 401


async def test_a_logout_while_a_replicas_listener_is_away_still_ends_its_streams(
        replica_b: ServerProcess, via_a: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    table = store.tables[1]
    async with EventStream(replica_b.url, "/api/v1/orders/stream", table.headers) as tablet:
        assert tablet.status == 200
        # B's listener goes away; the logout's notification is sent while nobody on B listens.
        await pool.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                           "WHERE application_name LIKE 'tableorder-listener-%'")
        assert (await via_a.post("/auth/logout", headers=table.headers)).status_code == 204
        await asyncio.wait_for(tablet.ended.wait(), 15)


async def test_a_password_changed_in_sql_ends_the_token_that_changed_it_before(
        via_a: httpx.AsyncClient, stores: Stores, pool: asyncpg.Pool) -> None:
    store = await stores.create()
    changed = await via_a.put("/admin/password", headers=store.admin,
                              json={"current_password": ADMIN_PASSWORD, "new_password": "changed-once-1"})
    assert changed.status_code == 204
    assert (await via_a.get("/admin/tables", headers=store.admin)).status_code == 200
    again = await via_a.put("/admin/password", headers=store.admin,
                            json={"current_password": "changed-once-1", "new_password": "changed-twice-2"})
    assert again.status_code == 204
    assert (await via_a.get("/admin/tables", headers=store.admin)).status_code == 200  # still the kept one
    await pool.execute("UPDATE admins SET password_hash = 'reset-by-the-owner' WHERE store_id = $1", store.id)
    assert await status_soon(via_a, "/admin/tables", store.admin, 401) == 401

