"""EVENT_BUS=nats against a real nats-server: what the relay publishes is what a watching replica
hears, a replayed batch is stored once, and a restarted server loses neither the stream nor the
replicas' subscriptions (they hear `on_connect` again and read the database meanwhile)."""

from __future__ import annotations

import asyncio
import json
import secrets
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import httpx
import nats
import nats.errors
import pytest
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js.api import StorageType

from tableorder.events.nats_bus import STREAM, EventRow, NatsPublisher, NatsSubscriber
from tests.nats_server import NatsServer, require_nats_server_binary

WAIT = 15.0  # seconds any one expected thing may take (reconnects retry every second)


def new_store() -> int:
    """A store id no other test of the run publishes to (the shared server keeps every message)."""
    return 1_000_000 + secrets.randbelow(1_000_000_000)


async def eventually(condition: Callable[[], bool], what: str, within: float = WAIT) -> None:
    """Poll: the conditions mix callbacks and connection states, no one event covers them."""
    try:
        async with asyncio.timeout(within):
            while True:
                if condition():
                    return
                await asyncio.sleep(0.01)
    except TimeoutError:
        raise AssertionError(f"timed out after {within} s waiting for {what}") from None


@dataclass
class Replica:
    """A subscriber and everything its callbacks were called with."""

    subscriber: NatsSubscriber = field(init=False)
    events: list[EventRow] = field(default_factory=list)
    invalidations: list[tuple[int, str]] = field(default_factory=list)
    connects: int = 0
    disconnects: int = 0

    def on_event(self, store_id: int, position: int, event_type: str, table_id: int | None, payload: str) -> None:
        self.events.append((store_id, position, event_type, table_id, payload))

    def on_invalidation(self, store_id: int, kind: str) -> None:
        self.invalidations.append((store_id, kind))

    def on_connect(self) -> None:
        self.connects += 1

    def on_disconnect(self) -> None:
        self.disconnects += 1

    def positions(self, store_id: int) -> list[int]:
        return [position for store, position, *_ in self.events if store == store_id]


@pytest.fixture
async def replicas(nats_server: NatsServer) -> AsyncIterator[Callable[..., Awaitable[Replica]]]:
    """Start replicas (subscribers) on the shared server, or on `url`; all stopped afterwards."""
    started: list[Replica] = []

    async def start(url: str = nats_server.url, *, wait: bool = True) -> Replica:
        replica = Replica()
        replica.subscriber = NatsSubscriber(url, replica.on_event, replica.on_invalidation, replica.on_connect,
                                            replica.on_disconnect)
        replica.subscriber.start()
        started.append(replica)
        if wait:
            await eventually(lambda: replica.connects == 1, "the subscriber's first connect")
            assert replica.subscriber.connected
        return replica

    yield start
    for replica in started:
        await asyncio.wait_for(replica.subscriber.stop(), WAIT)


@pytest.fixture
async def publisher(nats_server: NatsServer) -> AsyncIterator[NatsPublisher]:
    publisher = NatsPublisher(nats_server.url, retention_hours=1)
    await publisher.start()
    yield publisher
    await publisher.close()


@pytest.fixture
async def raw(nats_server: NatsServer) -> AsyncIterator[Client]:
    """A plain client, to look into the stream and to publish what our publisher never would."""
    nc = await nats.connect(nats_server.url)
    yield nc
    await nc.close()


@pytest.fixture
def own_server() -> Iterator[NatsServer]:
    """A server of the test's own, to stop, kill and restart (same port, same store directory)."""
    with NatsServer(require_nats_server_binary()) as server:
        yield server


async def stored(nc: Client, store_id: int) -> int:
    """How many messages the stream holds for the store."""
    subject = f"tableorder.events.{store_id}"
    info = await nc.jetstream().stream_info(STREAM, subjects_filter=subject)
    return (info.state.subjects or {}).get(subject, 0)


async def server_has_seen(nc: Client) -> None:
    """Everything the client sent so far has been processed: nats-py's flush() is no proof (its PING
    can overtake commands still buffered), a request queued behind them is."""
    await nc.jetstream().account_info()


def order_event(store_id: int, position: int, table_id: int | None = 7) -> EventRow:
    payload = json.dumps({"id": position, "table_id": table_id, "note": "김치찌개 ×2, no chilli"},
                         ensure_ascii=False, separators=(",", ":"))
    return store_id, position, "order.created" if position == 1 else "order.updated", table_id, payload


async def test_a_watching_replica_hears_each_event_as_published(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher, raw: Client) -> None:
    store = new_store()
    replica = await replicas()
    await replica.subscriber.watch(store)
    on_the_wire: list[Msg] = []

    async def collect(msg: Msg) -> None:
        on_the_wire.append(msg)

    wire = await raw.subscribe(f"tableorder.events.{store}", cb=collect)
    await server_has_seen(raw)
    batch = [order_event(store, 1), order_event(store, 2, table_id=None),
             (store, 3, "menu.updated", None, '{"version": 12}')]

    assert await publisher.publish_events(batch) == 0

    await eventually(lambda: len(replica.events) == 3, "three events")
    assert replica.events == batch
    await eventually(lambda: len(on_the_wire) == 3, "three messages on the wire")
    assert [(m.subject, m.headers, m.data.decode()) for m in on_the_wire] == [
        (f"tableorder.events.{store}",
         {"Nats-Msg-Id": f"{store}:{position}", "Tableorder-Position": str(position), "Tableorder-Type": kind,
          "Tableorder-Table": "" if table is None else str(table)},
         payload)
        for _, position, kind, table, payload in batch]
    await wire.unsubscribe()
    # The stream keeps them too, byte for byte.
    last = await raw.jetstream().get_last_msg(STREAM, f"tableorder.events.{store}")
    assert last.data is not None and last.data.decode() == batch[-1][4]
    assert last.headers is not None and last.headers["Nats-Msg-Id"] == f"{store}:3"


async def test_a_store_nobody_watches_is_not_delivered(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher) -> None:
    watched, other = new_store(), new_store()
    replica = await replicas()
    await replica.subscriber.watch(watched)

    # One connection publishes in order and the server delivers in order: once the watched store's
    # event is here, the other store's (published first) would have been too.
    await publisher.publish_events([order_event(other, 1), order_event(watched, 1)])

    await eventually(lambda: replica.positions(watched) == [1], "the watched store's event")
    assert replica.positions(other) == []


async def test_what_is_published_once_watch_returns_is_heard(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher) -> None:
    """The hub reads the store's position, watches, and counts on hearing every later event: watch
    must not return before the server has the subscription."""
    replica = await replicas()
    stores = [new_store() for _ in range(100)]
    for store in stores:
        await replica.subscriber.watch(store)
        await publisher.publish_events([order_event(store, 1)])
    await publisher.publish_events([order_event(stores[-1], 2)])  # after all the others on the wire
    await eventually(lambda: replica.positions(stores[-1]) == [1, 2], "the last store's events")
    assert [store for store in stores if replica.positions(store)[:1] != [1]] == []


async def test_a_replayed_batch_is_stored_once(publisher: NatsPublisher, raw: Client) -> None:
    """The relay's replay after a failover: the same (store, position) again is a duplicate."""
    store = new_store()
    batch = [order_event(store, position) for position in (1, 2, 3)]
    assert await publisher.publish_events(batch) == 0
    assert await stored(raw, store) == 3

    assert await publisher.publish_events(batch) == 3
    assert await publisher.publish_events([*batch[1:], order_event(store, 4)]) == 2

    assert await stored(raw, store) == 4
    last = await raw.jetstream().get_last_msg(STREAM, f"tableorder.events.{store}")
    assert last.headers is not None and last.headers["Tableorder-Position"] == "4"


async def test_unwatch_stops_delivery_once_the_last_watcher_leaves(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher) -> None:
    store, sentinel = new_store(), new_store()
    replica = await replicas()
    subscriber = replica.subscriber
    await subscriber.watch(store)
    await subscriber.watch(store)  # two streams of one store on this replica
    await subscriber.watch(sentinel)

    subscriber.unwatch(store)
    await subscriber.flush()
    await publisher.publish_events([order_event(store, 1), order_event(sentinel, 1)])
    await eventually(lambda: replica.positions(sentinel) == [1], "the sentinel's first event")
    assert replica.positions(store) == [1], "one watcher is still there"

    subscriber.unwatch(store)
    await subscriber.flush()
    assert subscriber.watched() == {sentinel}
    await publisher.publish_events([order_event(store, 2), order_event(sentinel, 2)])
    await eventually(lambda: replica.positions(sentinel) == [1, 2], "the sentinel's second event")
    assert replica.positions(store) == [1]

    subscriber.unwatch(store)  # once more than watched: nothing happens
    await subscriber.watch(store)  # and watching again works
    await publisher.publish_events([order_event(store, 3)])
    await eventually(lambda: replica.positions(store) == [1, 3], "the store's event after watching again")


async def test_invalidations_reach_every_replica_whatever_it_watches(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher) -> None:
    store = new_store()
    first, second = await replicas(), await replicas()
    await first.subscriber.watch(new_store())

    await publisher.publish_invalidations([(store, "menu.updated"), (store, "credentials.changed")])

    expected = [(store, "menu.updated"), (store, "credentials.changed")]
    await eventually(lambda: all(len(r.invalidations) >= 2 for r in (first, second)), "both invalidations")
    assert first.invalidations == expected
    assert second.invalidations == expected
    assert first.events == second.events == []


async def test_malformed_messages_are_ignored(
        replicas: Callable[..., Awaitable[Replica]], publisher: NatsPublisher, raw: Client) -> None:
    store = new_store()
    replica = await replicas()
    await replica.subscriber.watch(store)
    subject = f"tableorder.events.{store}"

    await raw.publish(subject, b"{}")  # no headers
    await raw.publish(subject, b"{}", headers={"Tableorder-Position": "x", "Tableorder-Type": "order.created"})
    await raw.publish(subject, b"{}", headers={"Tableorder-Position": "1"})  # no type
    await raw.publish(subject, b"{}", headers={"Tableorder-Position": "1", "Tableorder-Type": "order.created",
                                               "Tableorder-Table": "seven"})
    await raw.publish(subject, b"\xff", headers={"Tableorder-Position": "1", "Tableorder-Type": "order.created"})
    await raw.publish(f"tableorder.invalidations.{store}", b"")  # no kind
    await raw.publish("tableorder.invalidations.nope", b"menu.updated")
    await server_has_seen(raw)
    await publisher.publish_events([order_event(store, 1)])
    await publisher.publish_invalidations([(store, "menu.updated")])

    await eventually(lambda: len(replica.events) == 1 and len(replica.invalidations) == 1, "the good ones")
    assert replica.events == [order_event(store, 1)]
    assert replica.invalidations == [(store, "menu.updated")]


async def test_the_stream_is_created_once_and_follows_the_retention(own_server: NatsServer) -> None:
    first = NatsPublisher(own_server.url, retention_hours=24)
    await first.start()
    again = NatsPublisher(own_server.url, retention_hours=24)
    await again.start()  # the same configuration: nothing to do
    longer = NatsPublisher(own_server.url, retention_hours=48)
    await longer.start()  # another retention: the stream is updated, not refused
    nc = await nats.connect(own_server.url)
    try:
        config = (await nc.jetstream().stream_info(STREAM)).config
        assert config.subjects == ["tableorder.events.>"]
        assert config.storage == StorageType.FILE
        assert config.duplicate_window == 120
        assert config.max_age == 48 * 3600
    finally:
        await nc.close()
        for publisher in (first, again, longer):
            await publisher.close()


async def test_without_a_server_a_publisher_fails_to_start_and_a_replica_stops_in_bounded_time() -> None:
    server = NatsServer(require_nats_server_binary())  # never started: nothing listens on its port
    try:
        publisher = NatsPublisher(server.url, retention_hours=1, connect_timeout=2)
        with pytest.raises((TimeoutError, nats.errors.Error, OSError)):
            await asyncio.wait_for(publisher.start(), WAIT)
        assert not publisher.connected
        # A replica keeps trying in the background, and stops promptly all the same.
        replica = Replica()
        replica.subscriber = NatsSubscriber(server.url, replica.on_event, replica.on_invalidation,
                                            replica.on_connect, replica.on_disconnect)
        replica.subscriber.start()
        await asyncio.sleep(1.5)  # a failed attempt or two
        await asyncio.wait_for(replica.subscriber.stop(), WAIT)
        assert (replica.connects, replica.disconnects) == (0, 0)
    finally:
        server.close()


async def test_a_replica_started_before_the_server_connects_when_it_comes(
        replicas: Callable[..., Awaitable[Replica]]) -> None:
    server = NatsServer(require_nats_server_binary())
    try:
        replica = await replicas(server.url, wait=False)
        store = new_store()
        await asyncio.wait_for(replica.subscriber.watch(store), WAIT)  # returns while disconnected
        assert not replica.subscriber.connected and replica.connects == 0
        server.start()
        await eventually(lambda: replica.connects == 1, "the first connect")
        publisher = NatsPublisher(server.url, retention_hours=1)
        await publisher.start()
        try:
            await publisher.publish_events([order_event(store, 1)])
            await eventually(lambda: replica.positions(store) == [1], "the event watched before connecting")
        finally:
            await publisher.close()
    finally:
        server.close()


@pytest.mark.parametrize("how", ["killed", "stopped"])
async def test_a_restarted_server_keeps_the_stream_and_the_replicas_subscriptions(
        how: str, own_server: NatsServer, replicas: Callable[..., Awaitable[Replica]]) -> None:
    store, watched_while_down = new_store(), new_store()
    replica = await replicas(own_server.url)
    await replica.subscriber.watch(store)
    publisher = NatsPublisher(own_server.url, retention_hours=1, ack_timeout=2)
    await publisher.start()
    try:
        await publisher.publish_events([order_event(store, 1), order_event(store, 2)])
        await eventually(lambda: replica.positions(store) == [1, 2], "the events before the restart")

        own_server.kill() if how == "killed" else own_server.stop()

        await eventually(lambda: not replica.subscriber.connected, "the replica noticing")
        assert replica.disconnects == 1
        # The relay must not advance its watermark: publishing fails, and in bounded time.
        with pytest.raises((nats.errors.Error, TimeoutError)):
            await asyncio.wait_for(publisher.publish_events([order_event(store, 3)]), WAIT)
        assert not publisher.connected
        await asyncio.wait_for(replica.subscriber.watch(watched_while_down), WAIT)

        own_server.start()

        await eventually(lambda: replica.connects == 2, "on_connect after the reconnect")
        assert replica.subscriber.connected
        await eventually(lambda: publisher.connected, "the publisher reconnecting")
        # The relay publishes the failed batch again, then goes on.
        await publisher.publish_events([order_event(store, 3), order_event(store, 4),
                                        order_event(watched_while_down, 1)])
        await eventually(lambda: replica.positions(store) == [1, 2, 3, 4], "the events after the restart")
        await eventually(lambda: replica.positions(watched_while_down) == [1], "the store watched while down")
        nc = await nats.connect(own_server.url)
        try:
            assert await stored(nc, store) == 4, "what was stored before the restart is still there"
            first = await nc.jetstream().get_msg(STREAM, seq=1, subject=f"tableorder.events.{store}", next=True)
            assert first.headers is not None and first.headers["Nats-Msg-Id"] == f"{store}:1"
        finally:
            await nc.close()
    finally:
        await publisher.close()


async def test_a_batch_in_flight_when_the_connection_drops_fails_then_not_at_the_ack_timeout(
        own_server: NatsServer) -> None:
    """The relay learns at once that it must publish the batch again (the acks cannot come)."""
    publisher = NatsPublisher(own_server.url, retention_hours=1, ack_timeout=120)
    await publisher.start()
    try:
        store = new_store()
        own_server.freeze()  # the batch goes out, no ack comes back
        batch = asyncio.ensure_future(publisher.publish_events([order_event(store, p) for p in range(1, 101)]))
        await asyncio.sleep(0.5)
        assert not batch.done()
        own_server.kill()  # now the connection drops
        with pytest.raises(nats.errors.Error):
            await asyncio.wait_for(batch, WAIT)
    finally:
        await publisher.close()


async def test_a_replica_notices_a_hung_server_and_reads_again_when_it_answers(own_server: NatsServer) -> None:
    """No RST, no EOF: only the missing PONGs tell (ping_interval, 5 s by default; 1 s here)."""
    replica = Replica()
    replica.subscriber = NatsSubscriber(own_server.url, replica.on_event, replica.on_invalidation,
                                        replica.on_connect, replica.on_disconnect, ping_interval=1)
    replica.subscriber.start()
    try:
        await eventually(lambda: replica.connects == 1, "the first connect")
        own_server.freeze()
        await eventually(lambda: not replica.subscriber.connected, "the replica noticing the hung server")
        assert replica.disconnects == 1
        own_server.thaw()
        await eventually(lambda: replica.connects == 2, "on_connect once the server answers again")
    finally:
        await asyncio.wait_for(replica.subscriber.stop(), WAIT)


async def test_a_server_that_lost_its_store_gets_the_stream_again(
        own_server: NatsServer, replicas: Callable[..., Awaitable[Replica]]) -> None:
    """A nats-server restarted without its volume: the relay's retry recreates the stream. With a
    replica watching, the publish is not refused (the replica's subscription takes it) but never
    acknowledged: that too must lead to the stream being checked."""
    store = new_store()
    replica = await replicas(own_server.url)
    await replica.subscriber.watch(store)
    publisher = NatsPublisher(own_server.url, retention_hours=1, ack_timeout=1)
    await publisher.start()
    try:
        await publisher.publish_events([order_event(store, 1)])
        own_server.stop()
        shutil.rmtree(own_server.store_dir / "jetstream")
        own_server.start()
        await eventually(lambda: publisher.connected and replica.connects == 2, "both reconnecting")

        failures = 0
        async with asyncio.timeout(WAIT):
            while True:  # the relay's loop: the same batch until it is acknowledged
                try:
                    await publisher.publish_events([order_event(store, 2)])
                    break
                except (nats.errors.Error, TimeoutError):
                    failures += 1
        assert failures == 1
        nc = await nats.connect(own_server.url)
        try:
            assert await stored(nc, store) == 1, "position 2, in a new stream"
        finally:
            await nc.close()
        await eventually(lambda: replica.positions(store)[-1] == 2, "the event")
    finally:
        await publisher.close()


async def test_a_relay_publishing_many_batches_keeps_one_connection_and_few_subscriptions(
        own_server: NatsServer) -> None:
    publisher = NatsPublisher(own_server.url, retention_hours=1, name="relay-under-test")
    await publisher.start()
    try:
        store = new_store()
        for position in range(1, 31):
            await publisher.publish_events([order_event(store, position)])
        await publisher.publish_invalidations([(store, "menu.updated")])
        async with httpx.AsyncClient(timeout=5) as http:
            connz = (await http.get(f"http://127.0.0.1:{own_server.monitor_port}/connz?subs=1")).json()
        connections = [c for c in connz["connections"] if c.get("name") == "relay-under-test"]
        assert len(connections) == 1
        # The JetStream API's reply inbox, the acks' inbox, the round trips' inbox (it was 31 + 1 with
        # a JetStream context per batch: one acks' inbox each).
        assert connections[0]["subscriptions"] <= 3, connections[0].get("subscriptions_list")
    finally:
        await publisher.close()


async def test_a_relay_retrying_against_a_server_without_jetstream_keeps_one_connection() -> None:
    """The relay calls start() again after each failure: it must not open a connection each time."""
    with NatsServer(require_nats_server_binary(), jetstream=False) as server:
        publisher = NatsPublisher(server.url, retention_hours=1, ack_timeout=1, name="relay-without-jetstream")
        try:
            for _ in range(3):
                with pytest.raises(nats.errors.Error):
                    await asyncio.wait_for(publisher.start(), WAIT)
            async with httpx.AsyncClient(timeout=5) as http:
                connz = (await http.get(f"http://127.0.0.1:{server.monitor_port}/connz")).json()
            assert [c.get("name") for c in connz["connections"]] == ["relay-without-jetstream"]
        finally:
            await publisher.close()
