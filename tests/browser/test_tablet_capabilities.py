"""The guest tablet's restaurant capabilities (SPEC §10, issue 12) in a real browser: languages, item
options through the option dialog, the staff call and a table moved onto another. The tablets use
replica A; the staff act through the API on replica B, as the board would."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from tableorder.demo import DEMO_ITEM_TEXTS, DEMO_OPTION_GROUPS
from tests.browser.conftest import BrowserStore
from tests.browser.test_tablet import LIVE, SETTLE, cart, expect, no_serious_violations, placed
from tests.conftest import ServerProcess
from tests.helpers import TABLE_PASSWORD, bearer

# The demo store's names (tableorder.demo) for the browser store's dishes and 김치찌개's option groups.
KIMCHI = {lang: name for lang, (name, _) in DEMO_ITEM_TEXTS["김치찌개"].items()}
STEWS = {"en": "Stews", "ja": "チゲ・スープ", "zh": "汤类"}  # the browser store's own category
KIMCHI_GROUPS = [(group, low, high, names, options)
                 for item, group, low, high, names, options in DEMO_OPTION_GROUPS if item == "김치찌개"]
ZONE = ZoneInfo("Asia/Seoul")  # the browser contexts' time zone


# What a finger taps in the top bar and an open dialog: at least 44x44 CSS pixels. A radio or checkbox
# counts by the label around it (the whole row is the target).
SMALL_TARGETS = """() => [...document.querySelectorAll(
    '.topbar button, dialog[open] button, dialog[open] label:has(input), dialog[open] textarea, dialog[open] input')]
  .map((el) => (el.matches('input[type=radio], input[type=checkbox]') ? el.closest('label') : el))
  .map((el) => [el.getAttribute('aria-label') || el.textContent.trim() || el.id, el.getBoundingClientRect()])
  .filter(([, box]) => box.width > 0 && (box.width < 44 || box.height < 44))
  .map(([name, box]) => `${name}: ${Math.round(box.width)}x${Math.round(box.height)}`)"""


def names(translations: dict[str, str]) -> dict[str, dict[str, str]]:
    return {lang: {"name": name} for lang, name in translations.items()}


async def give_options(store: BrowserStore) -> dict[str, int]:
    """김치찌개 gets the demo's 맵기 (required, one of three) and 토핑 (0-3 at +1,000 each, 라면사리 sold
    out here); returns the option ids by name."""
    ids: dict[str, int] = {}
    item = store.items["김치찌개"]
    for group, low, high, group_names, options in KIMCHI_GROUPS:
        made = await store.admin.post(f"/admin/menu-items/{item}/option-groups", json={
            "name": group, "min": low, "max": high, "translations": names(group_names)})
        assert made.status_code == 201, made.text
        for position, (name, delta, option_names) in enumerate(options):
            option = await store.admin.post(f"/admin/option-groups/{made.json()['id']}/options", json={
                "name": name, "price_delta": delta, "sort_order": position, "available": name != "라면사리",
                "translations": names(option_names)})
            assert option.status_code == 201, option.text
            ids[name] = option.json()["id"]
    return ids


async def speak_four_languages(store: BrowserStore) -> None:
    """The store keeps ko, en, ja, zh; its dishes that the demo has get the demo's translations."""
    answer = await store.admin.patch("/admin/store", json={"languages": ["ko", "en", "ja", "zh"]})
    assert answer.status_code == 200, answer.text
    for dish, texts in DEMO_ITEM_TEXTS.items():
        if dish in store.items:
            answer = await store.admin.patch(f"/admin/menu-items/{store.items[dish]}", json={"translations": {
                lang: {"name": name, "description": description} for lang, (name, description) in texts.items()}})
            assert answer.status_code == 200, answer.text
    categories = (await store.admin.get("/admin/categories")).json()
    stews = next(category for category in categories if category["name"] == "찌개·탕")
    answer = await store.admin.patch(f"/admin/categories/{stews['id']}", json={"translations": names(STEWS)})
    assert answer.status_code == 200, answer.text


async def set_up(page: Any, replica: ServerProcess, store: BrowserStore, table: int, lang: str = "en",
                 first_item: str = "Add 김치찌개") -> None:
    await page.goto(f"{replica.url}/?lang={lang}")
    await page.locator("#store-code").fill(store.code)
    await page.locator("#table-number").fill(str(table))
    await page.locator("#table-password").fill(TABLE_PASSWORD)
    await page.locator("form button[type=submit]").click()
    await expect(page.get_by_role("button", name=first_item)).to_be_visible(timeout=SETTLE)


async def table_api_order(replica: ServerProcess, store: BrowserStore, table: int, item: str) -> dict[str, Any]:
    """An order placed by table `table`'s own token, as another tablet at that table would."""
    async with replica.api() as anonymous:
        login = await anonymous.post("/auth/table/login", json={
            "store_code": store.code, "table_number": table, "password": TABLE_PASSWORD})
        assert login.status_code == 200, login.text
    async with replica.api(headers=bearer(login.json()["access_token"])) as tablet:
        order = await tablet.post("/orders", json={"items": [{"menu_item_id": store.items[item], "quantity": 1}]})
        assert order.status_code == 201, order.text
        return dict(order.json())


async def test_a_guest_switches_language_and_orders_with_options(
        page_factory: Any, replica_a: ServerProcess, store: BrowserStore, artifacts: Path) -> None:
    await speak_four_languages(store)
    await give_options(store)
    page, watch = await page_factory(replica_a.url)
    await set_up(page, replica_a, store, table=1, lang="ko", first_item="김치찌개 담기")

    # The switch shows each language in its own name; the menu comes in the chosen one.
    languages = page.get_by_role("group", name="언어")
    for name in ("한국어", "English", "日本語", "简体中文"):
        await expect(languages.get_by_role("button", name=name, exact=True)).to_be_visible()
    await languages.get_by_role("button", name="日本語").click()
    await expect(page.get_by_role("button", name=f"{KIMCHI['ja']}を追加")).to_be_visible(timeout=SETTLE)
    await expect(page.get_by_role("button", name=STEWS["ja"], exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="スタッフを呼ぶ")).to_be_visible()
    await page.wait_for_function("[...document.images].every((image) => image.complete)")
    await page.screenshot(path=artifacts / "tablet-menu-ja-1280x800.png")
    await page.reload()  # remembered on the device
    await expect(page.get_by_role("button", name=f"{KIMCHI['ja']}を追加")).to_be_visible(timeout=SETTLE)
    await page.get_by_role("button", name="简体中文").click()
    await expect(page.get_by_role("button", name=f"添加{KIMCHI['zh']}")).to_be_visible(timeout=SETTLE)
    await page.wait_for_function("[...document.images].every((image) => image.complete)")
    await page.screenshot(path=artifacts / "tablet-menu-zh-1280x800.png")
    await page.get_by_role("button", name="English").click()
    await expect(page.get_by_role("button", name=f"Add {KIMCHI['en']}")).to_be_visible(timeout=SETTLE)
    await expect(page.get_by_role("button", name="Add Soybean paste stew")).to_be_visible()
    await expect(page.get_by_role("button", name="Add 계란말이")).to_be_visible()  # untranslated: Korean

    # An item with options opens the dialog; a required group unmet keeps `Add to cart` disabled.
    await page.get_by_role("button", name=f"Add {KIMCHI['en']}").click()
    dialog = page.get_by_role("dialog", name=KIMCHI["en"])
    await expect(dialog).to_be_visible()
    add = dialog.get_by_role("button", name="Add to cart")
    await expect(add).to_be_disabled()
    spiciness = dialog.get_by_role("group", name="Spiciness")
    await expect(spiciness).to_contain_text("Required")
    await expect(spiciness.get_by_role("radio")).to_have_count(3)
    await expect(dialog.get_by_role("group", name="Toppings").get_by_role("checkbox")).to_have_count(3)
    await expect(dialog).to_contain_text(DEMO_ITEM_TEXTS["김치찌개"]["en"][1])
    await expect(dialog.locator("label", has_text="Cheese")).to_contain_text("+1,000원")
    await expect(dialog.get_by_role("checkbox", name="Ramen noodles")).to_be_disabled()
    await expect(dialog.get_by_role("group", name="Toppings")).to_contain_text("Sold out")
    await dialog.get_by_role("checkbox", name="Cheese").check()
    await expect(add).to_be_disabled()  # a topping alone is not enough: 맵기 is required
    await expect(dialog).to_contain_text("Choose first: Spiciness")
    await page.screenshot(path=artifacts / "tablet-options-required-1280x800.png")
    assert await page.evaluate(SMALL_TARGETS) == []
    await dialog.get_by_role("radio", name="Hot").check()
    await dialog.get_by_role("checkbox", name="Egg").check()
    await dialog.get_by_role("button", name="More").click()
    await expect(add).to_be_enabled()
    await expect(add).to_contain_text("22,000원")  # (9,000 + 0 + 1,000 + 1,000) x 2
    await page.screenshot(path=artifacts / "tablet-options-dialog-1280x800.png")
    await no_serious_violations(page, "option dialog")
    await add.click()
    await expect(dialog).to_be_hidden()

    # The same item with other options is another line.
    await page.get_by_role("button", name=f"Add {KIMCHI['en']}").click()
    await dialog.get_by_role("radio", name="Mild").check()
    await add.click()
    hot = f"{KIMCHI['en']} (Hot, Cheese, Egg)"
    await expect(cart(page).get_by_role("button", name=f"Remove {hot}")).to_be_visible()
    await expect(cart(page).get_by_role("button", name=f"Remove {KIMCHI['en']} (Mild)")).to_be_visible()
    await expect(cart(page)).to_contain_text("Hot · Cheese · Egg")
    await expect(cart(page)).to_contain_text("31,000원")
    await page.reload()  # the cart survives, options and all
    await expect(cart(page).get_by_role("button", name=f"Remove {hot}")).to_be_visible(timeout=SETTLE)
    await expect(cart(page)).to_contain_text("31,000원")
    await page.screenshot(path=artifacts / "tablet-cart-options-1280x800.png")

    await page.get_by_role("button", name="Place order").click()
    review = page.get_by_role("dialog", name="Review your order")
    await expect(review).to_contain_text("Hot · Cheese · Egg")
    await review.get_by_role("button", name="Confirm").click()
    for _ in range(100):
        orders = await store.orders(1)
        if orders:
            break
        await asyncio.sleep(0.1)
    [order] = orders
    await expect(placed(page, order["order_no"])).to_be_visible(timeout=SETTLE)
    # The server priced it, and the lines keep the options in the working language.
    lines = sorted(order["items"], key=lambda line: line["line_total"])
    assert [(line["name"], line["quantity"], line["line_total"]) for line in lines] == [
        ("김치찌개", 1, 9000), ("김치찌개", 2, 22000)]
    assert lines[0]["options"] == [{"group": "맵기", "name": "순한맛", "price_delta": 0}]
    assert sorted((option["group"], option["name"], option["price_delta"]) for option in lines[1]["options"]) == [
        ("맵기", "매운맛", 0), ("토핑", "계란", 1000), ("토핑", "치즈", 1000)]
    assert order["total_amount"] == 31000

    await page.get_by_role("button", name="My orders").click()
    sheet = page.get_by_role("dialog", name="My orders")
    article = sheet.get_by_role("article", name=f"Order {order['order_no']}")
    await expect(article).to_contain_text(f"{KIMCHI['en']} × 2")  # the dish as the guest's menu names it
    await expect(article).to_contain_text("Hot · Cheese +1,000원 · Egg +1,000원")  # kept as 매운맛 · 치즈 · 계란
    await expect(sheet).to_contain_text("31,000원")
    await page.screenshot(path=artifacts / "tablet-my-orders-options-1280x800.png")
    assert watch.console_errors == []
    assert watch.off_origin() == [], "a request left the origin"


async def test_an_option_dialog_follows_the_menu_and_sold_out_until(
        page_factory: Any, replica_a: ServerProcess, store: BrowserStore, artifacts: Path) -> None:
    """An option sold out while the dialog is open is taken out of the choice; an item sold out until a
    time says until when."""
    ids = await give_options(store)
    page, watch = await page_factory(replica_a.url)
    await set_up(page, replica_a, store, table=6)
    await page.get_by_role("button", name="Add 김치찌개").click()
    dialog = page.get_by_role("dialog", name="김치찌개")
    await dialog.get_by_role("radio", name="보통").check()
    await dialog.get_by_role("checkbox", name="치즈").check()
    await expect(dialog.get_by_role("button", name="Add to cart")).to_contain_text("10,000원")
    answer = await store.admin.patch(f"/admin/options/{ids['치즈']}", json={"available": False})
    assert answer.status_code == 200, answer.text
    await expect(dialog.get_by_role("checkbox", name="치즈")).to_be_disabled(timeout=LIVE + 3000)
    await expect(dialog.get_by_role("checkbox", name="치즈")).not_to_be_checked()
    await expect(dialog.get_by_role("button", name="Add to cart")).to_contain_text("9,000원")
    await dialog.get_by_role("button", name="Close").click()

    until = datetime.now(UTC) + timedelta(hours=2)
    answer = await store.admin.patch(f"/admin/menu-items/{store.items['제육볶음']}", json={
        "available": False, "sold_out_until": until.isoformat()})
    assert answer.status_code == 200, answer.text
    card = page.get_by_role("article", name="제육볶음")
    await expect(card.get_by_role("button", name="Add 제육볶음")).to_have_count(0, timeout=LIVE + 3000)
    await expect(card.get_by_text("Sold out", exact=True)).to_be_visible()
    local = until.astimezone(ZONE).strftime("%H:%M")
    await expect(card).to_contain_text(f"until {local}")
    await card.scroll_into_view_if_needed()
    await page.screenshot(path=artifacts / "tablet-sold-out-until-1280x800.png")
    assert watch.console_errors == []


async def test_an_option_sold_out_at_the_last_moment_keeps_the_cart(
        page_factory: Any, replica_a: ServerProcess, store: BrowserStore, artifacts: Path) -> None:
    """The server refuses the whole order (no partial one), the review names the line in the guest's
    words, and the cart keeps it, marked sold out."""
    ids = await give_options(store)
    page, _ = await page_factory(replica_a.url)
    await set_up(page, replica_a, store, table=5)
    await page.get_by_role("button", name="Add 김치찌개").click()
    dialog = page.get_by_role("dialog", name="김치찌개")
    await dialog.get_by_role("radio", name="보통").check()
    await dialog.get_by_role("checkbox", name="계란").check()
    await dialog.get_by_role("button", name="Add to cart").click()
    await page.get_by_role("button", name="Add 공기밥").click()
    await page.get_by_role("button", name="Place order").click()
    review = page.get_by_role("dialog", name="Review your order")
    await expect(review).to_contain_text("보통 · 계란")

    answer = await store.admin.patch(f"/admin/options/{ids['계란']}", json={"available": False})
    assert answer.status_code == 200, answer.text
    await review.get_by_role("button", name="Confirm").click()
    await expect(review.get_by_role("alert")).to_contain_text("김치찌개 (보통, 계란): Sold out", timeout=SETTLE)
    await page.screenshot(path=artifacts / "tablet-option-sold-out-order-1280x800.png")
    assert await store.orders(5) == []
    await review.get_by_role("button", name="Cancel").click()
    line = cart(page).get_by_role("listitem").filter(has_text="보통 · 계란")
    await expect(line).to_contain_text("계란: Sold out")
    await expect(cart(page)).to_contain_text("Something in your cart is sold out")
    await expect(cart(page).get_by_role("button", name="Remove 공기밥")).to_be_visible()


async def test_a_staff_call_goes_to_the_staff_and_back(
        page_factory: Any, replica_a: ServerProcess, store: BrowserStore, artifacts: Path) -> None:
    page, watch = await page_factory(replica_a.url)
    await set_up(page, replica_a, store, table=2)
    await page.get_by_role("button", name="Call staff").click()
    dialog = page.get_by_role("dialog", name="Call staff")
    send = dialog.get_by_role("button", name="Call now")
    await expect(send).to_be_disabled()
    for reason in ("Water", "Utensils", "Bill", "Help", "Other"):
        await expect(dialog.get_by_role("radio", name=reason)).to_be_visible()
    await dialog.get_by_role("radio", name="Water").check()
    await dialog.get_by_label("Note (optional)").fill("차가운 물로 주세요")
    await page.screenshot(path=artifacts / "tablet-call-staff-1280x800.png")
    assert await page.evaluate(SMALL_TARGETS) == []
    await no_serious_violations(page, "call dialog")
    await send.click()
    waiting = page.get_by_role("status", name="Staff calls")
    await expect(waiting).to_contain_text("Staff called: Water — waiting", timeout=SETTLE)
    await page.screenshot(path=artifacts / "tablet-call-pending-1280x800.png")

    calls = (await store.admin.get("/admin/calls")).json()
    calls = calls if isinstance(calls, list) else calls["items"]
    assert [(call["table_number"], call["reason"], call["note"]) for call in calls] == [
        (2, "water", "차가운 물로 주세요")]

    # Pressed again while it is open: the same call, shown as already called.
    await page.get_by_role("button", name="Call staff").click()
    await expect(dialog.get_by_role("radio", name="Water")).to_be_visible()
    await expect(dialog.locator("label", has_text="Water")).to_contain_text("Called")
    await dialog.get_by_role("radio", name="Water").check()
    await send.click()
    await expect(page.get_by_text("Already called: Water")).to_be_visible(timeout=SETTLE)
    again = (await store.admin.get("/admin/calls")).json()
    assert len(again if isinstance(again, list) else again["items"]) == 1

    await page.reload()  # still pending after a reload (GET /calls)
    await expect(waiting).to_contain_text("Staff called: Water — waiting", timeout=SETTLE)

    resolved = await store.admin.post(f"/admin/calls/{calls[0]['id']}/resolve")
    assert resolved.status_code == 200, resolved.text
    await expect(waiting).to_contain_text("Staff answered: Water", timeout=LIVE + 3000)
    await expect(waiting).not_to_contain_text("waiting")
    await page.screenshot(path=artifacts / "tablet-call-answered-1280x800.png")
    assert watch.console_errors == []


async def test_a_moved_session_shows_on_both_tablets(
        page_factory: Any, replica_a: ServerProcess, store: BrowserStore, artifacts: Path) -> None:
    source, watch = await page_factory(replica_a.url)
    target, _ = await page_factory(replica_a.url)
    await set_up(source, replica_a, store, table=3)
    await set_up(target, replica_a, store, table=4)
    first = await table_api_order(replica_a, store, 3, "콜라")
    second = await table_api_order(replica_a, store, 4, "사이다")
    for page in (source, target):
        await page.get_by_role("button", name="My orders").click()
    source_sheet = source.get_by_role("dialog", name="My orders")
    target_sheet = target.get_by_role("dialog", name="My orders")
    await expect(source_sheet.get_by_role("article", name=f"Order {first['order_no']}")).to_be_visible(timeout=SETTLE)
    await expect(target_sheet.get_by_role("article")).to_have_count(1, timeout=SETTLE)

    moved = await store.admin.post(f"/admin/tables/{store.tables[3]}/move", json={"to_table_id": store.tables[4]})
    assert moved.status_code == 200, moved.text
    assert moved.json()["merged"] is True

    # The moved-away tablet empties; the target shows both orders and the combined total, live.
    await expect(source_sheet.get_by_role("article")).to_have_count(0, timeout=LIVE + 3000)
    await expect(source_sheet).to_contain_text("No orders yet.")
    await expect(target_sheet.get_by_role("article")).to_have_count(2, timeout=LIVE + 3000)
    await expect(target_sheet.get_by_role("article", name=f"Order {first['order_no']}")).to_be_visible()
    await expect(target_sheet.get_by_role("article", name=f"Order {second['order_no']}")).to_be_visible()
    await expect(target_sheet).to_contain_text("4,000원")
    await source.screenshot(path=artifacts / "tablet-moved-away-1280x800.png")
    await target.screenshot(path=artifacts / "tablet-moved-here-1280x800.png")
    assert watch.console_errors == []

