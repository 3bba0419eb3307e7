"""Bounded documents (issue 9, finding D7): what one client can make a worker hold.

The tablet's orders (GET /orders: the open session with all its orders), each session of the staff's
history (with all its orders) and the tablet's menu (GET /menu: every category and item, kept by every
worker that serves it) are not paged. Their size is bounded where it grows instead:
- place_order() refuses an order once the table's open session holds p_max_orders orders
  (SESSION_MAX_ORDERS, 200 by default), with SQLSTATE TOCAP; staff closing the session starts a new
  one. A replay of an accepted order is answered as before.
- menu_check_size() refuses a store's 501st menu item and 101st category (TOCAP), counted with one
  writer of the store's items (or categories) at a time, so replicas racing cannot pass the bound.

With the bounds, a session (so GET /orders) is at most 200 orders of at most 40 KB (8 MB), and a menu
is at most 500 items of at most 19.1 KB in 100 categories (9.6 MB); tests/test_bounded_documents.py
builds both worst cases and checks them.

The downgrade restores 0004's schema exactly: 0002's place_order, no size triggers.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


PLACE_ORDER = r"""
-- Places an order in one round trip: idempotency, the session's size, the table's order rate, the
-- menu (checked and priced from one set of locked rows), session, order number, lines.
-- Raises TO404 (no such table), TO409 (idempotency key reused with another body), TOCAP (the table's
-- open session already holds p_max_orders orders; DETAIL is JSON with the limit; 0 = no limit),
-- TO429 (more than p_rate_limit orders of this table in the last 60 seconds; DETAIL is JSON with
-- retry_after, the seconds until one of them leaves the window; 0 = no limit) or TO422 (unknown or
-- sold-out items; DETAIL is JSON naming them).
CREATE FUNCTION place_order(
    p_store_id bigint, p_table_id bigint, p_item_ids bigint[], p_quantities integer[],
    p_note text, p_idempotency_key text, p_request_hash bytea, p_rate_limit integer DEFAULT 0,
    p_max_orders integer DEFAULT 0)
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

MENU_CHECK_SIZE = r"""
-- A store's menu holds at most 500 items in at most 100 categories: tablets read it whole and every
-- worker that serves it keeps it in memory. Raises TOCAP (DETAIL is JSON with the limit).
-- One writer of a store's items (or categories) at a time: the advisory lock, held until commit,
-- makes a second insert wait for the first and then count its row, so replicas racing cannot pass
-- the bound. (Not the store row's lock: every menu change's event takes that one at commit, so an
-- insert waiting there for a category being deleted, and holding it, would deadlock with the delete.)
CREATE FUNCTION menu_check_size() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    v_limit integer;
    v_count integer;
BEGIN
    IF TG_OP = 'UPDATE' AND NEW.store_id = OLD.store_id THEN
        RETURN NEW;
    END IF;
    PERFORM pg_advisory_xact_lock(TG_RELID::integer, hashint8(NEW.store_id));
    IF TG_TABLE_NAME = 'menu_items' THEN
        v_limit := 500;
        SELECT count(*) INTO v_count
          FROM (SELECT 1 FROM menu_items WHERE store_id = NEW.store_id LIMIT v_limit) AS held;
    ELSE
        v_limit := 100;
        SELECT count(*) INTO v_count
          FROM (SELECT 1 FROM menu_categories WHERE store_id = NEW.store_id LIMIT v_limit) AS held;
    END IF;
    IF v_count >= v_limit THEN
        RAISE EXCEPTION 'the menu of store % holds % rows of %, the most it may', NEW.store_id, v_count,
            TG_TABLE_NAME USING ERRCODE = 'TOCAP', DETAIL = json_build_object('limit', v_limit)::text;
    END IF;
    RETURN NEW;
END
$$;

CREATE TRIGGER menu_items_check_size BEFORE INSERT OR UPDATE OF store_id ON menu_items
    FOR EACH ROW EXECUTE FUNCTION menu_check_size();
CREATE TRIGGER menu_categories_check_size BEFORE INSERT OR UPDATE OF store_id ON menu_categories
    FOR EACH ROW EXECUTE FUNCTION menu_check_size();
"""


def upgrade() -> None:
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer);")
    op.execute(PLACE_ORDER)
    op.execute(MENU_CHECK_SIZE)


# --- 0002's definition, restored by the downgrade -------------------------------------------------

def _statement_of(revision_file: str, name: str) -> str:
    """A statement of an earlier revision, read from its own file, so a downgrade restores it exactly
    without a second copy of its text."""
    spec = importlib.util.spec_from_file_location(f"revision_{revision_file}", Path(__file__).with_name(revision_file))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = getattr(module, name)
    return text


def downgrade() -> None:
    op.execute("DROP TRIGGER menu_items_check_size ON menu_items;")
    op.execute("DROP TRIGGER menu_categories_check_size ON menu_categories;")
    op.execute("DROP FUNCTION menu_check_size();")
    op.execute("DROP FUNCTION place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer);")
    op.execute(_statement_of("0002_orders_hardening.py", "PLACE_ORDER"))
