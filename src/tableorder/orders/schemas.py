"""What clients send about orders (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import OrderStatus, Quantity
from tableorder.kit import Id

# Options chosen on a line and on a whole order: an order's document (and so a session's) stays bounded.
MAX_LINE_OPTIONS = 20
MAX_ORDER_OPTIONS = 50


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    """One line of a new order: which menu item, how many, and the ids of the options chosen (each group of
    the item between its `min` and `max`; at most 20 a line, 50 an order, each once)."""

    menu_item_id: Id
    quantity: Quantity
    options: Annotated[list[Id], msgspec.Meta(max_length=MAX_LINE_OPTIONS)] = []


class OrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    """What a tablet sends: menu item ids and quantities only; the server prices the order."""

    items: Annotated[list[OrderLineIn], msgspec.Meta(min_length=1, max_length=50)]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class OrderStatusUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The status to move an order to (forward only)."""

    status: OrderStatus
