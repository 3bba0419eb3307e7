"""Credential lookups and login throttling, kept in PostgreSQL so every replica sees one count."""

from __future__ import annotations

from typing import Literal, NamedTuple

import asyncpg

from tableorder.settings import Settings

# One round trip: the store and the account (if any).
_FIND_ADMIN = """
SELECT s.id AS store_id, s.code, s.name, a.id AS subject_id, a.password_hash, a.credential_version
  FROM (SELECT 1) AS one
  LEFT JOIN stores s ON s.code = $1
  LEFT JOIN admins a ON a.store_id = s.id AND a.username = $2
"""

_FIND_TABLE = """
SELECT s.id AS store_id, s.code, s.name, t.id AS subject_id, t.number, t.password_hash, t.credential_version
  FROM (SELECT 1) AS one
  LEFT JOIN stores s ON s.code = $1
  LEFT JOIN tables t ON t.store_id = s.id AND t.number = $2
"""


async def find_admin(conn: asyncpg.Pool, store_code: str, username: str) -> asyncpg.Record:
    return await conn.fetchrow(_FIND_ADMIN, store_code, username)


async def find_table(conn: asyncpg.Pool, store_code: str, number: int) -> asyncpg.Record:
    return await conn.fetchrow(_FIND_TABLE, store_code, number)


class Attempt(NamedTuple):
    """One login attempt: whose account, and from where (see auth.controller.client_address)."""

    kind: Literal["admin", "table"]
    store_code: str
    account: str  # the username, or the table number
    address: str


class Verdict(NamedTuple):
    retry_after: int | None  # None: check the password; else refuse, and say when to try again
    store_counted: bool  # counted against the store's ceiling (login_succeeded takes it back)
    address_counted: bool  # counted against the address's ceiling (likewise)


async def begin_attempt(conn: asyncpg.Pool, attempt: Attempt, settings: Settings) -> Verdict:
    """Count a login attempt before its password is checked (begin_login_attempt in migration 0004)."""
    row = await conn.fetchrow(
        "SELECT retry_after, store_counted, address_counted"
        " FROM begin_login_attempt($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        *attempt, settings.login_max_failures, settings.login_backoff_seconds,
        float(settings.login_lockout_seconds), float(settings.login_window_seconds),
        settings.login_store_max_failures, settings.login_address_max_failures,
        settings.login_known_address_days * 86_400)
    return Verdict(row["retry_after"], row["store_counted"], row["address_counted"])


async def login_succeeded(conn: asyncpg.Pool, attempt: Attempt, verdict: Verdict) -> None:
    await conn.execute("SELECT login_succeeded($1, $2, $3, $4, $5, $6)", *attempt, verdict.store_counted,
                       verdict.address_counted)


# -- tokens: logout and the admin's own password change ------------------------------------------------

async def revoke_token(conn: asyncpg.Pool, store_id: int, token_id: str, expires_at: float) -> None:
    """Lists a logged-out token until it would have expired anyway (the trigger tells the replicas)."""
    await conn.execute(
        "INSERT INTO revoked_tokens (jti, store_id, expires_at) VALUES ($1::uuid, $2, to_timestamp($3)) "
        "ON CONFLICT (store_id, jti) DO NOTHING", token_id, store_id, expires_at)


async def find_admin_by_id(conn: asyncpg.Pool, store_id: int, admin_id: int) -> asyncpg.Record | None:
    """The admin's password hash, and the store code and username its logins are throttled under."""
    return await conn.fetchrow(
        "SELECT s.code, a.username, a.password_hash FROM admins a JOIN stores s ON s.id = a.store_id"
        " WHERE a.id = $1 AND a.store_id = $2", admin_id, store_id)


async def change_admin_password(conn: asyncpg.Pool, store_id: int, admin_id: int, password_hash: str,
                                kept_token: str | None) -> bool:
    """A new password (the trigger bumps the credential version, ending every earlier token) and
    the one token that survives it: the one that made the change, or none; kept for the version
    this change makes (the expression sees the row before the trigger's bump)."""
    done: str = await conn.execute(
        "UPDATE admins SET password_hash = $3, kept_token = $4::uuid, kept_version = credential_version + 1"
        " WHERE id = $1 AND store_id = $2",
        admin_id, store_id, password_hash, kept_token)
    return done != "UPDATE 0"


# --- what security.py asks per request (its answers are cached per worker) ---------------------

# Whether a verified token still holds: its subject exists in its store, the subject's credentials
# are the ones it was issued under (or, for an admin, it is the token that changed them), and it
# was not logged out. NULL when the subject is gone.
TOKEN_HOLDS = """
SELECT CASE WHEN $1::text = 'admin'
            THEN (SELECT a.credential_version = $4
                         OR (a.kept_token = $5::uuid AND a.kept_version = a.credential_version)
                    FROM admins a WHERE a.id = $2 AND a.store_id = $3)
            ELSE (SELECT t.credential_version = $4 FROM tables t WHERE t.id = $2 AND t.store_id = $3) END
       AND NOT EXISTS (SELECT 1 FROM revoked_tokens r WHERE r.store_id = $3 AND r.jti = $5::uuid)
"""

KEY_FIND = "SELECT id, store_id, scopes FROM api_keys WHERE prefix = $1 AND secret_hash = $2"
KEY_FIND_AND_TOUCH = """
UPDATE api_keys SET last_used_at = now() WHERE prefix = $1 AND secret_hash = $2 RETURNING id, store_id, scopes
"""
KEY_TOUCH = "UPDATE api_keys SET last_used_at = now() WHERE store_id = $1 AND id = $2"
# Whether a key still holds with (at least) the scopes a principal was given: for open streams.
KEY_HOLDS = "SELECT EXISTS (SELECT 1 FROM api_keys WHERE store_id = $1 AND id = $2 AND scopes @> $3::text[])"
