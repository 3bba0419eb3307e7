"""X-Request-ID: accepted or made, echoed, logged, and the `instance` of every problem."""

from __future__ import annotations

import re

import httpx

from tests.conftest import ServerProcess
from tests.helpers import Stores

INSTANCE = re.compile(r"urn:tableorder:request:([0-9a-f]{13,})")


async def test_a_given_request_id_is_echoed_and_names_the_problem(client: httpx.AsyncClient,
                                                                 stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    ok = await client.get("/menu", headers={**store.tables[1].headers, "X-Request-ID": "pos-7f3a.42:1"})
    assert ok.status_code == 200 and ok.headers["X-Request-ID"] == "pos-7f3a.42:1"

    problem = await client.get("/admin/orders/999999999", headers={**store.admin, "X-Request-ID": "pos-2"})
    assert problem.status_code == 404 and problem.headers["X-Request-ID"] == "pos-2"
    assert problem.json()["instance"] == "urn:tableorder:request:pos-2"


async def test_a_missing_or_unsafe_request_id_is_replaced(client: httpx.AsyncClient) -> None:
    for given in (None, "has spaces in it", "x" * 129, "new\u00e9line"):
        headers = {"X-Request-ID": given.encode("utf-8")} if given is not None else {}
        response = await client.post("/auth/admin/login", json={}, headers=headers)  # type: ignore[arg-type]
        assert response.status_code == 422
        made = INSTANCE.fullmatch(response.json()["instance"])
        assert made is not None, response.json()
        assert response.headers["X-Request-ID"] == made.group(1)


async def test_routes_that_do_not_exist_get_an_id_too(server: ServerProcess) -> None:
    async with httpx.AsyncClient(base_url=server.url) as raw:
        missing = await raw.get("/api/v1/no-such-thing", headers={"X-Request-ID": "lost-1"})
        wrong_method = await raw.put("/health", headers={"X-Request-ID": "lost-2"})
    assert missing.status_code == 404 and missing.json()["instance"] == "urn:tableorder:request:lost-1"
    assert wrong_method.status_code == 405 and wrong_method.json()["instance"] == "urn:tableorder:request:lost-2"
    assert missing.headers["X-Request-ID"] == "lost-1"


async def test_the_request_id_is_on_the_log_lines_of_its_request(database_url: str) -> None:
    with ServerProcess(database_url, env={"LOG_LEVEL": "INFO"}, capture_output=True,
                       access_log=True) as server:
        async with httpx.AsyncClient(base_url=server.url) as raw:
            await raw.post("/api/v1/auth/table/login", content=b"[" * 2000,
                           headers={"Content-Type": "application/json", "X-Request-ID": "trace-me-9"})
        output = server.output()
    # the service's own line about the body, and the access log's line of the request
    lines = [line for line in output.splitlines() if "/api/v1/auth/table/login" in line]
    assert len(lines) == 2 and all("request_id=trace-me-9" in line for line in lines), output[-2000:]
