from datetime import datetime
from typing import Annotated

import msgspec

from tableorder.kit import Id
from tableorder.orders.schemas import OrderOut, SessionSummary

TableNumber = Annotated[int, msgspec.Meta(ge=1, le=999)]
TablePassword = Annotated[str, msgspec.Meta(min_length=4, max_length=128)]


class TableCreate(msgspec.Struct, forbid_unknown_fields=True):
    number: TableNumber
    password: TablePassword


class TableUpdate(msgspec.Struct, forbid_unknown_fields=True):
    password: TablePassword


class TableOut(msgspec.Struct):
    id: Id
    number: TableNumber
    session: SessionSummary | None


class ClosedSession(msgspec.Struct):
    id: Id
    table_id: Id | None
    table_number: TableNumber
    started_at: datetime
    closed_at: datetime | None
    order_count: int
    total_amount: int
    orders: list[OrderOut]


class HistoryPage(msgspec.Struct):
    items: list[ClosedSession]
    total: int
    limit: int
    offset: int


