"""Orders hardening (issue 9: points 8, 9, 10).

- place_order() checks and prices the menu in one statement over one set of menu rows, locked until
  commit (point 8), and refuses an order beyond p_rate_limit orders of the table in the last 60
  seconds with SQLSTATE TO429 (point 9; counted under the table row lock, on a new index).
- orders_check_status() refuses any status move of an order whose session is closed (point 10);
  it holds the table row and the session row FOR SHARE, so close-session and the move take turns.

The downgrade restores 0001's definitions word for word.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


PLACE_ORDER = r"""
-- Places an order in one round trip: idempotency, the table's order rate, the menu (checked and
-- priced from one set of locked rows), session, order number, lines.
-- Raises TO404 (no such table), TO409 (idempotency key reused with another body), TO429 (more than
-- p_rate_limit orders of this table in the last 60 seconds; DETAIL is JSON with retry_after, the
-- seconds until one of them leaves the window; 0 = no limit) or TO422 (unknown or sold-out items;
-- DETAIL is JSON naming them).
CREATE FUNCTION place_order(
    p_store_id bigint, p_table_id bigint, p_item_ids bigint[], p_quantities integer[],
    p_note text, p_idempotency_key text, p_request_hash bytea, p_rate_limit integer DEFAULT 0)
RETURNS TABLE (order_doc json, replayed boolean) LANGUAGE plpgsql AS $$
DECLARE
    v_table_number integer;
    v_timezone text;
    v_key record;
    v_now timestamptz;
    v_frees_at timestamptz;
    v_unknown bigint[];
    v_unavailable bigint[];
    v_names text[];
    v_prices integer[];
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
    WITH menu AS MATERIALIZED (
        SELECT m.id, m.name, m.price, m.available
          FROM menu_items m
         WHERE m.id = ANY (p_item_ids) AND m.store_id = p_store_id
           FOR KEY SHARE
    )
    SELECT array_agg(r.id ORDER BY r.n) FILTER (WHERE menu.id IS NULL),
           array_agg(r.id ORDER BY r.n) FILTER (WHERE NOT menu.available),
           array_agg(menu.name ORDER BY r.n),
           array_agg(menu.price ORDER BY r.n)
      INTO v_unknown, v_unavailable, v_names, v_prices
      FROM unnest(p_item_ids) WITH ORDINALITY AS r(id, n)
      LEFT JOIN menu ON menu.id = r.id;
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

    WITH priced AS (
        SELECT r.n, r.id, r.name, r.price, r.quantity
          FROM unnest(p_item_ids, p_quantities, v_names, v_prices)
               WITH ORDINALITY AS r(id, quantity, name, price, n)
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

CHECK_STATUS = r"""
-- Status moves forward only; cancelled and completed are final; so is every order of a closed
-- session (settled history).
-- A move and close-session take turns on the table row, as orders and close-session already do.
-- Close-session locks that row before the statement that closes the session and sums it up; with
-- the row held here FOR SHARE, a close either waits for this move to commit (so its summary sees
-- the move) or this move waits for the close to commit and then finds the session closed. (Waiting
-- on the session row alone is not enough: a close that waited there would still sum the session
-- up from the snapshot its statement started with, before this move.) The session row is read
-- FOR SHARE as well, so the rule also holds against a writer that closes a session without
-- locking the table first. A session already closed is refused before any lock is taken: no
-- lock is waited for while this order's row is held, unless its session is open (and so its
-- table cannot be being deleted).
CREATE OR REPLACE FUNCTION orders_check_status() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_open boolean;
BEGIN
    IF NEW.status IS DISTINCT FROM OLD.status THEN
        IF OLD.status IN ('completed', 'cancelled')
           OR (NEW.status <> 'cancelled'
               AND array_position(ARRAY['pending', 'preparing', 'completed'], NEW.status)
                   <= array_position(ARRAY['pending', 'preparing', 'completed'], OLD.status)) THEN
            RAISE EXCEPTION 'order % cannot move from % to %', OLD.id, OLD.status, NEW.status
                USING ERRCODE = 'TO409';
        END IF;
        v_open := EXISTS (SELECT 1 FROM table_sessions s WHERE s.id = OLD.session_id AND s.closed_at IS NULL);
        IF v_open THEN
            PERFORM 1 FROM tables t WHERE t.id = OLD.table_id FOR SHARE;
            PERFORM 1 FROM table_sessions s WHERE s.id = OLD.session_id AND s.closed_at IS NULL FOR SHARE;
            v_open := FOUND;
        END IF;
        IF NOT v_open THEN
            RAISE EXCEPTION 'order % belongs to a closed session', OLD.id USING ERRCODE = 'TO409';
        END IF;
        NEW.updated_at := clock_timestamp();
    END IF;
    RETURN NEW;
END
$$;
"""

# The window of the order rate limit, read newest first per table.
RATE_INDEX = "CREATE INDEX orders_table_created ON orders (table_id, created_at DESC);"


def upgrade() -> None:
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea);")
    op.execute(PLACE_ORDER)
    op.execute(CHECK_STATUS)
    op.execute(RATE_INDEX)


# --- 0001's definitions, restored by the downgrade ------------------------------------------------

PLACE_ORDER_0001 = r"""
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

CHECK_STATUS_0001 = r"""
-- Status moves forward only; cancelled and completed are final.
CREATE OR REPLACE FUNCTION orders_check_status() RETURNS trigger LANGUAGE plpgsql AS $$
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
"""


def downgrade() -> None:
    op.execute("DROP INDEX orders_table_created;")
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer);")
    op.execute(PLACE_ORDER_0001)
    op.execute(CHECK_STATUS_0001)
