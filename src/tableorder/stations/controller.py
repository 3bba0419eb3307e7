"""Kitchen stations for the staff, and their tickets for the kitchen display.

Stations are part of the menu's set-up (scopes `menu:read`, `menu:write`); tickets are part of the
orders' flow (`orders:read` to list, `orders:write` to mark done), so a kitchen display can run on an
API key holding `orders:read` and `orders:write`.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from litestar import Controller, Request, Response, delete, get, patch, post

from tableorder.documents import Station, Ticket
from tableorder.kit import LOCATION, PathId, changed_fields, created, raw_json
from tableorder.problems import AUTH_PROBLEMS, conflict, found, not_found, problem_spec
from tableorder.security import Principal, api_key
from tableorder.state import AppState
from tableorder.stations import queries
from tableorder.stations.schemas import StationCreate, StationUpdate

NO_STATION = problem_spec("No such station in this store")
NAME_TAKEN = "A station of this store already has that name."


class AdminStationController(Controller):
    path = "/stations"
    tags = ["Admin: kitchen"]

    @get(operation_id="ListStations", security=api_key("menu:read", "orders:read"),
         summary="Kitchen stations in display order", responses=AUTH_PROBLEMS)
    async def list_stations(self, state: AppState, principal: Principal) -> Response[list[Station]]:
        """Every kitchen station of the store in display order (`sort_order`, then id)."""
        return raw_json(await queries.list_stations(state.pool, principal.store_id))

    @get("/{station_id:int}", operation_id="GetStation", security=api_key("menu:read", "orders:read"),
         summary="One kitchen station", responses={**AUTH_PROBLEMS, 404: NO_STATION})
    async def get_station(self, state: AppState, principal: Principal, station_id: PathId) -> Response[Station]:
        """One kitchen station of the store."""
        return raw_json(found(await queries.get_station(state.pool, principal.store_id, station_id), "Station"))

    @post(operation_id="CreateStation", security=api_key("menu:write"), summary="Add a kitchen station",
          response_headers=[LOCATION],
          responses={**AUTH_PROBLEMS, 409: problem_spec(
              f"The name is taken, or the store already has {queries.MAX_STATIONS} stations")})
    async def create_station(self, state: AppState, request: Request[Any, Any, Any], principal: Principal,
                             data: StationCreate) -> Response[Station]:
        """Add a kitchen station (the kitchen, the bar), at most 20 per store, names unique in the store. Route a
        category to it with the category's `station_id` (an item may override its category's). Orders placed
        from then on make one ticket per station their lines go to; orders placed before make none."""
        async with state.pool.acquire() as conn:
            try:
                document = await queries.create_station(conn, principal.store_id, data.name, data.sort_order)
            except asyncpg.UniqueViolationError as exc:
                raise conflict(NAME_TAKEN) from exc
        if document is None:
            raise conflict(f"This store already has {queries.MAX_STATIONS} stations, the most it may have; "
                           "delete one to add another.")
        return created(request, document)

    @patch("/{station_id:int}", operation_id="UpdateStation", security=api_key("menu:write"),
           summary="Rename or reorder a kitchen station",
           responses={**AUTH_PROBLEMS, 404: NO_STATION, 409: problem_spec("The name is taken")})
    async def update_station(self, state: AppState, principal: Principal, station_id: PathId,
                             data: StationUpdate) -> Response[Station]:
        """Rename or reorder a station; only the fields sent change. Tickets already made keep the name they were
        made with."""
        try:
            document = await queries.update_station(state.pool, principal.store_id, station_id, changed_fields(data))
        except asyncpg.UniqueViolationError as exc:
            raise conflict(NAME_TAKEN) from exc
        return raw_json(found(document, "Station"))

    @delete("/{station_id:int}", operation_id="DeleteStation", security=api_key("menu:write"),
            summary="Delete a kitchen station (its categories and items then route to no station)",
            responses={**AUTH_PROBLEMS, 404: NO_STATION})
    async def delete_station(self, state: AppState, principal: Principal, station_id: PathId) -> None:
        """Delete a station. Categories and items routed to it route to no station after (announced as
        `menu.updated`), so their lines make no ticket. Its tickets stay with `station_id: null` and their
        `station_name`; an open one no longer holds its order back: the order completes when its other
        stations' tickets are done (which closes it too)."""
        if not await queries.delete_station(state.pool, principal.store_id, station_id):
            raise not_found("Station")

    @get("/{station_id:int}/tickets", operation_id="ListStationTickets", security=api_key("orders:read"),
         summary="A station's open tickets, oldest first (the kitchen display)",
         responses={**AUTH_PROBLEMS, 404: NO_STATION})
    async def open_tickets(self, state: AppState, principal: Principal, station_id: PathId) -> Response[list[Ticket]]:
        """The station's open tickets, oldest first (at most 200): not done, and of orders neither completed nor
        cancelled. Follow the admin stream to keep the list live: add a ticket on `ticket.created` for this
        station, drop it on `ticket.done`, and drop an order's tickets on `order.cancelled` (and on an
        `order.updated` to `completed`, which also marks them done)."""
        document = await queries.open_tickets(state.pool, principal.store_id, station_id)
        return raw_json(found(document, "Station"))


class AdminTicketController(Controller):
    path = "/tickets"
    tags = ["Admin: kitchen"]

    @post("/{ticket_id:int}/done", operation_id="MarkTicketDone", security=api_key("orders:write"),
          status_code=200, summary="Mark a ticket done; the order completes with its last ticket",
          responses={**AUTH_PROBLEMS, 404: problem_spec("No such ticket in this store")})
    async def mark_done(self, state: AppState, principal: Principal, ticket_id: PathId) -> Response[Ticket]:
        """Mark a station's ticket done (`ticket.done`) and answer with it. When it was the order's last open
        ticket and the order is pending or preparing, the order becomes `completed` in the same transaction
        (one `order.updated`, however many stations finish at once). Idempotent: a ticket already done is
        answered as it is (200), nothing is recorded again."""
        document = await queries.mark_done(state.pool, principal.store_id, ticket_id)
        return raw_json(found(document, "Ticket"))
