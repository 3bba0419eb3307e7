"""Provisioning: stores, their staff accounts and tables (used by the CLI, the demo and tests)."""

from __future__ import annotations

import asyncpg


async def create_store(conn: asyncpg.Connection | asyncpg.Pool, code: str, name: str) -> int:
    store_id: int = await conn.fetchval("INSERT INTO stores (code, name) VALUES ($1, $2) RETURNING id", code, name)
    return store_id


async def store_id_by_code(conn: asyncpg.Connection | asyncpg.Pool, code: str) -> int | None:
    store_id: int | None = await conn.fetchval("SELECT id FROM stores WHERE code = $1", code)
    return store_id


async def create_admin(conn: asyncpg.Connection | asyncpg.Pool, store_id: int, username: str,
                       password_hash: str) -> int:
    admin_id: int = await conn.fetchval(
        "INSERT INTO admins (store_id, username, password_hash) VALUES ($1, $2, $3) RETURNING id",
        store_id, username, password_hash)
    return admin_id


async def set_admin_password(conn: asyncpg.Connection | asyncpg.Pool, store_id: int, username: str,
                             password_hash: str) -> bool:
    """A new password ends every token of the admin (the trigger bumps its credential version)."""
    done: str = await conn.execute(
        "UPDATE admins SET password_hash = $3, kept_token = NULL WHERE store_id = $1 AND username = $2",
        store_id, username, password_hash)
    return done != "UPDATE 0"


async def create_tables(conn: asyncpg.Connection | asyncpg.Pool, store_id: int, numbers: list[int],
                        password_hash: str) -> list[int]:
    """Raises asyncpg.UniqueViolationError when a number is taken."""
    ids: list[int] = [row["id"] for row in await conn.fetch(
        "INSERT INTO tables (store_id, number, password_hash) SELECT $1, n, $3 FROM unnest($2::int[]) AS n"
        " RETURNING id", store_id, numbers, password_hash)]
    return ids


async def create_category(conn: asyncpg.Connection, store_id: int, name: str, sort_order: int) -> int:
    category_id: int = await conn.fetchval(
        "INSERT INTO menu_categories (store_id, name, sort_order) VALUES ($1, $2, $3) RETURNING id",
        store_id, name, sort_order)
    return category_id


async def create_items(conn: asyncpg.Connection, store_id: int, category_id: int,
                       items: list[tuple[str, str, int]]) -> None:
    """(name, description, price) items in this order."""
    await conn.executemany(
        "INSERT INTO menu_items (store_id, category_id, name, description, price, sort_order)"
        " VALUES ($1, $2, $3, $4, $5, $6)",
        [(store_id, category_id, name, description, price, i) for i, (name, description, price) in enumerate(items)])


# --- the store's settings (GET and PATCH /admin/store) -------------------------------------------------


async def store_settings(pool: asyncpg.Pool, store_id: int) -> str | None:
    document: str | None = await pool.fetchval(
        "SELECT store_settings_json(s)::text FROM stores s WHERE s.id = $1", store_id)
    return document


async def set_languages(pool: asyncpg.Pool, store_id: int, languages: list[str]) -> str | None:
    """The menu's languages, the first its working language. Recorded as `menu.updated` (entity `store`)
    in the same transaction: every replica drops the store's cached menus, and tablets reload theirs."""
    async with pool.acquire() as conn, conn.transaction():
        document: str | None = await conn.fetchval(
            "UPDATE stores s SET languages = $2 WHERE s.id = $1 RETURNING store_settings_json(s)::text",
            store_id, languages)
        if document is not None:
            await conn.execute(
                "SELECT record_event($1, 'menu.updated', NULL, menu_updated_json('stores', $1, 'UPDATE'))", store_id)
    return document


# --- the demo's languages and options -------------------------------------------------------------------


async def set_store_languages(conn: asyncpg.Connection, store_id: int, languages: list[str]) -> None:
    await conn.execute("UPDATE stores SET languages = $2 WHERE id = $1", store_id, languages)


async def translate_menu(conn: asyncpg.Connection, store_id: int, categories: dict[str, str],
                         items: dict[str, str]) -> None:
    """Translations (JSON text) by the working-language name of each category and item."""
    await conn.executemany("UPDATE menu_categories SET translations = $3::jsonb WHERE store_id = $1 AND name = $2",
                           [(store_id, name, translations) for name, translations in categories.items()])
    await conn.executemany("UPDATE menu_items SET translations = $3::jsonb WHERE store_id = $1 AND name = $2",
                           [(store_id, name, translations) for name, translations in items.items()])


async def create_option_group(conn: asyncpg.Connection, store_id: int, item_name: str, name: str, low: int,
                              high: int, sort_order: int, translations: str,
                              options: list[tuple[str, int, str]]) -> None:
    """A group (min `low`, max `high`) of the item named `item_name`, with (name, price_delta, translations)
    options in this order."""
    group_id: int = await conn.fetchval(
        """INSERT INTO option_groups (store_id, menu_item_id, name, min_select, max_select, sort_order, translations)
           SELECT $1, i.id, $3, $4, $5, $6, $7::jsonb FROM menu_items i WHERE i.store_id = $1 AND i.name = $2
           RETURNING id""", store_id, item_name, name, low, high, sort_order, translations)
    await conn.executemany(
        "INSERT INTO options (store_id, group_id, name, price_delta, sort_order, translations)"
        " VALUES ($1, $2, $3, $4, $5, $6::jsonb)",
        [(store_id, group_id, option, delta, i, text) for i, (option, delta, text) in enumerate(options)])
