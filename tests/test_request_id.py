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


# GET /menu answers a kept menu before the framework (menu.controller.serve_cached_menu): the same
# guarantees must hold there, and every other case must fall through to the application's answer.

async def test_the_cached_menu_echoes_or_makes_an_id_on_200_and_304(client: httpx.AsyncClient,
                                                                    stores: Stores) -> None:
    store = await stores.create(tables=1, items=2)
    headers = {**store.tables[1].headers, "Accept-Language": "en-US,en;q=0.9,ko;q=0.8"}
    first = await client.get("/menu", headers=headers)  # read from the database, then kept
    assert first.status_code == 200
    given = await client.get("/menu", headers={**headers, "X-Request-ID": "tablet-4.17"})
    assert given.status_code == 200 and given.headers["X-Request-ID"] == "tablet-4.17"
    assert given.content == first.content
    # The kept answer says what the first said, header for header, but for its own id (and the time).
    assert [(k, v) for k, v in given.headers.multi_items() if k not in {"x-request-id", "date"}] == \
        [(k, v) for k, v in first.headers.multi_items() if k not in {"x-request-id", "date"}]

    made = [await client.get("/menu", headers=headers) for _ in range(2)]
    ids = [response.headers["X-Request-ID"] for response in made]
    assert all(re.fullmatch(r"[0-9a-f]{13,}", made_id) for made_id in ids) and len(set(ids)) == 2

    unsafe = await client.get("/menu", headers={**headers, "X-Request-ID": "has spaces"})
    assert unsafe.status_code == 200 and re.fullmatch(r"[0-9a-f]{13,}", unsafe.headers["X-Request-ID"])

    etag = first.headers["ETag"]
    for if_none_match in (etag, f'W/{etag}', f'"other", {etag}'):
        not_modified = await client.get("/menu", headers={**headers, "If-None-Match": if_none_match,
                                                          "X-Request-ID": "tablet-4.18"})
        assert not_modified.status_code == 304 and not_modified.content == b""
        assert not_modified.headers["X-Request-ID"] == "tablet-4.18" and not_modified.headers["ETag"] == etag
        assert not_modified.headers["Vary"] == "Accept-Language"


async def test_a_refused_menu_request_is_a_problem_with_its_id(client: httpx.AsyncClient, stores: Stores) -> None:
    store = await stores.create(tables=2, items=1)
    table = store.tables[1].headers
    assert (await client.get("/menu", headers=table)).status_code == 200  # the menu is kept
    for headers, status in (({}, 401), ({"Authorization": "Bearer not-a-token"}, 401),
                            ({"Authorization": "Basic eDp5"}, 401), (store.admin, 403)):
        refused = await client.get("/menu", headers={**headers, "X-Request-ID": f"refused-{status}"})
        assert refused.status_code == status, refused.text
        assert refused.headers["X-Request-ID"] == f"refused-{status}"
        assert refused.json()["instance"] == f"urn:tableorder:request:refused-{status}"
    # A token that held a moment ago (its answer kept too) and was logged out.
    assert (await client.post("/auth/logout", headers=table)).status_code == 204
    gone = await client.get("/menu", headers={**table, "X-Request-ID": "logged-out"})
    assert gone.status_code == 401 and gone.json()["instance"] == "urn:tableorder:request:logged-out"
    assert (await client.get("/menu", headers=store.tables[2].headers)).status_code == 200


async def test_a_menu_request_with_a_bad_host_is_refused_with_its_id(client: httpx.AsyncClient,
                                                                    stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    assert (await client.get("/menu", headers=store.tables[1].headers)).status_code == 200
    refused = await client.get("/menu", headers={**store.tables[1].headers, "Host": "bad host",
                                                 "X-Request-ID": "bad-host"})
    assert refused.status_code == 400 and refused.headers["X-Request-ID"] == "bad-host"
    assert refused.json()["instance"] == "urn:tableorder:request:bad-host"


async def test_the_cached_menu_logs_its_id_and_keeps_cors(database_url: str, stores: Stores) -> None:
    store = await stores.create(tables=1, items=1)
    origin = "http://tablet.example"
    with ServerProcess(database_url, env={"LOG_LEVEL": "INFO", "CORS_ORIGINS": origin}, capture_output=True,
                       access_log=True) as server:
        async with httpx.AsyncClient(base_url=f"{server.url}/api/v1") as raw:
            headers = store.tables[1].headers
            for n in range(3):  # the first is read from the database, the others are kept
                assert (await raw.get("/menu", headers={**headers, "X-Request-ID": f"menu-{n}"})).status_code == 200
            etag = (await raw.get("/menu", headers=headers)).headers["ETag"]
            cross = await raw.get("/menu", headers={**headers, "Origin": origin, "If-None-Match": etag,
                                                    "X-Request-ID": "menu-cors"})
        output = server.output()
    assert cross.status_code == 304 and cross.headers["X-Request-ID"] == "menu-cors"
    assert cross.headers["Access-Control-Allow-Origin"] == origin
    lines = [line for line in output.splitlines() if "/api/v1/menu" in line]
    for request_id in ("menu-0", "menu-1", "menu-2", "menu-cors"):
        assert sum(f"request_id={request_id}" in line for line in lines) == 1, output[-2000:]
