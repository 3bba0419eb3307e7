"""API keys per store with scopes (issue 11, point 4).

A key belongs to a store, not to an admin: integrations outlive the staff who set them up. Only a
SHA-256 of the secret is kept (the secret is 256 random bits, so a fast hash is as strong as a slow
one and costs nothing per request). Revoking a key deletes its row; like a logout, that NOTIFYs
`credentials.changed` for the store (credentials_notify() of migration 0003), so every replica
forgets what it remembered of the store's keys at once and re-checks the streams open with them.
`last_used_at` is written at most about once a minute per key per worker and notifies nothing.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-29
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

UPGRADE = """
CREATE TABLE api_keys (
    store_id     bigint NOT NULL REFERENCES stores ON DELETE CASCADE,
    id           bigint GENERATED ALWAYS AS IDENTITY,
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    scopes       text[] NOT NULL CHECK (
                     cardinality(scopes) BETWEEN 1 AND 7
                     AND array_position(scopes, NULL) IS NULL
                     AND scopes <@ ARRAY['menu:read', 'menu:write', 'orders:read', 'orders:write',
                                         'tables:read', 'tables:write', 'events:read']),
    -- Public: part of the secret (tok_<prefix>_<secret>), shown in lists, and how a presented
    -- secret finds its row.
    prefix       text NOT NULL UNIQUE CHECK (prefix ~ '^[a-z0-9]{8}$'),
    secret_hash  bytea NOT NULL CHECK (octet_length(secret_hash) = 32),  -- sha256 of the whole secret
    created_at   timestamptz NOT NULL DEFAULT now(),
    last_used_at timestamptz,
    PRIMARY KEY (store_id, id)
);

-- Revoked (deleted), or changed behind the API's back: every replica forgets the store's keys.
CREATE TRIGGER api_keys_credentials_deleted AFTER DELETE ON api_keys
    FOR EACH ROW EXECUTE FUNCTION credentials_notify();
CREATE TRIGGER api_keys_credentials_updated AFTER UPDATE ON api_keys FOR EACH ROW
    WHEN (OLD.scopes IS DISTINCT FROM NEW.scopes OR OLD.secret_hash IS DISTINCT FROM NEW.secret_hash
          OR OLD.prefix IS DISTINCT FROM NEW.prefix)
    EXECUTE FUNCTION credentials_notify();
"""

DOWNGRADE = """
DROP TABLE api_keys;
"""


def upgrade() -> None:
    op.execute(UPGRADE)


def downgrade() -> None:
    op.execute(DOWNGRADE)
