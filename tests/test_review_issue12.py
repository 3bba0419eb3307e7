"""Defects a hostile review of issue 12 found (options, languages, staff calls, stations, moves),
each written as the behaviour it broke: what one table token can make a worker hold.

Real servers on a real PostgreSQL, over loopback.
"""

from __future__ import annotations

import secrets

import asyncpg
from ops.bench.common import rss_kb

from tests.conftest import ServerProcess
from tests.helpers import Stores


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

