"""What clients send about orders (the documents sent back are in tableorder.documents)."""

from typing import Annotated

import msgspec

from tableorder.documents import OrderStatus, Quantity
from tableorder.kit import Id


class OrderLineIn(msgspec.Struct, forbid_unknown_fields=True):
    """One line of a new order: which menu item and how many."""

    menu_item_id: Id
    quantity: Quantity


class OrderCreate(msgspec.Struct, forbid_unknown_fields=True):
    """What a tablet sends: menu item ids and quantities only; the server prices the order."""

    items: Annotated[list[OrderLineIn], msgspec.Meta(min_length=1, max_length=50)]
    note: Annotated[str, msgspec.Meta(max_length=500)] | None = None


class OrderStatusUpdate(msgspec.Struct, forbid_unknown_fields=True):
    """The status to move an order to (forward only)."""

    status: OrderStatus
