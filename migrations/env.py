"""Alembic environment: raw SQL migrations (no models, no autogenerate), run through psycopg so a
migration's SQL script with functions and triggers goes to the server as one text."""

import os

from alembic import context
from sqlalchemy import create_engine, pool

from tableorder.db import sqlalchemy_url

# Only the database is needed here: `alembic upgrade head` runs in a deployment step that need not
# carry the API's secrets.
url = context.config.attributes.get("database_url") or os.environ.get("DATABASE_URL", "").strip()
if not url:
    raise SystemExit("DATABASE_URL is not set (alembic upgrade head migrates the database it names)")

if context.is_offline_mode():
    raise SystemExit("offline SQL generation is not supported: the migrations are raw SQL already")

engine = create_engine(sqlalchemy_url(url), poolclass=pool.NullPool)
try:
    with engine.connect() as connection:
        context.configure(connection=connection, target_metadata=None, transaction_per_migration=True)
        with context.begin_transaction():
            context.run_migrations()
finally:
    engine.dispose()
