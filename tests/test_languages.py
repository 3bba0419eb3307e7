"""Languages (issue 12, SPEC section 10): a store keeps its menu in some of ko, en, ja, zh (the first its
working language, set by PATCH /admin/store); categories, items, option groups and options take
translations; GET /menu serves the language `lang` or Accept-Language asks for, with fallback to the
working language, an ETag per language and `Vary: Accept-Language`; orders keep working-language names.
Real HTTP, real PostgreSQL."""

from __future__ import annotations

import asyncio
import json
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import httpx
import pytest

from tableorder import db
from tableorder.demo import seed_demo
from tests.conftest import ServerProcess
from tests.helpers import Store, Stores

PROBLEM_JSON = "application/problem+json"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    body: dict[str, Any] = response.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


async def speak(client: httpx.AsyncClient, store: Store, languages: list[str]) -> dict[str, Any]:
    response = await client.patch("/admin/store", headers=store.admin, json={"languages": languages})
    assert response.status_code == 200, response.text
    settings: dict[str, Any] = response.json()
    return settings


async def translated_store(client: httpx.AsyncClient, stores: Stores) -> tuple[Store, dict[str, int]]:
    """A store keeping ko, en, ja: its category, first item, a group and an option translated (the item's
    description only into en; nothing into ja but the category)."""
    store = await stores.create(items=2)
    await speak(client, store, ["ko", "en", "ja"])
    item = store.item_ids()[0]
    await client.patch(f"/admin/categories/{store.category_id}", headers=store.admin, json={
        "name": "식사", "translations": {"en": {"name": "Meals"}, "ja": {"name": "食事"}}})
    await client.patch(f"/admin/menu-items/{item}", headers=store.admin, json={
        "name": "김치찌개", "description": "묵은지 찌개",
        "translations": {"en": {"name": "Kimchi stew", "description": "Aged kimchi stew"}}})
    group = (await client.post(f"/admin/menu-items/{item}/option-groups", headers=store.admin, json={
        "name": "맵기", "min": 1, "max": 1, "translations": {"en": {"name": "Spiciness"}}})).json()
    hot = (await client.post(f"/admin/option-groups/{group['id']}/options", headers=store.admin, json={
        "name": "매운맛", "price_delta": 500, "translations": {"en": {"name": "Hot"}, "zh": {"name": "特辣"}}})).json()
    return store, {"item": item, "group": group["id"], "hot": hot["id"]}


async def menu(client: httpx.AsyncClient, store: Store, query: str = "", **headers: str) -> httpx.Response:
    response = await client.get(f"/menu{query}", headers={**store.tables[1].headers, **headers})
    assert response.status_code == 200, response.text
    return response


def names(document: dict[str, Any]) -> tuple[str, str, str, str, str]:
    """(category, item, item description, group, option) names of the first item."""
    category = document["categories"][0]
    entry = category["items"][0]
    group = entry["option_groups"][0]
    return category["name"], entry["name"], entry["description"], group["name"], group["options"][0]["name"]


# --- the store's languages --------------------------------------------------------------------------------


async def test_a_store_starts_in_korean_and_staff_set_its_languages(client: httpx.AsyncClient,
                                                                    stores: Stores) -> None:
    store = await stores.create(items=1)
    settings = (await client.get("/admin/store", headers=store.admin)).json()
    assert {k: v for k, v in settings.items() if k != "business_day_ends_at"} == {
        "id": store.id, "code": store.code, "name": f"Store {store.code}", "timezone": "Asia/Seoul",
        "languages": ["ko"]}
    # The business day ends at the next midnight in the store's time zone.
    ends = datetime.fromisoformat(settings["business_day_ends_at"]).astimezone(ZoneInfo("Asia/Seoul"))
    now = datetime.now(ZoneInfo("Asia/Seoul"))
    assert (ends.hour, ends.minute, ends.second) == (0, 0, 0) and now < ends <= now + timedelta(days=1)

    assert (await speak(client, store, ["en", "ko", "zh"]))["languages"] == ["en", "ko", "zh"]
    assert (await client.get("/admin/store", headers=store.admin)).json()["languages"] == ["en", "ko", "zh"]
    assert (await client.patch("/admin/store", headers=store.admin, json={})).json()["languages"] == ["en", "ko", "zh"]
    for bad in ([], ["ko", "ko"], ["fr"], ["ko", "en", "ja", "zh", "en"], "ko", [None]):
        problem = assert_problem(await client.patch("/admin/store", headers=store.admin, json={"languages": bad}),
                                 422)
        assert problem["errors"], problem
    assert (await client.get("/admin/store", headers=store.admin)).json()["languages"] == ["en", "ko", "zh"]
    # A table's token is not staff's.
    assert_problem(await client.get("/admin/store", headers=store.tables[1].headers), 403)


async def test_changing_the_languages_tells_tablets_with_menu_updated(client: httpx.AsyncClient, stores: Stores,
                                                                      pool: asyncpg.Pool) -> None:
    store = await stores.create(items=1)
    before = await pool.fetchval("SELECT coalesce(max(position), 0) FROM events WHERE store_id = $1", store.id)
    await speak(client, store, ["ko", "ja"])
    events = await pool.fetch("SELECT type, table_id, payload::text AS payload FROM events"
                              " WHERE store_id = $1 AND position > $2", store.id, before)
    assert [(e["type"], e["table_id"], json.loads(e["payload"])) for e in events] == [
        ("menu.updated", None, {"entity": "store", "id": store.id, "op": "update"})]


# --- translations ---------------------------------------------------------------------------------------


async def test_the_menu_is_served_in_the_language_asked_with_fallback(client: httpx.AsyncClient,
                                                                      stores: Stores) -> None:
    store, _ = await translated_store(client, stores)
    korean = (await menu(client, store)).json()
    assert korean["language"] == "ko" and korean["store"]["languages"] == ["ko", "en", "ja"]
    assert names(korean) == ("식사", "김치찌개", "묵은지 찌개", "맵기", "매운맛")
    english = (await menu(client, store, "?lang=en")).json()
    assert english["language"] == "en"
    assert names(english) == ("Meals", "Kimchi stew", "Aged kimchi stew", "Spiciness", "Hot")
    # Japanese: only the category is translated; the rest shows in the working language.
    japanese = (await menu(client, store, "?lang=ja")).json()
    assert japanese["language"] == "ja"
    assert names(japanese) == ("食事", "김치찌개", "묵은지 찌개", "맵기", "매운맛")
    # An untranslated item keeps its own name; prices and ids are the same in every language.
    assert japanese["categories"][0]["items"][1]["name"] == korean["categories"][0]["items"][1]["name"] == "Dish 2"
    strip = [[(e["id"], e["price"]) for e in c["items"]] for c in korean["categories"]]
    assert strip == [[(e["id"], e["price"]) for e in c["items"]] for c in english["categories"]]
    # zh is translated on the option but not kept by the store: the working language.
    chinese = (await menu(client, store, "?lang=zh")).json()
    assert chinese["language"] == "ko" and names(chinese) == names(korean)


@pytest.mark.parametrize(("query", "accept_language", "expected"), [
    ("", "en-US,en;q=0.9,ko;q=0.8", "en"),
    ("", "zh-CN,zh;q=0.9,ja;q=0.5", "ja"),  # zh is not kept: the next preference
    ("", "fr, en;q=0.5, ko;q=0.8", "ko"),  # by q-value, not by position
    ("", "ja;q=0, en;q=0.1", "en"),  # q=0: not acceptable
    ("", "JA-jp", "ja"),
    ("", "*", "ko"),
    ("", "de", "ko"),
    ("", "en;q=abc, ja", "ja"),  # a malformed weight is skipped
    ("?lang=ja", "en-US,en", "ja"),  # lang wins over the header
    ("?lang=fr", "en", "en"),  # an unsupported lang falls through to the header
    ("?lang=xx-YY&other=1", "", "ko"),
])
async def test_accept_language_picks_the_first_kept_language(client: httpx.AsyncClient, stores: Stores,
                                                             query: str, accept_language: str,
                                                             expected: str) -> None:
    store = await stores.create(items=1)
    await speak(client, store, ["ko", "en", "ja"])
    response = await menu(client, store, query, **({"Accept-Language": accept_language} if accept_language else {}))
    assert response.json()["language"] == expected


async def test_the_etag_differs_per_language_and_varies_on_accept_language(client: httpx.AsyncClient,
                                                                           stores: Stores) -> None:
    store, _ = await translated_store(client, stores)
    korean, english = await menu(client, store), await menu(client, store, "?lang=en")
    by_header = await menu(client, store, **{"Accept-Language": "en-GB"})
    assert korean.headers["etag"] != english.headers["etag"] == by_header.headers["etag"]
    for response in (korean, english):
        assert response.headers["vary"] == "Accept-Language"
    tablet = store.tables[1].headers
    unchanged = await client.get("/menu?lang=en", headers={**tablet, "If-None-Match": english.headers["etag"]})
    assert unchanged.status_code == 304 and unchanged.content == b""
    assert unchanged.headers["vary"] == "Accept-Language"
    other = await client.get("/menu", headers={**tablet, "If-None-Match": english.headers["etag"]})
    assert other.status_code == 200 and other.json()["language"] == "ko"


async def test_every_language_of_the_menu_follows_a_change(client: httpx.AsyncClient, stores: Stores) -> None:
    """The cache keeps one menu per language; any change drops them all."""
    store, ids = await translated_store(client, stores)
    for query in ("", "?lang=en", "?lang=ja"):
        await menu(client, store, query)  # each kept now
    await client.patch(f"/admin/menu-items/{ids['item']}", headers=store.admin, json={
        "translations": {"en": {"name": "Kimchi jjigae"}, "ja": {"name": "キムチチゲ"}}})
    assert names((await menu(client, store, "?lang=en")).json())[1:3] == ("Kimchi jjigae", "묵은지 찌개")
    assert names((await menu(client, store, "?lang=ja")).json())[1] == "キムチチゲ"
    await client.patch(f"/admin/options/{ids['hot']}", headers=store.admin, json={"translations": {}})
    assert names((await menu(client, store, "?lang=en")).json())[4] == "매운맛"
    # Dropping a language: tablets asking for it get the working language at once.
    await speak(client, store, ["ko", "ja"])
    assert (await menu(client, store, "?lang=en")).json()["language"] == "ko"
    # A new working language: the menu without lang is in it.
    await speak(client, store, ["ja", "ko"])
    assert (await menu(client, store)).json()["language"] == "ja"


async def test_a_language_change_reaches_another_replicas_cache(database_url: str, client: httpx.AsyncClient,
                                                                stores: Stores) -> None:
    store, _ = await translated_store(client, stores)
    with ServerProcess(database_url) as other:
        async with other.api() as replica:
            first = await replica.get("/menu?lang=en", headers=store.tables[1].headers)
            assert first.json()["language"] == "en"  # kept by the other replica now
            await speak(client, store, ["ko"])
            for _ in range(100):
                answer = await replica.get("/menu?lang=en", headers=store.tables[1].headers)
                if answer.json()["language"] == "ko":
                    break
                await asyncio.sleep(0.05)
            assert answer.json()["language"] == "ko" and answer.headers["etag"] != first.headers["etag"]


@pytest.mark.parametrize(("path", "body"), [
    ("/admin/categories", {"name": "X", "translations": {"fr": {"name": "X"}}}),
    ("/admin/categories", {"name": "X", "translations": {"en": {"name": ""}}}),
    ("/admin/categories", {"name": "X", "translations": {"en": {"name": "x" * 51}}}),
    ("/admin/categories", {"name": "X", "translations": {"en": {"name": "X", "description": "no"}}}),
    ("/admin/categories", {"name": "X", "translations": {"en": "X"}}),
    ("/admin/categories", {"name": "X", "translations": []}),
    ("/admin/menu-items", {"name": "X", "price": 1, "translations": {"en": {"name": "x" * 101}}}),
    ("/admin/menu-items", {"name": "X", "price": 1, "translations": {"en": {"description": "only"}}}),
    ("/admin/menu-items", {"name": "X", "price": 1, "translations": {"en": {"name": "X", "description": "d" * 1001}}}),
])
async def test_a_bad_translation_is_a_422(client: httpx.AsyncClient, stores: Stores, path: str,
                                          body: dict[str, Any]) -> None:
    store = await stores.create(items=1)
    if path == "/admin/menu-items":
        body = {**body, "category_id": store.category_id}
    problem = assert_problem(await client.post(path, headers=store.admin, json=body), 422)
    assert problem["errors"]


async def test_the_longest_translations_are_kept(client: httpx.AsyncClient, stores: Stores) -> None:
    """Every supported language at the longest a name and description may be, in 4-byte characters."""
    store = await stores.create(items=1)
    longest = {lang: {"name": "🍲" * 100, "description": "🌶" * 1000} for lang in ("ko", "en", "ja", "zh")}
    response = await client.patch(f"/admin/menu-items/{store.item_ids()[0]}", headers=store.admin,
                                  json={"translations": longest})
    assert response.status_code == 200, response.text
    assert response.json()["translations"] == longest


async def test_orders_keep_working_language_names_whatever_the_tablet_reads(client: httpx.AsyncClient,
                                                                            stores: Stores) -> None:
    store, ids = await translated_store(client, stores)
    assert names((await menu(client, store, "?lang=en")).json())[1] == "Kimchi stew"
    placed = await client.post("/orders", headers={**store.tables[1].headers, "Accept-Language": "en"}, json={
        "items": [{"menu_item_id": ids["item"], "quantity": 1, "options": [ids["hot"]]}]})
    assert placed.status_code == 201, placed.text
    line = placed.json()["items"][0]
    assert (line["name"], line["options"]) == ("김치찌개", [{"group": "맵기", "name": "매운맛", "price_delta": 500}])


# --- the demo store -----------------------------------------------------------------------------------


async def test_the_demo_menu_speaks_four_languages_with_options(fresh_database) -> None:  # type: ignore[no-untyped-def]
    url: str = await fresh_database("tableorder_demo_languages")
    await asyncio.to_thread(db.migrate, url)
    conn = await asyncpg.connect(db.asyncpg_dsn(url))
    try:
        assert await seed_demo(conn)
        store_id = await conn.fetchval("SELECT id FROM stores WHERE code = 'demo'")
        documents = {lang: json.loads(await conn.fetchval("SELECT convert_from(menu_json($1, $2), 'UTF8')",
                                                          store_id, [lang]))
                     for lang in ("ko", "en", "ja", "zh")}
    finally:
        await conn.close()
    assert documents["ko"]["store"]["languages"] == ["ko", "en", "ja", "zh"]
    for lang, document in documents.items():
        assert document["language"] == lang
        entries = [entry for category in document["categories"] for entry in category["items"]]
        assert len(entries) == 16
        if lang != "ko":  # every category and item translated
            korean = documents["ko"]
            assert all(c["name"] != k["name"] for c, k in zip(document["categories"], korean["categories"],
                                                              strict=True))
            assert all(e["name"] != k["name"]
                       for e, k in zip(entries, [i for c in korean["categories"] for i in c["items"]], strict=True))
    stew = next(e for c in documents["ko"]["categories"] for e in c["items"] if e["name"] == "김치찌개")
    assert [(g["name"], g["min"], g["max"], [(o["name"], o["price_delta"]) for o in g["options"]])
            for g in stew["option_groups"]] == [
        ("맵기", 1, 1, [("순한맛", 0), ("보통", 0), ("매운맛", 0)]),
        ("토핑", 0, 3, [("치즈", 1000), ("계란", 1000), ("라면사리", 1000)])]
    english = next(e for c in documents["en"]["categories"] for e in c["items"] if e["id"] == stew["id"])
    assert english["name"] == "Kimchi stew" and english["option_groups"][0]["name"] == "Spiciness"
    assert [o["name"] for o in english["option_groups"][0]["options"]] == ["Mild", "Medium", "Hot"]
