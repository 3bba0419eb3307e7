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

import importlib.util
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
                "CHECK (jsonb_typeof(translations) = 'object' AND octet_length(translations::text) <= 32000)")

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

PLACE_ORDER = r"""
-- Places an order in one round trip: idempotency, the session's size, the table's order rate, the
-- menu and the options chosen (checked and priced from one set of locked rows), session, order
-- number, lines.
-- p_option_lines / p_option_ids: the options chosen, as pairs (the line's 1-based number, the option).
-- Raises TO404 (no such table), TO409 (idempotency key reused with another body), TOCAP (the table's
-- open session already holds p_max_orders orders; DETAIL is JSON with the limit; 0 = no limit),
-- TO429 (more than p_rate_limit orders of this table in the last 60 seconds; DETAIL is JSON with
-- retry_after, the seconds until one of them leaves the window; 0 = no limit) or TO422 (unknown or
-- sold-out items, or options that cannot be chosen; DETAIL is JSON naming them: {"unknown": [item
-- ids], "unavailable": [item ids], "options": [{line (0-based), problem, option_id, group, option,
-- min, max}]}).
CREATE FUNCTION place_order(
    p_store_id bigint, p_table_id bigint, p_item_ids bigint[], p_quantities integer[],
    p_note text, p_idempotency_key text, p_request_hash bytea, p_rate_limit integer DEFAULT 0,
    p_max_orders integer DEFAULT 0, p_option_lines integer[] DEFAULT '{}', p_option_ids bigint[] DEFAULT '{}')
RETURNS TABLE (order_doc json, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_table_number integer;
    v_timezone text;
    v_key record;
    v_held integer;
    v_now timestamptz;
    v_frees_at timestamptz;
    v_unknown bigint[];
    v_unavailable bigint[];
    v_names text[];
    v_prices integer[];
    v_stations bigint[];
    v_problems json;
    v_line_options jsonb[];
    v_options_prices integer[];
    v_session_id bigint;
    v_day date;
    v_order_no integer;
    v_order_id bigint;
BEGIN
    -- The table row lock orders this table's orders, retries and close-session one after another:
    -- no order lands in a session being closed, a session opens exactly once, and the rate below
    -- is counted with no other order of the table in flight.
    SELECT t.number, s.timezone INTO v_table_number, v_timezone
      FROM tables t JOIN stores s ON s.id = t.store_id
     WHERE t.id = p_table_id AND t.store_id = p_store_id
       FOR NO KEY UPDATE OF t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % not found', p_table_id USING ERRCODE = 'TO404';
    END IF;

    -- A replay is answered before the rate is counted: retrying an accepted order never costs a slot.
    IF p_idempotency_key IS NOT NULL THEN
        SELECT k.request_hash, k.order_id INTO v_key
          FROM idempotency_keys k WHERE k.table_id = p_table_id AND k.key = p_idempotency_key;
        IF FOUND THEN
            IF v_key.request_hash <> p_request_hash THEN
                RAISE EXCEPTION 'idempotency key reused with a different request' USING ERRCODE = 'TO409';
            END IF;
            RETURN QUERY SELECT order_json(o), true FROM orders o WHERE o.id = v_key.order_id;
            RETURN;
        END IF;
    END IF;

    -- A session holds at most p_max_orders orders, cancelled ones included: every document that shows
    -- a session (the tablet's orders, a session in the table's history) carries all of its orders,
    -- so this bounds it. Checked before the rate, since waiting does not help: staff closing the
    -- session does. Counted under the table row lock, like the rate; a replay above never counts.
    IF p_max_orders > 0 THEN
        SELECT count(*) INTO v_held
          FROM (SELECT 1 FROM table_sessions s JOIN orders o ON o.session_id = s.id
                 WHERE s.table_id = p_table_id AND s.closed_at IS NULL
                 LIMIT p_max_orders) AS held;
        IF v_held >= p_max_orders THEN
            RAISE EXCEPTION 'the open session of table % holds % orders', p_table_id, v_held
                USING ERRCODE = 'TOCAP', DETAIL = json_build_object('limit', p_max_orders)::text;
        END IF;
    END IF;

    -- A sliding window: with p_rate_limit orders in the last 60 seconds, the next slot frees when
    -- the p_rate_limit-th newest of them leaves the window.
    IF p_rate_limit > 0 THEN
        v_now := clock_timestamp();
        SELECT o.created_at + interval '60 seconds' INTO v_frees_at
          FROM orders o
         WHERE o.table_id = p_table_id AND o.created_at > v_now - interval '60 seconds'
         ORDER BY o.created_at DESC
        OFFSET p_rate_limit - 1 LIMIT 1;
        IF FOUND THEN
            RAISE EXCEPTION 'table % placed % orders in the last minute', p_table_id, p_rate_limit
                USING ERRCODE = 'TO429',
                DETAIL = json_build_object(
                    'retry_after', greatest(1, ceil(extract(epoch FROM v_frees_at - v_now))::integer))::text;
        END IF;
    END IF;

    -- Checked and priced in one statement from one set of menu rows, each locked (FOR KEY SHARE)
    -- until commit: a concurrent DELETE of an item either waits for this order (whose lines keep
    -- their snapshots) or commits first and the item is seen as gone. Lines and total are built from
    -- these rows alone, so an order is placed whole or refused, never placed with a line missing.
    -- Each line goes to its item's station, else its category's (the kitchen's tickets read it).
    WITH menu AS MATERIALIZED (
        SELECT m.id, m.name, m.price, m.available, m.station_id, m.category_id
          FROM menu_items m
         WHERE m.id = ANY (p_item_ids) AND m.store_id = p_store_id
           FOR KEY SHARE
    )
    SELECT array_agg(r.id ORDER BY r.n) FILTER (WHERE menu.id IS NULL),
           array_agg(r.id ORDER BY r.n) FILTER (WHERE NOT menu.available),
           array_agg(menu.name ORDER BY r.n),
           array_agg(menu.price ORDER BY r.n),
           array_agg(coalesce(menu.station_id, c.station_id) ORDER BY r.n)
      INTO v_unknown, v_unavailable, v_names, v_prices, v_stations
      FROM unnest(p_item_ids) WITH ORDINALITY AS r(id, n)
      LEFT JOIN menu ON menu.id = r.id
      LEFT JOIN menu_categories c ON c.id = menu.category_id;
    IF v_unknown IS NOT NULL OR v_unavailable IS NOT NULL THEN
        RAISE EXCEPTION 'menu items cannot be ordered' USING ERRCODE = 'TO422',
            DETAIL = json_build_object('unknown', coalesce(v_unknown, '{}'),
                                       'unavailable', coalesce(v_unavailable, '{}'))::text;
    END IF;

    -- The options chosen are locked FOR SHARE until commit (in id order, as every order takes them):
    -- marking one sold out, repricing or deleting it waits for this order, and an order that comes
    -- after such a change sees it, so no order is placed with an option sold out before it committed.
    -- The statements below read the rows as they are now.
    IF cardinality(p_option_ids) > 0 THEN
        PERFORM 1 FROM options o WHERE o.id = ANY (p_option_ids) AND o.store_id = p_store_id
          ORDER BY o.id FOR SHARE;
    END IF;
    -- Every line against its item's groups: options unknown (or another store's), of another item,
    -- or sold out; groups chosen fewer than min or more than max times (a required group unchosen).
    -- With no options chosen only a required group can refuse the order, so the check (whose planning
    -- costs more than all the rest of an order) runs when an item of the order has one.
    IF cardinality(p_option_ids) > 0
       OR EXISTS (SELECT 1 FROM option_groups g WHERE g.menu_item_id = ANY (p_item_ids) AND g.min_select > 0) THEN
        WITH chosen AS (
            SELECT r.line, r.id FROM unnest(p_option_lines, p_option_ids) AS r(line, id)
        ), problems AS (
            SELECT ch.line, CASE WHEN o.id IS NULL THEN 'unknown'
                                 WHEN g.menu_item_id <> p_item_ids[ch.line] THEN 'other_item'
                                 WHEN NOT o.available THEN 'unavailable' END AS problem,
                   ch.id AS option_id, g.name AS group_name, o.name AS option_name,
                   NULL::integer AS min, NULL::integer AS max, g.sort_order, g.id AS group_id
              FROM chosen ch
              LEFT JOIN options o ON o.id = ch.id AND o.store_id = p_store_id
              LEFT JOIN option_groups g ON g.id = o.group_id
            UNION ALL
            SELECT l.line, CASE WHEN n.chosen < g.min_select THEN 'too_few' ELSE 'too_many' END,
                   NULL, g.name, NULL, g.min_select, g.max_select, g.sort_order, g.id
              FROM unnest(p_item_ids) WITH ORDINALITY AS l(item_id, line)
              JOIN option_groups g ON g.menu_item_id = l.item_id
             CROSS JOIN LATERAL (SELECT count(*) AS chosen FROM chosen ch JOIN options o ON o.id = ch.id
                                  WHERE ch.line = l.line AND o.group_id = g.id) AS n
             WHERE n.chosen NOT BETWEEN g.min_select AND g.max_select
        )
        SELECT json_agg(json_build_object('line', p.line - 1, 'problem', p.problem, 'option_id', p.option_id,
                                          'group', p.group_name, 'option', p.option_name, 'min', p.min, 'max', p.max)
                        ORDER BY p.line, p.sort_order, p.group_id, p.option_id)
          INTO v_problems
          FROM problems p WHERE p.problem IS NOT NULL;
        IF v_problems IS NOT NULL THEN
            RAISE EXCEPTION 'options cannot be chosen' USING ERRCODE = 'TO422',
                DETAIL = json_build_object('unknown', '{}'::bigint[], 'unavailable', '{}'::bigint[],
                                           'options', v_problems)::text;
        END IF;
    END IF;

    -- Each line's snapshot of its options (working-language names, in display order) and their price.
    IF cardinality(p_option_ids) > 0 THEN
        SELECT array_agg(coalesce(x.options, '[]') ORDER BY l.line), array_agg(coalesce(x.price, 0) ORDER BY l.line)
          INTO v_line_options, v_options_prices
          FROM generate_series(1, cardinality(p_item_ids)) AS l(line)
          LEFT JOIN LATERAL (
              SELECT jsonb_agg(jsonb_build_object('group', g.name, 'name', o.name, 'price_delta', o.price_delta)
                               ORDER BY g.sort_order, g.id, o.sort_order, o.id) AS options,
                     sum(o.price_delta)::integer AS price
                FROM unnest(p_option_lines, p_option_ids) AS ch(line, id)
                JOIN options o ON o.id = ch.id
                JOIN option_groups g ON g.id = o.group_id
               WHERE ch.line = l.line) AS x ON true;
        -- A line's options may not take its price below zero, nor add more than 10,000,000 won.
        SELECT json_agg(json_build_object('line', l.n - 1, 'problem', 'price_out_of_range', 'option_id', NULL,
                                          'group', NULL, 'option', NULL, 'min', NULL, 'max', NULL) ORDER BY l.n)
          INTO v_problems
          FROM unnest(v_prices, v_options_prices) WITH ORDINALITY AS l(price, options_price, n)
         WHERE l.price + l.options_price < 0 OR l.options_price > 10000000;
        IF v_problems IS NOT NULL THEN
            RAISE EXCEPTION 'options price a line out of range' USING ERRCODE = 'TO422',
                DETAIL = json_build_object('unknown', '{}'::bigint[], 'unavailable', '{}'::bigint[],
                                           'options', v_problems)::text;
        END IF;
    ELSE
        v_line_options := array_fill('[]'::jsonb, ARRAY[cardinality(p_item_ids)]);
        v_options_prices := array_fill(0, ARRAY[cardinality(p_item_ids)]);
    END IF;

    SELECT id INTO v_session_id FROM table_sessions WHERE table_id = p_table_id AND closed_at IS NULL;
    IF NOT FOUND THEN
        INSERT INTO table_sessions (store_id, table_id, table_number)
        VALUES (p_store_id, p_table_id, v_table_number) RETURNING id INTO v_session_id;
    END IF;

    -- The counter row stays locked until commit, so order numbers also increase in commit order.
    v_day := (now() AT TIME ZONE v_timezone)::date;
    INSERT INTO order_counters AS c (store_id, business_day, last_no) VALUES (p_store_id, v_day, 1)
        ON CONFLICT (store_id, business_day) DO UPDATE SET last_no = c.last_no + 1
        RETURNING c.last_no INTO v_order_no;

    WITH priced AS (
        SELECT r.n, r.id, r.name, r.price, r.quantity, r.options, r.options_price, r.station_id
          FROM unnest(p_item_ids, p_quantities, v_names, v_prices, v_line_options, v_options_prices, v_stations)
               WITH ORDINALITY AS r(id, quantity, name, price, options, options_price, station_id, n)
    ), new_order AS (
        INSERT INTO orders (store_id, session_id, table_id, table_number, business_day, order_no,
                            total_amount, note, created_at, updated_at)
        SELECT p_store_id, v_session_id, p_table_id, v_table_number, v_day, v_order_no,
               (SELECT sum((p.price + p.options_price)::bigint * p.quantity) FROM priced p), p_note,
               clock_timestamp(), clock_timestamp()
        RETURNING id
    ), new_lines AS (
        INSERT INTO order_lines (order_id, line_no, menu_item_id, name, unit_price, quantity, options,
                                 options_price, station_id)
        SELECT new_order.id, p.n, p.id, p.name, p.price, p.quantity, p.options, p.options_price, p.station_id
          FROM new_order, priced p
    )
    SELECT id INTO v_order_id FROM new_order;

    IF p_idempotency_key IS NOT NULL THEN
        INSERT INTO idempotency_keys (table_id, key, request_hash, order_id)
        VALUES (p_table_id, p_idempotency_key, p_request_hash, v_order_id);
    END IF;

    RETURN QUERY SELECT order_json(o), false FROM orders o WHERE o.id = v_order_id;
END
$$;
"""

OPTIONS_CHECK_SIZE = r"""
-- An item has at most 20 option groups and a group at most 30 options; a store at most 1,000 groups
-- and 5,000 options: the tablets' menu carries them all, so these bound it as menu_check_size
-- (0005) bounds items and categories (a group adds at most about 400 bytes to GET /menu, an option
-- about 400: 2.4 MB at most). Raises TOCAP (DETAIL is JSON: the limit, `of`: item, group or store, and
-- `table`: option_groups or options).
-- One writer of a store's groups (or options) at a time, as in menu_check_size.
CREATE FUNCTION options_check_size() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_limit integer;
    v_count integer;
    v_of text;
BEGIN
    PERFORM pg_advisory_xact_lock(TG_RELID::integer, hashint8(NEW.store_id));
    IF TG_TABLE_NAME = 'option_groups' THEN
        v_of := 'item';
        v_limit := 20;
        SELECT count(*) INTO v_count
          FROM (SELECT 1 FROM option_groups WHERE menu_item_id = NEW.menu_item_id LIMIT v_limit) AS held;
        IF v_count < v_limit THEN
            v_of := 'store';
            v_limit := 1000;
            SELECT count(*) INTO v_count
              FROM (SELECT 1 FROM option_groups WHERE store_id = NEW.store_id LIMIT v_limit) AS held;
        END IF;
    ELSE
        v_of := 'group';
        v_limit := 30;
        SELECT count(*) INTO v_count
          FROM (SELECT 1 FROM options WHERE group_id = NEW.group_id LIMIT v_limit) AS held;
        IF v_count < v_limit THEN
            v_of := 'store';
            v_limit := 5000;
            SELECT count(*) INTO v_count
              FROM (SELECT 1 FROM options WHERE store_id = NEW.store_id LIMIT v_limit) AS held;
        END IF;
    END IF;
    IF v_count >= v_limit THEN
        RAISE EXCEPTION 'the % holds % rows of %, the most it may', v_of, v_count, TG_TABLE_NAME
            USING ERRCODE = 'TOCAP',
                  DETAIL = json_build_object('limit', v_limit, 'of', v_of, 'table', TG_TABLE_NAME)::text;
    END IF;
    RETURN NEW;
END
$$;

-- What the counts above read (and what a store's deletion cascades by).
CREATE INDEX option_groups_store ON option_groups (store_id);
CREATE INDEX options_store ON options (store_id);

CREATE TRIGGER option_groups_check_size BEFORE INSERT ON option_groups
    FOR EACH ROW EXECUTE FUNCTION options_check_size();
CREATE TRIGGER options_check_size BEFORE INSERT ON options
    FOR EACH ROW EXECUTE FUNCTION options_check_size();
"""


# Functions migrations/documents.sql gained in this revision (dropped on the way down).
ADDED = [
    "orders_route_tickets()",
    "menu_json(bigint, text[])",
    "store_settings_json(stores)",
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
DROP FUNCTION option_group_json(option_groups), option_json(options);
DROP TABLE options;
DROP TABLE option_groups;
DROP FUNCTION options_check_size();
DROP INDEX menu_items_sold_out_until;
ALTER TABLE menu_items DROP COLUMN station_id, DROP COLUMN sold_out_until, DROP COLUMN translations,
    DROP CONSTRAINT menu_items_id_store_id_key;
ALTER TABLE menu_categories DROP COLUMN station_id, DROP COLUMN translations;
DROP TABLE stations;
ALTER TABLE stores DROP COLUMN languages;
"""


def _statement_of(revision_file: str, name: str) -> str:
    """A statement of an earlier revision, read from its own file (as 0005 does)."""
    spec = importlib.util.spec_from_file_location(f"revision_{revision_file}", Path(__file__).with_name(revision_file))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = getattr(module, name)
    return text


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer);")
    op.execute(PLACE_ORDER)
    op.execute(OPTIONS_CHECK_SIZE)
    # menu_json gains the language asked for (documents.sql creates the new one).
    op.execute("DROP FUNCTION menu_json(bigint);")
    # The file at head may read tables and columns later revisions add: its bodies are checked when
    # `tableorder migrate` replays it at head, not here.
    op.execute("SET LOCAL check_function_bodies = off")
    op.execute((MIGRATIONS / "documents.sql").read_text())
    op.execute("SET LOCAL check_function_bodies = on")
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer, "
               "integer[], bigint[]);")
    op.execute(_statement_of("0005_bounded_documents.py", "PLACE_ORDER"))
    op.execute(DOWNGRADE)
    for signature in ADDED:
        op.execute(f"DROP FUNCTION {signature};")
    # 0008's documents, as 0008 left them (functions this revision changed come back as they were).
    op.execute((MIGRATIONS / "documents_0008.sql").read_text())
