"""Restaurant capabilities (issue 12, SPEC section 10): options, languages, staff calls, kitchen
stations and tickets, sold out until a time, moving and merging sessions.

- stores.languages: the languages the menu is kept in; the first is the store's working language
  (orders, the board and tickets use it). Codes are checked by the API (BCP 47 tags it supports).
- translations (categories, items, option groups, options): {"en": {"name": ..., "description": ...}}.
- stations: where a line is prepared. A category routes its items to a station; an item may
  override it. place_order() snapshots the station on each line (order_lines.station_id), so moving
  an item later does not move tickets already made.
- option_groups / options: an item's choices. `min_select` >= 1 makes a group required. A line keeps
  a snapshot of what was chosen (`options`: [{group, name, price_delta}]) and its price
  (`options_price`, the sum of the deltas), so renaming or repricing an option changes no past order.
- tickets: one per order and station with that station's lines, made when the order commits
  (orders_route_tickets, deferred, fires after orders_record_created by name); `done_at` marks it
  done. When every ticket of an order is done, the order becomes completed.
- staff_calls: a table asks for staff; at most one open call per table and reason (a unique index,
  so two presses at once make one call).
- menu_items.sold_out_until: an unavailable item becomes available by itself at that time
  (housekeeping on every replica; the update records menu.updated like any other).
- events: the new types call.created, call.resolved, ticket.created, ticket.done,
  table.session_moved.

The trigger functions live in migrations/documents.sql, which this revision runs (with body checks
off: the file at head may read what later revisions add; `tableorder migrate` replays it at head).
The downgrade restores 0008's schema exactly (its functions from migrations/documents_0008.sql).

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-29
"""

from pathlib import Path

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

MIGRATIONS = Path(__file__).resolve().parents[1]

EVENT_TYPES_0008 = ("'order.created', 'order.updated', 'order.cancelled', 'table.session_closed', "
                    "'menu.updated'")
EVENT_TYPES = EVENT_TYPES_0008 + (", 'call.created', 'call.resolved', 'ticket.created', 'ticket.done', "
                                  "'table.session_moved'")

TRANSLATIONS = ("translations jsonb NOT NULL DEFAULT '{}' "
                "CHECK (jsonb_typeof(translations) = 'object' AND octet_length(translations::text) <= 8000)")

UPGRADE = f"""
ALTER TABLE stores ADD COLUMN languages text[] NOT NULL DEFAULT '{{ko}}'
    CHECK (cardinality(languages) BETWEEN 1 AND 10 AND array_position(languages, NULL) IS NULL);

CREATE TABLE stations (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id   bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, name),
    UNIQUE (id, store_id)
);

ALTER TABLE menu_categories
    ADD COLUMN {TRANSLATIONS},
    ADD COLUMN station_id bigint,
    ADD FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id);
ALTER TABLE menu_items
    ADD COLUMN {TRANSLATIONS},
    ADD COLUMN station_id bigint,
    ADD COLUMN sold_out_until timestamptz,
    ADD CONSTRAINT menu_items_sold_out_until CHECK (sold_out_until IS NULL OR NOT available),
    ADD CONSTRAINT menu_items_id_store_id_key UNIQUE (id, store_id),
    ADD FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id);
CREATE INDEX menu_items_sold_out_until ON menu_items (sold_out_until) WHERE sold_out_until IS NOT NULL;

CREATE TABLE option_groups (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    menu_item_id bigint NOT NULL,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    {TRANSLATIONS},
    min_select   integer NOT NULL DEFAULT 0 CHECK (min_select BETWEEN 0 AND 20),
    max_select   integer NOT NULL DEFAULT 1 CHECK (max_select BETWEEN 1 AND 20 AND max_select >= min_select),
    sort_order   integer NOT NULL DEFAULT 0,
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, store_id),
    FOREIGN KEY (menu_item_id, store_id) REFERENCES menu_items (id, store_id) ON DELETE CASCADE
);
CREATE INDEX option_groups_item ON option_groups (menu_item_id, sort_order, id);

CREATE TABLE options (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id    bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    group_id    bigint NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    {TRANSLATIONS},
    price_delta integer NOT NULL DEFAULT 0 CHECK (price_delta BETWEEN -10000000 AND 10000000),
    available   boolean NOT NULL DEFAULT true,
    sort_order  integer NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    FOREIGN KEY (group_id, store_id) REFERENCES option_groups (id, store_id) ON DELETE CASCADE
);
CREATE INDEX options_group ON options (group_id, sort_order, id);

-- Snapshots: what was chosen and where it is made, whatever the menu becomes.
ALTER TABLE order_lines
    ADD COLUMN options jsonb NOT NULL DEFAULT '[]' CHECK (jsonb_typeof(options) = 'array'),
    ADD COLUMN options_price integer NOT NULL DEFAULT 0
        CHECK (options_price BETWEEN -10000000 AND 10000000 AND unit_price + options_price >= 0),
    ADD COLUMN station_id bigint;

CREATE TABLE tickets (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    order_id     bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    station_id   bigint,
    -- The station its lines were routed to (their order_lines.station_id): kept when the station is
    -- deleted (station_id becomes NULL, station_name stays), so the ticket still shows its lines.
    line_station_id bigint NOT NULL,
    station_name text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    done_at      timestamptz CHECK (done_at >= created_at),
    UNIQUE (order_id, line_station_id),
    FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id)
);
CREATE INDEX tickets_open ON tickets (station_id, created_at, id) WHERE done_at IS NULL;
CREATE INDEX tickets_store ON tickets (store_id, created_at);

CREATE TABLE staff_calls (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    table_id     bigint NOT NULL,
    table_number integer NOT NULL CHECK (table_number BETWEEN 1 AND 999),
    reason       text NOT NULL CHECK (reason IN ('water', 'utensils', 'bill', 'help', 'other')),
    note         text CHECK (char_length(note) <= 200),
    created_at   timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz CHECK (resolved_at >= created_at),
    FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE CASCADE
);
-- One open call per table and reason, whatever races between replicas.
CREATE UNIQUE INDEX staff_calls_one_open ON staff_calls (table_id, reason) WHERE resolved_at IS NULL;
CREATE INDEX staff_calls_store_open ON staff_calls (store_id, created_at) WHERE resolved_at IS NULL;

ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN ({EVENT_TYPES}));
"""

TRIGGERS = """
CREATE CONSTRAINT TRIGGER option_groups_record AFTER INSERT OR UPDATE OR DELETE ON option_groups
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION menu_record_event();
CREATE CONSTRAINT TRIGGER options_record AFTER INSERT OR UPDATE OR DELETE ON options
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION menu_record_event();
-- Fires after orders_record_created (by name): order.created precedes its tickets in the feed.
CREATE CONSTRAINT TRIGGER orders_route_tickets AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_route_tickets();
CREATE TRIGGER tickets_record AFTER INSERT OR UPDATE OF done_at ON tickets
    FOR EACH ROW EXECUTE FUNCTION tickets_record_event();
-- An order completed (by its last ticket, or by staff by hand) has nothing left to make.
CREATE TRIGGER orders_complete_tickets AFTER UPDATE OF status ON orders
    FOR EACH ROW WHEN (NEW.status = 'completed' AND OLD.status <> 'completed')
    EXECUTE FUNCTION orders_complete_tickets();
CREATE TRIGGER staff_calls_record AFTER INSERT OR UPDATE OF resolved_at ON staff_calls
    FOR EACH ROW EXECUTE FUNCTION staff_calls_record_event();
"""

# Functions migrations/documents.sql gained in this revision (dropped on the way down).
ADDED = [
    "orders_route_tickets()",
    "tickets_record_event()",
    "orders_complete_tickets()",
    "staff_calls_record_event()",
    "session_moved_json(tables, tables, bigint, boolean)",
]

DOWNGRADE = f"""
DROP TRIGGER staff_calls_record ON staff_calls;
DROP TRIGGER orders_complete_tickets ON orders;
DROP TRIGGER tickets_record ON tickets;
-- Documents of a new table's rows (documents.sql) go before their table does.
DROP FUNCTION ticket_json(tickets), station_json(stations);
DROP TRIGGER orders_route_tickets ON orders;
DELETE FROM events WHERE type NOT IN ({EVENT_TYPES_0008});
ALTER TABLE events DROP CONSTRAINT events_type_check,
    ADD CONSTRAINT events_type_check CHECK (type IN ({EVENT_TYPES_0008}));
DROP FUNCTION call_json(staff_calls);
DROP TABLE staff_calls;
DROP TABLE tickets;
ALTER TABLE order_lines DROP COLUMN station_id, DROP COLUMN options_price, DROP COLUMN options;
DROP TABLE options;
DROP TABLE option_groups;
DROP INDEX menu_items_sold_out_until;
ALTER TABLE menu_items DROP COLUMN station_id, DROP COLUMN sold_out_until, DROP COLUMN translations,
    DROP CONSTRAINT menu_items_id_store_id_key;
ALTER TABLE menu_categories DROP COLUMN station_id, DROP COLUMN translations;
DROP TABLE stations;
ALTER TABLE stores DROP COLUMN languages;
"""


def upgrade() -> None:
    op.execute(UPGRADE)
    # The file at head may read tables and columns later revisions add: its bodies are checked when
    # `tableorder migrate` replays it at head, not here.
    op.execute("SET LOCAL check_function_bodies = off")
    op.execute((MIGRATIONS / "documents.sql").read_text())
    op.execute("SET LOCAL check_function_bodies = on")
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute(DOWNGRADE)
    for signature in ADDED:
        op.execute(f"DROP FUNCTION {signature};")
    # 0008's documents, as 0008 left them (functions this revision changed come back as they were).
    op.execute((MIGRATIONS / "documents_0008.sql").read_text())
