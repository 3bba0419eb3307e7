"""Initial schema: stores, staff, tables, sessions, menu, orders, events.

Revision ID: 0001
Revises:
Create Date: 2026-11-28
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


TABLES = """
CREATE TABLE stores (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^[a-z0-9][a-z0-9-]{1,31}$'),
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    -- The business day (and so order_no) follows the store's wall clock.
    timezone    text NOT NULL DEFAULT 'Asia/Seoul',
    -- Last event position handed out. Bumped under this row's lock by record_event(), so a store's
    -- positions are gap-free and become visible in increasing order (see README, "Push path").
    last_event_position bigint NOT NULL DEFAULT 0 CHECK (last_event_position >= 0),
    created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE admins (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    username      text NOT NULL CHECK (char_length(username) BETWEEN 1 AND 64),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, username)
);

CREATE TABLE tables (
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id      bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    number        integer NOT NULL CHECK (number BETWEEN 1 AND 999),
    password_hash text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, number),
    UNIQUE (id, store_id)
);

CREATE TABLE table_sessions (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    table_id     bigint,
    table_number integer NOT NULL CHECK (table_number BETWEEN 1 AND 999),
    started_at   timestamptz NOT NULL DEFAULT now(),
    closed_at    timestamptz CHECK (closed_at >= started_at),
    UNIQUE (id, store_id),
    -- A deleted table keeps its past sessions (sales records); they just lose the link.
    FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE SET NULL (table_id)
);
-- At most one open session per table, whatever races between replicas.
CREATE UNIQUE INDEX table_sessions_one_open ON table_sessions (table_id) WHERE closed_at IS NULL;
CREATE INDEX table_sessions_history ON table_sessions (table_id, closed_at DESC) WHERE closed_at IS NOT NULL;
CREATE INDEX table_sessions_store_open ON table_sessions (store_id) WHERE closed_at IS NULL;

CREATE TABLE menu_categories (
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id   bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    name       text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 50),
    sort_order integer NOT NULL DEFAULT 0,
    created_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, store_id)
);
CREATE INDEX menu_categories_store ON menu_categories (store_id, sort_order, id);

CREATE TABLE menu_items (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id    bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    category_id bigint NOT NULL,
    name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    description text NOT NULL DEFAULT '' CHECK (char_length(description) <= 1000),
    price       integer NOT NULL CHECK (price BETWEEN 0 AND 10000000),
    image_url   text CHECK (image_url ~ '^https?://' AND char_length(image_url) <= 2048),
    sort_order  integer NOT NULL DEFAULT 0,
    available   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now(),
    -- Same-store category; a category with items cannot be deleted (NO ACTION).
    FOREIGN KEY (category_id, store_id) REFERENCES menu_categories (id, store_id)
);
CREATE INDEX menu_items_category ON menu_items (category_id, sort_order, id);
CREATE INDEX menu_items_store ON menu_items (store_id);

CREATE TABLE order_counters (
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    business_day date NOT NULL,
    last_no      integer NOT NULL CHECK (last_no > 0),
    PRIMARY KEY (store_id, business_day)
);

CREATE TABLE orders (
    id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    session_id   bigint NOT NULL,
    table_id     bigint,
    table_number integer NOT NULL CHECK (table_number BETWEEN 1 AND 999),
    business_day date NOT NULL,
    order_no     integer NOT NULL CHECK (order_no > 0),
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'preparing', 'completed', 'cancelled')),
    total_amount bigint NOT NULL CHECK (total_amount >= 0),
    note         text CHECK (char_length(note) <= 500),
    created_at   timestamptz NOT NULL DEFAULT now(),
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (store_id, business_day, order_no),
    FOREIGN KEY (session_id, store_id) REFERENCES table_sessions (id, store_id),
    FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE SET NULL (table_id)
);
CREATE INDEX orders_session ON orders (session_id, created_at DESC);
CREATE INDEX orders_store_created ON orders (store_id, created_at DESC);

CREATE TABLE order_lines (
    order_id     bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    line_no      smallint NOT NULL CHECK (line_no BETWEEN 1 AND 50),
    -- Deleting a menu item keeps the line: name and price are snapshots.
    menu_item_id bigint REFERENCES menu_items ON DELETE SET NULL,
    name         text NOT NULL,
    unit_price   integer NOT NULL CHECK (unit_price BETWEEN 0 AND 10000000),
    quantity     integer NOT NULL CHECK (quantity BETWEEN 1 AND 99),
    PRIMARY KEY (order_id, line_no)
);
CREATE INDEX order_lines_menu_item ON order_lines (menu_item_id);

CREATE TABLE login_attempts (
    key               text PRIMARY KEY,
    failures          integer NOT NULL CHECK (failures >= 0),
    window_started_at timestamptz NOT NULL,
    locked_until      timestamptz
);

CREATE TABLE idempotency_keys (
    table_id     bigint NOT NULL REFERENCES tables ON DELETE CASCADE,
    key          text NOT NULL CHECK (char_length(key) BETWEEN 1 AND 255),
    request_hash bytea NOT NULL,
    order_id     bigint NOT NULL REFERENCES orders ON DELETE CASCADE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (table_id, key)
);
CREATE INDEX idempotency_keys_created ON idempotency_keys (created_at);

CREATE TABLE events (
    store_id   bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    position   bigint NOT NULL CHECK (position > 0),
    type       text NOT NULL CHECK (type IN ('order.created', 'order.updated', 'order.cancelled',
                                             'table.session_closed', 'menu.updated')),
    -- Set for events a table's own stream may carry.
    table_id   bigint,
    payload    json NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (store_id, position)
);
CREATE INDEX events_created ON events (created_at);
"""

FUNCTIONS = r"""
-- The order document of the API (SPEC section 3), built in one place for the API and the events.
CREATE FUNCTION order_json(o orders) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', o.id, 'order_no', o.order_no, 'table_id', o.table_id, 'table_number', o.table_number,
        'session_id', o.session_id, 'status', o.status,
        'items', (SELECT coalesce(json_agg(json_build_object(
                        'menu_item_id', l.menu_item_id, 'name', l.name, 'unit_price', l.unit_price,
                        'quantity', l.quantity, 'line_total', l.unit_price::bigint * l.quantity)
                    ORDER BY l.line_no), '[]'::json)
                  FROM order_lines l WHERE l.order_id = o.id),
        'total_amount', o.total_amount, 'note', o.note,
        'created_at', o.created_at, 'updated_at', o.updated_at)
$$;

-- A session with its totals; cancelled orders count in no total.
CREATE FUNCTION session_json(s table_sessions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', s.id, 'table_id', s.table_id, 'table_number', s.table_number,
        'started_at', s.started_at, 'closed_at', s.closed_at,
        'order_count', count(o.id), 'total_amount', coalesce(sum(o.total_amount), 0))
    FROM orders o WHERE o.session_id = s.id AND o.status <> 'cancelled'
$$;

-- A table as the staff board shows it: its open session, if any, with totals.
CREATE FUNCTION table_json(t tables) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'number', t.number,
        'session', (SELECT session_json(s) FROM table_sessions s WHERE s.table_id = t.id AND s.closed_at IS NULL))
$$;

-- Appends an event at the store's next position and wakes the listeners. The UPDATE takes the
-- store row's lock until commit, so a later position can only be handed out after the earlier one
-- committed (or rolled back and was reused): readers that see position N have seen 1..N-1.
CREATE FUNCTION record_event(p_store_id bigint, p_type text, p_table_id bigint, p_payload json)
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
    -- Positions, not bodies: NOTIFY payloads stay tiny whatever the order's size.
    PERFORM pg_notify('tableorder_events', p_store_id::text || ':' || v_position::text || ':' || p_type);
END
$$;

-- Status moves forward only; cancelled and completed are final.
CREATE FUNCTION orders_check_status() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF OLD.status IN ('completed', 'cancelled')
           OR (NEW.status <> 'cancelled'
               AND array_position(ARRAY['pending', 'preparing', 'completed'], NEW.status)
                   <= array_position(ARRAY['pending', 'preparing', 'completed'], OLD.status)) THEN
            RAISE EXCEPTION 'order % cannot move from % to %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'TO409';
        END IF;
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;

-- Deferred to commit: an order's lines are in place by then, and the store row is locked only
-- for the last moment of the transaction.
CREATE FUNCTION orders_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_event(
        NEW.store_id,
        CASE WHEN TG_OP = 'INSERT' THEN 'order.created'
             WHEN NEW.status = 'cancelled' THEN 'order.cancelled'
             ELSE 'order.updated' END,
        NEW.table_id,
        order_json(NEW));
    RETURN NULL;
END
$$;

CREATE FUNCTION table_sessions_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_event(
        NEW.store_id, 'table.session_closed', NEW.table_id,
        json_build_object('id', NEW.table_id, 'number', NEW.table_number, 'session', NULL,
                          'closed_session', session_json(NEW)));
    RETURN NULL;
END
$$;

CREATE FUNCTION menu_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM record_event(
        r.store_id, 'menu.updated', NULL,
        json_build_object('entity', CASE TG_TABLE_NAME WHEN 'menu_items' THEN 'menu_item' ELSE 'category' END,
                          'id', r.id, 'op', lower(TG_OP)));
    RETURN NULL;
END
$$;

-- Places an order in one round trip: idempotency, price lookup, session, order number, lines.
-- Raises TO404 (no such table), TO409 (idempotency key reused with another body) or
-- TO422 (unknown or sold-out items; DETAIL is JSON naming them).
CREATE FUNCTION place_order(
    p_store_id bigint, p_table_id bigint, p_item_ids bigint[], p_quantities integer[],
    p_note text, p_idempotency_key text, p_request_hash bytea)
RETURNS TABLE (order_doc json, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_table_number integer;
    v_timezone text;
    v_key record;
    v_unknown bigint[];
    v_unavailable bigint[];
    v_session_id bigint;
    v_day date;
    v_order_no integer;
    v_order_id bigint;
BEGIN
    -- The table row lock orders this table's orders, retries and close-session one after another:
    -- no order lands in a session being closed, and a session opens exactly once.
    SELECT t.number, s.timezone INTO v_table_number, v_timezone
      FROM tables t JOIN stores s ON s.id = t.store_id
     WHERE t.id = p_table_id AND t.store_id = p_store_id
       FOR NO KEY UPDATE OF t;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'table % not found', p_table_id USING ERRCODE = 'TO404';
    END IF;

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

    SELECT array_agg(r.id ORDER BY r.n) FILTER (WHERE m.id IS NULL),
           array_agg(r.id ORDER BY r.n) FILTER (WHERE NOT m.available)
      INTO v_unknown, v_unavailable
      FROM unnest(p_item_ids) WITH ORDINALITY AS r(id, n)
      LEFT JOIN menu_items m ON m.id = r.id AND m.store_id = p_store_id;
    IF v_unknown IS NOT NULL OR v_unavailable IS NOT NULL THEN
        RAISE EXCEPTION 'menu items cannot be ordered' USING ERRCODE = 'TO422',
            DETAIL = json_build_object('unknown', coalesce(v_unknown, '{}'),
                                       'unavailable', coalesce(v_unavailable, '{}'))::text;
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

    -- One statement, one snapshot: the lines and the total see the same prices.
    WITH priced AS (
        SELECT r.n, m.id, m.name, m.price, r.quantity
          FROM unnest(p_item_ids, p_quantities) WITH ORDINALITY AS r(id, quantity, n)
          JOIN menu_items m ON m.id = r.id AND m.store_id = p_store_id
    ), new_order AS (
        INSERT INTO orders (store_id, session_id, table_id, table_number, business_day, order_no,
                            total_amount, note, created_at, updated_at)
        SELECT p_store_id, v_session_id, p_table_id, v_table_number, v_day, v_order_no,
               (SELECT sum(p.price::bigint * p.quantity) FROM priced p), p_note,
               clock_timestamp(), clock_timestamp()
        RETURNING id
    ), new_lines AS (
        INSERT INTO order_lines (order_id, line_no, menu_item_id, name, unit_price, quantity)
        SELECT new_order.id, p.n, p.id, p.name, p.price, p.quantity FROM new_order, priced p
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

TRIGGERS = """
CREATE TRIGGER orders_check_status BEFORE UPDATE OF status ON orders
    FOR EACH ROW EXECUTE FUNCTION orders_check_status();

CREATE CONSTRAINT TRIGGER orders_record_created AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION orders_record_event();
CREATE CONSTRAINT TRIGGER orders_record_updated AFTER UPDATE ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.status IS DISTINCT FROM NEW.status OR OLD.note IS DISTINCT FROM NEW.note)
    EXECUTE FUNCTION orders_record_event();

CREATE CONSTRAINT TRIGGER table_sessions_record_closed AFTER UPDATE ON table_sessions
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW
    WHEN (OLD.closed_at IS NULL AND NEW.closed_at IS NOT NULL)
    EXECUTE FUNCTION table_sessions_record_event();

CREATE CONSTRAINT TRIGGER menu_items_record AFTER INSERT OR UPDATE OR DELETE ON menu_items
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION menu_record_event();
CREATE CONSTRAINT TRIGGER menu_categories_record AFTER INSERT OR UPDATE OR DELETE ON menu_categories
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION menu_record_event();
"""


def upgrade() -> None:
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    op.execute(TRIGGERS)


def downgrade() -> None:
    op.execute(
        """
        DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea);
        DROP FUNCTION order_json(orders);
        DROP FUNCTION table_json(tables);
        DROP FUNCTION session_json(table_sessions);
        DROP TABLE events, idempotency_keys, login_attempts, order_lines, orders, order_counters,
            menu_items, menu_categories, table_sessions, tables, admins, stores;
        DROP FUNCTION menu_record_event(), table_sessions_record_event(), orders_record_event(),
            orders_check_status(), record_event(bigint, text, bigint, json);
        """
    )
