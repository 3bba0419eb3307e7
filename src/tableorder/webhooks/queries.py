"""The SQL of webhooks: the staff's endpoints and deliveries, and the delivery workers' steps.

Every statement is scoped by store_id. A worker's statements about an endpoint also name the lease
they hold (`lease_owner`): once the lease was lost to another worker they change nothing.
"""

from __future__ import annotations

import asyncpg

Key = tuple[int, int]  # (store_id, endpoint id)

_ENDPOINT = """
    w.id, w.url, w.events, w.description, w.enabled, w.disabled_reason, w.delivered_position,
    w.failing_since, CASE WHEN w.enabled AND w.failing_since IS NOT NULL THEN w.next_attempt_at END AS next_attempt_at,
    w.created_at, w.updated_at
"""

# --- the staff's side ------------------------------------------------------------------------------

CREATE = f"""
INSERT INTO webhook_endpoints AS w (store_id, url, events, description, secret, delivered_position)
SELECT s.id, $2, $3, $4, $5, s.last_event_position FROM stores s
 WHERE s.id = $1 AND (SELECT count(*) FROM webhook_endpoints WHERE store_id = $1) < $6
RETURNING {_ENDPOINT}, w.secret
"""


async def create_endpoint(pool: asyncpg.Pool, store_id: int, url: str, events: list[str], description: str,
                          secret: str, max_per_store: int) -> asyncpg.Record | None:
    """A new endpoint starts after the store's last committed event: it gets what commits from now on.
    None when the store has `max_per_store` endpoints already."""
    row: asyncpg.Record | None = await pool.fetchrow(CREATE, store_id, url, events, description, secret,
                                                     max_per_store)
    return row


async def list_endpoints(pool: asyncpg.Pool, store_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints w WHERE w.store_id = $1 ORDER BY w.id", store_id)
    return rows


async def get_endpoint(pool: asyncpg.Pool, store_id: int, endpoint_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"SELECT {_ENDPOINT} FROM webhook_endpoints w WHERE w.store_id = $1 AND w.id = $2", store_id, endpoint_id)
    return row


# A new URL, or enabling the endpoint again, starts its failure count afresh and tries at once.
# Enabling clears disabled_reason; disabling keeps any (a given-up endpoint stays explained).
UPDATE = f"""
UPDATE webhook_endpoints w SET
    url = coalesce($3, w.url),
    events = coalesce($4, w.events),
    description = coalesce($5, w.description),
    enabled = coalesce($6, w.enabled),
    disabled_reason = CASE WHEN $6 IS TRUE THEN NULL ELSE w.disabled_reason END,
    attempts = CASE WHEN $3 <> w.url OR ($6 AND NOT w.enabled) THEN 0 ELSE w.attempts END,
    failing_since = CASE WHEN $3 <> w.url OR ($6 AND NOT w.enabled) THEN NULL ELSE w.failing_since END,
    next_attempt_at = CASE WHEN $3 <> w.url OR ($6 AND NOT w.enabled) THEN now() ELSE w.next_attempt_at END,
    revision = w.revision + 1,
    updated_at = now()
 WHERE w.store_id = $1 AND w.id = $2
RETURNING {_ENDPOINT}
"""


async def update_endpoint(pool: asyncpg.Pool, store_id: int, endpoint_id: int, *, url: str | None,
                          events: list[str] | None, description: str | None,
                          enabled: bool | None) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(UPDATE, store_id, endpoint_id, url, events, description,
                                                     enabled)
    return row


async def delete_endpoint(pool: asyncpg.Pool, store_id: int, endpoint_id: int) -> bool:
    status: str = await pool.execute("DELETE FROM webhook_endpoints WHERE store_id = $1 AND id = $2",
                                     store_id, endpoint_id)
    return status == "DELETE 1"


# The old secret keeps signing alongside the new one for a grace period, so receivers can switch
# over without refusing a delivery; a rotation within the grace period drops the oldest.
ROTATE = f"""
UPDATE webhook_endpoints w SET
    previous_secret = w.secret, previous_secret_expires_at = now() + make_interval(secs => $4),
    secret = $3, revision = w.revision + 1, updated_at = now()
 WHERE w.store_id = $1 AND w.id = $2
RETURNING {_ENDPOINT}, w.secret
"""


async def rotate_secret(pool: asyncpg.Pool, store_id: int, endpoint_id: int, secret: str,
                        grace_seconds: float) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(ROTATE, store_id, endpoint_id, secret, grace_seconds)
    return row


_DELIVERY = """
    d.id, d.store_id || ':' || d.position AS webhook_id, d.position, d.event_type, d.status, d.attempts,
    d.last_status, d.last_error, d.created_at, d.last_attempt_at, d.succeeded_at,
    CASE WHEN d.status = 'pending' AND w.enabled AND d.position > w.delivered_position
         THEN w.next_attempt_at END AS next_attempt_at,
    d.redeliver_requested_at
"""

# One row per delivery, or one row of NULLs for an endpoint without any; none for no endpoint.
DELIVERIES = f"""
SELECT {_DELIVERY} FROM webhook_endpoints w
  LEFT JOIN LATERAL (
      SELECT * FROM webhook_deliveries d
       WHERE d.store_id = w.store_id AND d.endpoint_id = w.id AND ($3::bigint IS NULL OR d.position < $3)
       ORDER BY d.position DESC LIMIT $4) AS d ON true
 WHERE w.store_id = $1 AND w.id = $2
 ORDER BY d.position DESC
"""


async def list_deliveries(pool: asyncpg.Pool, store_id: int, endpoint_id: int, before: int | None,
                          limit: int) -> list[asyncpg.Record] | None:
    """Deliveries before position `before` (all when None), newest first; None: no such endpoint."""
    rows: list[asyncpg.Record] = await pool.fetch(DELIVERIES, store_id, endpoint_id, before, limit)
    if not rows:
        return None
    return [row for row in rows if row["id"] is not None]


async def get_delivery(pool: asyncpg.Pool, store_id: int, endpoint_id: int, delivery_id: int) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(
        f"""SELECT {_DELIVERY} FROM webhook_deliveries d
              JOIN webhook_endpoints w ON w.store_id = d.store_id AND w.id = d.endpoint_id
             WHERE d.store_id = $1 AND d.endpoint_id = $2 AND d.id = $3""", store_id, endpoint_id, delivery_id)
    return row


# A delivery that is done is marked for the worker to send once more; one not yet done (the event
# the endpoint is retrying) is simply tried now rather than at its next backoff step.
REDELIVER = """
WITH target AS (
    SELECT d.position, w.enabled, w.delivered_position,
           EXISTS (SELECT 1 FROM events e WHERE e.store_id = d.store_id AND e.position = d.position) AS kept
      FROM webhook_deliveries d JOIN webhook_endpoints w ON w.store_id = d.store_id AND w.id = d.endpoint_id
     WHERE d.store_id = $1 AND d.endpoint_id = $2 AND d.id = $3
), marked AS (
    UPDATE webhook_deliveries d SET redeliver_requested_at = now() FROM target t
     WHERE d.store_id = $1 AND d.id = $3 AND t.enabled AND t.kept AND t.position <= t.delivered_position
    RETURNING 1
), hurried AS (
    UPDATE webhook_endpoints w SET next_attempt_at = least(w.next_attempt_at, now()) FROM target t
     WHERE w.store_id = $1 AND w.id = $2 AND t.enabled AND t.kept AND t.position > t.delivered_position
    RETURNING 1
)
SELECT enabled, kept FROM target
"""


async def request_redelivery(pool: asyncpg.Pool, store_id: int, endpoint_id: int,
                             delivery_id: int) -> asyncpg.Record | None:
    """(enabled, kept) of the delivery's endpoint and event; marked only when both hold. None: no such delivery."""
    row: asyncpg.Record | None = await pool.fetchrow(REDELIVER, store_id, endpoint_id, delivery_id)
    return row


# --- the delivery workers' side -----------------------------------------------------------------------

_WORK = """
    w.store_id, w.id, w.url, w.events, w.secret,
    CASE WHEN w.previous_secret_expires_at > now() THEN w.previous_secret END AS previous_secret,
    w.enabled, w.revision, w.delivered_position, w.attempts, w.next_attempt_at <= now() AS head_due
"""

# Endpoints with something to do: an event after their cursor once their backoff is over, or a
# redelivery asked for. The rows are locked only for this statement (SKIP LOCKED: two workers
# claiming at once take different endpoints, never wait); the lease then keeps them.
CLAIM = f"""
WITH due AS (
    SELECT w.store_id, w.id FROM webhook_endpoints w JOIN stores s ON s.id = w.store_id
     WHERE w.enabled AND (w.lease_expires_at IS NULL OR w.lease_expires_at < now())
       AND ((w.next_attempt_at <= now() AND s.last_event_position > w.delivered_position)
            OR EXISTS (SELECT 1 FROM webhook_deliveries d
                        WHERE d.store_id = w.store_id AND d.endpoint_id = w.id
                          AND d.redeliver_requested_at IS NOT NULL))
     ORDER BY w.next_attempt_at
     LIMIT $2
       FOR UPDATE OF w SKIP LOCKED
)
UPDATE webhook_endpoints w SET lease_owner = $1, lease_expires_at = now() + make_interval(secs => $3)
  FROM due WHERE w.store_id = due.store_id AND w.id = due.id
RETURNING {_WORK}
"""


async def stores_with_endpoints(pool: asyncpg.Pool) -> list[int]:
    """The stores with an enabled endpoint (whose events may be due somewhere)."""
    stores: list[int] = await pool.fetchval(
        "SELECT coalesce(array_agg(DISTINCT store_id), '{}') FROM webhook_endpoints WHERE enabled")
    return stores


async def claim(pool: asyncpg.Pool, owner: str, limit: int, lease_seconds: float) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(CLAIM, owner, limit, lease_seconds)
    return rows


# The webhook body is built here, once per event: {type, position, store_id, data, created_at}.
NEXT_EVENTS = """
SELECT e.position, e.type,
       json_build_object('type', e.type, 'position', e.position, 'store_id', e.store_id,
                         'data', e.payload, 'created_at', e.created_at)::text AS body
  FROM events e WHERE e.store_id = $1 AND e.position > $2 ORDER BY e.position LIMIT $3
"""


async def next_events(pool: asyncpg.Pool, store_id: int, after: int, limit: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(NEXT_EVENTS, store_id, after, limit)
    return rows


REDELIVERIES = """
SELECT d.id, d.position, d.event_type,
       (SELECT json_build_object('type', e.type, 'position', e.position, 'store_id', e.store_id,
                                 'data', e.payload, 'created_at', e.created_at)::text
          FROM events e WHERE e.store_id = d.store_id AND e.position = d.position) AS body
  FROM webhook_deliveries d
 WHERE d.store_id = $1 AND d.endpoint_id = $2 AND d.redeliver_requested_at IS NOT NULL
 ORDER BY d.position LIMIT $3
"""


async def redeliveries(pool: asyncpg.Pool, key: Key, limit: int) -> list[asyncpg.Record]:
    """Redeliveries asked for; `body` is None when the event is no longer kept."""
    rows: list[asyncpg.Record] = await pool.fetch(REDELIVERIES, *key, limit)
    return rows


# The endpoint is done with everything up to $4: its cursor moves there, its failure state clears,
# the lease is extended, and (when $5 names the event type) the delivery is recorded as succeeded.
# Returns the endpoint as it is now (the staff may have changed it meanwhile); no row when the lease
# was lost or the endpoint deleted.
DONE = f"""
WITH endpoint AS (
    UPDATE webhook_endpoints w SET
        delivered_position = greatest(w.delivered_position, $4), attempts = 0, failing_since = NULL,
        next_attempt_at = now(), lease_expires_at = now() + make_interval(secs => $7)
     WHERE w.store_id = $1 AND w.id = $2 AND w.lease_owner = $3
    RETURNING {_WORK}
), delivery AS (
    INSERT INTO webhook_deliveries AS d (store_id, endpoint_id, position, event_type, status, attempts,
                                         last_status, last_attempt_at, succeeded_at)
    SELECT $1, $2, $4, $5, 'succeeded', 1, $6, now(), now() FROM endpoint WHERE $5::text IS NOT NULL
    ON CONFLICT (store_id, endpoint_id, position) DO UPDATE SET
        status = 'succeeded', attempts = d.attempts + 1, last_status = excluded.last_status, last_error = NULL,
        last_attempt_at = excluded.last_attempt_at, succeeded_at = excluded.succeeded_at
)
SELECT * FROM endpoint
"""


async def record_done(pool: asyncpg.Pool, key: Key, owner: str, position: int, event_type: str | None,
                      status: int | None, lease_seconds: float) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(DONE, *key, owner, position, event_type, status, lease_seconds)
    return row


# The head event failed: one more attempt counted, the next one after 1 s doubling up to $9 seconds;
# when its first failure is $10 seconds old, the endpoint is disabled with the reason $8. The lease is
# given back either way (the endpoint waits for its backoff). Returns whether it is still enabled.
FAILED = """
WITH endpoint AS (
    UPDATE webhook_endpoints w SET
        attempts = w.attempts + 1,
        failing_since = coalesce(w.failing_since, now()),
        next_attempt_at = now() + make_interval(secs => least($9, 2 ^ least(w.attempts, 30))),
        enabled = coalesce(w.failing_since, now()) > now() - make_interval(secs => $10),
        disabled_reason = CASE WHEN coalesce(w.failing_since, now()) > now() - make_interval(secs => $10)
                               THEN w.disabled_reason ELSE $8 END,
        lease_owner = NULL, lease_expires_at = NULL
     WHERE w.store_id = $1 AND w.id = $2 AND w.lease_owner = $3
    RETURNING w.enabled
), delivery AS (
    INSERT INTO webhook_deliveries AS d (store_id, endpoint_id, position, event_type, status, attempts,
                                         last_status, last_error, last_attempt_at)
    SELECT $1, $2, $4, $5, CASE WHEN endpoint.enabled THEN 'pending' ELSE 'failed' END, 1, $6, $7, now()
      FROM endpoint
    ON CONFLICT (store_id, endpoint_id, position) DO UPDATE SET
        status = excluded.status, attempts = d.attempts + 1, last_status = excluded.last_status,
        last_error = excluded.last_error, last_attempt_at = excluded.last_attempt_at
)
SELECT enabled FROM endpoint
"""


async def record_failure(pool: asyncpg.Pool, key: Key, owner: str, position: int, event_type: str,
                         status: int | None, error: str, reason: str, max_backoff: float,
                         give_up_after: float) -> bool | None:
    """Whether the endpoint is still enabled; None when the lease was lost."""
    enabled: bool | None = await pool.fetchval(FAILED, *key, owner, position, event_type, status, error, reason,
                                               max_backoff, give_up_after)
    return enabled


# A redelivery's outcome: counted on its delivery, which is done with (succeeded or not: the staff ask
# again if they want); the lease is extended.
REDELIVERED = f"""
WITH endpoint AS (
    UPDATE webhook_endpoints w SET lease_expires_at = now() + make_interval(secs => $8)
     WHERE w.store_id = $1 AND w.id = $2 AND w.lease_owner = $3
    RETURNING {_WORK}
), delivery AS (
    UPDATE webhook_deliveries d SET
        redeliver_requested_at = NULL, attempts = d.attempts + CASE WHEN $7 THEN 1 ELSE 0 END,
        last_status = CASE WHEN $7 THEN $5 ELSE d.last_status END,
        last_error = $6, last_attempt_at = CASE WHEN $7 THEN now() ELSE d.last_attempt_at END,
        status = CASE WHEN $7 AND $6::text IS NULL THEN 'succeeded' ELSE d.status END,
        succeeded_at = CASE WHEN $7 AND $6::text IS NULL THEN now() ELSE d.succeeded_at END
      FROM endpoint WHERE d.store_id = $1 AND d.endpoint_id = $2 AND d.id = $4
)
SELECT * FROM endpoint
"""


async def record_redelivery(pool: asyncpg.Pool, key: Key, owner: str, delivery_id: int, status: int | None,
                            error: str | None, attempted: bool, lease_seconds: float) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await pool.fetchrow(REDELIVERED, *key, owner, delivery_id, status, error, attempted,
                                                     lease_seconds)
    return row


async def release(pool: asyncpg.Pool, key: Key, owner: str, *, requeue: bool = False) -> None:
    """`requeue`: the endpoint used up its turn with events still waiting; it is due again at once,
    but behind every endpoint that was due before it (claims go by next_attempt_at)."""
    await pool.execute("UPDATE webhook_endpoints SET lease_owner = NULL, lease_expires_at = NULL,"
                       " next_attempt_at = CASE WHEN $4 THEN now() ELSE next_attempt_at END"
                       " WHERE store_id = $1 AND id = $2 AND lease_owner = $3", *key, owner, requeue)


async def release_all(pool: asyncpg.Pool, owner: str) -> None:
    """At shutdown: another worker may take this one's endpoints over at once."""
    await pool.execute("UPDATE webhook_endpoints SET lease_owner = NULL, lease_expires_at = NULL"
                       " WHERE lease_owner = $1", owner)


PRUNE_DELIVERIES = """
DELETE FROM webhook_deliveries d USING webhook_endpoints w
 WHERE w.store_id = d.store_id AND w.id = d.endpoint_id
   AND d.created_at < now() - make_interval(secs => $1)
   AND (d.status <> 'pending' OR d.position <= w.delivered_position)
"""


async def prune_deliveries(pool: asyncpg.Pool, older_than_seconds: float) -> None:
    """Deliveries that are over, once their event would be pruned too; the one an endpoint is still
    retrying stays."""
    await pool.execute(PRUNE_DELIVERIES, older_than_seconds)
