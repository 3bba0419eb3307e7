"""The kitchen display at /kitchen in a real browser (SPEC §10): staff or API-key login, a station picked
and remembered, one station's open tickets oldest first, `Done` per ticket completing the order (seen live
on the board and the tablet), live arrivals and removals from the admin stream, elapsed time turning amber
and red, `Reconnecting…` while its replica is down. Things are found by role and accessible name only.

The stations are the demo store's: 주방 (the kitchen: every category but drinks) and 바 (the bar: 음료)."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path
from typing import Any

import asyncpg

from tests.browser.conftest import TABLET_VIEWPORT, BrowserStore
from tests.conftest import ServerProcess
from tests.helpers import ADMIN_PASSWORD, TABLE_PASSWORD, bearer

FULL_HD = {"width": 1920, "height": 1080}
KITCHEN_SCREEN = {"width": 1280, "height": 800}
DESKTOP = {"width": 1440, "height": 900}
SETTLE = 10_000  # ms: what a page may take for its own work on a shared, noisy machine
KITCHEN, BAR = "주방", "바"


def expect(target: Any) -> Any:
    from playwright.async_api import expect as playwright_expect

    return playwright_expect(target)


# ---- set-up through the API ------------------------------------------------------------------------

async def add_stations(store: BrowserStore) -> dict[str, int]:
    """The demo's stations: drinks (음료) to the bar, every other category to the kitchen."""
    stations: dict[str, int] = {}
    for order, name in enumerate((KITCHEN, BAR)):
        response = await store.admin.post("/admin/stations", json={"name": name, "sort_order": order})
        assert response.status_code == 201, response.text
        stations[name] = response.json()["id"]
    categories = await store.admin.get("/admin/categories")
    assert categories.status_code == 200, categories.text
    for category in categories.json():
        station = stations[BAR] if category["name"] == "음료" else stations[KITCHEN]
        routed = await store.admin.patch(f"/admin/categories/{category['id']}", json={"station_id": station})
        assert routed.status_code == 200, routed.text
    return stations


async def table_token(server: ServerProcess, store: BrowserStore, number: int) -> str:
    async with server.api() as client:
        response = await client.post("/auth/table/login", json={
            "store_code": store.code, "table_number": number, "password": TABLE_PASSWORD})
        assert response.status_code == 200, response.text
        return str(response.json()["access_token"])


async def add_spiciness(store: BrowserStore, item: str) -> dict[str, int]:
    """A required choice on `item`: 맵기 (spiciness), one of 순한맛 / 보통 / 아주 매운맛 (+500)."""
    group = await store.admin.post(f"/admin/menu-items/{store.items[item]}/option-groups",
                                   json={"name": "맵기", "min": 1, "max": 1})
    assert group.status_code == 201, group.text
    options: dict[str, int] = {}
    for name, delta in (("순한맛", 0), ("보통", 0), ("아주 매운맛", 500)):
        option = await store.admin.post(f"/admin/option-groups/{group.json()['id']}/options",
                                        json={"name": name, "price_delta": delta})
        assert option.status_code == 201, option.text
        options[name] = option.json()["id"]
    return options


async def place_order(server: ServerProcess, store: BrowserStore, table: int, lines: list[tuple[str, int]],
                      note: str | None = None, options: dict[str, list[int]] | None = None) -> dict[str, Any]:
    """`options`: item name -> the option ids chosen on its line."""
    token = await table_token(server, store, table)
    body: dict[str, Any] = {"items": [{"menu_item_id": store.items[name], "quantity": quantity,
                                       **({"options": (options or {})[name]} if name in (options or {}) else {})}
                                      for name, quantity in lines]}
    if note:
        body["note"] = note
    async with server.api(headers=bearer(token)) as client:
        response = await client.post("/orders", json=body)
        assert response.status_code == 201, response.text
        return dict(response.json())


async def order_status(store: BrowserStore, order_id: int) -> str:
    response = await store.admin.get(f"/admin/orders/{order_id}")
    assert response.status_code == 200, response.text
    return str(response.json()["status"])


async def eventually(check: Any, within: float = 10) -> Any:
    """Polls an async check until it returns a truthy value (API state after a click)."""
    deadline = time.monotonic() + within
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            return value
        await asyncio.sleep(0.1)


async def kitchen_key(store: BrowserStore) -> str:
    """An API key for a display: orders:read and orders:write are all it needs (SPEC section 10): they
    read the stations, the tickets and the live feed, and mark tickets done."""
    response = await store.admin.post("/admin/api-keys", json={
        "name": "bar display", "scopes": ["orders:read", "orders:write"]})
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


# ---- the page --------------------------------------------------------------------------------------

# What the display's controls are called: English with ?lang=en, Korean by default.
LABELS = {
    "en": {"store": "Store code", "user": "Username", "password": "Password", "log_in": "Log in",
           "key": "API key", "connect": "Connect", "pick": "Choose a station", "live": "Live"},
    "ko": {"store": "매장 코드", "user": "아이디", "password": "비밀번호", "log_in": "로그인",
           "key": "API 키", "connect": "연결", "pick": "스테이션 선택", "live": "실시간"},
}


async def open_display(page: Any, origin: str, store: BrowserStore, station: str, *, key: str | None = None,
                       lang: str | None = "en") -> None:
    """Logs in (staff, or with `key`), picks `station` and waits until the display is live. `lang`
    None: the page as a new device first sees it (Korean)."""
    words = LABELS[lang or "ko"]
    await page.goto(f"{origin}/kitchen" + (f"?lang={lang}" if lang else ""))
    if key is None:
        await page.get_by_label(words["store"], exact=True).fill(store.code)
        await page.get_by_label(words["user"], exact=True).fill("admin")
        await page.get_by_label(words["password"], exact=True).fill(ADMIN_PASSWORD)
        await page.get_by_role("button", name=words["log_in"], exact=True).click()
    else:
        await page.get_by_label(words["key"], exact=True).fill(key)
        await page.get_by_role("button", name=words["connect"], exact=True).click()
    await expect(page.get_by_role("heading", name=words["pick"])).to_be_visible(timeout=SETTLE)
    await page.get_by_role("button", name=station, exact=True).click()
    await expect(page.get_by_role("heading", name=station, level=1, exact=True)).to_be_visible()
    await expect(page.get_by_role("status").filter(has_text=words["live"])).to_be_visible(timeout=SETTLE)


def ticket(page: Any, order_no: int) -> Any:
    return page.get_by_role("article", name=re.compile(rf"^(Order|주문) {order_no}, "))


async def log_in_board(page: Any, origin: str, store: BrowserStore) -> None:
    await page.goto(f"{origin}/admin?lang=en")
    await page.get_by_label("Store code").fill(store.code)
    await page.get_by_label("Username").fill("admin")
    await page.get_by_label("Password").fill(ADMIN_PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("region", name="Table 1", exact=True)).to_be_visible(timeout=SETTLE)


async def set_up_tablet(page: Any, origin: str, store: BrowserStore, table: int) -> None:
    await page.goto(f"{origin}/?lang=en")
    await page.get_by_label("Store code").fill(store.code)
    await page.get_by_label("Table number").fill(str(table))
    await page.get_by_label("Password").fill(TABLE_PASSWORD)
    await page.get_by_role("button", name="Start").click()
    await expect(page.get_by_role("button", name="Add 김치찌개")).to_be_visible(timeout=SETTLE)


async def age_tickets(pool: asyncpg.Pool, order_id: int, minutes: int) -> None:
    """Makes an order's tickets `minutes` and a half old (as if the order had come in then): the half
    keeps the whole minutes shown while the display's clock, taken from the server's Date header to
    the second, and a busy machine's delays move it by a few seconds."""
    async with pool.acquire() as conn:
        aged = await conn.execute(
            "UPDATE tickets SET created_at = now() - make_interval(secs => $2 * 60 + 30) WHERE order_id = $1",
            order_id, minutes)
    assert aged != "UPDATE 0"


async def no_serious_violations(page: Any, what: str) -> None:
    from axe_playwright_python.async_playwright import Axe

    results = await Axe().run(page)
    serious = [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3])
               for v in results.response["violations"] if v["impact"] in {"serious", "critical"}]
    assert serious == [], f"axe on the {what}: {serious}"


# ---- tests -----------------------------------------------------------------------------------------

async def test_bar_and_kitchen_split_an_order_and_done_on_both_completes_it(
        store: BrowserStore, pool: asyncpg.Pool, replica_a: ServerProcess, replica_b: ServerProcess,
        page_factory: Any, artifacts: Path) -> None:
    await add_stations(store)
    # Earlier orders, some waiting for a while: the kitchen sees them oldest first, amber and red.
    waiting = await place_order(replica_a, store, 4, [("제육볶음", 2), ("공기밥", 2), ("콜라", 1)],
                                note="한 접시는 덜 맵게 해주세요")
    await age_tickets(pool, waiting["id"], 23)
    slow = await place_order(replica_a, store, 5, [("고등어구이", 1), ("된장찌개", 1), ("공기밥", 1)])
    await age_tickets(pool, slow["id"], 12)
    recent = await place_order(replica_a, store, 6, [("계란말이", 1), ("사이다", 2)])

    # The kitchen's display as a new device shows it (Korean); the bar's in English, on an API key.
    kitchen, kitchen_watch = await page_factory(replica_b.url, FULL_HD)
    await open_display(kitchen, replica_b.url, store, KITCHEN, lang=None)
    bar, bar_watch = await page_factory(replica_a.url, KITCHEN_SCREEN)
    await open_display(bar, replica_a.url, store, BAR, key=await kitchen_key(store))
    board, board_watch = await page_factory(replica_b.url, DESKTOP)
    await log_in_board(board, replica_b.url, store)
    tablet, tablet_watch = await page_factory(replica_a.url, TABLET_VIEWPORT)
    await set_up_tablet(tablet, replica_a.url, store, 3)

    # Oldest first, with their age: red from 20 minutes, amber from 10.
    await expect(kitchen.get_by_role("article")).to_have_count(3)
    names = await kitchen.get_by_role("article").evaluate_all("(cards) => cards.map((c) => c.ariaLabel)")
    assert names == [f"주문 {waiting['order_no']}, 4번 테이블", f"주문 {slow['order_no']}, 5번 테이블",
                     f"주문 {recent['order_no']}, 6번 테이블"], names
    await expect(ticket(kitchen, waiting["order_no"])).to_have_attribute("data-age", "overdue")
    await expect(ticket(kitchen, waiting["order_no"])).to_contain_text("23분")
    await expect(ticket(kitchen, slow["order_no"])).to_have_attribute("data-age", "late")
    await expect(ticket(kitchen, recent["order_no"])).to_have_attribute("data-age", "fresh")
    await expect(ticket(kitchen, waiting["order_no"])).to_contain_text("한 접시는 덜 맵게 해주세요")
    await expect(ticket(kitchen, waiting["order_no"])).not_to_contain_text("콜라")

    # A table orders a drink and a dish with a choice and a note: each display shows only its own line, live.
    spiciness = await add_spiciness(store, "김치찌개")
    order = await place_order(replica_a, store, 3, [("김치찌개", 2), ("콜라", 1)], note="얼음 빼고",
                              options={"김치찌개": [spiciness["아주 매운맛"]]})
    food = ticket(kitchen, order["order_no"])
    drink = ticket(bar, order["order_no"])
    await expect(food).to_be_visible(timeout=SETTLE)
    await expect(drink).to_be_visible(timeout=SETTLE)
    await expect(food).to_have_class(re.compile(r"\bis-new\b"))
    await expect(food).to_contain_text("3번 테이블")
    await expect(drink).to_contain_text("Table 3")
    await expect(food).to_contain_text("김치찌개")
    await expect(food).to_contain_text("맵기: 아주 매운맛")
    await expect(food).not_to_contain_text("콜라")
    await expect(food).to_contain_text("얼음 빼고")
    await expect(drink).to_contain_text("콜라")
    await expect(drink).not_to_contain_text("김치찌개")
    await expect(bar.get_by_role("article")).to_have_count(3)  # the drinks of tables 4 and 6, and this one
    await no_serious_violations(kitchen, "kitchen display")
    await kitchen.screenshot(path=str(artifacts / "kitchen-display-1920x1080.png"))
    await bar.screenshot(path=str(artifacts / "kitchen-display-bar-1280x800.png"))

    await tablet.get_by_role("button", name="My orders").click()
    sheet = tablet.get_by_role("dialog", name="My orders")
    await expect(sheet.get_by_role("article", name=f"Order {order['order_no']}")).to_be_visible(timeout=SETTLE)

    # `Done` at the bar: the drink's card leaves; the order waits for the kitchen.
    await bar.get_by_role("button", name=f"Done order {order['order_no']}", exact=True).click()
    await expect(drink).to_have_count(0)
    await expect(bar.get_by_role("article")).to_have_count(2)
    assert await order_status(store, order["id"]) != "completed"
    await expect(food).to_be_visible()

    # `Done` in the kitchen: the order is completed, on the board and on the tablet too.
    await kitchen.get_by_role("button", name=f"주문 {order['order_no']} 완료", exact=True).click()
    await expect(food).to_have_count(0)
    assert await eventually(lambda: _completed(store, order["id"])), "the order was not completed"
    table3 = board.get_by_role("region", name="Table 3", exact=True)
    folded = table3.get_by_text(re.compile(r"Completed and cancelled"))
    await expect(folded).to_be_visible(timeout=SETTLE)
    await folded.click()
    await expect(table3.get_by_role("article", name=f"Order {order['order_no']}")).to_contain_text("Completed")
    await expect(sheet.get_by_role("article", name=f"Order {order['order_no']}")).to_contain_text(
        "Completed", timeout=SETTLE)

    for watch in (kitchen_watch, bar_watch, board_watch, tablet_watch):
        assert watch.console_errors == []
        assert watch.off_origin() == []


async def _completed(store: BrowserStore, order_id: int) -> bool:
    return await order_status(store, order_id) == "completed"


async def test_tickets_follow_the_stream_and_the_display_is_remembered(
        store: BrowserStore, replica_a: ServerProcess, replica_b: ServerProcess, page_factory: Any) -> None:
    """Another display's `Done` and a cancelled order remove cards live; login, station and sound survive
    a reload; `Switch station` picks another; `?lang=ko` and `?station=<id>` links; logging out."""
    stations = await add_stations(store)
    page, watch = await page_factory(replica_b.url, KITCHEN_SCREEN)
    await open_display(page, replica_b.url, store, KITCHEN)
    await expect(page.get_by_text("No open tickets")).to_be_visible()

    first = await place_order(replica_a, store, 1, [("김치찌개", 1)])
    second = await place_order(replica_a, store, 2, [("된장찌개", 1), ("공기밥", 2)])
    await expect(ticket(page, first["order_no"])).to_be_visible(timeout=SETTLE)
    await expect(ticket(page, second["order_no"])).to_be_visible(timeout=SETTLE)
    await expect(page.get_by_text("No open tickets")).to_be_hidden()

    # Marked done on another display (here: through the API): the card leaves this one.
    tickets = await store.admin.get(f"/admin/stations/{stations[KITCHEN]}/tickets")
    assert tickets.status_code == 200, tickets.text
    [done] = [t for t in tickets.json() if t["order_id"] == first["id"]]
    marked = await store.admin.post(f"/admin/tickets/{done['id']}/done")
    assert marked.status_code == 200, marked.text
    await expect(ticket(page, first["order_no"])).to_have_count(0, timeout=SETTLE)

    # Staff cancel an order: its ticket leaves.
    cancelled = await store.admin.delete(f"/admin/orders/{second['id']}")
    assert cancelled.status_code == 200, cancelled.text
    await expect(ticket(page, second["order_no"])).to_have_count(0, timeout=SETTLE)

    # The device remembers the login, the station and the sound (off until someone turns it on).
    sound = page.get_by_role("checkbox", name="Sound for new tickets")
    await expect(sound).not_to_be_checked()
    await sound.check()  # plays the tone once (WebAudio, no file)
    third = await place_order(replica_a, store, 3, [("제육볶음", 1)])
    await page.reload()
    await expect(page.get_by_role("heading", name=KITCHEN, level=1, exact=True)).to_be_visible(timeout=SETTLE)
    await expect(page.get_by_role("button", name="Log in")).to_have_count(0)
    await expect(ticket(page, third["order_no"])).to_be_visible()
    await expect(page.get_by_role("checkbox", name="Sound for new tickets")).to_be_checked()

    # `Switch station` goes back to the picker; the bar is remembered from then on.
    await page.get_by_role("button", name="Switch station").click()
    await expect(page.get_by_role("heading", name="Choose a station")).to_be_visible()
    await no_serious_violations(page, "station picker")
    await page.get_by_role("button", name=BAR, exact=True).click()
    await expect(page.get_by_role("heading", name=BAR, level=1, exact=True)).to_be_visible()
    await expect(page.get_by_role("article")).to_have_count(0)
    drink = await place_order(replica_a, store, 3, [("사이다", 2)])
    await expect(ticket(page, drink["order_no"])).to_be_visible(timeout=SETTLE)
    await expect(ticket(page, drink["order_no"])).to_contain_text("2")

    # Korean by default: the same display without ?lang=en (the language is remembered, so ask for ko).
    await page.goto(f"{replica_b.url}/kitchen?lang=ko")
    await expect(page.get_by_role("heading", name=BAR, level=1, exact=True)).to_be_visible(timeout=SETTLE)
    korean = page.get_by_role("article", name=re.compile(rf"^주문 {drink['order_no']}, 3번 테이블$"))
    await expect(korean.get_by_role("button", name=f"주문 {drink['order_no']} 완료")).to_be_visible()
    await expect(page.get_by_role("button", name="스테이션 변경")).to_be_visible()

    # A link naming the station opens it (a display set up once by bookmark).
    await page.goto(f"{replica_b.url}/kitchen?station={stations[KITCHEN]}")
    await expect(page.get_by_role("heading", name=KITCHEN, level=1, exact=True)).to_be_visible(timeout=SETTLE)
    await expect(ticket(page, third["order_no"])).to_be_visible()

    # Logging out forgets the device's login (the store code is kept for the next one).
    await page.get_by_role("button", name="로그아웃").click()
    await expect(page.get_by_label("매장 코드")).to_have_value(store.code)
    assert await page.evaluate("localStorage.getItem('tableorder.kitchen')") is None
    assert watch.console_errors == []
    assert not any(url.endswith((".mp3", ".wav", ".ogg")) for url in watch.requests)


async def test_a_key_without_the_feed_is_told_at_login(
        store: BrowserStore, replica_b: ServerProcess, page_factory: Any) -> None:
    """A key that cannot open the live feed would leave the display stale: the login says so instead."""
    await add_stations(store)
    response = await store.admin.post("/admin/api-keys", json={
        "name": "no feed", "scopes": ["menu:read", "orders:write"]})
    assert response.status_code == 201, response.text
    page, _ = await page_factory(replica_b.url, KITCHEN_SCREEN)
    await page.goto(f"{replica_b.url}/kitchen?lang=en")
    await expect(page.get_by_role("button", name="Log in")).to_be_visible()
    await no_serious_violations(page, "kitchen login")
    await page.get_by_label("API key", exact=True).fill(response.json()["secret"])
    await page.get_by_role("button", name="Connect").click()
    await expect(page.get_by_role("alert")).to_contain_text("events:read", timeout=SETTLE)
    await expect(page.get_by_role("heading", name="Choose a station")).to_have_count(0)
    # A wrong key: the server's message.
    await page.get_by_label("API key", exact=True).fill("tok_abcdefgh_" + "x" * 43)
    await page.get_by_role("button", name="Connect").click()
    await expect(page.get_by_role("alert")).not_to_contain_text("events:read", timeout=SETTLE)


async def test_the_display_shows_reconnecting_and_catches_up(
        store: BrowserStore, database_url: str, replica_a: ServerProcess, page_factory: Any,
        artifacts: Path) -> None:
    """The display's own replica dies: `Reconnecting…` shows; meanwhile a ticket is done elsewhere and a
    new order comes in; a new server on the same port comes up and the display catches up by itself."""
    await add_stations(store)
    env = {"ORDER_RATE_LIMIT_PER_MINUTE": "0"}
    server = ServerProcess(database_url, env=env).start()
    try:
        page, _ = await page_factory(server.url, KITCHEN_SCREEN)
        streams: list[dict[str, str]] = []
        page.on("request", lambda request: streams.append(request.headers)
                if request.url.endswith("/api/v1/admin/orders/stream") else None)
        await open_display(page, server.url, store, KITCHEN)
        before = await place_order(replica_a, store, 4, [("계란말이", 1)])
        await expect(ticket(page, before["order_no"])).to_be_visible(timeout=SETTLE)

        server.stop()
        await expect(page.get_by_text("Reconnecting…").first).to_be_visible(timeout=SETTLE)
        await page.screenshot(path=str(artifacts / "kitchen-display-reconnecting-1280x800.png"))

        missed = await place_order(replica_a, store, 4, [("고등어구이", 1)])
        async with replica_a.api(headers=bearer(store.admin_token)) as admin:
            listed = await admin.get(f"/admin/stations/{(await _station_id(admin, KITCHEN))}/tickets")
            [done] = [t for t in listed.json() if t["order_id"] == before["id"]]
            marked = await admin.post(f"/admin/tickets/{done['id']}/done")
            assert marked.status_code == 200, marked.text

        again = ServerProcess(database_url, env=env)
        again.port, again.url = server.port, server.url
        server = again.start()
        await expect(ticket(page, missed["order_no"])).to_be_visible(timeout=15_000)
        await expect(ticket(page, before["order_no"])).to_have_count(0)
        await expect(page.get_by_text("Reconnecting…")).to_have_count(0)
        assert "last-event-id" not in streams[0]
        assert any(int(headers.get("last-event-id", "0")) > 0 for headers in streams[1:]), streams
    finally:
        server.stop()


async def _station_id(admin: Any, name: str) -> int:
    response = await admin.get("/admin/stations")
    assert response.status_code == 200, response.text
    return int(next(station["id"] for station in response.json() if station["name"] == name))


def test_kitchen_files_have_no_inline_script_or_style() -> None:
    web = Path(__file__).resolve().parents[2] / "src" / "tableorder" / "web" / "kitchen"
    html = (web / "index.html").read_text()
    assert " style=" not in html
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html)
    assert not re.search(r"\son[a-z]+=", html)
    for script in web.glob("*.js"):
        assert "innerHTML" not in script.read_text(), script.name
