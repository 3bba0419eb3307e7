"""Every document the API and the event feed send: one home for each shape.

Most documents are built by PostgreSQL in one query and passed through as bytes (no decoding and
re-encoding per request). The SQL functions that build them live in `migrations/documents.sql`;
each Struct below names its function in `SQL`, and `tests/test_documents.py` proves that what each
function emits decodes strictly into its Struct, for every endpoint and every event type. The
Structs are what the OpenAPI and AsyncAPI documents declare; the few documents built in Python
(tokens, pages, keys) are built from these Structs too.

Domain packages import their output types from here and never from each other.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, ClassVar, Literal

import msgspec

from tableorder.kit import MAX_BIGINT, Id

OrderStatus = Literal["pending", "preparing", "completed", "cancelled"]
Won = Annotated[int, msgspec.Meta(ge=0, description="An amount in integer won")]
TableNumber = Annotated[int, msgspec.Meta(ge=1, le=999)]
Quantity = Annotated[int, msgspec.Meta(ge=1, le=99)]
Position = Annotated[int, msgspec.Meta(ge=0, le=MAX_BIGINT, description="The store's event position")]
# An instant with its UTC offset (RFC 3339; `format: date-time` in the documents' schemas).
Timestamp = Annotated[datetime, msgspec.Meta(tz=True)]


class Document(msgspec.Struct):
    """Base of the documents: `SQL` names the SQL function (migrations/documents.sql) that builds
    the document, or is empty when Python builds it from the Struct."""

    SQL: ClassVar[str] = ""


# --- stores and sign-in ------------------------------------------------------------------------------


class Store(Document):
    """A store (tenant)."""

    SQL: ClassVar[str] = "store_json"
    id: Id
    code: str
    name: str


class TableRef(Document):
    """A table by id and number."""

    id: Id
    number: TableNumber


class AdminToken(Document):
    """A staff sign-in: the bearer token and the store it works for."""

    access_token: str
    expires_in: int
    store: Store
    token_type: Literal["bearer"] = "bearer"


class TableToken(Document):
    """A tablet's sign-in: the bearer token, its store and its table."""

    access_token: str
    expires_in: int
    store: Store
    table: TableRef
    token_type: Literal["bearer"] = "bearer"


# --- orders ---------------------------------------------------------------------------------------------


class OrderLine(Document):
    """One line of an order: name, unit price and options are snapshots taken when it was placed (in the
    store's working language). `line_total` = (unit_price + the options' price_delta) × quantity."""

    menu_item_id: Id | None  # None once the menu item was deleted
    name: str
    unit_price: Won
    quantity: Quantity
    options: list[LineOption]
    line_total: Won


PriceDelta = Annotated[int, msgspec.Meta(ge=-10_000_000, le=10_000_000,
                                          description="What the option adds to the unit price, in integer won")]


class LineOption(Document):
    """An option chosen on an order line: a snapshot of its group, name and price when it was placed."""

    group: str
    name: str
    price_delta: PriceDelta


class Order(Document):
    """An order. Priced by the server; `order_no` is unique per store per business day."""

    SQL: ClassVar[str] = "order_json"
    id: Id
    order_no: Annotated[int, msgspec.Meta(ge=1)]
    table_id: Id | None  # None once the table was deleted
    table_number: TableNumber
    session_id: Id
    status: OrderStatus
    items: list[OrderLine]
    total_amount: Won
    note: str | None
    created_at: Timestamp
    updated_at: Timestamp


class Session(Document):
    """A table session with its totals; cancelled orders count in neither figure."""

    SQL: ClassVar[str] = "session_json"
    id: Id
    table_id: Id | None
    table_number: TableNumber
    started_at: Timestamp
    closed_at: Timestamp | None
    order_count: Annotated[int, msgspec.Meta(ge=0)]
    total_amount: Won


class TableOrders(Document):
    """A table's view: its open session (None before the first order), its total and its orders,
    newest first."""

    SQL: ClassVar[str] = "table_orders_json"
    session: Session | None
    total_amount: Won
    orders: list[Order]


class OrderPage(Document):
    """A page of orders, newest first; `next_cursor` (None on the last page) asks for the next one."""

    items: list[Order]
    next_cursor: str | None


# --- tables ---------------------------------------------------------------------------------------------


class Table(Document):
    """A table with its open session, if any."""

    SQL: ClassVar[str] = "table_json"
    id: Id
    number: TableNumber
    session: Session | None


class ClosedSession(Session):
    """A closed session of a table's history, with its orders, newest first."""

    SQL: ClassVar[str] = "closed_session_json"
    orders: list[Order]


class HistoryPage(Document):
    """A page of a table's closed sessions, newest first; go on from `offset + len(items)`."""

    SQL: ClassVar[str] = "history_page_json"
    items: list[ClosedSession]
    total: Annotated[int, msgspec.Meta(ge=0)]
    limit: Annotated[int, msgspec.Meta(ge=1)]
    offset: Annotated[int, msgspec.Meta(ge=0)]


class TableMove(Document):
    """Where a session went: both tables as they are now (the source without a session, the target with
    the moved or merged one) and whether it merged into a session the target already had."""

    from_table: Table
    to_table: Table
    merged: bool


# --- the store's settings -------------------------------------------------------------------------------

# The languages a menu may be kept in (`zh` is Simplified Chinese).
LanguageCode = Annotated[Literal["ko", "en", "ja", "zh"], msgspec.Meta(
    description="A language of the menu: ko (Korean), en (English), ja (Japanese), zh (Simplified Chinese)")]


class StoreSettings(Document):
    """A store as its staff set it up. `languages`: the languages its menu is kept in, the first being its
    working language (orders, the board and kitchen tickets use it); `business_day_ends_at`: the next
    midnight in the store's time zone (what "sold out until closing" means)."""

    SQL: ClassVar[str] = "store_settings_json"
    id: Id
    code: str
    name: str
    timezone: Annotated[str, msgspec.Meta(examples=["Asia/Seoul"])]
    languages: list[LanguageCode]
    business_day_ends_at: Timestamp


# --- the menu -------------------------------------------------------------------------------------------


class NameTranslation(Document):
    """A name in another language."""

    name: str


class ItemTranslation(Document):
    """A menu item's name and (when given) description in another language."""

    name: str
    description: str | msgspec.UnsetType = msgspec.UNSET


class Category(Document):
    """A menu category as staff manage it. `station_id`: the kitchen station its items are made at (an
    item may name its own); `translations`: its name in the store's other languages."""

    SQL: ClassVar[str] = "category_json"
    id: Id
    name: str
    sort_order: int
    station_id: Id | None
    translations: dict[LanguageCode, NameTranslation]


class Option(Document):
    """An option of an option group as staff manage it; `available: false` is sold out."""

    SQL: ClassVar[str] = "option_json"
    id: Id
    name: str
    price_delta: PriceDelta
    available: bool
    sort_order: int
    translations: dict[LanguageCode, NameTranslation]


class OptionGroup(Document):
    """A menu item's choice (맵기, 토핑, ...) as staff manage it: a line takes between `min` and `max` of its
    options (`min` ≥ 1: the group is required)."""

    SQL: ClassVar[str] = "option_group_json"
    id: Id
    name: str
    min: Annotated[int, msgspec.Meta(ge=0, le=20)]
    max: Annotated[int, msgspec.Meta(ge=1, le=20)]
    sort_order: int
    translations: dict[LanguageCode, NameTranslation]
    options: list[Option]


class MenuItem(Document):
    """A menu item as staff manage it; `available: false` is sold out, until `sold_out_until` when set
    (then it comes back by itself). `station_id` overrides its category's station."""

    SQL: ClassVar[str] = "menu_item_json"
    id: Id
    category_id: Id
    name: str
    description: str
    price: Won
    image_url: str | None
    sort_order: int
    available: bool
    sold_out_until: Timestamp | None
    station_id: Id | None
    translations: dict[LanguageCode, ItemTranslation]
    option_groups: list[OptionGroup]


class MenuOption(Document):
    """An option as a tablet shows it; `available: false` is sold out."""

    id: Id
    name: str
    price_delta: PriceDelta
    available: bool


class MenuOptionGroup(Document):
    """An option group as a tablet shows it: choose between `min` and `max` of its options (`min` ≥ 1:
    required)."""

    id: Id
    name: str
    min: Annotated[int, msgspec.Meta(ge=0, le=20)]
    max: Annotated[int, msgspec.Meta(ge=1, le=20)]
    options: list[MenuOption]


class MenuEntry(Document):
    """A menu item as a tablet shows it; `available: false` is sold out (until `sold_out_until`, when
    set)."""

    id: Id
    name: str
    description: str
    price: Won
    image_url: str | None
    sort_order: int
    available: bool
    sold_out_until: Timestamp | None
    option_groups: list[MenuOptionGroup]


class MenuCategory(Document):
    """A category of the tablet's menu with its items in display order."""

    id: Id
    name: str
    sort_order: int
    items: list[MenuEntry]


class MenuStore(Document):
    """The store a menu belongs to, with the languages its menu is kept in (the first is the working
    language)."""

    id: Id
    code: str
    name: str
    languages: list[LanguageCode]


class Menu(Document):
    """The tablet's whole menu in one `language`, categories, items, option groups and options in display
    order; names without a translation into it are in the store's working language."""

    SQL: ClassVar[str] = "menu_json"
    store: MenuStore
    language: LanguageCode
    categories: list[MenuCategory]


# --- kitchen stations and tickets ------------------------------------------------------------------------


class Station(Document):
    """A kitchen station (the kitchen, the bar): where the lines of the categories and items routed to
    it are made."""

    SQL: ClassVar[str] = "station_json"
    id: Id
    name: str
    sort_order: int


class TicketLine(Document):
    """A line of a ticket: what to make, how many, with which options."""

    name: str
    quantity: Quantity
    options: list[LineOption]


class Ticket(Document):
    """What one station makes for one order: the order's lines routed there and its note. `done_at` is
    None while it is open. `station_id` is None once the station was deleted (`station_name` stays);
    `table_id` None once the table was deleted."""

    SQL: ClassVar[str] = "ticket_json"
    id: Id
    order_id: Id
    order_no: Annotated[int, msgspec.Meta(ge=1)]
    table_id: Id | None
    table_number: TableNumber
    station_id: Id | None
    station_name: str
    note: str | None
    lines: list[TicketLine]
    created_at: Timestamp
    done_at: Timestamp | None


# --- staff calls ---------------------------------------------------------------------------------------

CallReason = Literal["water", "utensils", "bill", "help", "other"]


class Call(Document):
    """A table calling for staff (the tablet's `Call staff`), open until staff resolve it (`resolved_at`).
    A table has at most one open call per reason."""

    SQL: ClassVar[str] = "call_json"
    id: Id
    table_id: Id
    table_number: TableNumber
    reason: CallReason
    note: str | None
    created_at: Timestamp
    resolved_at: Timestamp | None


# --- event payloads -------------------------------------------------------------------------------------


class TableSessionClosed(Document):
    """The `data` of `table.session_closed`: the table, now without a session, and the session
    that closed."""

    SQL: ClassVar[str] = "session_closed_json"
    id: Id
    number: TableNumber
    session: None
    closed_session: Session


class MenuUpdated(Document):
    """The `data` of `menu.updated`: which category, item, option group or option changed (`store`: the
    store's languages); reload the menu."""

    SQL: ClassVar[str] = "menu_updated_json"
    entity: Literal["category", "menu_item", "option_group", "option", "store"]
    id: Id
    op: Literal["insert", "update", "delete"]


class TableSessionMoved(Document):
    """The `data` of `table.session_moved`, sent on both tables' streams: staff moved the open session of
    one table to another (`merged: false`: the target had none) or merged it into the target's open
    session (`merged: true`). `session_id` is the session the orders are in now. Reload the table's
    orders and calls."""

    SQL: ClassVar[str] = "session_moved_json"
    from_table_id: Id
    from_table_number: TableNumber
    to_table_id: Id
    to_table_number: TableNumber
    session_id: Id
    merged: bool


class Resync(Document):
    """The `data` of `resync`: the stream cannot resume from Last-Event-ID (ahead of the feed, no
    longer kept, or the table's session changed since); reload over REST and go on from this
    event's id."""

    cause: Literal["ahead", "not_kept", "session_changed"]
    reason: str


# The `data` of each event type of the feed (the admin stream, the table stream, webhooks).
EVENT_DATA: dict[str, type[Document]] = {
    "order.created": Order,
    "order.updated": Order,
    "order.cancelled": Order,
    "table.session_closed": TableSessionClosed,
    "menu.updated": MenuUpdated,
    "call.created": Call,
    "call.resolved": Call,
    "table.session_moved": TableSessionMoved,
    "ticket.created": Ticket,
    "ticket.done": Ticket,
    "resync": Resync,
}


# --- API keys -------------------------------------------------------------------------------------------

# What an API key may be allowed: each admin operation names the one it needs (its OpenAPI security).
ApiKeyScope = Literal["menu:read", "menu:write", "orders:read", "orders:write", "tables:read", "tables:write",
                      "events:read"]
ApiKeyPrefix = Annotated[str, msgspec.Meta(
    pattern="^[a-z0-9]{8}$", examples=["k3v9x2qa"],
    description="The key's public part (`tok_<prefix>_...`): names the key in lists and logs")]


class ApiKey(Document):
    """A store's API key as staff see it: never its secret (shown once, when the key is created)."""

    id: Id
    name: Annotated[str, msgspec.Meta(examples=["POS integration"])]
    scopes: list[ApiKeyScope]
    prefix: ApiKeyPrefix
    created_at: Timestamp
    last_used_at: Timestamp | None  # None until first used; updated about once a minute while in use


class ApiKeyCreated(ApiKey):
    """A new API key with its secret: store it now, it is never shown again (only its hash is kept)."""

    secret: Annotated[str, msgspec.Meta(
        pattern="^tok_[a-z0-9]{8}_[A-Za-z0-9_-]{43}$",
        examples=["tok_k3v9x2qa_8Jq2m0cXr4Zt6yWb1NnV5sLd7Hk3PfAe9Gu0Ti2Oo4E"],
        description="Send as `Authorization: Bearer <secret>`")]


# --- webhooks -------------------------------------------------------------------------------------------

# The event types of the store's feed a webhook endpoint can subscribe to.
WebhookEventType = Literal["order.created", "order.updated", "order.cancelled", "table.session_closed",
                           "menu.updated", "call.created", "call.resolved", "table.session_moved",
                           "ticket.created", "ticket.done"]


class WebhookEndpoint(Document):
    """A webhook endpoint as staff see it (never its secret). `delivered_position` is the last event
    position it is done with; while its next event fails, `failing_since` says since when and
    `next_attempt_at` when it is tried again. `disabled_reason` says why the service disabled it
    (one event failed for 24 hours)."""

    id: Id
    url: Annotated[str, msgspec.Meta(examples=["https://pos.example.com/hooks/tableorder"])]
    events: list[WebhookEventType]
    description: Annotated[str, msgspec.Meta(examples=["Kitchen display"])]
    enabled: bool
    disabled_reason: str | None
    delivered_position: Position
    failing_since: Timestamp | None
    next_attempt_at: Timestamp | None
    created_at: Timestamp
    updated_at: Timestamp


class WebhookEndpointCreated(WebhookEndpoint):
    """A webhook endpoint with its signing secret: in the answers that create it and rotate its
    secret, nowhere else."""

    secret: Annotated[str, msgspec.Meta(
        pattern="^whsec_[A-Za-z0-9+/]+=*$", examples=["whsec_MfKQ9r8GKYqXfH0l6dJ3iB9v1xW0yS2tZ7nE4cA5bU8="],
        description="Standard Webhooks secret: verify each delivery with it (e.g. `standardwebhooks.Webhook`)")]


class WebhookDelivery(Document):
    """One event sent (or being sent) to one endpoint. `webhook_id` is the `webhook-id` header the
    receiver dedupes by; `last_status` the HTTP status of the last answer (None: no answer, e.g. a
    timeout, a refused connection, an address not allowed), `last_error` what went wrong."""

    id: Id
    webhook_id: Annotated[str, msgspec.Meta(pattern="^[0-9]+:[0-9]+$", examples=["12:3456"])]
    position: Annotated[int, msgspec.Meta(ge=1, description="The store's event position")]
    event_type: WebhookEventType
    status: Literal["pending", "succeeded", "failed"]
    attempts: Annotated[int, msgspec.Meta(ge=0)]
    last_status: Annotated[int, msgspec.Meta(ge=100, le=599)] | None
    last_error: str | None
    created_at: Timestamp
    last_attempt_at: Timestamp | None
    succeeded_at: Timestamp | None
    next_attempt_at: Timestamp | None
    redeliver_requested_at: Timestamp | None


class WebhookDeliveryPage(Document):
    """An endpoint's deliveries, newest event first; `next_cursor` (None on the last page) asks for
    the next page."""

    items: list[WebhookDelivery]
    next_cursor: str | None
