"""Staff calls: a tablet calls staff and sees its open calls; staff see the store's and resolve them."""

from __future__ import annotations

from litestar import Controller, Response, get, post
from litestar.openapi.datastructures import ResponseSpec

from tableorder.calls import queries
from tableorder.calls.schemas import CallCreate
from tableorder.documents import Call
from tableorder.kit import PathId, raw_json
from tableorder.problems import AUTH_PROBLEMS, found, not_found, problem_spec
from tableorder.security import Principal, api_key
from tableorder.state import AppState


class GuestCallController(Controller):
    path = "/calls"
    tags = ["Guest"]

    @post(operation_id="CallStaff", status_code=201,
          summary="Call staff to this table (one open call per reason)",
          responses={**AUTH_PROBLEMS,
                     200: ResponseSpec(Call, description="The table already has an open call with this reason: "
                                                         "that call, unchanged (nothing new is recorded)"),
                     404: problem_spec("The table no longer exists")})
    async def call_staff(self, state: AppState, principal: Principal, data: CallCreate) -> Response[Call]:
        """Call staff to the calling table, with a reason (`water`, `utensils`, `bill`, `help`, `other`) and an
        optional note of at most 200 characters: 201 with the new call, announced as `call.created` on the staff's
        stream and this table's. While a call with that reason is open, pressing again is a 200 with that call as
        it is (two presses at once make one call). A table may call before anyone has ordered. Only staff resolve
        calls, so a table has at most five open calls."""
        result = await queries.create_call(state.pool, principal.store_id, principal.subject_id, data.reason,
                                           data.note)
        if result is None:
            raise not_found("Table")
        document, new = result
        return raw_json(document, status_code=201 if new else 200)

    @get(operation_id="ListTableCalls", summary="This table's open calls, oldest first",
         responses=AUTH_PROBLEMS)
    async def list_calls(self, state: AppState, principal: Principal) -> Response[list[Call]]:
        """The calling table's open calls, oldest first (at most one per reason), so a reloaded tablet shows
        them as pending until staff resolve them (`call.resolved` on the table's stream)."""
        return raw_json(await queries.table_calls(state.pool, principal.store_id, principal.subject_id))


class AdminCallController(Controller):
    path = "/calls"
    tags = ["Admin: calls"]

    @get(operation_id="ListCalls", security=api_key("orders:read"),
         summary="The store's open staff calls, oldest first", responses=AUTH_PROBLEMS)
    async def list_calls(self, state: AppState, principal: Principal) -> Response[list[Call]]:
        """Every open call of the store, oldest first (at most five per table: one per reason). New ones arrive
        as `call.created`, resolved ones as `call.resolved` on the store's stream."""
        return raw_json(await queries.store_calls(state.pool, principal.store_id))

    @post("/{call_id:int}/resolve", operation_id="ResolveCall", security=api_key("orders:write"), status_code=200,
          summary="Resolve a staff call (idempotent)",
          responses={**AUTH_PROBLEMS, 404: problem_spec("No such call in this store")})
    async def resolve(self, state: AppState, principal: Principal, call_id: PathId) -> Response[Call]:
        """Resolve a call: it leaves the board and the tablet, announced as `call.resolved`. Resolving a call
        already resolved (by another member of staff at the same moment, or by closing the table's session)
        answers 200 with the call as it is and records nothing."""
        document = await queries.resolve_call(state.pool, principal.store_id, call_id)
        return raw_json(found(document, "Call"))


__all__ = ["AdminCallController", "GuestCallController"]
