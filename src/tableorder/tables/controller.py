"""Tables for the staff: the floor with open sessions, set-up, close-session and history."""

from __future__ import annotations

import asyncio
import random
from datetime import date
from typing import Annotated, Any

import asyncpg
from litestar import Controller, Request, Response, delete, get, patch, post
from litestar.params import Parameter

from tableorder.documents import HistoryPage, Session, Table, TableMove
from tableorder.kit import LOCATION, PathId, created, raw_json
from tableorder.problems import AUTH_PROBLEMS, FieldError, ProblemError, conflict, found, not_found, problem_spec
from tableorder.security import Principal, api_key, hash_password
from tableorder.state import AppState
from tableorder.tables import queries
from tableorder.tables.schemas import SessionMove, TableCreate, TableUpdate

NO_TABLE = problem_spec("No such table in this store")
# How often a move tries before it answers 503 (each attempt that finds a row busy takes milliseconds).
MOVE_ATTEMPTS = 50


class AdminTableController(Controller):
    path = "/tables"
    tags = ["Admin: tables"]

    @get(operation_id="ListTables", security=api_key("tables:read"),
         summary="Every table with its open session (or null)", responses=AUTH_PROBLEMS)
    async def list_tables(self, state: AppState, principal: Principal) -> Response[list[Table]]:
        """Every table of the store by number, each with its open session (started when its first order was placed,
        with the order count and total) or null."""
        return raw_json(await queries.list_tables(state.pool, principal.store_id))

    @get("/{table_id:int}", operation_id="GetTable", security=api_key("tables:read"),
         summary="One table with its open session (or null)",
         responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def get_table(self, state: AppState, principal: Principal, table_id: PathId) -> Response[Table]:
        """One table with its open session, or null when nobody is seated."""
        document = await queries.get_table(state.pool, principal.store_id, table_id)
        return raw_json(found(document, "Table"))

    @post(operation_id="CreateTable", security=api_key("tables:write"),
          summary="Set up a table and its tablet password", response_headers=[LOCATION],
          responses={**AUTH_PROBLEMS, 409: problem_spec("The table number is taken")})
    async def create_table(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                           data: TableCreate) -> Response[Table]:
        """Set up a table: its number (1-999, unique in the store) and the password its tablet logs in with."""
        password_hash = await hash_password(data.password)
        try:
            document = await queries.create_table(state.pool, principal.store_id, data.number, password_hash)
        except asyncpg.UniqueViolationError as exc:
            raise conflict(f"Table {data.number} already exists.") from exc
        return created(request, document)

    @patch("/{table_id:int}", operation_id="UpdateTable", security=api_key("tables:write"),
           summary="Change a table's tablet password",
           responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def update_table(self, state: AppState, principal: Principal, table_id: PathId,
                           data: TableUpdate) -> Response[Table]:
        """Change a table's tablet password; the tablet's current tokens end at once and it must log in again."""
        password_hash = await hash_password(data.password)
        document = await queries.set_table_password(state.pool, principal.store_id, table_id, password_hash)
        document = found(document, "Table")
        state.credentials.changed_here(principal.store_id)
        return raw_json(document)

    @delete("/{table_id:int}", operation_id="DeleteTable", security=api_key("tables:write"),
            summary="Remove a table (its closed sessions and orders stay in the records)",
            responses={**AUTH_PROBLEMS, 404: NO_TABLE, 409: problem_spec("The table has an open session")})
    async def delete_table(self, state: AppState, principal: Principal, table_id: PathId) -> None:
        """Remove a table. A table with an open session cannot be removed (409: close the session first); its
        closed sessions and their orders stay in the records; its open staff calls are resolved (call.resolved)."""
        async with state.pool.acquire() as conn, conn.transaction():
            if not await queries.lock_table(conn, principal.store_id, table_id):
                raise not_found("Table")
            if await queries.has_open_session(conn, principal.store_id, table_id):
                raise conflict("The table has an open session; close it first.")
            # Its open staff calls (a party that never ordered) are answered first, so the board hears
            # call.resolved instead of keeping them until it reloads.
            await queries.resolve_calls(conn, principal.store_id, table_id)
            await queries.delete_table(conn, principal.store_id, table_id)
        state.credentials.changed_here(principal.store_id)

    @post("/{table_id:int}/close-session", operation_id="CloseTableSession", security=api_key("tables:write"),
          status_code=200,
          summary="이용 완료: close the table's session; its orders move to history",
          responses={**AUTH_PROBLEMS, 404: NO_TABLE, 409: problem_spec("The table has no open session")})
    async def close_session(self, state: AppState, principal: Principal, table_id: PathId) -> Response[Session]:
        """Close the table's open session (이용 완료) and answer with its summary: its orders move to history, the
        tablet's order list empties, and the next order opens a new session. Announced as
        `table.session_closed`. 409 when the table has no open session."""
        async with state.pool.acquire() as conn, conn.transaction():
            if not await queries.lock_table(conn, principal.store_id, table_id):
                raise not_found("Table")
            document = await queries.close_session(conn, principal.store_id, table_id)
            if document is not None:
                # The guests left: their open calls are answered too.
                await queries.resolve_calls(conn, principal.store_id, table_id)
        if document is None:
            raise conflict("The table has no open session.")
        return raw_json(document)

    @post("/{table_id:int}/move", operation_id="MoveTableSession", security=api_key("tables:write"),
          status_code=200,
          summary="Move the table's open session to another table, or merge it into that table's session",
          responses={**AUTH_PROBLEMS, 404: problem_spec("No such table (either one) in this store"),
                     409: problem_spec("The table has no open session (type `.../conflict`), or the merged "
                                       "session would hold more than SESSION_MAX_ORDERS orders (type "
                                       "`.../session-full`)"),
                     422: problem_spec("The target is the table itself, or another field is invalid"),
                     503: problem_spec("The tables stayed busy; try again after Retry-After seconds")})
    async def move_session(self, state: AppState, principal: Principal, table_id: PathId,
                           data: SessionMove) -> Response[TableMove]:
        """Move the table's open session to the table `to_table_id`: when that table has no open session the
        session itself moves there (`merged: false`); when it has one, this session's orders join it and the
        totals add up (`merged: true`; the session moved from leaves no record of its own). Orders (their
        table and number; their `updated_at` changes, their status does not), the running total and the table's
        open staff calls follow the guests (a call whose reason the target already has open is resolved).
        Announced once for each table as `table.session_moved`, on both tables' streams. 409 when the table has
        no open session."""
        if data.to_table_id == table_id:
            raise ProblemError(422, "A session cannot move to its own table.", slug="validation-error",
                               errors=[FieldError(field="to_table_id", message="must be another table")])
        max_orders: int = state.settings.session_max_orders
        for _ in range(MOVE_ATTEMPTS):
            try:
                async with state.pool.acquire() as conn, conn.transaction():
                    return raw_json(await _move(conn, principal.store_id, table_id, data.to_table_id, max_orders))
            except (asyncpg.LockNotAvailableError, asyncpg.DeadlockDetectedError):
                # A row it locks was busy (an order being placed, a status change, a ticket, a call):
                # nothing was kept; again in a moment, when that short transaction is done.
                await asyncio.sleep(random.uniform(0.01, 0.05))
        raise ProblemError(503, "The tables are busy; try the move again.", slug="service-unavailable",
                           headers={"Retry-After": "1"})

    @get("/{table_id:int}/history", operation_id="GetTableHistory", security=api_key("orders:read"),
         summary="Closed sessions with their orders, newest first; dates are the store's business days",
         responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def history(
        self, state: AppState, principal: Principal, table_id: PathId,
        from_date: Annotated[date | None, Parameter(query="from", description="First day (inclusive)")] = None,
        to_date: Annotated[date | None, Parameter(query="to", description="Last day (inclusive)")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> Response[HistoryPage]:
        """The table's closed sessions with their orders, newest first, a page at a time (`limit`, `offset`);
        `from` and `to` are business days in the store's time zone, both inclusive."""
        if from_date and to_date and from_date > to_date:
            raise ProblemError(422, "'from' must not be after 'to'.", slug="validation-error")
        document = await queries.history(state.reads, principal.store_id, table_id, from_date, to_date, limit,
                                         offset)
        return raw_json(found(document, "Table"))


async def _move(conn: asyncpg.Connection, store_id: int, from_id: int, to_id: int, max_orders: int) -> str:
    """One attempt at a move, inside a transaction: the TableMove document."""
    numbers = await queries.lock_tables(conn, store_id, from_id, to_id)
    if len(numbers) < 2:
        raise not_found("Table")
    sessions = await queries.open_sessions(conn, store_id, [from_id, to_id])
    source, target = sessions.get(from_id), sessions.get(to_id)
    if source is None:
        raise conflict("The table has no open session.")
    if target is not None and max_orders and await queries.orders_held(conn, store_id, [source, target]) > max_orders:
        raise ProblemError(409, f"Together the two sessions hold more than {max_orders} orders, the most one "
                                "session may hold; close one of them first.", slug="session-full")
    await queries.move_session(conn, store_id, source, target, from_id, (to_id, numbers[to_id]))
    from_table = await queries.table_document(conn, store_id, from_id)
    to_table = await queries.table_document(conn, store_id, to_id)
    merged = "true" if target is not None else "false"
    return f'{{"from_table":{from_table},"to_table":{to_table},"merged":{merged}}}'
