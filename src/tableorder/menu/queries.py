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
MENU = """
SELECT convert_to(json_build_object(
    'store', json_build_object('id', s.id, 'code', s.code, 'name', s.name),
    'categories', coalesce((
        SELECT json_agg(json_build_object(
                   'id', c.id, 'name', c.name, 'sort_order', c.sort_order,
                   'items', coalesce((
                        SELECT json_agg(json_build_object(
                                   'id', i.id, 'name', i.name, 'description', i.description, 'price', i.price,
                                   'image_url', i.image_url, 'sort_order', i.sort_order, 'available', i.available)
                               ORDER BY i.sort_order, i.id)
                          FROM menu_items i WHERE i.category_id = c.id), '[]'))
               ORDER BY c.sort_order, c.id)
          FROM menu_categories c WHERE c.store_id = s.id), '[]'))::text, 'UTF8')
  FROM stores s WHERE s.id = $1
"""


async def menu_document(reads: Reads, store_id: int) -> bytes | None:
    document: bytes | None = await reads.fetchval(store_id, MENU, store_id)
    return document


CATEGORY_COLUMNS = "id, name, sort_order"
ITEM_COLUMNS = "id, category_id, name, description, price, image_url, sort_order, available"


async def list_categories(pool: asyncpg.Pool, store_id: int) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        f"SELECT {CATEGORY_COLUMNS} FROM menu_categories WHERE store_id = $1 ORDER BY sort_order, id", store_id)
    return rows


async def create_category(pool: asyncpg.Pool, store_id: int, name: str, sort_order: int) -> asyncpg.Record:
    """Raises asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 101st category."""
    return await pool.fetchrow(
        f"INSERT INTO menu_categories (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING {CATEGORY_COLUMNS}",
        store_id, name, sort_order)


async def update_category(pool: asyncpg.Pool, store_id: int, category_id: int,
                          changes: Mapping[str, Any]) -> asyncpg.Record | None:
    return await _update(pool, "menu_categories", CATEGORY_COLUMNS, store_id, category_id, changes)


async def delete_category(pool: asyncpg.Pool, store_id: int, category_id: int) -> bool:
    """Raises asyncpg.ForeignKeyViolationError while the category still has items."""
    done: str = await pool.execute("DELETE FROM menu_categories WHERE id = $1 AND store_id = $2",
                                   category_id, store_id)
    return done != "DELETE 0"


async def list_items(pool: asyncpg.Pool, store_id: int, category_id: int | None) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await pool.fetch(
        f"""SELECT {ITEM_COLUMNS} FROM menu_items
             WHERE store_id = $1 AND ($2::bigint IS NULL OR category_id = $2)
             ORDER BY category_id, sort_order, id""",
        store_id, category_id)
    return rows


async def create_item(pool: asyncpg.Pool, store_id: int, fields: Mapping[str, Any]) -> asyncpg.Record:
    """Raises asyncpg.ForeignKeyViolationError when the category is not this store's, and
    asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 501st item."""
    return await pool.fetchrow(
        f"""INSERT INTO menu_items (store_id, category_id, name, description, price, image_url, sort_order, available)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING {ITEM_COLUMNS}""",
        store_id, fields["category_id"], fields["name"], fields["description"], fields["price"],
        fields["image_url"], fields["sort_order"], fields["available"])


async def update_item(pool: asyncpg.Pool, store_id: int, item_id: int,
                      changes: Mapping[str, Any]) -> asyncpg.Record | None:
    return await _update(pool, "menu_items", ITEM_COLUMNS, store_id, item_id, changes)


async def delete_item(pool: asyncpg.Pool, store_id: int, item_id: int) -> bool:
    """Past order lines keep their name and price snapshots; their menu_item_id becomes NULL."""
    done: str = await pool.execute("DELETE FROM menu_items WHERE id = $1 AND store_id = $2", item_id, store_id)
    return done != "DELETE 0"


_UPDATABLE = {
    "menu_categories": {"name", "sort_order"},
    "menu_items": {"category_id", "name", "description", "price", "image_url", "sort_order", "available"},
}


async def _update(pool: asyncpg.Pool, table: str, returning: str, store_id: int, row_id: int,
                  changes: Mapping[str, Any]) -> asyncpg.Record | None:
    """UPDATE of the given columns only. Column names come from the fixed allow-list above, values
    are always parameters."""
    columns = [name for name in changes if name in _UPDATABLE[table]]
    if not columns:
        return await pool.fetchrow(f"SELECT {returning} FROM {table} WHERE id = $1 AND store_id = $2",
                                   row_id, store_id)
    assignments = ", ".join(f"{name} = ${i}" for i, name in enumerate(columns, start=3))
    return await pool.fetchrow(
        f"UPDATE {table} SET {assignments}, updated_at = clock_timestamp() "
        f"WHERE id = $1 AND store_id = $2 RETURNING {returning}",
        row_id, store_id, *(changes[name] for name in columns))
