"""The hub in-process over the real database: bounded queues and freed resources."""

from __future__ import annotations

import asyncio

import asyncpg

from tableorder.events.hub import Hub
from tests.helpers import Stores


async def add_events(pool: asyncpg.Pool, store_id: int, table_id: int, item_id: int, count: int) -> None:
    for _ in range(count):
        await pool.fetchrow("SELECT * FROM place_order($1, $2, $3, $4, NULL, NULL, ''::bytea)",
                            store_id, table_id, [item_id], [1])


async def test_a_slow_client_is_cut_off_not_buffered(pool: asyncpg.Pool, stores: Stores) -> None:
    store = await stores.create()
    hub = Hub(pool, max_per_store=10, heartbeat_interval=60, queue_size=4)
    slow = await hub.subscribe(store.id, None, None)
    reader = await hub.subscribe(store.id, None, None)
    await add_events(pool, store.id, store.tables[1].id, store.item_ids()[0], 10)
    position = await pool.fetchval("SELECT last_event_position FROM stores WHERE id = $1", store.id)
    hub.notify(store.id, position)
    received = [reader.take(await asyncio.wait_for(reader.queue.get(), 5)) for _ in range(10)]
    assert [event.type for event in received if event is not None] == ["order.created"] * 10
    assert reader.queued_bytes == 0 and not reader.dropped
    # The slow subscriber never read: it holds only the end-of-stream marker, not ten events.
    assert slow.dropped
    assert slow.queue.qsize() == 1 and slow.queue.get_nowait() is None
    assert hub.stream_count(store.id) == 2
    hub.unsubscribe(slow)
    hub.unsubscribe(reader)
    assert hub.stream_count() == 0 and hub.feed_count() == 0
    hub.close()


async def test_table_subscribers_get_only_their_table(pool: asyncpg.Pool, stores: Stores) -> None:
    store = await stores.create()
    hub = Hub(pool, max_per_store=10, heartbeat_interval=60)
    table_1 = await hub.subscribe(store.id, store.tables[1].id, None)
    board = await hub.subscribe(store.id, None, None)
    await add_events(pool, store.id, store.tables[1].id, store.item_ids()[0], 2)
    await add_events(pool, store.id, store.tables[2].id, store.item_ids()[0], 3)
    hub.notify(store.id, 10**9)
    board_events = [await asyncio.wait_for(board.queue.get(), 5) for _ in range(5)]
    assert [e.table_id for e in board_events] == [store.tables[1].id] * 2 + [store.tables[2].id] * 3
    assert table_1.queue.qsize() == 2
    hub.close()
