"""A POS integration written against the Python client generated from the live OpenAPI document
(openapi-python-client): what a vendor holding our document and an API key would write.

Run by tests/test_generated_clients.py with the generated package `tableorder_client` importable and
  TABLEORDER_BASE_URL        the server, e.g. http://127.0.0.1:8000
  TABLEORDER_API_KEY         a key with menu:read, menu:write, orders:read, orders:write, events:read
                             (and no tables scope)
  TABLEORDER_STORE_CODE, TABLEORDER_TABLE_NUMBER, TABLEORDER_TABLE_PASSWORD   a table to order from.
The key is the only credential used for the store's side. Exits 0 when everything held, 1 with the
first mismatch on stderr; the last line of stdout is a JSON summary (`RESULT {...}`) the test checks
against the server over plain HTTP.
"""

from __future__ import annotations

import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, TypeVar, assert_never

import httpx
from tableorder_client import AuthenticatedClient, Client
from tableorder_client.api.admin_menu import (
    create_category,
    create_menu_item,
    get_menu_item,
    list_menu_items,
    update_menu_item,
)
from tableorder_client.api.admin_orders import get_order, stream_store_events, update_order_status
from tableorder_client.api.admin_tables import list_tables
from tableorder_client.api.auth import login_table
from tableorder_client.api.guest import get_menu, list_table_orders, place_order
from tableorder_client.models import (
    Category,
    CategoryCreate,
    Menu,
    MenuItem,
    MenuItemCreate,
    MenuItemUpdate,
    MenuUpdatedEvent,
    Order,
    OrderCancelledEvent,
    OrderCreate,
    OrderCreatedEvent,
    OrderLineIn,
    OrderStatus,
    OrderStatusUpdate,
    OrderUpdatedEvent,
    Problem,
    ResyncEvent,
    TableLogin,
    TableOrders,
    TableSessionClosedEvent,
    TableToken,
)
from tableorder_client.types import Response

T = TypeVar("T")
# How long the feed may stay silent before the events this script caused count as missing.
FEED_TIMEOUT = 15.0


class Mismatch(Exception):
    """What the API answered is not what an integrator was promised."""


def expect(actual: object, expected: object, what: str) -> None:
    if actual != expected:
        raise Mismatch(f"{what}: expected {expected!r}, got {actual!r}")


def parsed(response: Response[Any], status: int, kind: type[T], what: str) -> T:
    """The response's model, when the status and the generated model's type are the expected ones."""
    if response.status_code != status:
        raise Mismatch(f"{what}: expected HTTP {status}, got {int(response.status_code)}: "
                       f"{response.content.decode(errors='replace')[:500]}")
    if not isinstance(response.parsed, kind):
        raise Mismatch(f"{what}: expected a {kind.__name__}, got {type(response.parsed).__name__}")
    return response.parsed


def step(message: str) -> None:
    print(f"- {message}", flush=True)


# --- the menu, with the key ------------------------------------------------------------------------------


@dataclass(frozen=True)
class MenuWork:
    category: Category
    item: MenuItem


def manage_menu(pos: AuthenticatedClient) -> MenuWork:
    category = parsed(create_category.sync_detailed(
        client=pos, body=CategoryCreate(name="음료 Drinks", sort_order=5)), 201, Category, "CreateCategory")
    expect((category.name, category.sort_order), ("음료 Drinks", 5), "the created category")
    step(f"CreateCategory -> {category.id} {category.name!r}")

    created = parsed(create_menu_item.sync_detailed(client=pos, body=MenuItemCreate(
        category_id=category.id, name="유자차 Yuja tea", price=4500, description="Hot, with honey")),
        201, MenuItem, "CreateMenuItem")
    expect((created.category_id, created.name, created.price, created.description, created.available),
           (category.id, "유자차 Yuja tea", 4500, "Hot, with honey", True), "the created menu item")
    step(f"CreateMenuItem -> {created.id} {created.name!r} at {created.price}")

    repriced = parsed(update_menu_item.sync_detailed(client=pos, item_id=created.id, body=MenuItemUpdate(price=5000)),
                      200, MenuItem, "UpdateMenuItem price")
    expect((repriced.price, repriced.name, repriced.available), (5000, created.name, True), "the repriced item")
    sold_out = parsed(update_menu_item.sync_detailed(
        client=pos, item_id=created.id, body=MenuItemUpdate(available=False)), 200, MenuItem, "UpdateMenuItem sold out")
    expect((sold_out.available, sold_out.price), (False, 5000), "the item marked sold out")
    back = parsed(update_menu_item.sync_detailed(client=pos, item_id=created.id, body=MenuItemUpdate(available=True)),
                  200, MenuItem, "UpdateMenuItem available again")
    expect(back.available, True, "the item back on sale")
    step("UpdateMenuItem: price 4500 -> 5000, sold out, back on sale")

    item = parsed(get_menu_item.sync_detailed(client=pos, item_id=created.id), 200, MenuItem, "GetMenuItem")
    expect((item.id, item.category_id, item.name, item.price, item.available),
           (created.id, category.id, "유자차 Yuja tea", 5000, True), "GetMenuItem")
    listed = parsed(list_menu_items.sync_detailed(client=pos, category_id=category.id), 200, list, "ListMenuItems")
    expect([(type(i).__name__, i.id, i.name, i.price, i.available) for i in listed],
           [("MenuItem", item.id, item.name, 5000, True)], "ListMenuItems of the new category")
    step(f"GetMenuItem / ListMenuItems: {item.name!r} at {item.price}, available")

    # The key has no tables scope: the server refuses, with a problem the generated client types.
    refused = parsed(list_tables.sync_detailed(client=pos), 403, Problem, "ListTables without tables:read")
    expect(refused.status, 403, "the problem's status")
    step("ListTables without the tables:read scope -> 403 problem")
    return MenuWork(category=category, item=item)


# --- an order through a table ----------------------------------------------------------------------------


def order_at_table(base_url: str, store_code: str, table_number: int, password: str,
                   menu_work: MenuWork) -> tuple[Order, dict[int, tuple[str, int]]]:
    """Signs in as the table, reads its menu, orders twice the new item and one other, retries the
    order with the same Idempotency-Key. Returns the order and the menu as the tablet saw it."""
    with Client(base_url=base_url, raise_on_unexpected_status=True) as anonymous:
        wrong = parsed(login_table.sync_detailed(client=anonymous, body=TableLogin(
            store_code=store_code, table_number=table_number, password=password + "-wrong")),
            401, Problem, "LoginTable with a wrong password")
        expect(wrong.status, 401, "the problem's status")
        login = parsed(login_table.sync_detailed(client=anonymous, body=TableLogin(
            store_code=store_code, table_number=table_number, password=password)), 200, TableToken, "LoginTable")
    expect((login.store.code, login.table.number, login.token_type), (store_code, table_number, "bearer"),
           "the table's sign-in")
    if login.expires_in <= 0:
        raise Mismatch(f"the table token expires in {login.expires_in} s")
    step(f"LoginTable -> table {login.table.number} of {login.store.code}")

    with AuthenticatedClient(base_url=base_url, token=login.access_token, raise_on_unexpected_status=True) as tablet:
        menu_response = get_menu.sync_detailed(client=tablet)
        menu = parsed(menu_response, 200, Menu, "GetMenu")
        entries = {entry.id: (category.id, entry) for category in menu.categories for entry in category.items}
        if menu_work.item.id not in entries:
            raise Mismatch(f"GetMenu does not list the new item {menu_work.item.id}")
        category_id, new_item = entries[menu_work.item.id]
        expect((category_id, new_item.name, new_item.price, new_item.available),
               (menu_work.category.id, "유자차 Yuja tea", 5000, True), "the new item on the tablet's menu")
        other = next((entry for cid, entry in entries.values() if cid != menu_work.category.id and entry.available),
                     None)
        if other is None:
            raise Mismatch("GetMenu lists no other available item")
        etag = menu_response.headers.get("ETag")
        if not etag:
            raise Mismatch("GetMenu sent no ETag")
        unchanged = get_menu.sync_detailed(client=tablet, if_none_match=etag)
        expect((int(unchanged.status_code), unchanged.content, unchanged.parsed), (304, b"", None),
               "GetMenu with If-None-Match")
        step(f"GetMenu: {len(entries)} items, ETag {etag} -> 304 when unchanged")

        key = f"pos-{uuid.uuid4()}"
        body = OrderCreate(items=[OrderLineIn(menu_item_id=new_item.id, quantity=2),
                                  OrderLineIn(menu_item_id=other.id, quantity=1)], note="덜 달게 less sweet")
        placed = place_order.sync_detailed(client=tablet, body=body, idempotency_key=key)
        order = parsed(placed, 201, Order, "PlaceOrder")
        expect([(line.menu_item_id, line.name, line.unit_price, line.quantity, line.line_total)
                for line in order.items],
               [(new_item.id, new_item.name, 5000, 2, 10000), (other.id, other.name, other.price, 1, other.price)],
               "the order's lines")
        expect((order.status, order.total_amount, order.note, order.table_number),
               (OrderStatus.PENDING, 10000 + other.price, "덜 달게 less sweet", table_number), "the placed order")
        replay = place_order.sync_detailed(client=tablet, body=body, idempotency_key=key)
        expect((parsed(replay, 201, Order, "PlaceOrder again").id, replay.headers.get("Idempotent-Replayed")),
               (order.id, "true"), "PlaceOrder again with the same Idempotency-Key")
        step(f"PlaceOrder -> order {order.id} no. {order.order_no}, total {order.total_amount}; the retry replays it")

        mine = parsed(list_table_orders.sync_detailed(client=tablet), 200, TableOrders, "ListTableOrders")
        expect(([o.id for o in mine.orders], mine.total_amount), ([order.id], order.total_amount),
               "ListTableOrders")
        step(f"ListTableOrders: [{order.id}], total {mine.total_amount}")
    return order, {entry_id: (entry.name, entry.price) for entry_id, (_, entry) in entries.items()}


def move_order(pos: AuthenticatedClient, order: Order) -> Order:
    moved = parsed(update_order_status.sync_detailed(
        client=pos, order_id=order.id, body=OrderStatusUpdate(status=OrderStatus.PREPARING)),
        200, Order, "UpdateOrderStatus")
    expect((moved.id, moved.status, moved.total_amount), (order.id, OrderStatus.PREPARING, order.total_amount),
           "the order moved to preparing")
    backwards = parsed(update_order_status.sync_detailed(
        client=pos, order_id=order.id, body=OrderStatusUpdate(status=OrderStatus.PENDING)),
        409, Problem, "UpdateOrderStatus backwards")
    expect(backwards.status, 409, "the problem's status")
    read = parsed(get_order.sync_detailed(client=pos, order_id=order.id), 200, Order, "GetOrder")
    expect((read.id, read.status, read.total_amount, [line.to_dict() for line in read.items]),
           (order.id, OrderStatus.PREPARING, order.total_amount, [line.to_dict() for line in order.items]),
           "GetOrder")
    step(f"UpdateOrderStatus -> {read.status.value} (backwards -> 409); GetOrder agrees")
    return read


# --- the typed event feed --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    id: int
    event: str
    data: Any


def sse_frames(lines: Iterator[str]) -> Iterator[Frame]:
    """Server-Sent Events frames (WHATWG event stream): comments skipped, `data` decoded as JSON."""
    event, position = "", ""
    data: list[str] = []
    for line in lines:
        if not line:
            if data:
                if not position.isdigit():
                    raise Mismatch(f"an event without a numeric id: {position!r}")
                yield Frame(int(position), event or "message", json.loads("\n".join(data)))
            event, data = "", []
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "event":
            event = value
        elif field == "data":
            data.append(value)
        elif field == "id":
            position = value


# The generated models of the document's `Event` union, by event type: openapi-python-client turns a
# oneOf into a Python union without a way to pick a member by its discriminator, so this is that map.
StoreEvent = (OrderCreatedEvent | OrderUpdatedEvent | OrderCancelledEvent | TableSessionClosedEvent
              | MenuUpdatedEvent | ResyncEvent)
EVENT_MODELS: dict[str, type[StoreEvent]] = {
    "order.created": OrderCreatedEvent,
    "order.updated": OrderUpdatedEvent,
    "order.cancelled": OrderCancelledEvent,
    "table.session_closed": TableSessionClosedEvent,
    "menu.updated": MenuUpdatedEvent,
    "resync": ResyncEvent,
}


def decode(frame: Frame) -> StoreEvent:
    """The frame as the generated model of its event type: `event:` is the type, `id:` the position,
    `data:` the payload. Every field the server sent must be one the document declares."""
    model = EVENT_MODELS.get(frame.event)
    if model is None:
        raise Mismatch(f"event {frame.id}: the type {frame.event!r} is not in the document's Event union")
    try:
        event = model.from_dict({"type": frame.event, "position": frame.id, "data": frame.data})
    except (KeyError, TypeError, ValueError) as error:
        raise Mismatch(f"event {frame.id} ({frame.event}) does not decode into {model.__name__}: {error!r}: "
                       f"{frame.data}") from error
    undeclared = sorted(event.data.additional_properties)
    if undeclared:
        raise Mismatch(f"event {frame.id} ({frame.event}): fields the document does not declare: {undeclared}")
    return event


def read_feed(pos: AuthenticatedClient, menu_work: MenuWork, order: Order) -> list[str]:
    """The store's feed from the start: the events this script caused, in position order."""
    expected = [
        ("menu.updated", "category", menu_work.category.id, "insert"),
        ("menu.updated", "menu_item", menu_work.item.id, "insert"),
        ("menu.updated", "menu_item", menu_work.item.id, "update"),  # price
        ("menu.updated", "menu_item", menu_work.item.id, "update"),  # sold out
        ("menu.updated", "menu_item", menu_work.item.id, "update"),  # back on sale
        ("order.created", "pending", order.id, order.total_amount),
        ("order.updated", "preparing", order.id, order.total_amount),
    ]
    ours = {("category", menu_work.category.id), ("menu_item", menu_work.item.id)}
    seen: list[tuple[str, str, int, object]] = []
    last = -1
    request = stream_store_events._get_kwargs(last_event_id=0)
    deadline = time.monotonic() + FEED_TIMEOUT
    timeout = httpx.Timeout(10, read=FEED_TIMEOUT)
    # openapi-python-client reads a response whole, and a stream never ends: the generated request
    # (URL, Last-Event-ID, the key) is sent through the generated client's own httpx client instead.
    try:
        with pos.get_httpx_client().stream(**request, timeout=timeout) as response:
            expect(response.status_code, 200, "StreamStoreEvents")
            expect(response.headers.get("content-type", "").split(";")[0], "text/event-stream",
                   "the stream's media type")
            for frame in sse_frames(response.iter_lines()):
                event = decode(frame)
                if event.position <= last:
                    raise Mismatch(f"event {event.position} ({frame.event}) came after {last}")
                last = event.position
                match event:
                    case OrderCreatedEvent() | OrderUpdatedEvent() | OrderCancelledEvent():
                        if event.data.id == order.id:
                            expect([line.to_dict() for line in event.data.items],
                                   [line.to_dict() for line in order.items], f"the lines of {event.type_} {last}")
                            seen.append((event.type_, event.data.status.value, event.data.id,
                                         event.data.total_amount))
                    case MenuUpdatedEvent():
                        if (event.data.entity.value, event.data.id) in ours:
                            seen.append((event.type_, event.data.entity.value, event.data.id, event.data.op.value))
                    case TableSessionClosedEvent() | ResyncEvent():
                        raise Mismatch(f"unexpected {event.type_} at {last}: {event.data.to_dict()}")
                    case _:
                        assert_never(event)
                if len(seen) >= len(expected) or time.monotonic() > deadline:
                    break
    except httpx.TimeoutException as error:
        raise Mismatch(f"the feed went quiet ({error!r}) with {len(seen)} of the {len(expected)} events seen: "
                       f"{seen}") from error
    expect(seen, expected, "the events this script caused, in position order")
    return [f"{event} {detail} {entity_id}" for event, detail, entity_id, _ in seen]


# --- the run ---------------------------------------------------------------------------------------------


def main() -> None:
    base_url = os.environ["TABLEORDER_BASE_URL"]
    store_code = os.environ["TABLEORDER_STORE_CODE"]
    table_number = int(os.environ["TABLEORDER_TABLE_NUMBER"])
    with AuthenticatedClient(base_url=base_url, token=os.environ["TABLEORDER_API_KEY"],
                             raise_on_unexpected_status=True) as pos:
        menu_work = manage_menu(pos)
        order, menu = order_at_table(base_url, store_code, table_number, os.environ["TABLEORDER_TABLE_PASSWORD"],
                                  menu_work)
        order = move_order(pos, order)
        events = read_feed(pos, menu_work, order)
        step("StreamStoreEvents (Last-Event-ID: 0), decoded into the generated models, in order: "
             + "; ".join(events))
    print("RESULT " + json.dumps({"category_id": menu_work.category.id, "item_id": menu_work.item.id,
                                  "order_id": order.id, "total_amount": order.total_amount,
                                  "status": order.status.value,
                                  "menu": {str(i): [name, price] for i, (name, price) in menu.items()}}), flush=True)


if __name__ == "__main__":
    try:
        main()
    except Mismatch as mismatch:
        print(f"MISMATCH: {mismatch}", file=sys.stderr, flush=True)
        sys.exit(1)
