"""The menu: one query for the tablet's whole menu, plain CRUD for the staff."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from tableorder.db import Reads

# SQLSTATE of the menu_check_size trigger (migration 0005): the store's menu already holds as many
# items (500) or categories (100) as it may; DETAIL: {"limit": n}.
MENU_FULL = "TOCAP"

# The tablet's whole menu (at most 9.6 MB within those bounds), as UTF-8 bytes (bytea), never a str:
# a str holding one emoji takes 4 bytes a character.
MENU = "SELECT menu_json($1)"

async def menu_document(reads: Reads, store_id: int) -> bytes | None:
    document: bytes | None = await reads.fetchval(store_id, MENU, store_id)
    return document


# Documents (text) of migrations/documents.sql: category_json and menu_item_json.
CATEGORY = "category_json(menu_categories)::text"
ITEM = "menu_item_json(menu_items)::text"


async def list_categories(pool: asyncpg.Pool, store_id: int) -> str:
    document: str = await pool.fetchval(
        "SELECT coalesce(json_agg(category_json(c) ORDER BY c.sort_order, c.id), '[]')::text"
        " FROM menu_categories c WHERE c.store_id = $1", store_id)
    return document


async def get_category(pool: asyncpg.Pool, store_id: int, category_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        f"SELECT {CATEGORY} FROM menu_categories WHERE id = $1 AND store_id = $2", category_id, store_id)
    return document


async def create_category(pool: asyncpg.Pool, store_id: int, name: str, sort_order: int) -> str:
    """Raises asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 101st category."""
    document: str = await pool.fetchval(
        f"INSERT INTO menu_categories (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING {CATEGORY}",
        store_id, name, sort_order)
    return document


async def update_category(pool: asyncpg.Pool, store_id: int, category_id: int,
                          changes: Mapping[str, Any]) -> str | None:
    return await _update(pool, "menu_categories", CATEGORY, store_id, category_id, changes)


async def delete_category(pool: asyncpg.Pool, store_id: int, category_id: int) -> bool:
    """Raises asyncpg.ForeignKeyViolationError while the category still has items."""
    done: str = await pool.execute("DELETE FROM menu_categories WHERE id = $1 AND store_id = $2",
                                   category_id, store_id)
    return done != "DELETE 0"


async def list_items(pool: asyncpg.Pool, store_id: int, category_id: int | None) -> str:
    document: str = await pool.fetchval(
        """SELECT coalesce(json_agg(menu_item_json(i) ORDER BY i.category_id, i.sort_order, i.id), '[]')::text
             FROM menu_items i WHERE i.store_id = $1 AND ($2::bigint IS NULL OR i.category_id = $2)""",
        store_id, category_id)
    return document


async def get_item(pool: asyncpg.Pool, store_id: int, item_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        f"SELECT {ITEM} FROM menu_items WHERE id = $1 AND store_id = $2", item_id, store_id)
    return document


async def create_item(pool: asyncpg.Pool, store_id: int, fields: Mapping[str, Any]) -> str:
    """Raises asyncpg.ForeignKeyViolationError when the category is not this store's, and
    asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 501st item."""
    document: str = await pool.fetchval(
        f"""INSERT INTO menu_items (store_id, category_id, name, description, price, image_url, sort_order, available)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ITEM}""",
        store_id, fields["category_id"], fields["name"], fields["description"], fields["price"],
        fields["image_url"], fields["sort_order"], fields["available"])
    return document


async def update_item(pool: asyncpg.Pool, store_id: int, item_id: int, changes: Mapping[str, Any]) -> str | None:
    return await _update(pool, "menu_items", ITEM, store_id, item_id, changes)


async def delete_item(pool: asyncpg.Pool, store_id: int, item_id: int) -> bool:
    """Past order lines keep their name and price snapshots; their menu_item_id becomes NULL."""
    done: str = await pool.execute("DELETE FROM menu_items WHERE id = $1 AND store_id = $2", item_id, store_id)
    return done != "DELETE 0"


_UPDATABLE = {
    "menu_categories": {"name", "sort_order"},
    "menu_items": {"category_id", "name", "description", "price", "image_url", "sort_order", "available"},
}


async def _update(pool: asyncpg.Pool, table: str, returning: str, store_id: int, row_id: int,
                  changes: Mapping[str, Any]) -> str | None:
    """UPDATE of the given columns only. Column names come from the fixed allow-list above, values
    are always parameters."""
    columns = [name for name in changes if name in _UPDATABLE[table]]
    if not columns:
        unchanged: str | None = await pool.fetchval(
            f"SELECT {returning} FROM {table} WHERE id = $1 AND store_id = $2", row_id, store_id)
        return unchanged
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    updated: str | None = await pool.fetchval(
        f"UPDATE {table} SET {assignments}, updated_at = clock_timestamp() "
        f"WHERE id = $1 AND store_id = $2 RETURNING {returning}",
        row_id, store_id, *(changes[name] for name in columns))
    return updated
