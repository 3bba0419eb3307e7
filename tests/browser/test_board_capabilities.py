"""The staff board's restaurant capabilities (SPEC §10) in a real browser against two real replicas:
staff calls (live, aged, resolved with one tap), options on the board and in history, the menu editor's
option groups, translations, stations and `sold out until`, and moving / merging a session from the
board. Things are found by role and accessible name; what the API then says is checked over HTTP."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
from playwright.async_api import expect

from tests.browser.conftest import DESKTOP_VIEWPORT, BrowserStore
from tests.browser.test_board import assert_no_serious_violations, eventually, log_in, place_order, table_token
from tests.conftest import ServerProcess
from tests.helpers import bearer


async def call_staff(server: ServerProcess, token: str, reason: str, note: str | None = None) -> dict[str, Any]:
    async with server.api(headers=bearer(token)) as client:
        response = await client.post("/calls", json={"reason": reason, **({"note": note} if note else {})})
        assert response.status_code == 201, response.text
        return dict(response.json())


async def open_calls(store: BrowserStore) -> list[dict[str, Any]]:
    response = await store.admin.get("/admin/calls")
    assert response.status_code == 200, response.text
    return list(response.json())


async def add_group(store: BrowserStore, item: str, name: str, low: int, high: int,
                    options: list[tuple[str, int]]) -> dict[str, int]:
    """An option group with its options through the admin API: option name -> id."""
    group = await store.admin.post(f"/admin/menu-items/{store.items[item]}/option-groups",
                                   json={"name": name, "min": low, "max": high})
    assert group.status_code == 201, group.text
    ids: dict[str, int] = {}
    for option, delta in options:
        made = await store.admin.post(f"/admin/option-groups/{group.json()['id']}/options",
                                      json={"name": option, "price_delta": delta})
        assert made.status_code == 201, made.text
        ids[option] = made.json()["id"]
    return ids


async def admin_item(store: BrowserStore, name: str) -> dict[str, Any]:
    items = (await store.admin.get("/admin/menu-items")).json()
    return dict(next(item for item in items if item["name"] == name))


async def test_a_staff_call_shows_first_live_with_its_age_and_is_resolved_with_one_tap(
        store: BrowserStore, pool: asyncpg.Pool, replica_a: ServerProcess, replica_b: ServerProcess,
        page_factory: Any, artifacts: Path) -> None:
    # A call made before the board opens is read at start (GET /admin/calls), with its age.
    early = await call_staff(replica_a, await table_token(replica_a, store, 5), "bill")
    async with pool.acquire() as conn:
        await conn.execute("UPDATE staff_calls SET created_at = now() - interval '4 minutes' WHERE id = $1",
                           early["id"])
    order = await place_order(replica_a, await table_token(replica_a, store, 3),
                              [(store.items["제육볶음"], 1), (store.items["공기밥"], 2)])
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    calls = page.get_by_role("region", name="Calls", exact=True)
    await expect(calls).to_contain_text("Table 5")
    await expect(calls).to_contain_text("Bill")
    await expect(calls).to_contain_text("4 min")

    # A tablet calls through replica A: the board on replica B shows it live, its reason translated,
    # with the note, and the table's card carries a badge.
    token = await table_token(replica_a, store, 3)
    call = await call_staff(replica_a, token, "water", "얼음 많이 주세요")
    resolve = calls.get_by_role("button", name="Resolve Table 3, Water", exact=True)
    await expect(resolve).to_be_visible(timeout=2000)
    await expect(calls).to_contain_text("얼음 많이 주세요")
    await expect(calls).to_contain_text("just now")
    await expect(page.get_by_role("region", name="Table 3", exact=True)).to_contain_text("Call: Water")
    await expect(page.locator("[aria-live=polite]").filter(has_text="Staff call: Table 3, Water")).to_have_count(1)
    # The calls come first: above every table's card, oldest first.
    calls_box = await calls.bounding_box()
    first_card = await page.get_by_role("region", name="Table 1", exact=True).bounding_box()
    assert calls_box and first_card and calls_box["y"] + calls_box["height"] <= first_card["y"]
    await expect(calls.get_by_role("listitem").first).to_contain_text("Table 5")
    await expect(page.get_by_role("region", name="Table 3", exact=True).get_by_role(
        "article", name=f"Order {order['order_no']}")).to_be_visible()
    await page.screenshot(path=str(artifacts / "board-call-1440x900.png"))
    from axe_playwright_python.async_playwright import Axe

    await assert_no_serious_violations(Axe(), page, "board with calls")
    # Korean by default: the reasons and the button in Korean, the same calls.
    await page.goto(f"{replica_b.url}/admin?lang=ko")
    korean = page.get_by_role("region", name="직원 호출", exact=True)
    await expect(korean.get_by_role("button", name="3번 테이블 물 호출 처리 완료")).to_be_visible()
    await expect(korean).to_contain_text("4분 전")
    await page.screenshot(path=str(artifacts / "board-call-ko-1440x900.png"))
    await page.goto(f"{replica_b.url}/admin?lang=en")

    # One tap resolves it: the API lists no open call of table 3 and the board drops it and the badge.
    await resolve.click()
    assert await eventually(lambda: _no_open_call(store, call["id"])), "the call was not resolved"
    await expect(resolve).to_have_count(0)
    await expect(page.get_by_role("region", name="Table 3", exact=True)).not_to_contain_text("Call:")
    # Resolved elsewhere (the API, through the other replica): gone from the board live too.
    async with replica_a.api(headers=bearer(store.admin_token)) as admin:
        done = await admin.post(f"/admin/calls/{early['id']}/resolve")
        assert done.status_code == 200, done.text
    await expect(calls).to_be_hidden()
    assert await open_calls(store) == []
    assert watch.console_errors == []
    assert watch.off_origin() == []


async def _no_open_call(store: BrowserStore, call_id: int) -> bool:
    return all(call["id"] != call_id for call in await open_calls(store))


async def test_options_of_an_order_show_on_the_board_and_in_history(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    spice = await add_group(store, "김치찌개", "맵기", 1, 1, [("순한맛", 0), ("보통", 0), ("매운맛", 0)])
    topping = await add_group(store, "김치찌개", "토핑", 0, 3, [("치즈", 1000), ("라면사리", 1500)])
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)

    token = await table_token(replica_a, store, 2)
    async with replica_a.api(headers=bearer(token)) as client:
        response = await client.post("/orders", json={"items": [
            {"menu_item_id": store.items["김치찌개"], "quantity": 2,
             "options": [spice["보통"], topping["치즈"], topping["라면사리"]]},
            {"menu_item_id": store.items["콜라"], "quantity": 1}]})
        assert response.status_code == 201, response.text
        order = response.json()
    # (9,000 + 1,000 + 1,500) × 2 = 23,000 for the stew line.
    card = page.get_by_role("region", name="Table 2", exact=True).get_by_role(
        "article", name=f"Order {order['order_no']}")
    await expect(card).to_be_visible(timeout=2000)
    await expect(card).to_contain_text("맵기: 보통 · 토핑: 치즈 +1,000, 라면사리 +1,500")
    await expect(card).to_contain_text("23,000원")
    await expect(page.get_by_role("region", name="Table 2", exact=True)).to_contain_text("25,000원")
    await page.screenshot(path=str(artifacts / "board-order-options-1440x900.png"))

    # After the session closes, History shows each line's options and priced total.
    await page.get_by_role("region", name="Table 2", exact=True).get_by_role("button", name="Close session").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await page.get_by_role("region", name="Table 2", exact=True).get_by_role("button", name="Table history").click()
    session = page.get_by_role("article").filter(has_text=f"Order {order['order_no']}")
    await expect(session).to_contain_text("맵기: 보통 · 토핑: 치즈 +1,000, 라면사리 +1,500")
    await expect(session).to_contain_text("23,000원")
    await page.screenshot(path=str(artifacts / "board-history-options-1440x900.png"))
    assert watch.console_errors == []


async def test_menu_editor_option_groups_translations_and_stations(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)

    # Settings: English joins the menu's languages (Korean stays the working language); two stations.
    await page.get_by_role("tab", name="Settings").click()
    await page.get_by_role("checkbox", name="English", exact=True).check()
    await expect(page.get_by_label("Working language")).to_have_value("ko")
    await page.get_by_role("button", name="Save languages").click()
    assert await eventually(lambda: _languages_are(store, ["ko", "en"])), "the languages were not saved"
    for name in ("주방", "바"):
        await page.get_by_label("New station name").fill(name)
        await page.get_by_role("button", name="Add station").click()
        await expect(page.get_by_role("textbox", name=f"Station name {name}")).to_be_visible()
    from axe_playwright_python.async_playwright import Axe

    await assert_no_serious_violations(Axe(), page, "settings")
    await page.screenshot(path=str(artifacts / "board-settings-1440x900.png"))
    stations = {s["name"]: s["id"] for s in (await store.admin.get("/admin/stations")).json()}
    assert set(stations) == {"주방", "바"}

    # Menu: a category's station; the item's English name beside the Korean one, its own station.
    await page.get_by_role("tab", name="Menu").click()
    await page.get_by_label("Station for 음료").select_option(label="바")
    assert await eventually(lambda: _category_station(store, "음료", stations["바"])), "no station on 음료"
    await page.get_by_role("button", name="Rename 음료").click()
    rename = page.get_by_role("dialog", name="Rename category")
    await rename.get_by_label("Name (English)", exact=True).fill("Drinks")
    await rename.get_by_role("button", name="Save").click()
    await expect(rename).to_be_hidden()
    await expect(page.get_by_role("list").filter(has=page.get_by_role("button", name="Rename 음료"))).to_contain_text(
        "Drinks")
    stews = page.get_by_role("table", name="찌개·탕")
    row = stews.get_by_role("row", name=re.compile("김치찌개"))
    await row.get_by_role("button", name="Edit 김치찌개").click()
    dialog = page.get_by_role("dialog", name="Edit item")
    await dialog.get_by_label("Name (English)", exact=True).fill("Kimchi stew")
    await dialog.get_by_label("Description (English)", exact=True).fill("Aged kimchi and pork, long simmered")
    await expect(dialog.get_by_label("Station", exact=True)).to_have_value("")  # Inherit
    await dialog.get_by_label("Station", exact=True).select_option(label="주방")
    await page.screenshot(path=str(artifacts / "board-item-translations-1440x900.png"))
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await expect(row).to_contain_text("Kimchi stew")

    # Options: a required group with two options (one priced), each with its English name.
    await row.get_by_role("button", name="Options 김치찌개").click()
    options = page.get_by_role("dialog", name="Options for 김치찌개")
    new_group = options.get_by_role("region", name="New option group")
    await new_group.get_by_label("New group name").fill("맵기")
    await new_group.get_by_label("Group name (English)").fill("Spiciness")
    await new_group.get_by_label("Min", exact=True).fill("1")
    await new_group.get_by_label("Max", exact=True).fill("1")
    await new_group.get_by_role("button", name="Add option group").click()
    group = options.get_by_role("region", name="맵기", exact=True)
    await expect(group).to_contain_text("Required · 1–1")
    for name, english, price in (("순한맛", "Mild", "0"), ("아주 매운맛", "Extra hot", "500")):
        await group.get_by_label("New option name", exact=True).fill(name)
        await group.get_by_label("Option name (English)", exact=True).fill(english)
        await group.get_by_label("Price change (won)", exact=True).fill(price)
        await group.get_by_role("button", name="Add option 맵기").click()
        await expect(group.get_by_role("textbox", name=f"Option name {name}", exact=True)).to_have_value(name)
    # A second, optional group, then moved above the first.
    await new_group.get_by_label("New group name").fill("토핑")
    await new_group.get_by_label("Max", exact=True).fill("3")
    await new_group.get_by_role("button", name="Add option group").click()
    await expect(options.get_by_role("region", name="토핑", exact=True)).to_contain_text("Optional · up to 3")
    await options.get_by_role("button", name="Move up 토핑").click()
    await expect(options.locator("section.opt-group h3").first).to_have_text("토핑")
    await page.screenshot(path=str(artifacts / "board-menu-options-1440x900.png"))
    from axe_playwright_python.async_playwright import Axe

    await assert_no_serious_violations(Axe(), page, "options editor")

    # The tablet's menu in English has them (GET /menu?lang=en over HTTP).
    token = await table_token(replica_a, store, 1)

    async def english_stew() -> dict[str, Any] | None:
        async with replica_a.api(headers=bearer(token)) as client:
            menu = (await client.get("/menu", params={"lang": "en"})).json()
        for category in menu["categories"]:
            for item in category["items"]:
                if item["id"] == store.items["김치찌개"] and len(item["option_groups"]) == 2:
                    return dict(item)
        return None

    stew = await eventually(english_stew)
    assert stew, "the option groups did not reach GET /menu"
    assert stew["name"] == "Kimchi stew"
    assert stew["description"] == "Aged kimchi and pork, long simmered"
    spiciness = next(g for g in stew["option_groups"] if g["name"] == "Spiciness")
    assert (spiciness["min"], spiciness["max"]) == (1, 1)
    assert [(o["name"], o["price_delta"], o["available"]) for o in spiciness["options"]] == [
        ("Mild", 0, True), ("Extra hot", 500, True)]
    assert stew["option_groups"][0]["name"] == "토핑"  # no English name: the working language's
    async with replica_a.api(headers=bearer(token)) as client:
        menu = (await client.get("/menu", params={"lang": "en"})).json()
    assert "Drinks" in [c["name"] for c in menu["categories"]]

    # Edit the group (max 2) and an option's price in one save; an option sold out on its own.
    await group.get_by_label("Max", exact=True).fill("2")
    await group.get_by_role("spinbutton", name="Price change (won) 아주 매운맛").fill("700")
    await group.get_by_role("button", name="Save group 맵기").click()
    await expect(group).to_contain_text("Required · 1–2")
    await group.get_by_role("checkbox", name="Sold out 순한맛").check()
    saved = await eventually(lambda: _group(store, "김치찌개", "맵기", lambda g: g["max"] == 2 and not g["options"][0][
        "available"]))
    assert saved, "the group edit or the option's sold out did not reach the API"
    assert [(o["name"], o["price_delta"]) for o in saved["options"]] == [("순한맛", 0), ("아주 매운맛", 700)]
    assert saved["translations"] == {"en": {"name": "Spiciness"}}
    item = await admin_item(store, "김치찌개")
    assert item["station_id"] == stations["주방"]
    assert item["translations"]["en"]["name"] == "Kimchi stew"

    # Delete an option, then the other group (both ask `Confirm`).
    await group.get_by_role("button", name="Delete 아주 매운맛").click()
    await page.get_by_role("dialog", name="Please confirm").get_by_role("button", name="Confirm").click()
    await expect(group.get_by_role("textbox", name="Option name 아주 매운맛")).to_have_count(0)
    await options.get_by_role("button", name="Delete group 토핑").click()
    await page.get_by_role("dialog", name="Please confirm").get_by_role("button", name="Confirm").click()
    await expect(options.get_by_role("region", name="토핑", exact=True)).to_have_count(0)
    item = await admin_item(store, "김치찌개")
    assert [g["name"] for g in item["option_groups"]] == ["맵기"]
    assert [o["name"] for o in item["option_groups"][0]["options"]] == ["순한맛"]
    await options.get_by_role("button", name="Close").click()
    await expect(row).to_contain_text("Options: 맵기")
    await page.screenshot(path=str(artifacts / "board-menu-editor-1440x900.png"))

    # Stations: renamed, then one deleted (asks `Confirm`); its item is left without a station.
    await page.get_by_role("tab", name="Settings").click()
    await page.get_by_role("textbox", name="Station name 바").fill("바·음료")
    await page.get_by_role("button", name="Save 바").click()
    await expect(page.get_by_role("textbox", name="Station name 바·음료")).to_be_visible()
    await page.get_by_role("button", name="Delete 주방").click()
    await page.get_by_role("dialog", name="Please confirm").get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("textbox", name="Station name 주방")).to_have_count(0)
    assert [s["name"] for s in (await store.admin.get("/admin/stations")).json()] == ["바·음료"]
    assert (await admin_item(store, "김치찌개"))["station_id"] is None
    assert watch.console_errors == []


async def _languages_are(store: BrowserStore, languages: list[str]) -> bool:
    return bool((await store.admin.get("/admin/store")).json()["languages"] == languages)


async def _category_station(store: BrowserStore, name: str, station_id: int) -> bool:
    categories = (await store.admin.get("/admin/categories")).json()
    return any(c["name"] == name and c["station_id"] == station_id for c in categories)


async def _group(store: BrowserStore, item: str, name: str, check: Any) -> dict[str, Any] | None:
    for group in (await admin_item(store, item))["option_groups"]:
        if group["name"] == name and check(group):
            return dict(group)
    return None


async def test_sold_out_for_30_minutes_and_until_closing(
        store: BrowserStore, replica_b: ServerProcess, page_factory: Any, artifacts: Path) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    await page.get_by_role("tab", name="Menu").click()
    sides = page.get_by_role("table", name="사이드")
    rice = sides.get_by_role("row", name=re.compile("공기밥"))

    before = datetime.now(UTC)
    await rice.get_by_role("combobox", name="Sold out period 공기밥").select_option(label="For 30 minutes")
    await expect(rice.get_by_role("checkbox", name="Sold out")).to_be_checked()
    item = await eventually(lambda: _sold_out(store, "공기밥"))
    assert item, "sold out for 30 minutes did not reach the API"
    until = datetime.fromisoformat(item["sold_out_until"])
    assert before + timedelta(minutes=29) <= until <= datetime.now(UTC) + timedelta(minutes=31)
    store_doc = (await store.admin.get("/admin/store")).json()
    zone = ZoneInfo(store_doc["timezone"])
    await expect(rice).to_contain_text(f"until {until.astimezone(zone):%H:%M}")

    # Until closing: the end of the store's business day (GET /admin/store).
    egg = sides.get_by_role("row", name=re.compile("계란말이"))
    await egg.get_by_role("combobox", name="Sold out period 계란말이").select_option(label="Until closing")
    item = await eventually(lambda: _sold_out(store, "계란말이"))
    assert item, "sold out until closing did not reach the API"
    assert datetime.fromisoformat(item["sold_out_until"]) == datetime.fromisoformat(store_doc["business_day_ends_at"])
    closing = datetime.fromisoformat(store_doc["business_day_ends_at"]).astimezone(zone)
    await expect(egg).to_contain_text(f"until {closing:%H:%M}")
    await egg.scroll_into_view_if_needed()
    await page.screenshot(path=str(artifacts / "board-sold-out-until-1440x900.png"))

    # Other…: a number of minutes of one's own.
    drinks = page.get_by_role("table", name="음료")
    cola = drinks.get_by_role("row", name=re.compile("콜라"))
    asked = datetime.now(UTC)
    await cola.get_by_role("combobox", name="Sold out period 콜라").select_option(label="Other…")
    minutes = page.get_by_role("dialog", name="Sold out time for 콜라")
    await minutes.get_by_label("Minutes sold out").fill("45")
    await minutes.get_by_role("button", name="Save").click()
    item = await eventually(lambda: _sold_out(store, "콜라"))
    assert item, "sold out for 45 minutes did not reach the API"
    until = datetime.fromisoformat(item["sold_out_until"])
    assert asked + timedelta(minutes=44) <= until <= datetime.now(UTC) + timedelta(minutes=46)
    await expect(cola).to_contain_text(f"until {until.astimezone(zone):%H:%M}")

    # Unticking `Sold out` puts it back on sale at once; the time goes with it.
    await rice.get_by_role("checkbox", name="Sold out").uncheck()
    assert await eventually(lambda: _on_sale(store, "공기밥")), "공기밥 is not back on sale"
    await expect(rice).not_to_contain_text("until")
    assert watch.console_errors == []


async def _sold_out(store: BrowserStore, name: str) -> dict[str, Any] | None:
    item = await admin_item(store, name)
    return item if not item["available"] and item["sold_out_until"] else None


async def _on_sale(store: BrowserStore, name: str) -> bool:
    item = await admin_item(store, name)
    return bool(item["available"] and item["sold_out_until"] is None)


async def test_move_and_merge_a_session_from_the_board(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    first = await place_order(replica_a, await table_token(replica_a, store, 2), [(store.items["김치찌개"], 2)])
    other = await place_order(replica_a, await table_token(replica_a, store, 5), [(store.items["콜라"], 1)])
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    # A free table has no `Move`.
    free = page.get_by_role("region", name="Table 4", exact=True)
    await expect(free.get_by_role("button", name="Move")).to_have_count(0)

    # Move table 2 to the free table 4: the dialog tells moving from merging.
    await page.get_by_role("region", name="Table 2", exact=True).get_by_role("button", name="Move Table 2").click()
    dialog = page.get_by_role("dialog", name="Move or merge table 2")
    await expect(dialog.get_by_role("group", name="Move to a free table")).to_contain_text("Table 4")
    await expect(dialog.get_by_role("group", name="Merge into a table in use")).to_contain_text("Table 5")
    await dialog.get_by_role("radio", name=re.compile(r"^Table 4\b")).check()
    await expect(dialog).to_contain_text("The orders of table 2 move to table 4.")
    await page.screenshot(path=str(artifacts / "board-move-dialog-1440x900.png"))
    from axe_playwright_python.async_playwright import Axe

    await assert_no_serious_violations(Axe(), page, "move dialog")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(dialog).to_be_hidden()
    tables = await eventually(lambda: _sessions(store, moved_to=4, free=2))
    assert tables, "GET /admin/tables does not show the session on table 4"
    table4 = page.get_by_role("region", name="Table 4", exact=True)
    await expect(table4.get_by_role("article", name=f"Order {first['order_no']}")).to_be_visible()
    await expect(page.get_by_role("region", name="Table 2", exact=True).get_by_role("article")).to_have_count(0)

    # Merge table 4 into table 5: one session with both orders and the combined total.
    await table4.get_by_role("button", name="Move Table 4").click()
    dialog = page.get_by_role("dialog", name="Move or merge table 4")
    await dialog.get_by_role("radio", name=re.compile(r"^Table 5\b")).check()
    await expect(dialog).to_contain_text("The orders of table 4 join the session of table 5.")
    await dialog.get_by_role("button", name="Confirm").click()
    merged = await eventually(lambda: _sessions(store, moved_to=5, free=4))
    assert merged, "GET /admin/tables does not show the merged session on table 5"
    session = next(t for t in merged if t["number"] == 5)["session"]
    assert session["order_count"] == 2
    assert session["total_amount"] == first["total_amount"] + other["total_amount"]
    table5 = page.get_by_role("region", name="Table 5", exact=True)
    await expect(table5.get_by_role("article")).to_have_count(2)
    await expect(table5).to_contain_text("20,000원")

    # Moved by someone else (the API through the other replica): the board follows live.
    async with replica_a.api(headers=bearer(store.admin_token)) as admin:
        response = await admin.post(f"/admin/tables/{store.tables[5]}/move", json={"to_table_id": store.tables[1]})
        assert response.status_code == 200, response.text
    await expect(page.get_by_role("region", name="Table 1", exact=True).get_by_role("article")).to_have_count(2)
    await expect(table5.get_by_role("article")).to_have_count(0)
    assert watch.console_errors == []


async def _sessions(store: BrowserStore, moved_to: int, free: int) -> list[dict[str, Any]] | None:
    tables = list((await store.admin.get("/admin/tables")).json())
    by_number = {t["number"]: t for t in tables}
    return tables if by_number[moved_to]["session"] and by_number[free]["session"] is None else None


async def test_calls_missed_while_the_board_is_disconnected_show_when_it_is_back(
        store: BrowserStore, database_url: str, replica_a: ServerProcess, page_factory: Any) -> None:
    """The board's replica dies: `Reconnecting…`; a call made and another resolved meanwhile are right
    once a server is back on that address (the stream resumes and the board re-reads GET /admin/calls).
    With the sound on."""
    env = {"ORDER_RATE_LIMIT_PER_MINUTE": "0"}
    board_server = ServerProcess(database_url, env=env).start()
    try:
        stale = await call_staff(replica_a, await table_token(replica_a, store, 6), "utensils")
        page, watch = await page_factory(board_server.url, DESKTOP_VIEWPORT)
        await log_in(page, board_server.url, store)
        await page.get_by_role("checkbox", name="Sound for new orders").check()
        calls = page.get_by_role("region", name="Calls", exact=True)
        await expect(calls).to_contain_text("Utensils")

        board_server.stop()
        await expect(page.get_by_text("Reconnecting…").first).to_be_visible(timeout=10_000)
        call = await call_staff(replica_a, await table_token(replica_a, store, 4), "help", "아이 의자 하나")
        async with replica_a.api(headers=bearer(store.admin_token)) as admin:
            assert (await admin.post(f"/admin/calls/{stale['id']}/resolve")).status_code == 200

        again = ServerProcess(database_url, env=env)
        again.port, again.url = board_server.port, board_server.url
        board_server = again.start()
        await expect(calls.get_by_role("button", name="Resolve Table 4, Help", exact=True)).to_be_visible(
            timeout=15_000)
        await expect(calls).to_contain_text("아이 의자 하나")
        await expect(calls).not_to_contain_text("Utensils")
        await expect(page.get_by_text("Reconnecting…")).to_have_count(0)
        assert [c["id"] for c in await open_calls(store)] == [call["id"]]
        assert not [e for e in watch.console_errors if "Failed to load resource" not in e], watch.console_errors
    finally:
        board_server.stop()
