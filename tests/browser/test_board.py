"""The staff board at /admin in a real browser (SPEC §8): login, the live board across replicas, status
moves, confirmations, history, the menu editor, tables, keyboard reach, accessibility and the
`Reconnecting…` banner when the board's replica dies. Things are found by role and accessible name only."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import DESKTOP_VIEWPORT, TABLET_VIEWPORT, BrowserStore
from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, TABLE_PASSWORD, bearer


async def log_in(page: Any, origin: str, store: BrowserStore) -> None:
    await page.goto(f"{origin}/admin?lang=en")
    await page.get_by_label("Store code").fill(store.code)
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("region", name="Table 1", exact=True)).to_be_visible()


async def table_token(server: ServerProcess, store: BrowserStore, number: int, password: str = TABLE_PASSWORD) -> str:
    async with server.api() as client:
        response = await client.post("/auth/table/login", json={
            "store_code": store.code, "table_number": number, "password": password})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def place_order(server: ServerProcess, token: str, lines: list[tuple[int, int]]) -> dict[str, Any]:
    async with server.api(headers=bearer(token)) as client:
        response = await client.post("/orders", json={
            "items": [{"menu_item_id": item, "quantity": quantity} for item, quantity in lines]})
        assert response.status_code == 201, response.text
        return dict(response.json())


async def eventually(check: Any, within: float = 10) -> Any:
    """Polls an async check until it returns a truthy value (API state after a click)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def order_status(store: BrowserStore, table: int, order_id: int) -> str | None:
    for order in await store.orders(table):
        if order["id"] == order_id:
            return str(order["status"])
    return None


async def test_board_live_order_status_confirmations_and_history(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)

    # The login survives a reload: the board comes back without the login form.
    await page.reload()
    await expect(page.get_by_role("region", name="Table 2", exact=True)).to_be_visible()
    await expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()

    # A tablet orders through replica A; the board on replica B shows it within 2 s, highlighted.
    token = await table_token(replica_a, store, 2)
    order = await place_order(replica_a, token, [(store.items["김치찌개"], 2), (store.items["콜라"], 1)])
    table2 = page.get_by_role("region", name="Table 2", exact=True)
    card = table2.get_by_role("article", name=f"Order {order['order_no']}")
    await expect(card).to_be_visible(timeout=2000)
    await expect(card).to_have_class(re.compile(r"\bis-new\b"))
    await expect(card.get_by_text("New", exact=True)).to_be_visible()
    assert await page.locator("[aria-live=polite]").filter(
        has_text=f"New order: Table 2, order {order['order_no']}").count() == 1
    await expect(card).to_contain_text("김치찌개")
    await expect(card).to_contain_text("Pending")
    await expect(table2).to_contain_text("20,000원")
    await page.screenshot(path=str(artifacts / "board-desktop-1440x900.png"))

    # `Preparing` moves it (the API says so) and the card shows the new status.
    await card.get_by_role("button", name="Preparing").click()
    assert await eventually(lambda: _is(store, 2, order["id"], "preparing")), "the order did not move to preparing"
    await expect(card).to_contain_text("Preparing")
    await expect(card.get_by_role("button", name="Preparing")).to_have_count(0)

    # `Cancel order` asks first: going back changes nothing; `Confirm` cancels it.
    await card.get_by_role("button", name="Cancel order").click()
    dialog = page.get_by_role("dialog")
    await expect(dialog.get_by_role("button", name="Confirm")).to_be_visible()
    await dialog.get_by_role("button", name="Go back").click()
    await expect(dialog).to_be_hidden()
    assert await order_status(store, 2, order["id"]) == "preparing"
    await card.get_by_role("button", name="Cancel order").click()
    await dialog.get_by_role("button", name="Confirm").click()
    assert await eventually(lambda: _is(store, 2, order["id"], "cancelled")), "the order was not cancelled"

    # A second order, then `Close session` (asks `Confirm`): the table is free and the order is history.
    second = await place_order(replica_a, token, [(store.items["제육볶음"], 1)])
    second_card = table2.get_by_role("article", name=f"Order {second['order_no']}")
    await expect(second_card).to_be_visible(timeout=2000)
    await table2.get_by_role("button", name="Close session").click()
    await expect(dialog).to_contain_text("table 2")
    await dialog.get_by_role("button", name="Confirm").click()
    await expect(table2.get_by_role("button", name="Close session")).to_have_count(0)
    await expect(second_card).to_have_count(0)
    tables = (await store.admin.get("/admin/tables")).json()
    assert next(t for t in tables if t["number"] == 2)["session"] is None

    # History per table with From / To: the closed session with both orders and its total.
    await table2.get_by_role("button", name="Table history").click()
    await expect(page.get_by_role("tab", name="History")).to_have_attribute("aria-selected", "true")
    today = date.today()
    await page.get_by_label("From", exact=True).fill((today - timedelta(days=1)).isoformat())
    await page.get_by_label("To", exact=True).fill((today + timedelta(days=1)).isoformat())
    await page.get_by_role("button", name="Show").click()
    session = page.get_by_role("article").filter(has_text=f"Order {second['order_no']}")
    await expect(session).to_be_visible()
    await expect(session).to_contain_text(f"Order {order['order_no']}")
    await expect(session).to_contain_text("Cancelled")
    await expect(session).to_contain_text("12,000원")
    await page.screenshot(path=str(artifacts / "board-history-1440x900.png"))

    # A date range without that day finds nothing.
    await page.get_by_label("From", exact=True).fill((today - timedelta(days=30)).isoformat())
    await page.get_by_label("To", exact=True).fill((today - timedelta(days=20)).isoformat())
    await page.get_by_role("button", name="Show").click()
    await expect(page.get_by_text("No closed sessions in this period.")).to_be_visible()

    assert watch.console_errors == []
    assert watch.off_origin() == []


async def _is(store: BrowserStore, table: int, order_id: int, status: str) -> bool:
    return await order_status(store, table, order_id) == status


async def test_board_follows_pages_filters_by_table_and_logs_out(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any) -> None:
    # More orders than one page of GET /admin/orders: the board follows next_cursor to the end.
    token = await table_token(replica_a, store, 3)
    placed = [await place_order(replica_a, token, [(store.items["공기밥"], 1)]) for _ in range(3)]
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await page.route(re.compile(r"/api/v1/admin/orders\?"), lambda route: route.continue_(
        url=re.sub(r"limit=\d+", "limit=1", route.request.url)))
    await log_in(page, replica_b.url, store)
    table3 = page.get_by_role("region", name="Table 3", exact=True)
    for order in placed:
        await expect(table3.get_by_role("article", name=f"Order {order['order_no']}")).to_be_visible()
    # Orders on the board at load are not "new".
    await expect(table3.get_by_text("New", exact=True)).to_have_count(0)

    # Filter by table: only that table's region is shown.
    await page.get_by_label("Show table").select_option(label="Table 3")
    await expect(page.get_by_role("region", name=re.compile(r"^Table \d+$"))).to_have_count(1)
    await page.get_by_label("Show table").select_option(label="All tables")
    await expect(page.get_by_role("region", name=re.compile(r"^Table \d+$"))).to_have_count(6)

    # Log out ends the token (POST /auth/logout) and shows the login form again, also after a reload.
    saved = await page.evaluate("JSON.parse(localStorage.getItem('tableorder.admin')).token")
    await page.get_by_role("button", name="Log out").click()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    async with replica_b.api(headers=bearer(saved)) as client:
        assert (await client.get("/admin/tables")).status_code == 401
    await page.reload()
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    assert watch.off_origin() == []


async def test_menu_editor(store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess,
                           page_factory: Any, artifacts: Path) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    await page.get_by_role("tab", name="Menu").click()
    await expect(page.get_by_role("table", name="음료")).to_be_visible()

    # Create a category, then an item in it.
    await page.get_by_label("New category name").fill("디저트")
    await page.get_by_role("button", name="Add category").click()
    desserts = page.get_by_role("table", name="디저트")
    await expect(desserts).to_be_visible()
    await page.get_by_role("button", name="Add item").click()
    dialog = page.get_by_role("dialog", name="New item")
    await dialog.get_by_label("Category").select_option(label="디저트")
    await dialog.get_by_label("Name").fill("호떡")
    await dialog.get_by_label("Price (won)").fill("3500")
    await dialog.get_by_label("Description").fill("꿀과 견과류가 든 호떡")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    row = desserts.get_by_role("row", name=re.compile("호떡"))
    await expect(row).to_contain_text("3,500원")

    # Edit it: the new price is shown.
    await row.get_by_role("button", name="Edit 호떡").click()
    dialog = page.get_by_role("dialog", name="Edit item")
    await dialog.get_by_label("Price (won)").fill("4000")
    await dialog.get_by_role("button", name="Save").click()
    await expect(row).to_contain_text("4,000원")

    # `Sold out` per item reaches the guests' menu.
    token = await table_token(replica_a, store, 1)

    async def available(name: str) -> bool | None:
        async with replica_a.api(headers=bearer(token)) as client:
            menu = (await client.get("/menu")).json()
        for category in menu["categories"]:
            for item in category["items"]:
                if item["name"] == name:
                    return bool(item["available"])
        return None

    assert await available("호떡") is True
    await row.get_by_role("checkbox", name="Sold out").check()
    assert await eventually(lambda: _false(available("호떡"))), "the sold-out toggle did not reach /menu"
    await expect(row.get_by_role("checkbox", name="Sold out")).to_be_checked()

    # Order within a category: 사이다 moves up above 콜라.
    drinks = page.get_by_role("table", name="음료")
    await drinks.get_by_role("button", name="Move up 사이다").click()
    await expect(drinks.get_by_role("row").nth(1)).to_contain_text("사이다")
    items = (await store.admin.get("/admin/menu-items")).json()
    order = {i["name"]: i["sort_order"] for i in items}
    assert order["사이다"] < order["콜라"]

    # Categories reorder and rename.
    await page.get_by_role("button", name="Move up 디저트").click()
    categories = page.get_by_role("list").filter(has=page.get_by_role("button", name="Rename 디저트"))
    await expect(categories.get_by_role("listitem").nth(3)).to_contain_text("디저트")
    await page.screenshot(path=str(artifacts / "board-menu-1440x900.png"))

    # A category that still has items is not deleted: the problem's message says why.
    await page.get_by_role("button", name="Delete 음료").click()
    await expect(page.get_by_role("status").filter(has_text="still has menu items")).to_be_visible()
    await expect(page.get_by_role("table", name="음료")).to_be_visible()

    # Delete asks `Confirm`: the item, then its (now empty) category.
    await row.get_by_role("button", name="Delete 호떡").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(desserts.get_by_role("row", name=re.compile("호떡"))).to_have_count(0)
    await page.get_by_role("button", name="Delete 디저트").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(page.get_by_role("table", name="디저트")).to_have_count(0)
    names = [c["name"] for c in (await store.admin.get("/admin/categories")).json()]
    assert "디저트" not in names
    assert watch.console_errors == []


async def _false(value: Any) -> bool:
    return (await value) is False


async def test_tables_add_change_password_delete(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    await page.get_by_role("tab", name="Tables").click()
    await page.get_by_label("Table number").fill("12")
    await page.get_by_label("Table password").fill("first-pass")
    await page.get_by_role("button", name="Add table").click()
    row = page.get_by_role("row", name=re.compile(r"^Table 12\b"))
    await expect(row).to_be_visible()
    await table_token(replica_a, store, 12, "first-pass")
    # The board has its region too.
    await page.get_by_role("tab", name="Board").click()
    await expect(page.get_by_role("region", name="Table 12", exact=True)).to_be_visible()

    # Change its password: the old one stops working, the new one works.
    await page.get_by_role("tab", name="Tables").click()
    await row.get_by_role("button", name="Change password").click()
    dialog = page.get_by_role("dialog")
    await dialog.get_by_label("New password").fill("second-pass")
    await dialog.get_by_role("button", name="Save").click()
    await expect(dialog).to_be_hidden()
    await table_token(replica_a, store, 12, "second-pass")
    async with replica_a.api() as client:
        old = await client.post("/auth/table/login", json={
            "store_code": store.code, "table_number": 12, "password": "first-pass"})
        assert old.status_code == 401

    # A number that is taken: the problem's message, and no second row.
    await page.get_by_label("Table number").fill("12")
    await page.get_by_label("Table password").fill("third-pass")
    await page.get_by_role("button", name="Add table").click()
    await expect(page.get_by_role("status").filter(has_text="Table 12 already exists.")).to_be_visible()
    await expect(row).to_have_count(1)

    # Delete asks `Confirm`.
    await row.get_by_role("button", name="Delete").click()
    await page.get_by_role("dialog").get_by_role("button", name="Confirm").click()
    await expect(row).to_have_count(0)
    numbers = [t["number"] for t in (await store.admin.get("/admin/tables")).json()]
    assert 12 not in numbers
    assert watch.console_errors == []


async def test_board_keyboard_and_accessibility(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    from axe_playwright_python.async_playwright import Axe

    token = await table_token(replica_a, store, 1)
    await place_order(replica_a, token, [(store.items["된장찌개"], 1)])
    page, _ = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await page.goto(f"{replica_b.url}/admin?lang=en")
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await assert_no_serious_violations(Axe(), page, "login")

    # Log in with the keyboard only.
    await page.get_by_label("Store code").focus()
    await page.keyboard.type(store.code)
    await page.keyboard.press("Tab")
    await page.keyboard.type("admin")
    await page.keyboard.press("Tab")
    await page.keyboard.type(ADMIN_PASSWORD)
    await page.keyboard.press("Enter")
    await expect(page.get_by_role("region", name="Table 1", exact=True)).to_be_visible()
    await expect(page.get_by_role("region", name="Table 1", exact=True).get_by_role("article")).to_have_count(1)

    # Every control of the board is reached with Tab.
    controls = await page.evaluate("""() => [...document.querySelectorAll(
        '#app-view button, #app-view input, #app-view select, #app-view summary')]
        .filter((el) => el.offsetParent !== null && !el.disabled).length""")
    reached: set[str] = set()
    for _ in range(controls + 5):
        await page.keyboard.press("Tab")
        reached.add(await page.evaluate("""() => {
            const el = document.activeElement;
            if (!el || !el.closest('#app-view')) return '';
            const all = [...document.querySelectorAll(
                '#app-view button, #app-view input, #app-view select, #app-view summary')];
            return String(all.indexOf(el));
        }"""))
    reached.discard("")
    assert len(reached) == controls, f"{len(reached)} of {controls} controls reached by Tab"
    await assert_no_serious_violations(Axe(), page, "board")

    # A status move by keyboard.
    region = page.get_by_role("region", name="Table 1", exact=True)
    await region.get_by_role("button", name="Preparing").focus()
    await page.keyboard.press("Enter")
    await expect(region.get_by_role("article")).to_contain_text("Preparing")

    # The menu editor and the tables screen, reached by keyboard through the tabs.
    await page.get_by_role("tab", name="Board").focus()
    await page.keyboard.press("ArrowRight")
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Menu")).to_have_attribute("aria-selected", "true")
    await expect(page.get_by_role("table", name="음료")).to_be_visible()
    await assert_no_serious_violations(Axe(), page, "menu editor")
    await page.get_by_role("button", name="Add item").click()
    await expect(page.get_by_role("dialog", name="New item")).to_be_visible()
    await assert_no_serious_violations(Axe(), page, "item form")
    await page.keyboard.press("Escape")
    await expect(page.get_by_role("dialog")).to_have_count(0)
    await page.get_by_role("tab", name="Menu").focus()
    await page.keyboard.press("ArrowRight")
    await expect(page.get_by_role("tab", name="Tables")).to_have_attribute("aria-selected", "true")
    await assert_no_serious_violations(Axe(), page, "tables")

    # A busier floor for the Korean screenshots (and one more axe pass over it).
    for number, lines in ((3, [("제육볶음", 2), ("공기밥", 2)]), (4, [("김치찌개", 1), ("계란말이", 1)]),
                          (6, [("고등어구이", 1), ("사이다", 2)])):
        tablet = await table_token(replica_a, store, number)
        await place_order(replica_a, tablet, [(store.items[name], quantity) for name, quantity in lines])
    placed = await place_order(replica_a, tablet, [(store.items["콜라"], 1)])
    await store.admin.patch(f"/admin/orders/{placed['id']}", json={"status": "preparing"})

    # Korean by default (the page remembers ?lang=, so ask for ko explicitly).
    await page.goto(f"{replica_b.url}/admin?lang=ko")
    await expect(page.get_by_role("region", name="6번 테이블").get_by_role("article")).to_have_count(2)
    await assert_no_serious_violations(Axe(), page, "busy board")
    await expect(page.get_by_role("region", name="1번 테이블")).to_be_visible()
    await expect(page.get_by_role("button", name="로그아웃")).to_be_visible()
    await page.screenshot(path=str(artifacts / "board-desktop-ko-1440x900.png"))
    await page.set_viewport_size(TABLET_VIEWPORT)
    await page.screenshot(path=str(artifacts / "board-tablet-ko-1280x800.png"))


async def assert_no_serious_violations(axe: Any, page: Any, where: str) -> None:
    results = await axe.run(page)
    serious = [v for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    assert not serious, f"{where}: " + "; ".join(
        f"{v['id']}: {[n['target'] for n in v['nodes']][:3]}" for v in serious)


async def test_board_shows_reconnecting_and_catches_up(
        store: BrowserStore, database_url: str, replica_a: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    """The board's own replica dies: `Reconnecting…` shows; a new server on the same port comes up and the
    board catches up (Last-Event-ID resume and a re-read) without a reload."""
    env = {"ORDER_RATE_LIMIT_PER_MINUTE": "0"}
    board_server = ServerProcess(database_url, env=env).start()
    try:
        page, _ = await page_factory(board_server.url, DESKTOP_VIEWPORT)
        streams: list[dict[str, str]] = []
        page.on("request", lambda request: streams.append(request.headers)
                if request.url.endswith("/api/v1/admin/orders/stream") else None)
        await log_in(page, board_server.url, store)
        await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
        token = await table_token(replica_a, store, 4)
        before = await place_order(replica_a, token, [(store.items["계란말이"], 1)])
        table4 = page.get_by_role("region", name="Table 4", exact=True)
        await expect(table4.get_by_role("article", name=f"Order {before['order_no']}")).to_be_visible()

        board_server.stop()
        await expect(page.get_by_text("Reconnecting…").first).to_be_visible(timeout=10_000)
        await page.screenshot(path=str(artifacts / "board-reconnecting-1440x900.png"))

        # While the board's replica is down, the floor goes on through the other one.
        missed = await place_order(replica_a, token, [(store.items["사이다"], 2)])
        async with replica_a.api(headers=bearer(store.admin_token)) as admin:
            moved = await admin.patch(f"/admin/orders/{before['id']}", json={"status": "completed"})
            assert moved.status_code == 200, moved.text

        again = ServerProcess(database_url, env=env)
        again.port, again.url = board_server.port, board_server.url
        board_server = again.start()
        missed_card = table4.get_by_role("article", name=f"Order {missed['order_no']}")
        await expect(missed_card).to_be_visible(timeout=15_000)
        await expect(page.get_by_text("Reconnecting…")).to_have_count(0)
        await expect(page.get_by_role("status").filter(has_text="Live")).to_be_visible()
        # The stream resumed from the last event it had (Last-Event-ID), not from scratch.
        assert "last-event-id" not in streams[0]
        assert any(int(headers.get("last-event-id", "0")) > 0 for headers in streams[1:]), streams
        # The completed order folded into the finished ones, with its new status.
        await table4.get_by_text(re.compile(r"Completed and cancelled")).click()
        await expect(table4.get_by_role("article", name=f"Order {before['order_no']}")).to_contain_text(
            "Completed")
    finally:
        board_server.stop()


def test_board_files_have_no_inline_script_or_style() -> None:
    web = Path(__file__).resolve().parents[2] / "src" / "tableorder" / "web" / "admin"
    html = (web / "index.html").read_text()
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    for script in web.glob("*.js"):
        text = script.read_text()
        assert "innerHTML" not in text, script.name


async def test_sound_toggle_is_off_by_default_and_remembered(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any) -> None:
    page, watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    sound = page.get_by_role("checkbox", name="Sound for new orders")
    await expect(sound).not_to_be_checked()
    await sound.check()  # plays the tone once (WebAudio, no file)
    await page.reload()
    await expect(page.get_by_role("checkbox", name="Sound for new orders")).to_be_checked()
    # A new order with the sound on still shows (and rings) without errors.
    token = await table_token(replica_a, store, 5)
    order = await place_order(replica_a, token, [(store.items["공기밥"], 1)])
    region = page.get_by_role("region", name="Table 5", exact=True)
    await expect(region.get_by_role("article", name=f"Order {order['order_no']}")).to_be_visible()
    await page.get_by_role("checkbox", name="Sound for new orders").uncheck()
    assert watch.console_errors == []
    assert not any(url.endswith((".mp3", ".wav", ".ogg")) for url in watch.requests)


async def test_board_returns_to_login_when_its_token_dies(
        store: BrowserStore, replica_b: ServerProcess, page_factory: Any) -> None:
    """A password change ends the admin's other tokens: the open board (stream and REST) goes back to
    the login form by itself, and logs in again with the new password."""
    page, _ = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(page, replica_b.url, store)
    changed = await store.admin.put("/admin/password", json={
        "current_password": ADMIN_PASSWORD, "new_password": "a-new-password-2"})
    assert changed.status_code == 204, changed.text
    await expect(page.get_by_role("button", name="Log in")).to_be_visible(timeout=15_000)
    assert await page.evaluate("localStorage.getItem('tableorder.admin')") is None
    # The store code and username are kept for the next login.
    await expect(page.get_by_label("Store code")).to_have_value(store.code)
    await page.get_by_label("Password").fill("a-new-password-2")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("region", name="Table 1", exact=True)).to_be_visible()
