"""Issue 10's walk-through with both pages open at once: a guest sets up a tablet on replica A and
orders two items; the staff board, open in another browser on replica B, shows the order within 2 s
without a reload; the staff press `Preparing` there and the tablet's `My orders` follows live. Then
issue 12's staff call, tablet to board and back: the guest calls for water, the board shows the
call, the staff resolve it with one tap, and the tablet says it was answered."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from playwright.async_api import expect

from tests.browser.conftest import DESKTOP_VIEWPORT, BrowserStore
from tests.browser.test_board import log_in
from tests.browser.test_tablet import LIVE, SETTLE, _wait_for_orders, cart, set_up_tablet
from tests.conftest import ServerProcess


async def test_a_tablet_on_one_replica_and_the_board_on_the_other(
        page_factory: Any, replica_a: ServerProcess, replica_b: ServerProcess, store: BrowserStore,
        artifacts: Path) -> None:
    board, board_watch = await page_factory(replica_b.url, DESKTOP_VIEWPORT)
    await log_in(board, replica_b.url, store)
    await expect(board.get_by_role("status").filter(has_text="Live")).to_be_visible(timeout=SETTLE)

    tablet, tablet_watch = await page_factory(replica_a.url)
    await set_up_tablet(tablet, replica_a, store, table=2)
    await tablet.get_by_role("button", name="Add 된장찌개").click()
    await tablet.get_by_role("button", name="Add 계란말이").click()
    await expect(cart(tablet)).to_contain_text("15,500원")
    await tablet.get_by_role("button", name="Place order").click()
    await tablet.get_by_role("dialog", name="Review your order").get_by_role("button", name="Confirm").click()
    [order] = await _wait_for_orders(store, 1, table=2)

    # The board on the other replica shows it, highlighted, without a reload.
    card = board.get_by_role("region", name="Table 2", exact=True).get_by_role(
        "article", name=f"Order {order['order_no']}")
    await expect(card).to_be_visible(timeout=LIVE)
    await expect(card).to_contain_text("된장찌개")
    await expect(card).to_contain_text("계란말이")
    await board.screenshot(path=artifacts / "walkthrough-board-1440x900.png")

    # The staff move it on; the tablet's `My orders` follows.
    await tablet.get_by_role("button", name="My orders").click()
    sheet = tablet.get_by_role("dialog", name="My orders")
    mine = sheet.get_by_role("article", name=f"Order {order['order_no']}")
    await expect(mine).to_contain_text("Pending")
    await card.get_by_role("button", name="Preparing").click()
    await expect(mine).to_contain_text("Preparing", timeout=LIVE)
    await tablet.screenshot(path=artifacts / "walkthrough-tablet-1280x800.png")

    # The guest calls staff from the tablet; the board (on the other replica) shows the call with
    # its reason and resolves it with one tap; the tablet hears the answer live.
    await tablet.keyboard.press("Escape")
    await tablet.get_by_role("button", name="Call staff").click()
    call = tablet.get_by_role("dialog", name="Call staff")
    await call.get_by_role("radio", name="Water").check()
    await call.get_by_role("button", name="Call now").click()
    waiting = tablet.get_by_role("status", name="Staff calls")
    await expect(waiting).to_contain_text("Staff called: Water — waiting", timeout=SETTLE)
    calls = board.get_by_role("region", name="Calls")
    await expect(calls).to_contain_text("Table 2", timeout=LIVE)
    await expect(calls).to_contain_text("Water")
    await calls.get_by_role("button", name="Resolve Table 2, Water").click()
    await expect(calls).to_be_hidden(timeout=LIVE)
    await expect(waiting).to_contain_text("Staff answered: Water", timeout=LIVE)
    assert (await store.admin.get("/admin/calls")).json() == []

    assert board_watch.console_errors == [] and tablet_watch.console_errors == []
    assert board_watch.off_origin() == [] and tablet_watch.off_origin() == []
