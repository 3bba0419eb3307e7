"""Sold out until a time: an item whose `sold_out_until` has come becomes available by itself.

Every replica (every worker) runs the loop; there is nothing to elect. Once a second each asks for
the items that are due, through the partial index menu_items_sold_out_until (only items sold out
until a time are in it), so a round with nothing due reads an empty index range and writes nothing.
A due item is updated like any change staff make: the menu trigger records `menu.updated`, every
replica's listener drops the store's cached menu, and open tablets reload it. Replicas racing for
the same item are harmless: a row another one holds is skipped (SKIP LOCKED) and one already
restored no longer matches, so each item comes back once, with one event.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg

from tableorder import db

log = logging.getLogger("tableorder.sold_out")

# How often the loop looks: an item comes back within about this long after its time.
INTERVAL_SECONDS = 1.0
# At most this many items a round, so one statement stays short; a full round goes again at once.
BATCH = 500

# now(), not clock_timestamp(): the index is searched with a value fixed for the statement.
RESTORE_DUE = """
WITH due AS (
    SELECT store_id, id FROM menu_items WHERE sold_out_until <= now()
     ORDER BY sold_out_until LIMIT $1 FOR UPDATE SKIP LOCKED
)
UPDATE menu_items m SET available = true, sold_out_until = NULL, updated_at = now()
  FROM due WHERE m.store_id = due.store_id AND m.id = due.id
"""


async def restore_due(pool: asyncpg.Pool, batch: int = BATCH) -> int:
    """Makes the items whose sold-out time has come available again; returns how many it did."""
    status: str = await pool.execute(RESTORE_DUE, batch)
    return int(status.rsplit(" ", 1)[-1])


async def restore_forever(pool: asyncpg.Pool, interval: float = INTERVAL_SECONDS) -> None:
    failing = False
    while True:
        try:
            while await restore_due(pool) == BATCH:
                pass
        except (*db.UNAVAILABLE, asyncpg.PostgresError) as exc:
            # Once per outage, not once a second.
            if not failing:
                log.warning("restoring sold-out items failed (retrying every %.0f s): %r", interval, exc)
            failing = True
        else:
            if failing:
                log.info("restoring sold-out items works again")
            failing = False
        await asyncio.sleep(interval)
