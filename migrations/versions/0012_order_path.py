"""The order path (issue 13, point 3): what PostgreSQL spent on an order above what its guarantees
need. Measured by instructions of the PostgreSQL backend per order (postgres under cachegrind, the
bench's order mix; docs/order-path.md), 0011 against the minimal floor (ops/bench/floor.py):

- place_order() plans its statements once per session (plan_cache_mode = force_generic_plan on the
  function). Its statements take arrays and many parameters, so PostgreSQL's plan cache kept finding
  a custom plan cheaper than the generic one and planned every statement of every order again: the
  options check alone cost about 0.5 ms of planning. The generic plans are the same index lookups
  (checked with EXPLAIN on the bench's data); nothing an order does changes.
- order_json() and ticket_json() are PL/pgSQL (migrations/documents.sql): as SQL functions with a
  subquery they were never inlined, so each call parsed and planned its body again; PL/pgSQL keeps
  the plan. Same documents, byte for byte.
- orders_route_tickets() (migrations/documents.sql) returns at once when no line of the order has a
  station: a store without stations no longer sets up an insert into tickets at every commit, while
  the store row is locked.

The guarantees stay where they were: the table row lock, the idempotency key, the session's bound,
the table's order rate, the menu and option rows locked and checked, the order.created event and
the tickets recorded at commit by the deferred triggers for whatever inserts an order.

A later CREATE OR REPLACE of place_order() drops the function's setting: say it again there.

The downgrade restores 0011: the setting goes, the documents of migrations/documents_0011.sql come back.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-29
"""

from pathlib import Path

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

MIGRATIONS = Path(__file__).resolve().parents[1]

PLACE_ORDER = ("place_order(bigint, bigint, bigint[], integer[], text, text, bytea, integer, integer, integer[], "
               "bigint[])")


def upgrade() -> None:
    op.execute(f"ALTER FUNCTION {PLACE_ORDER} SET plan_cache_mode = force_generic_plan")
    # The file at head may read what later revisions add: its bodies are checked when
    # `tableorder migrate` replays it at head (as 0009 and 0011 run it).
    op.execute("SET LOCAL check_function_bodies = off")
    op.execute((MIGRATIONS / "documents.sql").read_text())
    op.execute("SET LOCAL check_function_bodies = on")


def downgrade() -> None:
    op.execute(f"ALTER FUNCTION {PLACE_ORDER} RESET plan_cache_mode")
    op.execute((MIGRATIONS / "documents_0011.sql").read_text())
