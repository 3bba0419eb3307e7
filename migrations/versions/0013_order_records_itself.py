"""place_order() records its order's event and tickets itself (issue 13, point 3, continued).

Measured as 0012 was (PostgreSQL under cachegrind, the bench's order mix, docs/order-path.md): an
order cost 3,028k instructions at 0012 (the floor's whole order 2,181k), of which the two deferred
triggers 692k: the event row and its document (the floor writes one too) and the firing itself (the
queued trigger events, two PL/pgSQL trigger calls, order_json() a second time for the document the
answer already has, the EXISTS over the lines for tickets). Now 2,895k: −133k (−4.4 %) an order.

- place_order() sets `tableorder.placing` for its INSERT into orders only; the two deferred triggers
  are created again with `WHEN (current_setting('tableorder.placing', true) IS DISTINCT FROM 'on')`,
  so PostgreSQL does not queue them for that row (a trigger's WHEN is evaluated when the row is
  inserted). Every other INSERT into orders (demo data, a vendor's SQL, tests) is recorded at commit
  as before.
- At its end, after every check and every row of the order is written, place_order() builds the
  document once, records `order.created` with it (record_event(): the store row's lock and next
  position) and makes the tickets from the lines' stations (as orders_route_tickets() does), then
  answers with the same document. order.created still precedes its tickets' events.

What holds as before: the store row is locked until commit, so positions still follow commit order
(now from the end of place_order(), a few statements before its commit, instead of from the start
of the commit); an order's event carries the document its answer carries (byte for byte); a refused
order records nothing. An order is still recorded exactly once (tests/test_migrations.py,
test_each_change_records_exactly_one_event_in_order; tests/test_stations.py for its tickets).

The downgrade restores 0012: 0011's place_order() with 0012's setting, the triggers without WHEN.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-29
"""

import importlib.util
from pathlib import Path
from types import ModuleType

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

PLACE_ORDER = ("place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer, integer[], "
               "bigint[])")

# 0011's place_order() (what 0012 runs, with its plan_cache_mode setting), changed as above.
PLACE_ORDER_CHANGES = [
    ("    WITH priced AS (",
     "    -- This row's event and tickets are written below (the deferred triggers' WHEN skips it).\n"
     "    PERFORM set_config('tableorder.placing', 'on', true);\n"
     "    WITH priced AS (", 1),
    ("    SELECT id INTO v_order_id FROM new_order;\n",
     "    SELECT id INTO v_order_id FROM new_order;\n"
     "    PERFORM set_config('tableorder.placing', '', true);\n", 1),
    ("    RETURN QUERY SELECT order_json(o), false FROM orders o WHERE o.store_id = p_store_id"
     " AND o.id = v_order_id;\n",
     "    -- The order's event, then its tickets (their ticket.created follow it), as the deferred triggers\n"
     "    -- record them for any other insert; the store row stays locked until commit.\n"
     "    SELECT order_json(o) INTO order_doc FROM orders o WHERE o.store_id = p_store_id AND o.id = v_order_id;\n"
     "    PERFORM record_event(p_store_id, 'order.created', p_table_id, order_doc);\n"
     "    IF cardinality(array_remove(v_stations, NULL)) > 0 THEN\n"
     "        INSERT INTO tickets (store_id, order_id, station_id, line_station_id, station_name)\n"
     "        SELECT p_store_id, v_order_id, s.id, s.id, s.name\n"
     "          FROM stations s\n"
     "         WHERE s.store_id = p_store_id AND s.id = ANY (v_stations)\n"
     "         ORDER BY s.sort_order, s.id;\n"
     "    END IF;\n"
     "    replayed := false;\n"
     "    RETURN NEXT;\n", 1),
]

TRIGGERS = """
DROP TRIGGER orders_record_created ON orders;
DROP TRIGGER orders_route_tickets ON orders;
CREATE CONSTRAINT TRIGGER orders_record_created AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}EXECUTE FUNCTION orders_record_event();
-- Fires after orders_record_created (by name): order.created precedes its tickets in the feed.
CREATE CONSTRAINT TRIGGER orders_route_tickets AFTER INSERT ON orders
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW {when}EXECUTE FUNCTION orders_route_tickets();
"""
WHEN = "WHEN (current_setting('tableorder.placing', true) IS DISTINCT FROM 'on')\n    "


def _revision(file_name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"revision_{file_name}", Path(__file__).with_name(file_name))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def place_order() -> str:
    text: str = _revision("0011_store_keys.py").place_order()
    for old, new, count in PLACE_ORDER_CHANGES:
        assert text.count(old) == count, f"expected {count} of {old!r}"
        text = text.replace(old, new)
    return text


def upgrade() -> None:
    op.execute(place_order())
    op.execute(f"ALTER FUNCTION {PLACE_ORDER} SET plan_cache_mode = force_generic_plan")
    op.execute(TRIGGERS.format(when=WHEN))


def downgrade() -> None:
    op.execute(_revision("0011_store_keys.py").place_order())
    op.execute(f"ALTER FUNCTION {PLACE_ORDER} SET plan_cache_mode = force_generic_plan")
    op.execute(TRIGGERS.format(when=""))
