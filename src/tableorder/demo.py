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
        await seed_languages_and_options(conn, store_id)
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


# The demo menu in its other languages (the store keeps ko, en, ja, zh; ko is its working language):
# (category or item name) -> {language: (name, description)}.
DEMO_LANGUAGES = ["ko", "en", "ja", "zh"]
DEMO_CATEGORY_NAMES: dict[str, dict[str, str]] = {
    "식사": {"en": "Meals", "ja": "食事", "zh": "主食"},
    "구이": {"en": "Grill", "ja": "焼肉", "zh": "烤肉"},
    "사이드": {"en": "Sides", "ja": "サイド", "zh": "小菜"},
    "음료": {"en": "Drinks", "ja": "ドリンク", "zh": "饮料"},
    "주류": {"en": "Alcohol", "ja": "お酒", "zh": "酒类"},
}
DEMO_ITEM_TEXTS: dict[str, dict[str, tuple[str, str]]] = {
    "김치찌개": {"en": ("Kimchi stew", "Stew of aged kimchi and pork, with a bowl of rice"),
                "ja": ("キムチチゲ", "熟成キムチと豚肉のチゲ、ご飯付き"),
                "zh": ("泡菜汤", "陈年泡菜猪肉汤，配米饭")},
    "된장찌개": {"en": ("Soybean paste stew", "Hearty doenjang stew with tofu and zucchini"),
                "ja": ("テンジャンチゲ", "豆腐とズッキーニの味噌チゲ"),
                "zh": ("大酱汤", "豆腐西葫芦大酱汤")},
    "제육볶음": {"en": ("Spicy stir-fried pork", "Spicy pork stir-fry with lettuce wraps"),
                "ja": ("豚肉の甘辛炒め", "ピリ辛の豚肉炒め、包み野菜付き"),
                "zh": ("辣炒猪肉", "香辣炒猪肉配生菜")},
    "비빔밥": {"en": ("Bibimbap", "Seasonal vegetables, gochujang and a fried egg"),
              "ja": ("ビビンバ", "旬のナムル、コチュジャン、目玉焼き"),
              "zh": ("拌饭", "时令蔬菜、辣椒酱和煎蛋")},
    "삼겹살 (200g)": {"en": ("Pork belly (200 g)", "Fresh Korean pork belly"),
                    "ja": ("サムギョプサル (200g)", "国産の生サムギョプサル"),
                    "zh": ("五花肉 (200克)", "韩国产新鲜五花肉")},
    "목살 (200g)": {"en": ("Pork neck (200 g)", "Fresh Korean pork neck"),
                  "ja": ("豚肩ロース (200g)", "国産の生豚肩ロース"),
                  "zh": ("猪颈肉 (200克)", "韩国产新鲜猪颈肉")},
    "LA갈비": {"en": ("LA galbi", "Sweet marinated beef short ribs"),
             "ja": ("LAカルビ", "甘いタレの牛カルビ"),
             "zh": ("LA牛排骨", "甜味腌制牛排骨")},
    "계란찜": {"en": ("Steamed egg", "Fluffy steamed egg in a stone pot"),
              "ja": ("ケランチム", "土鍋のふわふわ茶碗蒸し"),
              "zh": ("鸡蛋羹", "砂锅蒸蛋")},
    "해물파전": {"en": ("Seafood pancake", "Scallion pancake with squid and shrimp"),
                "ja": ("海鮮チヂミ", "イカとエビのネギチヂミ"),
                "zh": ("海鲜葱饼", "鱿鱼虾仁葱饼")},
    "공기밥": {"en": ("Bowl of rice", ""), "ja": ("ご飯", ""), "zh": ("米饭", "")},
    "콜라": {"en": ("Cola", "355 ml"), "ja": ("コーラ", "355ml"), "zh": ("可乐", "355毫升")},
    "사이다": {"en": ("Lemon-lime soda", "355 ml"), "ja": ("サイダー", "355ml"), "zh": ("雪碧", "355毫升")},
    "식혜": {"en": ("Sikhye", "Homemade sweet rice drink"), "ja": ("シッケ", "自家製の甘酒"),
            "zh": ("甜米露", "自制甜米露")},
    "소주": {"en": ("Soju", "360 ml"), "ja": ("焼酎", "360ml"), "zh": ("烧酒", "360毫升")},
    "맥주": {"en": ("Beer", "500 ml"), "ja": ("ビール", "500ml"), "zh": ("啤酒", "500毫升")},
    "막걸리": {"en": ("Makgeolli", "750 ml"), "ja": ("マッコリ", "750ml"), "zh": ("米酒", "750毫升")},
}

# Option groups: (item, group, min, max, the group's names, [(option, price_delta, its names)]).
SPICINESS = ({"en": "Spiciness", "ja": "辛さ", "zh": "辣度"},
             [("순한맛", 0, {"en": "Mild", "ja": "マイルド", "zh": "微辣"}),
              ("보통", 0, {"en": "Medium", "ja": "普通", "zh": "中辣"}),
              ("매운맛", 0, {"en": "Hot", "ja": "辛口", "zh": "特辣"})])
DEMO_OPTION_GROUPS: list[tuple[str, str, int, int, dict[str, str], list[tuple[str, int, dict[str, str]]]]] = [
    ("김치찌개", "맵기", 1, 1, *SPICINESS),
    ("김치찌개", "토핑", 0, 3, {"en": "Toppings", "ja": "トッピング", "zh": "加料"},
     [("치즈", 1000, {"en": "Cheese", "ja": "チーズ", "zh": "芝士"}),
      ("계란", 1000, {"en": "Egg", "ja": "卵", "zh": "鸡蛋"}),
      ("라면사리", 1000, {"en": "Ramen noodles", "ja": "ラーメン", "zh": "拉面"})]),
    ("제육볶음", "맵기", 1, 1, *SPICINESS),
    ("비빔밥", "그릇", 1, 1, {"en": "Bowl", "ja": "器", "zh": "碗"},
     [("일반", 0, {"en": "Regular", "ja": "普通", "zh": "普通碗"}),
      ("돌솥", 2000, {"en": "Hot stone pot", "ja": "石焼き", "zh": "石锅"})]),
]


def _names(names: dict[str, str]) -> str:
    return msgspec.json.encode({lang: {"name": name} for lang, name in names.items()}).decode()


async def seed_languages_and_options(conn: asyncpg.Connection, store_id: int) -> None:
    await stores.set_store_languages(conn, store_id, DEMO_LANGUAGES)
    items = {name: msgspec.json.encode({lang: {"name": text, "description": description} if description
                                         else {"name": text} for lang, (text, description) in texts.items()}).decode()
             for name, texts in DEMO_ITEM_TEXTS.items()}
    await stores.translate_menu(conn, store_id, {name: _names(names) for name, names in DEMO_CATEGORY_NAMES.items()},
                                items)
    for position, (item, group, low, high, group_names, options) in enumerate(DEMO_OPTION_GROUPS):
        await stores.create_option_group(conn, store_id, item, group, low, high, position, _names(group_names),
                                         [(name, delta, _names(names)) for name, delta, names in options])
