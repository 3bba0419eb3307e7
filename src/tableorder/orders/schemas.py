from datetime import datetime
from typing import Annotated, Literal

import msgspec

from tableorder.kit import Id

OrderStatus = Literal["pending", "preparing", "completed", "cancelled"]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=99)]


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    menu_item_id: Id
    quantity: Quantity


class OrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    """What a tablet sends: menu item ids and quantities only; the server prices the order."""

    items: Annotated[list[OrderLineIn], msgspec.Meta(min_length=1, max_length=50)]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class OrderLineOut(msgspec.Struct):
    menu_item_id: Id | None  # None once the menu item was deleted; name and price are snapshots
    name: str
    unit_price: int
    quantity: Quantity
    line_total: int


class OrderOut(msgspec.Struct):
    id: Id
    order_no: int
    table_id: Id | None
    table_number: int
    session_id: Id
    status: OrderStatus
    items: list[OrderLineOut]
    total_amount: int
    note: str | None
    created_at: datetime
    updated_at: datetime


class SessionSummary(msgspec.Struct):
    """A table session with its totals; cancelled orders count in neither figure."""

    id: Id
    table_id: Id | None
    table_number: int
    started_at: datetime
    closed_at: datetime | None
    order_count: int
    total_amount: int


class TableOrders(msgspec.Struct):
    """A table's view: the open session (None before the first order), its total and its orders."""

    session: SessionSummary | None
    total_amount: int
    orders: list[OrderOut]


class OrderStatusUpdate(msgspec.Struct, forbid_unknown_fields=True):
    status: OrderStatus


class OrderPage(msgspec.Struct):
    """A page of orders, newest first; `next_cursor` (None on the last page) asks for the next one."""

    items: list[OrderOut]
    next_cursor: str | None
