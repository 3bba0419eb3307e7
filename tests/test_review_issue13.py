"""Hostile review of issue 13's changes (the relay, the lean GET /menu, migrations 0011/0012): each
test here failed before the fix named in its commit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import asyncpg
import pytest

from tableorder import db
from tableorder.events.bus import JetStreamPublisher
from tableorder.events.nats_bus import DUPLICATE_WINDOW_SECONDS, NatsPublisher, NatsSubscriber
from tableorder.events.relay import CHANNEL, NotifyPublisher, Relay
from tableorder.settings import Settings, SettingsError
from tests.nats_server import NatsServer, require_nats_server_binary


@pytest.fixture(scope="module")
async def own_database(fresh_database) -> str:  # type: ignore[no-untyped-def]
    """A database of this module's own: no other test's server holds its relay election."""
    url: str = await fresh_database("tableorder_review13")
    await asyncio.to_thread(db.migrate, url)
    return url


@pytest.fixture(scope="module")
async def own_pool(own_database: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await db.create_pool(own_database, min_size=1, max_size=5, application_name="tableorder-tests")
    yield pool
    await pool.close()


async def _heard_within(heard: list[str], wanted: str, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if any(wanted in entry.split(";") for entry in heard):
            return True
        await asyncio.sleep(0.05)
    return False


async def test_a_relay_whose_watermark_row_is_missing_still_publishes(own_database: str,
                                                                      own_pool: asyncpg.Pool) -> None:
    """event_relay's row gone (a restore without it, an operator's DELETE to "reset" the relay): the
    relay found no watermark, took NULL for one, and every batch then failed its compare-and-set
    (`snapshot::text = NULL`) as if another relay were active: it stepped down, was elected again,
    and published nothing for any store, ever (nor the credential changes that end logged-out
    tokens on other replicas)."""
    await own_pool.execute("DELETE FROM event_relay WHERE bus = 'postgres'")
    store_id = await own_pool.fetchval(
        "INSERT INTO stores (code, name) VALUES ('review13-w', 'Watermark') RETURNING id")
    heard: list[str] = []
    listening = await asyncpg.connect(db.asyncpg_dsn(own_database))
    await listening.add_listener(CHANNEL, lambda *args: heard.append(args[-1]))
    relay = Relay(own_database, own_pool, NotifyPublisher(), standby_interval=0.1)
    relay.start()
    try:
        deadline = time.monotonic() + 10
        while not relay.active:
            assert time.monotonic() < deadline, "the relay was never elected"
            await asyncio.sleep(0.05)
        for position in (1, 2, 3):
            await own_pool.execute("SELECT record_event($1, 'menu.updated', NULL, '{}'::json)", store_id)
            assert await _heard_within(heard, f"{store_id}:{position}:menu.updated", 10), heard
        assert await own_pool.fetchval("SELECT count(*) FROM event_relay WHERE bus = 'postgres'") == 1
    finally:
        await relay.stop()
        await listening.close()


async def test_credential_changes_reach_replicas_while_jetstream_refuses(own_database: str,
                                                                        own_pool: asyncpg.Pool) -> None:
    """EVENT_BUS=nats with JetStream unavailable while core NATS works (a 3-server cluster that lost
    its quorum, a full store, a server without JetStream): the relay published a batch's events
    first and its cache invalidations only after JetStream acknowledged them, so a deleted table's
    token (or a logout, a revoked API key) went on working on every other replica for as long as
    JetStream refused, and stale menus stayed. The invalidations need no JetStream."""
    store_id = await own_pool.fetchval(
        "INSERT INTO stores (code, name) VALUES ('review13-js', 'JetStream') RETURNING id")
    table_id = await own_pool.fetchval(
        "INSERT INTO tables (store_id, number, password_hash) VALUES ($1, 1, 'x') RETURNING id", store_id)
    heard: list[tuple[int, str]] = []
    with NatsServer(require_nats_server_binary(), jetstream=False) as nats:
        replica = NatsSubscriber(nats.url, lambda *event: None, lambda *kind: heard.append(kind), lambda: None)
        replica.start()
        publisher = JetStreamPublisher(NatsPublisher(nats.url, 1.0, ack_timeout=1.0, connect_timeout=2.0))
        relay = Relay(own_database, own_pool, publisher, bus="nats", standby_interval=0.1)
        relay.start()
        try:
            deadline = time.monotonic() + 10
            while not (relay.active and replica.connected):
                assert time.monotonic() < deadline, "the relay was never elected or the replica never connected"
                await asyncio.sleep(0.05)
            await own_pool.execute("DELETE FROM tables WHERE id = $1", table_id)
            deadline = time.monotonic() + 10
            while (store_id, "credentials.changed") not in heard:
                assert time.monotonic() < deadline, f"no replica heard the credential change: {heard}"
                await asyncio.sleep(0.05)
        finally:
            await relay.stop()
            await publisher.close()
            await replica.stop()


async def test_a_leader_keeps_its_election_through_a_batch_longer_than_five_seconds(
        own_database: str, own_pool: asyncpg.Pool) -> None:
    """A batch that takes more than 5 s to publish (JetStream slow to acknowledge: a cluster electing
    a stream leader, a backlog after an outage): the leader's lock connection sat idle in its
    transaction meanwhile, the server ended it after 5 s (idle_in_transaction_session_timeout) and a
    standby was elected while the leader was still publishing: two relays published the same batch,
    and the one that finished second stepped down fenced. The leader checks in while it publishes."""
    store_id = await own_pool.fetchval(
        "INSERT INTO stores (code, name) VALUES ('review13-slow', 'Slow') RETURNING id")
    with NatsServer(require_nats_server_binary()) as nats:
        publishers = [JetStreamPublisher(NatsPublisher(nats.url, 1.0, ack_timeout=20.0)) for _ in range(2)]
        leader, standby = (Relay(own_database, own_pool, publisher, bus="nats", standby_interval=0.1)
                           for publisher in publishers)
        leader.start()
        try:
            deadline = time.monotonic() + 10
            while not leader.active:
                assert time.monotonic() < deadline, "the relay was never elected"
                await asyncio.sleep(0.05)
            await own_pool.execute("SELECT record_event($1, 'menu.updated', NULL, '{}'::json)", store_id)
            deadline = time.monotonic() + 10
            while leader.batches == 0:  # the bus (and its stream) is ready
                assert time.monotonic() < deadline, "the leader published nothing"
                await asyncio.sleep(0.05)
            standby.start()
            await asyncio.sleep(0.5)
            nats.freeze()  # JetStream acknowledges nothing for 7 s
            try:
                await own_pool.execute("SELECT record_event($1, 'menu.updated', NULL, '{}'::json)", store_id)
                elected_meanwhile = False
                for _ in range(70):
                    elected_meanwhile = elected_meanwhile or standby.active
                    await asyncio.sleep(0.1)
            finally:
                nats.thaw()
            deadline = time.monotonic() + 20
            while leader.batches < 2 and not elected_meanwhile:
                assert time.monotonic() < deadline, "the slow batch was never published"
                await asyncio.sleep(0.05)
            assert not elected_meanwhile, "a standby was elected while the leader was still publishing"
            assert leader.active and not standby.active
        finally:
            await standby.stop()
            await leader.stop()
            for publisher in publishers:
                await publisher.close()


@pytest.mark.parametrize(("bus", "hours"), [("nats", "0.01"), ("postgres", "0"), ("postgres", "-1"), ("nats", "0")])
def test_a_retention_the_relay_cannot_work_with_is_refused_at_start(bus: str, hours: str) -> None:
    """EVENT_RETENTION_HOURS was never checked. On NATS it is the stream's max age, and JetStream
    refuses a stream whose max age is shorter than its 2-minute duplicate window: the relay failed
    every batch (ServerError), stood down and was elected again for ever, and no replica heard of an
    event, a menu change or a logout. 0 or less pruned every event at once (every resume a resync)."""
    env = {"EVENT_BUS": bus, "NATS_URL": "nats://127.0.0.1:4222", "EVENT_RETENTION_HOURS": hours}
    with pytest.raises(SettingsError, match="EVENT_RETENTION_HOURS"):
        Settings.from_env(env)
    assert Settings.from_env({**env, "EVENT_RETENTION_HOURS": "0.05"}).event_retention_hours == 0.05
    assert DUPLICATE_WINDOW_SECONDS == 120  # what settings.py checks against


async def test_a_full_jetstream_store_does_not_stop_the_relay(own_database: str, own_pool: asyncpg.Pool) -> None:
    """The stream kept every event for EVENT_RETENTION_HOURS with no bound on its bytes, so it grew until
    the server's JetStream storage was full (ops/k8s gives each server 10 GiB: at the 200 orders/s
    issue 13 aims for, a few hours), and from then on JetStream refused every publish: the relay
    failed every batch and no replica heard of any store's event until messages aged out. Replicas
    never read the stream's history (the events table is the record), so the oldest messages go
    instead (NATS_STREAM_MAX_BYTES, discard old)."""
    store_id = await own_pool.fetchval(
        "INSERT INTO stores (code, name) VALUES ('review13-full', 'Full') RETURNING id")
    note = "x" * 10_000
    with NatsServer(require_nats_server_binary(), max_file_store="2MB") as nats:
        heard: list[int] = []
        replica = NatsSubscriber(nats.url, lambda *event: heard.append(event[1]), lambda *kind: None, lambda: None)
        replica.start()
        publisher = JetStreamPublisher(NatsPublisher(nats.url, 24.0, max_bytes=1024 * 1024))
        relay = Relay(own_database, own_pool, publisher, bus="nats", standby_interval=0.1)
        relay.start()
        try:
            deadline = time.monotonic() + 10
            while not (relay.active and replica.connected):
                assert time.monotonic() < deadline, "the relay was never elected or the replica never connected"
                await asyncio.sleep(0.05)
            await replica.watch(store_id)
            # 4 MB of events, 40 batches of 10 events of 10 kB: twice what the server may store.
            for _ in range(40):
                await own_pool.execute(
                    "SELECT record_event($1, 'order.updated', NULL, json_build_object('note', $2::text)) "
                    "FROM generate_series(1, 10)", store_id, note)
            # Published means acknowledged, the watermark past them. (Core NATS hands every publish to
            # the replicas even when JetStream refuses to store it, so they heard each refused batch,
            # again and again as the relay retried it, ever larger, with the events since.)
            deadline = time.monotonic() + 30
            while not await own_pool.fetchval(
                    "SELECT pg_visible_in_snapshot((SELECT max(xid) FROM events WHERE store_id = $1), snapshot) "
                    "FROM event_relay WHERE bus = 'nats'", store_id):
                assert time.monotonic() < deadline, f"the relay stalled ({relay.batches} batches published)"
                await asyncio.sleep(0.05)
            last = await own_pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store_id)
            assert heard and heard[-1] == last
        finally:
            await relay.stop()
            await publisher.close()
            await replica.stop()
