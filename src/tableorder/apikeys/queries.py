"""API keys of a store. Every statement is scoped by store_id. (Checking a presented key is part of
authentication: tableorder.security.Credentials.)"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from tableorder.documents import ApiKey

# A store's keys are few (one per integration); the ceiling keeps a runaway script from making
# millions. Counted in the same statement as the insert: two racing creations may pass it together,
# which is harmless.
MAX_KEYS_PER_STORE = 100

_COLUMNS = "id, name, scopes, prefix, created_at, last_used_at"

CREATE_KEY = f"""
INSERT INTO api_keys (store_id, name, scopes, prefix, secret_hash)
SELECT $1, $2, $3::text[], $4, $5
 WHERE (SELECT count(*) FROM api_keys WHERE store_id = $1) < $6
RETURNING {_COLUMNS}
"""


def _key(row: asyncpg.Record) -> ApiKey:
    return ApiKey(**dict(row))


async def create_key(pool: asyncpg.Pool, store_id: int, name: str, scopes: Sequence[str], prefix: str,
                     secret_hash: bytes) -> ApiKey | None:
    """The new key; None when the store already has MAX_KEYS_PER_STORE keys. Raises
    asyncpg.UniqueViolationError when the (random) prefix is taken."""
    row = await pool.fetchrow(CREATE_KEY, store_id, name, list(scopes), prefix, secret_hash, MAX_KEYS_PER_STORE)
    return None if row is None else _key(row)


async def list_keys(pool: asyncpg.Pool, store_id: int) -> list[ApiKey]:
    rows = await pool.fetch(f"SELECT {_COLUMNS} FROM api_keys WHERE store_id = $1 ORDER BY id", store_id)
    return [_key(row) for row in rows]


async def get_key(pool: asyncpg.Pool, store_id: int, key_id: int) -> ApiKey | None:
    row = await pool.fetchrow(f"SELECT {_COLUMNS} FROM api_keys WHERE store_id = $1 AND id = $2", store_id, key_id)
    return None if row is None else _key(row)


async def delete_key(pool: asyncpg.Pool, store_id: int, key_id: int) -> bool:
    """Revokes the key (its row goes; the trigger tells every replica). False when there is no such key."""
    deleted: Any = await pool.fetchval(
        "DELETE FROM api_keys WHERE store_id = $1 AND id = $2 RETURNING true", store_id, key_id)
    return bool(deleted)
