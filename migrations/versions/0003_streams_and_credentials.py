"""Streams and credentials (issue 9: points 1-4).

- events_table: a table stream's backlog is read in SQL, by table, a page at a time.
- Tokens die with their credentials: admins and tables carry a credential version (bumped by a
  trigger whenever the password changes), tokens carry the version they were issued under, and
  logged-out tokens are listed until they expire. Every change NOTIFYs, so each replica's cache of
  token checks forgets the store at once.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE INDEX events_table ON events (store_id, table_id, position) WHERE table_id IS NOT NULL;
-- Table streams also carry the store's menu changes.
CREATE INDEX events_menu ON events (store_id, position) WHERE type = 'menu.updated';

ALTER TABLE admins
    ADD COLUMN credential_version integer NOT NULL DEFAULT 1 CHECK (credential_version >= 1),
    -- The one token that survives its admin's own password change (PUT /admin/password): the one
    -- that made it, for the credential version that change made. Every other token of the admin
    -- ends, and any later change (API, CLI or SQL) ends that one too.
    ADD COLUMN kept_token uuid,
    ADD COLUMN kept_version integer;
ALTER TABLE tables
    ADD COLUMN credential_version integer NOT NULL DEFAULT 1 CHECK (credential_version >= 1);

CREATE TABLE revoked_tokens (
    jti        uuid PRIMARY KEY,
    store_id   bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX revoked_tokens_expires ON revoked_tokens (expires_at);

-- Whatever changes a password (the API, the CLI, plain SQL), the tokens issued before it end.
CREATE FUNCTION credentials_bump_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.credential_version := OLD.credential_version + 1;
    RETURN NEW;
END
$$;

-- Tells every replica that a token check of this store may have changed its answer. Not an event
-- of the store's feed (no position; boards and tablets never see it), only a cache invalidation.
CREATE FUNCTION credentials_notify() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r record;
BEGIN
    IF TG_OP = 'DELETE' THEN r := OLD; ELSE r := NEW; END IF;
    PERFORM pg_notify('tableorder_events', r.store_id::text || ':0:credentials.changed');
    RETURN NULL;
END
$$;

CREATE TRIGGER admins_bump_version BEFORE UPDATE OF password_hash ON admins
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION credentials_bump_version();
CREATE TRIGGER tables_bump_version BEFORE UPDATE OF password_hash ON tables
    FOR EACH ROW WHEN (OLD.password_hash IS DISTINCT FROM NEW.password_hash)
    EXECUTE FUNCTION credentials_bump_version();
-- (Not `UPDATE OF credential_version`: that fires only when the statement itself sets the column,
-- and the version is bumped by the BEFORE trigger above.)
CREATE TRIGGER admins_credentials_updated AFTER UPDATE ON admins FOR EACH ROW
    WHEN (OLD.credential_version IS DISTINCT FROM NEW.credential_version
          OR OLD.kept_token IS DISTINCT FROM NEW.kept_token)
    EXECUTE FUNCTION credentials_notify();
CREATE TRIGGER admins_credentials_deleted AFTER DELETE ON admins
    FOR EACH ROW EXECUTE FUNCTION credentials_notify();
CREATE TRIGGER tables_credentials_updated AFTER UPDATE ON tables FOR EACH ROW
    WHEN (OLD.credential_version IS DISTINCT FROM NEW.credential_version)
    EXECUTE FUNCTION credentials_notify();
CREATE TRIGGER tables_credentials_deleted AFTER DELETE ON tables
    FOR EACH ROW EXECUTE FUNCTION credentials_notify();
CREATE TRIGGER revoked_tokens_notify AFTER INSERT ON revoked_tokens
    FOR EACH ROW EXECUTE FUNCTION credentials_notify();
"""

DOWNGRADE = """
DROP TRIGGER revoked_tokens_notify ON revoked_tokens;
DROP TRIGGER tables_credentials_deleted ON tables;
DROP TRIGGER tables_credentials_updated ON tables;
DROP TRIGGER admins_credentials_deleted ON admins;
DROP TRIGGER admins_credentials_updated ON admins;
DROP TRIGGER tables_bump_version ON tables;
DROP TRIGGER admins_bump_version ON admins;
DROP FUNCTION credentials_notify(), credentials_bump_version();
DROP TABLE revoked_tokens;
ALTER TABLE tables DROP COLUMN credential_version;
ALTER TABLE admins DROP COLUMN credential_version, DROP COLUMN kept_token, DROP COLUMN kept_version;
DROP INDEX events_menu;
DROP INDEX events_table;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
