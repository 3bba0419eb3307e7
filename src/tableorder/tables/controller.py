"""Tables for the staff: the floor with open sessions, set-up, close-session and history."""

from __future__ import annotations

from datetime import date
from typing import Annotated

import asyncpg
from litestar import Controller, Response, delete, get, patch, post
from litestar.params import Parameter

from tableorder.documents import HistoryPage, Session, Table
from tableorder.kit import PathId, raw_json
from tableorder.problems import AUTH_PROBLEMS, ProblemError, conflict, not_found, problem_spec
from tableorder.security import Principal, api_key, hash_password
from tableorder.state import AppState
from tableorder.tables import queries
from tableorder.tables.schemas import TableCreate, TableUpdate

NO_TABLE = problem_spec("No such table in this store")


class AdminTableController(Controller):
    path = "/tables"
    tags = ["Admin: tables"]

    @get(operation_id="ListTables", security=api_key("tables:read"),
         summary="Every table with its open session (or null)", responses=AUTH_PROBLEMS)
    async def list_tables(self, state: AppState, principal: Principal) -> Response[list[Table]]:
        return raw_json(await queries.list_tables(state.pool, principal.store_id))

    @get("/{table_id:int}", operation_id="GetTable", security=api_key("tables:read"),
         summary="One table with its open session (or null)",
         responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def get_table(self, state: AppState, principal: Principal, table_id: PathId) -> Response[Table]:
        document = await queries.get_table(state.pool, principal.store_id, table_id)
        if document is None:
            raise not_found("Table")
        return raw_json(document)

    @post(operation_id="CreateTable", security=api_key("tables:write"),
          summary="Set up a table and its tablet password",
          responses={**AUTH_PROBLEMS, 409: problem_spec("The table number is taken")})
    async def create_table(self, state: AppState, principal: Principal, data: TableCreate) -> Response[Table]:
        password_hash = await hash_password(data.password)
        try:
            document = await queries.create_table(state.pool, principal.store_id, data.number, password_hash)
        except asyncpg.UniqueViolationError as exc:
            raise conflict(f"Table {data.number} already exists.") from exc
        return raw_json(document, status_code=201)

    @patch("/{table_id:int}", operation_id="UpdateTable", security=api_key("tables:write"),
           summary="Change a table's tablet password",
           responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def update_table(self, state: AppState, principal: Principal, table_id: PathId,
                           data: TableUpdate) -> Response[Table]:
        password_hash = await hash_password(data.password)
        document = await queries.set_table_password(state.pool, principal.store_id, table_id, password_hash)
        if document is None:
            raise not_found("Table")
        state.credentials.changed_here(principal.store_id)
        return raw_json(document)

    @delete("/{table_id:int}", operation_id="DeleteTable", security=api_key("tables:write"),
            summary="Remove a table (its closed sessions and orders stay in the records)",
            responses={**AUTH_PROBLEMS, 404: NO_TABLE, 409: problem_spec("The table has an open session")})
    async def delete_table(self, state: AppState, principal: Principal, table_id: PathId) -> None:
        async with state.pool.acquire() as conn, conn.transaction():
            if not await queries.lock_table(conn, principal.store_id, table_id):
                raise not_found("Table")
            if await queries.has_open_session(conn, table_id):
                raise conflict("The table has an open session; close it first.")
            await queries.delete_table(conn, table_id)
        state.credentials.changed_here(principal.store_id)

    @post("/{table_id:int}/close-session", operation_id="CloseTableSession", security=api_key("tables:write"),
          status_code=200,
          summary="이용 완료: close the table's session; its orders move to history",
          responses={**AUTH_PROBLEMS, 404: NO_TABLE, 409: problem_spec("The table has no open session")})
    async def close_session(self, state: AppState, principal: Principal, table_id: PathId) -> Response[Session]:
        async with state.pool.acquire() as conn, conn.transaction():
            if not await queries.lock_table(conn, principal.store_id, table_id):
                raise not_found("Table")
            document = await queries.close_session(conn, table_id)
        if document is None:
            raise conflict("The table has no open session.")
        return raw_json(document)

    @get("/{table_id:int}/history", operation_id="GetTableHistory", security=api_key("tables:read"),
         summary="Closed sessions with their orders, newest first; dates are the store's business days",
         responses={**AUTH_PROBLEMS, 404: NO_TABLE})
    async def history(
        self, state: AppState, principal: Principal, table_id: PathId,
        from_date: Annotated[date | None, Parameter(query="from", description="First day (inclusive)")] = None,
        to_date: Annotated[date | None, Parameter(query="to", description="Last day (inclusive)")] = None,
        limit: Annotated[int, Parameter(ge=1, le=100)] = 20,
        offset: Annotated[int, Parameter(ge=0, le=1_000_000)] = 0,
    ) -> Response[HistoryPage]:
        if from_date and to_date and from_date > to_date:
            raise ProblemError(422, "'from' must not be after 'to'.", slug="validation-error")
        document = await queries.history(state.reads, principal.store_id, table_id, from_date, to_date, limit,
                                         offset)
        if document is None:
            raise not_found("Table")
        return raw_json(document)
