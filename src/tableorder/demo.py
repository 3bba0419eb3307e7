"""The demo store: a small Korean restaurant with 12 tables (development only)."""

from __future__ import annotations

import asyncpg
import msgspec

from tableorder.documents import Station
from tableorder.security import hash_password_sync
from tableorder.stations import queries as stations
from tableorder.stores import queries as stores

DEMO_STORE = "demo"
DEMO_ADMIN = ("admin", "demo-admin-1234")
DEMO_TABLE_PASSWORD = "1234"
DEMO_TABLES = range(1, 13)

DEMO_MENU: list[tuple[str, list[tuple[str, str, int]]]] = [
    ("식사", [
        ("김치찌개", "돼지고기와 묵은지로 끓인 찌개, 공기밥 포함", 9000),
        ("된장찌개", "두부와 애호박을 넣은 구수한 된장찌개", 8500),
        ("제육볶음", "매콤한 돼지고기 볶음과 쌈채소", 11000),
        ("비빔밥", "제철 나물과 고추장, 계란 프라이", 9500),
    ]),
    ("구이", [
        ("삼겹살 (200g)", "국내산 생삼겹살", 16000),
        ("목살 (200g)", "국내산 생목살", 16000),
        ("LA갈비", "달콤한 양념의 소갈비", 24000),
    ]),
    ("사이드", [
        ("계란찜", "뚝배기에 부풀린 계란찜", 5000),
        ("해물파전", "오징어와 새우를 넣은 파전", 15000),
        ("공기밥", "", 1000),
    ]),
    ("음료", [
        ("콜라", "355ml", 2000),
        ("사이다", "355ml", 2000),
        ("식혜", "직접 담근 식혜", 3000),
    ]),
    ("주류", [
        ("소주", "360ml", 5000),
        ("맥주", "500ml", 5000),
        ("막걸리", "750ml", 6000),
    ]),
]


async def seed_demo(conn: asyncpg.Connection) -> bool:
    """Creates the demo store once; returns False when it already existed."""
    async with conn.transaction():
        if await stores.store_id_by_code(conn, DEMO_STORE) is not None:
            return False
        store_id = await stores.create_store(conn, DEMO_STORE, "데모 식당")
        await stores.create_admin(conn, store_id, DEMO_ADMIN[0], hash_password_sync(DEMO_ADMIN[1]))
        table_hash = hash_password_sync(DEMO_TABLE_PASSWORD)
        await stores.create_tables(conn, store_id, list(DEMO_TABLES), table_hash)
        for position, (category, items) in enumerate(DEMO_MENU):
            category_id = await stores.create_category(conn, store_id, category, position)
            await stores.create_items(conn, store_id, category_id, items)
        await seed_stations(conn, store_id)
    return True


# Kitchen stations: drinks go to the bar, everything else to the kitchen.
DEMO_STATIONS = ("주방", "바")
DEMO_BAR_CATEGORIES = ("음료", "주류")


async def seed_stations(conn: asyncpg.Connection, store_id: int) -> None:
    station_ids = {}
    for position, name in enumerate(DEMO_STATIONS):
        document = await stations.create_station(conn, store_id, name, position)
        assert document is not None  # a new store has none yet
        station_ids[name] = msgspec.json.decode(document, type=Station).id
    for category, _ in DEMO_MENU:
        station = "바" if category in DEMO_BAR_CATEGORIES else "주방"
        await stations.route_categories(conn, store_id, station_ids[station], [category])


def credentials_text() -> str:
    return (
        f"Demo store '{DEMO_STORE}'\n"
        f"  admin:  store_code={DEMO_STORE} username={DEMO_ADMIN[0]} password={DEMO_ADMIN[1]}\n"
        f"  tables: store_code={DEMO_STORE} table_number=1..{DEMO_TABLES[-1]} password={DEMO_TABLE_PASSWORD}\n"
    )
