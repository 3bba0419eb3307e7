"""Push latency: commit → SSE client, across two replicas, with many admin clients connected.

Orders go in through replica A at a fixed rate (open loop); N admin clients listen on replica B.
Latency of one delivery = arrival time at the client − the event's commit time (events.created_at
is clock_timestamp() taken by the deferred trigger at commit). All on loopback, bounded in time.

    python ops/bench/push.py [--clients 100] [--rates 50,200] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import httpx

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ops.bench.common import Replica, bench_database, seed_store  # noqa: E402


@dataclass
class Listener:
    """A minimal SSE reader over a raw socket: it only notes when each `id:` line arrives, so that
    thousands of messages a second do not make the client the bottleneck."""

    arrivals: dict[int, float] = field(default_factory=dict)

    async def run(self, port: int, token: str, ready: asyncio.Event, stop: asyncio.Event) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write((f"GET /api/v1/admin/orders/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                      f"Authorization: Bearer {token}\r\nAccept: text/event-stream\r\n\r\n").encode())
        await writer.drain()
        buffer = b""
        try:
            while not stop.is_set():
                chunk = await reader.read(65536)
                if not chunk:
                    break
                now = time.time()
                buffer += chunk
                if not ready.is_set() and b"retry:" in buffer:
                    ready.set()
                *lines, buffer = buffer.split(b"\n")
                for line in lines:
                    if line.startswith(b"id: "):
                        self.arrivals[int(line[4:].decode())] = now
        finally:
            writer.close()


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def place_orders(base: str, tokens: list[str], item_id: int, rate: float, seconds: float) -> int:
    """Open loop: requests start on schedule whether or not earlier ones finished."""
    placed = 0
    async with httpx.AsyncClient(base_url=base, timeout=10,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=64)) as client:
        async def one(i: int) -> None:
            nonlocal placed
            headers = {"Authorization": f"Bearer {tokens[i % len(tokens)]}"}
            response = await client.post("/api/v1/orders", headers=headers,
                                         json={"items": [{"menu_item_id": item_id, "quantity": 1}]})
            placed += response.status_code == 201

        tasks = []
        start = time.monotonic()
        total = int(rate * seconds)
        for i in range(total):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
    return placed


async def scenario(pool: asyncpg.Pool, store: dict[str, object], a: Replica, b: Replica, clients: int,
                   rate: float, seconds: float) -> dict[str, float]:
    stop = asyncio.Event()
    listeners = [Listener() for _ in range(clients)]
    readies = [asyncio.Event() for _ in listeners]
    tasks = [asyncio.create_task(listener.run(b.port, str(store["admin_token"]), ready, stop))
             for listener, ready in zip(listeners, readies, strict=True)]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    first = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store["id"])
    placed = await place_orders(a.url, store["table_tokens"], store["item_id"], rate, seconds)  # type: ignore[arg-type]
    await asyncio.sleep(2)  # let the last deliveries land
    stop.set()
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    rows = await pool.fetch(
        "SELECT position, extract(epoch FROM created_at)::float8 AS committed FROM events "
        "WHERE store_id = $1 AND position > $2", store["id"], first)
    committed = {r["position"]: r["committed"] for r in rows}
    latencies = [(arrivals[p] - t) * 1000 for listener in listeners
                 for arrivals in [listener.arrivals] for p, t in committed.items() if p in arrivals]
    expected = len(committed) * clients
    return {"rate": rate, "clients": clients, "orders": placed, "deliveries": len(latencies),
            "missing": expected - len(latencies), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies),
            "mean_ms": statistics.fmean(latencies)}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    async with bench_database() as url:
        env = {"SSE_MAX_CONNECTIONS_PER_STORE": str(args.clients + 10), "LOG_LEVEL": "WARNING"}
        a, b = Replica(url, env).start(), Replica(url, env).start()
        pool = await asyncpg.create_pool(url.replace("+asyncpg", ""), min_size=1, max_size=2)
        try:
            store = await seed_store(pool, f"bench-{secrets.token_hex(3)}", tables=50)
            results = [await scenario(pool, store, a, b, args.clients, float(rate), args.seconds)
                       for rate in args.rates.split(",")]
        finally:
            await pool.close()
            a.stop()
            b.stop()
    print(f"push latency, commit → client, orders via replica A, {args.clients} admin streams on replica B")
    print("| orders/s | orders | deliveries | missing | p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rate']:.0f} | {r['orders']:.0f} | {r['deliveries']:.0f} | {r['missing']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    asyncio.run(main())
