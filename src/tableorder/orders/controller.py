"""Orders: tablets place and follow theirs; staff move them along or cancel them."""

from __future__ import annotations

import base64
import hashlib
import re
import struct
from datetime import UTC, date, datetime, timedelta
from typing import Annotated, Any, Literal

import asyncpg
import msgspec
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.connection import ASGIConnection
from litestar.datastructures import ResponseHeader
from litestar.params import HeaderParameter, Parameter
from litestar.types import Receive, Scope, Send

from tableorder import request_id
from tableorder.documents import Order, OrderPage, OrderStatus, TableOrders
from tableorder.kit import MAX_BIGINT, PathId, raw_json
from tableorder.orders import queries
from tableorder.orders.schemas import MAX_ORDER_OPTIONS, OrderCreate, OrderStatusUpdate
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, conflict, found, not_found, problem_spec
from tableorder.security import Principal, api_key, table_principal
from tableorder.state import AppState

IdempotencyKey = Annotated[
    str | None,
    HeaderParameter(name="Idempotency-Key", min_length=1, max_length=255, required=False,
              description="Retries with the same key and body return the first order instead of a new one."),
]
# Sent (only) when an Idempotency-Key brought back the order it first placed.
REPLAYED = ResponseHeader(name="Idempotent-Replayed", value="true", documentation_only=True,
                          description="`true` when this is the order an earlier request with the same "
                                      "Idempotency-Key placed (nothing new was ordered); absent otherwise")


class _OptionProblem(msgspec.Struct):
    """One problem place_order() found with a line's options (migration 0009)."""

    line: int  # 0-based
    problem: Literal["unknown", "other_item", "unavailable", "too_few", "too_many", "price_out_of_range"]
    option_id: int | None = None
    group: str | None = None
    option: str | None = None
    min: int | None = None
    max: int | None = None

    def message(self) -> str:
        match self.problem:
            case "unknown":
                return f"option {self.option_id} does not exist"
            case "other_item":
                return f"option {self.option_id} ({self.group}: {self.option}) is not an option of this item"
            case "unavailable":
                return f"{self.group}: {self.option} is sold out"
            case "too_few" if self.min == self.max:
                return f"{self.group}: choose {self.min}"
            case "too_few":
                return f"{self.group}: choose at least {self.min}"
            case "too_many":
                return f"{self.group}: choose at most {self.max}"
        return "the options take the line's price below zero or add more than 10,000,000 won"


class _Unorderable(msgspec.Struct):
    unknown: list[int] = []
    unavailable: list[int] = []
    options: list[_OptionProblem] = []


def _unorderable(data: OrderCreate, detail: str | None) -> ProblemError:
    named = msgspec.json.decode(detail or "{}", type=_Unorderable)
    if named.options:
        return ProblemError(422, "Some lines' options cannot be ordered.", slug="unorderable-items", errors=[
            FieldError(field=f"items[{problem.line}].options", message=problem.message())
            for problem in named.options])
    unknown, sold_out = set(named.unknown), set(named.unavailable)
    errors = [
        FieldError(field=f"items[{i}].menu_item_id",
                   message=f"menu item {line.menu_item_id} " + ("does not exist" if line.menu_item_id in unknown
                                                                else "is sold out"))
        for i, line in enumerate(data.items)
        if line.menu_item_id in unknown or line.menu_item_id in sold_out
    ]
    return ProblemError(422, "Some menu items cannot be ordered.", slug="unorderable-items", errors=errors)


def _option_errors(data: OrderCreate) -> list[FieldError]:
    """What the body's schema cannot say: each option once a line, and at most MAX_ORDER_OPTIONS an order."""
    errors = [FieldError(field=f"items[{i}].options", message="each option may be chosen once a line")
              for i, line in enumerate(data.items) if len(set(line.options)) != len(line.options)]
    if sum(len(line.options) for line in data.items) > MAX_ORDER_OPTIONS:
        errors.append(FieldError(field="items", message=f"at most {MAX_ORDER_OPTIONS} options an order"))
    return errors


def _check_options(data: OrderCreate) -> None:
    if errors := _option_errors(data):
        raise ProblemError(422, "The request has invalid fields.", slug="validation-error", errors=errors)


def _request_hash(data: OrderCreate) -> bytes:
    """The body as the Idempotency-Key remembers it: a line's options in any order are the same choice."""
    normal = msgspec.structs.replace(data, items=[
        msgspec.structs.replace(line, options=sorted(line.options)) for line in data.items])
    return hashlib.sha256(msgspec.json.encode(normal)).digest()


def _session_full(limit: int) -> ProblemError:
    # No Retry-After: waiting does not help, staff closing the session does.
    return ProblemError(
        409, f"This table's session already holds {limit} orders, the most one session may hold; "
             "ask staff to close the session, and order again.", slug="session-full")


def _too_many_orders(limit: int, detail: str | None) -> ProblemError:
    retry_after = msgspec.json.decode(detail or "{}", type=dict[str, int]).get("retry_after", 60)
    return ProblemError(
        429, f"This table placed {limit} orders within the last minute; try again in {retry_after} s.",
        slug="too-many-orders", headers={"Retry-After": str(retry_after)})


# The cursor of GET /admin/orders: the (created_at, id) key of a page's last order, as 16 bytes
# (microseconds since the epoch, id) in unpadded base64url. Opaque to clients.
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_CURSOR = re.compile(r"[A-Za-z0-9_-]{22}")


def _encode_cursor(after: tuple[datetime, int]) -> str:
    created_at, order_id = after
    micros = (created_at - _EPOCH) // timedelta(microseconds=1)
    return base64.urlsafe_b64encode(struct.pack(">qq", micros, order_id)).rstrip(b"=").decode()


# An RFC 3339 date-time with its offset (what `updated_at` is written as); nothing looser, such as a
# bare number of seconds.
_RFC3339 = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?(Z|[+-]\d{2}:\d{2})$"


def _instant(text: str) -> datetime:
    try:
        if re.fullmatch(_RFC3339, text):
            return datetime.fromisoformat(text)
    except ValueError:
        pass
    raise ProblemError(422, "'updated_since' is not an RFC 3339 time with an offset.", slug="validation-error",
                       errors=[FieldError(field="query.updated_since", message="Give a time like "
                                          "2026-11-29T09:00:00Z or 2026-11-29T18:00:00.123+09:00.")])


def _decode_cursor(cursor: str) -> tuple[datetime, int]:
    """Any cursor of the documented form is a position (one this API did not give out starts at its
    time, clamped to the dates Python can hold); only a malformed one is 422."""
    if not _CURSOR.fullmatch(cursor):
        raise ProblemError(422, "The cursor is not one this API gave out.", slug="validation-error", errors=[
            FieldError(field="query.cursor", message="Pass the next_cursor of the previous page as it is.")])
    micros, order_id = struct.unpack(">qq", base64.urlsafe_b64decode(cursor + "=="))
    try:
        return _EPOCH + timedelta(microseconds=micros), order_id
    except OverflowError:
        return (datetime.max if micros > 0 else datetime.min).replace(tzinfo=UTC), order_id


async def _place(state: Any, principal: Principal, data: OrderCreate,
                 idempotency_key: str | None) -> asyncpg.Record:
    """One call of place_order() for a checked order (the lean path's and the handler's)."""
    # What an Idempotency-Key remembers; without a key nothing reads it (the SQL stores it with the key).
    request_hash = _request_hash(data) if idempotency_key is not None else b""
    settings = state.settings
    items = data.items
    return await queries.place_order(
        state.pool, principal.store_id, principal.subject_id,
        [line.menu_item_id for line in items], [line.quantity for line in items],
        data.note, idempotency_key, request_hash, settings.order_rate_limit_per_minute, settings.session_max_orders,
        [i for i, line in enumerate(items, start=1) for _ in line.options],
        [option for line in items for option in line.options])


# Where serve_order leaves what place_order() raised for the handler to answer (it is not called again).
_OUTCOME = "tableorder.order_outcome"
_JSON = b"application/json"
_DECODER = msgspec.json.Decoder(OrderCreate)


async def serve_order(scope: Scope, receive: Receive, send: Send, header: request_id.Header,
                      pass_on: request_id.PassOn) -> None:
    """POST /orders before the framework (request_id.LeanHandler): a table token that holds and a plain
    valid order (a JSON body the Struct takes strictly, options each once, an Idempotency-Key the
    header's rules allow) is placed here and answered 201, as the handler below answers it. Anything
    else goes to the application, body and all, which answers or refuses it as every route does: no
    token or a refused one, any other body, a CORS request, a Host Litestar refuses, a body without a
    Content-Length or over MAX_REQUEST_BYTES.

    When place_order() raises (a refusal such as a sold-out item, or a database fault whose outcome
    cannot be known), the exception goes with the request to the handler, which answers it as its
    own and does not call place_order() again: an order is never placed twice by the fallback.

    The tablets' write: Litestar's routing, dependency injection, body extraction and Response cost an
    order more Python than all the rest of its path (counted with cachegrind, docs/order-path.md)."""
    state = scope["litestar_app"].state
    length = -1
    idempotency_key: str | None = None
    content_type: bytes | None = None
    for name, value in scope["headers"]:  # one pass for every header looked at
        if name == b"content-length":
            if length >= 0 or not value.isdigit():
                return await pass_on(scope, receive, send, header)
            length = int(value)
        elif name == b"content-type":
            if content_type is not None:
                return await pass_on(scope, receive, send, header)
            content_type = value
        elif name == b"idempotency-key":
            if idempotency_key is not None or not 1 <= len(value) <= 255:
                return await pass_on(scope, receive, send, header)
            idempotency_key = value.decode("latin-1")
        elif name == b"host":
            if not request_id.valid_host(value):
                return await pass_on(scope, receive, send, header)  # Litestar's 400
        elif name == b"origin":
            return await pass_on(scope, receive, send, header)  # CORS: the application's CORS layer
    json = content_type is not None and (
        content_type == _JSON or content_type.partition(b";")[0].strip().lower() == _JSON)
    if not json or length < 0 or length > state["settings"].max_request_bytes:
        return await pass_on(scope, receive, send, header)
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return  # the client is gone: nothing to answer, nothing placed
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    try:
        principal = await table_principal(ASGIConnection(scope))
        data = _DECODER.decode(body)
    except Exception:  # the application works it out again and answers with its problem
        return await pass_on(scope, request_id.replay(body, receive), send, header)
    if _option_errors(data):
        return await pass_on(scope, request_id.replay(body, receive), send, header)
    try:
        row = await _place(state, principal, data, idempotency_key)
    except Exception as exc:
        scope[_OUTCOME] = exc  # type: ignore[literal-required]
        return await pass_on(scope, request_id.replay(body, receive), send, header)
    document: bytes = row["order_doc"].encode()
    headers = [(b"content-type", _JSON), (b"content-length", b"%d" % len(document)), header]
    if row["replayed"]:
        headers.append((b"idempotent-replayed", b"true"))
    await send({"type": "http.response.start", "status": 201, "headers": headers})
    await send({"type": "http.response.body", "body": document, "more_body": False})


class GuestOrderController(Controller):
    path = "/orders"
    tags = ["Guest"]

    @post(operation_id="PlaceOrder", status_code=201, summary="Place an order for this table",
          response_headers=[REPLAYED], opt={request_id.LEAN: serve_order},
          responses={**AUTH_PROBLEMS, 404: problem_spec("The table no longer exists"),
                     409: problem_spec("Idempotency-Key reused with a different body (type `.../conflict`), or "
                                       "the table's session holds SESSION_MAX_ORDERS orders and staff must close "
                                       "it first (type `.../session-full`)"),
                     429: problem_spec("The table placed ORDER_RATE_LIMIT_PER_MINUTE orders within the last "
                                       "60 seconds; Retry-After gives the seconds until it may order again")})
    async def place_order(self, request: Request[Any, Any, Any], state: AppState, principal: Principal,
                          data: OrderCreate, idempotency_key: IdempotencyKey = None) -> Response[Order]:
        """Place an order for the calling table: menu item ids, quantities and the options chosen only; the server
        prices every line from the menu at this moment (`line_total` = (unit price + the options' `price_delta`)
        × quantity) and keeps those prices. The first order of a table with no open session
        opens one. Send an `Idempotency-Key` to retry safely: the same key and body give the same order again
        (with `Idempotent-Replayed: true`), the same key with another body (other options included) is a 409.
        Unknown or sold-out items are a 422 naming each line; options that are unknown, of another item, sold out,
        chosen twice, or too few or too many for a group are a 422 naming the line (`items[0].options`) and
        the group. Nothing is ordered then."""
        # A plain valid order is placed before this (serve_order); here come every other body, and the
        # orders place_order() refused or failed there, answered from what it raised.
        _check_options(data)
        rate_limit: int = state.settings.order_rate_limit_per_minute
        max_orders: int = state.settings.session_max_orders
        outcome: Exception | None = request.scope.pop(_OUTCOME, None)  # type: ignore[misc]
        try:
            if outcome is not None:
                raise outcome
            row = await _place(state, principal, data, idempotency_key)
        except asyncpg.PostgresError as exc:
            match exc.sqlstate:
                case queries.UNORDERABLE:
                    raise _unorderable(data, exc.detail) from exc
                case queries.KEY_REUSED:
                    raise conflict("This Idempotency-Key was already used with a different request.") from exc
                case queries.TABLE_NOT_FOUND:
                    raise not_found("Table") from exc
                case queries.SESSION_FULL:
                    raise _session_full(max_orders) from exc
                case queries.TOO_MANY_ORDERS:
                    raise _too_many_orders(rate_limit, exc.detail) from exc
            raise
        headers = {"Idempotent-Replayed": "true"} if row["replayed"] else None
        return raw_json(row["order_doc"], status_code=201, headers=headers)

    @get(operation_id="ListTableOrders",
         summary="This table's open session: its orders (at most SESSION_MAX_ORDERS), newest first, and total",
         responses=AUTH_PROBLEMS)
    async def list_orders(self, state: AppState, principal: Principal) -> Response[TableOrders]:
        """The calling table's open session with its orders, newest first, and the session total (cancelled orders
        count in no total). Empty once staff close the session."""
        document = await queries.table_orders(state.pool, principal.store_id, principal.subject_id)
        # The bytes as PostgreSQL built them, typed Any here so the annotation above (what the OpenAPI
        # document declares) stays TableOrders.
        response: Response[Any] = Response(content=document, media_type="application/json")
        return response


class AdminOrderController(Controller):
    path = "/orders"
    tags = ["Admin: orders"]

    @get(operation_id="ListOrders", security=api_key("orders:read"),
         summary="Orders, newest first, a page at a time: the open sessions' by default; with "
                 "`closed_sessions=true` also history, for reconciliation with `from`, `to`, `updated_since`",
         responses=AUTH_PROBLEMS)
    async def list_orders(
        self, state: AppState, principal: Principal, status: OrderStatus | None = None,
        table_id: Annotated[int | None, Parameter(ge=1, le=MAX_BIGINT)] = None,
        closed_sessions: Annotated[bool, Parameter(
            description="Also orders of closed sessions (settled history)")] = False,
        from_date: Annotated[date | None, Parameter(
            query="from", description="Placed on or after this business day (the store's time zone)")] = None,
        to_date: Annotated[date | None, Parameter(
            query="to", description="Placed on or before this business day (the store's time zone)")] = None,
        updated_since: Annotated[str | None, Parameter(
            pattern=_RFC3339, schema_extra={"format": "date-time"},
            description="Only orders changed (placed or moved) after this instant, an RFC 3339 time with its "
                        "offset, e.g. the `updated_at` of the newest order the previous reconciliation saw")] = None,
        limit: Annotated[int, Parameter(ge=1, le=500, description="Orders per page")] = 100,
        cursor: Annotated[str | None, Parameter(
            pattern=r"^[A-Za-z0-9_-]{22}$",
            description="The previous page's `next_cursor`, for the page after it")] = None,
    ) -> Response[OrderPage]:
        """Orders of the store, newest first, a page at a time (follow `next_cursor`). By default the orders of
        open sessions, as the board shows them; filter by status or table, and for reconciliation include closed
        sessions, restrict to business days (`from`, `to`) or to orders changed after `updated_since`."""
        if from_date and to_date and from_date > to_date:
            raise ProblemError(422, "'from' must not be after 'to'.", slug="validation-error", errors=[
                FieldError(field="query.from", message="must not be after 'to'")])
        since = _instant(updated_since) if updated_since is not None else None
        after = _decode_cursor(cursor) if cursor is not None else None
        where = queries.OrderFilter(status=status, table_id=table_id, closed_sessions=closed_sessions,
                                    from_day=from_date, to_day=to_date, updated_since=since)
        page = await queries.list_orders(state.pool, principal.store_id, where, limit, after)
        next_cursor = f'"{_encode_cursor(page.after)}"' if page.after is not None else "null"
        return raw_json(f'{{"items":[{",".join(page.documents)}],"next_cursor":{next_cursor}}}')

    @get("/{order_id:int}", operation_id="GetOrder", security=api_key("orders:read"),
         summary="One order, of an open or a closed session",
         responses={**AUTH_PROBLEMS, 404: problem_spec("No such order in this store")})
    async def get_order(self, state: AppState, principal: Principal, order_id: PathId) -> Response[Order]:
        """One order of the store, whether its session is open or closed."""
        document = await queries.get_order(state.pool, principal.store_id, order_id)
        return raw_json(found(document, "Order"))

    @patch("/{order_id:int}", operation_id="UpdateOrderStatus", security=api_key("orders:write"),
           summary="Move an order's status forward",
           responses={**AUTH_PROBLEMS, 404: problem_spec("No such order in this store"),
                      409: problem_spec("A backward move, a move out of a final status, or an order of a closed "
                                        "session (settled history)")})
    async def update_status(self, state: AppState, principal: Principal, order_id: PathId,
                            data: OrderStatusUpdate) -> Response[Order]:
        """Move an order forward: pending → preparing → completed (or to cancelled, as DELETE does). A move
        backwards, out of a final status, or on an order of a closed session is a 409. The change reaches every
        board and the table's tablet as an `order.updated` event."""
        return raw_json(await _set_status(state, principal, order_id, data.status))

    @delete("/{order_id:int}", operation_id="CancelOrder", security=api_key("orders:write"), status_code=200,
            summary="Cancel an order (it stays in history and counts in no total)",
            responses={**AUTH_PROBLEMS, 404: problem_spec("No such order in this store"),
                       409: problem_spec("The order is already completed, or its session is closed")})
    async def cancel_order(self, state: AppState, principal: Principal, order_id: PathId) -> Response[Order]:
        """Cancel an order that is not completed: it stays in the records with status `cancelled` and counts in no
        total. Orders of a closed session are final (409). Announced as `order.cancelled`."""
        return raw_json(await _set_status(state, principal, order_id, "cancelled"))


async def _set_status(state: AppState, principal: Principal, order_id: int, status: str) -> str:
    try:
        document = await queries.set_status(state.pool, principal.store_id, order_id, status)
    except asyncpg.PostgresError as exc:
        if exc.sqlstate == queries.NOT_MOVABLE:
            raise conflict(f"The order cannot move to '{status}': {exc.args[0] if exc.args else ''}.") from exc
        raise
    return found(document, "Order")


__all__ = ["AdminOrderController", "GuestOrderController"]
