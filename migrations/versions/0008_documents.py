"""Documents in one replayable file (issue 11): every SQL function that builds a document of the API
or of the event feed now lives in migrations/documents.sql, one per Struct of
src/tableorder/documents.py. This revision runs that file: it replaces 0001's order_json,
session_json, table_json and event trigger functions (same documents; the triggers now call the
named document functions) and adds the functions the queries built inline before (store, table
orders, closed session, history page, category, menu item, menu, the two event payloads).
`tableorder migrate` replays the file after every upgrade to head.

The downgrade restores 0007's schema exactly: the new functions go, 0001's texts come back.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-29
"""

import importlib.util
import re
from pathlib import Path

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# The file as this revision left it (frozen: migrations/documents.sql moves on with later revisions,
# whose tables this revision does not have yet).
DOCUMENTS = Path(__file__).resolve().parents[1] / "documents_0008.sql"

ADDED = [
    "store_json(stores)",
    "table_orders_json(bigint, bigint)",
    "closed_session_json(table_sessions)",
    "history_page_json(bigint, bigint, date, date, integer, integer, integer)",
    "category_json(menu_categories)",
    "menu_item_json(menu_items)",
    "menu_json(bigint)",
    "session_closed_json(table_sessions)",
    "menu_updated_json(text, bigint, text)",
]
REPLACED = ["order_json", "session_json", "table_json", "orders_record_event", "table_sessions_record_event",
            "menu_record_event"]


def upgrade() -> None:
    op.execute(DOCUMENTS.read_text())


def _functions_of_0001() -> dict[str, str]:
    """0001's CREATE FUNCTION statements by name, read from its own file."""
    path = Path(__file__).with_name("0001_initial.py")
    spec = importlib.util.spec_from_file_location("revision_0001", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    text: str = module.FUNCTIONS
    return {m.group(1): m.group(0) for m in re.finditer(r"CREATE FUNCTION (\w+)\(.*?\$\$;", text, re.DOTALL)}


def downgrade() -> None:
    originals = _functions_of_0001()
    for name in REPLACED:
        op.execute(originals[name].replace("CREATE FUNCTION", "CREATE OR REPLACE FUNCTION", 1))
    for signature in ADDED:
        op.execute(f"DROP FUNCTION {signature};")
