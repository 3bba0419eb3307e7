"""Citus-ready keys (issue 13, point 5): store_id leads every key of a store-owned table, and every
reference from one store-owned table to another is (store_id, x_id) REFERENCES x (store_id, id). A
cluster distributed by store_id (Citus) can then check every key and do every join on the one node
that holds the store; docs/scaling.md has the audit this follows.

- order_lines and idempotency_keys gain store_id (filled from their order and table).
- Primary keys become (store_id, id) (the identity column stays; ids are still unique on their own)
  on admins, tables, table_sessions, menu_categories, menu_items, option_groups, options, stations,
  orders, tickets, staff_calls; (store_id, jti) on revoked_tokens; (store_id, order_id, line_no) on
  order_lines; (store_id, table_id, key) on idempotency_keys. The (id, store_id) unique keys that the
  composite references used go: the primary keys serve them.
- The unique keys of one open session per table, one open call per table and reason, and one ticket
  per order and station begin with store_id.
- Every statement that found a row by a child's id alone now says its store too (the functions of
  migrations/documents.sql, place_order(), orders_check_status(); the queries in src/tableorder), so
  each is served by the new keys and stays within one store. Behaviour is unchanged.

The downgrade restores 0010's schema exactly (its documents from migrations/documents_0010.sql).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29
"""

import importlib.util
from pathlib import Path

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

MIGRATIONS = Path(__file__).resolve().parents[1]

UPGRADE = """
ALTER TABLE order_lines ADD COLUMN store_id bigint;
UPDATE order_lines l SET store_id = o.store_id FROM orders o WHERE o.id = l.order_id;
ALTER TABLE order_lines ALTER COLUMN store_id SET NOT NULL;
ALTER TABLE idempotency_keys ADD COLUMN store_id bigint;
UPDATE idempotency_keys k SET store_id = t.store_id FROM tables t WHERE t.id = k.table_id;
ALTER TABLE idempotency_keys ALTER COLUMN store_id SET NOT NULL;

-- The references go first: they rest on the keys being replaced.
ALTER TABLE menu_categories DROP CONSTRAINT menu_categories_station_id_store_id_fkey;
ALTER TABLE menu_items DROP CONSTRAINT menu_items_category_id_store_id_fkey,
    DROP CONSTRAINT menu_items_station_id_store_id_fkey;
ALTER TABLE option_groups DROP CONSTRAINT option_groups_menu_item_id_store_id_fkey;
ALTER TABLE options DROP CONSTRAINT options_group_id_store_id_fkey;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_order_id_fkey, DROP CONSTRAINT order_lines_menu_item_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_session_id_store_id_fkey, DROP CONSTRAINT orders_table_id_store_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_table_id_fkey,
    DROP CONSTRAINT idempotency_keys_order_id_fkey;
ALTER TABLE staff_calls DROP CONSTRAINT staff_calls_table_id_store_id_fkey;
ALTER TABLE table_sessions DROP CONSTRAINT table_sessions_table_id_store_id_fkey;
ALTER TABLE tickets DROP CONSTRAINT tickets_order_id_fkey, DROP CONSTRAINT tickets_station_id_store_id_fkey;

ALTER TABLE admins DROP CONSTRAINT admins_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE tables DROP CONSTRAINT tables_pkey, DROP CONSTRAINT tables_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE table_sessions DROP CONSTRAINT table_sessions_pkey, DROP CONSTRAINT table_sessions_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE stations DROP CONSTRAINT stations_pkey, DROP CONSTRAINT stations_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE menu_categories DROP CONSTRAINT menu_categories_pkey, DROP CONSTRAINT menu_categories_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE menu_items DROP CONSTRAINT menu_items_pkey, DROP CONSTRAINT menu_items_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE option_groups DROP CONSTRAINT option_groups_pkey, DROP CONSTRAINT option_groups_id_store_id_key,
    ADD PRIMARY KEY (store_id, id);
ALTER TABLE options DROP CONSTRAINT options_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey, ADD PRIMARY KEY (store_id, order_id, line_no);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey, ADD PRIMARY KEY (store_id, table_id, key);
ALTER TABLE tickets DROP CONSTRAINT tickets_pkey, DROP CONSTRAINT tickets_order_id_line_station_id_key,
    ADD PRIMARY KEY (store_id, id), ADD UNIQUE (store_id, order_id, line_station_id);
ALTER TABLE staff_calls DROP CONSTRAINT staff_calls_pkey, ADD PRIMARY KEY (store_id, id);
ALTER TABLE revoked_tokens DROP CONSTRAINT revoked_tokens_pkey, ADD PRIMARY KEY (store_id, jti);

DROP INDEX table_sessions_one_open;
CREATE UNIQUE INDEX table_sessions_one_open ON table_sessions (store_id, table_id) WHERE closed_at IS NULL;
DROP INDEX staff_calls_one_open;
CREATE UNIQUE INDEX staff_calls_one_open ON staff_calls (store_id, table_id, reason) WHERE resolved_at IS NULL;

ALTER TABLE menu_categories ADD FOREIGN KEY (store_id, station_id) REFERENCES stations
    ON DELETE SET NULL (station_id);
ALTER TABLE menu_items ADD FOREIGN KEY (store_id, category_id) REFERENCES menu_categories,
    ADD FOREIGN KEY (store_id, station_id) REFERENCES stations ON DELETE SET NULL (station_id);
ALTER TABLE option_groups ADD FOREIGN KEY (store_id, menu_item_id) REFERENCES menu_items ON DELETE CASCADE;
ALTER TABLE options ADD FOREIGN KEY (store_id, group_id) REFERENCES option_groups ON DELETE CASCADE;
ALTER TABLE order_lines ADD FOREIGN KEY (store_id, order_id) REFERENCES orders ON DELETE CASCADE,
    ADD FOREIGN KEY (store_id, menu_item_id) REFERENCES menu_items ON DELETE SET NULL (menu_item_id);
ALTER TABLE orders ADD FOREIGN KEY (store_id, session_id) REFERENCES table_sessions,
    ADD FOREIGN KEY (store_id, table_id) REFERENCES tables ON DELETE SET NULL (table_id);
ALTER TABLE idempotency_keys ADD FOREIGN KEY (store_id, table_id) REFERENCES tables ON DELETE CASCADE,
    ADD FOREIGN KEY (store_id, order_id) REFERENCES orders ON DELETE CASCADE;
ALTER TABLE staff_calls ADD FOREIGN KEY (store_id, table_id) REFERENCES tables ON DELETE CASCADE;
ALTER TABLE table_sessions ADD FOREIGN KEY (store_id, table_id) REFERENCES tables ON DELETE SET NULL (table_id);
ALTER TABLE tickets ADD FOREIGN KEY (store_id, order_id) REFERENCES orders ON DELETE CASCADE,
    ADD FOREIGN KEY (store_id, station_id) REFERENCES stations ON DELETE SET NULL (station_id);
"""

DOWNGRADE = """
ALTER TABLE menu_categories DROP CONSTRAINT menu_categories_store_id_station_id_fkey;
ALTER TABLE menu_items DROP CONSTRAINT menu_items_store_id_category_id_fkey,
    DROP CONSTRAINT menu_items_store_id_station_id_fkey;
ALTER TABLE option_groups DROP CONSTRAINT option_groups_store_id_menu_item_id_fkey;
ALTER TABLE options DROP CONSTRAINT options_store_id_group_id_fkey;
ALTER TABLE order_lines DROP CONSTRAINT order_lines_store_id_order_id_fkey,
    DROP CONSTRAINT order_lines_store_id_menu_item_id_fkey;
ALTER TABLE orders DROP CONSTRAINT orders_store_id_session_id_fkey, DROP CONSTRAINT orders_store_id_table_id_fkey;
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_store_id_table_id_fkey,
    DROP CONSTRAINT idempotency_keys_store_id_order_id_fkey;
ALTER TABLE staff_calls DROP CONSTRAINT staff_calls_store_id_table_id_fkey;
ALTER TABLE table_sessions DROP CONSTRAINT table_sessions_store_id_table_id_fkey;
ALTER TABLE tickets DROP CONSTRAINT tickets_store_id_order_id_fkey, DROP CONSTRAINT tickets_store_id_station_id_fkey;

DROP INDEX staff_calls_one_open;
CREATE UNIQUE INDEX staff_calls_one_open ON staff_calls (table_id, reason) WHERE resolved_at IS NULL;
DROP INDEX table_sessions_one_open;
CREATE UNIQUE INDEX table_sessions_one_open ON table_sessions (table_id) WHERE closed_at IS NULL;

ALTER TABLE revoked_tokens DROP CONSTRAINT revoked_tokens_pkey, ADD CONSTRAINT revoked_tokens_pkey PRIMARY KEY (jti);
ALTER TABLE staff_calls DROP CONSTRAINT staff_calls_pkey, ADD CONSTRAINT staff_calls_pkey PRIMARY KEY (id);
ALTER TABLE tickets DROP CONSTRAINT tickets_pkey, DROP CONSTRAINT tickets_store_id_order_id_line_station_id_key,
    ADD CONSTRAINT tickets_pkey PRIMARY KEY (id),
    ADD CONSTRAINT tickets_order_id_line_station_id_key UNIQUE (order_id, line_station_id);
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey,
    ADD CONSTRAINT idempotency_keys_pkey PRIMARY KEY (table_id, key);
ALTER TABLE order_lines DROP CONSTRAINT order_lines_pkey,
    ADD CONSTRAINT order_lines_pkey PRIMARY KEY (order_id, line_no);
ALTER TABLE orders DROP CONSTRAINT orders_pkey, ADD CONSTRAINT orders_pkey PRIMARY KEY (id);
ALTER TABLE options DROP CONSTRAINT options_pkey, ADD CONSTRAINT options_pkey PRIMARY KEY (id);
ALTER TABLE option_groups DROP CONSTRAINT option_groups_pkey, ADD CONSTRAINT option_groups_pkey PRIMARY KEY (id),
    ADD CONSTRAINT option_groups_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE menu_items DROP CONSTRAINT menu_items_pkey, ADD CONSTRAINT menu_items_pkey PRIMARY KEY (id),
    ADD CONSTRAINT menu_items_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE menu_categories DROP CONSTRAINT menu_categories_pkey, ADD CONSTRAINT menu_categories_pkey PRIMARY KEY (id),
    ADD CONSTRAINT menu_categories_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE stations DROP CONSTRAINT stations_pkey, ADD CONSTRAINT stations_pkey PRIMARY KEY (id),
    ADD CONSTRAINT stations_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE table_sessions DROP CONSTRAINT table_sessions_pkey, ADD CONSTRAINT table_sessions_pkey PRIMARY KEY (id),
    ADD CONSTRAINT table_sessions_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE tables DROP CONSTRAINT tables_pkey, ADD CONSTRAINT tables_pkey PRIMARY KEY (id),
    ADD CONSTRAINT tables_id_store_id_key UNIQUE (id, store_id);
ALTER TABLE admins DROP CONSTRAINT admins_pkey, ADD CONSTRAINT admins_pkey PRIMARY KEY (id);

ALTER TABLE menu_categories ADD CONSTRAINT menu_categories_station_id_store_id_fkey
    FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id);
ALTER TABLE menu_items
    ADD CONSTRAINT menu_items_category_id_store_id_fkey
        FOREIGN KEY (category_id, store_id) REFERENCES menu_categories (id, store_id),
    ADD CONSTRAINT menu_items_station_id_store_id_fkey
        FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id);
ALTER TABLE option_groups ADD CONSTRAINT option_groups_menu_item_id_store_id_fkey
    FOREIGN KEY (menu_item_id, store_id) REFERENCES menu_items (id, store_id) ON DELETE CASCADE;
ALTER TABLE options ADD CONSTRAINT options_group_id_store_id_fkey
    FOREIGN KEY (group_id, store_id) REFERENCES option_groups (id, store_id) ON DELETE CASCADE;
ALTER TABLE order_lines
    ADD CONSTRAINT order_lines_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
    ADD CONSTRAINT order_lines_menu_item_id_fkey FOREIGN KEY (menu_item_id) REFERENCES menu_items (id)
        ON DELETE SET NULL;
ALTER TABLE orders
    ADD CONSTRAINT orders_session_id_store_id_fkey
        FOREIGN KEY (session_id, store_id) REFERENCES table_sessions (id, store_id),
    ADD CONSTRAINT orders_table_id_store_id_fkey
        FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE SET NULL (table_id);
ALTER TABLE idempotency_keys
    ADD CONSTRAINT idempotency_keys_table_id_fkey FOREIGN KEY (table_id) REFERENCES tables (id) ON DELETE CASCADE,
    ADD CONSTRAINT idempotency_keys_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE;
ALTER TABLE staff_calls ADD CONSTRAINT staff_calls_table_id_store_id_fkey
    FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE CASCADE;
ALTER TABLE table_sessions ADD CONSTRAINT table_sessions_table_id_store_id_fkey
    FOREIGN KEY (table_id, store_id) REFERENCES tables (id, store_id) ON DELETE SET NULL (table_id);
ALTER TABLE tickets
    ADD CONSTRAINT tickets_order_id_fkey FOREIGN KEY (order_id) REFERENCES orders (id) ON DELETE CASCADE,
    ADD CONSTRAINT tickets_station_id_store_id_fkey
        FOREIGN KEY (station_id, store_id) REFERENCES stations (id, store_id) ON DELETE SET NULL (station_id);

ALTER TABLE idempotency_keys DROP COLUMN store_id;
ALTER TABLE order_lines DROP COLUMN store_id;
"""

# place_order() (0009) and orders_check_status() (0002), each statement that found a row by a child's
# id alone now saying the store too; the order lines and the idempotency key are written with it.
PLACE_ORDER_CHANGES = [
    ("CREATE FUNCTION place_order(", "CREATE OR REPLACE FUNCTION place_order(", 1),
    ("FROM idempotency_keys k WHERE k.table_id = p_table_id",
     "FROM idempotency_keys k WHERE k.store_id = p_store_id AND k.table_id = p_table_id", 1),
    ("FROM orders o WHERE o.id = v_key.order_id",
     "FROM orders o WHERE o.store_id = p_store_id AND o.id = v_key.order_id", 1),
    ("FROM table_sessions s JOIN orders o ON o.session_id = s.id\n                 WHERE s.table_id = p_table_id",
     "FROM table_sessions s JOIN orders o ON o.store_id = s.store_id AND o.session_id = s.id\n"
     "                 WHERE s.store_id = p_store_id AND s.table_id = p_table_id", 1),
    ("WHERE o.table_id = p_table_id AND o.created_at >", "WHERE o.store_id = p_store_id AND o.table_id = p_table_id"
     " AND o.created_at >", 1),
    ("LEFT JOIN menu_categories c ON c.id = menu.category_id",
     "LEFT JOIN menu_categories c ON c.store_id = p_store_id AND c.id = menu.category_id", 1),
    ("FROM option_groups g WHERE g.menu_item_id = ANY (p_item_ids)",
     "FROM option_groups g WHERE g.store_id = p_store_id AND g.menu_item_id = ANY (p_item_ids)", 1),
    ("LEFT JOIN option_groups g ON g.id = o.group_id",
     "LEFT JOIN option_groups g ON g.store_id = o.store_id AND g.id = o.group_id", 1),
    ("JOIN option_groups g ON g.menu_item_id = l.item_id",
     "JOIN option_groups g ON g.store_id = p_store_id AND g.menu_item_id = l.item_id", 1),
    ("FROM chosen ch JOIN options o ON o.id = ch.id",
     "FROM chosen ch JOIN options o ON o.store_id = p_store_id AND o.id = ch.id", 1),
    ("                JOIN options o ON o.id = ch.id\n                JOIN option_groups g ON g.id = o.group_id",
     "                JOIN options o ON o.store_id = p_store_id AND o.id = ch.id\n"
     "                JOIN option_groups g ON g.store_id = p_store_id AND g.id = o.group_id", 1),
    ("FROM table_sessions WHERE table_id = p_table_id AND closed_at IS NULL",
     "FROM table_sessions WHERE store_id = p_store_id AND table_id = p_table_id AND closed_at IS NULL", 1),
    ("INSERT INTO order_lines (order_id, line_no,", "INSERT INTO order_lines (store_id, order_id, line_no,", 1),
    ("SELECT new_order.id, p.n,", "SELECT p_store_id, new_order.id, p.n,", 1),
    ("INSERT INTO idempotency_keys (table_id, key, request_hash, order_id)\n        VALUES (p_table_id,",
     "INSERT INTO idempotency_keys (store_id, table_id, key, request_hash, order_id)\n"
     "        VALUES (p_store_id, p_table_id,", 1),
    ("FROM orders o WHERE o.id = v_order_id", "FROM orders o WHERE o.store_id = p_store_id AND o.id = v_order_id", 1),
]
CHECK_STATUS_CHANGES = [
    ("FROM table_sessions s WHERE s.id = OLD.session_id", "FROM table_sessions s WHERE s.store_id = OLD.store_id"
     " AND s.id = OLD.session_id", 2),
    ("FROM tables t WHERE t.id = OLD.table_id", "FROM tables t WHERE t.store_id = OLD.store_id AND t.id = OLD.table_id",
     1),
]


def _statement_of(revision_file: str, name: str) -> str:
    """A statement of an earlier revision, read from its own file (as 0005 and 0009 do)."""
    spec = importlib.util.spec_from_file_location(f"revision_{revision_file}", Path(__file__).with_name(revision_file))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = getattr(module, name)
    return text


def _changed(text: str, changes: list[tuple[str, str, int]]) -> str:
    for old, new, count in changes:
        assert text.count(old) == count, f"expected {count} of {old!r}"
        text = text.replace(old, new)
    return text


def place_order() -> str:
    return _changed(_statement_of("0009_restaurant_capabilities.py", "PLACE_ORDER"), PLACE_ORDER_CHANGES)


def check_status() -> str:
    return _changed(_statement_of("0002_orders_hardening.py", "CHECK_STATUS"), CHECK_STATUS_CHANGES)


def upgrade() -> None:
    op.execute(UPGRADE)
    op.execute(place_order())
    op.execute(check_status())
    # The documents at head say the store wherever they join; later revisions may add to the file, so
    # its bodies are checked when `tableorder migrate` replays it at head (as 0009 runs it).
    op.execute("SET LOCAL check_function_bodies = off")
    op.execute((MIGRATIONS / "documents.sql").read_text())
    op.execute("SET LOCAL check_function_bodies = on")


def downgrade() -> None:
    op.execute(_statement_of("0009_restaurant_capabilities.py", "PLACE_ORDER").replace(
        "CREATE FUNCTION place_order(", "CREATE OR REPLACE FUNCTION place_order(", 1))
    op.execute(_statement_of("0002_orders_hardening.py", "CHECK_STATUS"))
    op.execute((MIGRATIONS / "documents_0010.sql").read_text())
    op.execute(DOWNGRADE)
