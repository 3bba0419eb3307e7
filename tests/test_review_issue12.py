"""Defects a hostile review of issue 12 found (options, languages, staff calls, stations, moves),
each written as the behaviour it broke: what one table token can make a worker hold.

Real servers on a real PostgreSQL, over loopback.
"""

from __future__ import annotations

import asyncio
import itertools
import secrets
from typing import Any

import asyncpg
import httpx
from ops.bench.common import rss_kb

from tableorder import db
from tests.conftest import ServerProcess
from tests.helpers import Stores
from tests.sse import EventStream


async def test_language_headers_of_a_guest_do_not_pile_up_in_memory(database_url: str, pool: asyncpg.Pool) -> None:
    """GET /menu remembers how it parsed `?lang=` and Accept-Language (tablets send the same few again and
    again). A guest sending a new, large Accept-Language or `lang` with every request made a worker keep
    each one (1,024 of them: a gigabyte at 1 MB each, twice the container's memory). Long inputs are
    parsed each time and forgotten; they still choose the language as before."""
    with ServerProcess(database_url) as server:
        async with server.api() as client:
            store = await Stores(pool, client).create(tables=1, items=1)
            table = store.tables[1]
            assert (await client.patch("/admin/store", json={"languages": ["ko", "en"]},
                                       headers=store.admin)).status_code == 200
            for _ in range(20):
                assert (await client.get("/menu", headers=table.headers)).status_code == 200
            assert server.process is not None
            before = rss_kb(server.process.pid) / 1024
            filler = "x" * (256 * 1024)
            for n in range(200):
                # Half a megabyte of language preferences a request, different each time.
                headers = {**table.headers, "Accept-Language": f"{secrets.token_hex(8)}{filler}, en;q=0.5"}
                response = await client.get(f"/menu?lang={secrets.token_hex(8)}{filler[:60_000]}", headers=headers)
                assert response.status_code == 200, response.text
                assert response.json()["language"] == "en", n
            grown = rss_kb(server.process.pid) / 1024 - before
            assert grown < 40, f"the worker kept {grown:.0f} MB more after 200 guests' requests"
            # Short ones are answered as before.
            response = await client.get("/menu", headers={**table.headers, "Accept-Language": "en-US,ko;q=0.5"})
            assert response.json()["language"] == "en"
            response = await client.get("/menu?lang=ko", headers={**table.headers, "Accept-Language": "en"})
            assert response.json()["language"] == "ko"



async def test_a_guest_cycling_language_preferences_does_not_rebuild_the_menu(fresh_database: Any) -> None:
    """Each distinct list of preferred languages was a menu of its own in the cache, loaded from PostgreSQL
    on its own: 65 orders of ko, en, ja, zh for every store, all but four the same menu. A guest going
    round them (`?lang=en,ja`, `?lang=ja,en`, ...) made every request build the menu again once they no
    longer fitted, and pushed other stores' menus out. The cache knows the languages a store keeps once it
    read its menu: every request resolves to one of those, so a store's menu is built at most once per
    language it keeps."""
    url: str = await fresh_database()
    name = url.partition("?")[0].rsplit("/", 1)[1]
    admin = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        # Counts each call of menu_json (pg_stat_user_functions), which builds the tablet's menu.
        await admin.execute(f'ALTER DATABASE "{name}" SET track_functions = \'all\'')
    finally:
        await admin.close()
    db.migrate(url)
    pool = await db.create_pool(url, min_size=1, max_size=2, application_name="tableorder-tests")
    try:
        with ServerProcess(url) as server:
            async with server.api() as client:
                store = await Stores(pool, client).create(tables=1, items=3)
                table = store.tables[1]
                assert (await client.patch("/admin/store", json={"languages": ["ko", "en"]},
                                           headers=store.admin)).status_code == 200
                await asyncio.sleep(1)  # the change's menu.updated has reached the server's listener
                first = await client.get("/menu?lang=en", headers=table.headers)
                assert first.json()["language"] == "en"
                # Each of these resolves to ko or en, the languages the store keeps.
                asked = [",".join(p) for n in range(1, 4) for p in itertools.permutations(("ja", "zh", "ko"), n)]
                asked += [f"{p},en" for p in asked]
                for lang in asked * 2:
                    response = await client.get("/menu", headers={**table.headers, "Accept-Language": lang})
                    assert response.status_code == 200
                    expected = next((code for code in lang.split(",") if code in ("ko", "en")), "ko")
                    assert response.json()["language"] == expected, lang
        # The server's connections are closed: their statistics are written.
        await asyncio.sleep(0.5)
        async with pool.acquire() as conn:
            builds = await conn.fetchval(
                "SELECT coalesce(sum(calls), 0) FROM pg_stat_user_functions WHERE funcname = 'menu_json'")
    finally:
        await pool.close()
    # One build of the menu in en (the first request) and one in ko.
    assert builds <= 2, f"the menu was built {builds} times for {len(asked) * 2 + 1} requests in two languages"


async def test_a_table_stream_never_replays_a_call_of_a_party_that_left_without_ordering(
        server: ServerProcess, client: httpx.AsyncClient, stores: Stores) -> None:
    """A party may call staff before (or without) ordering, so no session of theirs closes when they leave:
    the next guest at the tablet resumed its stream from Last-Event-ID 0 and read their call with its note.
    A call resolved is where a table stream's resume may start, as a session closing is: a resume from
    before it is told to reload over REST (where a resolved call no longer shows)."""
    store = await stores.create(tables=2, items=1)
    table = store.tables[1]
    call = await client.post("/calls", json={"reason": "other", "note": "my number is 010-1234-5678"},
                             headers=table.headers)
    assert call.status_code == 201
    await client.post(f"/admin/calls/{call.json()['id']}/resolve", headers=store.admin)
    # The next guests at the table.
    assert (await client.get("/calls", headers=table.headers)).json() == []
    async with EventStream(server.url, "/api/v1/orders/stream", table.headers, last_event_id=0) as tablet:
        messages = await tablet.quiet(1.0)
    assert not any("010-1234-5678" in message.data for message in messages), messages
    assert [message.event for message in messages] == ["resync"]
    assert messages[0].json()["cause"] == "session_changed"
    # Their own call comes live, and a resume from after the resolve replays it.
    async with EventStream(server.url, "/api/v1/orders/stream", table.headers) as tablet:
        await tablet.quiet(0.3)
        mine = await client.post("/calls", json={"reason": "water"}, headers=table.headers)
        created = await tablet.next()
    assert (created.event, created.json()["id"]) == ("call.created", mine.json()["id"])
    async with EventStream(server.url, "/api/v1/orders/stream", table.headers,
                           last_event_id=(created.id or 0) - 1) as tablet:
        assert [m.event for m in await tablet.quiet(1.0)] == ["call.created"]
