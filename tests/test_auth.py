"""Logging in, login throttling (kept in PostgreSQL, so shared by every replica) and bearer tokens."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import AsyncIterator, Iterator
from http.cookiejar import DefaultCookiePolicy
from typing import Any

import asyncpg
import httpx
import jwt
import pytest
from ops.bench.common import rss_kb

from tableorder.events.housekeeping import prune
from tableorder.settings import DEVELOPMENT_JWT_SECRET, Settings, SettingsError
from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, TABLE_PASSWORD, Store, Stores, bearer, place

LIFETIME = 16 * 3600  # JWT_EXPIRATION_HOURS defaults to 16
OTHER_KEY = "an-entirely-different-secret-key-of-48-bytes-xxx"


@pytest.fixture(scope="module")
async def anon(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client that never keeps cookies (the shared `client` keeps the cookie of every admin login)."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30,
                                 limits=httpx.Limits(max_connections=50)) as anon:
        anon.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))  # never keeps a cookie
        yield anon


@pytest.fixture(scope="module")
def server_key(server: ServerProcess) -> str:
    """The key the test server signs with: the development key unless the environment sets another."""
    key = Settings.from_env(server.env).jwt_secret_key
    if not server.env.get("JWT_SECRET_KEY", "").strip():
        assert key == DEVELOPMENT_JWT_SECRET
    assert key != OTHER_KEY
    return key


def problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, (response.request.url, response.status_code, response.text)
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    return body


def forwarded_for(address: str | None) -> dict[str, str]:
    """The header nginx sets: the client's address, as the (trusted) proxy saw it."""
    return {"X-Forwarded-For": address} if address else {}


def admin_login(client: httpx.AsyncClient, code: str, password: str = ADMIN_PASSWORD,
                username: str = "admin", address: str | None = None) -> Any:
    return client.post("/auth/admin/login", headers=forwarded_for(address),
                       json={"store_code": code, "username": username, "password": password})


def table_login(client: httpx.AsyncClient, code: str, number: int = 1, password: str = TABLE_PASSWORD,
                address: str | None = None) -> Any:
    return client.post("/auth/table/login", headers=forwarded_for(address),
                       json={"store_code": code, "table_number": number, "password": password})


def claims_of(token: str) -> dict[str, Any]:
    claims: dict[str, Any] = jwt.decode(token, options={"verify_signature": False})
    return claims


def retry_after(response: httpx.Response) -> int:
    problem(response, 429)
    value = response.headers["retry-after"]
    assert value.isdigit(), value  # integer seconds, not an HTTP date
    seconds = int(value)
    assert seconds > 0
    assert f"{seconds} seconds" in response.json()["detail"]
    return seconds


# --- successful logins ---------------------------------------------------------------------------

async def test_admin_login(anon: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    response = await admin_login(anon, store.code)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == LIFETIME
    assert body["store"] == {"id": store.id, "code": store.code, "name": f"Store {store.code}"}
    claims = claims_of(body["access_token"])
    assert claims["kind"] == "admin" and claims["store_id"] == store.id
    assert claims["exp"] - claims["iat"] == LIFETIME
    assert abs(claims["iat"] - time.time()) < 60
    # The cookie for the browser's EventSource: HttpOnly, limited to the admin API.
    [set_cookie] = [c for c in response.headers.get_list("set-cookie") if c.startswith("tableorder_admin=")]
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip().partition("=")[2]
                  for part in set_cookie.split(";")}
    assert attributes["tableorder_admin"] == body["access_token"]
    assert "httponly" in attributes
    assert attributes["path"] == "/api/v1/admin"
    assert attributes["samesite"].lower() == "strict"
    tables = await anon.get("/admin/tables", headers=bearer(body["access_token"]))
    assert tables.status_code == 200
    assert sorted(t["id"] for t in tables.json()) == sorted(t.id for t in store.tables.values())


async def test_table_login(anon: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    response = await table_login(anon, store.code, 2)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["token_type"] == "bearer" and body["expires_in"] == LIFETIME
    assert body["store"] == {"id": store.id, "code": store.code, "name": f"Store {store.code}"}
    assert body["table"] == {"id": store.tables[2].id, "number": 2}
    assert not any(c.startswith("tableorder_admin=") for c in response.headers.get_list("set-cookie"))
    claims = claims_of(body["access_token"])
    assert claims["kind"] == "table" and claims["sub"] == str(store.tables[2].id)
    assert claims["exp"] - claims["iat"] == LIFETIME
    menu = await anon.get("/menu", headers=bearer(body["access_token"]))
    assert menu.status_code == 200 and menu.json()["store"]["id"] == store.id


# --- wrong credentials ---------------------------------------------------------------------------

async def test_every_wrong_credential_gets_the_same_401(anon: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    other = await stores.create()
    attempts = [
        admin_login(anon, store.code, password="wrong-password"),
        admin_login(anon, store.code, username="nobody"),
        admin_login(anon, "no-such-store-zz"),
        admin_login(anon, other.code, password=ADMIN_PASSWORD, username="someone-else"),
        table_login(anon, store.code, 1, password="wrong-password"),
        table_login(anon, store.code, 999),
        table_login(anon, "no-such-store-zz", 1),
        table_login(anon, store.code, 1, password=ADMIN_PASSWORD),  # the admin's password is not the table's
    ]
    responses = [await attempt for attempt in attempts]
    bodies = [problem(r, 401) for r in responses]
    # One answer whatever was wrong; only `instance` (each request's own id) differs.
    answers = {json.dumps({k: v for k, v in b.items() if k != "instance"}, sort_keys=True) for b in bodies}
    assert len(answers) == 1, bodies
    assert all("access_token" not in r.text for r in responses)
    assert all(not r.headers.get_list("set-cookie") for r in responses)


# --- throttling ----------------------------------------------------------------------------------
# A server of its own with small, round numbers: 2 free failures per (account, address), then locks
# of 100, 200, 400, 400... seconds; counts forgotten after 1000 s of quiet; 8 failures per store and
# kind per 1000 s, at most 2 of them from one address. Time passes by moving the store's throttling
# timestamps back (`fast_forward`), so no test sleeps and every Retry-After is far from a rounding edge.

FREE = 2
BACKOFF = 100
CAP = 400
WINDOW = 1000
STORE_MAX = 8
ADDRESS_MAX = 12  # across every store and account: on a server of its own (test servers have it off)
THROTTLE_ENV = {"LOGIN_MAX_FAILURES": str(FREE), "LOGIN_BACKOFF_SECONDS": str(BACKOFF),
                "LOGIN_LOCKOUT_SECONDS": str(CAP), "LOGIN_WINDOW_SECONDS": str(WINDOW),
                "LOGIN_STORE_MAX_FAILURES": str(STORE_MAX)}
ATTACKER = "203.0.113.66"
OWNER = "198.51.100.7"


@pytest.fixture(scope="module")
def throttled_server(database_url: str) -> Iterator[ServerProcess]:
    """Its peer is 127.0.0.1, a trusted proxy by default: X-Forwarded-For names the client."""
    with ServerProcess(database_url, env=THROTTLE_ENV) as server:
        yield server


@pytest.fixture(scope="module")
async def throttled(throttled_server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    async with throttled_server.api(limits=httpx.Limits(max_connections=50)) as client:
        client.cookies.jar.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        yield client


async def fast_forward(pool: asyncpg.Pool, code: str, seconds: float) -> None:
    """Let `seconds` pass for the throttling state of one store (every address, both kinds; the
    per-address ceiling across stores is off on the throttled server)."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute(
            "UPDATE login_attempts SET last_failure_at = last_failure_at - make_interval(secs => $2),"
            " locked_until = locked_until - make_interval(secs => $2),"
            " last_success_at = last_success_at - make_interval(secs => $2)"
            " WHERE split_part(key, ':', 2) = $1", code, float(seconds))
        for windows in ("login_store_failures", "login_store_address_failures"):
            await conn.execute(f"UPDATE {windows} SET window_started_at = window_started_at"
                               " - make_interval(secs => $2) WHERE store_code = $1", code, float(seconds))


def assert_locked_for(response: httpx.Response, seconds: int) -> int:
    """429 announcing a lock of `seconds`, set by a request that just finished (allowing a slow machine)."""
    announced = retry_after(response)
    assert seconds - 10 <= announced <= seconds, (announced, seconds)
    return announced


async def test_a_guesser_elsewhere_does_not_lock_the_real_admin_out(throttled: httpx.AsyncClient,
                                                                    stores: Stores) -> None:
    store = await stores.create()
    statuses = [(await admin_login(throttled, store.code, password=f"guess-{i}", address=ATTACKER)).status_code
                for i in range(10)]
    assert statuses[:FREE] == [401] * FREE and statuses[-1] == 429, statuses
    # The same account from the owner's address: a bucket of its own, untouched by the attacker.
    assert (await admin_login(throttled, store.code, address=OWNER)).status_code == 200
    # And the attacker stays locked, even with the right password.
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)


async def test_forwarded_for_counts_only_from_a_trusted_proxy(database_url: str, stores: Stores) -> None:
    """With the peer not in FORWARDED_ALLOW_IPS, X-Forwarded-For is the client's own claim: ignored,
    so a spoofed header buys no fresh bucket (every request here is the peer 127.0.0.1)."""
    store = await stores.create()
    server = await asyncio.to_thread(
        ServerProcess(database_url, env={**THROTTLE_ENV, "FORWARDED_ALLOW_IPS": "192.0.2.1"}).start)
    try:
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as direct:
            for i in range(FREE + 1):
                problem(await admin_login(direct, store.code, password="guess", address=f"203.0.113.{i + 1}"), 401)
            assert_locked_for(await admin_login(direct, store.code, address="203.0.113.99"), BACKOFF)
    finally:
        await asyncio.to_thread(server.stop)


async def test_an_ipv6_network_is_one_address(throttled: httpx.AsyncClient, stores: Stores) -> None:
    """One host holds a whole /64: rotating through it must not give a fresh bucket per guess."""
    store = await stores.create()
    for i in range(FREE + 1):
        problem(await table_login(throttled, store.code, 1, password="guess", address=f"2001:db8:1:2::{i + 1}"),
                401)
    assert_locked_for(await table_login(throttled, store.code, 1, address="2001:db8:1:2:ffff::9"), BACKOFF)
    assert (await table_login(throttled, store.code, 1, address="2001:db8:1:3::1")).status_code == 200


async def test_backoff_doubles_up_to_the_cap(throttled: httpx.AsyncClient, stores: Stores,
                                             pool: asyncpg.Pool) -> None:
    store = await stores.create()
    for _ in range(FREE):  # free failures: no lock at all
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    for lock in (BACKOFF, 2 * BACKOFF, 4 * BACKOFF, CAP, CAP):
        # Each failure past the free ones is checked, then locks the pair for twice as long as the last.
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
        assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), lock)
        await fast_forward(pool, store.code, lock)
    # The lock is over: the right password works, and clears the pair.
    assert (await admin_login(throttled, store.code, address=ATTACKER)).status_code == 200
    for _ in range(FREE + 1):
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)


async def test_attempts_during_a_lock_do_not_grow_it(throttled: httpx.AsyncClient, stores: Stores,
                                                     pool: asyncpg.Pool) -> None:
    store = await stores.create()
    for _ in range(FREE + 1):
        problem(await table_login(throttled, store.code, 2, password="guess", address=ATTACKER), 401)
    announced = [assert_locked_for(await table_login(throttled, store.code, 2, password=password,
                                                     address=ATTACKER), BACKOFF)
                 for password in ["guess"] * 10 + [TABLE_PASSWORD]]
    assert announced == sorted(announced, reverse=True), announced  # counting down, never extended
    await fast_forward(pool, store.code, BACKOFF)
    # The next failure is only the second lock (200 s): the eleven refused attempts were not counted.
    problem(await table_login(throttled, store.code, 2, password="guess", address=ATTACKER), 401)
    assert_locked_for(await table_login(throttled, store.code, 2, address=ATTACKER), 2 * BACKOFF)


async def test_counts_are_forgotten_after_a_quiet_window(throttled: httpx.AsyncClient, stores: Stores,
                                                         pool: asyncpg.Pool) -> None:
    store = await stores.create()
    for _ in range(FREE + 1):
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    await fast_forward(pool, store.code, BACKOFF)  # the lock ends, but the pair is not quiet yet
    problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), 2 * BACKOFF)
    await fast_forward(pool, store.code, 2 * BACKOFF + WINDOW)  # the lock ends, then a quiet window
    for _ in range(FREE):
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)


async def test_a_store_ceiling_across_addresses_spares_the_other_kind(throttled: httpx.AsyncClient,
                                                                      stores: Stores, pool: asyncpg.Pool) -> None:
    """Guests walking table PINs from many addresses: after STORE_MAX failures the store's table logins
    wait for the window, except from an address that logged that table in before; staff log in."""
    store = await stores.create()
    restaurant = "192.0.2.10"
    assert (await table_login(throttled, store.code, 2, address=restaurant)).status_code == 200
    for i in range(STORE_MAX):  # one guess per address and table: no pair comes near its own limit
        problem(await table_login(throttled, store.code, i % 3 + 1, password=f"{i:04d}",
                                  address=f"203.0.113.{i + 1}"), 401)
    for number, address in ((1, "203.0.113.200"), (2, "203.0.113.201"), (3, ATTACKER)):
        refused = await table_login(throttled, store.code, number, address=address)
        assert WINDOW - 10 <= retry_after(refused) <= WINDOW
    # The tablet's own address is known for its table: the ceiling does not apply to it.
    assert (await table_login(throttled, store.code, 2, address=restaurant)).status_code == 200
    # The other kind is counted on its own: staff log in from anywhere, and fail without tripping it.
    assert (await admin_login(throttled, store.code, address="203.0.113.202")).status_code == 200
    problem(await admin_login(throttled, store.code, password="guess", address="203.0.113.203"), 401)
    assert (await admin_login(throttled, store.code, address="203.0.113.204")).status_code == 200
    # Another store is not affected.
    other = await stores.create()
    assert (await table_login(throttled, other.code, 1, address="203.0.113.205")).status_code == 200
    await fast_forward(pool, store.code, WINDOW)  # the window rolls
    assert (await table_login(throttled, store.code, 1, address="203.0.113.206")).status_code == 200


async def test_one_address_cannot_trip_the_store_ceiling(throttled: httpx.AsyncClient, stores: Stores) -> None:
    """Guessers making up usernames and table numbers, one from an IPv4 address, one rotating through an
    IPv6 /64 (one address): each address counts at most FREE failures towards its store's ceiling per
    window, so the real admin and a new tablet still log in from addresses of their own."""
    store = await stores.create()
    for i in range(3 * STORE_MAX):
        attacker = ATTACKER if i % 2 else f"2001:db8:66:1::{i + 1}"
        for response in (await admin_login(throttled, store.code, username=f"made-up-{i}", address=attacker),
                         await table_login(throttled, store.code, 900 + i, address=attacker)):
            assert response.status_code in (401, 429), response.text
    for address in ("198.51.100.21", "2001:db8:5::1"):
        assert (await admin_login(throttled, store.code, address=address)).status_code == 200
        assert (await table_login(throttled, store.code, 1, address=address)).status_code == 200


async def test_the_store_ceiling_still_bounds_guessing_from_many_addresses(throttled: httpx.AsyncClient,
                                                                        stores: Stores) -> None:
    """STORE_MAX / FREE addresses trip it; what one of them fails beyond its share does not count."""
    store = await stores.create()
    guessers = [f"203.0.113.{i + 100}" for i in range(STORE_MAX // FREE)]
    for address in guessers[:-1]:
        for number in range(900, 900 + 3 * FREE):  # three times its share: only FREE of them count
            problem(await table_login(throttled, store.code, number, address=address), 401)
    assert (await table_login(throttled, store.code, 1, address="198.51.100.30")).status_code == 200
    for number in range(900, 900 + FREE):
        problem(await table_login(throttled, store.code, number, address=guessers[-1]), 401)
    refused = await table_login(throttled, store.code, 1, address="198.51.100.31")
    assert WINDOW - 10 <= retry_after(refused) <= WINDOW


async def test_unknown_accounts_lock_like_real_ones(throttled: httpx.AsyncClient, stores: Stores) -> None:
    """Otherwise the lockout itself would tell which usernames exist."""
    store = await stores.create()
    for _ in range(FREE + 1):
        problem(await admin_login(throttled, store.code, username="ghost", address=ATTACKER), 401)
    assert_locked_for(await admin_login(throttled, store.code, username="ghost", address=ATTACKER), BACKOFF)


async def test_a_successful_login_resets_the_count(throttled: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create()
    for _ in range(FREE):
        problem(await admin_login(throttled, store.code, password="guess", address=OWNER), 401)
    assert (await admin_login(throttled, store.code, address=OWNER)).status_code == 200
    # Without the reset, the first of these would already lock the pair.
    for _ in range(FREE):
        problem(await admin_login(throttled, store.code, password="guess", address=OWNER), 401)
    assert (await admin_login(throttled, store.code, address=OWNER)).status_code == 200


async def test_concurrent_guesses_cannot_slip_past_the_limits(throttled: httpx.AsyncClient,
                                                             stores: Stores) -> None:
    store = await stores.create()
    # From one address: the free failures and the one that sets the first lock, no more.
    responses = await asyncio.gather(*(admin_login(throttled, store.code, password=f"guess-{i}", address=ATTACKER)
                                       for i in range(20)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}, statuses
    assert 1 <= statuses.count(401) <= FREE + 1, statuses
    for response in responses:
        if response.status_code == 429:
            assert 0 < retry_after(response) <= BACKOFF
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)
    # From as many addresses: the store's ceiling for the kind, no more.
    responses = await asyncio.gather(*(table_login(throttled, store.code, 1, password=f"{i:04d}",
                                                   address=f"203.0.113.{i + 1}") for i in range(30)))
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {401, 429}, statuses
    assert statuses.count(401) == STORE_MAX, statuses
    for response in responses:
        if response.status_code == 429:
            assert WINDOW - 10 <= retry_after(response) <= WINDOW


async def test_one_address_gets_a_ceiling_across_every_store(database_url: str, stores: Stores,
                                                             pool: asyncpg.Pool) -> None:
    """Made-up store codes from one address: each still costs an argon2 verification (the timing must not
    tell which part was wrong), so an address gets ADDRESS_MAX failures per window across every store and
    account, even concurrently, then 429 before any password is checked, until the window ends. Other
    addresses, and accounts the address logged in before, are not affected."""
    store = await stores.create()
    prober = "198.18.0.1"
    env = {**THROTTLE_ENV, "LOGIN_ADDRESS_MAX_FAILURES": str(ADDRESS_MAX)}
    with ServerProcess(database_url, env=env) as server:
        async with server.api() as api:
            assert (await admin_login(api, store.code, address=prober)).status_code == 200
            responses = await asyncio.gather(*(admin_login(api, f"no-such-store-{i}", address=prober)
                                               for i in range(3 * ADDRESS_MAX)))
            statuses = [r.status_code for r in responses]
            assert statuses.count(401) == ADDRESS_MAX and statuses.count(429) == 2 * ADDRESS_MAX, statuses
            for response in responses:
                if response.status_code == 429:
                    assert WINDOW - 10 <= retry_after(response) <= WINDOW
            # Every store and kind, real accounts with the right password included.
            assert WINDOW - 10 <= retry_after(await table_login(api, store.code, 1, address=prober)) <= WINDOW
            # The account this address logged in before is exempt (the pair's own limits still hold).
            assert (await admin_login(api, store.code, address=prober)).status_code == 200
            assert (await table_login(api, store.code, 1, address="198.18.0.2")).status_code == 200
            await pool.execute("UPDATE login_address_failures SET window_started_at = window_started_at"
                               " - make_interval(secs => $2) WHERE address = $1", prober, float(WINDOW))
            await prune(pool, Settings.from_env(env))  # the window is over: its count goes
            assert not await pool.fetchval("SELECT count(*) FROM login_address_failures WHERE address = $1", prober)
            assert (await table_login(api, store.code, 1, address=prober)).status_code == 200


async def test_current_password_guesses_are_throttled_like_logins(throttled: httpx.AsyncClient, stores: Stores,
                                                                 pool: asyncpg.Pool) -> None:
    """A stolen admin token must not brute-force the password (and take the account over) through
    PUT /admin/password: its guesses count in the admin's login throttle, for the same address."""
    store = await stores.create()

    def change(current: str, new: str = "taken-over-1") -> Any:
        return throttled.put("/admin/password", headers={**store.admin, **forwarded_for(ATTACKER)},
                             json={"current_password": current, "new_password": new})

    for _ in range(FREE + 1):
        wrong = problem(await change("guess"), 422)
        assert [e["field"] for e in wrong["errors"]] == ["current_password"]
    assert_locked_for(await change(ADMIN_PASSWORD), BACKOFF)  # even the right one waits
    assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)  # the same pair
    assert (await admin_login(throttled, store.code, address=OWNER)).status_code == 200  # the owner elsewhere
    await fast_forward(pool, store.code, BACKOFF)
    assert (await change(ADMIN_PASSWORD, "changed-here-1")).status_code == 204
    # The right one cleared the pair, as a login does: FREE failures again before any lock.
    for _ in range(FREE):
        problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
    assert (await admin_login(throttled, store.code, password="changed-here-1", address=ATTACKER)).status_code == 200


async def test_throttling_is_shared_by_every_server(throttled: httpx.AsyncClient, stores: Stores,
                                                   database_url: str) -> None:
    store = await stores.create()
    second = await asyncio.to_thread(ServerProcess(database_url, env=THROTTLE_ENV).start)
    try:
        async with httpx.AsyncClient(base_url=f"{second.url}/api/v1", timeout=30) as other:
            assert (await table_login(other, store.code, 1)).status_code == 200  # the same data
            problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
            problem(await admin_login(other, store.code, password="guess", address=ATTACKER), 401)
            problem(await admin_login(throttled, store.code, password="guess", address=ATTACKER), 401)
            assert_locked_for(await admin_login(other, store.code, address=ATTACKER), BACKOFF)
            assert_locked_for(await admin_login(throttled, store.code, address=ATTACKER), BACKOFF)
    finally:
        await asyncio.to_thread(second.stop)


async def test_pruning_keeps_what_still_counts(throttled: httpx.AsyncClient, stores: Stores,
                                              pool: asyncpg.Pool) -> None:
    store = await stores.create()
    settings = Settings.from_env(THROTTLE_ENV)

    async def remaining() -> tuple[set[str], int, int]:
        addresses = {r["address"] for r in await pool.fetch(
            "SELECT address FROM login_attempts WHERE split_part(key, ':', 2) = $1", store.code)}
        windows = await pool.fetchval("SELECT count(*) FROM login_store_failures WHERE store_code = $1",
                                      store.code)
        shares = await pool.fetchval("SELECT count(*) FROM login_store_address_failures WHERE store_code = $1",
                                     store.code)
        return addresses, windows, shares

    assert (await table_login(throttled, store.code, 1, address=OWNER)).status_code == 200
    for _ in range(FREE + 1):
        problem(await table_login(throttled, store.code, 2, password="guess", address=ATTACKER), 401)
    await prune(pool, settings)
    # (Stores.create logged the admin and the tables in over loopback: both kinds have a window, and
    # each address that tried a kind has its share of that kind's window.)
    assert await remaining() == ({OWNER, ATTACKER, "127.0.0.1"}, 2, 4)
    assert_locked_for(await table_login(throttled, store.code, 2, address=ATTACKER), BACKOFF)
    await fast_forward(pool, store.code, BACKOFF + WINDOW)  # the lock ends, then a quiet window
    await prune(pool, settings)
    # The attacker's count and the store's window are spent; the owner's address stays known.
    assert await remaining() == ({OWNER, "127.0.0.1"}, 0, 0)


@pytest.mark.parametrize("value", ["10.0.0.0/33", "10.0.0.1/8", "nginx", "127.0.0.1, *", ""])
def test_forwarded_allow_ips_must_be_addresses_or_networks(value: str) -> None:
    """uvicorn would take a typo for a host name that never matches, and silently distrust the proxy."""
    if value:
        with pytest.raises(SettingsError, match="FORWARDED_ALLOW_IPS"):
            Settings.from_env({"FORWARDED_ALLOW_IPS": value})
    else:
        assert Settings.from_env({"FORWARDED_ALLOW_IPS": value}).forwarded_allow_ips == "127.0.0.1,::1"
    for good in ("*", "172.18.0.0/16", "127.0.0.1, ::1, 10.1.2.3", "fd00::/8"):
        assert Settings.from_env({"FORWARDED_ALLOW_IPS": good}).forwarded_allow_ips == good


@pytest.mark.parametrize(("env", "refused"), [
    ({"LOGIN_ADDRESS_MAX_FAILURES": "0"}, "LOGIN_ADDRESS_MAX_FAILURES"),
    # One address would trip the store's ceiling with its share alone.
    ({"LOGIN_MAX_FAILURES": "5", "LOGIN_STORE_MAX_FAILURES": "5"}, "LOGIN_STORE_MAX_FAILURES"),
])
def test_login_ceilings_are_checked_at_start(env: dict[str, str], refused: str) -> None:
    with pytest.raises(SettingsError, match=refused):
        Settings.from_env(env)
    defaults = Settings.from_env({})
    assert (defaults.login_max_failures, defaults.login_store_max_failures, defaults.login_address_max_failures) \
        == (5, 30, 50)


# --- tokens --------------------------------------------------------------------------------------

def b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


async def test_missing_token_is_401(anon: httpx.AsyncClient) -> None:
    for path in ("/admin/orders", "/admin/tables", "/orders", "/menu"):
        response = await anon.get(path)
        problem(response, 401)
        assert response.headers["www-authenticate"].lower().startswith("bearer")


@pytest.mark.parametrize("make_header", [
    lambda token: f"Token {token}",
    lambda token: f"Basic {token}",
    lambda token: token,
    lambda token: "Bearer",
    lambda token: f"Bearer {token} {token}",
    lambda token: "Bearer garbage",
    lambda token: "Bearer a.b.c",
    lambda token: f"Bearer {token}x",
    lambda token: f"Bearer {token[:-4]}",
    lambda token: f"Bearer {token.rsplit('.', 1)[0]}.",
], ids=["Token scheme", "Basic scheme", "no scheme", "Bearer alone", "two tokens", "garbage", "a.b.c",
        "extra char", "cut signature", "no signature"])
async def test_malformed_authorization_is_401(anon: httpx.AsyncClient, stores: Stores,
                                              make_header: Any) -> None:
    store = await stores.create()
    for path, token in (("/admin/orders", store.admin_token), ("/orders", store.tables[1].token)):
        assert (await anon.get(path, headers=bearer(token))).status_code == 200  # the token itself is fine
        response = await anon.get(path, headers={"Authorization": make_header(token)})
        problem(response, 401)


@pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")  # HS512 with the HS256 key
async def test_forged_tokens_are_401(anon: httpx.AsyncClient, stores: Stores, server_key: str) -> None:
    store = await stores.create()
    claims = claims_of(store.admin_token)
    # The same claims signed with the server's key work, so only the forgery is refused below.
    genuine = jwt.encode(claims, server_key, algorithm="HS256")
    assert (await anon.get("/admin/orders", headers=bearer(genuine))).status_code == 200
    header, payload, signature = store.admin_token.split(".")
    forgeries = {
        "other key": jwt.encode(claims, OTHER_KEY, algorithm="HS256"),
        "other algorithm": jwt.encode(claims, server_key, algorithm="HS512"),
        "alg none": f"{b64({'alg': 'none', 'typ': 'JWT'})}.{payload}.",
        "edited store": f"{header}.{b64({**claims, 'store_id': claims['store_id'] + 1})}.{signature}",
        "no exp": jwt.encode({k: v for k, v in claims.items() if k != "exp"}, server_key, algorithm="HS256"),
        "no sub": jwt.encode({k: v for k, v in claims.items() if k != "sub"}, server_key, algorithm="HS256"),
    }
    for name, token in forgeries.items():
        response = await anon.get("/admin/orders", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        problem(response, 401)


async def test_expired_token_is_401(anon: httpx.AsyncClient, stores: Stores, server_key: str) -> None:
    store = await stores.create()
    now = int(time.time())
    for token, path in ((store.admin_token, "/admin/orders"), (store.tables[1].token, "/orders")):
        claims = claims_of(token)
        fresh = jwt.encode({**claims, "iat": now - 60, "exp": now + 600}, server_key, algorithm="HS256")
        assert (await anon.get(path, headers=bearer(fresh))).status_code == 200
        expired = jwt.encode({**claims, "iat": now - LIFETIME - 60, "exp": now - 60}, server_key,
                             algorithm="HS256")
        problem(await anon.get(path, headers=bearer(expired)), 401)


async def test_table_token_promoted_to_admin_with_a_wrong_key_is_401(anon: httpx.AsyncClient,
                                                                     stores: Stores) -> None:
    store = await stores.create()
    claims = claims_of(store.tables[1].token)
    promoted = jwt.encode({**claims, "kind": "admin"}, OTHER_KEY, algorithm="HS256")
    for method, path in (("GET", "/admin/orders"), ("GET", "/admin/tables"), ("POST", "/admin/categories")):
        response = await anon.request(method, path, headers=bearer(promoted), json={"name": "x"})
        problem(response, 401)  # not 403: the signature is checked before the kind
    # The genuine table token is still only a table token.
    problem(await anon.get("/admin/orders", headers=store.tables[1].headers), 403)


# --- the admin cookie ----------------------------------------------------------------------------

STATE = """
SELECT (SELECT count(*) FROM tables WHERE store_id = $1) AS tables,
       (SELECT count(*) FROM menu_categories WHERE store_id = $1) AS categories,
       (SELECT count(*) FROM menu_items WHERE store_id = $1) AS items,
       (SELECT string_agg(password_hash, ',' ORDER BY id) FROM tables WHERE store_id = $1) AS hashes
"""


@pytest.fixture
async def browser(server: ServerProcess) -> AsyncIterator[httpx.AsyncClient]:
    """A client of its own, standing in for the admin's browser and its cookie jar."""
    async with httpx.AsyncClient(base_url=f"{server.url}/api/v1", timeout=30) as browser:
        yield browser


async def test_admin_cookie_opens_the_stream_and_nothing_else(browser: httpx.AsyncClient, stores: Stores,
                                                   pool: asyncpg.Pool) -> None:
    store: Store = await stores.create()
    order = (await place(browser, store.tables[1], [(store.item_ids()[0], 1)])).json()
    login = await admin_login(browser, store.code)
    assert login.status_code == 200 and browser.cookies.get("tableorder_admin")

    # No Authorization header, the cookie alone: the staff's stream (a browser's EventSource) opens,
    # and nothing else reads or writes with it.
    async with browser.stream("GET", "/admin/orders/stream", headers={"Last-Event-ID": "0"}) as stream:
        assert stream.status_code == 200
        event = None
        async for line in stream.aiter_lines():
            event = line.removeprefix("event:").strip() if line.startswith("event:") else event
            if line.startswith("data:") and event == "order.created":
                assert json.loads(line.removeprefix("data:"))["id"] == order["id"]
                break
    for path in ("/admin/orders", "/admin/tables"):
        assert (await browser.get(path)).status_code == 401, path

    item = store.item_ids()[1]
    writes = [
        ("POST", "/admin/tables", {"number": 40, "password": "pass-40"}),
        ("POST", "/admin/categories", {"name": "Via cookie"}),
        ("POST", "/admin/menu-items", {"category_id": store.category_id, "name": "Via cookie", "price": 1}),
        ("PATCH", f"/admin/orders/{order['id']}", {"status": "preparing"}),
        ("PATCH", f"/admin/menu-items/{item}", {"price": 1}),
        ("PATCH", f"/admin/tables/{store.tables[2].id}", {"password": "stolen-pass"}),
        ("DELETE", f"/admin/orders/{order['id']}", None),
        ("DELETE", f"/admin/menu-items/{item}", None),
        ("DELETE", f"/admin/tables/{store.tables[3].id}", None),
        ("POST", f"/admin/tables/{store.tables[1].id}/close-session", None),
    ]
    before = await pool.fetchrow(STATE, store.id)
    for method, path, body in writes:
        response = await browser.request(method, path, json=body)
        assert response.status_code == 401, (method, path, response.text)
        problem(response, 401)
    after = await pool.fetchrow(STATE, store.id)
    assert dict(after) == dict(before)
    staff = bearer(login.json()["access_token"])
    still = (await browser.get("/admin/orders", headers=staff)).json()["items"]
    assert [(o["id"], o["status"]) for o in still] == [(order["id"], "pending")]
    items = {i["id"]: i["price"] for i in (await browser.get("/admin/menu-items", headers=staff)).json()}
    assert items[item] == store.items[item][1]
    tables = (await browser.get("/admin/tables", headers=staff)).json()
    assert next(t for t in tables if t["id"] == store.tables[1].id)["session"] is not None
    # With the bearer header, the same writes are allowed: the cookie alone is what is refused.
    moved = await browser.patch(f"/admin/orders/{order['id']}", json={"status": "preparing"},
                                headers=bearer(login.json()["access_token"]))
    assert moved.status_code == 200


async def test_a_burst_of_logins_gives_its_hashing_memory_back(database_url: str, stores: Stores) -> None:
    """argon2 takes 19 MiB per hash; glibc kept those blocks in its per-thread arenas once freed."""
    store = await stores.create(tables=12)
    server = ServerProcess(database_url).start()
    try:
        async with httpx.AsyncClient(base_url=server.url + "/api/v1", timeout=30) as client:
            async def login(number: int) -> int:
                response = await client.post("/auth/table/login", json={
                    "store_code": store.code, "table_number": number, "password": TABLE_PASSWORD})
                return response.status_code

            assert await login(1) == 200
            before = rss_kb(server.process.pid) / 1024  # type: ignore[union-attr]
            for _ in range(2):
                assert await asyncio.gather(*(login(n) for n in range(1, 13))) == [200] * 12
            grown = rss_kb(server.process.pid) / 1024 - before  # type: ignore[union-attr]
    finally:
        server.stop()
    # Measured: 0.4 MB with the fixed threshold, 19.4 MB without it (one 19 MiB block kept even
    # with hashing limited to two threads; about 380 MB with a thread per login).
    assert grown < 10, f"RSS grew by {grown:.1f} MB over 24 logins"
