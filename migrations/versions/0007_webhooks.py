"""Signed webhooks: endpoints and deliveries (issue 11, point 5).

The events table is the outbox: nothing is written per webhook when an event commits. Each endpoint
keeps a cursor, `delivered_position`, the last position of its store's feed it is done with (sent
and answered 2xx, or not among its event types). Delivery is head-of-line: the event after the
cursor is retried until it succeeds (or the endpoint is given up), so an endpoint receives its
events in position order.

- Retries: `attempts` failed tries of the head event since `failing_since` (its first failure); the
  next one at `next_attempt_at`, 1 s doubling up to 10 minutes. A head event that still fails 24 hours
  after its first failure disables the endpoint with a `disabled_reason`.
- Exclusivity across replicas: a worker claims an endpoint by setting `lease_owner` and
  `lease_expires_at` (claimed with FOR UPDATE SKIP LOCKED, so claims never wait on each other), and
  extends the lease with every step it records. A worker that dies stops extending; when the lease
  expires another takes the endpoint over and sends the event in flight again (at least once).
- `revision` counts the staff's changes (URL, types, secret, enabled), so a worker holding the lease
  picks them up before its next request.
- `previous_secret` signs too, until `previous_secret_expires_at` (a rotation's grace period).
- webhook_deliveries: one row per event per endpoint, written when the event is first tried, with
  its attempts and last outcome. `redeliver_requested_at` asks the worker to send an event that is
  already done once more.

Events are pruned after EVENT_RETENTION_HOURS, except those after the cursor of an enabled
endpoint (see events/housekeeping.py): an endpoint's undelivered events stay until they are sent or
it is given up.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29
"""

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE webhook_endpoints (
    store_id           bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    id                 bigint GENERATED ALWAYS AS IDENTITY,
    url                text NOT NULL CHECK (url ~* '^https?://' AND char_length(url) <= 2048),
    events             text[] NOT NULL CHECK (cardinality(events) BETWEEN 1 AND 50
                                              AND array_position(events, NULL) IS NULL),
    description        text NOT NULL DEFAULT '' CHECK (char_length(description) <= 500),
    secret             text NOT NULL CHECK (secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
    previous_secret    text CHECK (previous_secret ~ '^whsec_[A-Za-z0-9+/]+=*$'),
    previous_secret_expires_at timestamptz,
    enabled            boolean NOT NULL DEFAULT true,
    disabled_reason    text CHECK (char_length(disabled_reason) <= 500),
    revision           integer NOT NULL DEFAULT 1,
    delivered_position bigint NOT NULL CHECK (delivered_position >= 0),
    attempts           integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    failing_since      timestamptz,
    next_attempt_at    timestamptz NOT NULL DEFAULT now(),
    lease_owner        text,
    lease_expires_at   timestamptz,
    created_at         timestamptz NOT NULL DEFAULT now(),
    updated_at         timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, id),
    CHECK ((lease_owner IS NULL) = (lease_expires_at IS NULL)),
    CHECK ((previous_secret IS NULL) = (previous_secret_expires_at IS NULL))
);
-- What the workers poll: enabled endpoints by when they are due.
CREATE INDEX webhook_endpoints_due ON webhook_endpoints (next_attempt_at) WHERE enabled;

CREATE TABLE webhook_deliveries (
    store_id        bigint NOT NULL,
    endpoint_id     bigint NOT NULL,
    id              bigint GENERATED ALWAYS AS IDENTITY,
    position        bigint NOT NULL CHECK (position > 0),
    event_type      text NOT NULL,
    status          text NOT NULL CHECK (status IN ('pending', 'succeeded', 'failed')),
    attempts        integer NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    last_status     integer CHECK (last_status BETWEEN 100 AND 599),
    last_error      text CHECK (char_length(last_error) <= 500),
    created_at      timestamptz NOT NULL DEFAULT now(),
    last_attempt_at timestamptz,
    succeeded_at    timestamptz,
    redeliver_requested_at timestamptz,
    PRIMARY KEY (store_id, id),
    UNIQUE (store_id, endpoint_id, position),
    FOREIGN KEY (store_id, endpoint_id) REFERENCES webhook_endpoints (store_id, id) ON DELETE CASCADE
);
-- Redeliveries the staff asked for (few, and gone once sent).
CREATE INDEX webhook_deliveries_redeliver ON webhook_deliveries (store_id, endpoint_id)
    WHERE redeliver_requested_at IS NOT NULL;
CREATE INDEX webhook_deliveries_created ON webhook_deliveries (created_at);
"""

DOWNGRADE = """
DROP TABLE webhook_deliveries;
DROP TABLE webhook_endpoints;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
