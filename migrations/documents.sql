-- The documents of the API and of the event feed, built by PostgreSQL: one function per shape,
-- each named by the Struct it must decode into (src/tableorder/documents.py, `SQL`).
--
-- Replayable: every statement is CREATE OR REPLACE, so the file can run any number of times and
-- leaves the same functions. Migration 0008 first ran it; `tableorder migrate` (db.migrate) runs it
-- again after every upgrade to head, so changing a document is an edit here and nothing else. A
-- change of a function's signature or return type, or a function that reads a table a later
-- revision adds, still needs a revision (DROP FUNCTION there, then this file recreates it).
-- tests/test_documents.py checks that the database holds exactly these definitions and that every
-- document decodes strictly into its Struct.

-- Store: a store (tenant).
CREATE OR REPLACE FUNCTION store_json(s stores) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'code', s.code, 'name', s.name)
$$;

-- Order: an order with its lines (SPEC section 3).
-- PL/pgSQL rather than SQL (migration 0012): a SQL function with a subquery is never inlined, so every
-- statement calling it parsed and planned its body again, and every order calls it twice (place_order's
-- answer, the order.created trigger): 0.74M instructions of PostgreSQL a call, 0.32M now that the
-- plan is kept for the session (docs/order-path.md). Same document, byte for byte.
CREATE OR REPLACE FUNCTION order_json(o orders) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN json_build_object(
        'id', o.id, 'order_no', o.order_no, 'table_id', o.table_id, 'table_number', o.table_number,
        'session_id', o.session_id, 'status', o.status,
        'items', (SELECT coalesce(json_agg(json_build_object(
                        'menu_item_id', l.menu_item_id, 'name', l.name, 'unit_price', l.unit_price,
                        'quantity', l.quantity, 'options', l.options,
                        'line_total', (l.unit_price + l.options_price)::bigint * l.quantity)
                    ORDER BY l.line_no), '[]'::json)
                  FROM order_lines l WHERE l.store_id = o.store_id AND l.order_id = o.id),
        'total_amount', o.total_amount, 'note', o.note,
        'created_at', o.created_at, 'updated_at', o.updated_at);
END
$$;

-- Session: a session with its totals; cancelled orders count in no total.
CREATE OR REPLACE FUNCTION session_json(s table_sessions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', s.id, 'table_id', s.table_id, 'table_number', s.table_number,
        'started_at', s.started_at, 'closed_at', s.closed_at,
        'order_count', count(o.id), 'total_amount', coalesce(sum(o.total_amount), 0))
    FROM orders o WHERE o.store_id = s.store_id AND o.session_id = s.id AND o.status <> 'cancelled'
$$;

-- Table: a table as the staff board shows it, with its open session, if any.
CREATE OR REPLACE FUNCTION table_json(t tables) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', t.id, 'number', t.number,
        'session', (SELECT session_json(s) FROM table_sessions s
                     WHERE s.store_id = t.store_id AND s.table_id = t.id AND s.closed_at IS NULL))
$$;

-- TableOrders: a table's open session, its total and its orders, newest first. As UTF-8 bytes
-- (bytea): a str holding one emoji takes 4 bytes a character in Python, and this document is as
-- large as a session is (SESSION_MAX_ORDERS bounds it).
CREATE OR REPLACE FUNCTION table_orders_json(p_store_id bigint, p_table_id bigint) RETURNS bytea
LANGUAGE sql STABLE AS $$
    SELECT convert_to(json_build_object(
        'session', CASE WHEN s.id IS NOT NULL THEN session_json(s) END,
        'total_amount', coalesce((SELECT sum(o.total_amount) FROM orders o
                                   WHERE o.store_id = s.store_id AND o.session_id = s.id
                                     AND o.status <> 'cancelled'), 0),
        'orders', coalesce((SELECT json_agg(order_json(o) ORDER BY o.created_at DESC, o.id DESC)
                              FROM orders o WHERE o.store_id = s.store_id AND o.session_id = s.id), '[]'))::text,
        'UTF8')
      FROM (SELECT 1) AS one
      LEFT JOIN table_sessions s ON s.table_id = p_table_id AND s.store_id = p_store_id AND s.closed_at IS NULL
$$;

-- ClosedSession: a session of a table's history with its orders, newest first.
CREATE OR REPLACE FUNCTION closed_session_json(s table_sessions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT (session_json(s)::jsonb || jsonb_build_object('orders', coalesce(
               (SELECT jsonb_agg(order_json(o)::jsonb ORDER BY o.created_at DESC, o.id DESC)
                  FROM orders o WHERE o.store_id = s.store_id AND o.session_id = s.id), '[]'::jsonb)))::json
$$;

-- HistoryPage: a table's closed sessions, newest first, NULL when the store has no such table.
-- Dates are the store's business days (its own time zone), both ends inclusive, on closing time.
-- A page holds at most p_limit sessions, and only as many as fit in about p_budget orders (a
-- session starting within the budget is included whole, so a page holds at least one session).
CREATE OR REPLACE FUNCTION history_page_json(p_store_id bigint, p_table_id bigint, p_from date, p_to date,
                                             p_limit integer, p_offset integer, p_budget integer)
RETURNS json LANGUAGE sql STABLE AS $$
    WITH target AS (
        SELECT t.store_id, t.id, s.timezone FROM tables t JOIN stores s ON s.id = t.store_id
         WHERE t.id = p_table_id AND t.store_id = p_store_id
    ), matching AS (
        SELECT ts.* FROM table_sessions ts JOIN target ON ts.store_id = target.store_id AND ts.table_id = target.id
         WHERE ts.closed_at IS NOT NULL
           AND (p_from IS NULL OR ts.closed_at >= (p_from::timestamp AT TIME ZONE target.timezone))
           AND (p_to IS NULL OR ts.closed_at < ((p_to + 1)::timestamp AT TIME ZONE target.timezone))
    ), limited AS (
        SELECT m.store_id, m.id, m.closed_at, sizes.orders FROM matching m
         CROSS JOIN LATERAL (SELECT count(*) AS orders FROM orders o
                              WHERE o.store_id = m.store_id AND o.session_id = m.id) AS sizes
         ORDER BY m.closed_at DESC, m.id DESC LIMIT p_limit OFFSET p_offset
    ), page AS (
        SELECT store_id, id FROM (SELECT store_id, id, sum(orders) OVER (ORDER BY closed_at DESC, id DESC) - orders AS before
                          FROM limited) AS running
         WHERE before < p_budget
    )
    SELECT CASE WHEN EXISTS (SELECT 1 FROM target) THEN json_build_object(
        'items', (SELECT coalesce(json_agg(closed_session_json(s) ORDER BY s.closed_at DESC, s.id DESC), '[]')
                    FROM page JOIN table_sessions s ON s.store_id = page.store_id AND s.id = page.id),
        'total', (SELECT count(*) FROM matching),
        'limit', p_limit,
        'offset', p_offset) END
$$;

-- StoreSettings: a store as its staff set it up (GET /admin/store). business_day_ends_at is the next
-- midnight in the store's time zone ("until closing" in the menu editor).
CREATE OR REPLACE FUNCTION store_settings_json(s stores) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', s.id, 'code', s.code, 'name', s.name, 'timezone', s.timezone, 'languages', s.languages,
        'business_day_ends_at',
        (date_trunc('day', now() AT TIME ZONE s.timezone) + interval '1 day') AT TIME ZONE s.timezone)
$$;

-- Category: a menu category as staff manage it.
CREATE OR REPLACE FUNCTION category_json(c menu_categories) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'name', c.name, 'sort_order', c.sort_order, 'station_id', c.station_id,
                             'translations', c.translations)
$$;

-- Option: an option of an option group as staff manage it.
CREATE OR REPLACE FUNCTION option_json(o options) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', o.id, 'name', o.name, 'price_delta', o.price_delta, 'available', o.available,
                             'sort_order', o.sort_order, 'translations', o.translations)
$$;

-- OptionGroup: an option group of a menu item as staff manage it, with its options in display order.
CREATE OR REPLACE FUNCTION option_group_json(g option_groups) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', g.id, 'name', g.name, 'min', g.min_select, 'max', g.max_select, 'sort_order', g.sort_order,
        'translations', g.translations,
        'options', (SELECT coalesce(json_agg(option_json(o) ORDER BY o.sort_order, o.id), '[]'::json)
                      FROM options o WHERE o.store_id = g.store_id AND o.group_id = g.id))
$$;

-- MenuItem: a menu item as staff manage it, with its option groups in display order.
CREATE OR REPLACE FUNCTION menu_item_json(i menu_items) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object(
        'id', i.id, 'category_id', i.category_id, 'name', i.name, 'description', i.description,
        'price', i.price, 'image_url', i.image_url, 'sort_order', i.sort_order, 'available', i.available,
        'sold_out_until', i.sold_out_until, 'station_id', i.station_id, 'translations', i.translations,
        'option_groups', (SELECT coalesce(json_agg(option_group_json(g) ORDER BY g.sort_order, g.id), '[]'::json)
                            FROM option_groups g WHERE g.store_id = i.store_id AND g.menu_item_id = i.id))
$$;

-- Menu: the tablet's whole menu in one language (at most 12 MB within the bounds of migrations 0005
-- and 0009: 9.6 MB of items and categories, 2.4 MB of option groups and options), as UTF-8 bytes;
-- NULL when the store does not exist. The language is the first of p_languages the store keeps
-- (stores.languages), else its working language (the first it keeps); a name or description with no
-- translation into it is shown in the working language.
CREATE OR REPLACE FUNCTION menu_json(p_store_id bigint, p_languages text[]) RETURNS bytea LANGUAGE sql STABLE AS $$
    SELECT convert_to(json_build_object(
        'store', json_build_object('id', s.id, 'code', s.code, 'name', s.name, 'languages', s.languages),
        'language', l.lang,
        'categories', coalesce((
            SELECT json_agg(json_build_object(
                       'id', c.id, 'name', coalesce(c.translations -> l.lang ->> 'name', c.name),
                       'sort_order', c.sort_order,
                       'items', coalesce((
                            SELECT json_agg(json_build_object(
                                       'id', i.id, 'name', coalesce(i.translations -> l.lang ->> 'name', i.name),
                                       'description', coalesce(i.translations -> l.lang ->> 'description', i.description),
                                       'price', i.price, 'image_url', i.image_url, 'sort_order', i.sort_order,
                                       'available', i.available, 'sold_out_until', i.sold_out_until,
                                       'option_groups', coalesce((
                                            SELECT json_agg(json_build_object(
                                                       'id', g.id, 'name', coalesce(g.translations -> l.lang ->> 'name', g.name),
                                                       'min', g.min_select, 'max', g.max_select,
                                                       'options', coalesce((
                                                            SELECT json_agg(json_build_object(
                                                                       'id', o.id,
                                                                       'name', coalesce(o.translations -> l.lang ->> 'name', o.name),
                                                                       'price_delta', o.price_delta, 'available', o.available)
                                                                   ORDER BY o.sort_order, o.id)
                                                              FROM options o
                                                             WHERE o.store_id = g.store_id AND o.group_id = g.id), '[]'))
                                                   ORDER BY g.sort_order, g.id)
                                              FROM option_groups g
                                             WHERE g.store_id = i.store_id AND g.menu_item_id = i.id), '[]'))
                                   ORDER BY i.sort_order, i.id)
                              FROM menu_items i WHERE i.store_id = c.store_id AND i.category_id = c.id), '[]'))
                   ORDER BY c.sort_order, c.id)
              FROM menu_categories c WHERE c.store_id = s.id), '[]'))::text, 'UTF8')
      FROM stores s
     CROSS JOIN LATERAL (
         SELECT coalesce((SELECT x.lang FROM unnest(p_languages) WITH ORDINALITY AS x(lang, n)
                           WHERE x.lang = ANY (s.languages) ORDER BY x.n LIMIT 1), s.languages[1]) AS lang) AS l
     WHERE s.id = p_store_id
$$;

-- TableSessionClosed: the data of `table.session_closed`.
CREATE OR REPLACE FUNCTION session_closed_json(s table_sessions) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.table_id, 'number', s.table_number, 'session', NULL,
                             'closed_session', session_json(s))
$$;

-- MenuUpdated: the data of `menu.updated`; p_entity is the table the trigger fired on.
CREATE OR REPLACE FUNCTION menu_updated_json(p_entity text, p_id bigint, p_op text) RETURNS json
LANGUAGE sql IMMUTABLE AS $$
    SELECT json_build_object('entity', CASE p_entity WHEN 'menu_items' THEN 'menu_item'
                                                     WHEN 'option_groups' THEN 'option_group'
                                                     WHEN 'options' THEN 'option'
                                                     WHEN 'stores' THEN 'store'
                                                     ELSE 'category' END,
                             'id', p_id, 'op', lower(p_op))
$$;

-- The event triggers (migration 0001 creates the triggers): each records its event with the
-- document above as its data.

-- Deferred to commit: an order's lines are in place by then, and the store row is locked only
-- for the last moment of the transaction.
CREATE OR REPLACE FUNCTION orders_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
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

CREATE OR REPLACE FUNCTION table_sessions_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM record_event(NEW.store_id, 'table.session_closed', NEW.table_id, session_closed_json(NEW));
    RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION menu_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM record_event(r.store_id, 'menu.updated', NULL, menu_updated_json(TG_TABLE_NAME, r.id, TG_OP));
    RETURN NULL;
END
$$;

-- Station: a kitchen station as staff manage it.
CREATE OR REPLACE FUNCTION station_json(s stations) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', s.id, 'name', s.name, 'sort_order', s.sort_order)
$$;

-- Ticket: what one station makes for one order: the order's lines routed there (with their options
-- snapshot) and its note; the order's number and table as they are now (a moved order shows its new
-- table). station_id is NULL once the station was deleted; station_name stays.
-- PL/pgSQL for the reason order_json is: every ticket.created and ticket.done calls it once.
CREATE OR REPLACE FUNCTION ticket_json(t tickets) RETURNS json LANGUAGE plpgsql STABLE AS $$
BEGIN
    RETURN (SELECT json_build_object(
        'id', t.id, 'order_id', t.order_id, 'order_no', o.order_no, 'table_id', o.table_id,
        'table_number', o.table_number, 'station_id', t.station_id, 'station_name', t.station_name,
        'note', o.note,
        'lines', (SELECT coalesce(json_agg(json_build_object(
                         'name', l.name, 'quantity', l.quantity, 'options', l.options) ORDER BY l.line_no), '[]'::json)
                    FROM order_lines l
                   WHERE l.store_id = t.store_id AND l.order_id = t.order_id AND l.station_id = t.line_station_id),
        'created_at', t.created_at, 'done_at', t.done_at)
      FROM orders o WHERE o.store_id = t.store_id AND o.id = t.order_id);
END
$$;

-- Kitchen tickets (migration 0009): when an order commits, one ticket per station its lines go to
-- (order_lines.station_id, the snapshot place_order() takes); lines with no station make none, nor
-- do lines of a station deleted meanwhile. Deferred, after orders_record_created: order.created
-- comes first in the feed, then its tickets' ticket.created. An order none of whose lines has a
-- station (a store without stations) makes no ticket and skips the INSERT (migration 0012: setting up
-- the insert cost every such order 0.1M instructions, under the store row lock; the check 0.04M).
CREATE OR REPLACE FUNCTION orders_route_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT EXISTS (SELECT 1 FROM order_lines l
                    WHERE l.store_id = NEW.store_id AND l.order_id = NEW.id AND l.station_id IS NOT NULL) THEN
        RETURN NULL;
    END IF;
    INSERT INTO tickets (store_id, order_id, station_id, line_station_id, station_name)
    SELECT NEW.store_id, NEW.id, s.id, s.id, s.name
      FROM stations s
     WHERE s.store_id = NEW.store_id
       AND s.id IN (SELECT l.station_id FROM order_lines l WHERE l.store_id = NEW.store_id AND l.order_id = NEW.id)
     ORDER BY s.sort_order, s.id;
    RETURN NULL;
END
$$;

-- ticket.created / ticket.done, on the admin stream only (table_id is the order's table, for
-- webhooks and filters; the table streams do not carry ticket events).
CREATE OR REPLACE FUNCTION tickets_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (OLD.done_at IS NULL AND NEW.done_at IS NOT NULL) THEN
        PERFORM record_event(NEW.store_id, CASE WHEN TG_OP = 'INSERT' THEN 'ticket.created' ELSE 'ticket.done' END,
                             (SELECT o.table_id FROM orders o WHERE o.store_id = NEW.store_id AND o.id = NEW.order_id),
                             ticket_json(NEW));
    END IF;
    RETURN NULL;
END
$$;

-- An order that became completed (its last ticket done, or staff completing it by hand) has nothing
-- left to make: its open tickets are done too (each records ticket.done), so no display keeps them.
CREATE OR REPLACE FUNCTION orders_complete_tickets() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE tickets SET done_at = greatest(clock_timestamp(), created_at)
     WHERE store_id = NEW.store_id AND order_id = NEW.id AND done_at IS NULL;
    RETURN NULL;
END
$$;

-- Call: a table's call for staff.
CREATE OR REPLACE FUNCTION call_json(c staff_calls) RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('id', c.id, 'table_id', c.table_id, 'table_number', c.table_number,
                             'reason', c.reason, 'note', c.note, 'created_at', c.created_at,
                             'resolved_at', c.resolved_at)
$$;

-- call.created / call.resolved, on the admin stream and the call's table's stream. Not deferred: a
-- call is one statement, and closing a session resolves its table's calls before the deferred
-- table.session_closed, so a tablet sees its calls resolved before its session closes. Moving a call
-- to another table (a session moved) records nothing here: table.session_moved says it.
CREATE OR REPLACE FUNCTION staff_calls_record_event() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' OR (OLD.resolved_at IS NULL AND NEW.resolved_at IS NOT NULL) THEN
        PERFORM record_event(NEW.store_id, CASE WHEN TG_OP = 'INSERT' THEN 'call.created' ELSE 'call.resolved' END,
                             NEW.table_id, call_json(NEW));
    END IF;
    RETURN NULL;
END
$$;

-- TableSessionMoved: the data of `table.session_moved` (tables/queries.py records it once per table).
CREATE OR REPLACE FUNCTION session_moved_json(p_from tables, p_to tables, p_session_id bigint, p_merged boolean)
RETURNS json LANGUAGE sql STABLE AS $$
    SELECT json_build_object('from_table_id', p_from.id, 'from_table_number', p_from.number,
                             'to_table_id', p_to.id, 'to_table_number', p_to.number,
                             'session_id', p_session_id, 'merged', p_merged)
$$;
