"""One real example of every document the API takes or sends, as the Struct itself.

The OpenAPI and AsyncAPI documents show these (`msgspec.to_builtins`), and tests/test_contract_lint.py
decodes each strictly into its type and checks that every schema of the documents has one: an
example here cannot drift from the type it shows. One story runs through them: store `seoul-bbq`,
table 7, an order of two items.
"""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from tableorder import documents as d
from tableorder.apikeys.schemas import ApiKeyCreate
from tableorder.auth.schemas import AdminLogin, PasswordChange, TableLogin
from tableorder.calls.schemas import CallCreate
from tableorder.events.catalog import FRAMES, STREAM_EVENTS, WebhookContext, WebhookHeaders
from tableorder.health import Health, Readiness
from tableorder.menu.schemas import (
    CategoryCreate,
    CategoryUpdate,
    MenuItemCreate,
    MenuItemUpdate,
    OptionCreate,
    OptionGroupCreate,
    OptionGroupUpdate,
    OptionUpdate,
    TranslatedItem,
    TranslatedName,
)
from tableorder.orders.schemas import OrderCreate, OrderLineIn, OrderStatusUpdate
from tableorder.problems import FieldError, Problem
from tableorder.stations.schemas import StationCreate, StationUpdate
from tableorder.stores.schemas import StoreUpdate
from tableorder.tables.schemas import SessionMove, TableCreate, TableUpdate
from tableorder.webhooks import schemas as w

PLACED = datetime(2026, 11, 28, 11, 42, 7, 120_000, tzinfo=UTC)
PREPARING = datetime(2026, 11, 28, 11, 44, 30, 5_000, tzinfo=UTC)
SEATED = datetime(2026, 11, 28, 11, 38, 2, 0, tzinfo=UTC)
CLOSED = datetime(2026, 11, 28, 12, 51, 40, 0, tzinfo=UTC)
TOKEN = ("eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIzIiwia2luZCI6ImFkbWluIiwic3RvcmVfaWQiOjF9."
         "4pcPyMD09olPSyXnrXCjTwXyr4BsezdI1AVTmud2fU4")

STORE = d.Store(id=1, code="seoul-bbq", name="서울 바베큐")
TABLE_7 = d.TableRef(id=12, number=7)
LINES = [
    d.OrderLine(menu_item_id=31, name="김치찌개", unit_price=9_000, quantity=2,
                options=[d.LineOption(group="맵기", name="매운맛", price_delta=0),
                         d.LineOption(group="토핑", name="치즈", price_delta=1_000)], line_total=20_000),
    d.OrderLine(menu_item_id=35, name="공기밥", unit_price=1_000, quantity=1, options=[], line_total=1_000),
]
ORDER = d.Order(id=1042, order_no=17, table_id=12, table_number=7, session_id=388, status="pending", items=LINES,
                total_amount=21_000, note="No spring onion, please", created_at=PLACED, updated_at=PLACED)
SESSION = d.Session(id=388, table_id=12, table_number=7, started_at=SEATED, closed_at=None, order_count=1,
                    total_amount=21_000)
CLOSED_SESSION = d.Session(id=388, table_id=12, table_number=7, started_at=SEATED, closed_at=CLOSED,
                           order_count=1, total_amount=21_000)
MENU_OPTION = d.MenuOption(id=88, name="Hot", price_delta=0, available=True)
MENU_OPTION_GROUP = d.MenuOptionGroup(id=21, name="Spiciness", min=1, max=1, options=[
    d.MenuOption(id=87, name="Mild", price_delta=0, available=True), MENU_OPTION])
ENTRY = d.MenuEntry(id=31, name="Kimchi stew", description="Kimchi stew with pork and tofu", price=9_000,
                    image_url="https://cdn.seoul-bbq.example/menu/kimchi-jjigae.jpg", sort_order=1,
                    available=True, sold_out_until=None, option_groups=[MENU_OPTION_GROUP])
MENU_CATEGORY = d.MenuCategory(id=4, name="Stews", sort_order=1, items=[ENTRY])
MENU_STORE = d.MenuStore(id=1, code="seoul-bbq", name="서울 바베큐", languages=["ko", "en"])
OPTION = d.Option(id=88, name="매운맛", price_delta=0, available=True, sort_order=2,
                  translations={"en": d.NameTranslation(name="Hot")})
OPTION_GROUP = d.OptionGroup(id=21, name="맵기", min=1, max=1, sort_order=0,
                             translations={"en": d.NameTranslation(name="Spiciness")},
                             options=[d.Option(id=87, name="순한맛", price_delta=0, available=True, sort_order=0,
                                               translations={"en": d.NameTranslation(name="Mild")}), OPTION])
ITEM_TRANSLATION = d.ItemTranslation(name="Kimchi stew", description="Kimchi stew with pork and tofu")
PROBLEM = Problem(type="urn:tableorder:problem:validation-error", title="Unprocessable Content", status=422,
                  detail="The request has invalid fields.",
                  errors=[FieldError(field="items[0].quantity", message="Expected `int` <= 99")],
                  instance="urn:tableorder:request:0c6f0a57-1f0e-4d44-9d0e-3b5f1a2f0c9b")
WEBHOOK = d.WebhookEndpoint(
    id=5, url="https://pos.example.com/hooks/tableorder", events=["order.created", "order.updated"],
    description="Kitchen display", enabled=True, disabled_reason=None, delivered_position=5120,
    failing_since=None, next_attempt_at=None, created_at=SEATED, updated_at=SEATED)
DELIVERY = d.WebhookDelivery(
    id=90211, webhook_id="1:5121", position=5121, event_type="order.created", status="succeeded", attempts=1,
    last_status=204, last_error=None, created_at=PLACED, last_attempt_at=PLACED, succeeded_at=PLACED,
    next_attempt_at=None, redeliver_requested_at=None)
API_KEY = d.ApiKey(id=3, name="POS integration", scopes=["orders:read", "events:read"], prefix="k3v9x2qa",
                   created_at=SEATED, last_used_at=PLACED)
CALL = d.Call(id=77, table_id=12, table_number=7, reason="water", note="Two glasses, please", created_at=PREPARING,
              resolved_at=None)
MOVED = d.TableSessionMoved(from_table_id=12, from_table_number=7, to_table_id=14, to_table_number=9,
                            session_id=388, merged=False)
KITCHEN = d.Station(id=2, name="주방", sort_order=0)
TICKET = d.Ticket(
    id=2210, order_id=1042, order_no=17, table_id=12, table_number=7, station_id=2, station_name="주방",
    note="No spring onion, please",
    lines=[d.TicketLine(name="김치찌개", quantity=2,
                        options=[d.LineOption(group="맵기", name="매운맛", price_delta=0)]),
           d.TicketLine(name="공기밥", quantity=1, options=[])],
    created_at=PLACED, done_at=None)

# The `data` of one event of each type, in the order of a table's visit.
PAYLOADS: dict[str, msgspec.Struct] = {
    "order.created": ORDER,
    "order.updated": msgspec.structs.replace(ORDER, status="preparing", updated_at=PREPARING),
    "order.cancelled": msgspec.structs.replace(ORDER, status="cancelled", updated_at=PREPARING),
    "table.session_closed": d.TableSessionClosed(id=12, number=7, session=None, closed_session=CLOSED_SESSION),
    "menu.updated": d.MenuUpdated(entity="menu_item", id=31, op="update"),
    "call.created": CALL,
    "call.resolved": msgspec.structs.replace(CALL, resolved_at=CLOSED),
    "table.session_moved": MOVED,
    "ticket.created": TICKET,
    "ticket.done": msgspec.structs.replace(TICKET, done_at=PREPARING),
    "resync": d.Resync(cause="not_kept", reason="events after Last-Event-ID are no longer kept; reload over REST"),
}
FIRST_POSITION = 5121

_ALL: list[msgspec.Struct] = [
    # sign-in
    AdminLogin(store_code="seoul-bbq", username="manager", password="correct horse battery"),
    TableLogin(store_code="seoul-bbq", table_number=7, password="table-7-pin"),
    PasswordChange(current_password="correct horse battery", new_password="staple-9-battery-horse"),
    d.AdminToken(access_token=TOKEN, expires_in=57_600, store=STORE),
    d.TableToken(access_token=TOKEN, expires_in=57_600, store=STORE, table=TABLE_7),
    STORE,
    TABLE_7,
    # orders
    OrderCreate(items=[OrderLineIn(menu_item_id=31, quantity=2, options=[88, 93]),
                       OrderLineIn(menu_item_id=35, quantity=1)],
                note="No spring onion, please"),
    OrderLineIn(menu_item_id=31, quantity=2, options=[88, 93]),
    OrderStatusUpdate(status="preparing"),
    ORDER,
    LINES[0],
    SESSION,
    d.TableOrders(session=SESSION, total_amount=21_000, orders=[ORDER]),
    d.OrderPage(items=[ORDER], next_cursor="AAXuQm2sWHAAAAAAAAAEEg"),
    # tables
    TableCreate(number=7, password="table-7-pin"),
    TableUpdate(password="new-table-7-pin"),
    d.Table(id=12, number=7, session=SESSION),
    d.ClosedSession(id=388, table_id=12, table_number=7, started_at=SEATED, closed_at=CLOSED, order_count=1,
                    total_amount=21_000,
                    orders=[msgspec.structs.replace(ORDER, status="completed", updated_at=CLOSED)]),
    d.HistoryPage(items=[], total=0, limit=20, offset=0),
    SessionMove(to_table_id=14),
    d.TableMove(from_table=d.Table(id=12, number=7, session=None),
                to_table=d.Table(id=14, number=9,
                                 session=msgspec.structs.replace(SESSION, table_id=14, table_number=9)),
                merged=False),
    # staff calls
    CallCreate(reason="water", note="Two glasses, please"),
    CALL,
    # the menu
    CategoryCreate(name="찌개", sort_order=1, translations={"en": TranslatedName(name="Stews")}),
    CategoryUpdate(name="찌개 (Stews)"),
    MenuItemCreate(category_id=4, name="김치찌개", price=9_000, description="돼지고기와 두부를 넣은 김치찌개",
                   image_url="https://cdn.seoul-bbq.example/menu/kimchi-jjigae.jpg", sort_order=1,
                   translations={"en": TranslatedItem(name="Kimchi stew",
                                                      description="Kimchi stew with pork and tofu")}),
    MenuItemUpdate(available=False, sold_out_until=datetime(2026, 11, 28, 15, 0, tzinfo=UTC)),
    TranslatedName(name="Stews"),
    TranslatedItem(name="Kimchi stew", description="Kimchi stew with pork and tofu"),
    d.Category(id=4, name="찌개", sort_order=1, station_id=2, translations={"en": d.NameTranslation(name="Stews")}),
    d.MenuItem(id=31, category_id=4, name="김치찌개", description="돼지고기와 두부를 넣은 김치찌개", price=9_000,
               image_url="https://cdn.seoul-bbq.example/menu/kimchi-jjigae.jpg", sort_order=1, available=True,
               sold_out_until=None, station_id=None, translations={"en": ITEM_TRANSLATION},
               option_groups=[OPTION_GROUP]),
    d.NameTranslation(name="Stews"),
    ITEM_TRANSLATION,
    OptionGroupCreate(name="맵기", min=1, max=1, translations={"en": TranslatedName(name="Spiciness")}),
    OptionGroupUpdate(max=2),
    OptionCreate(name="매운맛", price_delta=0, sort_order=2, translations={"en": TranslatedName(name="Hot")}),
    OptionUpdate(available=False),
    OPTION_GROUP,
    OPTION,
    ENTRY,
    MENU_OPTION_GROUP,
    MENU_OPTION,
    MENU_CATEGORY,
    MENU_STORE,
    d.Menu(store=MENU_STORE, language="en", categories=[MENU_CATEGORY]),
    # the store's settings
    d.StoreSettings(id=1, code="seoul-bbq", name="서울 바베큐", timezone="Asia/Seoul", languages=["ko", "en"],
                    business_day_ends_at=datetime(2026, 11, 28, 15, 0, tzinfo=UTC)),
    StoreUpdate(languages=["ko", "en", "ja", "zh"]),
    # kitchen stations and tickets
    StationCreate(name="주방", sort_order=0),
    StationUpdate(name="주방 (Kitchen)"),
    KITCHEN,
    TICKET,
    TICKET.lines[0],
    TICKET.lines[0].options[0],
    # event payloads and events
    *PAYLOADS.values(),
    *(STREAM_EVENTS[event_type](position=FIRST_POSITION + i, data=payload)
      for i, (event_type, payload) in enumerate(PAYLOADS.items())),
    *(FRAMES[event_type](id=str(FIRST_POSITION + i), data=msgspec.json.encode(payload).decode())
      for i, (event_type, payload) in enumerate(PAYLOADS.items())),
    WebhookContext(store_id=STORE.id, created_at=PLACED),
    WebhookHeaders(webhook_id=f"{STORE.id}:{FIRST_POSITION}", webhook_timestamp="1795866127",
                   webhook_signature="v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4="),
    # API keys and webhooks
    ApiKeyCreate(name="POS integration", scopes=["orders:read", "events:read"]),
    API_KEY,
    d.ApiKeyCreated(id=3, name="POS integration", scopes=["orders:read", "events:read"], prefix="k3v9x2qa",
                    created_at=SEATED, last_used_at=None,
                    secret="tok_k3v9x2qa_8Jq2m0cXr4Zt6yWb1NnV5sLd7Hk3PfAe9Gu0Ti2Oo4E"),
    w.WebhookCreate(url="https://pos.example.com/hooks/tableorder", events=["order.created", "order.updated"],
                    description="Kitchen display"),
    w.WebhookUpdate(enabled=True),
    WEBHOOK,
    d.WebhookEndpointCreated(**msgspec.structs.asdict(WEBHOOK),
                             secret="whsec_MfKQ9r8GKYqXfH0l6dJ3iB9v1xW0yS2tZ7nE4cA5bU8="),
    DELIVERY,
    d.WebhookDeliveryPage(items=[DELIVERY], next_cursor=None),
    # problems and health
    PROBLEM,
    PROBLEM.errors[0] if PROBLEM.errors else FieldError(field="", message=""),
    Health(status="ok"),
    Readiness(status="ready", streams=14, feeds=3, replica_reads=1_204, primary_reads=17, event_bus="postgres",
              relay="standby"),
]

# The first example of each type is the one shown.
EXAMPLES: dict[type, msgspec.Struct] = {}
for _example in _ALL:
    EXAMPLES.setdefault(type(_example), _example)
