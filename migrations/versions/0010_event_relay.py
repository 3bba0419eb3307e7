"""Events relayed off the commit path (issue 13, point 1).

Until now every transaction that recorded an event called pg_notify(). PostgreSQL serialises every
committing transaction that has notified on one cluster-wide lock held through its WAL flush
(PreCommit_Notify in async.c), so the whole deployment's order rate was capped by that lock. Now:

- record_event() only writes the event row. The row carries its transaction's id
  (`xid xid8 DEFAULT pg_current_xact_id()`), so a relay can follow the table in commit order with a
  snapshot watermark: the rows visible in the current snapshot and not in the previous one are
  exactly those committed in between, whatever order they started in (a bare `id > last` would miss a
  transaction that commits after a later one).
- event_relay holds the relay's watermark (a row per bus), advanced in the same transaction that publishes
  the batch, so a relay taking over goes on exactly where the last one stopped.
- store_signals: what a replica must forget that is not an event of a store's feed (a credential
  changed: cached token checks of the store are stale). The credential triggers write a row here; the
  relay publishes it with the events.
- The previous design stays as a switch for comparison (`EVENT_PUBLISH=commit`): a session with the
  setting `tableorder.notify_on_commit = on` still notifies at commit, from both functions.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-29
"""

import re
from pathlib import Path

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

UPGRADE = """
ALTER TABLE events ADD COLUMN xid xid8 NOT NULL DEFAULT pg_current_xact_id();
CREATE INDEX events_xid ON events (xid);

-- One relay per bus (EVENT_BUS): while a deployment moves from one bus to the other, replicas of
-- both kinds get every event.
CREATE TABLE event_relay (
    bus        text PRIMARY KEY CHECK (bus IN ('postgres', 'nats')),
    -- Everything visible in this snapshot has been published on this bus.
    snapshot   pg_snapshot NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);
INSERT INTO event_relay (bus, snapshot) VALUES ('postgres', pg_current_snapshot()), ('nats', pg_current_snapshot());

-- No reference to stores: the signal of a store being deleted must outlive it (its tokens end).
CREATE TABLE store_signals (
    store_id   bigint NOT NULL,
    kind       text NOT NULL CHECK (kind IN ('credentials.changed')),
    xid        xid8 NOT NULL DEFAULT pg_current_xact_id(),
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX store_signals_xid ON store_signals (xid);
CREATE INDEX store_signals_created ON store_signals (created_at);

-- Appends an event at the store's next position. The UPDATE takes the store row's lock until commit,
-- so a later position can only be handed out after the earlier one committed (or rolled back and
-- was reused): readers that see position N have seen 1..N-1. The relay publishes it after commit.
CREATE OR REPLACE FUNCTION record_event(p_store_id bigint, p_type text, p_table_id bigint, p_payload json)
RETURNS void LANGUAGE plpgsql AS $$
DECLARE
    v_position bigint;
BEGIN
    UPDATE stores SET last_event_position = last_event_position + 1
     WHERE id = p_store_id RETURNING last_event_position INTO v_position;
    IF NOT FOUND THEN
        RETURN;  -- the store itself is being deleted
    END IF;
    -- Deferred triggers call this at commit, so clock_timestamp() is the commit time (what the
    -- push latency benchmark measures from).
    INSERT INTO events (store_id, position, type, table_id, payload, created_at)
    VALUES (p_store_id, v_position, p_type, p_table_id, p_payload, clock_timestamp());
    -- The design before the relay, kept for comparison (EVENT_PUBLISH=commit).
    IF current_setting('tableorder.notify_on_commit', true) = 'on' THEN
        PERFORM pg_notify('tableorder_events', p_store_id::text || ':' || v_position::text || ':' || p_type);
    END IF;
END
$$;

-- Tells every replica (through the relay) that a token check of this store may have changed its
-- answer. Not an event of the store's feed (no position; boards and tablets never see it).
CREATE OR REPLACE FUNCTION credentials_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    INSERT INTO store_signals (store_id, kind) VALUES (r.store_id, 'credentials.changed');
    IF current_setting('tableorder.notify_on_commit', true) = 'on' THEN
        PERFORM pg_notify('tableorder_events', r.store_id::text || ':0:credentials.changed');
    END IF;
    RETURN NULL;
END
$$;
"""

DOWNGRADE = """
DROP TABLE store_signals;
DROP TABLE event_relay;
ALTER TABLE events DROP COLUMN xid;
"""


def _function_of(revision_file: str, name: str) -> str:
    """`CREATE FUNCTION name ...$$;` as an earlier revision wrote it, read from its own file."""
    text = Path(__file__).with_name(revision_file).read_text()
    match = re.search(rf"CREATE FUNCTION {name}\(.*?\n\$\$;\n", text, re.DOTALL)
    assert match is not None, f"{name} not found in {revision_file}"
    return match.group(0).replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1)


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(_function_of("0001_initial.py", "record_event"))
    op.execute(_function_of("0003_streams_and_credentials.py", "credentials_notify"))
    op.execute(DOWNGRADE)
