"""The delivery worker: one per worker process, every replica, sharing the endpoints through leases.

Each endpoint is served by one worker at a time: the worker claims it (a lease in its row), sends its
events after its cursor one by one in position order, records each outcome with the lease extended,
and gives the lease back when there is nothing left or an event failed (the endpoint then waits for
its backoff: 1 s doubling, at most 10 minutes; after 24 hours of failures of one event the endpoint
is disabled with a reason). A worker that dies stops extending its lease; when the lease expires
(WEBHOOK_LEASE_SECONDS) another worker takes the endpoint over and sends the event that was in
flight again: at least once, and receivers dedupe by `webhook-id`.

The worker wakes when the listener hears of a new event, and polls every second besides (a missed
notification, a backoff that ran out, another replica's lease that expired). At most
WEBHOOK_CONCURRENCY endpoints are served at once per worker process, each request within
WEBHOOK_TIMEOUT_SECONDS, all included.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import random
import secrets
import socket
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg
import httpx
from standardwebhooks import Webhook

from tableorder import db
from tableorder.settings import Settings
from tableorder.webhooks import addresses, queries

log = logging.getLogger("tableorder.webhooks")

POLL_SECONDS = 1.0
FIRST_BACKOFF_SECONDS = 1.0  # doubling from here...
MAX_BACKOFF_SECONDS = 600.0  # ...up to 10 minutes
GIVE_UP_SECONDS = 24 * 3600.0  # an event failing this long disables its endpoint
SECRET_GRACE_SECONDS = 24 * 3600.0  # a rotated-out secret keeps signing this long
EVENTS_PER_READ = 100
EVENTS_PER_CLAIM = 1000  # read, then the lease is given back and claimed again (others get a turn)
# A claim sends for this long at most, then goes to the back of the queue: one store's backlog on slow
# receivers cannot hold every slot while other stores' events wait.
TURN_SECONDS = 5.0
REDELIVERIES_PER_CLAIM = 20
MAX_RESPONSE_BYTES = 65_536  # read (and dropped) of an answer's body, so the connection can be reused
PRUNE_INTERVAL_SECONDS = 600.0
USER_AGENT = "TableOrder-Webhooks/1.0"


def new_secret() -> str:
    """A Standard Webhooks secret: `whsec_` and 32 random bytes in base64."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


class Outcome(NamedTuple):
    status: int | None  # the HTTP status of the answer; None: no answer
    error: str | None  # None: success (a 2xx)


class Endpoint(NamedTuple):
    """What a worker holding the lease knows of an endpoint (refreshed with every step it records)."""

    key: queries.Key
    url: str
    events: frozenset[str]
    secrets: tuple[str, ...]  # the current secret, then a rotated-out one still in its grace period
    enabled: bool
    delivered_position: int
    head_due: bool

    @classmethod
    def of(cls, row: asyncpg.Record) -> Endpoint:
        return cls((row["store_id"], row["id"]), row["url"], frozenset(row["events"]),
                   tuple(s for s in (row["secret"], row["previous_secret"]) if s), row["enabled"],
                   row["delivered_position"], row["head_due"])


class WebhookWorker:
    def __init__(self, pool: asyncpg.Pool, settings: Settings) -> None:
        self._pool = pool
        self._allow_private = settings.webhook_allow_private
        self._timeout = settings.webhook_timeout_seconds
        self._concurrency = settings.webhook_concurrency
        self._lease = settings.webhook_lease_seconds
        self._retention = settings.event_retention_hours * 3600
        # Who holds a lease: readable by an operator (host and process), unique per start.
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self._client = httpx.AsyncClient(
            timeout=self._timeout, follow_redirects=False, trust_env=False,
            limits=httpx.Limits(max_connections=self._concurrency, max_keepalive_connections=self._concurrency),
            headers={"User-Agent": USER_AGENT})
        self._wakeup = asyncio.Event()
        # The stores with an enabled endpoint, as of the last look (None: not looked yet). An event of
        # another store wakes nothing: woken by every event, the worker looked for due endpoints
        # (CLAIM) about once per order under load, for nothing in a deployment without webhooks
        # (measured at 470 orders/s: 0.26 ms of PostgreSQL and 0.15 ms of this process per order).
        self._stores: frozenset[int] | None = None
        self._next_look = 0.0
        self._serving: dict[queries.Key, asyncio.Task[None]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._next_prune = asyncio.get_running_loop().time() + PRUNE_INTERVAL_SECONDS * random.uniform(0.1, 1.0)

    # -- lifecycle -----------------------------------------------------------------------------------

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="webhooks")

    def wake(self, store_id: int | None = None, _position: int | None = None) -> None:
        """Something may be due: look now rather than at the next poll. With `store_id` (a new event of
        that store), only when the store had an enabled endpoint at the last look (an endpoint made
        since on another worker is found at that worker's next poll, within POLL_SECONDS); without
        it (an endpoint changed here, a reconnect), always, and the stores are looked up again."""
        if store_id is None:
            self._next_look = 0.0
            self._wakeup.set()
        elif self._stores is None or store_id in self._stores:
            self._wakeup.set()

    def wake_stores(self, stores: list[int]) -> None:
        """A batch the relay published (the stores it holds)."""
        if self._stores is None or not self._stores.isdisjoint(stores):
            self._wakeup.set()

    async def stop(self) -> None:
        """A graceful stop (a deploy, a scale-down): no new claims and no new sends; the requests in
        flight get their answer (at most WEBHOOK_TIMEOUT_SECONDS) and are recorded, so no other
        replica sends them again. Only what is still running after that is cancelled."""
        self._stopping = True
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        serving = list(self._serving.values())
        if serving:
            await asyncio.wait(serving, timeout=self._timeout + 2)
        for task in serving:
            task.cancel()
        for task in serving:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        # The events still in flight were perhaps delivered, perhaps not: whoever takes the endpoints
        # over sends them again. Giving the leases back lets that happen now rather than when they expire.
        with contextlib.suppress(*db.UNAVAILABLE, asyncpg.PostgresError, TimeoutError):
            await asyncio.wait_for(queries.release_all(self._pool, self.owner), 5)
        await self._client.aclose()

    # -- the loop --------------------------------------------------------------------------------------

    async def _run(self) -> None:
        delay = POLL_SECONDS
        while True:
            self._wakeup.clear()
            free = self._concurrency - len(self._serving)
            try:
                now = asyncio.get_running_loop().time()
                if now >= self._next_look:
                    self._next_look = now + POLL_SECONDS
                    self._stores = frozenset(await queries.stores_with_endpoints(self._pool))
                if free > 0:
                    for row in await queries.claim(self._pool, self.owner, free, self._lease):
                        endpoint = Endpoint.of(row)
                        self._serving[endpoint.key] = asyncio.create_task(
                            self._serve(endpoint), name=f"webhook-{endpoint.key[0]}-{endpoint.key[1]}")
                await self._prune_now_and_then()
                delay = POLL_SECONDS
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                level = logging.WARNING if isinstance(exc, db.UNAVAILABLE) else logging.ERROR
                log.log(level, "claiming webhook endpoints failed: %r; retrying in %.0f s", exc, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wakeup.wait(), POLL_SECONDS)

    async def _prune_now_and_then(self) -> None:
        now = asyncio.get_running_loop().time()
        if now >= self._next_prune:
            self._next_prune = now + PRUNE_INTERVAL_SECONDS * random.uniform(0.5, 1.5)
            await queries.prune_deliveries(self._pool, self._retention)

    async def _serve(self, endpoint: Endpoint) -> None:
        try:
            await self._deliver(endpoint)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The database went away mid-way: the lease runs out and the endpoint is taken up again.
            level = logging.WARNING if isinstance(exc, db.UNAVAILABLE) else logging.ERROR
            log.log(level, "serving webhook endpoint %s failed: %r", endpoint.key, exc)
        finally:
            self._serving.pop(endpoint.key, None)
            self._wakeup.set()  # a free slot; and events that came while this endpoint was held

    async def _deliver(self, endpoint: Endpoint) -> None:
        current = await self._redeliver(endpoint)
        more = False
        if current is not None and current.head_due:
            current, more = await self._send_in_order(current)
        if current is not None:
            await queries.release(self._pool, current.key, self.owner, requeue=more)

    async def _redeliver(self, endpoint: Endpoint) -> Endpoint | None:
        """The redeliveries the staff asked for, each sent once, before the endpoint's own queue."""
        current = endpoint
        for row in await queries.redeliveries(self._pool, endpoint.key, REDELIVERIES_PER_CLAIM):
            if row["body"] is None:
                outcome, attempted = Outcome(None, "the event is no longer kept"), False
            else:
                outcome, attempted = await self._send(current, row["position"], row["body"]), True
            refreshed = await queries.record_redelivery(self._pool, current.key, self.owner, row["id"],
                                                        outcome.status, outcome.error, attempted, self._lease)
            if refreshed is None:
                return None  # the lease was lost, or the endpoint deleted
            current = Endpoint.of(refreshed)
            if not current.enabled:
                return None
        return current

    async def _send_in_order(self, endpoint: Endpoint) -> tuple[Endpoint | None, bool]:
        """The events after the cursor, in position order; stops at the first failure (head of line),
        at the end of the endpoint's turn (TURN_SECONDS) or when the worker stops. Returns the
        endpoint (None: the lease is gone) and whether events may still be waiting."""
        current = endpoint
        loop = asyncio.get_running_loop()
        turn_ends = loop.time() + TURN_SECONDS
        read = 0
        while read < EVENTS_PER_CLAIM:
            events = await queries.next_events(self._pool, current.key[0], current.delivered_position,
                                               EVENTS_PER_READ)
            read += len(events)
            if not events:
                return current, False
            for event in events:
                if event["type"] not in current.events:
                    continue
                if self._stopping or loop.time() >= turn_ends:
                    return current, True
                outcome = await self._send(current, event["position"], event["body"])
                if outcome.error is not None:
                    await self._failed(current, event["position"], event["type"], outcome)
                    return None, False  # the lease went back with the failure
                refreshed = await queries.record_done(self._pool, current.key, self.owner, event["position"],
                                                      event["type"], outcome.status, self._lease)
                if refreshed is None:
                    return None, False
                current = Endpoint.of(refreshed)
                if not current.enabled:
                    return None, False
            # The events after the last one sent were not among the endpoint's types.
            last = events[-1]["position"]
            if last > current.delivered_position:
                refreshed = await queries.record_done(self._pool, current.key, self.owner, last, None, None,
                                                      self._lease)
                if refreshed is None:
                    return None, False
                current = Endpoint.of(refreshed)
            if len(events) < EVENTS_PER_READ:
                return current, False
        return current, True

    async def _failed(self, endpoint: Endpoint, position: int, event_type: str, outcome: Outcome) -> None:
        error = (outcome.error or "")[:500]
        store_id = endpoint.key[0]
        reason = (f"Deliveries of event {store_id}:{position} failed for 24 hours (last: {error}); fix the "
                  "receiver and enable the endpoint again to go on from that event.")[:500]
        enabled = await queries.record_failure(self._pool, endpoint.key, self.owner, position, event_type,
                                               outcome.status, error, reason, MAX_BACKOFF_SECONDS,
                                               GIVE_UP_SECONDS)
        if enabled is False:
            log.warning("webhook endpoint %s disabled: %s", endpoint.key, reason)

    # -- one request ------------------------------------------------------------------------------------

    async def _send(self, endpoint: Endpoint, position: int, body: str) -> Outcome:
        webhook_id = f"{endpoint.key[0]}:{position}"
        timestamp = datetime.fromtimestamp(int(datetime.now(UTC).timestamp()), UTC)
        signature = " ".join(Webhook(secret).sign(webhook_id, timestamp, body) for secret in endpoint.secrets)
        headers = {
            "Content-Type": "application/json",
            "webhook-id": webhook_id,
            "webhook-timestamp": str(int(timestamp.timestamp())),
            "webhook-signature": signature,
        }
        try:
            async with asyncio.timeout(self._timeout):
                target = await addresses.resolve(endpoint.url, allow_private=self._allow_private)
                request = self._client.build_request(
                    "POST", target.url, content=body.encode(), headers={**headers, **target.headers},
                    extensions=target.extensions)
                response = await self._client.send(request, stream=True)
                try:
                    read = 0
                    async for chunk in response.aiter_raw():
                        read += len(chunk)
                        if read > MAX_RESPONSE_BYTES:
                            break
                finally:
                    await response.aclose()
        except addresses.UrlRefused as exc:
            return Outcome(None, f"not sent: {exc}")
        except TimeoutError:
            return Outcome(None, f"no answer within {self._timeout:g} s")
        except httpx.HTTPError as exc:
            return Outcome(None, f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__)
        if 200 <= response.status_code < 300:
            return Outcome(response.status_code, None)
        return Outcome(response.status_code, f"HTTP {response.status_code} {response.reason_phrase}".strip())
