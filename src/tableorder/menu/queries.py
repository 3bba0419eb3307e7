"""The menu: one query for the tablet's whole menu, plain CRUD for the staff."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import msgspec

from tableorder.db import Reads

# SQLSTATE of the menu_check_size trigger (migration 0005): the store's menu already holds as many
# items (500) or categories (100) as it may; DETAIL: {"limit": n}.
MENU_FULL = "TOCAP"

# The tablet's whole menu (at most 9.6 MB within those bounds), as UTF-8 bytes (bytea), never a str:
# a str holding one emoji takes 4 bytes a character.
MENU = "SELECT menu_json($1, $2)"


async def menu_document(reads: Reads, store_id: int, languages: Sequence[str] = ()) -> bytes | None:
    """The menu in the first of `languages` the store keeps, else in its working language."""
    document: bytes | None = await reads.fetchval(store_id, MENU, store_id, list(languages))
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


async def create_category(pool: asyncpg.Pool, store_id: int, fields: Mapping[str, Any]) -> str:
    """Raises asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 101st category, and
    asyncpg.ForeignKeyViolationError when the station is not this store's."""
    document: str = await pool.fetchval(
        f"""INSERT INTO menu_categories (store_id, name, sort_order, station_id, translations)
            VALUES ($1, $2, $3, $4, $5::jsonb) RETURNING {CATEGORY}""",
        store_id, fields["name"], fields["sort_order"], fields["station_id"], _json(fields["translations"]))
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
    """Raises asyncpg.ForeignKeyViolationError when the category or the station is not this store's, and
    asyncpg.PostgresError with SQLSTATE MENU_FULL at the store's 501st item."""
    document: str = await pool.fetchval(
        f"""INSERT INTO menu_items (store_id, category_id, name, description, price, image_url, sort_order, available,
                                    station_id, translations)
            VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb) RETURNING {ITEM}""",
        store_id, fields["category_id"], fields["name"], fields["description"], fields["price"],
        fields["image_url"], fields["sort_order"], fields["available"], fields["station_id"],
        _json(fields["translations"]))
    return document


async def update_item(pool: asyncpg.Pool, store_id: int, item_id: int, changes: Mapping[str, Any]) -> str | None:
    return await _update(pool, "menu_items", ITEM, store_id, item_id, changes)


async def delete_item(pool: asyncpg.Pool, store_id: int, item_id: int) -> bool:
    """Past order lines keep their name and price snapshots; their menu_item_id becomes NULL."""
    done: str = await pool.execute("DELETE FROM menu_items WHERE id = $1 AND store_id = $2", item_id, store_id)
    return done != "DELETE 0"


# --- option groups and options -------------------------------------------------------------------------

GROUP = "option_group_json(option_groups)::text"
OPTION = "option_json(options)::text"


async def create_option_group(pool: asyncpg.Pool, store_id: int, item_id: int, fields: Mapping[str, Any]) -> str | None:
    """None when the store has no such item. Raises asyncpg.PostgresError with SQLSTATE MENU_FULL when the
    item (or the store) holds as many groups as it may."""
    document: str | None = await pool.fetchval(
        f"""INSERT INTO option_groups (store_id, menu_item_id, name, min_select, max_select, sort_order, translations)
            SELECT i.store_id, i.id, $3, $4, $5, $6, $7::jsonb FROM menu_items i WHERE i.id = $1 AND i.store_id = $2
            RETURNING {GROUP}""",
        item_id, store_id, fields["name"], fields["min"], fields["max"], fields["sort_order"],
        _json(fields["translations"]))
    return document


async def get_option_group(pool: asyncpg.Pool, store_id: int, group_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        f"SELECT {GROUP} FROM option_groups WHERE id = $1 AND store_id = $2", group_id, store_id)
    return document


async def get_option(pool: asyncpg.Pool, store_id: int, option_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        f"SELECT {OPTION} FROM options WHERE id = $1 AND store_id = $2", option_id, store_id)
    return document


async def update_option_group(pool: asyncpg.Pool, store_id: int, group_id: int,
                              changes: Mapping[str, Any]) -> str | None:
    """Raises asyncpg.CheckViolationError when min would exceed max."""
    return await _update(pool, "option_groups", GROUP, store_id, group_id, changes)


async def delete_option_group(pool: asyncpg.Pool, store_id: int, group_id: int) -> bool:
    """Its options go with it; past order lines keep their snapshots."""
    done: str = await pool.execute("DELETE FROM option_groups WHERE id = $1 AND store_id = $2", group_id, store_id)
    return done != "DELETE 0"


async def create_option(pool: asyncpg.Pool, store_id: int, group_id: int, fields: Mapping[str, Any]) -> str | None:
    """None when the store has no such group. Raises asyncpg.PostgresError with SQLSTATE MENU_FULL when the
    group (or the store) holds as many options as it may."""
    document: str | None = await pool.fetchval(
        f"""INSERT INTO options (store_id, group_id, name, price_delta, available, sort_order, translations)
            SELECT g.store_id, g.id, $3, $4, $5, $6, $7::jsonb FROM option_groups g WHERE g.id = $1 AND g.store_id = $2
            RETURNING {OPTION}""",
        group_id, store_id, fields["name"], fields["price_delta"], fields["available"], fields["sort_order"],
        _json(fields["translations"]))
    return document


async def update_option(pool: asyncpg.Pool, store_id: int, option_id: int, changes: Mapping[str, Any]) -> str | None:
    return await _update(pool, "options", OPTION, store_id, option_id, changes)


async def delete_option(pool: asyncpg.Pool, store_id: int, option_id: int) -> bool:
    done: str = await pool.execute("DELETE FROM options WHERE id = $1 AND store_id = $2", option_id, store_id)
    return done != "DELETE 0"


# --- updates ----------------------------------------------------------------------------------------------

# The fields a PATCH may change, each with its column (the API says min/max, the table min_select/max_select).
_UPDATABLE: dict[str, dict[str, str]] = {
    "menu_categories": {name: name for name in ("name", "sort_order", "station_id", "translations")},
    "menu_items": {name: name for name in ("category_id", "name", "description", "price", "image_url", "sort_order",
                                           "available", "sold_out_until", "station_id", "translations")},
    "option_groups": {"name": "name", "min": "min_select", "max": "max_select", "sort_order": "sort_order",
                      "translations": "translations"},
    "options": {name: name for name in ("name", "price_delta", "available", "sort_order", "translations")},
}
_JSONB = {"translations"}


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()


async def _update(pool: asyncpg.Pool, table: str, returning: str, store_id: int, row_id: int,
                  changes: Mapping[str, Any]) -> str | None:
    """UPDATE of the given columns only. Column names come from the fixed allow-list above, values
    are always parameters."""
    fields = [name for name in changes if name in _UPDATABLE[table]]
    if not fields:
        unchanged: str | None = await pool.fetchval(
            f"SELECT {returning} FROM {table} WHERE id = $1 AND store_id = $2", row_id, store_id)
        return unchanged
    assignments = ", ".join(f"{_UPDATABLE[table][name]} = ${i}{'::jsonb' if name in _JSONB else ''}"
                            for i, name in enumerate(fields, start=3))
    updated: str | None = await pool.fetchval(
        f"UPDATE {table} SET {assignments}, updated_at = clock_timestamp() "
        f"WHERE id = $1 AND store_id = $2 RETURNING {returning}",
        row_id, store_id, *(_json(changes[name]) if name in _JSONB else changes[name] for name in fields))
    return updated
