"""RSS of every backend worker in the production topology after a minute of mixed traffic.

`make topology-memory`: starts ops/topology/stack.py (primary + replica, two backends with 2 workers
each, nginx over TLS), then for `--seconds` (60) drives through nginx: tablets reading the menu
(200 and 304), placing orders, staff reading history and closing sessions, and 40 admin streams
open throughout. Prints each worker's RSS at start-up and at the end, and the budget check
(4 workers in the 256 MB reservation: 64 MB each). Bounded in time; loopback only.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ops.bench.common import rss_kb  # noqa: E402
from ops.topology.stack import VENV_BIN, Topology  # noqa: E402

TABLES = 20
BUDGET_MB = 256 / 4


def worker_rss(topology: Topology) -> dict[str, float]:
    return {f"{b.name} worker {pid}": rss_kb(pid) / 1024 for b in topology.backends for pid in b.worker_pids()}


async def traffic(topology: Topology, seconds: float) -> dict[str, int]:
    assert topology.nginx is not None
    verify = ssl.create_default_context(cafile=str(topology.nginx.cert))
    counts: dict[str, int] = {}
    async with httpx.AsyncClient(base_url=topology.base_url + "/api/v1", verify=verify, timeout=30,
                                 limits=httpx.Limits(max_connections=64)) as api:
        admin_login = await api.post("/auth/admin/login", json={
            "store_code": "mem", "username": "admin", "password": "memory-admin-password"})
        admin = {"Authorization": f"Bearer {admin_login.json()['access_token']}"}
        category = (await api.post("/admin/categories", headers=admin, json={"name": "Mains"})).json()["id"]
        items = [(await api.post("/admin/menu-items", headers=admin, json={
            "category_id": category, "name": f"메뉴 {n}", "price": 1000 * (n + 1), "description": "맛있는 " * 10,
        })).json()["id"] for n in range(42)]
        tables = {}
        for number in range(1, TABLES + 1):
            login = await api.post("/auth/table/login", json={
                "store_code": "mem", "table_number": number, "password": "1234"})
            tables[number] = {"Authorization": f"Bearer {login.json()['access_token']}"}
        table_ids = {t["number"]: t["id"] for t in (await api.get("/admin/tables", headers=admin)).json()}
        etag = (await api.get("/menu", headers=tables[1])).headers["etag"]

        async def count(name: str, response: httpx.Response) -> None:
            key = f"{name} {response.status_code}"
            counts[key] = counts.get(key, 0) + 1

        async def tablet(number: int, deadline: float) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                await count("menu", await api.get("/menu", headers=tables[number]))
                await count("menu 304", await api.get("/menu", headers={**tables[number], "If-None-Match": etag}))
                await count("order", await api.post("/orders", headers=tables[number], json={"items": [
                    {"menu_item_id": items[(number + n) % 42], "quantity": 1 + n % 3},
                    {"menu_item_id": items[(number * 7 + n) % 42], "quantity": 1}]}))
                await count("my orders", await api.get("/orders", headers=tables[number]))

        async def staff(deadline: float) -> None:
            n = 0
            while time.monotonic() < deadline:
                n += 1
                table = table_ids[1 + n % TABLES]
                await count("board", await api.get("/admin/orders", headers=admin))
                await count("history", await api.get(f"/admin/tables/{table}/history", headers=admin))
                if n % 10 == 0:
                    await count("close", await api.post(f"/admin/tables/{table}/close-session", headers=admin))
                await asyncio.sleep(0.05)

        async def stream(deadline: float) -> None:
            url = topology.base_url + "/api/v1/admin/orders/stream"
            with contextlib.suppress(httpx.TransportError):
                async with (httpx.AsyncClient(verify=verify, timeout=httpx.Timeout(10, read=None)) as client,
                            client.stream("GET", url, headers=admin) as response):
                    await count("stream", response)
                    async for _ in response.aiter_bytes():
                        if time.monotonic() > deadline:
                            break

        deadline = time.monotonic() + seconds
        await asyncio.gather(*(stream(deadline) for _ in range(40)), staff(deadline),
                             *(tablet(n, deadline) for n in range(1, TABLES + 1)))
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60)
    args = parser.parse_args()
    topology = Topology().start()
    try:
        env = topology.backend_env()
        subprocess.run([str(VENV_BIN / "tableorder"), "create-store", "--code", "mem", "--name", "Memory",
                        "--admin-username", "admin", "--admin-password", "memory-admin-password"],
                       env=env, check=True, capture_output=True, cwd=ROOT)
        for number in range(1, TABLES + 1):
            subprocess.run([str(VENV_BIN / "tableorder"), "create-table", "--store", "mem", "--number", str(number),
                            "--password", "1234"], env=env, check=True, capture_output=True, cwd=ROOT)
        start = worker_rss(topology)
        counts = asyncio.run(traffic(topology, args.seconds))
        end = worker_rss(topology)
    finally:
        topology.stop()
    summary = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()))
    print(f"requests through nginx in {args.seconds:.0f} s: {summary}")
    print("| worker | RSS after start-up MB | RSS after the traffic MB |")
    print("|---|---:|---:|")
    for name in end:
        print(f"| {name} | {start.get(name, 0):.1f} | {end[name]:.1f} |")
    worst = max(end.values())
    print(f"largest worker {worst:.1f} MB; budget {BUDGET_MB:.0f} MB per worker (4 in 256 MB): "
          f"{'within' if worst <= BUDGET_MB else 'OVER'}")


if __name__ == "__main__":
    main()
