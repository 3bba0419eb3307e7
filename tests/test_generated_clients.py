"""Clients generated from the live OpenAPI document drive the API end to end, as a POS vendor's would.

For each of Python (openapi-python-client, the script checked by mypy --strict) and TypeScript
(@hey-api/openapi-ts with its fetch client, checked and compiled by tsc --strict, run by node), a
script in tests/clients/ signs in with an API key that staff created, manages the menu, orders at a
table (its own sign-in, the menu with its ETag, an Idempotency-Key retry), moves the order with the
key and reads the store's event feed from the start, each frame decoded into the generated model of
its event type. The script fails on the first value that differs from what the API promises; this
test then checks what it reports against the server over plain HTTP.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.clients import (
    HERE,
    NODE_ENV,
    generate_python_client,
    generate_typescript_client,
    node_binary,
    type_check_python,
)
from tests.conftest import ServerProcess
from tests.helpers import TABLE_PASSWORD, Store, Stores

# What the scripts' key may do: everything they need, and not the tables scope (they check the 403).
SCOPES = ["menu:read", "menu:write", "orders:read", "orders:write", "events:read"]
TABLE_NUMBER = 2
SCRIPT_TIMEOUT = 90


async def create_key(client: httpx.AsyncClient, store: Store) -> dict[str, Any]:
    """An API key made by staff (admin token) over plain HTTP: the scripts get only its secret."""
    response = await client.post("/admin/api-keys", json={"name": "POS end to end", "scopes": SCOPES},
                                 headers=store.admin)
    assert response.status_code == 201, response.text
    key: dict[str, Any] = response.json()
    assert key["secret"].startswith("tok_") and sorted(key["scopes"]) == sorted(SCOPES)
    return key


def run_script(command: list[str | Path], server: ServerProcess, store: Store, secret: str,
               env: dict[str, str]) -> dict[str, Any]:
    """Runs an end-to-end script; its output is the failure message. Returns its RESULT summary."""
    result = subprocess.run(
        [str(part) for part in command], capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, check=False,
        env={**env, "TABLEORDER_BASE_URL": server.url, "TABLEORDER_API_KEY": secret,
             "TABLEORDER_STORE_CODE": store.code, "TABLEORDER_TABLE_NUMBER": str(TABLE_NUMBER),
             "TABLEORDER_TABLE_PASSWORD": TABLE_PASSWORD})
    output = f"--- stdout\n{result.stdout}--- stderr\n{result.stderr}"
    if result.returncode != 0:
        pytest.fail(f"{command[-1]} exited with {result.returncode}\n{output}", pytrace=False)
    print(output)
    lines = [line for line in result.stdout.splitlines() if line.startswith("RESULT ")]
    assert len(lines) == 1, output
    summary: dict[str, Any] = json.loads(lines[0].removeprefix("RESULT "))
    return summary


async def check_on_the_server(client: httpx.AsyncClient, store: Store, key: dict[str, Any],
                              summary: dict[str, Any]) -> None:
    """What the script says it did is what staff see, read over plain HTTP."""
    # The tablet saw the store's dishes and the new item, at their prices.
    assert summary["menu"] == {**{str(i): [name, price] for i, (name, price) in store.items.items()},
                               str(summary["item_id"]): ["유자차 Yuja tea", 5000]}
    item = (await client.get(f"/admin/menu-items/{summary['item_id']}", headers=store.admin)).json()
    assert (item["name"], item["price"], item["available"], item["category_id"]) == (
        "유자차 Yuja tea", 5000, True, summary["category_id"])
    category = (await client.get(f"/admin/categories/{summary['category_id']}", headers=store.admin)).json()
    assert category["name"] == "음료 Drinks"

    orders = (await client.get("/admin/orders", headers=store.admin)).json()["items"]
    assert [order["id"] for order in orders] == [summary["order_id"]], "one order, whatever the retries"
    order = (await client.get(f"/admin/orders/{summary['order_id']}", headers=store.admin)).json()
    assert (order["status"], order["table_number"], order["total_amount"]) == (
        "preparing", TABLE_NUMBER, summary["total_amount"])
    (new, other) = order["items"]
    assert (new["menu_item_id"], new["name"], new["unit_price"], new["quantity"]) == (
        summary["item_id"], "유자차 Yuja tea", 5000, 2)
    assert store.items[other["menu_item_id"]] == (other["name"], other["unit_price"]) and other["quantity"] == 1
    assert order["total_amount"] == 2 * 5000 + other["unit_price"]

    used = (await client.get(f"/admin/api-keys/{key['id']}", headers=store.admin)).json()
    assert used["last_used_at"] is not None, "the key was used"


@pytest.mark.slow
async def test_python_client_end_to_end(server: ServerProcess, stores: Stores, client: httpx.AsyncClient,
                                        openapi_document: dict[str, Any], tmp_path: Path) -> None:
    store = await stores.create(tables=TABLE_NUMBER)
    key = await create_key(client, store)
    script = HERE / "e2e.py"

    started = time.monotonic()
    await asyncio.to_thread(generate_python_client, openapi_document, tmp_path)
    generated = time.monotonic()
    await asyncio.to_thread(type_check_python, script, tmp_path)
    checked = time.monotonic()
    summary = await asyncio.to_thread(run_script, [sys.executable, script], server, store, key["secret"],
                                      {**os.environ, "PYTHONPATH": str(tmp_path)})
    print(f"openapi-python-client {generated - started:.1f}s, mypy --strict {checked - generated:.1f}s, "
          f"script {time.monotonic() - checked:.1f}s")
    await check_on_the_server(client, store, key, summary)


@pytest.mark.slow
async def test_typescript_client_end_to_end(server: ServerProcess, stores: Stores, client: httpx.AsyncClient,
                                            openapi_document: dict[str, Any], tmp_path: Path) -> None:
    node = node_binary()
    store = await stores.create(tables=TABLE_NUMBER)
    key = await create_key(client, store)

    started = time.monotonic()
    compiled = await asyncio.to_thread(generate_typescript_client, openapi_document, tmp_path)
    built = time.monotonic()
    summary = await asyncio.to_thread(run_script, [node, compiled], server, store, key["secret"], NODE_ENV)
    print(f"openapi-ts + tsc --strict {built - started:.1f}s, script {time.monotonic() - built:.1f}s")
    await check_on_the_server(client, store, key, summary)
